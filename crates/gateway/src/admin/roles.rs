//! `/admin/v1/roles`: the roles in force — each one's allow patterns from the config file and
//! the grants made here — and grants: an allow glob added to a role without editing the file.
//! Grants live in the store (they survive restarts and reloads), add names only (never write or
//! destructive rights), and are in force here at once and in every process sharing the store
//! on its next look at the controls. A grant whose role the file no longer defines changes
//! nothing and is listed as unused.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_identity::AdminRole;
use portcullis_protocol::ErrorCode;
use portcullis_store::{Grant, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::acts::{Act, record_act, record_failure};
use super::tenants::segment;
use super::{Call, Reply, answer, invalid, parse_body, read_body, unavailable};
use crate::respond::Failure;
use crate::state::AppState;

/// Longest grant pattern.
const MAX_PATTERN: usize = 256;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// A glob over namespaced names, as in a role's allow list (docs/policy globs).
    #[schema(min_length = 1, max_length = 256)]
    pub pattern: String,
}

#[utoipa::path(operation_id = "roles", get, path = "/admin/v1/roles", tag = "roles",
    responses((status = 200, description = "The mode and the roles in force: the file's allow patterns and the grants", body = super::openapi::RoleList)))]
pub async fn list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let live = c.st.live();
        let mut roles: Vec<_> = live.file_policy.roles.values().collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        let grants_of = |role: &str| -> Vec<&String> {
            live.grants
                .iter()
                .filter(|(r, _)| r == role)
                .map(|(_, p)| p)
                .collect()
        };
        Ok(Reply::ok(json!({
            "mode": live.policy.mode.as_str(),
            "roles": roles.iter().map(|r| json!({
                "name": r.name,
                "allow": r.allow_patterns,
                "grants": grants_of(&r.name),
                "allowWrite": r.allow_write,
                "allowDestructive": r.allow_destructive,
            })).collect::<Vec<_>>(),
            "unusedGrants": live.unused_grants.iter().map(|(r, p)| json!({"role": r, "pattern": p})).collect::<Vec<_>>(),
        })))
    })
    .await
}

fn check_pattern(role: &str, pattern: &str) -> Result<(), Failure> {
    if pattern.is_empty()
        || pattern.len() > MAX_PATTERN
        || pattern.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid(format!(
            "pattern must be 1-{MAX_PATTERN} characters without spaces or control characters"
        )));
    }
    portcullis_policy::Role::new(role, &[pattern.to_string()], false, false)
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))
}

#[utoipa::path(operation_id = "grants_add", post, path = "/admin/v1/roles/{name}/grants", tag = "roles", request_body = NewGrant,
    params(("name" = String, Path, description = "A role of the config file")),
    responses((status = 201, description = "The grant, in force", body = super::openapi::GrantView),
        (status = 409, description = "The role has this grant already", body = super::openapi::ErrorView),
        (status = 422, description = "No such role in the config file, or a bad pattern", body = super::openapi::ErrorView)))]
pub async fn add(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let role = segment(name)?;
        let new: NewGrant = parse_body(&read_body(h, body).await?)?;
        if !c.st.live().file_policy.roles.contains_key(&role) {
            return Err(invalid(format!(
                "role '{}' is not defined in the config file",
                role.escape_default()
            )));
        }
        check_pattern(&role, &new.pattern)?;
        let grant = Grant {
            role: role.clone(),
            pattern: new.pattern.clone(),
            actor: c.admin.actor(),
            created_ms: c.st.clock.now_ms(),
        };
        let after = view(&grant);
        let act = Act {
            action: "roles.grant",
            object: format!("role:{role}"),
            tenant: String::new(),
            before: None,
            after: Some(&after),
        };
        if c.st
            .live()
            .grants
            .contains(&(role.clone(), new.pattern.clone()))
        {
            return Err(exists(&role, &new.pattern));
        }
        record_act(&c, &act).await?;
        match c.st.stores.admin.add_grant(grant).await {
            Ok(()) => {
                apply(&c).await;
                Ok(Reply::created(after))
            }
            Err(StoreError::Conflict(_)) => {
                Err(record_failure(&c, &act, exists(&role, &new.pattern)).await)
            }
            Err(e) => Err(record_failure(&c, &act, unavailable(e)).await),
        }
    })
    .await
}

fn exists(role: &str, pattern: &str) -> Failure {
    Failure::new(
        ErrorCode::AlreadyExists,
        format!("role '{role}' has the grant '{pattern}' already"),
    )
}

fn view(g: &Grant) -> Value {
    json!({"role": g.role, "pattern": g.pattern, "actor": g.actor, "createdMs": g.created_ms})
}

/// Read the controls again, which puts the store's grants in force here now.
async fn apply(c: &Call) {
    if let Err(e) = c.st.controls.refresh(&c.st).await {
        tracing::warn!(error = %e, "the controls could not be read again after a grant change");
    }
}

#[utoipa::path(operation_id = "grants_remove", delete, path = "/admin/v1/roles/{name}/grants", tag = "roles",
    params(("name" = String, Path, description = "The role"),
        ("pattern" = String, Query, description = "The grant's pattern")),
    responses((status = 200, description = "Removed; no longer in force", body = super::openapi::GrantView),
        (status = 404, description = "The role has no such grant", body = super::openapi::ErrorView)))]
pub async fn remove(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let role = segment(name)?;
        let q = super::ledger::Query::parse(q.as_deref(), &["pattern"])?;
        let pattern = q
            .text("pattern")
            .ok_or_else(|| Failure::new(ErrorCode::InvalidQuery, "pattern is required"))?
            .to_string();
        let stored = c.st.stores.admin.grants().await.map_err(unavailable)?;
        let Some(grant) = stored
            .into_iter()
            .find(|g| g.role == role && g.pattern == pattern)
        else {
            return Err(Failure::new(
                ErrorCode::ObjectNotFound,
                format!(
                    "role '{}' has no grant '{}'",
                    role.escape_default(),
                    pattern.escape_default()
                ),
            ));
        };
        let before = view(&grant);
        let act = Act {
            action: "roles.revoke_grant",
            object: format!("role:{role}"),
            tenant: String::new(),
            before: Some(&before),
            after: None,
        };
        record_act(&c, &act).await?;
        match c.st.stores.admin.remove_grant(&role, &pattern).await {
            Ok(_) => {
                apply(&c).await;
                Ok(Reply::ok(before))
            }
            Err(e) => Err(record_failure(&c, &act, unavailable(e)).await),
        }
    })
    .await
}
