//! The gateway in front of a real MCP server over streamable HTTP (the demo server, built on
//! the official Rust SDK, as a child process): the session is opened once and reused, calls
//! are forwarded and governed exactly as with a stdio upstream.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn an_http_upstream_is_federated_and_governed() {
    let demo = DemoHttp::start(&["--test-tools"]);
    let gw = Gateway::start(&demo_http_config("enforce", &demo.url));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let list = rpc(&gw.url, &key, Some(&sid), "tools/list", json!({})).await;
    let names: Vec<&str> = list.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"demo.echo") && names.contains(&"demo.notes_write"),
        "{names:?}"
    );

    for i in 0..20 {
        let r = call(
            &gw.url,
            &key,
            &sid,
            "demo.echo",
            json!({"text": format!("n{i}")}),
            None,
        )
        .await;
        assert_eq!(text_of(&r.body), format!("n{i}"), "{:?}", r.body);
    }
    let live = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "over http"}),
        Some(json!({"dry_run": false, "io.portcullis/idempotencyKey": "http-k"})),
    )
    .await;
    assert_eq!(text_of(&live.body), "stored \"k\"", "{:?}", live.body);
    let read = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_read",
        json!({"key": "k"}),
        None,
    )
    .await;
    assert_eq!(text_of(&read.body), "over http");

    let slow = call(
        &gw.url,
        &key,
        &sid,
        "demo.slow",
        json!({"ms": 10_000}),
        None,
    )
    .await;
    assert_eq!(
        slow.error_code(),
        Some("upstream_timeout"),
        "{:?}",
        slow.body
    );
    let after = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        json!({"text": "still up"}),
        None,
    )
    .await;
    assert_eq!(text_of(&after.body), "still up");
}
