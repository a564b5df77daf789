//! Identity: turn a request's credentials into a [`Principal`], or refuse with 401. Each kind of
//! credential is an [`Authenticator`]; the [`Identity`] chain asks each how many credentials of
//! its kind the request presents. Exactly one credential may claim a request: none is
//! `missing_credentials`, several (of one kind or of different kinds) `ambiguous_credentials`.
//! `/mcp`, `/api/*` and the ledger API all use the same chain.

mod apikey;
pub mod mtls;
pub mod oidc;
pub mod signed;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, header};
use portcullis_identity::{AuthMethod, Principal};
use portcullis_protocol::ErrorCode;
use portcullis_store::KeyStore;

use crate::ingress::single;
use crate::respond::Failure;

pub use apikey::{API_KEY_HEADER, ApiKeys};
pub use mtls::CertActors;
pub use oidc::Tokens;
pub use signed::SignedActors;

/// One kind of credential.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    fn method(&self) -> AuthMethod;
    /// How many credentials of this kind the request presents (reading headers only). A
    /// malformed or repeated header of this kind is an error.
    fn presented(&self, headers: &HeaderMap) -> Result<usize, Failure>;
    /// Authenticate a request that presents exactly one credential of this kind; `line` is
    /// its method and path (`POST /mcp`), which signed requests cover.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        line: &str,
        now_ms: i64,
    ) -> Result<Principal, Failure>;
}

/// The authenticators, in order; or, under the loopback-only conformance profile, one fixed
/// principal for every request.
pub enum Identity {
    Chain(Vec<Arc<dyn Authenticator>>),
    Unauthenticated(Principal),
}

impl Identity {
    /// The chain of the credential kinds the config accepts: API keys (unless
    /// `identity.api_keys = false`), the tokens of its trusted issuers, and requests signed
    /// with its actor keys.
    pub fn standard(
        keys: Arc<dyn KeyStore>,
        api_keys: bool,
        tokens: Option<Arc<Tokens>>,
        actors: Option<Arc<SignedActors>>,
    ) -> Identity {
        let mut chain: Vec<Arc<dyn Authenticator>> = Vec::new();
        if api_keys {
            chain.push(Arc::new(ApiKeys::new(keys)));
        }
        if let Some(t) = tokens {
            chain.push(t);
        }
        if let Some(a) = actors {
            chain.push(a);
        }
        Identity::Chain(chain)
    }

    /// The credential kinds accepted, for `/api/status`.
    pub fn methods(&self) -> Vec<&'static str> {
        match self {
            Identity::Chain(chain) => chain.iter().map(|a| a.method().as_str()).collect(),
            Identity::Unauthenticated(_) => vec![AuthMethod::Unauthenticated.as_str()],
        }
    }

    /// The principal every request acts as under `server.conformance_profile`.
    pub fn conformance() -> Identity {
        Identity::Unauthenticated(Principal {
            tenant: "conformance".into(),
            agent: "conformance-suite".into(),
            role: portcullis_control::config::CONFORMANCE_ROLE.into(),
            credential_id: "conformance".into(),
            auth_method: AuthMethod::Unauthenticated,
            evidence: None,
        })
    }

    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        line: &str,
        now_ms: i64,
    ) -> Result<Principal, Failure> {
        let chain = match self {
            Identity::Unauthenticated(p) => return Ok(p.clone()),
            Identity::Chain(chain) => chain,
        };
        let mut claimant = None;
        let mut count = 0;
        for a in chain {
            let n = a.presented(headers)?;
            if n > 0 {
                claimant = Some(a);
                count += n;
            }
        }
        match (claimant, count) {
            (Some(a), 1) => a.authenticate(headers, line, now_ms).await,
            (Some(_), _) => Err(Failure::new(
                ErrorCode::AmbiguousCredentials,
                "more than one credential was sent; send exactly one",
            )),
            (None, _) => Err(unclaimed(headers)?),
        }
    }
}

/// The token of `Authorization: Bearer <token>` (any case of `Bearer`, trimmed), if that is
/// what the header holds; a repeated or non-ASCII header is refused.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    let Some(v) = single(headers, header::AUTHORIZATION.as_str())? else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| {
        Failure::new(
            ErrorCode::InvalidCredentials,
            "the credentials header is malformed",
        )
    })?;
    Ok(v.split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim()))
}

/// Why a request no authenticator claims is refused: an `Authorization` header nobody accepts
/// is an invalid credential, no credential at all is a missing one.
fn unclaimed(headers: &HeaderMap) -> Result<Failure, Failure> {
    let Some(v) = single(headers, header::AUTHORIZATION.as_str())? else {
        return Ok(Failure::new(
            ErrorCode::MissingCredentials,
            "no credentials were sent",
        ));
    };
    let scheme_is_bearer = v
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    Ok(Failure::new(
        ErrorCode::InvalidCredentials,
        if scheme_is_bearer {
            "the bearer token is not a credential this gateway accepts"
        } else {
            "the Authorization header must be 'Bearer <credential>'"
        },
    ))
}

#[cfg(test)]
mod tests;
