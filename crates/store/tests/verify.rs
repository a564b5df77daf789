//! Tamper cases against a real SQLite ledger: each is caught by `verify_sqlite` and the first
//! bad record is named.

use std::path::Path;
use std::time::Duration;

use portcullis_ledger::Decision;
use portcullis_store::{
    LedgerStore, Lifecycle, SqliteOptions, SqliteStore, VerifyError, verify_sqlite,
};
use rusqlite::Connection;

mod common;
use common::record;

/// A fresh store in a temporary directory, and the database's path.
fn fresh() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let store = SqliteStore::open(SqliteOptions {
        path: path.clone(),
        busy_timeout: Duration::from_secs(1),
    })
    .unwrap();
    (dir, path, store)
}

async fn ledger_with(n: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path, store) = fresh();
    for i in 0..n {
        store.append(record(i)).await.unwrap();
    }
    store.close().await;
    (dir, path)
}

fn sql(path: &Path, q: &str) {
    Connection::open(path).unwrap().execute_batch(q).unwrap();
}

fn first_bad(e: VerifyError) -> u64 {
    match e {
        VerifyError::Record { seq, .. } => seq,
        other => panic!("expected a named record, got {other}"),
    }
}

#[tokio::test]
async fn an_untouched_ledger_verifies() {
    let (_d, path) = ledger_with(50).await;
    let r = verify_sqlite(&path, &[]).unwrap();
    assert_eq!(r.size, 50);
    let (_d, empty) = ledger_with(0).await;
    assert_eq!(verify_sqlite(&empty, &[]).unwrap().size, 0);
}

#[tokio::test]
async fn an_edited_field_is_caught_at_its_record() {
    let (_d, path) = ledger_with(10).await;
    sql(
        &path,
        "UPDATE ledger SET record = replace(record, '\"c7\"', '\"c8\"') WHERE seq = 7",
    );
    assert_eq!(first_bad(verify_sqlite(&path, &[]).unwrap_err()), 7);
}

#[tokio::test]
async fn an_edit_with_a_recomputed_leaf_hash_breaks_the_tree_head() {
    let (_d, path) = ledger_with(10).await;
    let conn = Connection::open(&path).unwrap();
    let bytes: Vec<u8> = conn
        .query_row("SELECT record FROM ledger WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    let mut rec = portcullis_ledger::canonical::parse_canonical(&bytes).unwrap();
    rec.decision = Some(Decision::Deny);
    let new_bytes = portcullis_ledger::canonical::canonical_bytes(&rec).unwrap();
    let leaf = portcullis_ledger::canonical::leaf_hash(&rec).unwrap();
    conn.execute(
        "UPDATE ledger SET record = ?1, leaf_hash = ?2 WHERE seq = 4",
        rusqlite::params![new_bytes, leaf.to_vec()],
    )
    .unwrap();
    drop(conn);
    assert!(matches!(
        verify_sqlite(&path, &[]).unwrap_err(),
        VerifyError::Head(_)
    ));
}

#[tokio::test]
async fn a_deleted_record_is_caught() {
    let (_d, path) = ledger_with(10).await;
    sql(&path, "DELETE FROM ledger WHERE seq = 3");
    assert_eq!(first_bad(verify_sqlite(&path, &[]).unwrap_err()), 3);
    let (_d, path) = ledger_with(10).await;
    sql(&path, "DELETE FROM ledger WHERE seq = 9");
    assert!(
        matches!(verify_sqlite(&path, &[]).unwrap_err(), VerifyError::Head(_)),
        "the last record removed"
    );
}

#[tokio::test]
async fn two_swapped_records_are_caught() {
    let (_d, path) = ledger_with(10).await;
    sql(
        &path,
        "UPDATE ledger SET seq = -1 WHERE seq = 2; UPDATE ledger SET seq = 2 WHERE seq = 5; UPDATE ledger SET seq = 5 WHERE seq = -1;",
    );
    assert_eq!(first_bad(verify_sqlite(&path, &[]).unwrap_err()), 2);
}

#[tokio::test]
async fn a_record_appended_behind_the_gateways_back_is_caught() {
    let (_d, path) = ledger_with(10).await;
    sql(
        &path,
        "INSERT INTO ledger(seq, time_ms, kind, tenant, correlation_id, record, leaf_hash)
         SELECT 10, time_ms, kind, tenant, correlation_id, record, leaf_hash FROM ledger WHERE seq = 9",
    );
    assert_eq!(first_bad(verify_sqlite(&path, &[]).unwrap_err()), 10);
}

#[tokio::test]
async fn a_database_from_before_checkpoints_still_verifies() {
    let (_d, path) = ledger_with(5).await;
    sql(&path, "DROP TABLE checkpoints; PRAGMA user_version = 1;");
    let r = verify_sqlite(&path, &[]).unwrap();
    assert_eq!((r.size, r.checkpoints), (5, 0));
}

#[tokio::test]
async fn garbage_and_missing_files_are_clear_errors() {
    let (_d, path) = ledger_with(3).await;
    sql(&path, "UPDATE ledger SET record = x'00ff' WHERE seq = 1");
    assert_eq!(first_bad(verify_sqlite(&path, &[]).unwrap_err()), 1);
    assert!(matches!(
        verify_sqlite(Path::new("/nonexistent/x.db"), &[]).unwrap_err(),
        VerifyError::Io(_)
    ));
}

mod signed {
    use ed25519_dalek::SigningKey;
    use portcullis_ledger::note::NoteSigner;
    use portcullis_store::sign_checkpoint;

    use super::*;

    fn signer(seed: u8) -> NoteSigner {
        NoteSigner::new("test", SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    /// A ledger of `n` records with checkpoints signed at 4 and at `n`.
    async fn checkpointed(n: u64) -> (tempfile::TempDir, std::path::PathBuf) {
        let (dir, path, store) = fresh();
        for i in 0..n {
            store.append(record(i)).await.unwrap();
            if i == 3 || i == n - 1 {
                sign_checkpoint(&store, &store, &signer(1), "test", 0)
                    .await
                    .unwrap();
            }
        }
        store.prune(1_700_000_000_002).await.unwrap();
        store.close().await;
        (dir, path)
    }

    #[tokio::test]
    async fn checkpoints_and_a_pruned_prefix_verify_with_the_right_key_only() {
        let (_d, path) = checkpointed(10).await;
        let r = verify_sqlite(&path, &[signer(1).verifier()]).unwrap();
        assert_eq!((r.size, r.checkpoints, r.pruned_below), (10, 2, 2));
        let err = verify_sqlite(&path, &[signer(2).verifier()]).unwrap_err();
        assert!(
            matches!(err, VerifyError::Checkpoint { size: 4, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn content_removed_above_the_pruning_mark_is_named() {
        let (_d, path) = checkpointed(10).await;
        sql(&path, "UPDATE ledger SET record = x'' WHERE seq = 6");
        assert_eq!(first_bad(verify_sqlite(&path, &[]).unwrap_err()), 6);
    }

    #[tokio::test]
    async fn a_forged_checkpoint_row_or_a_dropped_tail_is_caught() {
        let (_d, path) = checkpointed(10).await;
        sql(
            &path,
            "UPDATE checkpoints SET root = zeroblob(32) WHERE size = 4",
        );
        assert!(matches!(
            verify_sqlite(&path, &[]).unwrap_err(),
            VerifyError::Checkpoint { size: 4, .. }
        ));
        let (_d, path) = checkpointed(10).await;
        sql(
            &path,
            "DELETE FROM ledger WHERE seq = 9; UPDATE meta SET value = 'x' WHERE key = 'frontier'",
        );
        assert!(matches!(
            verify_sqlite(&path, &[]).unwrap_err(),
            VerifyError::Checkpoint { size: 10, .. }
        ));
    }
}

#[tokio::test]
async fn a_row_column_that_disagrees_with_its_signed_record_is_named() {
    for (column, value) in [
        ("tenant", "'someone-else'"),
        ("kind", "'outcome'"),
        ("time_ms", "time_ms + 1"),
        ("correlation_id", "'c-other'"),
    ] {
        let (_d, path) = ledger_with(10).await;
        sql(
            &path,
            &format!("UPDATE ledger SET {column} = {value} WHERE seq = 6"),
        );
        let e = verify_sqlite(&path, &[]).unwrap_err();
        assert!(e.to_string().contains(column), "{column}: {e}");
        assert_eq!(first_bad(e), 6, "{column}");
    }
}

#[tokio::test]
async fn a_pruning_mark_no_signed_checkpoint_covers_is_refused() {
    let (_d, path) = ledger_with(10).await;
    // Blank every record's content and claim it was pruned, with no checkpoint signed.
    sql(
        &path,
        "UPDATE ledger SET record = x'', tenant = '', correlation_id = '';
         INSERT INTO meta(key, value) VALUES ('pruned_below', '10')
         ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
    );
    let e = verify_sqlite(&path, &[]).unwrap_err();
    assert!(
        matches!(&e, VerifyError::Head(m) if m.contains("pruning mark")),
        "{e}"
    );
}
