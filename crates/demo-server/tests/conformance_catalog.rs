//! The conformance catalog over streamable HTTP on loopback, driven by the official Rust SDK
//! client speaking 2025-11-25 (the session-based wire the conformance suite uses).
#![allow(deprecated)]

mod common;

use common::{SAMPLED_TEXT, connect, eventually, start_server};
use portcullis_demo_server::conformance::{
    CONFORMANCE_SERVER_NAME, CONFORMANCE_TOOLS, JSON_SCHEMA_2020_12, RED_PIXEL_PNG, SILENCE_WAV,
};
use rmcp::model::{
    ArgumentInfo, CallToolRequestParams, CallToolResult, CompleteRequestParams,
    GetPromptRequestParams, LoggingLevel, ProtocolVersion, ReadResourceRequestParams, Reference,
    SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
};
use serde_json::{Value, json};

const V: ProtocolVersion = ProtocolVersion::V_2025_11_25;

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.to_owned());
    match args {
        Value::Object(map) => params.with_arguments(map),
        _ => params,
    }
}

fn content(result: &CallToolResult) -> Value {
    serde_json::to_value(&result.content).unwrap()
}

#[tokio::test]
async fn catalog_lists_every_scenario_item() {
    let url = start_server().await;
    let (client, _) = connect(&url, V).await;

    let info = client.peer_info().expect("initialize result");
    assert_eq!(
        info.server_info.as_ref().unwrap().name,
        CONFORMANCE_SERVER_NAME
    );
    let caps = serde_json::to_value(&info.capabilities).unwrap();
    for cap in ["tools", "resources", "prompts", "completions", "logging"] {
        assert!(caps.get(cap).is_some(), "capability {cap} missing: {caps}");
    }
    assert_eq!(caps["resources"]["subscribe"], true);

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, CONFORMANCE_TOOLS);
    for tool in &tools {
        assert!(
            tool.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{}",
            tool.name
        );
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
    }
    let schema_tool = tools
        .iter()
        .find(|t| t.name == "json_schema_2020_12_tool")
        .unwrap();
    assert_eq!(schema_tool.input_schema["$schema"], JSON_SCHEMA_2020_12);
    assert!(schema_tool.input_schema["$defs"]["address"].is_object());
    assert_eq!(schema_tool.input_schema["additionalProperties"], false);

    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "test://static-text",
            "test://static-binary",
            "test://watched-resource"
        ]
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].uri_template, "test://template/{id}/data");
    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "test_simple_prompt",
            "test_prompt_with_arguments",
            "test_prompt_with_embedded_resource",
            "test_prompt_with_image"
        ]
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn content_tools_return_each_content_kind() {
    let url = start_server().await;
    let (client, _) = connect(&url, V).await;

    let r = client
        .call_tool(call("test_simple_text", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r),
        json!([{"type": "text", "text": "This is a simple text response for testing."}])
    );
    let r = client
        .call_tool(call("test_image_content", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r),
        json!([{"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"}])
    );
    let r = client
        .call_tool(call("test_audio_content", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r),
        json!([{"type": "audio", "data": SILENCE_WAV, "mimeType": "audio/wav"}])
    );
    let r = client
        .call_tool(call("test_embedded_resource", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r),
        json!([{"type": "resource", "resource": {
            "uri": "test://embedded-resource",
            "mimeType": "text/plain",
            "text": "This is an embedded resource content."
        }}])
    );
    let r = client
        .call_tool(call("test_multiple_content_types", json!({})))
        .await
        .unwrap();
    let kinds: Vec<Value> = content(&r)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("text"), json!("image"), json!("resource")]);

    let r = client
        .call_tool(call("test_error_handling", json!({})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert_eq!(
        content(&r)[0]["text"],
        "This tool intentionally returns an error for testing"
    );

    let r = client
        .call_tool(call(
            "json_schema_2020_12_tool",
            json!({"name": "Ada", "address": {"street": "1 Loop", "city": "London"}}),
        ))
        .await
        .unwrap();
    assert_eq!(content(&r)[0]["text"], "Ada from London");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn logging_respects_the_session_level() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;

    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    let r = client
        .call_tool(call("test_tool_with_logging", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r)[0]["text"],
        "Tool with logging completed (3 log notifications sent)"
    );
    assert!(
        eventually(|| seen.seen().logs.len() >= 3).await,
        "{:?}",
        seen.seen().logs
    );
    let texts: Vec<Value> = seen.seen().logs.iter().map(|l| l.data.clone()).collect();
    assert_eq!(
        texts,
        [
            json!("Tool execution started"),
            json!("Tool processing data"),
            json!("Tool execution completed")
        ]
    );
    assert!(
        seen.seen()
            .logs
            .iter()
            .all(|l| l.level == LoggingLevel::Info)
    );

    // Above the tools' info level nothing is sent.
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await
        .unwrap();
    let r = client
        .call_tool(call("test_tool_with_logging", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r)[0]["text"],
        "Tool with logging completed (0 log notifications sent)"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn progress_is_reported_in_order() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;
    // The SDK client attaches a progress token to every request.
    let r = client
        .call_tool(call("test_tool_with_progress", json!({})))
        .await
        .unwrap();
    assert_eq!(content(&r)[0]["text"], "Tool with progress completed");
    assert!(eventually(|| seen.seen().progress.len() >= 3).await);
    let steps: Vec<(f64, Option<f64>)> = seen
        .seen()
        .progress
        .iter()
        .map(|p| (p.progress, p.total))
        .collect();
    assert_eq!(
        steps,
        [
            (0.0, Some(100.0)),
            (50.0, Some(100.0)),
            (100.0, Some(100.0))
        ]
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn sampling_and_elicitation_ask_the_client() {
    let url = start_server().await;
    let (client, seen) = connect(&url, V).await;

    let r = client
        .call_tool(call("test_sampling", json!({"prompt": "Say hi"})))
        .await
        .unwrap();
    assert_eq!(
        content(&r)[0]["text"],
        format!("LLM response: {SAMPLED_TEXT}")
    );
    {
        let seen = seen.seen();
        assert_eq!(seen.sampling.len(), 1);
        assert_eq!(seen.sampling[0].max_tokens, 100);
        let message = serde_json::to_value(&seen.sampling[0].messages).unwrap();
        assert_eq!(message[0]["role"], "user");
        assert_eq!(message[0]["content"]["text"], "Say hi");
    }

    let r = client
        .call_tool(call("test_elicitation", json!({"message": "Who are you?"})))
        .await
        .unwrap();
    let text = content(&r)[0]["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("User response: action=accept, content="),
        "{text}"
    );
    assert!(text.contains("testuser"), "{text}");

    client
        .call_tool(call("test_elicitation_sep1034_defaults", json!({})))
        .await
        .unwrap();
    client
        .call_tool(call("test_elicitation_sep1330_enums", json!({})))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    let seen = seen.seen();
    assert_eq!(seen.elicitations.len(), 3);
    assert_eq!(seen.elicitations[0]["message"], "Who are you?");
    assert_eq!(
        seen.elicitations[0]["requestedSchema"]["required"],
        json!(["username", "email"])
    );
    let defaults = &seen.elicitations[1]["requestedSchema"]["properties"];
    assert_eq!(defaults["name"]["default"], "John Doe");
    assert_eq!(defaults["age"]["default"], 30);
    assert_eq!(defaults["score"]["default"], 95.5);
    assert_eq!(defaults["status"]["default"], "active");
    assert_eq!(defaults["verified"]["default"], true);
    let enums = &seen.elicitations[2]["requestedSchema"]["properties"];
    assert!(enums["titledSingle"]["oneOf"].is_array());
    assert_eq!(
        enums["legacyEnum"]["enumNames"].as_array().unwrap().len(),
        3
    );
    assert!(enums["untitledMulti"]["items"]["enum"].is_array());
    assert!(enums["titledMulti"]["items"]["anyOf"].is_array());
}

#[tokio::test]
async fn resources_read_subscribe_and_complete() {
    let url = start_server().await;
    let (client, _) = connect(&url, V).await;

    let read = |uri: &str| client.read_resource(ReadResourceRequestParams::new(uri.to_owned()));
    let text = serde_json::to_value(read("test://static-text").await.unwrap().contents).unwrap();
    assert_eq!(
        text[0]["text"],
        "This is the content of the static text resource."
    );
    assert_eq!(text[0]["mimeType"], "text/plain");
    let blob = serde_json::to_value(read("test://static-binary").await.unwrap().contents).unwrap();
    assert_eq!(blob[0]["blob"], RED_PIXEL_PNG);
    let data =
        serde_json::to_value(read("test://template/123/data").await.unwrap().contents).unwrap();
    assert_eq!(data[0]["uri"], "test://template/123/data");
    let parsed: Value = serde_json::from_str(data[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["id"], "123");
    assert!(read("test://nothing").await.is_err());

    client
        .subscribe(SubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    client
        .unsubscribe(UnsubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    assert!(
        client
            .subscribe(SubscribeRequestParams::new("test://nothing"))
            .await
            .is_err()
    );

    let completion = client
        .complete(CompleteRequestParams::new(
            Reference::for_prompt("test_prompt_with_arguments"),
            ArgumentInfo::new("arg1", "pa"),
        ))
        .await
        .unwrap()
        .completion;
    assert_eq!(completion.values, ["paris", "park", "party"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn prompts_substitute_and_embed() {
    let url = start_server().await;
    let (client, _) = connect(&url, V).await;
    let get = |name: &str, args: Value| {
        let mut p = GetPromptRequestParams::new(name.to_owned());
        p.arguments = args.as_object().cloned();
        client.get_prompt(p)
    };
    let r = get("test_simple_prompt", json!(null)).await.unwrap();
    assert_eq!(
        serde_json::to_value(&r.messages).unwrap(),
        json!([{"role": "user", "content": {"type": "text", "text": "This is a simple prompt for testing."}}])
    );
    let r = get(
        "test_prompt_with_arguments",
        json!({"arg1": "hello", "arg2": "world"}),
    )
    .await
    .unwrap();
    let m = serde_json::to_value(&r.messages).unwrap();
    assert_eq!(
        m[0]["content"]["text"],
        "Prompt with arguments: arg1='hello', arg2='world'"
    );
    let r = get(
        "test_prompt_with_embedded_resource",
        json!({"resourceUri": "test://x"}),
    )
    .await
    .unwrap();
    let m = serde_json::to_value(&r.messages).unwrap();
    assert_eq!(m[0]["content"]["resource"]["uri"], "test://x");
    let r = get("test_prompt_with_image", json!(null)).await.unwrap();
    let m = serde_json::to_value(&r.messages).unwrap();
    assert_eq!(m[0]["content"]["type"], "image");
    assert_eq!(m[0]["content"]["mimeType"], "image/png");
    assert!(
        get("test_prompt_with_arguments", json!({"arg1": "only"}))
            .await
            .is_err()
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn reconnection_tool_answers_after_the_client_resumes() {
    let url = start_server().await;
    let (client, _) = connect(&url, V).await;
    // The server closes the call's stream mid-call; the SDK client resumes it with
    // Last-Event-ID after the announced retry delay and receives the result there.
    let r = tokio::time::timeout(
        common::WAIT,
        client.call_tool(call("test_reconnection", json!({}))),
    )
    .await
    .expect("answered in time")
    .unwrap();
    assert_eq!(
        content(&r)[0]["text"],
        "Reconnection test completed successfully"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn catalog_serves_over_a_byte_stream_too() {
    use rmcp::ServiceExt as _;
    // What `demo-server --conformance` does on stdio, over an in-process pipe.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = portcullis_demo_server::conformance::ConformanceServer::new(None);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let handler = common::TestClient::new(V);
    let client = handler.clone().serve(client_io).await.unwrap();
    let r = client
        .call_tool(call("test_sampling", json!({"prompt": "over a pipe"})))
        .await
        .unwrap();
    assert_eq!(
        content(&r)[0]["text"],
        format!("LLM response: {SAMPLED_TEXT}")
    );
    // No HTTP stream to close: the reconnection tool answers at once.
    let r = client
        .call_tool(call("test_reconnection", json!({})))
        .await
        .unwrap();
    assert_eq!(
        content(&r)[0]["text"],
        "Reconnection test completed successfully"
    );
    client.cancel().await.unwrap();
}
