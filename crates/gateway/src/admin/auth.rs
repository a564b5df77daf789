//! Admin authentication: `Authorization: Bearer pca_…`, an admin key looked up in the admin
//! store on every request (so revocation is at once, in every process sharing the store).
//! Agent keys are refused here, as admin keys are on `/mcp`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_identity::apikey::ADMIN_PREFIX;
use portcullis_identity::{AdminRole, KeyStatus, ParsedKey};
use portcullis_protocol::ErrorCode;
use serde_json::json;

use super::{Call, Reply, answer, unavailable};
use crate::identity::API_KEY_HEADER;
use crate::respond::Failure;
use crate::state::AppState;

/// The administrator behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The admin key's id, or `oidc:<issuer>#<subject>` for a token.
    pub key_id: String,
    /// `admin_key` or `oidc`.
    pub auth_method: &'static str,
    pub name: String,
    pub role: AdminRole,
    /// An auditor key limited to one tenant's records.
    pub tenant: Option<String>,
}

impl Admin {
    /// What the ledger names as the actor of this admin's acts.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.key_id)
    }

    pub fn require(&self, needed: AdminRole) -> Result<(), Failure> {
        if self.role.includes(needed) {
            return Ok(());
        }
        Err(Failure::new(
            ErrorCode::AdminRoleInsufficient,
            format!(
                "this needs the '{}' role; this admin key has '{}'",
                needed.as_str(),
                self.role.as_str()
            ),
        ))
    }

    /// The tenant a ledger read is limited to: the key's own, if it has one (asking for
    /// another is refused), else the one asked for, if any.
    pub fn tenant_scope(&self, asked: Option<String>) -> Result<Option<String>, Failure> {
        match (&self.tenant, asked) {
            (None, asked) => Ok(asked),
            (Some(own), None) => Ok(Some(own.clone())),
            (Some(own), Some(a)) if *own == a => Ok(Some(a)),
            (Some(own), Some(a)) => Err(Failure::new(
                ErrorCode::AdminRoleInsufficient,
                format!("this admin key reads tenant '{own}' only, not '{a}'"),
            )),
        }
    }
}

fn invalid(reason: &str) -> Failure {
    Failure::new(ErrorCode::InvalidCredentials, reason.to_string())
}

pub async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Admin, Failure> {
    crate::ingress::check_host(headers, &st.config.server.allowed_hosts)?;
    let agent_key = "agent keys are not accepted on the admin API: send an admin key (portcullis admin keys create)";
    let Some(token) = crate::identity::bearer(headers)? else {
        if headers.contains_key(API_KEY_HEADER) {
            return Err(invalid(agent_key));
        }
        return Err(Failure::new(
            ErrorCode::MissingCredentials,
            "the admin API needs an admin key as 'Authorization: Bearer pca_…'",
        ));
    };
    if portcullis_identity::jwt::looks_like_jwt(token) && !st.config.admin.token_roles.is_empty() {
        return by_token(st, headers).await;
    }
    if !token.starts_with(ADMIN_PREFIX) {
        return Err(invalid(if token.starts_with("pcl_") {
            agent_key
        } else {
            "the admin API accepts admin keys only (pca_…)"
        }));
    }
    let parsed =
        ParsedKey::parse_admin(token).map_err(|_| invalid("the admin key is not valid"))?;
    let record = st
        .stores
        .admin
        .find_admin_key(&parsed.id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| invalid("the admin key is not valid"))?;
    match record.check(&parsed, st.clock.now_ms()) {
        KeyStatus::Valid => Ok(Admin {
            key_id: record.id,
            auth_method: "admin_key",
            name: record.name,
            role: record.role,
            tenant: record.tenant,
        }),
        KeyStatus::Expired => Err(Failure::new(
            ErrorCode::CredentialExpired,
            "the admin key has expired",
        )),
        KeyStatus::Revoked => Err(Failure::new(
            ErrorCode::CredentialRevoked,
            "the admin key was revoked",
        )),
        KeyStatus::Mismatch | KeyStatus::TenantDisabled => {
            Err(invalid("the admin key is not valid"))
        }
    }
}

/// An administrator by a trusted issuer's token: the highest admin role whose configured claim
/// values (`[admin] token_roles`) the token's roles claim holds. A valid token with none of them
/// is refused (`admin_role_insufficient`).
async fn by_token(st: &AppState, headers: &HeaderMap) -> Result<Admin, Failure> {
    let tokens = st
        .tokens
        .as_ref()
        .ok_or_else(|| invalid("no token issuer is trusted"))?;
    let v = tokens.verified(headers, st.clock.now_ms()).await?;
    let role = st
        .config
        .admin
        .token_roles
        .iter()
        .filter(|(_, value)| v.roles.contains(value))
        .filter_map(|(role, _)| AdminRole::parse(role))
        .max()
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::AdminRoleInsufficient,
                "the token is valid but carries no admin role ([admin] token_roles)",
            )
        })?;
    Ok(Admin {
        key_id: format!("oidc:{}#{}", v.issuer, v.subject),
        auth_method: "oidc",
        name: v.subject,
        role,
        tenant: None,
    })
}

/// Who the admin key is.
#[utoipa::path(operation_id = "whoami", get, path = "/admin/v1/whoami", tag = "admin",
    responses((status = 200, description = "The admin key's holder, role and tenant limit", body = super::openapi::WhoAmI)))]
pub async fn whoami(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Auditor, |c: Call| async move {
        Ok(Reply::ok(json!({
            "keyId": c.admin.key_id,
            "authMethod": c.admin.auth_method,
            "name": c.admin.name,
            "role": c.admin.role.as_str(),
            "tenant": c.admin.tenant,
        })))
    })
    .await
}
