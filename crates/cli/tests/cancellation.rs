//! Cancellation per revision: a legacy client's `notifications/cancelled` stops its request; a
//! modern client closing its connection cancels the call. Either way the upstream is told and
//! the ledger's outcome record says `request_cancelled`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Wait until the ledger has the `request_cancelled` outcome.
async fn wait_for_cancelled_outcome(gw: &Gateway) {
    wait_for_record(&gw.db_path(), "a request_cancelled outcome", |r| {
        r["kind"] == "outcome" && r["code"] == "request_cancelled"
    })
    .await;
}

/// Wait until the slow call is decided: from then on it is tracked and forwarded.
async fn wait_for_slow_decision(gw: &Gateway) {
    wait_for_record(&gw.db_path(), "the slow call's decision record", |r| {
        r["kind"] == "decision" && r["tool"] == "demo.slow"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_cancel_notification_stops_the_call() {
    let gw = Gateway::start(
        &demo_config("read-only", "").replace("timeout = \"3s\"", "timeout = \"30s\""),
    );
    let (_, key) = gw.key("viewer", &[]);
    let sid = initialize(&gw.url, &key).await;
    let (url, k, s) = (gw.url.clone(), key.clone(), sid.clone());
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let body = json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                          "params": {"name": "demo.slow", "arguments": {"ms": 20000}}});
        post_raw(
            &url,
            Some(&k),
            Some(&s),
            body.to_string(),
            &[("accept", "application/json")],
        )
        .await
    });
    wait_for_slow_decision(&gw).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": 77, "reason": "user pressed stop"}});
    let ack = post_raw(&gw.url, Some(&key), Some(&sid), cancel.to_string(), &[]).await;
    assert_eq!(ack.status, 202);
    let r = slow.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the call stopped early"
    );
    assert_eq!(r.error_code(), Some("request_cancelled"), "{:?}", r.body);
    wait_for_cancelled_outcome(&gw).await;
    let after = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        json!({"text": "next"}),
        None,
    )
    .await;
    assert_eq!(text_of(&after.body), "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_client_closing_its_connection_cancels_the_call() {
    let gw = Gateway::start(
        &demo_config("read-only", "").replace("timeout = \"3s\"", "timeout = \"30s\""),
    );
    let (_, key) = gw.key("viewer", &[]);
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "demo.slow", "arguments": {"ms": 20000},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }});
    let request = http()
        .post(&gw.url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "demo.slow")
        .body(body.to_string())
        .send();
    let client = tokio::spawn(request);
    wait_for_slow_decision(&gw).await;
    assert!(
        !client.is_finished(),
        "the slow call was still running when the client left"
    );
    client.abort();
    wait_for_cancelled_outcome(&gw).await;
    let decisions: Vec<Value> = ledger(&gw.db_path())
        .into_iter()
        .filter(|r| r["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["tool"], "demo.slow");
}
