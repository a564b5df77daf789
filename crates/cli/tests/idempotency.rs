//! Idempotency keys and duplicate refusal through the real gateway, with the demo server as the
//! upstream. A retry under the same key gets the first result and does not run the tool again
//! (the note it wrote is overwritten in between, and the retry leaves it overwritten); a
//! different call under the key conflicts; a retry while the first call runs is
//! `in_progress`; the stored outcome survives a restart; an identical call within the
//! `[duplicates]` window is refused.

mod common;

use common::*;
use serde_json::{Value, json};

const KEY: &str = "io.portcullis/idempotencyKey";

/// A live `demo.notes_write` of `note` = `text` with idempotency key `idem`.
async fn write(gw: &Gateway, key: &str, sid: &str, idem: &str, note: &str, text: &str) -> Reply {
    call(
        &gw.url,
        key,
        sid,
        "demo.notes_write",
        json!({"key": note, "text": text}),
        Some(json!({"dry_run": false, KEY: idem})),
    )
    .await
}

#[tokio::test]
async fn a_retry_returns_the_first_result_without_running_the_tool_again() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;

    let missing = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_write",
        json!({"key": "n", "text": "first"}),
        Some(json!({"dry_run": false})),
    )
    .await;
    assert_eq!(
        missing.error_code(),
        Some("idempotency_key_required"),
        "{:?}",
        missing.body
    );
    assert!(!read_note(&gw, &key, &sid, "n").await.contains("first"));

    let first = write(&gw, &key, &sid, "order-1", "n", "first").await;
    assert_eq!(text_of(&first.body), "stored \"n\"", "{:?}", first.body);
    // Someone else changes the note; a re-run of the first call would put "first" back.
    let other = write(&gw, &key, &sid, "order-2", "n", "second").await;
    assert!(other.body["result"].is_object(), "{:?}", other.body);

    let retry = write(&gw, &key, &sid, "order-1", "n", "first").await;
    assert_eq!(text_of(&retry.body), "stored \"n\"", "{:?}", retry.body);
    let first_cid = first.headers["x-correlation-id"].to_str().unwrap();
    assert_eq!(
        retry.body["result"]["_meta"]["io.portcullis/replayOf"],
        first_cid
    );
    assert!(
        read_note(&gw, &key, &sid, "n").await.contains("second"),
        "the retry did not reach the tool"
    );

    let recs = ledger(&gw.db_path());
    let retry_cid = retry.headers["x-correlation-id"].to_str().unwrap();
    let of_retry: Vec<&Value> = recs
        .iter()
        .filter(|r| r["correlation_id"] == retry_cid)
        .collect();
    assert_eq!(of_retry[0]["decision"], "allow");
    assert_eq!(of_retry[0]["facts"]["replay_of"], first_cid);
    assert_eq!(of_retry[0]["facts"]["idempotency_key"], "order-1");
    assert_eq!(of_retry[1]["code"], "replayed");

    // The stored outcome outlives the process (the demo server starts afresh with no notes:
    // a re-run would write the note again).
    let gw = gw.kill_and_restart();
    let sid = initialize(&gw.url, &key).await;
    let again = write(&gw, &key, &sid, "order-1", "n", "first").await;
    assert_eq!(
        again.body["result"]["_meta"]["io.portcullis/replayOf"], first_cid,
        "{:?}",
        again.body
    );
    assert!(!read_note(&gw, &key, &sid, "n").await.contains("first"));
}

#[tokio::test]
async fn a_different_call_under_a_used_key_conflicts() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let first = write(&gw, &key, &sid, "k", "a", "one").await;
    assert!(first.body["result"].is_object(), "{:?}", first.body);
    let other = write(&gw, &key, &sid, "k", "a", "two").await;
    assert_eq!(
        other.error_code(),
        Some("idempotency_conflict"),
        "{:?}",
        other.body
    );
    assert_eq!(other.body["error"]["code"], -32602);
    assert!(read_note(&gw, &key, &sid, "a").await.contains("one"));
    // The same key over the header, with the same call: the replay.
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "demo.notes_write", "arguments": {"key": "a", "text": "one"}}});
    let r = post_raw(
        &gw.url,
        Some(&key),
        Some(&sid),
        body.to_string(),
        &[("x-portcullis-dry-run", "false"), ("idempotency-key", "k")],
    )
    .await;
    assert!(
        r.body["result"]["_meta"]["io.portcullis/replayOf"].is_string(),
        "{:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_while_the_first_call_runs_is_in_progress() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let slow = |ms: u64| {
        let (url, key, sid) = (gw.url.clone(), key.clone(), sid.clone());
        async move {
            call(
                &url,
                &key,
                &sid,
                "demo.slow",
                json!({"ms": ms}),
                Some(json!({"dry_run": false, KEY: "slow-1"})),
            )
            .await
        }
    };
    let first = tokio::spawn(slow(2000));
    // Wait until the first call's decision is in the ledger: it holds the key from then on.
    wait_for_record(&gw.db_path(), "the first call's decision", |r| {
        r["tool"] == "demo.slow" && r["decision"] == "allow"
    })
    .await;
    let second = slow(2000).await;
    assert_eq!(
        second.error_code(),
        Some("in_progress"),
        "{:?}",
        second.body
    );
    let first = first.await.unwrap();
    assert_eq!(text_of(&first.body), "slept 2000 ms");
    let third = slow(2000).await;
    assert_eq!(text_of(&third.body), "slept 2000 ms");
    assert!(third.body["result"]["_meta"]["io.portcullis/replayOf"].is_string());
}

#[tokio::test]
async fn an_identical_call_within_the_duplicates_window_is_refused() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[duplicates]\nwindow = \"1h\"\nclasses = [\"write\"]\n",
    ));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let first = write(&gw, &key, &sid, "d-1", "d", "same").await;
    assert!(first.body["result"].is_object(), "{:?}", first.body);
    let again = write(&gw, &key, &sid, "d-2", "d", "same").await;
    assert_eq!(
        again.error_code(),
        Some("duplicate_request"),
        "{:?}",
        again.body
    );
    assert_eq!(again.body["error"]["data"]["windowMs"], 3_600_000);
    let changed = write(&gw, &key, &sid, "d-3", "d", "changed").await;
    assert!(changed.body["result"].is_object(), "{:?}", changed.body);
    let recs = wait_for_record(&gw.db_path(), "the duplicate's denial", |r| {
        r["code"] == "duplicate_request"
    })
    .await;
    assert_eq!(recs["decision"], "deny");
}
