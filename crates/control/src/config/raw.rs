//! The TOML file as written. Unknown fields are refused so typos cannot pass silently.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, FieldError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub server: RawServer,
    pub store: RawStore,
    pub policy: RawPolicy,
    pub roles: BTreeMap<String, RawRole>,
    pub audit: RawAudit,
    pub upstreams: Vec<RawUpstream>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
    pub startup_wait: Option<String>,
    pub conformance_profile: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    pub backend: Option<String>,
    pub data_dir: Option<String>,
    pub sqlite_file: Option<String>,
    pub busy_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPolicy {
    pub mode: Option<String>,
    pub demo_mode: Option<bool>,
    pub classes: Vec<RawClassRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClassRule {
    pub pattern: String,
    pub class: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub allow_write: bool,
    #[serde(default)]
    pub allow_destructive: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
#[serde(deny_unknown_fields)]
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
    pub protocol_version: Option<String>,
}

/// Parse TOML into the raw structs; a syntax or type error names the field it hit.
pub(super) fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let message = e.inner().message().to_string();
        let at = e
            .inner()
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        ConfigError::Invalid(vec![FieldError {
            field: if field == "." { "(file)".into() } else { field },
            message: format!("{message}{at}"),
        }])
    })
}
