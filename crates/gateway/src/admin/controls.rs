//! `/admin/v1/controls`: the kill switches and the read-only mode of `docs/limits.md`. A
//! switch set here is stored, then recorded in the ledger and put in force in this process at
//! once (every process records a switch change before it acts on it); the actor is the admin
//! key (`admin:<key id>`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_identity::{AdminRole, valid_label};
use portcullis_store::{KillSwitch, SwitchScope};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::tenants::segment;
use super::{Call, Reply, answer, invalid, parse_body, read_body, unavailable};
use crate::respond::Failure;
use crate::state::AppState;

/// Longest reason kept with a switch.
const MAX_REASON: usize = 512;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchChange {
    /// true stops what the scope covers (or, for read_only, puts it in read-only mode).
    pub engaged: bool,
    /// Why, for the ledger and /api/status (1-512 characters).
    #[schema(min_length = 1, max_length = 512)]
    pub reason: String,
}

fn view(s: &KillSwitch) -> Value {
    json!({
        "scope": s.scope.key(),
        "engaged": s.engaged,
        "reason": s.reason,
        "actor": s.actor,
        "updatedMs": s.updated_ms,
    })
}

/// A scope key as the admin API takes it: the store's form with names that are labels, tool
/// names or upstream names, and classes that exist.
fn scope(key: &str) -> Result<SwitchScope, Failure> {
    let s = SwitchScope::parse(key).ok_or_else(|| {
        invalid(format!(
            "'{}' is not a scope: global, read_only, read_only:TENANT, class:CLASS, tool:TOOL, tenant:TENANT, upstream:UPSTREAM or agent:TENANT/AGENT",
            key.escape_default()
        ))
    })?;
    let name_ok =
        |n: &str| n.len() <= 256 && !n.chars().any(|c| c.is_control() || c.is_whitespace());
    let ok = match &s {
        SwitchScope::Global | SwitchScope::ReadOnly(None) => true,
        SwitchScope::Class(c) => matches!(c.as_str(), "read" | "write" | "destructive"),
        SwitchScope::Tenant(t) | SwitchScope::ReadOnly(Some(t)) => valid_label(t),
        SwitchScope::Agent(a) => a
            .split_once('/')
            .is_some_and(|(t, n)| valid_label(t) && valid_label(n)),
        SwitchScope::Tool(n) | SwitchScope::Upstream(n) => name_ok(n),
    };
    if !ok {
        return Err(invalid(format!(
            "'{}' names something that cannot exist",
            key.escape_default()
        )));
    }
    Ok(s)
}

#[utoipa::path(operation_id = "controls_list", get, path = "/admin/v1/controls", tag = "controls",
    responses((status = 200, description = "Every switch ever set, engaged or not, by scope", body = super::openapi::SwitchList)))]
pub async fn list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let all = c.st.stores.controls.switches().await.map_err(unavailable)?;
        Ok(Reply::ok(
            json!({"switches": all.iter().map(view).collect::<Vec<_>>()}),
        ))
    })
    .await
}

#[utoipa::path(operation_id = "controls_set", put, path = "/admin/v1/controls/{scope}", tag = "controls", request_body = SwitchChange,
    params(("scope" = String, Path, description = "global, read_only, read_only:TENANT, class:CLASS, tool:TOOL, tenant:TENANT, upstream:UPSTREAM or agent:TENANT/AGENT (percent-encode the /)")),
    responses((status = 200, description = "The switch as set, recorded and in force here", body = super::openapi::SwitchView),
        (status = 422, description = "Not a scope, or a bad reason", body = super::openapi::ErrorView)))]
pub async fn set(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let scope = scope(&segment(key)?)?;
        let change: SwitchChange = parse_body(&read_body(h, body).await?)?;
        let reason = change.reason.trim();
        if reason.is_empty() || reason.len() > MAX_REASON || reason.chars().any(char::is_control) {
            return Err(invalid(format!(
                "reason must be 1-{MAX_REASON} characters without control characters"
            )));
        }
        let switch = KillSwitch {
            scope,
            engaged: change.engaged,
            reason: reason.to_string(),
            actor: c.admin.actor(),
            updated_ms: c.st.clock.now_ms(),
        };
        c.st.stores
            .controls
            .set_switch(switch.clone())
            .await
            .map_err(unavailable)?;
        // Recorded, then in force here; a failure to record keeps it out of force everywhere
        // until it is recorded.
        c.st.controls.refresh(&c.st).await.map_err(unavailable)?;
        Ok(Reply::ok(view(&switch)))
    })
    .await
}
