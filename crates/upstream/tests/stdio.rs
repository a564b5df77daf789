//! The stdio connector against real child processes (a Python MCP server with fault modes).

use std::path::PathBuf;
use std::time::Duration;

use portcullis_upstream::{
    CallEvent, CallOptions, Notice, TransportSpec, Upstream, UpstreamError, UpstreamSpec,
    UpstreamState,
};
use serde_json::json;
use tokio::sync::mpsc;

/// The real interpreter (not a wrapper script that would add its own environment).
fn python() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for these tests");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn spec(mode: &str, timeout_ms: u64, cap: usize) -> UpstreamSpec {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stdio_server.py");
    UpstreamSpec {
        name: "py".into(),
        transport: TransportSpec::Stdio {
            command: python(),
            args: vec![script.into(), mode.into()],
            env: vec![("ONLY_THIS".into(), "1".into())],
            cwd: None,
            strict_attribution: false,
        },
        call_timeout: Duration::from_millis(timeout_ms),
        max_response_bytes: cap,
        protocol_version: "2025-06-18".into(),
    }
}

async fn started(mode: &str, timeout_ms: u64, cap: usize) -> Upstream {
    let u = Upstream::start(spec(mode, timeout_ms, cap));
    u.wait_ready(Duration::from_secs(10)).await.unwrap();
    u
}

fn text(v: &serde_json::Value) -> String {
    v["content"][0]["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn handshake_listing_calls_and_a_scrubbed_environment() {
    let u = started("good", 5000, 1 << 20).await;
    assert_eq!(u.state(), UpstreamState::Ready);
    assert_eq!(u.initialize_result().unwrap()["serverInfo"]["name"], "py");
    let tools = u.list_tools().await.unwrap();
    assert_eq!(
        tools
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["env", "echo"]
    );
    let env = u
        .request("tools/call", Some(json!({"name": "env"})))
        .await
        .unwrap();
    let keys = text(&env);
    assert!(keys.split(',').any(|k| k == "ONLY_THIS"), "{keys}");
    assert!(
        !keys.split(',').any(|k| k == "HOME" || k == "PATH"),
        "the child got the parent's env: {keys}"
    );
    for i in 0..20 {
        let r = u
            .request(
                "tools/call",
                Some(json!({"name": "echo", "arguments": {"i": i}})),
            )
            .await
            .unwrap();
        assert_eq!(text(&r), format!("{{\"i\": {i}}}"));
    }
    let e = u.request("nope", None).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Rpc { code: -32601, .. }));
    u.shutdown().await;
    assert_eq!(u.state(), UpstreamState::Down);
}

#[tokio::test]
async fn concurrent_calls_are_matched_by_the_gateways_ids() {
    // The server answers in batches of five, last first: order says nothing, ids everything.
    let u = started("reverse", 5000, 1 << 20).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let u = u.clone();
        tasks.push(tokio::spawn(async move {
            let r = u
                .request(
                    "tools/call",
                    Some(json!({"name": "echo", "arguments": {"n": i}})),
                )
                .await
                .unwrap();
            assert_eq!(text(&r), format!("{{\"n\": {i}}}"));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    u.shutdown().await;
}

#[tokio::test]
async fn a_wrong_id_is_never_delivered_and_the_call_times_out() {
    let u = started("wrong_id", 300, 1 << 20).await;
    let e = u
        .request("tools/call", Some(json!({"name": "echo"})))
        .await
        .unwrap_err();
    assert_eq!(e, UpstreamError::Timeout);
    u.shutdown().await;
}

#[tokio::test]
async fn a_silent_upstream_times_out() {
    let u = started("silent", 200, 1 << 20).await;
    assert_eq!(
        u.request("tools/call", Some(json!({"name": "echo"})))
            .await
            .unwrap_err(),
        UpstreamError::Timeout
    );
    u.shutdown().await;
}

#[tokio::test]
async fn garbage_fails_the_call_and_restarts_the_child() {
    let u = started("garbage", 5000, 1 << 20).await;
    let e = u
        .request("tools/call", Some(json!({"name": "echo"})))
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::InvalidResponse(_)), "{e:?}");
    for _ in 0..200 {
        if u.restarts() >= 1 && u.state() == UpstreamState::Ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(u.restarts() >= 1, "the child was restarted");
    u.wait_ready(Duration::from_secs(10)).await.unwrap();
    u.shutdown().await;
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let u = started("huge", 5000, 64 * 1024).await;
    let e = u
        .request("tools/call", Some(json!({"name": "echo"})))
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::InvalidResponse(_)), "{e:?}");
    u.shutdown().await;
}

#[tokio::test]
async fn a_dying_child_is_restarted_and_calls_work_again() {
    let u = started("exit_after_2", 5000, 1 << 20).await;
    for _ in 0..2 {
        u.request("tools/call", Some(json!({"name": "echo"})))
            .await
            .unwrap();
    }
    let mut ok = false;
    for _ in 0..100 {
        if u.request("tools/call", Some(json!({"name": "echo"})))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "calls work after the restart");
    assert!(u.restarts() >= 1);
    u.shutdown().await;
}

#[tokio::test]
async fn server_requests_reach_the_call_and_its_answer_goes_back() {
    let u = started("good", 5000, 1 << 20).await;
    let (tx, mut rx) = mpsc::channel(8);
    let call = u.call(
        "tools/call",
        Some(json!({"name": "ask_roots"})),
        CallOptions {
            events: Some(tx),
            owner: Some("session-1".into()),
            ..Default::default()
        },
    );
    let answer = async {
        match rx.recv().await {
            Some(CallEvent::Request(req)) => {
                assert_eq!(req.method(), "roots/list");
                req.respond(Ok(json!({"roots": [{"uri": "file:///w"}]})));
            }
            other => panic!("expected the upstream's request, got {other:?}"),
        }
    };
    let (r, ()) = tokio::join!(call, answer);
    let reply: serde_json::Value = serde_json::from_str(&text(&r.unwrap())).unwrap();
    assert_eq!(reply["id"], "s1", "answered with the upstream's own id");
    assert_eq!(reply["result"]["roots"][0]["uri"], "file:///w");

    // A call nobody owns cannot reach a client: its roots request gets an empty list, never
    // another client's answer.
    let r = u
        .request("tools/call", Some(json!({"name": "ask_roots"})))
        .await
        .unwrap();
    let reply: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
    assert_eq!(reply["result"]["roots"], json!([]));
    u.shutdown().await;
}

#[tokio::test]
async fn progress_logs_and_list_changes_are_routed() {
    let u = started("good", 5000, 1 << 20).await;
    let mut wide = u.subscribe();
    let (tx, mut rx) = mpsc::channel(8);
    let r = u
        .call(
            "tools/call",
            Some(json!({"name": "progress", "_meta": {"progressToken": "mine"}})),
            CallOptions {
                events: Some(tx),
                owner: Some("session-1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        text(&r).starts_with("portcullis-"),
        "the upstream saw the gateway's token, not the caller's: {}",
        text(&r)
    );
    let mut seen = Vec::new();
    while let Ok(CallEvent::Notification(n)) = rx.try_recv() {
        seen.push(n);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0]["params"]["progressToken"], "mine");
    assert_eq!(seen[1]["params"]["progress"], 2);
    assert_eq!(seen[2]["method"], "notifications/message");
    match wide.recv().await.unwrap() {
        Notice::Wide(n) => assert_eq!(n["method"], "notifications/tools/list_changed"),
        other => panic!("{other:?}"),
    }
    u.shutdown().await;
}

#[tokio::test]
async fn a_dropped_or_timed_out_call_is_cancelled_upstream() {
    let u = started("good", 300, 1 << 20).await;
    let hang = u.request("tools/call", Some(json!({"name": "hang"})));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), hang)
            .await
            .is_err()
    );
    assert_eq!(
        u.request("tools/call", Some(json!({"name": "hang"})))
            .await
            .unwrap_err(),
        UpstreamError::Timeout
    );
    let r = u
        .request("tools/call", Some(json!({"name": "cancelled"})))
        .await
        .unwrap();
    let cancelled: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
    let reasons: Vec<&str> = cancelled
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["the client went away", "timeout"]);
    u.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_the_child() {
    let u = started("good", 5000, 1 << 20).await;
    let env = u
        .request("tools/call", Some(json!({"name": "env"})))
        .await
        .unwrap();
    assert!(!text(&env).is_empty());
    u.shutdown().await;
    assert_eq!(u.state(), UpstreamState::Down);
    assert!(matches!(
        u.request("tools/call", None).await.unwrap_err(),
        UpstreamError::Unavailable(_)
    ));
}

#[tokio::test]
async fn a_missing_program_keeps_restarting_and_never_becomes_ready() {
    let mut s = spec("good", 500, 1024);
    if let TransportSpec::Stdio { command, .. } = &mut s.transport {
        *command = "/nonexistent/program".into();
    }
    let u = Upstream::start(s);
    assert!(u.wait_ready(Duration::from_millis(500)).await.is_err());
    assert!(matches!(
        u.request("tools/list", None).await.unwrap_err(),
        UpstreamError::Unavailable(_)
    ));
    u.shutdown().await;
}

#[tokio::test]
async fn waiting_for_an_upstream_that_is_already_ready_returns_at_once() {
    // Nobody waits while it starts: the state must still read Ready to a late waiter.
    let u = Upstream::start(spec("good", 5000, 1 << 20));
    for _ in 0..500 {
        if u.state() == UpstreamState::Ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(u.state(), UpstreamState::Ready);
    u.wait_ready(Duration::from_millis(500))
        .await
        .expect("a late waiter sees the state the upstream reached");
    u.shutdown().await;
}
