//! Cancellation per revision: a legacy client's `notifications/cancelled` stops its request; a
//! modern client closing its connection cancels the call. Either way the upstream is told and
//! the ledger's outcome record says `request_cancelled`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn cancelled_outcomes(gw: &Gateway) -> usize {
    ledger(&gw.db_path())
        .iter()
        .filter(|r| r["kind"] == "outcome" && r["code"] == "request_cancelled")
        .count()
}

async fn wait_for_outcome(gw: &Gateway) {
    for _ in 0..100 {
        if cancelled_outcomes(gw) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no request_cancelled outcome in the ledger: {:?}",
        ledger(&gw.db_path())
    );
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
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    wait_for_outcome(&gw).await;
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
    let gave_up = tokio::time::timeout(Duration::from_millis(500), request).await;
    assert!(
        gave_up.is_err(),
        "the slow call was still running when the client left"
    );
    wait_for_outcome(&gw).await;
    let decisions: Vec<Value> = ledger(&gw.db_path())
        .into_iter()
        .filter(|r| r["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["tool"], "demo.slow");
}
