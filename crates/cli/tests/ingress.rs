//! Ingress through the real gateway: Host and Origin checks, size cap, strict JSON-RPC,
//! JSON 404/405, and the ops endpoints.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn bad_host_and_bad_origin_are_refused_with_403() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        body.clone(),
        &[("host", "evil.example.com")],
    )
    .await;
    assert_eq!((r.status, r.error_code()), (403, Some("forbidden_host")));
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        body.clone(),
        &[("origin", "https://evil.example.com")],
    )
    .await;
    assert_eq!((r.status, r.error_code()), (403, Some("forbidden_origin")));
    let r = post_raw(&gw.url, None, None, body, &[("host", "evil.example.com")]).await;
    assert_eq!(
        r.error_code(),
        Some("forbidden_host"),
        "host is checked before identity"
    );
}

#[tokio::test]
async fn an_allowed_origin_is_accepted() {
    let gw = Gateway::start(&demo_config("read-only", "").replace(
        "[server]",
        "[server]\nallowed_origins = [\"https://app.example.com\"]",
    ));
    let (_, key) = gw.key("reader", &[]);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        init.to_string(),
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let gw = Gateway::start(
        &demo_config("read-only", "").replace("[server]", "[server]\nmax_body_bytes = 4096"),
    );
    let (_, key) = gw.key("reader", &[]);
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(10_000)}})
            .to_string();
    let r = post_raw(&gw.url, Some(&key), None, big, &[]).await;
    assert_eq!((r.status, r.error_code()), (413, Some("payload_too_large")));
    // Chunked, without Content-Length.
    let stream = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let r = post_raw(
        &gw.url,
        Some(&key),
        None,
        reqwest::Body::wrap_stream(stream),
        &[],
    )
    .await;
    assert_eq!((r.status, r.error_code()), (413, Some("payload_too_large")));
}

#[tokio::test]
async fn malformed_messages_and_batches_get_their_defined_errors() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let cases = [
        ("{not json", 400, "parse_error", -32700),
        ("", 400, "parse_error", -32700),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            400,
            "batch_not_supported",
            -32600,
        ),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            400,
            "invalid_request",
            -32600,
        ),
        (
            r#"{"id":1,"method":"ping"}"#,
            400,
            "invalid_request",
            -32600,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            400,
            "invalid_request",
            -32600,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            400,
            "invalid_request",
            -32600,
        ),
    ];
    for (body, status, code, rpc_code) in cases {
        let r = post_raw(&gw.url, Some(&key), Some(&sid), body.to_string(), &[]).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert_eq!(r.error_code(), Some(code), "{body}");
        assert_eq!(r.body["error"]["code"], rpc_code, "{body}");
        assert_eq!(r.body["jsonrpc"], "2.0");
        assert_eq!(
            r.body["error"]["data"]["correlationId"].as_str(),
            r.headers["x-correlation-id"].to_str().ok()
        );
    }
    let r = http()
        .post(&gw.url)
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .header("mcp-session-id", &sid)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "unsupported_media_type"
    );
    let r = rpc(&gw.url, &key, Some(&sid), "no/such/method", json!({})).await;
    assert_eq!((r.status, r.error_code()), (200, Some("method_not_found")));
    assert_eq!(r.body["error"]["code"], -32601);
    let r = rpc(&gw.url, &key, Some(&sid), "tools/call", json!({"name": 5})).await;
    assert_eq!(r.error_code(), Some("invalid_params"));
    let r = rpc(&gw.url, &key, Some(&sid), "ping", json!({})).await;
    assert_eq!(r.body["result"], json!({}));
}

#[tokio::test]
async fn sse_only_clients_get_an_event_stream() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let resp = http()
        .post(&gw.url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .body(json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["id"], 9);
}

#[tokio::test]
async fn everything_else_is_a_json_404_or_405_and_ops_endpoints_answer() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let c = http();
    for path in ["/", "/nope", "/mcp/extra", "/api/other"] {
        let r = c.get(format!("{}{path}", gw.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], "not_found");
    }
    let r = c.post(format!("{}/health", gw.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "method_not_allowed"
    );
    let (_, key) = gw.key("reader", &[]);
    let r = c.get(&gw.url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 405);

    let h: serde_json::Value = c
        .get(format!("{}/health", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let ready = c.get(format!("{}/ready", gw.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["upstreams"][0]["state"], "ready");
    assert!(ready["catalog"]["tools"].as_u64().unwrap() >= 7);

    let r = c
        .get(format!("{}/api/status", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "status needs a key");
    let s = api_status(&gw, &key).await;
    assert_eq!(s["mode"], "read-only");
    assert_eq!(s["schemaVersion"], portcullis_store::SCHEMA_VERSION);
    let config_bytes = std::fs::read(&gw.config).unwrap();
    let config_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&config_bytes))
    };
    assert_eq!(s["configHash"], config_hash, "SHA-256 of the config file");
    assert_eq!(
        s["catalogHash"],
        catalog_hash_of_the_demo_server().await,
        "the hash of the catalog federated from what the upstream lists"
    );
    assert!(s["toolCount"].as_u64().unwrap() >= 7);
    assert_eq!(
        s["ledger"]["size"], 1,
        "the refused request above is the only record"
    );
    let refusal = &ledger_now(&gw.db_path())[0];
    assert_eq!(refusal["code"], "missing_credentials");
    assert_eq!(refusal["method"], "GET /api/status");
    assert!(
        refusal["facts"]["client"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    let sid = initialize(&gw.url, &key).await;
    call(&gw.url, &key, &sid, "demo.echo", json!({"text": "m"}), None).await;
    assert_eq!(
        ledger(&gw.db_path()).len(),
        3,
        "the refusal, the decision, its outcome"
    );
    let m = c
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("portcullis_tool_calls_total"), "{m}");
    assert!(
        m.contains("portcullis_upstream_up{upstream=\"demo\"} 1"),
        "{m}"
    );
    assert!(m.contains("portcullis_ledger_records 3"), "{m}");
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let gw = Gateway::start(
        &demo_config("read-only", "").replace("[server]", "[server]\nmetrics = false"),
    );
    let r = http()
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The catalog hash of the demo upstream's listings, fetched straight from a demo server of
/// its own (not through the gateway).
async fn catalog_hash_of_the_demo_server() -> String {
    use portcullis_gateway::federation::{Catalog, fetch_listing};
    use portcullis_upstream::{TransportSpec, Upstream, UpstreamSpec};
    let u = Upstream::start(UpstreamSpec {
        name: "demo".into(),
        transport: TransportSpec::Stdio {
            command: bin().into(),
            args: vec!["demo-server".into(), "--test-tools".into()],
            env: Vec::new(),
            cwd: None,
            strict_attribution: false,
        },
        call_timeout: std::time::Duration::from_secs(5),
        max_response_bytes: 1 << 20,
        protocol_version: "2025-06-18".into(),
    });
    u.wait_ready(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let listing = fetch_listing(&u, "demo").await.unwrap();
    u.shutdown().await;
    let catalog = Catalog::build(&[listing], &portcullis_policy::Policy::default()).unwrap();
    assert!(!catalog.is_empty());
    catalog.hash().to_string()
}
