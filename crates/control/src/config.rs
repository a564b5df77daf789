//! Typed configuration. `raw.rs` mirrors the TOML file (unknown fields refused); `validate.rs`
//! turns it into the domain types below, collecting every error with the field it concerns.
//! Every field is documented in the README's config reference.

mod calls;
mod identity;
mod limits;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_policy::{Mode, Policy};
use regex::Regex;

use crate::SecretRef;

pub use calls::{DuplicatesConfig, IdempotencyConfig};
pub use identity::{
    ActorAlgorithm, ActorKey, ActorKeyMaterial, CertField, CertMapping, IdentityConfig, JwksSource,
    OidcIssuer, TOKEN_ALGORITHMS,
};
pub use limits::{
    Oversize, QuotaRule, QuotaScope, QuotaWindow, RateRule, RateScope, ResultsArgument, ToolRule,
};
pub use validate::{CONFORMANCE_ROLE, parse_listen, resolve_path};

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub policy: Policy,
    /// Mode as written in the file (before `demo_mode`).
    pub configured_mode: Mode,
    /// `demo_mode = true` forces read-only whatever else is set.
    pub demo_mode: bool,
    pub audit: AuditConfig,
    pub upstreams: Vec<UpstreamConfig>,
    /// `[[limits.rate]]`, in file order.
    pub rate_limits: Vec<RateRule>,
    /// `[[limits.quota]]`, in file order.
    pub quotas: Vec<QuotaRule>,
    /// `[[tools]]`, in file order (the first whose glob names a tool applies).
    pub tools: Vec<ToolRule>,
    /// `[breakers]`: circuit breakers per tool, when the section is present.
    pub breakers: Option<BreakerConfig>,
    /// `[idempotency]` (always in force: by default live writes and destructive calls need a key).
    pub idempotency: IdempotencyConfig,
    /// `[duplicates]`, if configured.
    pub duplicates: Option<DuplicatesConfig>,
    /// `[identity]`: the credentials accepted.
    pub identity: IdentityConfig,
    /// `[admin]`: the admin API's listener.
    pub admin: AdminConfig,
    /// Lower-case hex SHA-256 of the config file's bytes.
    pub hash: String,
    /// Directory the config file is in; relative paths in it are relative to here.
    pub base_dir: PathBuf,
}

/// `[admin]`: where the admin API listens (never on the MCP listener). It is on when the
/// section is present (and `enabled` is not false) or `--admin-listen` is given, and speaks TLS
/// when `[server.tls]` is set, with the same certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `None` when the section is absent or `enabled = false`.
    pub listen: Option<SocketAddr>,
    /// `token_roles`: which values of a trusted token's roles claim make its bearer an
    /// administrator, as `(admin role, claim value)` pairs; empty: tokens are not accepted on
    /// the admin API.
    pub token_roles: Vec<(String, String)>,
}

/// The admin API's address when `[admin]` is present without `listen`.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub base_path: String,
    /// Host names (without port) accepted in the Host header.
    pub allowed_hosts: Vec<String>,
    /// Exact origins accepted in an Origin header; requests without Origin are accepted.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub metrics: bool,
    pub shutdown_grace: Duration,
    /// Interval of SSE keep-alive comments on open streams.
    pub sse_keep_alive: Duration,
    /// A legacy session unused this long is forgotten.
    pub session_idle_timeout: Duration,
    /// Most legacy sessions held at once.
    pub max_sessions: usize,
    /// Most legacy sessions one credential may hold.
    pub max_sessions_per_principal: usize,
    /// How long start-up waits for every upstream to be listed before it reports the gateway
    /// started with those it has (the others join when they come up). It serves meanwhile.
    pub startup_wait: Duration,
    /// Most connections held at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Most connections from one client address.
    pub max_connections_per_client: usize,
    /// Most MCP requests being handled at once; more are shed with 503 `overloaded`.
    pub max_in_flight: usize,
    /// A client must send its request head within this.
    pub header_read_timeout: Duration,
    /// ... and its body within this.
    pub body_read_timeout: Duration,
    /// Loopback-only test profile without authentication: every request acts as the principal
    /// of role `conformance`. Refused on a non-loopback address; never on by default.
    pub conformance_profile: bool,
    /// `[server.tls]`: the gateway serves HTTPS with this certificate.
    pub tls: Option<TlsConfig>,
    /// Plain HTTP on an address that is not loopback, allowed explicitly.
    pub plain_http: bool,
}

/// `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How often the files are checked for a change (and loaded again when they changed).
    pub reload_every: Duration,
    /// PEM CA certificates: with it, every client must present a certificate they signed.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Data directory (keys, ledger). `--data-dir` overrides it.
    pub data_dir: PathBuf,
    /// SQLite file name inside the data directory.
    pub sqlite_file: String,
    pub busy_timeout: Duration,
}

impl StoreConfig {
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join(&self.sqlite_file)
    }
}

/// When a tool's circuit opens, and how it closes again.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// The rolling window the failure rate is taken over.
    pub window: Duration,
    /// Fewest forwarded calls in the window before the rate can open the circuit.
    pub min_calls: u32,
    /// Share of failed calls (0 < rate ≤ 1) that opens the circuit.
    pub failure_rate: f64,
    /// How long an open circuit refuses before it lets probes through (half-open).
    pub cool_down: Duration,
    /// Calls let through at once while half-open.
    pub probes: u32,
    /// Each upstream has a circuit too, fed by the calls of all its tools.
    pub upstreams: bool,
    /// This many circuits open at once put the whole gateway in read-only mode.
    pub degrade_when_open: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Patterns whose matches are replaced by `[REDACTED]` in argument previews (in addition
    /// to API keys and bearer tokens, which are always redacted).
    pub redact: Vec<Regex>,
    pub preview_bytes: usize,
    /// Origin line of signed checkpoints, and the signing key's name.
    pub origin: String,
    /// A checkpoint is signed at least this often while the ledger grows.
    pub checkpoint_interval: Duration,
    /// ... and as soon as this many records were appended since the last one.
    pub checkpoint_size: u64,
    /// Checkpoint signing key file; `None` means `ledger.key` in the data directory.
    pub signing_key: Option<PathBuf>,
    /// Record content older than this is pruned (leaf hashes stay); `None` keeps everything.
    pub retention: Option<Duration>,
}

/// Default `audit.origin`.
pub const DEFAULT_ORIGIN: &str = "portcullis";

impl AuditConfig {
    /// The signing key file, given the (possibly overridden) data directory.
    pub fn signing_key_path(&self, store: &StoreConfig) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| store.data_dir.join("ledger.key"))
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: String,
    /// Prefix of its tools' and prompts' names (`namespace.tool`); empty exposes them as they
    /// are. Defaults to `name`.
    pub namespace: String,
    pub transport: Transport,
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub protocol_version: String,
    /// Most tool calls to this upstream in flight at once, if set.
    pub max_concurrency: Option<u32>,
    /// How long a tool call waits for one of the upstream's slots before `overloaded`.
    pub max_wait: Duration,
}

/// An environment value for a stdio child: a literal, or a reference resolved at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    Secret(SecretRef),
}

#[derive(Debug, Clone)]
pub enum Transport {
    Stdio {
        /// Program to run; `@portcullis` means this same binary.
        command: String,
        args: Vec<String>,
        env: Vec<(String, EnvValue)>,
        cwd: Option<PathBuf>,
        /// Relay a server-to-client request or log message that names no call only when it
        /// carries the progress token issued for a call (never by timing).
        strict_attribution: bool,
    },
    Http {
        url: String,
        headers: Vec<(String, SecretRef)>,
    },
}

/// One problem with the config, naming its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
}

impl ConfigError {
    pub fn errors(&self) -> Vec<FieldError> {
        match self {
            ConfigError::Read { path, message } => vec![FieldError {
                field: "(file)".into(),
                message: format!("cannot read {path}: {message}"),
            }],
            ConfigError::Invalid(v) => v.clone(),
        }
    }
}

/// Values given on the command line, which win over the file's. They are applied in one place,
/// before validation, so every rule that depends on them (the loopback-only conformance profile,
/// the Host allowlist a non-loopback address needs) checks the values in force.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    /// `[admin] listen` (and `enabled = true`).
    pub admin_listen: Option<SocketAddr>,
    /// Taken as given (relative to the working directory), not relative to the config file.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Read and validate a config file with command-line overrides.
    pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_bytes_with(&bytes, &base_dir, overrides)
    }

    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_bytes(&bytes, &base_dir)
    }

    /// Validate config text; relative paths resolve against `base_dir`.
    pub fn from_bytes(bytes: &[u8], base_dir: &Path) -> Result<Config, ConfigError> {
        Config::from_bytes_with(bytes, base_dir, &Overrides::default())
    }

    /// Validate config text with command-line overrides applied first.
    pub fn from_bytes_with(
        bytes: &[u8],
        base_dir: &Path,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            ConfigError::Invalid(vec![FieldError {
                field: "(file)".into(),
                message: format!("not UTF-8: {e}"),
            }])
        })?;
        let (raw, mut errors) = raw::parse(text);
        let Some(mut raw) = raw else {
            return Err(ConfigError::Invalid(errors));
        };
        if let Some(listen) = overrides.listen {
            raw.server.listen = Some(listen.to_string());
        }
        if let Some(listen) = overrides.admin_listen {
            let admin = raw.admin.get_or_insert_with(Default::default);
            admin.listen = Some(listen.to_string());
            admin.enabled = Some(true);
        }
        match validate::validate(raw, bytes, base_dir) {
            Ok(mut config) if errors.is_empty() => {
                if let Some(d) = &overrides.data_dir {
                    config.store.data_dir = d.clone();
                }
                Ok(config)
            }
            Ok(_) => Err(ConfigError::Invalid(errors)),
            Err(e) => {
                errors.extend(e.errors());
                Err(ConfigError::Invalid(errors))
            }
        }
    }

    /// The mode in force: read-only whenever `demo_mode` is on.
    pub fn effective_mode(&self) -> Mode {
        self.policy.mode
    }
}

#[cfg(test)]
mod tests;
