//! JWT bearer tokens from the trusted issuers of `[[identity.oidc]]`: `Authorization: Bearer
//! <jwt>`. The token's issuer picks the rules and keys it must pass (`identity::jwt`); each
//! issuer's key set (JWKS) is fetched from its URL or read from its file at start, again when its
//! refresh interval has passed, and at once when a token names a key the set does not have (at
//! most once every [`UNKNOWN_KID_REFRESH`], one fetch at a time). Keys that cannot be fetched
//! are not trusted yet: tokens of that issuer are refused (`identity_unavailable`) until they
//! can be, and `/ready` says so. A set fetched once stays in use while a later fetch fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use portcullis_clock::Clock;
use portcullis_control::{Config, JwksSource, OidcIssuer};
use portcullis_identity::jwt::{self, ClaimNames, IssuerRules, TokenError, Verified};
use portcullis_identity::{AuthMethod, Principal};
use portcullis_protocol::ErrorCode;
use serde_json::json;

use super::Authenticator;
use crate::respond::Failure;

/// The shortest time between two fetches a token with an unknown key id may cause.
pub const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(10);
/// Largest key set accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One issuer: its rules, where its keys are, and the keys as last fetched.
struct Issuer {
    rules: IssuerRules,
    source: JwksSource,
    refresh_every: Duration,
    default_role: Option<String>,
    keys: RwLock<Option<Arc<jwt::Keys>>>,
    state: Mutex<FetchState>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct FetchState {
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
    error: Option<String>,
}

/// The token authenticator, and what `/ready` and the RFC 9728 metadata need to know.
pub struct Tokens {
    issuers: Vec<Issuer>,
    /// The roles the gateway defines: a token's role must be one of them.
    roles: Vec<String>,
    clock: Arc<dyn Clock>,
    client: Option<reqwest::Client>,
    /// `resource_metadata` for `WWW-Authenticate` challenges.
    metadata_url: Option<String>,
}

/// The RFC 9728 metadata URL of `resource`: the well-known path between its host and path.
pub fn metadata_url(resource: &str) -> Option<String> {
    let (scheme, rest) = resource.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.trim_end_matches('/');
    Some(format!(
        "{scheme}://{authority}/.well-known/oauth-protected-resource{path}"
    ))
}

fn rules(o: &OidcIssuer) -> IssuerRules {
    IssuerRules {
        issuer: o.issuer.clone(),
        audiences: o.audiences.clone(),
        algorithms: o
            .algorithms
            .iter()
            .filter_map(|a| jwt::algorithm(a))
            .collect(),
        required_scopes: o.required_scopes.clone(),
        claims: ClaimNames {
            tenant: o.tenant_claim.clone(),
            agent: o.agent_claim.clone(),
            roles: o.roles_claim.clone(),
        },
        fixed_tenant: o.tenant.clone(),
        skew_s: o.clock_skew.as_secs() as i64,
        max_token_bytes: o.max_token_bytes,
    }
}

/// The client that fetches key sets: no redirects, a short timeout, rustls with the ring
/// provider (installed as the process default if none is).
fn http_client() -> Option<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| tracing::error!(error = %e, "no HTTP client for fetching token keys"))
        .ok()
}

impl Tokens {
    /// The token authenticator of `config`, if it trusts any issuer.
    pub fn from_config(config: &Config, clock: Arc<dyn Clock>) -> Option<Tokens> {
        if config.identity.oidc.is_empty() {
            return None;
        }
        let issuers = config
            .identity
            .oidc
            .iter()
            .map(|o| Issuer {
                rules: rules(o),
                source: o.jwks.clone(),
                refresh_every: o.jwks_refresh,
                default_role: o.default_role.clone(),
                keys: RwLock::new(None),
                state: Mutex::new(FetchState::default()),
                fetching: tokio::sync::Mutex::new(()),
            })
            .collect();
        let fetches = config
            .identity
            .oidc
            .iter()
            .any(|o| matches!(o.jwks, JwksSource::Url(_)));
        let client = fetches.then(http_client).flatten();
        let mut roles: Vec<String> = config.policy.roles.keys().cloned().collect();
        roles.sort();
        Some(Tokens {
            issuers,
            roles,
            clock,
            client,
            metadata_url: config.identity.resource.as_deref().and_then(metadata_url),
        })
    }

    /// Fetch every issuer's keys (at start; failures are logged and reported by `/ready`).
    pub async fn load_all(&self) {
        for i in &self.issuers {
            if let Err(e) = self.fetch(i, true).await {
                tracing::warn!(issuer = %i.rules.issuer, error = %e, "token keys could not be fetched");
            }
        }
    }

    /// Issuers whose keys are not there (never fetched), with the last error: for `/ready`.
    pub fn unavailable(&self) -> Vec<serde_json::Value> {
        self.issuers
            .iter()
            .filter(|i| i.keys.read().unwrap_or_else(|p| p.into_inner()).is_none())
            .map(|i| {
                let st = i.state.lock().unwrap_or_else(|p| p.into_inner());
                json!({"issuer": i.rules.issuer, "error": st.error.clone().unwrap_or_else(|| "not fetched yet".into())})
            })
            .collect()
    }

    pub fn metadata_url(&self) -> Option<&str> {
        self.metadata_url.as_deref()
    }

    /// The issuers, and the scopes any of them requires: the RFC 9728 metadata's.
    pub fn servers_and_scopes(&self) -> (Vec<String>, Vec<String>) {
        let servers = self
            .issuers
            .iter()
            .map(|i| i.rules.issuer.clone())
            .collect();
        let mut scopes: Vec<String> = self
            .issuers
            .iter()
            .flat_map(|i| i.rules.required_scopes.iter().cloned())
            .collect();
        scopes.sort();
        scopes.dedup();
        (servers, scopes)
    }

    async fn read_source(&self, source: &JwksSource) -> Result<Vec<u8>, String> {
        match source {
            JwksSource::File(p) => tokio::fs::read(p)
                .await
                .map_err(|e| format!("reading {}: {e}", p.display())),
            JwksSource::Url(u) => {
                let client = self.client.as_ref().ok_or("no HTTP client")?;
                let mut resp = client.get(u).send().await.map_err(|e| e.to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("{u} answered {}", resp.status()));
                }
                // Read at most the cap, whatever Content-Length says (or whether it says).
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
                    if body.len() + chunk.len() > MAX_JWKS_BYTES {
                        return Err(format!("{u} sent more than {MAX_JWKS_BYTES} bytes"));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            }
        }
    }

    /// Fetch `i`'s keys now (`force`), or only if the last try is older than
    /// [`UNKNOWN_KID_REFRESH`]; one fetch at a time per issuer.
    async fn fetch(&self, i: &Issuer, force: bool) -> Result<(), String> {
        let _one = i.fetching.lock().await;
        let now = self.clock.instant();
        {
            let st = i.state.lock().unwrap_or_else(|p| p.into_inner());
            let recent = st
                .tried_at
                .is_some_and(|t| now.saturating_duration_since(t) < UNKNOWN_KID_REFRESH);
            if !force && recent {
                return Ok(());
            }
        }
        let result = self.read_source(&i.source).await.and_then(|bytes| {
            if bytes.len() > MAX_JWKS_BYTES {
                return Err(format!("the key set is larger than {MAX_JWKS_BYTES} bytes"));
            }
            serde_json::from_slice::<JwkSet>(&bytes).map_err(|e| format!("not a JWK set: {e}"))
        });
        let mut st = i.state.lock().unwrap_or_else(|p| p.into_inner());
        st.tried_at = Some(now);
        match result {
            Ok(set) => {
                *i.keys.write().unwrap_or_else(|p| p.into_inner()) =
                    Some(Arc::new(jwt::Keys::from(set)));
                st.fetched_at = Some(now);
                st.error = None;
                Ok(())
            }
            Err(e) => {
                st.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// `i`'s keys, fetched again first if they are older than its refresh interval.
    async fn keys(&self, i: &Issuer) -> Option<Arc<jwt::Keys>> {
        let stale = {
            let st = i.state.lock().unwrap_or_else(|p| p.into_inner());
            st.fetched_at.is_none_or(|t| {
                self.clock.instant().saturating_duration_since(t) >= i.refresh_every
            })
        };
        if stale && let Err(e) = self.fetch(i, false).await {
            tracing::warn!(issuer = %i.rules.issuer, error = %e, "token keys could not be fetched again");
        }
        i.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn bearer<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>, Failure> {
        Ok(super::bearer(headers)?.filter(|t| jwt::looks_like_jwt(t)))
    }

    /// A refusal with the RFC 6750 / RFC 9728 challenge.
    fn refuse(&self, code: ErrorCode, reason: String, error: &str) -> Failure {
        let mut challenge = format!("Bearer error=\"{error}\"");
        if let Some(url) = &self.metadata_url {
            challenge.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        let mut f = Failure::new(code, reason);
        f.challenge = Some(challenge);
        f
    }

    fn principal(&self, i: &Issuer, v: Verified) -> Result<Principal, Failure> {
        let role = v
            .roles
            .iter()
            .find(|r| self.roles.binary_search(r).is_ok())
            .cloned()
            .or_else(|| i.default_role.clone())
            .ok_or_else(|| {
                self.refuse(
                    ErrorCode::InvalidCredentials,
                    format!(
                        "the token names no role this gateway defines (claim '{}')",
                        i.rules.claims.roles
                    ),
                    "invalid_token",
                )
            })?;
        let mut evidence = BTreeMap::new();
        evidence.insert("issuer".to_string(), v.issuer.clone());
        evidence.insert("subject".to_string(), v.subject.clone());
        if let Some(id) = &v.token_id {
            evidence.insert("token_id".to_string(), id.clone());
        }
        if !v.scopes.is_empty() {
            evidence.insert("scopes".to_string(), v.scopes.join(" "));
        }
        Ok(Principal {
            tenant: v.tenant,
            agent: v.agent,
            role,
            credential_id: format!("oidc:{}#{}", v.issuer, v.subject),
            auth_method: AuthMethod::Oidc,
            evidence: Some(Arc::new(evidence)),
        })
    }

    /// The verified claims of the request's bearer token, for the admin API (which maps its
    /// roles to admin roles itself).
    pub async fn verified(&self, headers: &HeaderMap, now_ms: i64) -> Result<Verified, Failure> {
        self.verify_bearer(headers, now_ms).await.map(|(_, v)| v)
    }

    /// Verify the request's bearer token against the trusted issuers: its issuer and claims.
    async fn verify_bearer(
        &self,
        headers: &HeaderMap,
        now_ms: i64,
    ) -> Result<(&Issuer, Verified), Failure> {
        let Some(token) = self.bearer(headers)? else {
            return Err(self.refuse(
                ErrorCode::InvalidCredentials,
                "the bearer token is not a JWT".into(),
                "invalid_token",
            ));
        };
        let max = self
            .issuers
            .iter()
            .map(|i| i.rules.max_token_bytes)
            .max()
            .unwrap_or(8192);
        let claimed = jwt::claimed_issuer(token, max).map_err(|e| self.refusal(e))?;
        let Some(issuer) = self.issuers.iter().find(|i| i.rules.issuer == claimed) else {
            return Err(self.refusal(TokenError::UnknownIssuer));
        };
        let unavailable = || {
            Failure::new(
                ErrorCode::IdentityUnavailable,
                "the keys of the token's issuer could not be fetched, so the token cannot be checked",
            )
        };
        let now_s = now_ms.div_euclid(1000);
        let keys = self.keys(issuer).await.ok_or_else(unavailable)?;
        match jwt::verify(&issuer.rules, &keys, token, now_s) {
            Err(TokenError::UnknownKey(_)) => {
                // The issuer may have rotated its keys: fetch them again (rate-limited).
                if let Err(e) = self.fetch(issuer, false).await {
                    tracing::warn!(issuer = %issuer.rules.issuer, error = %e, "token keys could not be fetched again");
                }
                let keys = self.keys(issuer).await.ok_or_else(unavailable)?;
                jwt::verify(&issuer.rules, &keys, token, now_s)
            }
            other => other,
        }
        .map_err(|e| self.refusal(e))
        .map(|v| (issuer, v))
    }

    fn refusal(&self, e: TokenError) -> Failure {
        match e {
            TokenError::Expired => {
                self.refuse(ErrorCode::CredentialExpired, e.to_string(), "invalid_token")
            }
            TokenError::MissingScopes(ref missing) => {
                let scope = missing.join(" ");
                let mut f = self.refuse(
                    ErrorCode::InsufficientScope,
                    e.to_string(),
                    "insufficient_scope",
                );
                if let Some(c) = &mut f.challenge {
                    c.push_str(&format!(", scope=\"{scope}\""));
                }
                f.with("scope", json!(scope))
            }
            other => self.refuse(
                ErrorCode::InvalidCredentials,
                other.to_string(),
                "invalid_token",
            ),
        }
    }
}

#[async_trait]
impl Authenticator for Tokens {
    fn method(&self) -> AuthMethod {
        AuthMethod::Oidc
    }

    fn presented(&self, headers: &HeaderMap) -> Result<usize, Failure> {
        Ok(usize::from(self.bearer(headers)?.is_some()))
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
        _line: &str,
        now_ms: i64,
    ) -> Result<Principal, Failure> {
        let (issuer, verified) = self.verify_bearer(headers, now_ms).await?;
        self.principal(issuer, verified)
    }
}

#[cfg(test)]
mod tests;
