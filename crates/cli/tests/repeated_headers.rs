//! Security headers sent more than once are refused, whatever their values: two values could
//! contradict each other, and another component (a proxy, the upstream) might read the other
//! one. The requests go over a raw TCP connection, since HTTP clients merge or refuse repeats.
//! Two credentials of different kinds are ambiguous.

mod common;

use common::*;
use serde_json::{Value, json};

const ORIGIN: &str = "https://app.example.com";

fn start() -> Gateway {
    Gateway::start(&demo_config("enforce", "").replace(
        "[server]",
        &format!("[server]\nallowed_origins = [\"{ORIGIN}\"]"),
    ))
}

/// A started gateway, a key of `role`, its `Authorization` value and a session opened with it.
async fn session(role: &str) -> (Gateway, String, String, String) {
    let gw = start();
    let (_, key) = gw.key(role, &[]);
    let sid = initialize(&gw.url, &key).await;
    let bearer = format!("Bearer {key}");
    (gw, key, bearer, sid)
}

fn host(gw: &Gateway) -> String {
    gw.base.trim_start_matches("http://").to_string()
}

/// The headers of a well-formed POST, then `extra` as given (repeats included).
async fn post(gw: &Gateway, extra: &[(&str, &str)], body: &Value) -> Reply {
    let host = host(gw);
    let mut headers = vec![
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    headers.extend_from_slice(extra);
    raw_post(&gw.base, &headers, &body.to_string()).await
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
}

fn assert_refused(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.error_code()),
        (status, Some(code)),
        "{what}: {:?}",
        r.body
    );
}

#[tokio::test]
async fn repeated_admission_headers_are_refused() {
    let gw = start();
    let (_, key) = gw.key("reader", &[]);
    let bearer = format!("Bearer {key}");
    let host = host(&gw);
    let init = initialize_body();

    let control = post(
        &gw,
        &[("Authorization", &bearer), ("Origin", ORIGIN)],
        &init,
    )
    .await;
    assert_eq!(
        control.status, 200,
        "one of each is accepted: {:?}",
        control.body
    );

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "two Authorization headers",
            vec![("Authorization", &bearer), ("Authorization", &bearer)],
        ),
        (
            "two X-MCP-KEY headers",
            vec![("X-MCP-KEY", &key), ("X-MCP-KEY", &key)],
        ),
        (
            "two Host headers",
            vec![("Authorization", &bearer), ("Host", &host)],
        ),
        (
            "two Origin headers",
            vec![
                ("Authorization", &bearer),
                ("Origin", ORIGIN),
                ("Origin", ORIGIN),
            ],
        ),
    ];
    for (what, headers) in cases {
        let r = post(&gw, &headers, &init).await;
        assert_refused(&r, 400, "repeated_header", what);
    }
    let unauthenticated = post(&gw, &[("Host", &host)], &init).await;
    assert_refused(
        &unauthenticated,
        400,
        "repeated_header",
        "Host is checked before identity",
    );
}

#[tokio::test]
async fn a_repeated_session_id_is_refused() {
    let (gw, _, bearer, sid) = session("reader").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let once = post(
        &gw,
        &[("Authorization", &bearer), ("Mcp-Session-Id", &sid)],
        &list,
    )
    .await;
    assert!(once.body["result"]["tools"].is_array(), "{:?}", once.body);
    let twice = post(
        &gw,
        &[
            ("Authorization", &bearer),
            ("Mcp-Session-Id", &sid),
            ("Mcp-Session-Id", &sid),
        ],
        &list,
    )
    .await;
    assert_refused(&twice, 400, "repeated_header", "two Mcp-Session-Id headers");
}

fn write(key: &str, text: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "demo.notes_write", "arguments": {"key": key, "text": text}}})
}

/// A live write of note `key` in session `sid`, with `X-Portcullis-Dry-Run: false` and then,
/// if `contradict`, `X-Portcullis-Dry-Run: true`.
async fn live_write(gw: &Gateway, bearer: &str, sid: &str, key: &str, contradict: bool) -> Reply {
    let mut headers = vec![
        ("Authorization", bearer),
        ("Mcp-Session-Id", sid),
        ("X-Portcullis-Dry-Run", "false"),
        ("Idempotency-Key", key),
    ];
    if contradict {
        headers.push(("X-Portcullis-Dry-Run", "true"));
    }
    post(gw, &headers, &write(key, &format!("{key}-written"))).await
}

#[tokio::test]
async fn a_repeated_dry_run_header_never_runs_a_write_live() {
    let (gw, key, bearer, sid) = session("agent").await;

    // Control: the header alone does run the write live.
    let r = live_write(&gw, &bearer, &sid, "control", false).await;
    assert_eq!(r.body["result"]["isError"], json!(false), "{:?}", r.body);
    assert!(
        read_note(&gw, &key, &sid, "control")
            .await
            .contains("control-written")
    );

    let r = live_write(&gw, &bearer, &sid, "twice", true).await;
    assert_eq!(r.error_code(), Some("repeated_header"), "{:?}", r.body);
    let cid = r.headers["x-correlation-id"].to_str().unwrap().to_string();
    assert!(
        !read_note(&gw, &key, &sid, "twice")
            .await
            .contains("twice-written"),
        "the refused write reached the upstream"
    );
    let allowed = ledger(&gw.db_path())
        .into_iter()
        .filter(|rec| rec["correlation_id"] == cid.as_str() && rec["decision"] == "allow")
        .count();
    assert_eq!(allowed, 0, "the refused write was not allowed");
}

#[tokio::test]
async fn a_repeated_dry_run_header_is_an_http_400() {
    let (gw, _, bearer, sid) = session("agent").await;
    let r = live_write(&gw, &bearer, &sid, "twice", true).await;
    assert_refused(&r, 400, "repeated_header", "false then true");
}

#[tokio::test]
async fn repeated_protocol_headers_are_a_mismatch() {
    let gw = start();
    let (_, key) = gw.key("reader", &[]);
    let bearer = format!("Bearer {key}");
    let mut params = json!({"name": "demo.echo", "arguments": {"text": "x"}});
    params["_meta"] = modern_meta();
    let echo = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": params});
    let base = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "demo.echo"),
    ];
    let control = post(&gw, &base, &echo).await;
    assert_eq!(
        control.body["result"]["content"][0]["text"], "x",
        "{:?}",
        control.body
    );
    for repeat in [
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "demo.echo"),
    ] {
        let mut headers = base.to_vec();
        headers.push(repeat);
        let r = post(&gw, &headers, &echo).await;
        assert_refused(&r, 400, "header_mismatch", &format!("two {}", repeat.0));
        assert_eq!(r.body["error"]["code"], -32020, "{:?}", r.body);
    }
}

#[tokio::test]
async fn a_bearer_key_and_an_x_mcp_key_together_are_ambiguous() {
    let gw = start();
    let (_, key) = gw.key("reader", &[]);
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        initialize_body().to_string(),
        &[("x-mcp-key", &key)],
    )
    .await;
    assert_refused(&r, 401, "ambiguous_credentials", "Bearer and X-MCP-KEY");
}
