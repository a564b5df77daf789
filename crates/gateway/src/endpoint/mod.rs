//! The MCP endpoint (streamable HTTP) at the configured base path, for both eras of the
//! protocol. Stage order per request: shutdown check → Host/Origin → identity → media types →
//! body cap → strict decode → era (legacy session, or modern per-request metadata) → dispatch →
//! relay. POST carries one JSON-RPC message; GET opens (or resumes) a legacy session's stream;
//! DELETE ends a legacy session. Each request ends in exactly one log line, on every path.

mod legacy;
mod modern;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use portcullis_identity::Principal;
use portcullis_protocol::mcp::{self, Method};
use portcullis_protocol::{ErrorCode, Message, jsonrpc};

use crate::ingress::{self, Accepts};
use crate::respond::{self, Failure};
use crate::session::SESSION_HEADER;
use crate::state::AppState;

/// What one request did, filled in by the stages and logged once at the end.
#[derive(Default, Debug)]
pub struct RequestLog {
    pub principal: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    /// The credential's id: the principal's, or the presented key's on a refusal.
    pub credential: Option<String>,
    pub method: Option<String>,
    pub tool: Option<String>,
    pub decision: Option<&'static str>,
    pub code: Option<String>,
}

impl RequestLog {
    fn emit(&self, correlation_id: &str, http: &str, status: u16, started: Instant) {
        tracing::info!(
            target: "portcullis::request",
            request_id = %correlation_id,
            http = http,
            status = status,
            principal = self.principal.as_deref().unwrap_or("-"),
            client = self.client.as_deref().unwrap_or("-"),
            credential = self.credential.as_deref().unwrap_or("-"),
            method = self.method.as_deref().unwrap_or("-"),
            tool = self.tool.as_deref().unwrap_or("-"),
            decision = self.decision.unwrap_or("-"),
            code = self.code.as_deref().unwrap_or("-"),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    }
}

pub fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The correlation id of a request: for a signed actor request, derived from its actor, its
/// timestamp and its body hash (so a retried identical request carries the same id, and is
/// refused as a replay under it); else a new random one.
pub fn correlation_id(headers: &axum::http::HeaderMap) -> String {
    use portcullis_identity::actor;
    use sha2::{Digest, Sha256};
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let (Some(a), Some(ts), Some(body)) = (
        get(actor::ACTOR_HEADER),
        get(actor::TS_HEADER),
        get(actor::BODY_HEADER),
    ) else {
        return new_correlation_id();
    };
    let digest = Sha256::digest(format!("portcullis-actor-request\n{a}\n{ts}\n{body}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The client's address, when the listener recorded it.
pub fn client_of(extensions: &axum::http::Extensions) -> Option<std::net::SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
}

/// The client certificate of the connection, when it is TLS with client certificates.
pub fn client_cert(
    extensions: &axum::http::Extensions,
) -> Option<&crate::ingress::tls::ClientCert> {
    extensions
        .get::<std::sync::Arc<crate::ingress::tls::ClientCert>>()
        .map(|c| c.as_ref())
}

/// Guards shared by every verb on the endpoint, then identity.
async fn admit(
    st: &AppState,
    parts: &axum::http::request::Parts,
    cid: &str,
    log: &mut RequestLog,
) -> Result<Principal, Failure> {
    if st.is_shutting_down() {
        return Err(Failure::new(
            ErrorCode::ShuttingDown,
            "the gateway is shutting down",
        ));
    }
    let client = client_of(&parts.extensions);
    log.client = client.map(|c| c.to_string());
    let line = format!("{} {}", parts.method, parts.uri.path());
    let peer = crate::admission::Peer {
        client,
        line: &line,
        cid,
        cert: client_cert(&parts.extensions),
    };
    match crate::admission::admit(st, &parts.headers, &peer).await {
        Ok(principal) => {
            log.principal = Some(principal.label());
            log.credential = Some(principal.credential_id.clone());
            Ok(principal)
        }
        Err(f) => {
            log.credential = crate::admission::presented_key_id(&parts.headers);
            Err(f)
        }
    }
}

/// The `Mcp-Session-Id` header, if sent once; a repeated one is refused.
fn session_id(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    Ok(ingress::single(headers, SESSION_HEADER)?.and_then(|v| v.to_str().ok()))
}

fn finish(
    st: &AppState,
    log: &mut RequestLog,
    resp: Response,
    cid: &str,
    verb: &str,
    started: Instant,
) -> Response {
    if log.code.is_none()
        && let Some(answer) = resp.extensions().get::<respond::ErrorAnswer>()
    {
        log.code = Some(answer.0.as_str().to_string());
    }
    if resp.status().is_client_error() || resp.status().is_server_error() {
        st.metrics
            .http_errors
            .get_or_create(&crate::metrics::DecisionLabels {
                decision: "refused".into(),
                code: log.code.clone().unwrap_or_default(),
            })
            .inc();
    }
    log.emit(cid, verb, resp.status().as_u16(), started);
    resp
}

fn fail(log: &mut RequestLog, f: &Failure, cid: &str) -> Response {
    log.code = Some(f.code.as_str().to_string());
    respond::http_error(f, cid)
}

impl<'a> Post<'a> {
    /// The dispatch context of one request of this POST.
    pub fn call<'c>(
        &'c mut self,
        req: &'c portcullis_protocol::Request,
        session: Option<&'c Arc<crate::session::Session>>,
    ) -> crate::methods::Call<'c> {
        crate::methods::Call {
            st: self.st,
            principal: &self.principal,
            headers: self.headers,
            req,
            cid: self.cid,
            log: self.log,
            session,
        }
    }
}

/// What every POST handler gets.
pub(crate) struct Post<'a> {
    pub st: &'a Arc<AppState>,
    pub headers: &'a HeaderMap,
    pub principal: Principal,
    pub accepts: Accepts,
    pub cid: &'a str,
    pub log: &'a mut RequestLog,
}

pub async fn post(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let cid = correlation_id(req.headers());
    let mut log = RequestLog::default();
    let (parts, body) = req.into_parts();
    let resp = post_inner(&st, &parts, body, &cid, &mut log).await;
    finish(&st, &mut log, resp, &cid, "POST", started)
}

async fn post_inner(
    st: &Arc<AppState>,
    parts: &axum::http::request::Parts,
    body: Body,
    cid: &str,
    log: &mut RequestLog,
) -> Response {
    let headers = &parts.headers;
    let principal = match admit(st, parts, cid, log).await {
        Ok(p) => p,
        Err(f) => return fail(log, &f, cid),
    };
    let accepts =
        match ingress::check_content_type(headers).and_then(|_| ingress::check_accept(headers)) {
            Ok(a) => a,
            Err(f) => return fail(log, &f, cid),
        };
    let server = &st.config.server;
    let bytes = match ingress::read_body(
        headers,
        body,
        server.max_body_bytes,
        server.body_read_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(f) => return fail(log, &f, cid),
    };
    if let Err(f) = crate::identity::signed::check_body(&principal, headers, &bytes) {
        let line = format!("{} {}", parts.method, parts.uri.path());
        let peer = crate::admission::Peer {
            client: client_of(&parts.extensions),
            line: &line,
            cid,
            cert: client_cert(&parts.extensions),
        };
        crate::admission::record_refusal(st, headers, &peer, &f).await;
        return fail(log, &f, cid);
    }
    let msg = match jsonrpc::decode(&bytes) {
        Ok(m) => m,
        Err(e) => {
            let f = Failure::new(e.code(), e.to_string());
            log.code = Some(f.code.as_str().to_string());
            return respond::undecodable(jsonrpc::DecodeError::id_hint(&bytes).as_ref(), &f, cid);
        }
    };
    let mut p = Post {
        st,
        headers,
        principal,
        accepts,
        cid,
        log,
    };
    let req = match msg {
        Message::Request(r) => r,
        Message::Notification(n) => return legacy::notification(&mut p, n),
        Message::Response(r) => return legacy::client_response(&mut p, r),
    };
    p.log.method = Some(req.method.clone());
    let method = Method::parse(&req.method);
    st.metrics
        .requests
        .get_or_create(&crate::metrics::MethodLabels {
            method: method.as_str().to_string(),
        })
        .inc();
    if method == Method::Initialize {
        return legacy::initialize(&mut p, &req);
    }
    match session_id(headers) {
        Err(f) => {
            p.log.code = Some(f.code.as_str().to_string());
            return respond::undecodable(Some(&req.id), &f, cid);
        }
        Ok(Some(_)) => return legacy::request(&mut p, req, method).await,
        Ok(None) => {}
    }
    if modern::signals(headers, &req) {
        return modern::request(&mut p, req, method).await;
    }
    let f = Failure::new(
        ErrorCode::SessionRequired,
        "this request needs an Mcp-Session-Id header (or, for revision 2026-07-28, the MCP-Protocol-Version header and _meta)",
    );
    p.log.code = Some(f.code.as_str().to_string());
    respond::undecodable(Some(&req.id), &f, cid)
}

/// GET opens a legacy session's stream for server-initiated messages, or resumes a stream
/// after `Last-Event-ID`. Revision 2026-07-28 has no GET stream.
pub async fn get(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let cid = correlation_id(req.headers());
    let mut log = RequestLog::default();
    let (parts, _) = req.into_parts();
    let resp = match admit(&st, &parts, &cid, &mut log).await {
        Err(f) => fail(&mut log, &f, &cid),
        Ok(p) => legacy::open_stream(&st, &parts.headers, &p, &cid, &mut log),
    };
    finish(&st, &mut log, resp, &cid, "GET", started)
}

/// DELETE ends the caller's legacy session.
pub async fn delete(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let cid = correlation_id(req.headers());
    let mut log = RequestLog::default();
    let (parts, _) = req.into_parts();
    let resp = match admit(&st, &parts, &cid, &mut log).await {
        Err(f) => fail(&mut log, &f, &cid),
        Ok(p) => match session_id(&parts.headers) {
            Err(f) => fail(&mut log, &f, &cid),
            Ok(None) => method_not_allowed(&mut log, &cid, "DELETE needs an Mcp-Session-Id header"),
            Ok(Some(sid)) => match st.sessions.remove(sid, &p, st.clock.instant()) {
                Ok(()) => {
                    for gone in st.sessions.take_gone() {
                        st.release_session(&gone);
                    }
                    st.metrics.sessions.set(st.sessions.len() as i64);
                    let mut r = respond::accepted(&cid);
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                Err(f) => fail(&mut log, &f, &cid),
            },
        },
    };
    finish(&st, &mut log, resp, &cid, "DELETE", started)
}

/// 405 with `Allow: POST` (what a sessionless client may use).
fn method_not_allowed(log: &mut RequestLog, cid: &str, why: &str) -> Response {
    let f = Failure::new(ErrorCode::MethodNotAllowed, why);
    let mut r = fail(log, &f, cid);
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

/// The `MCP-Protocol-Version` header, if present, must name a revision the gateway speaks.
fn check_version_header(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    match ingress::single(headers, mcp::HEADER_PROTOCOL_VERSION)? {
        None => Ok(None),
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                Failure::new(
                    ErrorCode::UnsupportedProtocolVersion,
                    "the MCP-Protocol-Version header is not ASCII",
                )
            })?;
            if mcp::is_supported(v) {
                Ok(Some(v))
            } else {
                Err(Failure::new(
                    ErrorCode::UnsupportedProtocolVersion,
                    format!("revision '{}' is not supported", v.escape_default()),
                )
                .with("supported", serde_json::json!(mcp::supported_versions()))
                .with("requested", serde_json::json!(v)))
            }
        }
    }
}
