//! The official Rust MCP SDK (rmcp) as the client, over loopback, against the real gateway
//! fronting the demo server: it connects with only the URL and a key, sees its role's tools,
//! runs a read, gets a dry-run preview for a write, and a structured refusal for the rest.

mod common;

use common::*;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::ServiceError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

async fn connect(
    url: &str,
    key: &str,
) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ClientConfig>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(key),
    );
    ClientConfig::default()
        .serve(transport)
        .await
        .map_err(|e| e.to_string())
}

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(name.to_string()).with_arguments(args)
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    let v = serde_json::to_value(result).unwrap();
    v["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn an_sdk_client_lists_calls_and_is_governed() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("agent", &[]);
    let client = connect(&gw.url, &key).await.expect("rmcp client connects");

    let info = client.peer_info().expect("initialize result");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("portcullis")
    );

    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert!(names.contains(&"demo.echo".to_string()), "{names:?}");
    assert!(names.contains(&"demo.notes_write".to_string()), "{names:?}");
    assert!(
        !names.contains(&"demo.notes_delete".to_string()),
        "the agent role may not see destructive tools: {names:?}"
    );

    let echoed = client
        .call_tool(call("demo.echo", json!({"text": "through the gate"})))
        .await
        .unwrap();
    assert_eq!(text(&echoed), "through the gate");
    assert_ne!(echoed.is_error, Some(true));

    let preview = client
        .call_tool(call(
            "demo.notes_write",
            json!({"key": "k", "text": "would be written"}),
        ))
        .await
        .unwrap();
    let preview = serde_json::to_value(&preview).unwrap();
    assert!(preview.get("structuredContent").is_none(), "{preview}");
    assert_eq!(preview["isError"], true, "the tool did not run: {preview}");
    let meta = &preview["_meta"]["io.portcullis/dryRun"];
    assert_eq!(meta["dryRun"], true, "{preview}");
    assert_eq!(meta["tool"], "demo.notes_write");
    let read = client
        .call_tool(call("demo.notes_read", json!({"key": "k"})))
        .await
        .unwrap();
    assert_eq!(
        read.is_error,
        Some(true),
        "the dry-run wrote nothing upstream: {read:?}"
    );

    match client
        .call_tool(call("demo.notes_delete", json!({"key": "k"})))
        .await
    {
        Err(ServiceError::McpError(e)) => {
            let data = e.data.expect("the error contract rides in error.data");
            assert_eq!(data["code"], "unknown_tool", "hidden from the role: {data}");
            assert!(
                data["correlationId"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
            );
        }
        other => panic!("destructive call must be refused, got {other:?}"),
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_sdk_client_without_a_valid_key_cannot_connect() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let err = connect(
        &gw.url,
        "pcl_000000000000_notarealkeynotarealkeynotarealkey00000",
    )
    .await
    .expect_err("a bad key must not get a session");
    assert!(
        err.contains("401") || err.to_lowercase().contains("auth required"),
        "{err}"
    );
}
