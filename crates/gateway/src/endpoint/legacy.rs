//! The session-based era (revisions up to 2025-11-25): `initialize` opens a session bound to
//! the principal; requests, notifications and the client's answers to relayed requests travel
//! inside it; GET opens or resumes its stream.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use portcullis_identity::Principal;
use portcullis_protocol::mcp::{self, Method};
use portcullis_protocol::{ErrorCode, Id, Notification, Request, jsonrpc};
use serde_json::{Value, json};

use super::{Post, RequestLog, check_version_header, fail, method_not_allowed, session_id};
use crate::methods;
use crate::relay::{self, Client, Exchange};
use crate::respond::{self, Failure};
use crate::session::{NewSession, SESSION_HEADER, Session};
use crate::state::AppState;

/// `initialize`: negotiate the revision and open a session bound to the principal.
pub(super) fn initialize(p: &mut Post<'_>, req: &Request) -> Response {
    let params = req.params.as_ref();
    let requested = params
        .and_then(|m| m.get("protocolVersion"))
        .and_then(Value::as_str);
    let capabilities = params
        .and_then(|m| m.get("capabilities"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !capabilities.is_object() {
        return reply(
            p,
            &req.id,
            Err(Failure::new(
                ErrorCode::InvalidParams,
                "'capabilities' must be an object",
            )),
        );
    }
    let version = mcp::negotiate_legacy(requested);
    let created = p.st.sessions.create(
        NewSession {
            principal: &p.principal,
            protocol_version: version,
            client_capabilities: capabilities,
        },
        p.st.clock.instant(),
    );
    let session = match created {
        Ok(s) => s,
        Err(f) => return reply(p, &req.id, Err(f)),
    };
    p.st.metrics.sessions.set(p.st.sessions.len() as i64);
    let result = json!({
        "protocolVersion": version,
        "capabilities": methods::capabilities(),
        "serverInfo": { "name": "portcullis", "version": env!("CARGO_PKG_VERSION") },
        "instructions": methods::INSTRUCTIONS,
    });
    let mut resp = reply(p, &req.id, Ok(result));
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

/// A JSON-RPC answer (HTTP 200) outside any forwarded call.
fn reply(p: &mut Post<'_>, id: &Id, result: Result<Value, Failure>) -> Response {
    let msg = match result {
        Ok(v) => jsonrpc::success(id, v),
        Err(f) => {
            p.log.code = Some(f.code.as_str().to_string());
            respond::jsonrpc_error(Some(id), &f, p.cid)
        }
    };
    if !p.accepts.json && p.accepts.sse {
        respond::sse_ok(&msg, p.cid)
    } else {
        respond::json_ok(&msg, p.cid)
    }
}

/// The caller's live session, or the HTTP refusal.
fn session(p: &mut Post<'_>) -> Result<Arc<Session>, Box<Response>> {
    let sid = match session_id(p.headers) {
        Ok(sid) => sid,
        Err(f) => return Err(Box::new(fail(p.log, &f, p.cid))),
    };
    let Some(sid) = sid else {
        let f = Failure::new(
            ErrorCode::SessionRequired,
            "an Mcp-Session-Id header is needed",
        );
        return Err(Box::new(fail(p.log, &f, p.cid)));
    };
    p.st.sessions
        .check(sid, &p.principal, p.st.clock.instant())
        .map_err(|f| Box::new(fail(p.log, &f, p.cid)))
}

/// A request inside a session.
pub(super) async fn request(p: &mut Post<'_>, req: Request, method: Method) -> Response {
    let session = match session(p) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Err(f) = check_version_header(p.headers) {
        p.log.code = Some(f.code.as_str().to_string());
        return respond::undecodable(Some(&req.id), &f, p.cid);
    }
    if !method.in_legacy() {
        return reply(
            p,
            &req.id,
            Err(Failure::new(
                ErrorCode::MethodNotFound,
                format!(
                    "method '{}' is not served in revision {}",
                    req.method.escape_default(),
                    session.protocol_version
                ),
            )),
        );
    }
    let cancel = session.track(&req.id);
    let ex = Exchange {
        st: p.st.clone(),
        principal: p.principal.clone(),
        client: Client::Legacy(session.clone()),
        id: req.id.clone(),
        method,
        cid: p.cid.to_string(),
        accepts_json: p.accepts.json,
        accepts_sse: p.accepts.sse,
        cancel,
        request_key: String::new(),
        answered: false,
    };
    let mut call = p.call(&req, Some(&session));
    let r = methods::dispatch(&mut call, method).await;
    relay::respond(ex, r).await
}

/// A notification: `notifications/cancelled` stops the client's request; the roots list
/// change goes to the upstreams; the rest needs no action. Always 202 once admitted.
pub(super) fn notification(p: &mut Post<'_>, n: Notification) -> Response {
    p.log.method = Some(n.method.clone());
    let session = match session_id(p.headers) {
        Ok(Some(_)) => match session(p) {
            Ok(s) => Some(s),
            Err(r) => return *r,
        },
        Ok(None) => None,
        Err(f) => return fail(p.log, &f, p.cid),
    };
    match n.method.as_str() {
        "notifications/cancelled" => {
            let id = n
                .params
                .as_ref()
                .and_then(|m| m.get("requestId"))
                .and_then(|v| match v {
                    Value::String(s) => Some(Id::Str(s.clone())),
                    Value::Number(n) => n.as_i64().map(Id::Num),
                    _ => None,
                });
            if let (Some(s), Some(id)) = (&session, id)
                && !s.cancel(&id)
            {
                tracing::debug!(request_id = %p.cid, "cancellation for a request not in flight");
            }
        }
        "notifications/roots/list_changed" if session.is_some() => {
            for u in p.st.upstreams.clone() {
                tokio::spawn(async move {
                    let _ = u.notify("notifications/roots/list_changed", None).await;
                });
            }
        }
        _ => {}
    }
    respond::accepted(p.cid)
}

/// The client's answer to a request the gateway relayed to it.
pub(super) fn client_response(p: &mut Post<'_>, r: portcullis_protocol::Response) -> Response {
    let session = match session(p) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    if !session.answer(&r.id, r.outcome) {
        tracing::debug!(request_id = %p.cid, id = %r.id, "answer to no relayed request; dropped");
    }
    respond::accepted(p.cid)
}

/// GET: the session's stream for server-initiated messages, or the rest of a stream after
/// `Last-Event-ID`.
pub(super) fn open_stream(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    principal: &Principal,
    cid: &str,
    log: &mut RequestLog,
) -> Response {
    let sid = match session_id(headers) {
        Ok(sid) => sid,
        Err(f) => return fail(log, &f, cid),
    };
    let Some(sid) = sid else {
        return method_not_allowed(
            log,
            cid,
            "GET opens the stream of a session; send its Mcp-Session-Id (revision 2026-07-28 has no GET stream)",
        );
    };
    let session = match st.sessions.check(sid, principal, st.clock.instant()) {
        Ok(s) => s,
        Err(f) => return fail(log, &f, cid),
    };
    match crate::ingress::check_accept(headers) {
        Ok(a) if a.sse => {}
        _ => {
            let f = Failure::new(
                ErrorCode::NotAcceptable,
                "the stream needs Accept: text/event-stream",
            );
            return fail(log, &f, cid);
        }
    }
    let ka = st.config.server.sse_keep_alive;
    let last = match crate::ingress::single(headers, mcp::HEADER_LAST_EVENT_ID) {
        Ok(v) => v.and_then(|v| v.to_str().ok()),
        Err(r) => return fail(log, &r.into(), cid),
    };
    match last {
        Some(id) => match session.outbox.resume(id) {
            Ok((replay, live)) => relay::sse_response(replay, live, ka, cid),
            Err(e) => fail(log, &Failure::new(ErrorCode::NotFound, e.to_string()), cid),
        },
        None => relay::sse_response(Vec::new(), Some(session.outbox.attach_get()), ka, cid),
    }
}
