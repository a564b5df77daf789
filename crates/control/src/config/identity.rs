//! `[identity]` and `[[identity.oidc]]`: which credentials the gateway accepts. API keys are on
//! unless turned off; each trusted token issuer names where its keys are (a JWKS URL or file),
//! the audiences and algorithms it may use, the scopes every token needs, and which claims name
//! the tenant, the agent and the roles.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawIdentity, RawOidc};
use crate::SecretRef;

/// The asymmetric algorithms a token may be signed with.
pub const TOKEN_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// `[identity]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityConfig {
    /// API keys are accepted.
    pub api_keys: bool,
    /// This gateway's resource identifier (the URL clients reach its MCP endpoint at), the
    /// default audience of tokens and the `resource` of its RFC 9728 metadata.
    pub resource: Option<String>,
    pub oidc: Vec<OidcIssuer>,
    /// Keys that sign actor requests.
    pub actors: Vec<ActorKey>,
    /// How far a signed request's timestamp may be from the gateway's clock.
    pub actor_skew: Duration,
    /// Which client certificates name which actors.
    pub certificates: Vec<CertMapping>,
}

/// The part of a client certificate a mapping matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertField {
    /// A URI SAN (a SPIFFE ID).
    Uri,
    /// A DNS SAN.
    Dns,
    /// The subject's common name.
    Cn,
}

/// `[[identity.certificates]]`: client certificates whose `field` matches `pattern` (a glob)
/// act as the actor named by that value, in `tenant` with `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertMapping {
    pub field: CertField,
    pub pattern: String,
    pub tenant: String,
    pub role: String,
}

/// Where an issuer's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    Url(String),
    File(PathBuf),
}

/// `[[identity.oidc]]`: one trusted token issuer.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcIssuer {
    pub issuer: String,
    pub jwks: JwksSource,
    pub audiences: Vec<String>,
    /// Names from [`TOKEN_ALGORITHMS`].
    pub algorithms: Vec<String>,
    pub required_scopes: Vec<String>,
    pub tenant_claim: String,
    pub agent_claim: String,
    pub roles_claim: String,
    /// Every token of this issuer acts in this tenant.
    pub tenant: Option<String>,
    /// The role of a token that names none the gateway defines.
    pub default_role: Option<String>,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_refresh: Duration,
    pub clock_skew: Duration,
    pub max_token_bytes: usize,
}

/// `http(s)://host[:port]/path` with nothing after the path; `http` only to a loopback host.
fn url_ok(u: &str, need_path: bool) -> Result<(), String> {
    let (scheme, rest) = u
        .split_once("://")
        .ok_or_else(|| "must be an absolute http(s) URL".to_string())?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    if host.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err("must be an absolute URL with a host and no query or fragment".into());
    }
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("must use https (http only to a loopback host)".into()),
        _ => return Err("must be an http(s) URL".into()),
    }
    if need_path && !rest.contains('/') {
        return Err(
            "must include the path of the MCP endpoint, e.g. https://gw.example.com/mcp".into(),
        );
    }
    Ok(())
}

fn claim(
    v: &Option<String>,
    default: &str,
    field: String,
    errors: &mut Vec<(String, String)>,
) -> String {
    match v.as_deref() {
        None => default.to_string(),
        Some(c) if !c.is_empty() && c.len() <= 128 => c.to_string(),
        Some(_) => {
            errors.push((field, "must be a claim name of 1 to 128 characters".into()));
            default.to_string()
        }
    }
}

fn duration(
    v: Option<&str>,
    default: Duration,
    max: Duration,
    field: String,
    errors: &mut Vec<(String, String)>,
) -> Duration {
    match v.map(humantime::parse_duration) {
        None => default,
        Some(Ok(d)) if d <= max => d,
        Some(Ok(_)) => {
            errors.push((
                field,
                format!("must be at most {}", humantime::format_duration(max)),
            ));
            default
        }
        Some(Err(e)) => {
            errors.push((field, format!("not a duration like \"10m\": {e}")));
            default
        }
    }
}

fn issuer(
    i: usize,
    o: &RawOidc,
    resource: Option<&str>,
    base_dir: &Path,
    errors: &mut Vec<(String, String)>,
) -> Option<OidcIssuer> {
    let f = |k: &str| format!("identity.oidc[{i}].{k}");
    let before = errors.len();
    if let Err(why) = url_ok(&o.issuer, false) {
        errors.push((f("issuer"), why));
    }
    let jwks = match (&o.jwks_url, &o.jwks_file) {
        (Some(u), None) => {
            if let Err(why) = url_ok(u, true) {
                errors.push((f("jwks_url"), why));
            }
            Some(JwksSource::Url(u.clone()))
        }
        (None, Some(p)) if !p.is_empty() => {
            Some(JwksSource::File(super::resolve_path(base_dir, p)))
        }
        (None, Some(_)) => {
            errors.push((f("jwks_file"), "must be a file path".into()));
            None
        }
        (Some(_), Some(_)) => {
            errors.push((f("jwks_url"), "give jwks_url or jwks_file, not both".into()));
            None
        }
        (None, None) => {
            errors.push((
                f("jwks_url"),
                "give jwks_url (or jwks_file): where the issuer's keys are".into(),
            ));
            None
        }
    };
    let audiences = match (&o.audiences, resource) {
        (Some(a), _) if !a.is_empty() && a.iter().all(|s| !s.is_empty()) => a.clone(),
        (Some(_), _) => {
            errors.push((
                f("audiences"),
                "must list at least one non-empty audience".into(),
            ));
            Vec::new()
        }
        (None, Some(r)) => vec![r.to_string()],
        (None, None) => {
            errors.push((
                f("audiences"),
                "give audiences, or identity.resource (the default audience)".into(),
            ));
            Vec::new()
        }
    };
    let algorithms = match &o.algorithms {
        None => TOKEN_ALGORITHMS.iter().map(|a| a.to_string()).collect(),
        Some(list) if list.is_empty() => {
            errors.push((f("algorithms"), "must list at least one algorithm".into()));
            Vec::new()
        }
        Some(list) => {
            for (j, a) in list.iter().enumerate() {
                if !TOKEN_ALGORITHMS.contains(&a.as_str()) {
                    errors.push((
                        format!("identity.oidc[{i}].algorithms[{j}]"),
                        format!("'{a}' is not allowed; use {}", TOKEN_ALGORITHMS.join(", ")),
                    ));
                }
            }
            list.clone()
        }
    };
    let scopes = o.required_scopes.clone().unwrap_or_default();
    if scopes
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        errors.push((f("required_scopes"), "scopes are single words".into()));
    }
    let claims = o.claims.clone().unwrap_or_default();
    let tenant_claim = claim(&claims.tenant, "tenant", f("claims.tenant"), errors);
    let agent_claim = claim(&claims.agent, "sub", f("claims.agent"), errors);
    let roles_claim = claim(&claims.roles, "roles", f("claims.roles"), errors);
    if o.tenant.as_deref() == Some("") {
        errors.push((f("tenant"), "must not be empty".into()));
    }
    let jwks_refresh = duration(
        o.jwks_refresh.as_deref(),
        Duration::from_secs(600),
        Duration::from_secs(86_400),
        f("jwks_refresh"),
        errors,
    );
    let clock_skew = duration(
        o.clock_skew.as_deref(),
        Duration::from_secs(60),
        Duration::from_secs(300),
        f("clock_skew"),
        errors,
    );
    let max_token_bytes = match o.max_token_bytes {
        None => 8192,
        Some(n) if (1024..=65_536).contains(&n) => n as usize,
        Some(_) => {
            errors.push((
                f("max_token_bytes"),
                "must be between 1024 and 65536".into(),
            ));
            8192
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(OidcIssuer {
        issuer: o.issuer.clone(),
        jwks: jwks?,
        audiences,
        algorithms,
        required_scopes: scopes,
        tenant_claim,
        agent_claim,
        roles_claim,
        tenant: o.tenant.clone(),
        default_role: o.default_role.clone(),
        jwks_refresh,
        clock_skew,
        max_token_bytes,
    })
}

pub(super) fn identity(
    raw: &RawIdentity,
    base_dir: &Path,
    errors: &mut Vec<(String, String)>,
) -> IdentityConfig {
    if let Some(r) = &raw.resource
        && let Err(why) = url_ok(r, true)
    {
        errors.push(("identity.resource".into(), why));
    }
    let mut oidc = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, o) in raw.oidc.iter().enumerate() {
        if !seen.insert(o.issuer.clone()) {
            errors.push((
                format!("identity.oidc[{i}].issuer"),
                format!("'{}' is listed twice", o.issuer),
            ));
            continue;
        }
        if let Some(iss) = issuer(i, o, raw.resource.as_deref(), base_dir, errors) {
            oidc.push(iss);
        }
    }
    let actors = actor_keys(&raw.actors, base_dir, errors);
    let actor_skew = duration(
        raw.actor_skew.as_deref(),
        Duration::from_secs(60),
        Duration::from_secs(600),
        "identity.actor_skew".into(),
        errors,
    );
    let api_keys = raw.api_keys.unwrap_or(true);
    if !api_keys && raw.oidc.is_empty() && raw.actors.is_empty() && raw.certificates.is_empty() {
        errors.push((
            "identity.api_keys".into(),
            "with API keys off, configure a token issuer ([[identity.oidc]]) or actor keys ([[identity.actors]]): no credential would be accepted".into(),
        ));
    }
    let mut certificates = Vec::new();
    for (i, c) in raw.certificates.iter().enumerate() {
        let f = |k: &str| format!("identity.certificates[{i}].{k}");
        let named: Vec<(CertField, &String)> = [
            (CertField::Uri, &c.uri),
            (CertField::Dns, &c.dns),
            (CertField::Cn, &c.cn),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let before = errors.len();
        let (field, pattern) = match named.as_slice() {
            [(k, v)] if !v.is_empty() && globset::Glob::new(v).is_ok() => (*k, (*v).clone()),
            [_] => {
                errors.push((f("uri"), "must be a glob".into()));
                continue;
            }
            _ => {
                errors.push((f("uri"), "give exactly one of uri, dns or cn".into()));
                continue;
            }
        };
        if !label_ok(&c.tenant) {
            errors.push((
                f("tenant"),
                "must be 1-64 characters of A-Z a-z 0-9 _ - .".into(),
            ));
        }
        if c.role.is_empty() {
            errors.push((f("role"), "must name a role of [roles]".into()));
        }
        if errors.len() == before {
            certificates.push(CertMapping {
                field,
                pattern,
                tenant: c.tenant.clone(),
                role: c.role.clone(),
            });
        }
    }
    IdentityConfig {
        api_keys,
        resource: raw.resource.clone(),
        oidc,
        actors,
        actor_skew,
        certificates,
    }
}

/// How an actor key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorAlgorithm {
    HmacSha256,
    Ed25519,
}

/// The key material of an actor key: where its shared secret is, or its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKeyMaterial {
    /// `secret = "env:NAME" | "file:PATH"`, resolved at start.
    Secret(SecretRef),
    /// `public_key`: the 32 bytes of an Ed25519 key.
    PublicKey([u8; 32]),
}

/// `[[identity.actors]]`: one key that signs requests for the actors it names.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorKey {
    pub kid: String,
    pub algorithm: ActorAlgorithm,
    pub material: ActorKeyMaterial,
    pub tenant: String,
    pub role: String,
    /// Globs the actor id must match (`*` any characters).
    pub actors: Vec<String>,
    /// Valid from / until (ms since the epoch), if set.
    pub not_before_ms: Option<i64>,
    pub not_after_ms: Option<i64>,
}

fn rfc3339_ms(v: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(v, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(super) fn actor_keys(
    raw: &[super::raw::RawActorKey],
    base_dir: &Path,
    errors: &mut Vec<(String, String)>,
) -> Vec<ActorKey> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut kids = std::collections::HashSet::new();
    for (i, a) in raw.iter().enumerate() {
        let f = |k: &str| format!("identity.actors[{i}].{k}");
        let before = errors.len();
        if !label_ok(&a.kid) {
            errors.push((
                f("kid"),
                "must be 1-64 characters of A-Z a-z 0-9 _ - .".into(),
            ));
        } else if !kids.insert(a.kid.clone()) {
            errors.push((f("kid"), format!("'{}' is used by another key", a.kid)));
        }
        let algorithm = match a.algorithm.as_str() {
            "hmac-sha256" => Some(ActorAlgorithm::HmacSha256),
            "ed25519" => Some(ActorAlgorithm::Ed25519),
            other => {
                errors.push((
                    f("algorithm"),
                    format!("'{other}' is not hmac-sha256 or ed25519"),
                ));
                None
            }
        };
        let material = match (algorithm, &a.secret, &a.public_key) {
            (Some(ActorAlgorithm::HmacSha256), Some(s), None) => match SecretRef::parse(s) {
                Some(SecretRef::File(p)) if p.is_relative() => Some(ActorKeyMaterial::Secret(
                    SecretRef::File(super::resolve_path(base_dir, &p.to_string_lossy())),
                )),
                Some(r) => Some(ActorKeyMaterial::Secret(r)),
                None => {
                    errors.push((
                        f("secret"),
                        "must be a reference, env:NAME or file:PATH (never the secret itself)"
                            .into(),
                    ));
                    None
                }
            },
            (Some(ActorAlgorithm::Ed25519), None, Some(k)) => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(k.trim_end_matches('='))
                    .or_else(|_| base64::engine::general_purpose::STANDARD.decode(k));
                match bytes.ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                    Some(pk) => Some(ActorKeyMaterial::PublicKey(pk)),
                    None => {
                        errors.push((
                            f("public_key"),
                            "must be the 32-byte Ed25519 public key in base64".into(),
                        ));
                        None
                    }
                }
            }
            (Some(ActorAlgorithm::HmacSha256), _, _) => {
                errors.push((
                    f("secret"),
                    "hmac-sha256 needs secret (and no public_key)".into(),
                ));
                None
            }
            (Some(ActorAlgorithm::Ed25519), _, _) => {
                errors.push((
                    f("public_key"),
                    "ed25519 needs public_key (and no secret)".into(),
                ));
                None
            }
            (None, _, _) => None,
        };
        if !label_ok(&a.tenant) {
            errors.push((
                f("tenant"),
                "must be 1-64 characters of A-Z a-z 0-9 _ - .".into(),
            ));
        }
        if a.role.is_empty() {
            errors.push((f("role"), "must name a role of [roles]".into()));
        }
        let actors = a.actors.clone().unwrap_or_else(|| vec!["*".into()]);
        for (j, g) in actors.iter().enumerate() {
            if g.is_empty() || globset::Glob::new(g).is_err() {
                errors.push((
                    format!("identity.actors[{i}].actors[{j}]"),
                    "must be a glob".into(),
                ));
            }
        }
        let when = |v: &Option<String>, field: &str, errors: &mut Vec<(String, String)>| match v {
            None => None,
            Some(s) => {
                let t = rfc3339_ms(s);
                if t.is_none() {
                    errors.push((
                        f(field),
                        format!("'{s}' is not an RFC 3339 time like 2026-12-01T00:00:00Z"),
                    ));
                }
                t
            }
        };
        let not_before_ms = when(&a.not_before, "not_before", errors);
        let not_after_ms = when(&a.not_after, "not_after", errors);
        if let (Some(b), Some(e)) = (not_before_ms, not_after_ms)
            && b >= e
        {
            errors.push((f("not_after"), "must be later than not_before".into()));
        }
        if errors.len() > before {
            continue;
        }
        if let (Some(algorithm), Some(material)) = (algorithm, material) {
            out.push(ActorKey {
                kid: a.kid.clone(),
                algorithm,
                material,
                tenant: a.tenant.clone(),
                role: a.role.clone(),
                actors,
                not_before_ms,
                not_after_ms,
            });
        }
    }
    out
}
