//! Arguments checked against each tool's input schema through the real gateway, before any
//! policy or upstream sees them: valid ones reach the tool, invalid ones are refused naming the
//! JSON pointers at fault (never the values), hostile nesting is refused unread, and a tool
//! whose schema refers outside itself is quarantined — hidden and refused — and nothing is
//! fetched.

mod common;
#[path = "common/fault_upstream.rs"]
mod fault_upstream;

use common::*;
use serde_json::{Value, json};

// Multi-threaded: the in-process upstream must answer while Gateway::start blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_are_checked_against_the_tools_schema_before_anything_else() {
    let (url, st) = fault_upstream::start().await;
    let cfg = format!(
        "[roles.reader]\nallow = [\"*\"]\n\n[[upstreams]]\nname = \"u\"\ntransport = \"http\"\nurl = \"{url}\"\n"
    );
    let gw = Gateway::start(&cfg);
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;

    let ok = call(&gw.url, &key, &sid, "u.strict", json!({"n": 3}), None).await;
    assert_eq!(text_of(&ok.body), "ran", "{:?}", ok.body);

    let bad = call(
        &gw.url,
        &key,
        &sid,
        "u.strict",
        json!({"n": 99, "token": "s3cr3t-value"}),
        None,
    )
    .await;
    assert_eq!(
        bad.error_code(),
        Some("invalid_arguments"),
        "{:?}",
        bad.body
    );
    let errors = bad.body["error"]["data"]["errors"].as_array().unwrap();
    let mut at: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap(),
                e["keyword"].as_str().unwrap(),
            )
        })
        .collect();
    at.sort();
    assert_eq!(at, [("", "additionalProperties"), ("/n", "maximum")]);
    assert!(
        !bad.body.to_string().contains("s3cr3t-value"),
        "{}",
        bad.body
    );
    let cid = bad.headers["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!st.saw(&cid), "a refused call never reaches the upstream");
    let record = wait_for_record(&gw.db_path(), "the refusal", |r| {
        r["correlation_id"] == cid.as_str()
    })
    .await;
    assert_eq!(
        (record["decision"].as_str(), record["code"].as_str()),
        (Some("deny"), Some("invalid_arguments"))
    );

    let missing = call(&gw.url, &key, &sid, "u.strict", json!({}), None).await;
    assert_eq!(missing.error_code(), Some("invalid_arguments"));
    let mut deep = json!(1);
    for _ in 0..64 {
        deep = json!([deep]);
    }
    let nested = call(&gw.url, &key, &sid, "u.strict", json!({"n": deep}), None).await;
    assert_eq!(nested.error_code(), Some("invalid_arguments"));
    assert!(
        nested.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deeper")
    );

    // The tool whose schema points outside itself: quarantined, hidden, refused, not fetched.
    let list = rpc(&gw.url, &key, Some(&sid), "tools/list", json!({})).await;
    let names: Vec<&str> = list.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"u.strict") && !names.contains(&"u.remote_ref"),
        "{names:?}"
    );
    let q = call(&gw.url, &key, &sid, "u.remote_ref", json!({"x": 1}), None).await;
    assert_eq!(q.error_code(), Some("tool_quarantined"), "{:?}", q.body);
    let cid = q.headers["x-correlation-id"].to_str().unwrap().to_string();
    assert!(!st.saw(&cid));
    let v: Value = q.body["error"]["message"].clone();
    assert!(v.as_str().unwrap().contains("u.remote_ref"), "{v}");
}
