//! Policy through the real gateway: listing by role, read forwarded, write dry-run by default,
//! live writes by mode and grant, destructive and unknown tools denied.

mod common;

use common::*;
use serde_json::{Value, json};

fn tool_names(r: &Reply) -> Vec<String> {
    let mut v: Vec<String> = r.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn tools_list_shows_each_role_only_what_it_may_call() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, reader) = gw.key("reader", &[]);
    let (_, agent) = gw.key("agent", &[]);
    let (_, admin) = gw.key("admin", &[]);

    let sid = initialize(&gw.url, &reader).await;
    let r = rpc(&gw.url, &reader, Some(&sid), "tools/list", json!({})).await;
    assert_eq!(tool_names(&r), vec!["demo.echo", "demo.notes_read"]);

    let sid = initialize(&gw.url, &agent).await;
    let names = tool_names(&rpc(&gw.url, &agent, Some(&sid), "tools/list", json!({})).await);
    assert!(names.contains(&"demo.notes_write".to_string()), "{names:?}");
    assert!(
        !names.contains(&"demo.notes_delete".to_string()),
        "destructive hidden: {names:?}"
    );
    assert!(
        !names.contains(&"demo.unannotated".to_string()),
        "unannotated is destructive: {names:?}"
    );

    let sid = initialize(&gw.url, &admin).await;
    let names = tool_names(&rpc(&gw.url, &admin, Some(&sid), "tools/list", json!({})).await);
    assert!(names.contains(&"demo.notes_delete".to_string()));
    assert!(names.contains(&"demo.unannotated".to_string()));
}

#[tokio::test]
async fn a_read_call_is_forwarded() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, reader) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &reader).await;
    let r = call(
        &gw.url,
        &reader,
        &sid,
        "demo.echo",
        json!({"text": "hello"}),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(text_of(&r.body), "hello", "{:?}", r.body);
    let recs = ledger(&gw.db_path());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["kind"], "decision");
    assert_eq!(recs[0]["decision"], "allow");
    assert_eq!(recs[1]["kind"], "outcome");
    assert_eq!(recs[1]["code"], "ok");
}

#[tokio::test]
async fn a_write_is_dry_run_by_default_and_forwards_nothing() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, agent) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &agent).await;
    let args = json!({"key": "k", "text": "dry-run-value-123"});
    let r = call(
        &gw.url,
        &agent,
        &sid,
        "demo.notes_write",
        args.clone(),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["result"].get("structuredContent").is_none(),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["result"]["isError"], true, "the tool did not run");
    let sc = &r.body["result"]["_meta"]["io.portcullis/dryRun"];
    assert_eq!(sc["dryRun"], true, "{:?}", r.body);
    assert_eq!(sc["decision"], "dry_run");
    assert_eq!(sc["arguments"], args);
    assert_eq!(sc["wouldForwardTo"]["tool"], "notes_write");
    assert_eq!(sc["liveCallWouldBeAllowed"], true);
    assert_eq!(sc["liveCallNeedsIdempotencyKey"], true);
    assert!(
        text_of(&r.body).contains("idempotency key"),
        "the preview says how to run it: {:?}",
        r.body
    );
    let read = call(
        &gw.url,
        &agent,
        &sid,
        "demo.notes_read",
        json!({"key": "k"}),
        None,
    )
    .await;
    assert!(
        !read.body.to_string().contains("dry-run-value-123"),
        "{:?}",
        read.body
    );
    let recs = ledger(&gw.db_path());
    assert_eq!(recs[0]["decision"], "dry_run");
    assert!(
        recs.iter()
            .filter(|r| r["tool"] == "demo.notes_write")
            .all(|r| r["kind"] == "decision")
    );
}

#[tokio::test]
async fn a_live_write_is_denied_in_read_only_mode() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, agent) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &agent).await;
    let r = call(
        &gw.url,
        &agent,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "v"}),
        Some(json!({"dry_run": false})),
    )
    .await;
    assert_eq!(r.error_code(), Some("read_only_mode"), "{:?}", r.body);
    assert!(r.body["error"]["data"]["guidance"].is_string());
}

#[tokio::test]
async fn a_live_write_runs_in_enforce_mode_only_with_allow_write() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, agent) = gw.key("agent", &[]);
    let (_, viewer) = gw.key("viewer", &[]);
    let sid = initialize(&gw.url, &viewer).await;
    let r = call(
        &gw.url,
        &viewer,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "v"}),
        Some(json!({"dry_run": false})),
    )
    .await;
    assert_eq!(r.error_code(), Some("write_not_permitted"), "{:?}", r.body);

    let sid = initialize(&gw.url, &agent).await;
    let r = call(
        &gw.url,
        &agent,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "stored-value"}),
        Some(json!({"dry_run": false, "io.portcullis/idempotencyKey": "write-k"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        text_of(&r.body),
        "stored \"k\"",
        "the tool's own answer: {:?}",
        r.body
    );
    assert_ne!(r.body["result"]["isError"], true, "{:?}", r.body);
    assert!(r.body["result"]["_meta"]["io.portcullis/dryRun"].is_null());
    let read = call(
        &gw.url,
        &agent,
        &sid,
        "demo.notes_read",
        json!({"key": "k"}),
        None,
    )
    .await;
    assert!(
        text_of(&read.body).contains("stored-value"),
        "{:?}",
        read.body
    );

    // The header works as well as _meta.
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "demo.notes_write", "arguments": {"key": "h", "text": "via-header"}}});
    let r = post_raw(
        &gw.url,
        Some(&agent),
        Some(&sid),
        body.to_string(),
        &[
            ("x-portcullis-dry-run", "false"),
            ("idempotency-key", "write-h"),
        ],
    )
    .await;
    assert_eq!(text_of(&r.body), "stored \"h\"", "ran live: {:?}", r.body);
    assert!(
        r.body["result"]["_meta"]["io.portcullis/dryRun"].is_null(),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn destructive_unknown_and_unannotated_tools_are_denied() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, agent) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &agent).await;
    for meta in [None, Some(json!({"dry_run": false}))] {
        let r = call(
            &gw.url,
            &agent,
            &sid,
            "demo.notes_delete",
            json!({"key": "k"}),
            meta.clone(),
        )
        .await;
        // Hidden from the role, so refused exactly as an absent tool.
        assert_eq!(r.error_code(), Some("unknown_tool"), "{:?}", r.body);
        let r = call(&gw.url, &agent, &sid, "demo.unannotated", json!({}), meta).await;
        assert_eq!(r.error_code(), Some("unknown_tool"), "{:?}", r.body);
    }
    let r = call(&gw.url, &agent, &sid, "demo.nope", json!({}), None).await;
    assert_eq!(r.error_code(), Some("unknown_tool"));
    let r = call(&gw.url, &agent, &sid, "nope", json!({}), None).await;
    assert_eq!(r.error_code(), Some("unknown_tool"));
    let recs = ledger(&gw.db_path());
    assert!(recs.iter().all(|r| r["decision"] == "deny"), "{recs:?}");
    assert_eq!(recs.len(), 6, "every denial is recorded");

    let (_, admin) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &admin).await;
    let r = call(
        &gw.url,
        &admin,
        &sid,
        "demo.unannotated",
        json!({}),
        Some(json!({"dry_run": false, "io.portcullis/idempotencyKey": "unannotated-1"})),
    )
    .await;
    assert_eq!(text_of(&r.body), "ok", "{:?}", r.body);
}

#[tokio::test]
async fn demo_mode_forces_read_only() {
    let gw = Gateway::start(
        &demo_config("enforce", "")
            .replace("mode = \"enforce\"", "mode = \"enforce\"\ndemo_mode = true"),
    );
    let (_, agent) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &agent).await;
    let r = call(
        &gw.url,
        &agent,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "v"}),
        Some(json!({"dry_run": false})),
    )
    .await;
    assert_eq!(r.error_code(), Some("read_only_mode"), "{:?}", r.body);
    let _: Value = r.body;
}
