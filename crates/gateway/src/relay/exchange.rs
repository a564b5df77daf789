//! One client request being answered: who asked, in which era, what they accept, and how the
//! final JSON-RPC message is shaped for them.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_identity::Principal;
use portcullis_protocol::mcp::{self, Method};
use portcullis_protocol::{ErrorCode, Id, jsonrpc};
use portcullis_upstream::{CallEvent, RpcError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::respond::{self, Failure};
use crate::session::{GET_STREAM, Session};
use crate::state::AppState;

/// A modern (2026-07-28) client: everything it declared comes with the request.
#[derive(Debug, Clone)]
pub struct ModernClient {
    pub version: String,
    pub capabilities: Value,
    /// Rank of the log level it asked for; no log messages at all when `None`.
    pub log_rank: Option<usize>,
}

impl ModernClient {
    pub fn offers(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some_and(Value::is_object)
    }
}

pub enum Client {
    Legacy(Arc<Session>),
    Modern(ModernClient),
}

pub struct Exchange {
    pub st: Arc<AppState>,
    pub principal: Principal,
    pub client: Client,
    pub id: Id,
    pub method: Method,
    pub cid: String,
    pub accepts_json: bool,
    pub accepts_sse: bool,
    /// Stops the forwarded call.
    pub cancel: CancellationToken,
    /// Method and name (or URI) of the request: a parked call resumes only for the same one.
    pub request_key: String,
    /// Set once the client has its answer; a modern exchange dropped before that cancels.
    pub(crate) answered: bool,
}

fn is_list(m: Method) -> bool {
    matches!(
        m,
        Method::ToolsList
            | Method::PromptsList
            | Method::ResourcesList
            | Method::ResourcesTemplatesList
    )
}

impl Exchange {
    pub fn is_modern(&self) -> bool {
        matches!(self.client, Client::Modern(_))
    }

    /// Who the forwarded call is for: the legacy session, or this request.
    pub fn owner(&self) -> Arc<str> {
        match &self.client {
            Client::Legacy(s) => Arc::from(s.id.as_str()),
            Client::Modern(_) => Arc::from(self.cid.as_str()),
        }
    }

    pub fn session(&self) -> Option<&Arc<Session>> {
        match &self.client {
            Client::Legacy(s) => Some(s),
            Client::Modern(_) => None,
        }
    }

    /// Fields a modern result must carry: `resultType`, cache hints on lists and
    /// `resources/read`, and the server's identity.
    fn decorate(&self, mut result: Value) -> Value {
        if !self.is_modern() {
            return result;
        }
        let Some(m) = result.as_object_mut() else {
            return result;
        };
        m.entry("resultType").or_insert_with(|| json!("complete"));
        if is_list(self.method) || self.method == Method::ResourcesRead {
            m.entry("ttlMs").or_insert(json!(0));
            // Lists are filtered per principal: never shareable between callers.
            m.insert("cacheScope".into(), json!("private"));
        }
        let meta = m.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                mcp::META_SERVER_INFO.into(),
                json!({"name": "portcullis", "version": env!("CARGO_PKG_VERSION")}),
            );
        }
        result
    }

    /// The JSON-RPC response for a result.
    pub fn message(&self, result: Result<Value, Failure>) -> Value {
        match result {
            Ok(v) => jsonrpc::success(&self.id, self.decorate(v)),
            Err(f) => {
                let mut msg = respond::jsonrpc_error(Some(&self.id), &f, &self.cid);
                if f.code == ErrorCode::UnsupportedProtocolVersion {
                    msg["error"]["data"]["supported"] = json!(mcp::supported_versions());
                }
                msg
            }
        }
    }

    fn status(&self, result: &Result<Value, Failure>) -> StatusCode {
        match result {
            Err(f) => respond::exchange_status(self.is_modern(), f),
            Ok(_) => StatusCode::OK,
        }
    }

    /// Answer now, as JSON, or as a one-event stream to a client that accepts only SSE.
    pub fn respond_now(mut self, result: Result<Value, Failure>) -> Response {
        self.answered = true;
        let status = self.status(&result);
        let refused = result.as_ref().err().map(|f| respond::ErrorAnswer(f.code));
        let mut limits = axum::http::HeaderMap::new();
        if let Err(f) = &result {
            respond::limit_headers(f, &mut limits);
        }
        let msg = self.message(result);
        let mut resp = if !self.accepts_json && self.accepts_sse {
            respond::sse_ok(&msg, &self.cid)
        } else {
            let mut resp = respond::json_ok(&msg, &self.cid);
            *resp.status_mut() = status;
            resp
        };
        resp.headers_mut().extend(limits);
        if let Some(tag) = refused {
            resp.extensions_mut().insert(tag);
        }
        resp
    }

    /// Answer with a forwarded call's result; `None` means the call was cancelled.
    pub fn respond_final(self, done: Option<Result<Value, Failure>>) -> Response {
        let result = done.unwrap_or_else(|| {
            Err(Failure::new(
                ErrorCode::RequestCancelled,
                "the request was cancelled",
            ))
        });
        self.respond_now(result)
    }

    /// What the client sees of an event about its call, if anything: notifications it asked
    /// for, and (legacy) the upstream's requests, relayed under an id of the gateway's.
    pub fn event_message(&self, ev: CallEvent) -> Option<Value> {
        match ev {
            CallEvent::Notification(n) => self.wants(&n).then_some(n),
            CallEvent::Request(req) => match &self.client {
                Client::Legacy(s) => s.relay_request(req),
                Client::Modern(_) => {
                    req.respond(Err(RpcError::new(
                        -32603,
                        "the request cannot be relayed to this client",
                    )));
                    None
                }
            },
        }
    }

    fn wants(&self, n: &Value) -> bool {
        if n.get("method").and_then(Value::as_str) != Some("notifications/message") {
            return true;
        }
        let Some(rank) = n
            .pointer("/params/level")
            .and_then(Value::as_str)
            .and_then(mcp::log_level_rank)
        else {
            return false;
        };
        match &self.client {
            Client::Legacy(s) => s.wants_log(rank),
            Client::Modern(m) => m.log_rank.is_some_and(|min| rank >= min),
        }
    }

    /// An event for a client that takes no stream on this request: a legacy client gets it on
    /// its session's GET stream; a modern one cannot get it.
    pub fn out_of_band(&self, ev: CallEvent) {
        if let Some(msg) = self.event_message(ev)
            && let Client::Legacy(s) = &self.client
        {
            s.outbox.emit(GET_STREAM, &msg);
        }
    }

    /// Whether this event makes a modern client's call wait for input (MRTR): the upstream
    /// asks something the client declared it can answer. Anything else it asks is refused.
    pub fn needs_input(&self, ev: &CallEvent) -> bool {
        let (Client::Modern(m), CallEvent::Request(req)) = (&self.client, ev) else {
            return false;
        };
        super::mrtr::capability_for(req.method()).is_some_and(|cap| m.offers(cap))
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Client::Legacy(s) = &self.client {
            s.untrack(&self.id);
        } else if !self.answered {
            // The modern client went away before its answer: that cancels the request.
            self.cancel.cancel();
        }
    }
}
