//! The conformance catalog's HTTP wire, checked with raw requests: a stream closed mid-call
//! and resumed with `Last-Event-ID`, DNS-rebinding defences, and the loopback-only bind.

mod common;

use std::net::SocketAddr;

use common::{WAIT, start_server};
use portcullis_demo_server::{DemoOptions, bind_http};
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";

/// One server-sent event.
#[derive(Debug, Default)]
struct Event {
    id: Option<String>,
    retry: Option<u64>,
    data: String,
}

fn parse_sse(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = Event::default();
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => event.id = Some(value.to_owned()),
                    "retry" => event.retry = value.parse().ok(),
                    "data" => event.data.push_str(value),
                    _ => {}
                }
            }
            event
        })
        .collect()
}

fn messages(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| !e.data.trim().is_empty())
        .filter_map(|e| serde_json::from_str(&e.data).ok())
        .collect()
}

fn http() -> reqwest::Client {
    common::install_crypto_provider();
    reqwest::Client::builder().timeout(WAIT).build().unwrap()
}

/// `initialize` plus `notifications/initialized`; returns the session id.
async fn open_session(url: &str) -> String {
    let http = http();
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "wire-test", "version": "1.0.0"}
        }
    });
    let r = http
        .post(url)
        .header("accept", ACCEPT)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert!(
        messages(&parse_sse(&body))
            .iter()
            .any(|m| m["id"] == 1 && m["result"].is_object())
    );
    let r = http
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    session
}

#[tokio::test]
async fn reconnection_closes_the_stream_and_answers_on_resume() {
    let url = start_server().await;
    let session = open_session(&url).await;
    let http = http();
    let call = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "test_reconnection", "arguments": {}}
    });
    let r = http
        .post(&url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // The server ends this stream without the result: priming events only.
    let events = parse_sse(&r.text().await.unwrap());
    assert!(messages(&events).is_empty(), "{events:?}");
    let last = events.last().expect("a priming event");
    assert_eq!(last.retry, Some(500));
    let last_id = last.id.clone().expect("priming events carry an id");

    let r = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let resumed = messages(&parse_sse(&r.text().await.unwrap()));
    let result = resumed
        .iter()
        .find(|m| m["id"] == 7)
        .expect("the result on the resumed stream");
    assert_eq!(
        result["result"]["content"][0]["text"],
        "Reconnection test completed successfully"
    );
}

async fn initialize_with(url: &str, host: &str, origin: Option<&str>) -> u16 {
    let mut request = http()
        .post(url)
        .header("accept", ACCEPT)
        .header("host", host)
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "wire-test", "version": "1.0.0"}
            }
        }));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn foreign_host_or_origin_is_refused() {
    let url = start_server().await;
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let evil = "evil.example.com";
    let status = initialize_with(&url, evil, Some("http://evil.example.com")).await;
    assert!(
        (400..500).contains(&status),
        "foreign Host and Origin: {status}"
    );
    let status = initialize_with(&url, &authority, Some("http://evil.example.com")).await;
    assert!((400..500).contains(&status), "foreign Origin: {status}");
    let own_origin = format!("http://{authority}");
    assert_eq!(
        initialize_with(&url, &authority, Some(&own_origin)).await,
        200
    );
    assert_eq!(initialize_with(&url, &authority, None).await, 200);
}

#[tokio::test]
async fn conformance_catalog_binds_loopback_only() {
    let opts = DemoOptions {
        conformance: true,
        ..DemoOptions::default()
    };
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = match bind_http(any, opts).await {
        Ok(_) => panic!("bound a non-loopback address"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("loopback"), "{err}");
}
