//! API keys: `Authorization: Bearer pcl_…` or `X-MCP-KEY: pcl_…`. Keys are looked up in the key
//! store on every request, so expiry and revocation take effect at once, across every process
//! sharing the store. A store failure denies (fail closed).

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use portcullis_identity::apikey::ADMIN_PREFIX;
use portcullis_identity::{AuthMethod, KeyStatus, ParsedKey, Principal};
use portcullis_protocol::ErrorCode;
use portcullis_store::KeyStore;

use super::Authenticator;
use crate::ingress::single;
use crate::respond::Failure;

pub const API_KEY_HEADER: &str = "x-mcp-key";
const KEY_PREFIX: &str = "pcl_";

pub struct ApiKeys {
    keys: Arc<dyn KeyStore>,
}

impl ApiKeys {
    pub fn new(keys: Arc<dyn KeyStore>) -> ApiKeys {
        ApiKeys { keys }
    }
}

fn malformed() -> Failure {
    Failure::new(
        ErrorCode::InvalidCredentials,
        "the credentials header is malformed",
    )
}

fn invalid() -> Failure {
    Failure::new(ErrorCode::InvalidCredentials, "the API key is not valid")
}

/// The key in `Authorization: Bearer pcl_…` (or an admin key, `pca_…`, to be refused as
/// one), if that is what the header holds.
fn bearer_key(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    Ok(
        super::bearer(headers)?
            .filter(|t| t.starts_with(KEY_PREFIX) || t.starts_with(ADMIN_PREFIX)),
    )
}

/// The key in `X-MCP-KEY`, if present.
fn header_key(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    match single(headers, API_KEY_HEADER)? {
        None => Ok(None),
        Some(v) => Ok(Some(v.to_str().map_err(|_| malformed())?.trim())),
    }
}

#[async_trait]
impl Authenticator for ApiKeys {
    fn method(&self) -> AuthMethod {
        AuthMethod::ApiKey
    }

    fn presented(&self, headers: &HeaderMap) -> Result<usize, Failure> {
        Ok(usize::from(bearer_key(headers)?.is_some())
            + usize::from(header_key(headers)?.is_some()))
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
        _line: &str,
        now_ms: i64,
    ) -> Result<Principal, Failure> {
        let token = match (bearer_key(headers)?, header_key(headers)?) {
            (Some(t), None) | (None, Some(t)) => t,
            _ => return Err(malformed()),
        };
        if token.starts_with(ADMIN_PREFIX) {
            return Err(Failure::new(
                ErrorCode::InvalidCredentials,
                "this is an admin key: admin keys are accepted only on the admin API, never on the MCP endpoint",
            ));
        }
        let parsed = ParsedKey::parse(token).map_err(|_| invalid())?;
        let record = self
            .keys
            .find_key(&parsed.id)
            .await
            .map_err(|e| {
                Failure::new(ErrorCode::AuditUnavailable, "the key store is unavailable")
                    .caused_by(e)
            })?
            .ok_or_else(invalid)?;
        match record.check(&parsed, now_ms) {
            KeyStatus::Valid => Ok(Principal {
                tenant: record.tenant,
                agent: record.agent,
                role: record.role,
                credential_id: record.id,
                auth_method: AuthMethod::ApiKey,
                evidence: None,
            }),
            KeyStatus::Mismatch => Err(invalid()),
            KeyStatus::Expired => Err(Failure::new(
                ErrorCode::CredentialExpired,
                "the API key has expired",
            )),
            KeyStatus::Revoked => Err(Failure::new(
                ErrorCode::CredentialRevoked,
                "the API key was revoked",
            )),
            KeyStatus::TenantDisabled => Err(Failure::new(
                ErrorCode::TenantDisabled,
                format!("the key's tenant '{}' is disabled", record.tenant),
            )),
        }
    }
}
