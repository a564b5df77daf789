//! Admission, before any JSON-RPC is read: the ingress guards that need no identity (Host,
//! Origin, a repeated dry-run switch), then the identity chain. `/mcp`, `/api/*` and the ledger
//! API admit alike. An identity refusal is evidence: it is recorded in the ledger (which key id,
//! if the credential names one; the client's address; its user agent), at most
//! `REFUSALS_PER_SECOND` a second with bursts of `REFUSAL_BURST`, so that a flood of bad
//! credentials cannot bloat the ledger; refusals over that are counted, and the next recorded
//! refusal says how many.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::http::{HeaderMap, header};
use portcullis_identity::{ParsedKey, Principal};
use portcullis_protocol::ErrorCode;
use portcullis_store::{RateOutcome, RateSpec};

use crate::identity::API_KEY_HEADER;
use crate::ingress;
use crate::pipeline::record::queue_refusal;
use crate::respond::Failure;
use crate::state::AppState;

/// Refusals recorded per second, on average.
pub const REFUSALS_PER_SECOND: u64 = 20;
/// Refusals recorded at once before the rate applies.
pub const REFUSAL_BURST: u32 = 100;
/// Longest user agent kept in a refusal record.
const MAX_USER_AGENT: usize = 200;

/// Where a request came from, for the record of a refusal.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The client's address, when the listener knows it.
    pub client: Option<SocketAddr>,
    /// `POST /mcp`, `GET /api/status`, ...
    pub line: &'a str,
    pub cid: &'a str,
    /// The client certificate, when the connection is TLS with client certificates.
    pub cert: Option<&'a crate::ingress::tls::ClientCert>,
}

pub async fn admit(
    st: &AppState,
    headers: &HeaderMap,
    peer: &Peer<'_>,
) -> Result<Principal, Failure> {
    ingress::check_host(headers, &st.config.server.allowed_hosts)?;
    ingress::check_origin(headers, &st.config.server.allowed_origins)?;
    // Read again (once) by tools/call; a repeat is refused here, before any JSON-RPC exchange.
    ingress::single(headers, crate::methods::tools::DRY_RUN_HEADER)?;
    ingress::single(headers, crate::methods::tools::IDEMPOTENCY_HEADER)?;
    limit_client(st, peer).await?;
    let by_cert = peer
        .cert
        .and_then(|c| st.cert_actors.as_ref().and_then(|m| m.principal(c)));
    let result = st
        .identity
        .authenticate(headers, peer.line, st.clock.now_ms())
        .await;
    let result = match (result, by_cert) {
        // Only the certificate: it is the credential.
        (Err(f), Some(cert)) if f.code == ErrorCode::MissingCredentials => Ok(cert),
        // A credential on a certificate that names an actor: both must name the same one.
        (Ok(p), Some(cert)) if p.tenant != cert.tenant || p.agent != cert.agent => {
            Err(Failure::new(
                ErrorCode::IdentityMismatch,
                format!(
                    "the client certificate names '{}/{}' but the {} names '{}/{}'",
                    cert.tenant,
                    cert.agent,
                    p.auth_method.as_str(),
                    p.tenant,
                    p.agent
                ),
            ))
        }
        (other, _) => other,
    };
    // Keys read their tenant's state with them; every other credential is checked against the
    // disabled tenants as last read with the kill switches.
    let result = result.and_then(|p| match st.controls.engaged().tenant_disabled(&p.tenant) {
        true => Err(Failure::new(
            ErrorCode::TenantDisabled,
            format!("tenant '{}' is disabled", p.tenant),
        )),
        false => Ok(p),
    });
    match result {
        Ok(p) => Ok(p),
        Err(mut f) => {
            challenge(st, &mut f);
            record_refusal(st, headers, peer, &f).await;
            Err(f)
        }
    }
}

/// With token issuers trusted, a refusal for missing or bad credentials points the client at
/// the RFC 9728 metadata, where it learns which authorization server to get a token from.
fn challenge(st: &AppState, f: &mut Failure) {
    let Some(url) = st.tokens.as_ref().and_then(|t| t.metadata_url()) else {
        return;
    };
    if f.challenge.is_some() {
        return;
    }
    f.challenge = match f.code {
        ErrorCode::MissingCredentials => Some(format!("Bearer resource_metadata=\"{url}\"")),
        ErrorCode::InvalidCredentials
        | ErrorCode::AmbiguousCredentials
        | ErrorCode::CredentialExpired
        | ErrorCode::CredentialRevoked => Some(format!(
            "Bearer error=\"invalid_token\", resource_metadata=\"{url}\""
        )),
        _ => None,
    };
}

/// The `[[limits.rate]] scope = "client"` rules that match the client's address each take a
/// cell of that address's bucket, all or none; past one, the request is refused with
/// `rate_limited` (HTTP 429, `Retry-After`) before any credential is looked at.
async fn limit_client(st: &AppState, peer: &Peer<'_>) -> Result<(), Failure> {
    use portcullis_control::RateScope;
    let Some(addr) = peer.client else {
        return Ok(());
    };
    let ip = addr.ip().to_string();
    let applied: Vec<_> = st
        .config
        .rate_limits
        .iter()
        .filter(|r| r.scope == RateScope::Client && r.matches(&ip))
        .map(|r| (r, ip.clone()))
        .collect();
    let taken = crate::pipeline::stages::rate_limit::take(
        st,
        &applied,
        st.clock.now_ms(),
        " for this address",
    )
    .await?;
    match taken {
        None => Ok(()),
        Some((_, refusal)) => Err(refusal),
    }
}

/// The id of the API key a request presents, when its format names one (never the secret).
pub fn presented_key_id(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim());
    let key = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok());
    [bearer, key]
        .into_iter()
        .flatten()
        .find_map(|t| ParsedKey::parse(t).ok())
        .map(|k| k.id)
}

/// What kind of credential a request presents, by its form alone: `signed_actor` (any
/// `x-actor-*` header), `api_key`, `oidc` (a bearer JWT), `other` (an Authorization header of
/// another form), `none`; the refusal record's `credential` fact.
pub fn presented_kind(headers: &HeaderMap) -> &'static str {
    if portcullis_identity::actor::HEADERS
        .iter()
        .any(|h| headers.contains_key(*h))
    {
        return "signed_actor";
    }
    if headers.contains_key(API_KEY_HEADER) {
        return "api_key";
    }
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return "none";
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match token {
        Some(t) if portcullis_identity::jwt::looks_like_jwt(t) => "oidc",
        Some(t) if ParsedKey::parse(t).is_ok() => "api_key",
        _ => "other",
    }
}

pub async fn record_refusal(st: &AppState, headers: &HeaderMap, peer: &Peer<'_>, f: &Failure) {
    let spec = RateSpec {
        interval_us: 1_000_000 / REFUSALS_PER_SECOND,
        burst: REFUSAL_BURST,
    };
    let now = st.clock.now_ms();
    match st
        .stores
        .limits
        .take_rate("admission-refusals", spec, now)
        .await
    {
        Ok(RateOutcome::Allowed { .. }) => {}
        Ok(RateOutcome::Limited { .. }) | Err(_) => {
            st.refusals_unrecorded.fetch_add(1, Ordering::Relaxed);
            st.metrics.refusals_unrecorded.inc();
            return;
        }
    }
    let mut facts = BTreeMap::new();
    if let Some(addr) = peer.client {
        facts.insert("client".to_string(), addr.to_string());
    }
    if let Some(ua) = headers.get(header::USER_AGENT) {
        let ua: String = String::from_utf8_lossy(ua.as_bytes())
            .chars()
            .take(MAX_USER_AGENT)
            .collect();
        facts.insert("user_agent".to_string(), ua);
    }
    let dropped = st.refusals_unrecorded.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        facts.insert("refusals_unrecorded".to_string(), dropped.to_string());
    }
    facts.insert(
        "credential".to_string(),
        presented_kind(headers).to_string(),
    );
    let key_id = presented_key_id(headers).unwrap_or_default();
    queue_refusal(st, peer, &key_id, f.code, facts).await;
}

#[cfg(test)]
mod tests;
