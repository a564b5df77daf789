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

pub(crate) fn upstreams_json(st: &AppState) -> Vec<serde_json::Value> {
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

/// How long a readiness probe of the store is reused: `/ready` takes no credentials, so each
/// request must not cost a durable write.
pub const PROBE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the store can be written, probed at most once per [`PROBE_TTL`].
async fn store_writable(st: &AppState) -> Result<(), ()> {
    let now = st.clock.instant();
    let cached = *st.store_probe.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, ok)) = cached
        && now.saturating_duration_since(at) < PROBE_TTL
    {
        return if ok { Ok(()) } else { Err(()) };
    }
    let result = st.stores.lifecycle.probe_write().await;
    if let Err(e) = &result {
        tracing::warn!(error = %e, "readiness: the store cannot be written");
    }
    *st.store_probe.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, result.is_ok()));
    result.map_err(|_| ())
}

/// Readiness: `ready` when the store can be written and every upstream is up and listed;
/// `degraded` (still 200: calls to the others work) when some upstream is down or unlisted;
/// `unavailable` (503) when the gateway cannot serve at all: the store cannot be written, no
/// upstream is listed yet, or it is shutting down.
/// The Host and Origin checks of `/mcp`, for the unauthenticated operations endpoints that
/// tell something about the gateway (`/ready`, `/metrics`): a page in a browser must not read
/// them through DNS rebinding. `/health` says only "ok" and is left open for probes.
fn guard(st: &AppState, headers: &axum::http::HeaderMap) -> Result<(), Failure> {
    crate::ingress::check_host(headers, &st.config.server.allowed_hosts)?;
    crate::ingress::check_origin(headers, &st.config.server.allowed_origins)
}

/// RFC 9728 protected-resource metadata, when the gateway trusts token issuers: the resource,
/// its authorization servers (the issuers) and the scopes they must grant. Served at
/// `/.well-known/oauth-protected-resource` and with the MCP endpoint's path after it.
pub async fn resource_metadata(
    State(st): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let cid = new_correlation_id();
    if let Err(f) = guard(&st, &headers) {
        return respond::http_error(&f, &cid);
    }
    let (Some(tokens), Some(resource)) = (&st.tokens, &st.config.identity.resource) else {
        return respond::http_error(
            &Failure::new(
                ErrorCode::NotFound,
                "this gateway trusts no token issuer, so it publishes no protected-resource metadata",
            ),
            &cid,
        );
    };
    let (servers, scopes) = tokens.servers_and_scopes();
    let body = json!({
        "resource": resource,
        "authorization_servers": servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "Portcullis MCP gateway",
    });
    respond::json_ok(&body, &cid)
}

pub async fn ready(State(st): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    if let Err(f) = guard(&st, &headers) {
        return respond::http_error(&f, &new_correlation_id());
    }
    let store = store_writable(&st).await;
    let catalog = st.catalog();
    let unlisted = st.unlisted_upstreams();
    let down: Vec<&str> = st
        .upstreams
        .iter()
        .filter(|u| u.state() != UpstreamState::Ready || unlisted.iter().any(|n| n == u.name()))
        .map(|u| u.name())
        .collect();
    let nothing_listed = !st.upstreams.is_empty() && unlisted.len() == st.upstreams.len();
    let keys_missing = st
        .tokens
        .as_ref()
        .map(|t| t.unavailable())
        .unwrap_or_default();
    let status = if store.is_err() || st.is_shutting_down() || nothing_listed {
        "unavailable"
    } else if !down.is_empty() || !keys_missing.is_empty() {
        "degraded"
    } else {
        "ready"
    };
    let body = json!({
        "ready": status != "unavailable",
        "status": status,
        "store": if store.is_ok() { "ok" } else { "unavailable" },
        "catalog": { "tools": catalog.len(), "hash": catalog.hash() },
        "upstreams": upstreams_json(&st),
        "upstreamsDown": down,
        "tokenKeysMissing": keys_missing,
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
        cert: crate::endpoint::client_cert(&parts.extensions),
    };
    crate::admission::admit(st, &parts.headers, &peer).await
}

pub async fn status(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let cid = new_correlation_id();
    let (parts, _) = req.into_parts();
    let principal = match authorize_api(&st, &parts, &cid).await {
        Ok(p) => p,
        Err(f) => return respond::http_error(&f, &cid),
    };
    let quotas = match crate::pipeline::stages::quota_status(&st, &principal).await {
        Ok(q) => q,
        Err(e) => {
            let f = Failure::new(ErrorCode::InternalError, "the quotas could not be read");
            return respond::http_error(&f.caused_by(e), &cid);
        }
    };
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
        "mode": st.live().policy.mode.as_str(),
        "configuredMode": st.config.configured_mode.as_str(),
        "demoMode": st.config.demo_mode,
        "upstreams": upstreams_json(&st),
        "toolCount": catalog.len(),
        "catalogHash": catalog.hash(),
        "configHash": st.live().config_hash,
        "reload": crate::reload::status_json(&st),
        "ledger": { "size": head.size, "head": hex::encode(head.root) },
        "sessions": st.sessions.len(),
        "quotas": quotas,
        "breakers": st.circuits.not_closed(),
        "authenticators": st.identity.methods(),
        "tls": st.config.server.tls.is_some(),
        "plainHttpOffLoopback": st.config.server.plain_http,
        "switches": st.controls.engaged().list().iter().map(|s| json!({
            "scope": s.scope.key(), "reason": s.reason, "actor": s.actor, "sinceMs": s.updated_ms,
        })).collect::<Vec<_>>(),
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
    if let Err(f) = guard(&st, req.headers()) {
        return respond::http_error(&f, &new_correlation_id());
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
    st.metrics
        .log_lines_dropped
        .inc_by(st.newly_dropped_log_lines());
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use portcullis_store::{Lifecycle, StoreError, Stores};

    use super::*;
    use crate::testing;

    /// The memory store's lifecycle, counting write probes.
    struct Counted(Arc<portcullis_store::MemoryStore>, Arc<AtomicUsize>);

    #[async_trait]
    impl Lifecycle for Counted {
        async fn probe_write(&self) -> Result<(), StoreError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.probe_write().await
        }
        async fn close(&self) {
            self.0.close().await
        }
    }

    #[tokio::test]
    async fn readiness_probes_the_store_at_most_once_a_second() {
        let probes = Arc::new(AtomicUsize::new(0));
        let p = probes.clone();
        let (st, fx) = testing::state_with(testing::CONFIG, move |mem| {
            let mut stores = Stores::of(mem.clone());
            stores.lifecycle = Arc::new(Counted(mem, p));
            stores
        });
        let st = Arc::new(st);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("host", "localhost".parse().unwrap());
        let ready = |st: Arc<AppState>| ready(State(st), headers.clone());
        for _ in 0..50 {
            let r = ready(st.clone()).await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        assert_eq!(probes.load(Ordering::SeqCst), 1);
        fx.clock.advance(PROBE_TTL);
        ready(st.clone()).await;
        assert_eq!(probes.load(Ordering::SeqCst), 2);
        // A store that cannot be written is seen within a second, and not named.
        fx.store.close().await;
        fx.clock.advance(PROBE_TTL);
        let r = ready(st.clone()).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["store"], "unavailable");
    }
}
