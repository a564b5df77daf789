//! Signed actor requests: the `x-actor-*` headers, checked against the keys of
//! `[[identity.actors]]` (`identity::actor` has the canonical string). A request is admitted
//! when every header is there once and well-formed, its timestamp is within `actor_skew` of the
//! gateway's clock, its key id names a key valid at this time that may sign for its actor, the
//! signature over the canonical string verifies, and the signature was not seen before within
//! the window (`replayed_request`; reservations in the replay store, so a replay is refused by
//! every process sharing it). The body hash the signature covers is compared with the body
//! once it is read (`check_body`); a request without a body must sign the empty body's hash.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::http::HeaderMap;
use globset::{Glob, GlobMatcher};
use portcullis_control::{ActorAlgorithm, ActorKey, ActorKeyMaterial, Config};
use portcullis_identity::actor::{self, HEADERS, Verifier};
use portcullis_identity::{AuthMethod, Principal};
use portcullis_protocol::ErrorCode;
use portcullis_store::{ReplayStore, Reservation};
use serde_json::json;

use super::Authenticator;
use crate::ingress::single;
use crate::respond::Failure;

/// Shortest HMAC secret accepted.
const MIN_SECRET_BYTES: usize = 32;
/// Longest actor id.
const MAX_ACTOR: usize = 128;

struct Key {
    cfg: ActorKey,
    matchers: Vec<GlobMatcher>,
    /// Set at construction for a public key, when the secret is resolved for HMAC.
    verifier: OnceLock<Verifier>,
}

/// The signed-request authenticator.
pub struct SignedActors {
    keys: Vec<Key>,
    skew_s: i64,
    replay: Arc<dyn ReplayStore>,
}

fn bad(reason: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidCredentials, reason)
}

/// An actor id: 1-128 characters of A-Z a-z 0-9 and `_ - . @ :`.
fn actor_ok(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= MAX_ACTOR
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b':'))
}

impl SignedActors {
    /// The authenticator of `config`'s actor keys, if it has any.
    pub fn from_config(config: &Config, replay: Arc<dyn ReplayStore>) -> Option<SignedActors> {
        let id = &config.identity;
        if id.actors.is_empty() {
            return None;
        }
        let keys = id
            .actors
            .iter()
            .map(|k| {
                let verifier = OnceLock::new();
                if let ActorKeyMaterial::PublicKey(pk) = &k.material {
                    let _ = verifier.set(Verifier::Ed25519(*pk));
                }
                Key {
                    cfg: k.clone(),
                    matchers: k
                        .actors
                        .iter()
                        .filter_map(|g| Glob::new(g).ok().map(|g| g.compile_matcher()))
                        .collect(),
                    verifier,
                }
            })
            .collect();
        Some(SignedActors {
            keys,
            skew_s: id.actor_skew.as_secs() as i64,
            replay,
        })
    }

    /// Read the HMAC keys' secrets (at start): a secret that cannot be read, or is shorter
    /// than 32 bytes, stops the start.
    pub fn resolve_secrets(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        for k in &self.keys {
            if let ActorKeyMaterial::Secret(r) = &k.cfg.material {
                let secret = r
                    .resolve(env)
                    .map_err(|e| format!("identity.actors '{}': {e}", k.cfg.kid))?;
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(format!(
                        "identity.actors '{}': the secret must be at least {MIN_SECRET_BYTES} bytes",
                        k.cfg.kid
                    ));
                }
                let _ = k.verifier.set(Verifier::Hmac(secret.into_bytes()));
            }
        }
        Ok(())
    }

    fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Failure> {
        let v = single(headers, name)?.ok_or_else(|| {
            bad(format!(
                "a signed request needs all of {}; '{name}' is missing",
                HEADERS.join(", ")
            ))
        })?;
        v.to_str()
            .map(str::trim)
            .map_err(|_| bad(format!("'{name}' must be visible ASCII")))
    }
}

/// After the body is read: the body must be the one whose hash was signed.
pub fn check_body(principal: &Principal, headers: &HeaderMap, body: &[u8]) -> Result<(), Failure> {
    if principal.auth_method != AuthMethod::SignedActor {
        return Ok(());
    }
    let signed = headers
        .get(actor::BODY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if signed.eq_ignore_ascii_case(&actor::body_hash(body)) {
        Ok(())
    } else {
        Err(bad(
            "the body is not the one that was signed (x-actor-content-sha256)",
        ))
    }
}

#[async_trait]
impl Authenticator for SignedActors {
    fn method(&self) -> AuthMethod {
        AuthMethod::SignedActor
    }

    fn presented(&self, headers: &HeaderMap) -> Result<usize, Failure> {
        let mut any = false;
        for h in HEADERS {
            any |= single(headers, h)?.is_some();
        }
        Ok(usize::from(any))
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
        line: &str,
        now_ms: i64,
    ) -> Result<Principal, Failure> {
        let actor = Self::header(headers, actor::ACTOR_HEADER)?;
        let ts = Self::header(headers, actor::TS_HEADER)?;
        let kid = Self::header(headers, actor::KID_HEADER)?;
        let sig = Self::header(headers, actor::SIG_HEADER)?;
        let body = Self::header(headers, actor::BODY_HEADER)?.to_ascii_lowercase();
        if !actor_ok(actor) {
            return Err(bad(
                "x-actor-id must be 1-128 characters of A-Z a-z 0-9 _ - . @ :",
            ));
        }
        let ts: i64 = ts
            .parse()
            .map_err(|_| bad("x-actor-ts must be a Unix time in whole seconds"))?;
        let now_s = now_ms.div_euclid(1000);
        if (now_s - ts).abs() > self.skew_s {
            return Err(bad(format!(
                "x-actor-ts is {} s from the gateway's clock; at most {} s are allowed",
                now_s - ts,
                self.skew_s
            )));
        }
        if body.len() != 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("x-actor-content-sha256 must be 64 hex digits"));
        }
        let (method, path) = line.split_once(' ').unwrap_or((line, ""));
        if method != "POST" && body != actor::body_hash(b"") {
            return Err(bad(
                "a request without a body signs the SHA-256 of the empty body",
            ));
        }
        let key = self.keys.iter().find(|k| k.cfg.kid == kid).ok_or_else(|| {
            bad(format!(
                "no actor key has the id '{}'",
                kid.escape_default()
            ))
        })?;
        if key.cfg.not_before_ms.is_some_and(|t| now_ms < t) {
            return Err(bad(format!("the actor key '{kid}' is not valid yet")));
        }
        if key.cfg.not_after_ms.is_some_and(|t| now_ms > t) {
            return Err(Failure::new(
                ErrorCode::CredentialExpired,
                format!("the actor key '{kid}' has expired"),
            ));
        }
        let verifier = key.verifier.get().ok_or_else(|| {
            Failure::new(
                ErrorCode::IdentityUnavailable,
                format!("the secret of the actor key '{kid}' was not read"),
            )
        })?;
        let message = actor::canonical(method, path, actor, ts, kid, &body);
        if !verifier.verify(&message, sig) {
            return Err(bad("the signature is not valid"));
        }
        if !key.matchers.iter().any(|m| m.is_match(actor)) {
            return Err(bad(format!(
                "the actor key '{kid}' may not sign for '{actor}'"
            )));
        }
        // Held until the timestamp leaves the window: the same signature is refused till then.
        let until_ms = (ts + self.skew_s).saturating_mul(1000).saturating_add(999);
        let seen = self
            .replay
            .reserve(
                &json!(["actor-signature", kid, sig]).to_string(),
                "",
                until_ms,
                now_ms,
            )
            .await
            .map_err(|e| {
                Failure::new(
                    ErrorCode::IdentityUnavailable,
                    "signatures cannot be checked for replay now",
                )
                .caused_by(e)
            })?;
        if seen != Reservation::Reserved {
            return Err(Failure::new(
                ErrorCode::ReplayedRequest,
                "this signature was used before",
            ));
        }
        let mut evidence = BTreeMap::new();
        evidence.insert("key_id".to_string(), kid.to_string());
        evidence.insert(
            "algorithm".to_string(),
            match key.cfg.algorithm {
                ActorAlgorithm::HmacSha256 => "hmac-sha256",
                ActorAlgorithm::Ed25519 => "ed25519",
            }
            .to_string(),
        );
        evidence.insert("signed_at".to_string(), ts.to_string());
        evidence.insert("body_sha256".to_string(), body.clone());
        Ok(Principal {
            tenant: key.cfg.tenant.clone(),
            agent: actor.to_string(),
            role: key.cfg.role.clone(),
            credential_id: format!("actor:{actor}@{kid}"),
            auth_method: AuthMethod::SignedActor,
            evidence: Some(Arc::new(evidence)),
        })
    }
}

#[cfg(test)]
mod tests;
