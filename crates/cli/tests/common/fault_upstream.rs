//! A small MCP server over streamable HTTP, run in the test process on 127.0.0.1:0, whose tools
//! misbehave on purpose (wrong ids, garbage) or look into the gateway's ledger when a call
//! arrives (to check the decision record was durable before the upstream saw the call). It
//! also serves a prompt, a resource, a resource template, completions, subscriptions and
//! `logging/setLevel`, and notes for every request what the ledger held when it arrived.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Clone, Default)]
pub struct FaultState {
    /// The gateway's ledger file, set once the gateway has started.
    pub ledger: Arc<Mutex<Option<PathBuf>>>,
    /// Correlation ids seen by `probe`, with how many decision records the ledger held for
    /// each at the moment the call arrived.
    pub seen: Arc<Mutex<Vec<(String, usize)>>>,
    /// Every request that arrived, in order.
    pub arrivals: Arc<Mutex<Vec<Arrival>>>,
}

/// One request as it arrived upstream.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub method: String,
    /// The gateway's correlation id (`_meta["io.portcullis/correlationId"]`), empty if none.
    pub cid: String,
    /// How many decision records of this method the ledger held for `cid` on arrival.
    pub decisions: usize,
}

impl FaultState {
    /// The first arrival of `method` under correlation id `cid`, if there was one.
    pub fn arrival(&self, method: &str, cid: &str) -> Option<Arrival> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.method == method && a.cid == cid)
            .cloned()
    }

    /// Whether any request arrived under correlation id `cid`.
    pub fn saw(&self, cid: &str) -> bool {
        self.arrivals.lock().unwrap().iter().any(|a| a.cid == cid)
    }
}

/// The prompt, resource and template it serves.
pub const PROMPT: &str = "greet";
pub const RESOURCE: &str = "fault://doc";
pub const TEMPLATE: &str = "fault://items/{id}";

fn ro(name: &str) -> Value {
    json!({"name": name, "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}})
}

async fn handle(State(st): State<FaultState>, body: String) -> Response {
    let msg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let id = msg["id"].clone();
    let method = msg["method"].as_str().unwrap_or("");
    if id.is_null() {
        return StatusCode::ACCEPTED.into_response();
    }
    let cid = msg["params"]["_meta"]["io.portcullis/correlationId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let path = st.ledger.lock().unwrap().clone();
    let count = |method: Option<&str>| match &path {
        Some(p) if !cid.is_empty() => count_decisions(p, &cid, method),
        _ => 0,
    };
    if method != "initialize" {
        st.arrivals.lock().unwrap().push(Arrival {
            method: method.to_string(),
            cid: cid.clone(),
            decisions: count(Some(method)),
        });
    }
    let reply = |result: Value| {
        (
            [("content-type", "application/json")],
            json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
        )
            .into_response()
    };
    match method {
        "initialize" => {
            let mut r = reply(json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {
                    "tools": {},
                    "prompts": {},
                    "resources": {"subscribe": true},
                    "completions": {},
                    "logging": {}
                },
                "serverInfo": {"name": "fault-upstream", "version": "1"}
            }));
            r.headers_mut()
                .insert("mcp-session-id", "fault-session".parse().unwrap());
            r
        }
        "tools/list" => reply(json!({"tools": [
            ro("probe"),
            ro("wrong_id"),
            ro("garbage"),
            // Arguments are checked against this before the call can reach it.
            {"name": "strict", "annotations": {"readOnlyHint": true}, "inputSchema": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 10}},
                "required": ["n"],
                "additionalProperties": false
            }},
            // A schema that refers outside itself: never fetched, the tool quarantined.
            {"name": "remote_ref", "annotations": {"readOnlyHint": true}, "inputSchema": {
                "type": "object",
                "properties": {"x": {"$ref": "http://127.0.0.1:9/schema.json"}}
            }}
        ]})),
        "tools/call" => match msg["params"]["name"].as_str().unwrap_or("") {
            "strict" | "remote_ref" => reply(json!({"content": [{"type": "text", "text": "ran"}]})),
            "probe" => {
                let n = count(None);
                st.seen.lock().unwrap().push((cid, n));
                reply(
                    json!({"content": [{"type": "text", "text": format!("decision records: {n}")}]}),
                )
            }
            "wrong_id" => (
                [("content-type", "application/json")],
                json!({"jsonrpc": "2.0", "id": 987654, "result": {"content": []}}).to_string(),
            )
                .into_response(),
            _ => ([("content-type", "application/json")], "this is not json").into_response(),
        },
        "prompts/list" => reply(json!({"prompts": [
            {"name": PROMPT, "arguments": [{"name": "who", "required": false}]}
        ]})),
        "prompts/get" => reply(json!({"messages": [
            {"role": "user", "content": {"type": "text", "text": "hello"}}
        ]})),
        "resources/list" => reply(json!({"resources": [{"uri": RESOURCE, "name": "doc"}]})),
        "resources/templates/list" => {
            reply(json!({"resourceTemplates": [{"uriTemplate": TEMPLATE, "name": "item"}]}))
        }
        "resources/read" => reply(json!({"contents": [
            {"uri": msg["params"]["uri"], "mimeType": "text/plain", "text": "contents"}
        ]})),
        "completion/complete" => reply(json!({"completion": {"values": ["alpha"]}})),
        // resources/subscribe, resources/unsubscribe, logging/setLevel, ping
        _ => reply(json!({})),
    }
}

/// Decision records for `cid` in the ledger now, of `method` only if given.
fn count_decisions(db: &std::path::Path, cid: &str, method: Option<&str>) -> usize {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT record FROM ledger WHERE correlation_id = ?1 AND kind = 'decision'")
        .unwrap();
    stmt.query_map([cid], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|b| serde_json::from_slice::<Value>(&b.unwrap()).unwrap())
        .filter(|r| method.is_none_or(|m| r["method"] == m))
        .count()
}

/// Start the server; returns its MCP URL and shared state.
pub async fn start() -> (String, FaultState) {
    let st = FaultState::default();
    let app = Router::new()
        .route("/mcp", post(handle))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/mcp"), st)
}
