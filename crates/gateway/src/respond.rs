//! The one place where failures become responses: HTTP errors carry the contract
//! `{code, reason, correlationId, guidance}` as their body; JSON-RPC errors carry it in
//! `error.data`; an SSE event carries the same JSON-RPC error. Every response carries the
//! correlation id in `X-Correlation-Id`. A failure's internal cause (a store's message, a path)
//! is logged here with the correlation id and never sent.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_protocol::{ErrorBody, ErrorCode, Id, jsonrpc};
use serde_json::Value;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// An internal error behind a failure, kept for the log.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A refusal or failure with a stable code.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: ErrorCode,
    /// What the caller is told.
    pub reason: String,
    /// Extra members of the JSON-RPC `error.data` (e.g. `supported` revisions).
    pub data: Option<serde_json::Map<String, Value>>,
    /// What went wrong inside: logged, never sent.
    pub cause: Option<Cause>,
    /// The `WWW-Authenticate` challenge of an identity refusal, when it says more than
    /// `Bearer` (RFC 6750 error, scope, RFC 9728 resource metadata).
    pub challenge: Option<String>,
}

impl PartialEq for Failure {
    fn eq(&self, other: &Failure) -> bool {
        self.code == other.code && self.reason == other.reason && self.data == other.data
    }
}

impl Failure {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Failure {
        Failure {
            code,
            reason: reason.into(),
            data: None,
            cause: None,
            challenge: None,
        }
    }

    /// Keep `cause` for the log (with its chain of sources); the caller sees only `reason`.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Failure {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// Log the internal cause, if any, under the request's correlation id.
    fn log_cause(&self, correlation_id: &str) {
        if let Some(cause) = &self.cause {
            tracing::error!(
                request_id = %correlation_id,
                code = %self.code,
                cause = %chain(cause.as_ref()),
                "{}",
                self.reason
            );
        }
    }

    /// Add a member to the JSON-RPC `error.data`.
    pub fn with(mut self, key: &str, value: Value) -> Failure {
        self.data
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_string(), value);
        self
    }

    pub fn body(&self, correlation_id: &str) -> ErrorBody {
        ErrorBody::new(self.code, self.reason.clone(), correlation_id)
    }
}

pub fn json_response(status: StatusCode, value: &Value, correlation_id: &str) -> Response {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        h.insert(CORRELATION_HEADER, v);
    }
    resp
}

/// An error and its sources, outermost first.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// An HTTP error whose body is the error contract.
pub fn http_error(f: &Failure, correlation_id: &str) -> Response {
    f.log_cause(correlation_id);
    let status =
        StatusCode::from_u16(f.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::to_value(f.body(correlation_id)).unwrap_or_default();
    // Extra members (a wait, the limit that refused) beside the contract's four, as in a
    // JSON-RPC error's `data`.
    if let (Some(extra), Some(obj)) = (&f.data, body.as_object_mut()) {
        for (k, v) in extra {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut resp = json_response(status, &body, correlation_id);
    let challenge = match &f.challenge {
        Some(c) => HeaderValue::from_str(c).ok(),
        None if matches!(
            f.code,
            ErrorCode::MissingCredentials
                | ErrorCode::InvalidCredentials
                | ErrorCode::CredentialExpired
                | ErrorCode::CredentialRevoked
        ) =>
        {
            Some(HeaderValue::from_static("Bearer"))
        }
        None => None,
    };
    if let Some(c) = challenge {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, c);
    }
    limit_headers(f, resp.headers_mut());
    resp
}

/// The standard headers of a refusal that says when to retry: `Retry-After` (whole seconds,
/// rounded up), and for a rate limit the IETF `RateLimit-Policy` (the bucket: `q` calls at
/// once, refilled over `w` seconds) and `RateLimit` (`r` calls left, `t` seconds until one
/// is). On HTTP errors and on HTTP responses that carry a JSON-RPC refusal alike.
pub fn limit_headers(f: &Failure, h: &mut axum::http::HeaderMap) {
    let Some(data) = f.data.as_ref() else {
        return;
    };
    let Some(ms) = data.get("retryAfterMs").and_then(Value::as_u64) else {
        return;
    };
    let secs = ms.div_ceil(1000).max(1);
    h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    let burst = data.get("burst").and_then(Value::as_u64);
    let window = data.get("windowMs").and_then(Value::as_u64);
    let name = data.get("limit").and_then(Value::as_str);
    if let (ErrorCode::RateLimited, Some(q), Some(w), Some(name)) = (f.code, burst, window, name) {
        // A structured-field string: printable ASCII without `"` or `\`.
        let name: String = name
            .chars()
            .map(|c| match c {
                ' '..='~' if c != '"' && c != '\\' => c,
                _ => '_',
            })
            .collect();
        let w = w.div_ceil(1000).max(1);
        let policy = format!("\"{name}\";q={q};w={w}");
        let state = format!("\"{name}\";r=0;t={secs}");
        if let (Ok(p), Ok(s)) = (
            HeaderValue::from_str(&policy),
            HeaderValue::from_str(&state),
        ) {
            h.insert("ratelimit-policy", p);
            h.insert("ratelimit", s);
        }
    }
}

/// A JSON-RPC error response value (sent with HTTP 200 inside a well-formed exchange).
pub fn jsonrpc_error(id: Option<&Id>, f: &Failure, correlation_id: &str) -> Value {
    f.log_cause(correlation_id);
    let mut msg = jsonrpc::error_response(id, &f.body(correlation_id));
    if let (Some(extra), Some(data)) = (&f.data, msg["error"]["data"].as_object_mut()) {
        for (k, v) in extra {
            data.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    msg
}

/// HTTP status of a JSON-RPC error answer inside an exchange: 200, except what revision
/// 2026-07-28 makes HTTP-visible for its (`modern`) clients.
pub fn exchange_status(modern: bool, f: &Failure) -> StatusCode {
    if !modern {
        return StatusCode::OK;
    }
    match f.code {
        ErrorCode::MethodNotFound => StatusCode::NOT_FOUND,
        ErrorCode::HeaderMismatch
        | ErrorCode::UnsupportedProtocolVersion
        | ErrorCode::InvalidMeta
        | ErrorCode::InvalidRequest
        | ErrorCode::RepeatedHeader => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// A message that could not be decoded as JSON-RPC: the HTTP status of its code, with a
/// JSON-RPC error response (id null unless one was readable) as the body.
pub fn undecodable(id: Option<&Id>, f: &Failure, correlation_id: &str) -> Response {
    let status = StatusCode::from_u16(f.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        status,
        &jsonrpc_error(id, f, correlation_id),
        correlation_id,
    )
}

/// Carried on a response whose JSON-RPC message is an error, so that the request's one log
/// line names the code whichever stage (policy, the upstream, cancellation) produced it.
#[derive(Debug, Clone, Copy)]
pub struct ErrorAnswer(pub ErrorCode);

/// A JSON body with status 200.
pub fn json_ok(value: &Value, correlation_id: &str) -> Response {
    json_response(StatusCode::OK, value, correlation_id)
}

/// One JSON-RPC message as a single-event SSE stream (for clients that accept only SSE).
pub fn sse_ok(value: &Value, correlation_id: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("event: message\ndata: {value}\n\n")));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        h.insert(CORRELATION_HEADER, v);
    }
    resp
}

/// 202 Accepted with no body, for notifications and responses.
pub fn accepted(correlation_id: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::ACCEPTED;
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        resp.headers_mut().insert(CORRELATION_HEADER, v);
    }
    resp
}

/// A panic in a handler still answers with the contract (never a bare 500).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    http_error(
        &Failure::new(ErrorCode::InternalError, "unexpected internal error"),
        &uuid::Uuid::new_v4().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_are_structured_fields_even_for_hostile_names() {
        let limited = |name: &str| {
            Failure::new(ErrorCode::RateLimited, "slow down")
                .with("retryAfterMs", serde_json::json!(1500))
                .with("limit", serde_json::json!(name))
                .with("burst", serde_json::json!(40))
                .with("windowMs", serde_json::json!(2001))
        };
        let mut h = axum::http::HeaderMap::new();
        limit_headers(&limited("tenant * 20/s burst 40"), &mut h);
        assert_eq!(h["retry-after"], "2");
        assert_eq!(h["ratelimit-policy"], "\"tenant * 20/s burst 40\";q=40;w=3");
        assert_eq!(h["ratelimit"], "\"tenant * 20/s burst 40\";r=0;t=2");
        let mut h = axum::http::HeaderMap::new();
        limit_headers(&limited("a\"b\\c\u{e9}\n"), &mut h);
        assert_eq!(h["ratelimit-policy"], "\"a_b_c__\";q=40;w=3");
        // Other refusals with a wait get Retry-After only; without a wait, nothing.
        let mut h = axum::http::HeaderMap::new();
        let open = Failure::new(ErrorCode::CircuitOpen, "open")
            .with("retryAfterMs", serde_json::json!(10));
        limit_headers(&open, &mut h);
        assert_eq!(h["retry-after"], "1");
        assert!(h.get("ratelimit").is_none());
        let mut h = axum::http::HeaderMap::new();
        limit_headers(&Failure::new(ErrorCode::RateLimited, "no data"), &mut h);
        assert!(h.is_empty());
    }

    async fn body_json(resp: Response) -> Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn http_errors_carry_the_contract_and_the_correlation_id() {
        for code in ErrorCode::ALL {
            let resp = http_error(&Failure::new(*code, "because"), "cid-1");
            assert_eq!(resp.status().as_u16(), code.http_status());
            assert_eq!(resp.headers()[CORRELATION_HEADER], "cid-1");
            let v = body_json(resp).await;
            assert_eq!(v["code"], code.as_str());
            assert_eq!(v["reason"], "because");
            assert_eq!(v["correlationId"], "cid-1");
            assert!(v["guidance"].as_str().is_some_and(|g| !g.is_empty()));
        }
    }

    #[tokio::test]
    async fn auth_failures_ask_for_a_bearer_token() {
        let resp = http_error(&Failure::new(ErrorCode::MissingCredentials, "x"), "c");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn undecodable_messages_get_a_jsonrpc_error_body() {
        let resp = undecodable(None, &Failure::new(ErrorCode::ParseError, "bad"), "c2");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let v = body_json(resp).await;
        assert_eq!(v["id"], Value::Null);
        assert_eq!(v["error"]["code"], -32700);
        assert_eq!(v["error"]["data"]["correlationId"], "c2");
    }
}
