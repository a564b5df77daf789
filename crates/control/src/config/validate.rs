//! Raw config → domain config. Every problem is collected, each naming its field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_policy::{ClassRule, ClassRules, Mode, Policy, Role, ToolClass};
use portcullis_protocol::mcp;
use sha2::{Digest, Sha256};

use super::raw::{RawConfig, RawUpstream};
use super::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The role every request acts with under `server.conformance_profile`.
pub const CONFORMANCE_ROLE: &str = "conformance";

/// Protocol revisions the gateway can speak to an upstream.
pub const UPSTREAM_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// Headers the gateway sets itself, which config may not override.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "transfer-encoding",
    "connection",
];

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A whole number within `range`, or `default` when absent.
    fn count(
        &mut self,
        field: &str,
        v: Option<u64>,
        default: usize,
        range: std::ops::RangeInclusive<u64>,
    ) -> usize {
        match v {
            None => default,
            Some(n) if range.contains(&n) => n as usize,
            Some(_) => {
                self.add(
                    field,
                    format!("must be between {} and {}", range.start(), range.end()),
                );
                default
            }
        }
    }

    fn duration(
        &mut self,
        field: &str,
        v: Option<&str>,
        default: Duration,
        max: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v) {
            Ok(d) if d.is_zero() => {
                self.add(field, "must be greater than zero");
                default
            }
            Ok(d) if d > max => {
                self.add(
                    field,
                    format!("must be at most {}", humantime::format_duration(max)),
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.add(
                    field,
                    format!("'{v}' is not a duration like \"30s\" or \"500ms\": {e}"),
                );
                default
            }
        }
    }

    fn bytes(&mut self, field: &str, v: Option<u64>, default: u64, min: u64, max: u64) -> usize {
        let v = v.unwrap_or(default);
        if v < min || v > max {
            self.add(field, format!("must be between {min} and {max} bytes"));
            return default as usize;
        }
        v as usize
    }
}

fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_uppercase() || c == b'_')
        && b.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn is_role_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// `scheme://host[:port]`, or `scheme://host:*` for any port.
fn is_origin(s: &str) -> bool {
    let s = s.strip_suffix(":*").unwrap_or(s);
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.contains('/')
            && !r.contains('?')
            && !r.contains('#')
            && !r.contains(' ')
    })
}

/// `p` relative to the config's directory, without `.` components (`./bin/x` next to
/// `./portcullis.toml` is `bin/x`, not `././bin/x`).
pub fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    let joined = if p.is_absolute() { p } else { base.join(p) };
    let clean: PathBuf = joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if clean.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        clean
    }
}

pub(super) fn validate(
    raw: RawConfig,
    bytes: &[u8],
    base_dir: &Path,
) -> Result<Config, ConfigError> {
    let mut e = Errors::default();

    // [server]
    let s = raw.server;
    let listen: SocketAddr = match parse_listen(s.listen.as_deref().unwrap_or("127.0.0.1:8080")) {
        Ok(a) => a,
        Err(why) => {
            e.add("server.listen", why);
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    };
    let base_path = s.base_path.unwrap_or_else(|| "/mcp".into());
    let path_ok = base_path.starts_with('/')
        && base_path.len() > 1
        && !base_path.ends_with('/')
        && base_path
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'-' | b'_' | b'.'))
        && !["/health", "/ready", "/metrics", "/api"]
            .iter()
            .any(|p| base_path == *p || base_path.starts_with(&format!("{p}/")));
    if !path_ok {
        e.add(
            "server.base_path",
            "must look like \"/mcp\" (a leading slash, no trailing slash, not an ops path)",
        );
    }
    let allowed_hosts = match s.allowed_hosts {
        Some(h) => {
            for (i, host) in h.iter().enumerate() {
                if host.is_empty()
                    || host.contains([':', '/', ' ']) && host.parse::<std::net::Ipv6Addr>().is_err()
                {
                    e.add(
                        format!("server.allowed_hosts[{i}]"),
                        "must be a host name or IP without port",
                    );
                }
            }
            if h.is_empty() {
                e.add("server.allowed_hosts", "must not be empty");
            }
            h.into_iter().map(|h| h.to_ascii_lowercase()).collect()
        }
        None => {
            if !listen.ip().is_loopback() {
                e.add(
                    "server.allowed_hosts",
                    "must be set when server.listen is not a loopback address (DNS-rebinding defence)",
                );
            }
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
        }
    };
    let allowed_origins = s.allowed_origins.unwrap_or_default();
    for (i, o) in allowed_origins.iter().enumerate() {
        if !is_origin(o) {
            e.add(
                format!("server.allowed_origins[{i}]"),
                "must be an origin like \"https://app.example.com\" (\":*\" at the end allows any port)",
            );
        }
    }
    let server = ServerConfig {
        listen,
        base_path,
        allowed_hosts,
        allowed_origins,
        max_body_bytes: e.bytes(
            "server.max_body_bytes",
            s.max_body_bytes,
            MIB,
            KIB,
            64 * MIB,
        ),
        metrics: s.metrics.unwrap_or(true),
        shutdown_grace: e.duration(
            "server.shutdown_grace",
            s.shutdown_grace.as_deref(),
            Duration::from_secs(10),
            Duration::from_secs(600),
        ),
        sse_keep_alive: e.duration(
            "server.sse_keep_alive",
            s.sse_keep_alive.as_deref(),
            Duration::from_secs(15),
            Duration::from_secs(3600),
        ),
        session_idle_timeout: e.duration(
            "server.session_idle_timeout",
            s.session_idle_timeout.as_deref(),
            Duration::from_secs(3600),
            Duration::from_secs(7 * 24 * 3600),
        ),
        max_sessions: match s.max_sessions {
            None => 10_000,
            Some(n) if (1..=1_000_000).contains(&n) => n as usize,
            Some(_) => {
                e.add("server.max_sessions", "must be between 1 and 1000000");
                10_000
            }
        },
        max_sessions_per_principal: e.count(
            "server.max_sessions_per_principal",
            s.max_sessions_per_principal,
            64,
            1..=1_000_000,
        ),
        startup_wait: e.duration(
            "server.startup_wait",
            s.startup_wait.as_deref(),
            Duration::from_secs(20),
            Duration::from_secs(600),
        ),
        max_connections: e.count(
            "server.max_connections",
            s.max_connections,
            10_000,
            1..=1_000_000,
        ),
        max_connections_per_client: e.count(
            "server.max_connections_per_client",
            s.max_connections_per_client,
            256,
            1..=1_000_000,
        ),
        max_in_flight: e.count(
            "server.max_in_flight",
            s.max_in_flight,
            4_096,
            1..=1_000_000,
        ),
        header_read_timeout: e.duration(
            "server.header_read_timeout",
            s.header_read_timeout.as_deref(),
            Duration::from_secs(10),
            Duration::from_secs(300),
        ),
        body_read_timeout: e.duration(
            "server.body_read_timeout",
            s.body_read_timeout.as_deref(),
            Duration::from_secs(30),
            Duration::from_secs(3600),
        ),
        conformance_profile: s.conformance_profile.unwrap_or(false),
        tls: s.tls.as_ref().and_then(|t| {
            if t.cert.is_empty() {
                e.add(
                    "server.tls.cert",
                    "must be the path of a PEM certificate chain",
                );
            }
            if t.key.is_empty() {
                e.add("server.tls.key", "must be the path of a PEM private key");
            }
            let reload_every = e.duration(
                "server.tls.reload_every",
                t.reload_every.as_deref(),
                Duration::from_secs(10),
                Duration::from_secs(86_400),
            );
            if t.client_ca.as_deref() == Some("") {
                e.add(
                    "server.tls.client_ca",
                    "must be the path of PEM CA certificates",
                );
            }
            (!t.cert.is_empty() && !t.key.is_empty()).then(|| TlsConfig {
                cert: resolve_path(base_dir, &t.cert),
                key: resolve_path(base_dir, &t.key),
                reload_every,
                client_ca: t
                    .client_ca
                    .as_deref()
                    .filter(|c| !c.is_empty())
                    .map(|c| resolve_path(base_dir, c)),
            })
        }),
        plain_http: s.plain_http.unwrap_or(false),
    };
    if server.tls.is_none() && !server.plain_http && !server.listen.ip().is_loopback() {
        e.add(
            "server.listen",
            format!(
                "{} is not a loopback address: serve it with [server.tls], or set server.plain_http = true to allow plain HTTP there",
                server.listen
            ),
        );
    }
    // [admin]
    let admin = {
        let absent = raw.admin.is_none();
        let a = raw.admin.unwrap_or_default();
        let on = !absent && a.enabled != Some(false);
        let listen = match parse_listen(a.listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN)) {
            Ok(l) => l,
            Err(why) => {
                e.add("admin.listen", why);
                SocketAddr::from(([127, 0, 0, 1], 9090))
            }
        };
        if on {
            if server.tls.is_none() && !server.plain_http && !listen.ip().is_loopback() {
                e.add(
                    "admin.listen",
                    format!(
                        "{listen} is not a loopback address: serve it with [server.tls], or set server.plain_http = true to allow plain HTTP there"
                    ),
                );
            }
            if listen.port() != 0 && listen == server.listen {
                e.add(
                    "admin.listen",
                    "must differ from server.listen: the admin API never shares the MCP listener",
                );
            }
        }
        let mut token_roles = Vec::new();
        for (role, values) in a.token_roles.iter().flatten() {
            if !["auditor", "approver", "admin"].contains(&role.as_str()) {
                e.add(
                    format!("admin.token_roles.{role}"),
                    "must be auditor, approver or admin",
                );
            }
            for (i, v) in values.iter().enumerate() {
                if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
                    e.add(
                        format!("admin.token_roles.{role}[{i}]"),
                        "must be 1-256 characters without control characters",
                    );
                }
                token_roles.push((role.clone(), v.clone()));
            }
        }
        if !token_roles.is_empty() && raw.identity.oidc.is_empty() {
            e.add(
                "admin.token_roles",
                "needs at least one [[identity.oidc]] issuer whose tokens it reads",
            );
        }
        AdminConfig {
            listen: on.then_some(listen),
            token_roles,
        }
    };
    if server.conformance_profile && !server.listen.ip().is_loopback() {
        e.add(
            "server.conformance_profile",
            "runs without authentication, so it is refused unless server.listen is a loopback address",
        );
    }

    // [store]
    let st = raw.store;
    match st.backend.as_deref() {
        None | Some("sqlite") => {}
        Some(other) => e.add(
            "store.backend",
            format!("'{other}' is not available; use \"sqlite\""),
        ),
    }
    let sqlite_file = st.sqlite_file.unwrap_or_else(|| "portcullis.db".into());
    if sqlite_file.is_empty() || sqlite_file.contains('/') {
        e.add(
            "store.sqlite_file",
            "must be a file name inside the data directory",
        );
    }
    let store = StoreConfig {
        data_dir: resolve_path(base_dir, st.data_dir.as_deref().unwrap_or(".portcullis")),
        sqlite_file,
        busy_timeout: e.duration(
            "store.busy_timeout",
            st.busy_timeout.as_deref(),
            Duration::from_secs(2),
            Duration::from_secs(60),
        ),
    };

    // [policy] and [roles]
    let p = raw.policy;
    let configured_mode = match p.mode.as_deref() {
        None | Some("read-only") => Mode::ReadOnly,
        Some("enforce") => Mode::Enforce,
        Some(other) => {
            e.add(
                "policy.mode",
                format!("'{other}' is not a mode; use \"read-only\" or \"enforce\""),
            );
            Mode::ReadOnly
        }
    };
    let demo_mode = p.demo_mode.unwrap_or(false);
    let mut rules = Vec::new();
    for (i, r) in p.classes.iter().enumerate() {
        let Some(class) = ToolClass::parse(&r.class) else {
            e.add(
                format!("policy.classes[{i}].class"),
                format!("'{}' is not read, write or destructive", r.class),
            );
            continue;
        };
        match ClassRule::new(&r.pattern, class) {
            Ok(rule) => rules.push(rule),
            Err(err) => e.add(format!("policy.classes[{i}].pattern"), err.to_string()),
        }
    }
    let mut roles = std::collections::HashMap::new();
    for (name, r) in &raw.roles {
        if !is_role_name(name) {
            e.add(
                format!("roles.{name}"),
                "role names are 1-64 characters of a-z 0-9 _ -",
            );
        }
        match Role::new(name, &r.allow, r.allow_write, r.allow_destructive) {
            Ok(role) => {
                roles.insert(name.clone(), role);
            }
            Err(err) => e.add(format!("roles.{name}.allow"), err.to_string()),
        }
    }
    if server.conformance_profile && !roles.contains_key(CONFORMANCE_ROLE) {
        e.add(
            "server.conformance_profile",
            format!(
                "needs a [roles.{CONFORMANCE_ROLE}] section: every request acts with that role"
            ),
        );
    }
    let policy = Policy {
        mode: if demo_mode {
            Mode::ReadOnly
        } else {
            configured_mode
        },
        roles,
        classes: ClassRules::new(rules),
    };

    // [audit]
    let mut redact = Vec::new();
    for (i, pat) in raw.audit.redact.iter().enumerate() {
        match regex::RegexBuilder::new(pat).size_limit(1 << 20).build() {
            Ok(r) => redact.push(r),
            Err(err) => e.add(
                format!("audit.redact[{i}]"),
                format!("not a valid regex: {err}"),
            ),
        }
    }
    let a = &raw.audit;
    let origin = a.origin.clone().unwrap_or_else(|| DEFAULT_ORIGIN.into());
    if !portcullis_ledger::note::valid_name(&origin) {
        e.add(
            "audit.origin",
            "must be 1-255 characters without spaces, control characters or '+'",
        );
    }
    let checkpoint_size = a.checkpoint_size.unwrap_or(10_000);
    if !(1..=100_000_000).contains(&checkpoint_size) {
        e.add(
            "audit.checkpoint_size",
            "must be between 1 and 100000000 records",
        );
    }
    let retention = match a.retention_days {
        None => None,
        Some(d @ 1..=36_500) => Some(Duration::from_secs(d * 86_400)),
        Some(_) => {
            e.add("audit.retention_days", "must be between 1 and 36500 days");
            None
        }
    };
    if a.signing_key.as_deref() == Some("") {
        e.add("audit.signing_key", "must be a file path");
    }
    let audit = AuditConfig {
        redact,
        preview_bytes: e.bytes("audit.preview_bytes", a.preview_bytes, 256, 0, 4096),
        origin,
        checkpoint_interval: e.duration(
            "audit.checkpoint_interval",
            a.checkpoint_interval.as_deref(),
            Duration::from_secs(60),
            Duration::from_secs(86_400),
        ),
        checkpoint_size,
        signing_key: a
            .signing_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| resolve_path(base_dir, k)),
        retention,
    };

    // [[upstreams]]
    let mut upstreams = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut namespaces = std::collections::HashSet::new();
    for (i, u) in raw.upstreams.into_iter().enumerate() {
        let f = |k: &str| format!("upstreams[{i}].{k}");
        if !mcp::is_valid_upstream_name(&u.name) {
            e.add(
                f("name"),
                "must be 1-64 characters of a-z 0-9 _ - (no '.', the namespace separator)",
            );
        } else if !names.insert(u.name.clone()) {
            e.add(
                f("name"),
                format!("'{}' is used by another upstream", u.name),
            );
        }
        if let Some(up) = validate_upstream(u, base_dir, &f, &mut e) {
            if !up.namespace.is_empty() && !namespaces.insert(up.namespace.clone()) {
                e.add(
                    f("namespace"),
                    format!("'{}' is used by another upstream", up.namespace),
                );
            }
            upstreams.push(up);
        }
    }

    let breakers = raw.breakers.map(|b| BreakerConfig {
        window: e.duration(
            "breakers.window",
            b.window.as_deref(),
            Duration::from_secs(60),
            Duration::from_secs(3600),
        ),
        min_calls: e.count("breakers.min_calls", b.min_calls, 10, 1..=1_000_000) as u32,
        failure_rate: match b.failure_rate {
            None => 0.5,
            Some(r) if r > 0.0 && r <= 1.0 => r,
            Some(r) => {
                e.add(
                    "breakers.failure_rate",
                    format!("{r} is not a share: more than 0, at most 1"),
                );
                0.5
            }
        },
        cool_down: e.duration(
            "breakers.cool_down",
            b.cool_down.as_deref(),
            Duration::from_secs(30),
            Duration::from_secs(3600),
        ),
        probes: e.count("breakers.probes", b.probes, 1, 1..=1_000) as u32,
        upstreams: b.upstreams.unwrap_or(false),
        degrade_when_open: b.degrade_when_open.map(|_| {
            e.count(
                "breakers.degrade_when_open",
                b.degrade_when_open,
                1,
                1..=10_000,
            ) as u32
        }),
    });
    let mut limit_errors = Vec::new();
    let rate_limits = super::limits::rate_rules(&raw.limits.rate, &mut limit_errors);
    let quotas = super::limits::quota_rules(&raw.limits.quota, &mut limit_errors);
    let tools = super::limits::tool_rules(&raw.tools, &mut limit_errors);
    let idempotency = super::calls::idempotency(&raw.idempotency, &mut limit_errors);
    let duplicates = raw
        .duplicates
        .as_ref()
        .map(|d| super::calls::duplicates(d, &mut limit_errors));
    let identity = super::identity::identity(&raw.identity, base_dir, &mut limit_errors);
    for (i, c) in identity.certificates.iter().enumerate() {
        if !policy.roles.contains_key(&c.role) {
            limit_errors.push((
                format!("identity.certificates[{i}].role"),
                format!("'{}' is not a role in [roles]", c.role),
            ));
        }
    }
    if !identity.certificates.is_empty()
        && server.tls.as_ref().is_none_or(|t| t.client_ca.is_none())
    {
        limit_errors.push((
            "identity.certificates".into(),
            "client certificates need [server.tls] with client_ca".into(),
        ));
    }
    for (i, a) in identity.actors.iter().enumerate() {
        if !policy.roles.contains_key(&a.role) {
            limit_errors.push((
                format!("identity.actors[{i}].role"),
                format!("'{}' is not a role in [roles]", a.role),
            ));
        }
    }
    for (i, o) in identity.oidc.iter().enumerate() {
        if let Some(r) = &o.default_role
            && !policy.roles.contains_key(r)
        {
            limit_errors.push((
                format!("identity.oidc[{i}].default_role"),
                format!("'{r}' is not a role in [roles]"),
            ));
        }
    }
    for (field, message) in limit_errors {
        e.add(field, message);
    }

    if !e.0.is_empty() {
        return Err(ConfigError::Invalid(e.0));
    }
    Ok(Config {
        server,
        store,
        policy,
        configured_mode,
        demo_mode,
        audit,
        upstreams,
        rate_limits,
        quotas,
        tools,
        breakers,
        idempotency,
        duplicates,
        identity,
        admin,
        hash: hex::encode(Sha256::digest(bytes)),
        base_dir: base_dir.to_path_buf(),
    })
}

/// A secret reference, a relative `file:` path taken relative to the config's directory.
fn secret_ref(base_dir: &Path, v: &str) -> Option<SecretRef> {
    match SecretRef::parse(v)? {
        SecretRef::File(p) if p.is_relative() => Some(SecretRef::File(resolve_path(
            base_dir,
            &p.to_string_lossy(),
        ))),
        other => Some(other),
    }
}

fn validate_upstream(
    u: RawUpstream,
    base_dir: &Path,
    f: &dyn Fn(&str) -> String,
    e: &mut Errors,
) -> Option<UpstreamConfig> {
    let timeout = e.duration(
        &f("timeout"),
        u.timeout.as_deref(),
        Duration::from_secs(30),
        Duration::from_secs(3600),
    );
    let max_response_bytes = e.bytes(
        &f("max_response_bytes"),
        u.max_response_bytes,
        4 * MIB,
        KIB,
        256 * MIB,
    );
    let max_concurrency = u
        .max_concurrency
        .map(|_| e.count(&f("max_concurrency"), u.max_concurrency, 1, 1..=100_000) as u32);
    let max_wait = e.duration(
        &f("max_wait"),
        u.max_wait.as_deref(),
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    let namespace = u.namespace.unwrap_or_else(|| u.name.clone());
    if !namespace.is_empty() && !mcp::is_valid_upstream_name(&namespace) {
        e.add(
            f("namespace"),
            "must be empty or 1-64 characters of a-z 0-9 _ - (no '.')",
        );
    }
    let protocol_version = u.protocol_version.unwrap_or_else(|| "2025-06-18".into());
    if !UPSTREAM_PROTOCOL_VERSIONS.contains(&protocol_version.as_str()) {
        e.add(
            f("protocol_version"),
            format!("must be one of {}", UPSTREAM_PROTOCOL_VERSIONS.join(", ")),
        );
    }
    let transport = match u.transport.as_str() {
        "stdio" => {
            if u.url.is_some() {
                e.add(f("url"), "only for transport = \"http\"");
            }
            if !u.headers.is_empty() {
                e.add(f("headers"), "only for transport = \"http\"");
            }
            let command = match u.command {
                Some(c) if !c.is_empty() => c,
                _ => {
                    e.add(f("command"), "is required for transport = \"stdio\"");
                    String::new()
                }
            };
            let mut env = Vec::new();
            for (k, v) in u.env {
                if !is_env_name(&k) {
                    e.add(f(&format!("env.{k}")), "variable names are A-Z 0-9 _");
                }
                let value = if v.starts_with("env:") || v.starts_with("file:") {
                    match secret_ref(base_dir, &v) {
                        Some(r) => EnvValue::Secret(r),
                        None => {
                            e.add(
                                f(&format!("env.{k}")),
                                "malformed env:NAME or file:PATH reference",
                            );
                            continue;
                        }
                    }
                } else {
                    EnvValue::Literal(v)
                };
                env.push((k, value));
            }
            Transport::Stdio {
                command,
                args: u.args,
                env,
                cwd: u.cwd.map(|c| resolve_path(base_dir, &c)),
                strict_attribution: u.strict_attribution.unwrap_or(false),
            }
        }
        "http" => {
            if u.strict_attribution.is_some() {
                e.add(
                    f("strict_attribution"),
                    "only for transport = \"stdio\" (an HTTP upstream's messages come on their call's own stream)",
                );
            }
            if u.command.is_some() || !u.args.is_empty() || !u.env.is_empty() || u.cwd.is_some() {
                e.add(
                    f("command"),
                    "command, args, env and cwd are only for transport = \"stdio\"",
                );
            }
            let url = u.url.unwrap_or_default();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(' ') {
                e.add(f("url"), "must be an http:// or https:// URL");
            }
            let mut headers = Vec::new();
            for (k, v) in u.headers {
                let field = f(&format!("headers.{k}"));
                if !is_header_name(&k) {
                    e.add(&field, "not a valid header name");
                } else if RESERVED_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    e.add(&field, "is set by the gateway and cannot be configured");
                }
                match secret_ref(base_dir, &v) {
                    Some(r) => headers.push((k, r)),
                    None => e.add(
                        &field,
                        "values must be env:NAME or file:PATH references, never literal secrets",
                    ),
                }
            }
            Transport::Http { url, headers }
        }
        other => {
            e.add(
                f("transport"),
                format!("'{other}' is not a transport; use \"stdio\" or \"http\""),
            );
            return None;
        }
    };
    Some(UpstreamConfig {
        name: u.name,
        namespace,
        transport,
        timeout,
        max_response_bytes,
        protocol_version,
        max_concurrency,
        max_wait,
    })
}

/// A listen address: an IP and port (`127.0.0.1:8080`, `[::1]:8080`), or a host name and port
/// that resolves (`localhost:8080`: its first IPv4 address, else its first address).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = text.parse() {
        return Ok(a);
    }
    let expected = "must be an address and port: an IP (\"127.0.0.1:8080\", \"[::1]:8080\") or a host name that resolves (\"localhost:8080\")";
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|e| {
            format!(
                "{expected}; '{}' does not resolve: {e}",
                text.escape_default()
            )
        })?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| {
            format!(
                "{expected}; '{}' resolves to no address",
                text.escape_default()
            )
        })
}
