//! Audit-first through the real gateway: the decision record is durable before the upstream
//! sees the call; if it cannot be written the call is refused and nothing is forwarded; the
//! correlation id is the same in the response, the ledger and the logs; secrets are redacted;
//! `audit verify` catches edits.

mod common;
#[path = "common/fault_upstream.rs"]
mod fault_upstream;

use std::process::Command;

use common::*;
use serde_json::json;

// Multi-threaded: the in-process upstream must answer while Gateway::start blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_record_is_durable_before_the_upstream_sees_the_call() {
    let (url, st) = fault_upstream::start().await;
    let cfg = format!(
        "[roles.reader]\nallow = [\"*\"]\n\n[[upstreams]]\nname = \"u\"\ntransport = \"http\"\nurl = \"{url}\"\n"
    );
    let gw = Gateway::start(&cfg);
    *st.ledger.lock().unwrap() = Some(gw.db_path());
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let mut cids = Vec::new();
    for _ in 0..5 {
        let r = call(&gw.url, &key, &sid, "u.probe", json!({}), None).await;
        assert_eq!(text_of(&r.body), "decision records: 1", "{:?}", r.body);
        cids.push(r.headers["x-correlation-id"].to_str().unwrap().to_string());
    }
    let seen = st.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    for ((cid, n), expected) in seen.iter().zip(&cids) {
        assert_eq!(
            cid, expected,
            "the upstream got the gateway's correlation id"
        );
        assert_eq!(
            *n, 1,
            "decision record for {cid} was in the ledger when the call arrived"
        );
    }
}

/// A gateway (short store busy timeout) with a session of `role`, and a second connection
/// holding its database locked until it rolls back.
async fn locked_store(role: &str) -> (Gateway, String, String, rusqlite::Connection) {
    let gw = Gateway::start(
        &demo_config("enforce", "")
            .replace("[policy]", "[store]\nbusy_timeout = \"200ms\"\n\n[policy]"),
    );
    let (_, key) = gw.key(role, &[]);
    let sid = initialize(&gw.url, &key).await;
    let lock = rusqlite::Connection::open(gw.db_path()).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    (gw, key, sid, lock)
}

#[tokio::test]
async fn when_the_store_cannot_be_written_calls_are_refused_and_not_forwarded() {
    let (gw, key, sid, lock) = locked_store("agent").await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_write",
        json!({"key": "blocked", "text": "must-not-arrive"}),
        Some(json!({"dry_run": false, "io.portcullis/idempotencyKey": "blocked-1"})),
    )
    .await;
    // Its idempotency key cannot be reserved in the locked store either: refused before the
    // decision record is tried (which fails as well, and is counted).
    assert_eq!(r.error_code(), Some("internal_error"), "{:?}", r.body);
    let r = call(&gw.url, &key, &sid, "demo.echo", json!({"text": "x"}), None).await;
    assert_eq!(r.error_code(), Some("audit_unavailable"));
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_read",
        json!({"key": "blocked"}),
        None,
    )
    .await;
    assert!(r.body["result"].is_object(), "{:?}", r.body);
    assert!(
        !r.body.to_string().contains("must-not-arrive"),
        "the refused write reached the upstream: {:?}",
        r.body
    );
    let metrics = metrics_text(&gw).await;
    assert!(
        metrics.contains("portcullis_audit_failures_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_store_failure_reaches_clients_without_its_internal_text() {
    let (gw, key, sid, lock) = locked_store("reader").await;
    let legacy = call(&gw.url, &key, &sid, "demo.echo", json!({"text": "x"}), None).await;
    let modern = modern(
        &gw.url,
        &key,
        "tools/call",
        json!({"name": "demo.echo", "arguments": {"text": "x"}}),
        &[],
    )
    .await;
    let ready = http()
        .get(format!("{}/ready", gw.base))
        .send()
        .await
        .unwrap();
    let ready_status = ready.status().as_u16();
    let ready: serde_json::Value = ready.json().await.unwrap();
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);

    for r in [&legacy, &modern] {
        assert_eq!(r.error_code(), Some("audit_unavailable"), "{:?}", r.body);
    }
    assert_eq!(ready_status, 503, "{ready}");
    assert_eq!(ready["store"], "unavailable", "{ready}");
    let private = [
        "database is locked".to_string(),
        "portcullis.db".to_string(),
        gw.dir.path().display().to_string(),
    ];
    for body in [&legacy.body, &modern.body, &ready] {
        let text = body.to_string();
        for p in &private {
            assert!(!text.contains(p.as_str()), "{p:?} reached a client: {text}");
        }
    }
    assert!(
        gw.logged("database is locked"),
        "the cause is logged for the operator"
    );
}

#[tokio::test]
async fn one_correlation_id_in_response_ledger_and_logs_and_secrets_redacted() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let secret = format!("pcl_{}_{}", "ab".repeat(6), "S".repeat(43));
    let args = json!({"text": format!("Bearer tok123 {secret}"), "password": "hunter2"});
    let r = call(&gw.url, &key, &sid, "demo.echo", args.clone(), None).await;
    let cid = r.headers["x-correlation-id"].to_str().unwrap().to_string();
    let recs = ledger(&gw.db_path());
    assert!(
        recs.iter().all(|x| x["correlation_id"] == cid.as_str()),
        "{recs:?}"
    );
    let preview = recs[0]["args_preview"].as_str().unwrap();
    for s in [secret.as_str(), "tok123", "hunter2"] {
        assert!(!preview.contains(s), "{s} in {preview}");
    }
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(args.to_string().as_bytes()))
    };
    assert_eq!(
        recs[0]["args_hash"], expected,
        "SHA-256 of the arguments' compact JSON"
    );
    let v = gw.request_log(&cid);
    assert_eq!(v["tool"], "demo.echo");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["principal"], "t1/agent-reader");
    assert!(v["latency_ms"].is_number());
    let logs = gw.logs();
    assert!(
        !logs.contains(&key),
        "the caller's key never reaches the logs"
    );
}

#[tokio::test]
async fn a_denied_call_logs_its_decision_and_error_code_under_its_correlation_id() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_delete",
        json!({"key": "k"}),
        None,
    )
    .await;
    // The role cannot see the destructive tool, so the caller is told it does not exist; the
    // ledger keeps why.
    assert_eq!(r.error_code(), Some("unknown_tool"), "{:?}", r.body);
    let cid = r.headers["x-correlation-id"].to_str().unwrap().to_string();
    let recs = ledger_now(&gw.db_path());
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["correlation_id"], cid.as_str());
    assert_eq!(recs[0]["decision"], "deny");
    assert_eq!(recs[0]["facts"]["policy_code"], "destructive_denied");
    let line = gw.request_log(&cid);
    assert_eq!(line["tool"], "demo.notes_delete", "{line}");
    assert_eq!(line["decision"], "deny", "{line}");
    assert_eq!(line["code"], "unknown_tool", "{line}");
    assert_eq!(
        line["status"], 200,
        "a denial is a JSON-RPC error, not HTTP: {line}"
    );
}

#[tokio::test]
async fn audit_verify_passes_then_names_an_edited_record() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    for i in 0..3 {
        call(
            &gw.url,
            &key,
            &sid,
            "demo.echo",
            json!({"text": format!("m{i}")}),
            None,
        )
        .await;
    }
    // Outcome records are committed just after their answers: wait until all six are in.
    assert_eq!(ledger(&gw.db_path()).len(), 6);
    let verify = || {
        Command::new(bin())
            .args(["audit", "verify", "--data-dir"])
            .arg(gw.data_dir())
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("6 records"));
    let conn = rusqlite::Connection::open(gw.db_path()).unwrap();
    conn.execute(
        "UPDATE ledger SET record = replace(record, 'allow', 'deny!') WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(conn);
    let bad = verify();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("record 2"), "{err}");
}
