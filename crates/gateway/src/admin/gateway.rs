//! The gateway as configured and running: upstreams, the catalog, quotas, the effective
//! config, and reload.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_identity::AdminRole;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use super::{Call, Reply, answer, unavailable};
use crate::respond::Failure;
use crate::state::AppState;

#[utoipa::path(operation_id = "upstreams", get, path = "/admin/v1/upstreams", tag = "gateway",
    responses((status = 200, description = "Each upstream's state, restarts and circuit breakers", body = super::openapi::UpstreamList)))]
pub async fn upstreams(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        Ok(Reply::ok(json!({
            "upstreams": crate::ops::upstreams_json(&c.st),
            "unlisted": c.st.unlisted_upstreams(),
            "breakers": c.st.circuits.not_closed(),
        })))
    })
    .await
}

#[utoipa::path(operation_id = "catalog", get, path = "/admin/v1/catalog", tag = "gateway",
    responses((status = 200, description = "Every tool with its upstream, class and pin (hash of its definition)", body = super::openapi::CatalogView)))]
pub async fn catalog(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let catalog = c.st.catalog();
        let mut tools: Vec<Value> = catalog
            .entries()
            .map(|t| {
                json!({
                    "name": t.name,
                    "upstream": t.upstream,
                    "class": t.class.as_str(),
                    "pin": t.pin,
                })
            })
            .collect();
        tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Ok(Reply::ok(json!({
            "hash": catalog.hash(),
            "tools": tools,
            "rebuildError": c.st.catalog_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        })))
    })
    .await
}

#[utoipa::path(operation_id = "quotas", get, path = "/admin/v1/quotas", tag = "gateway",
    params(("tenant" = String, Query, description = "The tenant"),
        ("agent" = Option<String>, Query, description = "One of its agents (quotas per agent need it)")),
    responses((status = 200, description = "Each quota that applies: its window, when it resets, what is used of its limits", body = super::openapi::QuotaList),
        (status = 400, description = "A bad query", body = super::openapi::ErrorView)))]
pub async fn quotas(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let q = super::ledger::Query::parse(q.as_deref(), &["tenant", "agent"])?;
        let name = |k: &str| -> Result<String, Failure> {
            let v = q.text(k).unwrap_or_default().to_string();
            if !v.is_empty() && !portcullis_identity::valid_label(&v) {
                return Err(Failure::new(
                    ErrorCode::InvalidQuery,
                    format!("{k} must be 1-128 characters of A-Z a-z 0-9 _ - . @"),
                ));
            }
            Ok(v)
        };
        let tenant = name("tenant")?;
        if tenant.is_empty() {
            return Err(Failure::new(ErrorCode::InvalidQuery, "tenant is required"));
        }
        let principal = portcullis_identity::Principal {
            tenant,
            agent: name("agent")?,
            role: String::new(),
            credential_id: c.admin.actor(),
            auth_method: portcullis_identity::AuthMethod::ApiKey,
            evidence: None,
        };
        let usage = crate::pipeline::stages::quota_status(&c.st, &principal)
            .await
            .map_err(unavailable)?;
        Ok(Reply::ok(json!({"quotas": usage})))
    })
    .await
}

#[utoipa::path(operation_id = "effective_config", get, path = "/admin/v1/effective-config", tag = "gateway",
    responses((status = 200, description = "What is in force and where each part comes from", body = super::openapi::EffectiveConfig)))]
pub async fn effective_config(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let st = &c.st;
        let live = st.live();
        let cfg = &st.config;
        let tenants = st.stores.admin.tenants().await.map_err(unavailable)?;
        let keys = st.stores.keys.list_keys().await.map_err(unavailable)?;
        let admin_keys = st.stores.admin.list_admin_keys().await.map_err(unavailable)?;
        let engaged = st.controls.engaged();
        Ok(Reply::ok(json!({
            "file": {
                "path": st.config_source.as_ref().map(|s| s.path.display().to_string()),
                "hashInForce": live.config_hash,
                "hashAtStart": cfg.hash,
                "generation": live.generation,
                "reloadable": ["policy.mode", "policy.classes", "roles"],
                "policy": {
                    "mode": live.policy.mode.as_str(),
                    "roles": live.policy.roles.keys().collect::<std::collections::BTreeSet<_>>(),
                },
                "server": {
                    "listen": cfg.server.listen.to_string(),
                    "basePath": cfg.server.base_path,
                    "tls": cfg.server.tls.is_some(),
                },
                "admin": {"listen": cfg.admin.listen.map(|a| a.to_string())},
                "upstreams": cfg.upstreams.iter().map(|u| u.name.clone()).collect::<Vec<_>>(),
                "limits": {"rate": cfg.rate_limits.len(), "quota": cfg.quotas.len(), "tools": cfg.tools.len()},
                "identity": st.identity.methods(),
            },
            "store": {
                "tenants": tenants.len(),
                "disabledTenants": tenants.iter().filter(|t| t.disabled_ms.is_some()).map(|t| t.name.clone()).collect::<Vec<_>>(),
                "agentKeys": keys.len(),
                "adminKeys": admin_keys.len(),
                "grants": live.grants.iter().map(|(r, p)| json!({"role": r, "pattern": p})).collect::<Vec<_>>(),
                "unusedGrants": live.unused_grants.len(),
                "engagedSwitches": engaged.list().iter().map(|s| s.scope.key()).collect::<Vec<_>>(),
            },
            "precedence": [
                "The config file decides listeners, upstreams, roles, limits and identity; a reload re-reads its policy (mode, classes, roles), the rest at start only.",
                "The store decides tenants, agent and admin keys, grants, kill switches and read-only modes; they survive restarts and the file cannot override them.",
                "A grant adds an allow pattern to a role the file defines; the file decides which roles exist and what they may write or destroy.",
                "A tenant disabled in the store refuses its keys whatever the file says; a kill switch engaged in the store stops calls whatever the roles allow."
            ],
        })))
    })
    .await
}

#[utoipa::path(operation_id = "reload", post, path = "/admin/v1/reload", tag = "gateway",
    responses((status = 200, description = "Reloaded: what was applied, and what needs a restart", body = super::openapi::ReloadView),
        (status = 422, description = "The file is invalid; the last good config keeps serving", body = super::openapi::ErrorView)))]
pub async fn reload(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        match crate::reload::reload(&c.st, &c.admin.actor()).await {
            Ok(outcome) => Ok(Reply::ok(
                serde_json::to_value(outcome).unwrap_or(Value::Null),
            )),
            Err(outcome) => {
                let mut f = Failure::new(
                    ErrorCode::ReloadFailed,
                    "the config file was not applied; the last good config keeps serving",
                );
                f = f.with("errors", json!(outcome.errors));
                Err(f)
            }
        }
    })
    .await
}
