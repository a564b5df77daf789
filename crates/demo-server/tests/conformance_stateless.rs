//! The conformance catalog over the stateless 2026-07-28 revision: the tools that ask the
//! client answer with `input_required` and finish when the call is retried with the answers.
#![allow(deprecated)]

mod common;

use common::{SAMPLED_TEXT, connect, start_server};
use rmcp::model::{CallToolRequestParams, CallToolResponse, ProtocolVersion};
use serde_json::{Value, json};

const V: ProtocolVersion = ProtocolVersion::V_2026_07_28;

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.to_owned());
    match args {
        Value::Object(map) => params.with_arguments(map),
        _ => params,
    }
}

#[tokio::test]
async fn sampling_is_an_input_required_round_trip() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;

    assert_eq!(client.peer_info().unwrap().protocol_version, V);
    // One round by hand: the first answer asks for input instead of calling back.
    let first = client
        .call_tool_once(call("test_sampling", json!({"prompt": "Say hi"})))
        .await
        .unwrap();
    let CallToolResponse::InputRequired(required) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let wire = serde_json::to_value(&required).unwrap();
    assert_eq!(wire["resultType"], "input_required");
    assert_eq!(
        wire["inputRequests"]["input"]["method"],
        "sampling/createMessage"
    );
    assert_eq!(wire["inputRequests"]["input"]["params"]["maxTokens"], 100);
    assert!(
        seen.seen().sampling.is_empty(),
        "no server-to-client request on this revision"
    );

    // The SDK's helper fulfils the round through the client handler and retries.
    let r = client
        .call_tool(call("test_sampling", json!({"prompt": "Say hi"})))
        .await
        .unwrap();
    let content = serde_json::to_value(&r.content).unwrap();
    assert_eq!(content[0]["text"], format!("LLM response: {SAMPLED_TEXT}"));
    assert_eq!(seen.seen().sampling.len(), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn elicitation_is_an_input_required_round_trip() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;
    let r = client
        .call_tool(call("test_elicitation", json!({"message": "Who are you?"})))
        .await
        .unwrap();
    let content = serde_json::to_value(&r.content).unwrap();
    let text = content[0]["text"].as_str().unwrap();
    assert!(text.starts_with("User response: action=accept"), "{text}");
    assert!(text.contains("testuser"), "{text}");
    assert_eq!(seen.seen().elicitations.len(), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn plain_tools_and_reconnection_answer_statelessly() {
    let url = start_server().await;
    let (client, _) = connect(&url, V).await;
    let r = client
        .call_tool(call("test_simple_text", json!({})))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&r.content).unwrap()[0]["text"],
        "This is a simple text response for testing."
    );
    // Without a session there is no stream to resume: the tool answers at once.
    let r = client
        .call_tool(call("test_reconnection", json!({})))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&r.content).unwrap()[0]["text"],
        "Reconnection test completed successfully"
    );
    client.cancel().await.unwrap();
}
