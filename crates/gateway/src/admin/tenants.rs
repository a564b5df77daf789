//! `/admin/v1/tenants`: create, list, read, and edit (describe, disable, enable). A disabled
//! tenant's keys are refused on their very next request, in every process sharing the store;
//! its other credentials (tokens, signed requests, certificates) as soon as each process
//! next reads the controls (within `controls::POLL_INTERVAL`; at once in this one).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_identity::{AdminRole, valid_label};
use portcullis_protocol::ErrorCode;
use portcullis_store::{StoreError, Tenant};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::acts::{Act, record_act, record_failure};
use super::{Call, Reply, answer, if_match, invalid, parse_body, read_body, unavailable};
use crate::respond::Failure;
use crate::state::AppState;

/// Longest tenant description.
const MAX_DESCRIPTION: usize = 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1-128 characters of A-Z a-z 0-9 _ - . @
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,128}$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// true disables the tenant (its keys stop working at once); false enables it again.
    pub disabled: Option<bool>,
}

pub fn view(t: &Tenant) -> Value {
    json!({
        "name": t.name,
        "description": t.description,
        "disabled": t.disabled_ms.is_some(),
        "disabledMs": t.disabled_ms,
        "createdMs": t.created_ms,
        "updatedMs": t.updated_ms,
        "version": t.version,
    })
}

/// A path segment, or `invalid_field` when it cannot be read.
pub fn segment(p: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    p.map(|Path(s)| s)
        .map_err(|e| invalid(format!("the path is not readable: {e}")))
}

fn check_description(d: &str) -> Result<(), Failure> {
    if d.len() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
        return Err(invalid(format!(
            "description must be at most {MAX_DESCRIPTION} bytes without control characters"
        )));
    }
    Ok(())
}

fn not_found(name: &str) -> Failure {
    Failure::new(
        ErrorCode::ObjectNotFound,
        format!("no tenant '{}'", name.escape_default()),
    )
}

async fn stored(c: &Call, name: &str) -> Result<Tenant, Failure> {
    c.st.stores
        .admin
        .tenant(name)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(name))
}

#[utoipa::path(operation_id = "tenants_list", get, path = "/admin/v1/tenants", tag = "tenants",
    responses((status = 200, description = "Every tenant, by name", body = super::openapi::TenantList)))]
pub async fn list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let all = c.st.stores.admin.tenants().await.map_err(unavailable)?;
        Ok(Reply::ok(
            json!({"tenants": all.iter().map(view).collect::<Vec<_>>()}),
        ))
    })
    .await
}

#[utoipa::path(operation_id = "tenants_create", post, path = "/admin/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, description = "Created", body = super::openapi::TenantView,
        headers(("ETag" = String, description = "The tenant's version")))))]
pub async fn create(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let new: NewTenant = parse_body(&read_body(h, body).await?)?;
        if !valid_label(&new.name) {
            return Err(invalid(
                "name must be 1-128 characters of A-Z a-z 0-9 _ - . @",
            ));
        }
        check_description(&new.description)?;
        if c.st
            .stores
            .admin
            .tenant(&new.name)
            .await
            .map_err(unavailable)?
            .is_some()
        {
            return Err(Failure::new(
                ErrorCode::AlreadyExists,
                format!("tenant '{}' exists", new.name),
            ));
        }
        let now = c.st.clock.now_ms();
        let tenant = Tenant {
            name: new.name.clone(),
            description: new.description,
            disabled_ms: None,
            created_ms: now,
            updated_ms: now,
            version: 1,
        };
        let after = view(&tenant);
        let act = Act {
            action: "tenants.create",
            object: format!("tenant:{}", tenant.name),
            tenant: tenant.name.clone(),
            before: None,
            after: Some(&after),
        };
        record_act(&c, &act).await?;
        match c.st.stores.admin.put_tenant(tenant, None).await {
            Ok(t) => Ok(Reply::created(view(&t)).etag(t.version)),
            Err(e) => Err(record_failure(&c, &act, store_failure(e, &new.name)).await),
        }
    })
    .await
}

fn store_failure(e: StoreError, name: &str) -> Failure {
    match e {
        StoreError::Conflict(_) => Failure::new(
            ErrorCode::PreconditionFailed,
            format!("tenant '{name}' changed meanwhile; read it again"),
        ),
        StoreError::NotFound(_) => not_found(name),
        e => unavailable(e),
    }
}

#[utoipa::path(operation_id = "tenants_read", get, path = "/admin/v1/tenants/{name}", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    responses((status = 200, description = "The tenant", body = super::openapi::TenantView,
        headers(("ETag" = String, description = "The tenant's version"))),
        (status = 404, description = "No such tenant", body = super::openapi::ErrorView)))]
pub async fn read(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let t = stored(&c, &segment(name)?).await?;
        Ok(Reply::ok(view(&t)).etag(t.version))
    })
    .await
}

#[utoipa::path(operation_id = "tenants_update", patch, path = "/admin/v1/tenants/{name}", tag = "tenants", request_body = TenantChange,
    params(("name" = String, Path, description = "Tenant name"),
        ("If-Match" = String, Header, description = "The ETag of the tenant as last read")),
    responses((status = 200, description = "The tenant as changed", body = super::openapi::TenantView,
        headers(("ETag" = String, description = "The tenant's new version"))),
        (status = 412, description = "The tenant changed since it was read", body = super::openapi::ErrorView),
        (status = 428, description = "If-Match is missing", body = super::openapi::ErrorView)))]
pub async fn update(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let name = segment(name)?;
        let change: TenantChange = parse_body(&read_body(h, body).await?)?;
        if change.description.is_none() && change.disabled.is_none() {
            return Err(invalid("send description, disabled, or both"));
        }
        let current = stored(&c, &name).await?;
        let version = if_match(h, current.version)?;
        let now = c.st.clock.now_ms();
        let mut next = current.clone();
        if let Some(d) = change.description {
            check_description(&d)?;
            next.description = d;
        }
        match change.disabled {
            Some(true) if next.disabled_ms.is_none() => next.disabled_ms = Some(now),
            Some(false) => next.disabled_ms = None,
            _ => {}
        }
        next.updated_ms = now;
        next.version = version + 1;
        let (before, after) = (view(&current), view(&next));
        let act = Act {
            action: match (current.disabled_ms, next.disabled_ms) {
                (None, Some(_)) => "tenants.disable",
                (Some(_), None) => "tenants.enable",
                _ => "tenants.update",
            },
            object: format!("tenant:{name}"),
            tenant: name.clone(),
            before: Some(&before),
            after: Some(&after),
        };
        record_act(&c, &act).await?;
        match c.st.stores.admin.put_tenant(next, Some(version)).await {
            Ok(t) => {
                // This process applies it now; the others on their next look at the controls.
                if let Err(e) = c.st.controls.refresh(&c.st).await {
                    tracing::warn!(error = %e, "the controls could not be read again after a tenant change");
                }
                Ok(Reply::ok(view(&t)).etag(t.version))
            }
            Err(e) => Err(record_failure(&c, &act, store_failure(e, &name)).await),
        }
    })
    .await
}
