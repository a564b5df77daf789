//! Identity stage: turn the request's credentials into a `Principal`, or refuse with 401.
//! Keys are looked up in the store on every request, so expiry and revocation take effect at
//! once, across every process sharing the store.

use axum::http::{HeaderMap, header};
use portcullis_identity::{KeyStatus, ParsedKey, Principal};
use portcullis_protocol::ErrorCode;
use portcullis_store::KeyStore;

use crate::respond::Failure;

pub const API_KEY_HEADER: &str = "x-mcp-key";

/// The presented token: `Authorization: Bearer <key>` or `X-MCP-KEY: <key>` (not both).
pub fn presented_token(headers: &HeaderMap) -> Result<&str, Failure> {
    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.to_str().map_err(|_| malformed())?;
            let (scheme, token) = v.split_once(' ').ok_or_else(malformed)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(Failure::new(
                    ErrorCode::InvalidCredentials,
                    "the Authorization scheme must be Bearer",
                ));
            }
            Some(token.trim())
        }
    };
    let key = match headers.get(API_KEY_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| malformed())?.trim()),
    };
    match (bearer, key) {
        (Some(_), Some(_)) => Err(Failure::new(
            ErrorCode::InvalidCredentials,
            "send the key in Authorization or X-MCP-KEY, not both",
        )),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(Failure::new(
            ErrorCode::MissingCredentials,
            "no credentials were sent",
        )),
    }
}

fn malformed() -> Failure {
    Failure::new(
        ErrorCode::InvalidCredentials,
        "the credentials header is malformed",
    )
}

/// Authenticate against the store at `now_ms`. A store failure denies (fail closed).
pub async fn authenticate(
    headers: &HeaderMap,
    store: &dyn KeyStore,
    now_ms: i64,
) -> Result<Principal, Failure> {
    let token = presented_token(headers)?;
    let parsed = ParsedKey::parse(token)
        .map_err(|_| Failure::new(ErrorCode::InvalidCredentials, "the API key is not valid"))?;
    let record = store
        .find_key(&parsed.id)
        .await
        .map_err(|e| {
            Failure::new(
                ErrorCode::AuditUnavailable,
                format!("the key store is unavailable: {e}"),
            )
        })?
        .ok_or_else(|| Failure::new(ErrorCode::InvalidCredentials, "the API key is not valid"))?;
    match record.check(&parsed, now_ms) {
        KeyStatus::Valid => Ok(Principal {
            tenant: record.tenant,
            agent: record.agent,
            role: record.role,
            credential_id: record.id,
        }),
        KeyStatus::Mismatch => Err(Failure::new(
            ErrorCode::InvalidCredentials,
            "the API key is not valid",
        )),
        KeyStatus::Expired => Err(Failure::new(
            ErrorCode::CredentialExpired,
            "the API key has expired",
        )),
        KeyStatus::Revoked => Err(Failure::new(
            ErrorCode::CredentialRevoked,
            "the API key was revoked",
        )),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn tokens_are_read_from_either_header() {
        assert_eq!(
            presented_token(&h(&[("authorization", "Bearer abc")])).unwrap(),
            "abc"
        );
        assert_eq!(
            presented_token(&h(&[("authorization", "bearer  abc ")])).unwrap(),
            "abc"
        );
        assert_eq!(presented_token(&h(&[("x-mcp-key", "abc")])).unwrap(), "abc");
    }

    #[test]
    fn missing_malformed_and_ambiguous_credentials_are_refused() {
        assert_eq!(
            presented_token(&HeaderMap::new()).unwrap_err().code,
            ErrorCode::MissingCredentials
        );
        for bad in [
            h(&[("authorization", "Basic abc")]),
            h(&[("authorization", "Bearer")]),
            h(&[("authorization", "Bearer a"), ("x-mcp-key", "b")]),
        ] {
            assert_eq!(
                presented_token(&bad).unwrap_err().code,
                ErrorCode::InvalidCredentials
            );
        }
    }
}
