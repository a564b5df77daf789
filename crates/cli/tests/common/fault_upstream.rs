//! A small MCP server over streamable HTTP, run in the test process on 127.0.0.1:0, whose tools
//! misbehave on purpose (wrong ids, garbage) or look into the gateway's ledger when a call
//! arrives (to check the decision record was durable before the upstream saw the call).

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
}

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
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fault-upstream", "version": "1"}
            }));
            r.headers_mut()
                .insert("mcp-session-id", "fault-session".parse().unwrap());
            r
        }
        "tools/list" => reply(json!({"tools": [ro("probe"), ro("wrong_id"), ro("garbage")]})),
        "tools/call" => match msg["params"]["name"].as_str().unwrap_or("") {
            "probe" => {
                let cid = msg["params"]["_meta"]["io.portcullis/correlationId"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let path = st.ledger.lock().unwrap().clone();
                let n = path.map(|p| count_decisions(&p, &cid)).unwrap_or(0);
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
        _ => reply(json!({})),
    }
}

fn count_decisions(db: &std::path::Path, cid: &str) -> usize {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM ledger WHERE correlation_id = ?1 AND kind = 'decision'",
        [cid],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
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
