//! The TOML file as written. Unknown fields are refused so typos cannot pass silently, and
//! every unknown field and every wrongly typed value is reported in one run, not the first only.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::FieldError;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawConfig {
    pub server: RawServer,
    pub store: RawStore,
    pub policy: RawPolicy,
    pub roles: BTreeMap<String, RawRole>,
    pub audit: RawAudit,
    pub upstreams: Vec<RawUpstream>,
    pub limits: RawLimits,
    pub tools: Vec<RawTool>,
    pub breakers: Option<RawBreakers>,
    pub idempotency: RawIdempotency,
    pub duplicates: Option<RawDuplicates>,
    pub identity: RawIdentity,
    pub admin: Option<RawAdmin>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawAdmin {
    pub listen: Option<String>,
    pub enabled: Option<bool>,
    pub token_roles: Option<BTreeMap<String, Vec<String>>>,
}

/// `[identity]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawIdentity {
    pub api_keys: Option<bool>,
    pub resource: Option<String>,
    pub oidc: Vec<RawOidc>,
    pub actors: Vec<RawActorKey>,
    pub actor_skew: Option<String>,
    pub certificates: Vec<RawCertMapping>,
}

/// `[[identity.certificates]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawCertMapping {
    pub uri: Option<String>,
    pub dns: Option<String>,
    pub cn: Option<String>,
    pub tenant: String,
    pub role: String,
}

/// `[[identity.actors]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawActorKey {
    pub kid: String,
    pub algorithm: String,
    pub secret: Option<String>,
    pub public_key: Option<String>,
    pub tenant: String,
    pub role: String,
    pub actors: Option<Vec<String>>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
}

/// `[[identity.oidc]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawOidc {
    pub issuer: String,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub required_scopes: Option<Vec<String>>,
    pub claims: Option<RawClaims>,
    pub tenant: Option<String>,
    pub default_role: Option<String>,
    pub jwks_refresh: Option<String>,
    pub clock_skew: Option<String>,
    pub max_token_bytes: Option<u64>,
}

/// `claims = { tenant = "...", agent = "...", roles = "..." }`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct RawClaims {
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub roles: Option<String>,
}

/// `[idempotency]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawIdempotency {
    pub require_for: Option<Vec<String>>,
    pub ttl: Option<String>,
}

/// `[duplicates]`: present means identical live calls are refused within the window.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawDuplicates {
    pub window: Option<String>,
    pub classes: Option<Vec<String>>,
}

/// `[breakers]`: present means every tool has a circuit breaker.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawBreakers {
    pub window: Option<String>,
    pub min_calls: Option<u64>,
    pub failure_rate: Option<f64>,
    pub cool_down: Option<String>,
    pub probes: Option<u64>,
    pub upstreams: Option<bool>,
    pub degrade_when_open: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawLimits {
    pub rate: Vec<RawRate>,
    pub quota: Vec<RawQuota>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawQuota {
    pub scope: String,
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    pub window: String,
    pub calls: Option<u64>,
    pub cost_units: Option<u64>,
}

/// `[[tools]]`: settings for the tools a glob names.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawTool {
    #[serde(rename = "match")]
    pub pattern: String,
    pub cost: Option<u64>,
    pub max_concurrency: Option<u64>,
    pub max_wait: Option<String>,
    pub timeout: Option<String>,
    pub max_result_bytes: Option<u64>,
    pub max_result_items: Option<u64>,
    pub on_oversize: Option<String>,
    pub results_argument: Option<String>,
    pub max_results: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawRate {
    pub scope: String,
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    pub rate: String,
    pub burst: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawServer {
    pub listen: Option<String>,
    pub base_path: Option<String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub max_body_bytes: Option<u64>,
    pub metrics: Option<bool>,
    pub shutdown_grace: Option<String>,
    pub sse_keep_alive: Option<String>,
    pub session_idle_timeout: Option<String>,
    pub max_sessions: Option<u64>,
    pub max_sessions_per_principal: Option<u64>,
    pub startup_wait: Option<String>,
    pub max_connections: Option<u64>,
    pub max_connections_per_client: Option<u64>,
    pub max_in_flight: Option<u64>,
    pub header_read_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub conformance_profile: Option<bool>,
    pub tls: Option<RawTls>,
    pub plain_http: Option<bool>,
}

/// `[server.tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawTls {
    pub cert: String,
    pub key: String,
    pub reload_every: Option<String>,
    pub client_ca: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawStore {
    pub backend: Option<String>,
    pub data_dir: Option<String>,
    pub sqlite_file: Option<String>,
    pub busy_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawPolicy {
    pub mode: Option<String>,
    pub demo_mode: Option<bool>,
    pub classes: Vec<RawClassRule>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawClassRule {
    pub pattern: String,
    pub class: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawRole {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub allow_write: bool,
    #[serde(default)]
    pub allow_destructive: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawAudit {
    pub redact: Vec<String>,
    pub preview_bytes: Option<u64>,
    pub origin: Option<String>,
    pub checkpoint_interval: Option<String>,
    pub checkpoint_size: Option<u64>,
    pub signing_key: Option<String>,
    pub retention_days: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawUpstream {
    pub name: String,
    pub namespace: Option<String>,
    pub transport: String,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<String>,
    pub max_response_bytes: Option<u64>,
    pub max_concurrency: Option<u64>,
    pub max_wait: Option<String>,
    pub protocol_version: Option<String>,
    pub strict_attribution: Option<bool>,
}

/// Most values taken out and re-read while collecting type errors.
const MAX_TYPE_ERRORS: usize = 64;

/// Parse TOML into the raw structs. Returns what could be read (`None` for a file that is
/// not TOML at all) and every problem: syntax, unknown fields, values of the wrong type (each
/// named by its field, with its line where it can be found). A value of the wrong type is taken
/// out and the rest read again, so one bad value does not hide the others.
pub(super) fn parse(text: &str) -> (Option<RawConfig>, Vec<FieldError>) {
    let mut doc = match text.parse::<toml::Table>() {
        Ok(t) => toml::Value::Table(t),
        Err(e) => {
            let at = e
                .span()
                .map(|s| line_suffix(text, s.start))
                .unwrap_or_default();
            let error = FieldError {
                field: "(file)".into(),
                message: format!("not valid TOML: {}{at}", e.message()),
            };
            return (None, vec![error]);
        }
    };
    let mut errors = Vec::new();
    for _ in 0..MAX_TYPE_ERRORS {
        let mut unknown = Vec::new();
        let mut note = |path: serde_ignored::Path<'_>| unknown.push(field_of(&path));
        let de = serde_ignored::Deserializer::new(doc.clone(), &mut note);
        match serde_path_to_error::deserialize::<_, RawConfig>(de) {
            Ok(raw) => {
                for field in unknown {
                    let at = line_of(text, &field);
                    errors.push(FieldError {
                        message: format!(
                            "unknown field{at}; check its spelling against the config reference in the README"
                        ),
                        field,
                    });
                }
                return (Some(raw), errors);
            }
            Err(e) => {
                let field = e.path().to_string();
                let message = e.inner().message().to_string();
                // A required value taken out for its wrong type is not reported missing too;
                // what holds it is taken out in turn, so the rest can be read.
                if !is_consequence(&errors, &field, &message) {
                    let at = line_of(text, &field);
                    errors.push(FieldError {
                        message: format!("{message}{at}"),
                        field: if field == "." { "(file)".into() } else { field },
                    });
                }
                let segments: Vec<_> = e.path().iter().collect();
                if !remove(&mut doc, &segments) {
                    return (None, errors);
                }
            }
        }
    }
    (None, errors)
}

/// Take the value at `path` out of `root`; false if there is no such value to take.
fn remove(root: &mut toml::Value, path: &[&serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    match path {
        [] => false,
        [last] => match (root, last) {
            (toml::Value::Table(t), Segment::Map { key }) => t.remove(key.as_str()).is_some(),
            (toml::Value::Array(a), Segment::Seq { index }) if *index < a.len() => {
                a.remove(*index);
                true
            }
            _ => false,
        },
        [first, rest @ ..] => {
            let child = match (root, first) {
                (toml::Value::Table(t), Segment::Map { key }) => t.get_mut(key.as_str()),
                (toml::Value::Array(a), Segment::Seq { index }) => a.get_mut(*index),
                _ => None,
            };
            child.is_some_and(|c| remove(c, rest))
        }
    }
}

/// Whether `message` at `field` says a field is missing that an earlier error already named
/// (its value was taken out for being of the wrong type).
fn is_consequence(errors: &[FieldError], field: &str, message: &str) -> bool {
    let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    else {
        return false;
    };
    let full = if field == "." {
        name.to_string()
    } else {
        format!("{field}.{name}")
    };
    errors.iter().any(|e| e.field == full)
}

/// `upstreams[0].command` from serde_ignored's path.
fn field_of(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_of(parent)),
        Path::Map { parent, key } => {
            let p = field_of(parent);
            // An empty key is shown as `""`, so the field still names something.
            let key = if key.is_empty() { "\"\"" } else { key.as_str() };
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_of(parent),
    }
}

/// " (line N)" for the byte offset `at`.
fn line_suffix(text: &str, at: usize) -> String {
    format!(
        " (line {})",
        text[..at.min(text.len())].matches('\n').count() + 1
    )
}

/// " (line N)" of the line that sets the last key of `field`, if exactly one line does.
fn line_of(text: &str, field: &str) -> String {
    let key = field
        .rsplit(['.', '['])
        .next()
        .unwrap_or(field)
        .trim_end_matches(']');
    if key.is_empty() || key.bytes().all(|b| b.is_ascii_digit()) {
        return String::new();
    }
    let sets = |line: &str| {
        let line = line.trim_start();
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut hits = text.lines().enumerate().filter(|(_, l)| sets(l));
    match (hits.next(), hits.next()) {
        (Some((n, _)), None) => format!(" (line {})", n + 1),
        _ => String::new(),
    }
}
