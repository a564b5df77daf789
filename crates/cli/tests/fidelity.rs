//! Protocol fidelity through the real gateway: the conformance catalog of the demo server (a
//! real MCP server built on the official Rust SDK) runs as an HTTP upstream child process, and
//! the official Rust SDK is the client, over both wire eras. Every message kind passes
//! through, governed by the same roles; the upstream's requests reach only the session that
//! caused them; streams resume with `Last-Event-ID`; a modern client answers the upstream's
//! questions through `input_required` rounds.
// Logging is deprecated in revision 2026-07-28, but the session-based revisions have it.
#![allow(deprecated)]

mod common;
#[path = "../../demo-server/tests/common/mod.rs"]
mod sdk;

use common::*;
use rmcp::model::{
    CallToolRequestParams, CompleteRequestParams, GetPromptRequestParams, LoggingLevel,
    ProtocolVersion, ReadResourceRequestParams, Reference, SetLevelRequestParams,
    SubscribeRequestParams,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use sdk::{SAMPLED_TEXT, TestClient, eventually};
use serde_json::{Value, json};

fn conf_config(url: &str) -> String {
    format!(
        r#"
[server]
shutdown_grace = "5s"

[policy]
mode = "enforce"

[roles.agent]
allow = ["conf.*"]

[roles.narrow]
allow = ["conf.test_simple_text", "conf.test_sampling", "conf.test://static-text"]

[roles.templated]
allow = ["conf.test://template/*/data"]

[[upstreams]]
name = "conf"
transport = "http"
url = "{url}"
timeout = "20s"
protocol_version = "2025-11-25"
"#
    )
}

struct Setup {
    _demo: DemoHttp,
    gw: Gateway,
}

fn setup() -> Setup {
    let demo = DemoHttp::start(&["--conformance"]);
    let gw = Gateway::start(&conf_config(&demo.url));
    Setup { _demo: demo, gw }
}

async fn connect(
    url: &str,
    key: &str,
    version: ProtocolVersion,
) -> (RunningService<RoleClient, TestClient>, TestClient) {
    sdk::install_crypto_provider();
    let client = TestClient::new(version.clone());
    let lifecycle = if version.as_str() >= ProtocolVersion::V_2026_07_28.as_str() {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![version],
        }
    } else {
        ClientLifecycleMode::Initialize
    };
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(key),
    );
    let running = tokio::time::timeout(
        sdk::WAIT,
        client.clone().serve_with_lifecycle(transport, lifecycle),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    (running, client)
}

fn tool(name: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(name.to_string()).with_arguments(args)
}

fn text(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_kind_passes_through_a_legacy_session() {
    let s = setup();
    let (_, key) = s.gw.key("agent", &[]);
    let (client, seen) = connect(&s.gw.url, &key, ProtocolVersion::V_2025_11_25).await;

    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "conf.test_simple_text"));
    let r = client
        .call_tool(tool("conf.test_simple_text", json!({})))
        .await
        .unwrap();
    assert!(
        text(&r).contains("This is a simple text response"),
        "{}",
        text(&r)
    );

    let resources = client.list_all_resources().await.unwrap();
    assert!(resources.iter().any(|r| r.uri == "test://static-text"));
    let templates = client.list_all_resource_templates().await.unwrap();
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "test://template/{id}/data")
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new("test://template/123/data"))
        .await
        .unwrap();
    assert!(text(&read).contains("123"));

    let prompts = client.list_all_prompts().await.unwrap();
    assert!(prompts.iter().any(|p| p.name == "conf.test_simple_prompt"));
    let mut args = serde_json::Map::new();
    args.insert("arg1".into(), json!("alpha"));
    args.insert("arg2".into(), json!("beta"));
    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("conf.test_prompt_with_arguments").with_arguments(args),
        )
        .await
        .unwrap();
    assert!(text(&prompt).contains("alpha") && text(&prompt).contains("beta"));

    let completion = client
        .complete(CompleteRequestParams::new(
            Reference::for_prompt("conf.test_prompt_with_arguments"),
            rmcp::model::ArgumentInfo::new("arg1", "te"),
        ))
        .await
        .unwrap();
    assert!(!completion.completion.values.is_empty(), "{completion:?}");

    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    client
        .call_tool(tool("conf.test_tool_with_logging", json!({})))
        .await
        .unwrap();
    assert!(
        eventually(|| seen.seen().logs.len() >= 3).await,
        "log messages arrive"
    );

    let sampled = client
        .call_tool(tool("conf.test_sampling", json!({"prompt": "what is up"})))
        .await
        .unwrap();
    assert!(text(&sampled).contains(SAMPLED_TEXT), "{}", text(&sampled));
    assert_eq!(seen.seen().sampling.len(), 1);
    client
        .call_tool(tool(
            "conf.test_elicitation",
            json!({"message": "who are you"}),
        ))
        .await
        .unwrap();
    assert_eq!(seen.seen().elicitations.len(), 1);

    client
        .subscribe(SubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    client
        .call_tool(tool(
            "conf.trigger_resource_updated",
            json!({"uri": "test://watched-resource"}),
        ))
        .await
        .unwrap();
    assert!(
        eventually(|| seen
            .seen()
            .resource_updates
            .contains(&"test://watched-resource".to_string()))
        .await,
        "the subscribed update arrives"
    );
    client
        .call_tool(tool("conf.trigger_list_changed", json!({})))
        .await
        .unwrap();
    assert!(
        eventually(|| seen.seen().list_changed.contains(&"tools")).await,
        "the list change arrives"
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_govern_prompts_and_resources_like_tools() {
    let s = setup();
    let (_, key) = s.gw.key("narrow", &[]);
    let (client, _) = connect(&s.gw.url, &key, ProtocolVersion::V_2025_11_25).await;
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools.len(), 2, "{tools:?}");
    assert!(client.list_all_prompts().await.unwrap().is_empty());
    let uris: Vec<String> = client
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(uris, vec!["test://static-text".to_string()]);
    assert!(
        client
            .list_all_resource_templates()
            .await
            .unwrap()
            .is_empty()
    );
    let refused = client
        .read_resource(ReadResourceRequestParams::new("test://static-binary"))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("unknown_resource"),
        "{refused:?}"
    );
    let refused = client
        .get_prompt(GetPromptRequestParams::new("conf.test_simple_prompt"))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("unknown_prompt"),
        "{refused:?}"
    );
    let records = ledger(&s.gw.db_path());
    let denied: Vec<&Value> = records.iter().filter(|r| r["decision"] == "deny").collect();
    assert_eq!(denied.len(), 2, "both refusals are recorded: {records:?}");
    assert_eq!(denied[0]["method"], "resources/read");
    assert_eq!(denied[1]["method"], "prompts/get");
    client.cancel().await.unwrap();
}

/// A resource is judged, routed and asked for in its normal form, whatever the client's
/// spelling; a URI whose meaning would depend on the server reading it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_uris_are_judged_and_forwarded_in_their_normal_form() {
    let s = setup();
    let (_, key) = s.gw.key("templated", &[]);
    let (client, _) = connect(&s.gw.url, &key, ProtocolVersion::V_2025_11_25).await;
    let read = client
        .read_resource(ReadResourceRequestParams::new(
            "TEST://Template/x/../abc/./data",
        ))
        .await
        .unwrap();
    let contents = serde_json::to_value(&read).unwrap();
    assert_eq!(
        contents["contents"][0]["uri"], "test://template/abc/data",
        "the upstream was asked for the normal form: {contents}"
    );
    for (hostile, why) in [
        (
            "test://template/abc%2F..%2F..%2Fstatic-text/data",
            "encoded",
        ),
        ("test://template/../../static-text", "climbs above its root"),
        ("test://u:p@template/abc/data", "credentials"),
    ] {
        let refused = client
            .read_resource(ReadResourceRequestParams::new(hostile))
            .await
            .unwrap_err();
        let refused = format!("{refused:?}");
        assert!(
            refused.contains("invalid_params") && refused.contains(why),
            "{hostile}: {refused}"
        );
    }
    // '*' in a path pattern stays in its segment: the role reaches no other resource.
    let refused = client
        .read_resource(ReadResourceRequestParams::new("test://static-text"))
        .await
        .unwrap_err();
    assert!(format!("{refused:?}").contains("unknown_resource"));
    let records = ledger(&s.gw.db_path());
    let allowed: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "decision" && r["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 1, "only the normal read ran: {records:?}");
    assert_eq!(allowed[0]["tool"], "conf.test://template/abc/data");
    let preview = allowed[0]["args_preview"].as_str().unwrap();
    assert!(
        preview.contains("TEST://Template/x/../abc/./data"),
        "the client's spelling is kept as evidence: {preview}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_requests_reach_only_the_session_that_caused_them() {
    let s = setup();
    let (_, key_a) = s.gw.key("agent", &[]);
    let (_, key_b) = s.gw.key("agent", &[]);
    let (a, seen_a) = connect(&s.gw.url, &key_a, ProtocolVersion::V_2025_11_25).await;
    let (b, seen_b) = connect(&s.gw.url, &key_b, ProtocolVersion::V_2025_11_25).await;
    let (ra, rb) = tokio::join!(
        a.call_tool(tool("conf.test_sampling", json!({"prompt": "asked by a"}))),
        b.call_tool(tool("conf.test_sampling", json!({"prompt": "asked by b"}))),
    );
    assert!(text(&ra.unwrap()).contains(SAMPLED_TEXT));
    assert!(text(&rb.unwrap()).contains(SAMPLED_TEXT));
    let asked_a = text(&seen_a.seen().sampling);
    let asked_b = text(&seen_b.seen().sampling);
    assert!(
        asked_a.contains("asked by a") && !asked_a.contains("asked by b"),
        "{asked_a}"
    );
    assert!(
        asked_b.contains("asked by b") && !asked_b.contains("asked by a"),
        "{asked_b}"
    );
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_client_answers_the_upstreams_question_in_input_rounds() {
    let s = setup();
    let (_, key) = s.gw.key("agent", &[]);
    let (client, seen) = connect(&s.gw.url, &key, ProtocolVersion::V_2026_07_28).await;
    let r = client
        .call_tool(tool(
            "conf.test_sampling",
            json!({"prompt": "modern question"}),
        ))
        .await
        .unwrap();
    assert!(text(&r).contains(SAMPLED_TEXT), "{}", text(&r));
    assert!(text(&seen.seen().sampling).contains("modern question"));
    client.cancel().await.unwrap();
}

fn modern_body(id: u64, method: &str, mut params: Value, caps: Value) -> String {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

async fn modern_call(url: &str, key: &str, name: &str, params: Value) -> Reply {
    post_raw(
        url,
        Some(key),
        None,
        modern_body(1, "tools/call", params, json!({"sampling": {}})),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", name),
            ("accept", "application/json"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_rounds_are_bound_to_their_caller_and_request() {
    let s = setup();
    let (_, key) = s.gw.key("agent", &[]);
    let (_, other) = s.gw.key("agent", &[]);
    let ask = json!({"name": "conf.test_sampling", "arguments": {"prompt": "raw"}});
    let first = modern_call(&s.gw.url, &key, "conf.test_sampling", ask.clone()).await;
    let result = &first.body["result"];
    assert_eq!(result["resultType"], "input_required", "{:?}", first.body);
    assert_eq!(
        result["inputRequests"]["input"]["method"],
        "sampling/createMessage"
    );
    let state = result["requestState"].as_str().unwrap().to_string();

    let mut stolen = ask.clone();
    stolen["requestState"] = json!(state);
    stolen["inputResponses"] = json!({"input": {}});
    let r = modern_call(&s.gw.url, &other, "conf.test_sampling", stolen.clone()).await;
    assert_eq!(
        r.error_code(),
        Some("request_state_invalid"),
        "{:?}",
        r.body
    );
    let mut elsewhere = stolen.clone();
    elsewhere["name"] = json!("conf.test_elicitation");
    let r = modern_call(&s.gw.url, &key, "conf.test_elicitation", elsewhere).await;
    assert_eq!(
        r.error_code(),
        Some("request_state_invalid"),
        "{:?}",
        r.body
    );

    let mut retry = ask;
    retry["requestState"] = json!(state);
    retry["inputResponses"] = json!({"input": {
        "role": "assistant", "model": "m",
        "content": {"type": "text", "text": "answered in round two"}
    }});
    let done = modern_call(&s.gw.url, &key, "conf.test_sampling", retry.clone()).await;
    assert_eq!(
        done.body["result"]["resultType"], "complete",
        "{:?}",
        done.body
    );
    assert!(
        done.body["result"]
            .to_string()
            .contains("answered in round two")
    );
    let replay = modern_call(&s.gw.url, &key, "conf.test_sampling", retry).await;
    assert_eq!(
        replay.error_code(),
        Some("request_state_invalid"),
        "a requestState is used once"
    );
    let decisions = ledger(&s.gw.db_path())
        .into_iter()
        .filter(|r| r["kind"] == "decision")
        .count();
    assert_eq!(decisions, 1, "the retry continues the decided call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_stream_resumes_with_last_event_id() {
    let s = setup();
    let (_, key) = s.gw.key("agent", &[]);
    let sid = initialize(&s.gw.url, &key).await;
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "conf.test_tool_with_progress", "arguments": {},
        "_meta": {"progressToken": "resume-me"}}});
    let mut first = http()
        .post(&s.gw.url)
        .bearer_auth(&key)
        .header("mcp-session-id", &sid)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    let (seen, last) = read_events(&mut first, |v| v["method"] == "notifications/progress").await;
    assert_eq!(seen[0]["params"]["progressToken"], "resume-me");
    drop(first);
    let last = last.expect("events carry ids");
    let mut resumed = http()
        .get(&s.gw.url)
        .bearer_auth(&key)
        .header("mcp-session-id", &sid)
        .header("accept", "text/event-stream")
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let (rest, _) = read_events(&mut resumed, |v| v.get("result").is_some()).await;
    let result = rest.last().expect("the rest of the stream");
    assert_eq!(result["id"], 3, "{rest:?}");
    assert!(
        result["result"]
            .to_string()
            .contains("Tool with progress completed")
    );
    assert!(
        rest.iter()
            .filter(|v| v["method"] == "notifications/progress")
            .all(|v| v["params"]["progressToken"] == "resume-me"),
        "{rest:?}"
    );
    assert!(
        rest.iter().all(|v| *v != seen[0]),
        "only what came after the last event id is replayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_listen_stream_gets_what_it_opted_in_to() {
    let s = setup();
    let (_, key) = s.gw.key("agent", &[]);
    let listen = modern_body(
        41,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["test://watched-resource"]}}),
        json!({}),
    );
    let mut stream = http()
        .post(&s.gw.url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .body(listen)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (ack, _) = read_events(&mut stream, |_| true).await;
    assert_eq!(ack[0]["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack[0]["params"]["notifications"]["resourceSubscriptions"][0],
        "test://watched-resource"
    );
    // The upstream subscription's outcome is recorded once the upstream has answered it.
    let cid = stream.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_string();
    wait_for_record(
        &s.gw.db_path(),
        "the upstream subscription's outcome",
        |r| {
            r["correlation_id"] == cid.as_str()
                && r["kind"] == "outcome"
                && r["method"] == "resources/subscribe"
        },
    )
    .await;
    for name in ["conf.trigger_resource_updated", "conf.trigger_list_changed"] {
        let r = modern_call(
            &s.gw.url,
            &key,
            name,
            json!({"name": name, "arguments": {"uri": "test://watched-resource"}}),
        )
        .await;
        assert_eq!(r.body["result"]["isError"], json!(false), "{:?}", r.body);
    }
    let (got, _) = read_events(&mut stream, |v| {
        v["method"] == "notifications/tools/list_changed"
    })
    .await;
    let methods: Vec<&str> = got.iter().filter_map(|v| v["method"].as_str()).collect();
    assert!(
        methods.contains(&"notifications/resources/updated"),
        "{methods:?}"
    );
    assert!(
        methods.contains(&"notifications/tools/list_changed"),
        "{methods:?}"
    );
    assert!(
        !methods.contains(&"notifications/prompts/list_changed"),
        "not opted in: {methods:?}"
    );
    assert!(
        got.iter()
            .all(|v| v["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 41),
        "{got:?}"
    );
}
