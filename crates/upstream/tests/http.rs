//! The streamable-HTTP connector against a scripted MCP server on 127.0.0.1:0 that streams
//! its answers: progress and requests on a call's own stream reach that call, answers to the
//! server's requests are POSTed back, the session's GET stream carries list changes, and a
//! stream the server closes before answering is resumed with `Last-Event-ID`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt as _;
use portcullis_upstream::{CallEvent, CallOptions, Notice, TransportSpec, Upstream, UpstreamSpec};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Clone, Default)]
struct Script {
    /// Answers the client POSTed to our requests, by our request id.
    answers: Arc<Mutex<HashMap<String, Value>>>,
    /// Last-Event-ID values the client resumed with.
    resumed: Arc<Mutex<Vec<String>>>,
    /// Released by the test once it listens, so the GET stream's list change is not sent
    /// before anyone subscribed (a broadcast drops what nobody was listening for).
    announce: Arc<tokio::sync::Notify>,
}

fn sse(frames: Vec<String>, delay: Duration) -> Response {
    let stream = futures::stream::unfold(frames.into_iter(), move |mut it| async move {
        let f = it.next()?;
        tokio::time::sleep(delay).await;
        Some((Ok::<_, Infallible>(Bytes::from(f)), it))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    r
}

fn event(id: Option<&str>, v: &Value) -> String {
    match id {
        Some(id) => format!("id: {id}\ndata: {v}\n\n"),
        None => format!("data: {v}\n\n"),
    }
}

fn json_reply(id: &Value, result: Value) -> Response {
    let mut r = Response::new(Body::from(
        json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    ));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

async fn on_post(State(s): State<Script>, body: String) -> Response {
    let msg: Value = serde_json::from_str(&body).unwrap();
    let Some(id) = msg.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    if msg.get("method").is_none() {
        s.answers
            .lock()
            .unwrap()
            .insert(id.as_str().unwrap_or_default().to_string(), msg);
        return StatusCode::ACCEPTED.into_response();
    }
    match msg["method"].as_str().unwrap() {
        "initialize" => {
            let mut r = json_reply(
                &id,
                json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                       "serverInfo": {"name": "scripted", "version": "1"}}),
            );
            r.headers_mut()
                .insert("mcp-session-id", "s-1".parse().unwrap());
            r
        }
        "tools/list" => json_reply(&id, json!({"tools": []})),
        "tools/call" => match msg["params"]["name"].as_str().unwrap() {
            "progress" => {
                let token = msg["params"]["_meta"]["progressToken"].clone();
                let p = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                               "params": {"progressToken": token, "progress": 1}});
                let done = json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}});
                sse(vec![event(None, &p), event(None, &done)], Duration::ZERO)
            }
            "ask" => {
                let q = json!({"jsonrpc": "2.0", "id": "q1", "method": "sampling/createMessage",
                               "params": {"maxTokens": 3}});
                let first = event(None, &q);
                let answers = s.answers.clone();
                let stream = futures::stream::once(async move {
                    Ok::<_, Infallible>(Bytes::from(first))
                })
                .chain(futures::stream::once(async move {
                    let mut answer = Value::Null;
                    for _ in 0..200 {
                        if let Some(a) = answers.lock().unwrap().remove("q1") {
                            answer = a;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let done = json!({"jsonrpc": "2.0", "id": id,
                                      "result": {"content": [{"type": "text", "text": answer.to_string()}]}});
                    Ok(Bytes::from(event(None, &done)))
                }));
                let mut r = Response::new(Body::from_stream(stream));
                r.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                r
            }
            "resume" => sse(vec!["id: r1\nretry: 20\ndata: \n\n".into()], Duration::ZERO),
            other => panic!("unexpected tool {other}"),
        },
        other => panic!("unexpected method {other}"),
    }
}

async fn on_get(State(s): State<Script>, headers: HeaderMap) -> Response {
    match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(last) => {
            s.resumed.lock().unwrap().push(last.to_string());
            // The call's answer, resumed after event r1. The scripted call id is whatever the
            // connector used; it is echoed from the resumption bookkeeping below.
            let id = RESUME_ID.lock().unwrap().clone();
            let done = json!({"jsonrpc": "2.0", "id": id,
                              "result": {"content": [{"type": "text", "text": "resumed"}]}});
            sse(vec![event(Some("r2"), &done)], Duration::ZERO)
        }
        None => {
            let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
            let announce = s.announce.clone();
            let stream = futures::stream::once(async move {
                announce.notified().await;
                Ok::<_, Infallible>(Bytes::from(event(Some("g1"), &changed)))
            })
            .chain(futures::stream::pending());
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            r
        }
    }
}

static RESUME_ID: Mutex<Value> = Mutex::new(Value::Null);

/// Record the id of the `resume` call so the GET handler can answer it.
async fn remember_resume_id(body: &str) {
    if let Ok(msg) = serde_json::from_str::<Value>(body)
        && msg["params"]["name"] == "resume"
    {
        *RESUME_ID.lock().unwrap() = msg["id"].clone();
    }
}

async fn on_post_recording(state: State<Script>, body: String) -> Response {
    remember_resume_id(&body).await;
    on_post(state, body).await
}

async fn start() -> (Upstream, Script) {
    let script = Script::default();
    let app = Router::new()
        .route("/mcp", post(on_post_recording).get(on_get))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let u = Upstream::start(UpstreamSpec {
        name: "scripted".into(),
        transport: TransportSpec::Http {
            url: format!("http://{addr}/mcp"),
            headers: vec![],
        },
        call_timeout: Duration::from_secs(5),
        max_response_bytes: 1 << 20,
        protocol_version: "2025-11-25".into(),
    });
    u.wait_ready(Duration::from_secs(5)).await.unwrap();
    (u, script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_reach_their_call_and_answers_go_back() {
    let (u, script) = start().await;
    let mut wide = u.subscribe();
    script.announce.notify_one();
    let (tx, mut rx) = mpsc::channel(8);
    u.call(
        "tools/call",
        Some(json!({"name": "progress", "_meta": {"progressToken": "mine"}})),
        CallOptions {
            events: Some(tx),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    match rx.try_recv() {
        Ok(CallEvent::Notification(n)) => assert_eq!(n["params"]["progressToken"], "mine"),
        other => panic!("{other:?}"),
    }

    let (tx, mut rx) = mpsc::channel(8);
    let call = u.call(
        "tools/call",
        Some(json!({"name": "ask"})),
        CallOptions {
            events: Some(tx),
            ..Default::default()
        },
    );
    let answer = async {
        match rx.recv().await {
            Some(CallEvent::Request(req)) => {
                assert_eq!(req.method(), "sampling/createMessage");
                req.respond(Ok(
                    json!({"role": "assistant", "content": {"type": "text", "text": "hi"}}),
                ));
            }
            other => panic!("{other:?}"),
        }
    };
    let (r, ()) = tokio::join!(call, answer);
    let text = r.unwrap()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let posted: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        posted["id"], "q1",
        "the answer went back under the server's id"
    );
    assert_eq!(posted["result"]["content"]["text"], "hi");
    assert!(script.answers.lock().unwrap().is_empty());

    let n = tokio::time::timeout(Duration::from_secs(5), wide.recv())
        .await
        .expect("the GET stream's list change arrives")
        .unwrap();
    match n {
        Notice::Wide(n) => assert_eq!(n["method"], "notifications/tools/list_changed"),
        other => panic!("{other:?}"),
    }
    u.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_closed_before_the_answer_is_resumed() {
    let (u, script) = start().await;
    let r = u
        .request("tools/call", Some(json!({"name": "resume"})))
        .await
        .unwrap();
    assert_eq!(r["content"][0]["text"], "resumed");
    assert_eq!(*script.resumed.lock().unwrap(), vec!["r1".to_string()]);
    u.shutdown().await;
}
