//! The admin API (control plane): JSON over HTTP under `/admin/v1/`, on its own listener
//! (`[admin] listen`), never on the MCP listener. Only admin keys are accepted here, and each
//! endpoint needs a role: `auditor` reads the ledger, its checkpoints, proofs and exports;
//! `approver` also decides approvals; `admin` does everything. Every change an admin makes is
//! a ledger record, durable before the change is made (`acts`). Objects that can be edited
//! concurrently carry an ETag, and an edit must name it in `If-Match`. The OpenAPI document of
//! all of it is generated from these handlers (`openapi`). `docs/admin.md` is the guide.

mod acts;
mod auth;
mod controls;
mod gateway;
pub mod keys;
mod ledger;
pub mod openapi;
mod roles;
mod tenants;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use http_body_util::BodyExt;
use portcullis_identity::AdminRole;
use portcullis_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use auth::Admin;

use crate::endpoint::new_correlation_id;
use crate::respond::{self, Failure};
use crate::state::AppState;

/// Largest request body the admin API reads.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(st: Arc<AppState>) -> Router {
    Router::new()
        .route("/admin/openapi.json", get(openapi::document))
        .route("/admin/v1/whoami", get(auth::whoami))
        .route(
            "/admin/v1/tenants",
            get(tenants::list).post(tenants::create),
        )
        .route(
            "/admin/v1/tenants/{name}",
            get(tenants::read).patch(tenants::update),
        )
        .route("/admin/v1/keys", get(keys::list).post(keys::create))
        .route("/admin/v1/keys/{id}", get(keys::read))
        .route("/admin/v1/keys/{id}/revoke", post(keys::revoke))
        .route("/admin/v1/keys/{id}/rotate", post(keys::rotate))
        .route("/admin/v1/roles", get(roles::list))
        .route(
            "/admin/v1/roles/{name}/grants",
            post(roles::add).delete(roles::remove),
        )
        .route("/admin/v1/upstreams", get(gateway::upstreams))
        .route("/admin/v1/catalog", get(gateway::catalog))
        .route("/admin/v1/quotas", get(gateway::quotas))
        .route("/admin/v1/effective-config", get(gateway::effective_config))
        .route("/admin/v1/reload", post(gateway::reload))
        .route("/admin/v1/controls", get(controls::list))
        .route("/admin/v1/controls/{scope}", put(controls::set))
        .route("/admin/v1/ledger/records", get(ledger::query))
        .route("/admin/v1/ledger/records/{seq}", get(ledger::record))
        .route("/admin/v1/ledger/checkpoint", get(ledger::checkpoint))
        .route(
            "/admin/v1/ledger/proof/consistency",
            get(ledger::consistency),
        )
        .route("/admin/v1/ledger/export", get(ledger::export))
        .fallback(crate::ops::not_found)
        .method_not_allowed_fallback(crate::ops::method_not_allowed)
        .with_state(st)
}

/// A request that passed authentication and its role check.
pub struct Call {
    pub st: Arc<AppState>,
    pub admin: Admin,
    /// The request's correlation id, also that of the ledger records of its act.
    pub cid: String,
}

/// A successful answer: a JSON body, its status and, for an editable object, its ETag.
pub struct Reply {
    status: StatusCode,
    body: Value,
    etag: Option<String>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            etag: None,
        }
    }

    pub fn created(body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body,
            etag: None,
        }
    }

    pub fn etag(mut self, version: u64) -> Reply {
        self.etag = Some(etag_of(version));
        self
    }

    fn into_response(self, cid: &str) -> Response {
        let mut r = respond::json_response(self.status, &self.body, cid);
        if let Some(tag) = self.etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            r.headers_mut().insert(header::ETAG, tag);
        }
        r
    }
}

/// Authenticate the request, check that its key's role includes `needed`, run `f`, and
/// answer: with its reply, or with the error contract.
pub async fn answer<F, Fut>(
    st: Arc<AppState>,
    headers: &HeaderMap,
    needed: AdminRole,
    f: F,
) -> Response
where
    F: FnOnce(Call) -> Fut,
    Fut: Future<Output = Result<Reply, Failure>>,
{
    let cid = new_correlation_id();
    let result = async {
        let admin = auth::authenticate(&st, headers).await?;
        admin.require(needed)?;
        let call = Call {
            st,
            admin,
            cid: cid.clone(),
        };
        f(call).await
    }
    .await;
    match result {
        Ok(reply) => reply.into_response(&cid),
        Err(f) => respond::http_error(&f, &cid),
    }
}

/// The ETag of an object at `version`.
pub fn etag_of(version: u64) -> String {
    format!("\"{version}\"")
}

/// The version an edit's `If-Match` names: it must be there (`precondition_required`), and
/// name the object's current ETag (else `precondition_failed`).
pub fn if_match(headers: &HeaderMap, current: u64) -> Result<u64, Failure> {
    let v = crate::ingress::single(headers, header::IF_MATCH.as_str())?.ok_or_else(|| {
        Failure::new(
            ErrorCode::PreconditionRequired,
            "an edit needs If-Match with the object's ETag as last read",
        )
    })?;
    let v = v.to_str().unwrap_or("").trim();
    let matches = v == "*" || v.split(',').any(|t| t.trim() == etag_of(current));
    if !matches {
        return Err(Failure::new(
            ErrorCode::PreconditionFailed,
            format!(
                "the object is now at ETag {}, not {}",
                etag_of(current),
                v.escape_default()
            ),
        ));
    }
    Ok(current)
}

/// Read a request body of at most [`MAX_BODY`] bytes.
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Failure> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|_| {
            Failure::new(
                ErrorCode::PayloadTooLarge,
                format!("the admin API reads bodies of at most {MAX_BODY} bytes"),
            )
        })?
        .to_bytes();
    if !bytes.is_empty() {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Failure::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as Content-Type: application/json",
            ));
        }
    }
    Ok(bytes)
}

/// A JSON object body as `T`: not JSON or not an object is `invalid_body`; a member missing,
/// unknown or of the wrong type is `invalid_field`.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Failure::new(ErrorCode::InvalidBody, format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(Failure::new(
            ErrorCode::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(v).map_err(|e| Failure::new(ErrorCode::InvalidField, e.to_string()))
}

/// An `invalid_field` failure.
pub fn invalid(reason: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidField, reason)
}

/// A store failure: the admin API cannot answer without it.
pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::new(ErrorCode::AuditUnavailable, "the store is unavailable").caused_by(e)
}
