//! Both wire eras against the real gateway: the official Rust SDK as a stateless 2026-07-28
//! client, the header/body checks of that revision with their spec'd errors, `server/discover`,
//! and the legacy transport's GET and DELETE rules.

mod common;

use common::*;
use rmcp::model::{CallToolRequestParams, ClientConfig, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn a_stateless_sdk_client_lists_and_calls_without_a_session() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("agent", &[]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gw.url.as_str()).auth_header(key),
    );
    let client = ClientConfig::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("the modern client discovers the gateway");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "demo.echo"));
    let Value::Object(args) = json!({"text": "stateless"}) else {
        unreachable!()
    };
    let r = client
        .call_tool(CallToolRequestParams::new("demo.echo").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&r).unwrap()["content"][0]["text"],
        "stateless"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn modern_results_are_complete_and_private() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("agent", &[]);
    let r = modern(&gw.url, &key, "tools/list", json!({}), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let result = &r.body["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["cacheScope"], "private",
        "lists are filtered per caller"
    );
    assert!(result["ttlMs"].is_u64());
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "portcullis"
    );
    assert!(r.session().is_none(), "no session in revision 2026-07-28");

    let d = modern(&gw.url, &key, "server/discover", json!({}), &[]).await;
    assert_eq!(d.status, 200);
    let versions = d.body["result"]["supportedVersions"].as_array().unwrap();
    assert!(versions.contains(&json!(MODERN)) && versions.contains(&json!("2025-06-18")));
    assert!(d.body["result"]["capabilities"]["tools"].is_object());

    let call = modern(
        &gw.url,
        &key,
        "tools/call",
        json!({"name": "demo.echo", "arguments": {"text": "hi"}}),
        &[],
    )
    .await;
    assert_eq!(call.body["result"]["content"][0]["text"], "hi");
    assert_eq!(call.body["result"]["resultType"], "complete");
}

#[tokio::test]
async fn header_and_body_mismatches_get_the_spec_error() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("agent", &[]);
    let echo = json!({"name": "demo.echo", "arguments": {"text": "x"}});
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "method header names another method",
            vec![("mcp-method", "tools/list")],
        ),
        ("method header missing", vec![("mcp-method", "")]),
        (
            "name header names another tool",
            vec![("mcp-name", "demo.notes_read")],
        ),
        ("name header missing", vec![("mcp-name", "")]),
        ("version header missing", vec![("mcp-protocol-version", "")]),
        (
            "version header disagrees",
            vec![("mcp-protocol-version", "2025-11-25")],
        ),
        (
            "name header badly encoded",
            vec![("mcp-name", "=?base64?***?=")],
        ),
    ];
    for (what, overrides) in cases {
        let r = modern(&gw.url, &key, "tools/call", echo.clone(), &overrides).await;
        assert_eq!(r.status, 400, "{what}: {:?}", r.body);
        assert_eq!(r.body["error"]["code"], -32020, "{what}: {:?}", r.body);
        assert_eq!(r.error_code(), Some("header_mismatch"), "{what}");
    }
    let encoded = modern(
        &gw.url,
        &key,
        "tools/call",
        echo.clone(),
        &[("mcp-name", "=?base64?ZGVtby5lY2hv?=")],
    )
    .await;
    assert_eq!(
        encoded.status, 200,
        "the base64 form of the name matches: {:?}",
        encoded.body
    );

    let mut future = modern_meta();
    future["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let body =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": future}});
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        body.to_string(),
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], -32022);
    assert!(
        r.body["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );

    let no_caps = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}});
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        no_caps.to_string(),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, Some("invalid_meta")));

    let r = modern(&gw.url, &key, "ping", json!({}), &[]).await;
    assert_eq!(r.status, 404, "ping is not part of 2026-07-28");
    assert_eq!(r.body["error"]["code"], -32601);
}

#[tokio::test]
async fn modern_requests_are_still_authenticated_and_governed() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let r = modern(
        &gw.url,
        "pcl_000000000000_notarealkeynotarealkeynotarealkey00000",
        "tools/list",
        json!({}),
        &[],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = modern(
        &gw.url,
        &key,
        "tools/call",
        json!({"name": "demo.notes_write", "arguments": {"key": "k", "text": "t"}}),
        &[],
    )
    .await;
    assert_eq!(
        r.error_code(),
        Some("unknown_tool"),
        "a tool the role cannot see: {:?}",
        r.body
    );
}

#[tokio::test]
async fn legacy_streams_need_a_session_and_sessions_end_with_delete() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let client = http();
    let get = client
        .get(&gw.url)
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405, "no GET stream without a session");
    assert_eq!(get.headers()["allow"], "POST");

    let sid = initialize(&gw.url, &key).await;
    let stream = client
        .get(&gw.url)
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    drop(stream);

    let bad_resume = client
        .get(&gw.url)
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("last-event-id", "not-an-event")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_resume.status(), 404);

    let only_sse = post_raw(
        &gw.url,
        Some(&key),
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string(),
        &[("accept", "text/event-stream")],
    )
    .await;
    assert_eq!(only_sse.status, 200);
    assert_eq!(only_sse.headers["content-type"], "text/event-stream");

    let del = client
        .delete(&gw.url)
        .bearer_auth(&key)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let after = rpc(&gw.url, &key, Some(&sid), "ping", json!({})).await;
    assert_eq!(
        (after.status, after.error_code()),
        (404, Some("session_not_found"))
    );

    let unsupported = post_raw(
        &gw.url,
        Some(&key),
        Some(&initialize(&gw.url, &key).await),
        json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}).to_string(),
        &[("mcp-protocol-version", "1999-01-01")],
    )
    .await;
    assert_eq!(
        (unsupported.status, unsupported.error_code()),
        (400, Some("unsupported_protocol_version"))
    );
}

#[tokio::test]
async fn idle_streams_carry_keep_alive_comments() {
    let gw = Gateway::start(
        &demo_config("read-only", "").replace("[server]", "[server]\nsse_keep_alive = \"100ms\""),
    );
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let mut stream = http()
        .get(&gw.url)
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
        .await
        .expect("a keep-alive arrives while nothing else happens")
        .unwrap()
        .unwrap();
    assert_eq!(&chunk[..], b": keep-alive\n\n");
}
