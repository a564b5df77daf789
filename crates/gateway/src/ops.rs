//! Operations endpoints: `/health` (liveness), `/ready` (store writable, catalog loaded,
//! upstreams ready), `/api/status` (authenticated), `/metrics` (Prometheus text), and the JSON
//! 404 / 405 for everything else.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_protocol::ErrorCode;
use portcullis_upstream::UpstreamState;
use serde_json::json;

use crate::endpoint::new_correlation_id;
use crate::respond::{self, Failure};
use crate::state::AppState;

pub async fn health() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

fn upstreams_json(st: &AppState) -> Vec<serde_json::Value> {
    st.upstreams
        .iter()
        .map(|u| {
            json!({
                "name": u.name(),
                "state": u.state(),
                "restarts": u.restarts(),
            })
        })
        .collect()
}

/// Readiness: `ready` when the store can be written and every upstream is up and listed;
/// `degraded` (still 200: calls to the others work) when some upstream is down or unlisted;
/// `unavailable` (503) when the gateway cannot serve at all: the store cannot be written, no
/// upstream is listed yet, or it is shutting down.
pub async fn ready(State(st): State<Arc<AppState>>) -> Response {
    let store = st.stores.lifecycle.probe_write().await;
    let catalog = st.catalog();
    let unlisted = st.unlisted_upstreams();
    let down: Vec<&str> = st
        .upstreams
        .iter()
        .filter(|u| u.state() != UpstreamState::Ready || unlisted.iter().any(|n| n == u.name()))
        .map(|u| u.name())
        .collect();
    let nothing_listed = !st.upstreams.is_empty() && unlisted.len() == st.upstreams.len();
    let status = if store.is_err() || st.is_shutting_down() || nothing_listed {
        "unavailable"
    } else if !down.is_empty() {
        "degraded"
    } else {
        "ready"
    };
    let body = json!({
        "ready": status != "unavailable",
        "status": status,
        "store": match &store {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the store cannot be written");
                "unavailable"
            }
        },
        "catalog": { "tools": catalog.len(), "hash": catalog.hash() },
        "upstreams": upstreams_json(&st),
        "upstreamsDown": down,
        "shuttingDown": st.is_shutting_down(),
    });
    let code = if status == "unavailable" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(body)).into_response()
}

/// The guard of `/api/...`: the same admission as the MCP endpoint.
pub async fn authorize_api(
    st: &AppState,
    parts: &axum::http::request::Parts,
    cid: &str,
) -> Result<portcullis_identity::Principal, Failure> {
    let line = format!("{} {}", parts.method, parts.uri.path());
    let peer = crate::admission::Peer {
        client: crate::endpoint::client_of(&parts.extensions),
        line: &line,
        cid,
    };
    crate::admission::admit(st, &parts.headers, &peer).await
}

pub async fn status(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let cid = new_correlation_id();
    let (parts, _) = req.into_parts();
    if let Err(f) = authorize_api(&st, &parts, &cid).await {
        return respond::http_error(&f, &cid);
    }
    let head = match st.stores.ledger.head().await {
        Ok(h) => h,
        Err(e) => {
            let f = Failure::new(ErrorCode::AuditUnavailable, "the ledger is unavailable");
            return respond::http_error(&f.caused_by(e), &cid);
        }
    };
    let catalog = st.catalog();
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "schemaVersion": portcullis_store::SCHEMA_VERSION,
        "mode": st.policy.mode.as_str(),
        "configuredMode": st.config.configured_mode.as_str(),
        "demoMode": st.config.demo_mode,
        "upstreams": upstreams_json(&st),
        "toolCount": catalog.len(),
        "catalogHash": catalog.hash(),
        "configHash": st.config.hash,
        "ledger": { "size": head.size, "head": hex::encode(head.root) },
        "sessions": st.sessions.len(),
        "uptimeSeconds": (st.clock.instant() - st.started).as_secs(),
    });
    respond::json_ok(&body, &cid)
}

/// Whether an `Accept` header admits the OpenMetrics text format (absent, `*/*` and
/// `application/*` do).
fn accepts_openmetrics(headers: &axum::http::HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|t| {
        let mime = t.split(';').next().unwrap_or("").trim();
        ["application/openmetrics-text", "*/*", "application/*"]
            .iter()
            .any(|m| mime.eq_ignore_ascii_case(m))
    })
}

pub async fn metrics(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    if !st.config.server.metrics {
        return not_found().await;
    }
    if !accepts_openmetrics(req.headers()) {
        return respond::http_error(
            &Failure::new(
                ErrorCode::NotAcceptable,
                "/metrics is served in the OpenMetrics text format: accept application/openmetrics-text",
            ),
            &new_correlation_id(),
        );
    }
    if let Ok(h) = st.stores.ledger.head().await {
        st.metrics.ledger_size.set(h.size as i64);
    }
    st.metrics.sessions.set(st.sessions.len() as i64);
    for u in &st.upstreams {
        let l = crate::metrics::UpstreamLabels {
            upstream: u.name().to_string(),
        };
        st.metrics
            .upstream_up
            .get_or_create(&l)
            .set(i64::from(u.state() == UpstreamState::Ready));
        st.metrics
            .upstream_restarts
            .get_or_create(&l)
            .set(u.restarts() as i64);
    }
    let mut resp = Response::new(Body::from(st.metrics.encode()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::OPENMETRICS),
    );
    resp
}

pub async fn not_found() -> Response {
    respond::http_error(
        &Failure::new(ErrorCode::NotFound, "nothing is served at this path"),
        &new_correlation_id(),
    )
}

pub async fn method_not_allowed() -> Response {
    respond::http_error(
        &Failure::new(
            ErrorCode::MethodNotAllowed,
            "this path does not take that HTTP method",
        ),
        &new_correlation_id(),
    )
}
