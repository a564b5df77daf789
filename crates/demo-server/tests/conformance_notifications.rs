//! The catalog's extra tools: they make the server send the notifications the conformance
//! suite does not exercise (resource updates, list changes) and observe a cancellation.
#![allow(deprecated)]

mod common;

use common::{connect, eventually, start_server};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ProtocolVersion, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::PeerRequestOptions;
use serde_json::{Value, json};

const V: ProtocolVersion = ProtocolVersion::V_2025_11_25;

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.to_owned());
    match args {
        Value::Object(map) => params.with_arguments(map),
        _ => params,
    }
}

async fn text_of(
    client: &rmcp::service::RunningService<rmcp::RoleClient, common::TestClient>,
    name: &str,
    args: Value,
) -> String {
    let r = client.call_tool(call(name, args)).await.unwrap();
    serde_json::to_value(&r.content).unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn resource_updates_reach_subscribers_only() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;
    let watched = json!({"uri": "test://watched-resource"});

    let text = text_of(&client, "trigger_resource_updated", watched.clone()).await;
    assert_eq!(text, "not subscribed to test://watched-resource");

    client
        .subscribe(SubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    let text = text_of(&client, "trigger_resource_updated", watched.clone()).await;
    assert_eq!(text, "sent resources/updated for test://watched-resource");
    assert!(eventually(|| seen.seen().resource_updates.len() == 1).await);
    assert_eq!(seen.seen().resource_updates, ["test://watched-resource"]);

    client
        .unsubscribe(UnsubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    let text = text_of(&client, "trigger_resource_updated", watched).await;
    assert_eq!(text, "not subscribed to test://watched-resource");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn list_changed_notifications_arrive() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;
    let text = text_of(&client, "trigger_list_changed", json!({})).await;
    assert_eq!(text, "sent tools, resources and prompts list_changed");
    assert!(eventually(|| seen.seen().list_changed.len() == 3).await);
    let mut kinds = seen.seen().list_changed.clone();
    kinds.sort_unstable();
    assert_eq!(kinds, ["prompts", "resources", "tools"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn cancellation_reaches_the_tool() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;

    let uncancelled = text_of(
        &client,
        "wait_for_cancellation",
        json!({"ms": 10, "tag": "t0"}),
    )
    .await;
    assert_eq!(uncancelled, "not cancelled within 10 ms");

    let request = ClientRequest::CallToolRequest(CallToolRequest::new(call(
        "wait_for_cancellation",
        json!({"ms": 30_000, "tag": "t1"}),
    )));
    let handle = client
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    // Cancel once the call has reached the tool.
    let logged = |data: Value| {
        let seen = seen.clone();
        move || seen.seen().logs.iter().any(|l| l.data == data)
    };
    assert!(eventually(logged(json!({"waiting": "t1"}))).await);
    handle.cancel(Some("test".into())).await.unwrap();
    let cancelled = eventually(logged(json!({"cancelled": "t1"}))).await;
    assert!(cancelled, "logs: {:?}", seen.seen().logs);
    client.cancel().await.unwrap();
}
