use std::time::Duration;

use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind, merkle};

use super::*;

fn record(corr: &str) -> Record {
    Record {
        version: RECORD_VERSION,
        seq: 0,
        time_ms: 1_700_000_000_000,
        kind: RecordKind::Decision,
        correlation_id: corr.into(),
        tenant: "t1".into(),
        agent: "a1".into(),
        credential_id: "k1".into(),
        method: "tools/call".into(),
        tool: Some("demo.echo".into()),
        tool_class: Some("read".into()),
        decision: Some(Decision::Allow),
        code: None,
        args_hash: None,
        args_preview: None,
        latency_us: None,
        facts: Default::default(),
    }
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(SqliteOptions {
        path: dir.path().join("p.db"),
        busy_timeout: Duration::from_millis(200),
    })
    .unwrap()
}

fn key(id: &str) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        tenant: "t".into(),
        agent: "a".into(),
        role: "reader".into(),
        hash_hex: "00".repeat(32),
        created_ms: 1,
        expires_ms: None,
        revoked_ms: None,
        tenant_disabled_ms: None,
    }
}

#[tokio::test]
async fn appends_get_consecutive_seqs_and_the_head_is_the_merkle_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut leaves = Vec::new();
    for i in 0..10 {
        let a = store.append(record(&format!("c{i}"))).await.unwrap();
        assert_eq!(a.seq, i);
        leaves.push(a.leaf_hash);
    }
    let head = store.head().await.unwrap();
    assert_eq!(head.size, 10);
    assert_eq!(head.root, merkle::root(&leaves));
    let rows = store.read_records(3, 4).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    let parsed = portcullis_ledger::canonical::parse_canonical(&rows[0].bytes).unwrap();
    assert_eq!(parsed.seq, 3);
    assert_eq!(parsed.correlation_id, "c3");
    store.close().await;
}

#[tokio::test]
async fn concurrent_appends_share_commits_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.append(record(&format!("c{i}"))).await
        }));
    }
    let mut seqs: Vec<u64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    assert_eq!(store.head().await.unwrap().size, 200);
    // All 200 were waiting while the first commit's fsync ran: they shared a few commits.
    let commits = store.append_commits();
    assert!(
        (1..50).contains(&commits),
        "200 appends in {commits} commits"
    );
}

#[tokio::test]
async fn one_append_at_a_time_is_one_commit_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..5 {
        store.append(record(&format!("c{i}"))).await.unwrap();
    }
    assert_eq!(store.append_commits(), 5);
}

#[tokio::test]
async fn reopening_recovers_the_frontier() {
    let dir = tempfile::tempdir().unwrap();
    let head = {
        let store = open(&dir);
        for i in 0..7 {
            store.append(record(&format!("c{i}"))).await.unwrap();
        }
        let h = store.head().await.unwrap();
        store.close().await;
        h
    };
    let store = open(&dir);
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(store.append(record("next")).await.unwrap().seq, 7);
}

#[tokio::test]
async fn a_missing_frontier_or_a_row_added_behind_the_writers_back_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let head = {
        let store = open(&dir);
        for i in 0..5 {
            store.append(record(&format!("c{i}"))).await.unwrap();
        }
        let h = store.head().await.unwrap();
        store.close().await;
        h
    };
    assert_eq!(head.size, 5);
    let opts = || SqliteOptions {
        path: dir.path().join("p.db"),
        busy_timeout: Duration::from_millis(200),
    };
    let conn = Connection::open(dir.path().join("p.db")).unwrap();
    conn.execute("DELETE FROM meta WHERE key = 'frontier'", [])
        .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(opts()).err(),
        Some(StoreError::Corrupt(_))
    ));

    let dir2 = tempfile::tempdir().unwrap();
    let opts2 = SqliteOptions {
        path: dir2.path().join("p.db"),
        busy_timeout: Duration::from_millis(200),
    };
    let store = SqliteStore::open(opts2.clone()).unwrap();
    store.append(record("a")).await.unwrap();
    let conn = Connection::open(&opts2.path).unwrap();
    conn.execute(
        "INSERT INTO ledger(seq, time_ms, kind, tenant, correlation_id, record, leaf_hash)
         SELECT 1, time_ms, kind, tenant, 'forged', record, leaf_hash FROM ledger WHERE seq = 0",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(matches!(
        store.append(record("b")).await,
        Err(StoreError::Corrupt(_))
    ));
    store.close().await;
    assert!(matches!(
        SqliteStore::open(opts2).err(),
        Some(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_gap_in_the_ledger_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        for i in 0..3 {
            store.append(record(&format!("c{i}"))).await.unwrap();
        }
        store.close().await;
    }
    let conn = Connection::open(dir.path().join("p.db")).unwrap();
    conn.execute("DELETE FROM ledger WHERE seq = 1", [])
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(SqliteOptions {
        path: dir.path().join("p.db"),
        busy_timeout: Duration::from_millis(200),
    })
    .err()
    .expect("open must fail");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

#[tokio::test]
async fn a_lock_held_elsewhere_fails_the_append_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(record("before")).await.unwrap();
    let other = Connection::open(dir.path().join("p.db")).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = store.append(record("blocked")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    let a = store.append(record("after")).await.unwrap();
    assert_eq!(a.seq, 1, "the failed append must not have taken a seq");
    assert_eq!(store.head().await.unwrap().size, 2);
}

#[tokio::test]
async fn keys_insert_find_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.insert_key(key("aaa")).await.unwrap();
    store.insert_key(key("bbb")).await.unwrap();
    assert!(matches!(
        store.insert_key(key("aaa")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.find_key("aaa").await.unwrap().unwrap().role, "reader");
    assert!(store.find_key("zzz").await.unwrap().is_none());
    assert_eq!(store.list_keys().await.unwrap().len(), 2);
    assert!(store.revoke_key("aaa", 5).await.unwrap());
    assert!(store.revoke_key("aaa", 9).await.unwrap());
    assert_eq!(
        store.find_key("aaa").await.unwrap().unwrap().revoked_ms,
        Some(5)
    );
    assert!(!store.revoke_key("zzz", 5).await.unwrap());
}

#[tokio::test]
async fn revocation_is_seen_by_another_store_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir);
    let b = open(&dir);
    a.insert_key(key("shared")).await.unwrap();
    assert!(
        b.find_key("shared")
            .await
            .unwrap()
            .unwrap()
            .revoked_ms
            .is_none()
    );
    a.revoke_key("shared", 3).await.unwrap();
    assert_eq!(
        b.find_key("shared").await.unwrap().unwrap().revoked_ms,
        Some(3)
    );
}

#[tokio::test]
async fn a_disabled_tenant_is_seen_by_another_store_on_the_same_file() {
    use crate::{AdminStore, ControlStore, Tenant};
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir);
    let b = open(&dir);
    let mut k = key("shared");
    k.tenant = "acme".into();
    a.insert_key(k).await.unwrap();
    let t = Tenant {
        name: "acme".into(),
        description: String::new(),
        disabled_ms: None,
        created_ms: 1,
        updated_ms: 1,
        version: 0,
    };
    a.put_tenant(t.clone(), None).await.unwrap();
    let before = b.controls_version().await.unwrap();
    a.put_tenant(
        Tenant {
            disabled_ms: Some(9),
            ..t
        },
        Some(1),
    )
    .await
    .unwrap();
    assert_eq!(
        b.find_key("shared")
            .await
            .unwrap()
            .unwrap()
            .tenant_disabled_ms,
        Some(9),
        "the next lookup in the other process sees it"
    );
    assert!(b.controls_version().await.unwrap() > before);
}

#[tokio::test]
async fn queued_records_keep_their_order_and_close_commits_them() {
    let dir = tempfile::tempdir().unwrap();
    let head = {
        let store = open(&dir);
        let first = store.append(record("d0")).await.unwrap();
        // Queue without awaiting durability, then close at once: close must commit them all.
        let mut queued = Vec::new();
        for i in 1..=5 {
            queued.push(store.enqueue(record(&format!("o{i}"))).await.unwrap());
        }
        store.close().await;
        let mut seqs = Vec::new();
        for q in queued {
            seqs.push(q.await.unwrap().seq);
        }
        assert_eq!(first.seq, 0);
        assert_eq!(seqs, vec![1, 2, 3, 4, 5], "queued records keep their order");
        assert!(matches!(
            store.enqueue(record("late")).await,
            Err(StoreError::Closed)
        ));
        let store = open(&dir);
        let h = store.head().await.unwrap();
        let rows = store.read_records(0, 10).await.unwrap();
        let names: Vec<String> = rows
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_slice(&r.bytes).unwrap();
                v["correlation_id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(names, ["d0", "o1", "o2", "o3", "o4", "o5"]);
        store.close().await;
        h
    };
    assert_eq!(head.size, 6);
}

#[tokio::test]
async fn a_closed_store_refuses_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.close().await;
    assert!(matches!(
        store.append(record("x")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(store.find_key("x").await, Err(StoreError::Closed)));
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let _store = open(&dir);
    let mode = std::fs::metadata(dir.path().join("p.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

mod checkpoints {
    use ed25519_dalek::SigningKey;
    use portcullis_ledger::note::{Checkpoint, NoteSigner};

    use super::*;
    use crate::checkpointer::{CheckpointError, sign_checkpoint};

    fn signer() -> NoteSigner {
        NoteSigner::new("test", SigningKey::from_bytes(&[3; 32])).unwrap()
    }

    #[tokio::test]
    async fn checkpoints_are_signed_only_when_the_tree_grew_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let s = signer();
        assert!(
            sign_checkpoint(&store, &store, &s, "test", 1)
                .await
                .unwrap()
                .is_none()
        );
        for i in 0..5 {
            store.append(record(&format!("c{i}"))).await.unwrap();
        }
        let cp = sign_checkpoint(&store, &store, &s, "test", 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cp.size, 5);
        let opened = Checkpoint::open(&cp.note, &s.verifier()).unwrap();
        assert_eq!(
            (opened.size, opened.root),
            (5, store.head().await.unwrap().root)
        );
        assert!(
            sign_checkpoint(&store, &store, &s, "test", 3)
                .await
                .unwrap()
                .is_none()
        );
        store.append(record("c5")).await.unwrap();
        assert_eq!(
            sign_checkpoint(&store, &store, &s, "test", 4)
                .await
                .unwrap()
                .unwrap()
                .size,
            6
        );
        assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().size, 6);
        assert!(matches!(
            store.save_checkpoint(cp).await,
            Err(StoreError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn a_rewritten_history_is_never_signed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let s = signer();
        for i in 0..4 {
            store.append(record(&format!("c{i}"))).await.unwrap();
        }
        sign_checkpoint(&store, &store, &s, "test", 1)
            .await
            .unwrap()
            .unwrap();
        store.close().await;
        // Rewrite record 1 together with its leaf hash and the saved tree head.
        let conn = Connection::open(dir.path().join("p.db")).unwrap();
        let mut leaves: Vec<[u8; 32]> = (0..4)
            .map(|i| {
                let b: Vec<u8> = conn
                    .query_row("SELECT leaf_hash FROM ledger WHERE seq = ?1", [i], |r| {
                        r.get(0)
                    })
                    .unwrap();
                b.try_into().unwrap()
            })
            .collect();
        leaves[1] = merkle::hash_leaf(b"forged");
        conn.execute(
            "UPDATE ledger SET leaf_hash = ?1 WHERE seq = 1",
            [leaves[1].to_vec()],
        )
        .unwrap();
        let mut f = merkle::Frontier::new();
        leaves.iter().for_each(|l| f.push(*l));
        writer_save_frontier(&conn, &f);
        drop(conn);
        let store = open(&dir);
        store.append(record("c4")).await.unwrap();
        let err = sign_checkpoint(&store, &store, &s, "test", 2)
            .await
            .unwrap_err();
        assert!(matches!(err, CheckpointError::Inconsistent(_)), "{err}");
        assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().size, 4);
    }

    fn writer_save_frontier(conn: &Connection, f: &merkle::Frontier) {
        let (size, hashes) = f.parts();
        let v = serde_json::json!({"size": size, "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>()});
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'frontier'",
            [v.to_string()],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_kept_checkpointer_reads_only_new_leaves_and_still_refuses_a_bad_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut cp = crate::Checkpointer::new(signer(), "test");
        for round in 0..5u64 {
            for i in 0..7 {
                store
                    .append(record(&format!("c{round}-{i}")))
                    .await
                    .unwrap();
            }
            let signed = cp.sign(&store, &store, 1).await.unwrap().unwrap();
            assert_eq!(signed.size, (round + 1) * 7);
            let opened = Checkpoint::open(&signed.note, &cp.verifier()).unwrap();
            assert_eq!(opened.root, store.head().await.unwrap().root);
        }
        assert!(cp.sign(&store, &store, 2).await.unwrap().is_none());
        // A stored leaf hash after the last checkpoint rewritten behind the writer's back.
        store.append(record("tail")).await.unwrap();
        Connection::open(dir.path().join("p.db"))
            .unwrap()
            .execute(
                "UPDATE ledger SET leaf_hash = zeroblob(32) WHERE seq = 35",
                [],
            )
            .unwrap();
        let err = cp.sign(&store, &store, 3).await.unwrap_err();
        assert!(matches!(err, CheckpointError::Inconsistent(_)), "{err}");
    }

    #[tokio::test]
    async fn prune_removes_content_only_below_a_signed_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for i in 0..6 {
            let mut r = record(&format!("c{i}"));
            r.time_ms = 1000 + i;
            store.append(r).await.unwrap();
        }
        let p = store.prune(5000).await.unwrap();
        assert_eq!(
            p.removed, 0,
            "nothing is pruned before a checkpoint covers it"
        );
        sign_checkpoint(&store, &store, &signer(), "test", 1)
            .await
            .unwrap();
        store.append(record("c6")).await.unwrap();
        let p = store.prune(1003).await.unwrap();
        assert_eq!((p.pruned_below, p.removed), (3, 3));
        let p = store.prune(i64::MAX).await.unwrap();
        assert_eq!(
            (p.pruned_below, p.removed),
            (6, 3),
            "never past the checkpoint"
        );
        let head = store.head().await.unwrap();
        let leaves = store.leaf_hashes(0, head.size).await.unwrap();
        assert_eq!(merkle::root(&leaves), head.root);
        let rows = store.read_records(0, 10).await.unwrap();
        assert!(rows[..6].iter().all(|r| r.bytes.is_empty()));
        assert!(!rows[6].bytes.is_empty());
    }
}

mod durability;
mod migration;
mod pool;
