//! JWT bearer tokens from a trusted issuer (OIDC access tokens): the pure checks. Which issuer
//! a token claims is read first (unverified, only to pick the issuer's rules and keys); then the
//! token must pass every rule of that issuer: its header's algorithm on the issuer's allowlist
//! of asymmetric algorithms, a key of the issuer's set with its `kid` (of the algorithm's type,
//! and of that algorithm if the key names one), a valid signature, `iss`, `aud`, `exp`, `nbf`
//! and `iat` against the caller's clock with a small skew, the issuer's required scopes, and
//! claims naming the tenant (unless the issuer has a fixed one) and the agent.
//!
//! Time never comes from here: the caller passes `now_s`, so that tests run on a controlled
//! clock (the library's own expiry checks are turned off).

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// The asymmetric algorithms a token may use (the others never: `none` is not even parsed,
/// and an HMAC algorithm would take a public key for a shared secret).
pub const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Parse an algorithm name of [`ALLOWED`].
pub fn algorithm(name: &str) -> Option<Algorithm> {
    ALLOWED
        .iter()
        .copied()
        .find(|a| format!("{a:?}").eq_ignore_ascii_case(name))
}

/// The claims a principal is built from (their names in the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub tenant: String,
    pub agent: String,
    pub roles: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            tenant: "tenant".into(),
            agent: "sub".into(),
            roles: "roles".into(),
        }
    }
}

/// One trusted issuer's rules.
#[derive(Debug, Clone)]
pub struct IssuerRules {
    pub issuer: String,
    /// Accepted `aud` values: the token's audience must include one.
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    /// Scopes every token must carry (in `scope`, space-separated, or `scp`, a list).
    pub required_scopes: Vec<String>,
    pub claims: ClaimNames,
    /// Every token of this issuer acts in this tenant (its tenant claim is not read).
    pub fixed_tenant: Option<String>,
    /// Allowed clock difference for `exp`, `nbf` and `iat`, in seconds.
    pub skew_s: i64,
    pub max_token_bytes: usize,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub tenant: String,
    pub agent: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub token_id: Option<String>,
    pub expires_s: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("the token's algorithm '{0}' is not allowed")]
    Algorithm(String),
    #[error("the token names no key id (kid)")]
    NoKeyId,
    #[error("the issuer has no key '{0}'")]
    UnknownKey(String),
    #[error("the issuer's key '{0}' does not fit the token's algorithm")]
    KeyMismatch(String),
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token is not for this gateway (audience)")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token lacks the claim '{0}'")]
    MissingClaim(String),
    #[error("the token lacks the scopes: {}", .0.join(" "))]
    MissingScopes(Vec<String>),
}

fn segment(token: &str, i: usize) -> Result<Value, TokenError> {
    let part = token.split('.').nth(i).ok_or(TokenError::Malformed(
        "three parts separated by '.' expected",
    ))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("a part is not JSON"))
}

/// Whether `token` has the form of a JWS compact serialization (three base64url parts), so
/// that the token authenticator, not another, claims it.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The issuer a token claims, unverified: only to pick the rules and keys it must pass.
pub fn claimed_issuer(token: &str, max_bytes: usize) -> Result<String, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge(max_bytes));
    }
    if !looks_like_jwt(token) {
        return Err(TokenError::Malformed("three base64url parts expected"));
    }
    match segment(token, 1)?.get("iss") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(TokenError::MissingClaim("iss".into())),
    }
}

/// Whether the JWK's key type can verify `alg`, and its own `alg`, if it names one, is `alg`.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let type_fits = matches!(
        (&jwk.algorithm, alg),
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256 | Algorithm::PS256
        ) | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
            | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
    );
    let named = jwk.common.key_algorithm.map(|k| match k {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::PS256 => Some(Algorithm::PS256),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    });
    type_fits && named.is_none_or(|n| n == Some(alg))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn claim_str(claims: &Value, name: &str) -> Result<String, TokenError> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(TokenError::MissingClaim(name.to_string())),
    }
}

fn number(claims: &Value, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// An issuer's key set, with each usable key turned into a decoding key once (not on every
/// token).
pub struct Keys {
    set: JwkSet,
    decoding: std::collections::HashMap<String, DecodingKey>,
}

impl From<JwkSet> for Keys {
    fn from(set: JwkSet) -> Keys {
        let decoding = set
            .keys
            .iter()
            .filter_map(|k| {
                let kid = k.common.key_id.clone()?;
                Some((kid, DecodingKey::from_jwk(k).ok()?))
            })
            .collect();
        Keys { set, decoding }
    }
}

impl Keys {
    /// How many keys the set has.
    pub fn len(&self) -> usize {
        self.set.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.keys.is_empty()
    }
}

/// Verify `token` against the issuer's `rules` and `keys` at `now_s` (seconds since the epoch).
pub fn verify(
    rules: &IssuerRules,
    keys: &Keys,
    token: &str,
    now_s: i64,
) -> Result<Verified, TokenError> {
    if token.len() > rules.max_token_bytes {
        return Err(TokenError::TooLarge(rules.max_token_bytes));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| TokenError::Algorithm("unknown".into()))?;
    if !rules.algorithms.contains(&header.alg) {
        return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let kid = header.kid.ok_or(TokenError::NoKeyId)?;
    let jwk = keys
        .set
        .find(&kid)
        .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
    if !fits(jwk, header.alg) {
        return Err(TokenError::KeyMismatch(kid));
    }
    let key = keys
        .decoding
        .get(&kid)
        .ok_or_else(|| TokenError::KeyMismatch(kid.clone()))?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    // Time, issuer and audience are checked below, on the caller's clock and rules.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data =
        jsonwebtoken::decode::<Value>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => {
                TokenError::KeyMismatch(kid.clone())
            }
            _ => TokenError::Malformed("its claims could not be read"),
        })?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(rules.issuer.as_str()) {
        return Err(TokenError::UnknownIssuer);
    }
    let audiences = strings(claims.get("aud"));
    if !audiences.iter().any(|a| rules.audiences.contains(a)) {
        return Err(TokenError::Audience);
    }
    let expires_s = number(&claims, "exp").ok_or(TokenError::MissingClaim("exp".into()))?;
    if now_s > expires_s.saturating_add(rules.skew_s) {
        return Err(TokenError::Expired);
    }
    if number(&claims, "nbf").is_some_and(|nbf| now_s < nbf.saturating_sub(rules.skew_s)) {
        return Err(TokenError::NotYetValid);
    }
    if number(&claims, "iat").is_some_and(|iat| now_s < iat.saturating_sub(rules.skew_s)) {
        return Err(TokenError::IssuedInFuture);
    }
    let mut scopes = strings(claims.get("scope"));
    scopes.extend(strings(claims.get("scp")));
    let missing: Vec<String> = rules
        .required_scopes
        .iter()
        .filter(|s| !scopes.contains(s))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(TokenError::MissingScopes(missing));
    }
    let subject = claim_str(&claims, "sub")?;
    let tenant = match &rules.fixed_tenant {
        Some(t) => t.clone(),
        None => claim_str(&claims, &rules.claims.tenant)?,
    };
    let agent = claim_str(&claims, &rules.claims.agent)?;
    Ok(Verified {
        issuer: rules.issuer.clone(),
        subject,
        tenant,
        agent,
        roles: strings(claims.get(&rules.claims.roles)),
        scopes,
        token_id: claims
            .get("jti")
            .and_then(Value::as_str)
            .map(str::to_string),
        expires_s,
    })
}

#[cfg(test)]
mod tests;
