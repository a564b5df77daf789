use std::path::Path;

use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_bytes(text.as_bytes(), Path::new("/etc/portcullis"))
}

fn fields(text: &str) -> Vec<String> {
    load(text)
        .unwrap_err()
        .errors()
        .into_iter()
        .map(|e| e.field)
        .collect()
}

const FULL: &str = r#"
[server]
listen = "127.0.0.1:9000"
base_path = "/gateway"
allowed_origins = ["https://app.example.com"]
max_body_bytes = 65536
metrics = false
shutdown_grace = "5s"

[store]
data_dir = "data"
busy_timeout = "500ms"

[policy]
mode = "enforce"
[[policy.classes]]
pattern = "demo.notes_*"
class = "write"

[roles.reader]
allow = ["demo.*"]

[roles.admin]
allow = ["*"]
allow_write = true
allow_destructive = true

[audit]
redact = ["(?i)password"]
preview_bytes = 128

[[upstreams]]
name = "demo"
transport = "stdio"
command = "@portcullis"
args = ["demo-server"]
env = { LOG_LEVEL = "info", TOKEN = "env:DEMO_TOKEN" }

[[upstreams]]
name = "remote"
transport = "http"
url = "https://tools.example.com/mcp"
headers = { Authorization = "env:REMOTE_AUTH" }
timeout = "2s"
"#;

#[test]
fn a_full_config_loads_into_domain_types() {
    let c = load(FULL).unwrap();
    assert_eq!(c.server.listen.port(), 9000);
    assert_eq!(c.server.base_path, "/gateway");
    assert!(!c.server.metrics);
    assert_eq!(c.server.shutdown_grace, Duration::from_secs(5));
    assert_eq!(c.store.data_dir, Path::new("/etc/portcullis/data"));
    assert_eq!(c.store.busy_timeout, Duration::from_millis(500));
    assert_eq!(c.effective_mode(), Mode::Enforce);
    assert_eq!(c.policy.roles.len(), 2);
    assert!(c.policy.roles["admin"].allow_destructive);
    assert_eq!(c.upstreams.len(), 2);
    match &c.upstreams[0].transport {
        Transport::Stdio { command, env, .. } => {
            assert_eq!(command, "@portcullis");
            assert!(env.contains(&(
                "TOKEN".into(),
                EnvValue::Secret(SecretRef::Env("DEMO_TOKEN".into()))
            )));
            assert!(env.contains(&("LOG_LEVEL".into(), EnvValue::Literal("info".into()))));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.upstreams[1].timeout, Duration::from_secs(2));
    assert_eq!(
        c.hash,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(FULL.as_bytes())),
        "SHA-256 of the file's bytes"
    );
}

#[test]
fn an_empty_file_gives_safe_defaults() {
    let c = load("").unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.base_path, "/mcp");
    assert_eq!(
        c.server.allowed_hosts,
        vec!["localhost", "127.0.0.1", "::1"]
    );
    assert!(c.server.allowed_origins.is_empty());
    assert_eq!(c.server.max_body_bytes, 1024 * 1024);
    assert_eq!(c.effective_mode(), Mode::ReadOnly);
    assert!(c.policy.roles.is_empty());
    assert!(c.upstreams.is_empty());
}

#[test]
fn demo_mode_forces_read_only() {
    let c = load("[policy]\nmode = \"enforce\"\ndemo_mode = true\n").unwrap();
    assert_eq!(c.configured_mode, Mode::Enforce);
    assert_eq!(c.effective_mode(), Mode::ReadOnly);
}

#[test]
fn every_error_is_reported_with_its_field() {
    let f = fields(
        r#"
[server]
listen = "nowhere"
base_path = "mcp/"
max_body_bytes = 1
shutdown_grace = "soon"
allowed_origins = ["example.com"]
[policy]
mode = "yolo"
[[policy.classes]]
pattern = "x"
class = "maybe"
[roles.reader]
allow = ["demo.["]
[audit]
redact = ["("]
[[upstreams]]
name = "Bad.Name"
transport = "stdio"
[[upstreams]]
name = "web"
transport = "http"
url = "ftp://x"
headers = { Authorization = "Bearer abc", Host = "env:X" }
[[upstreams]]
name = "web"
transport = "carrier-pigeon"
"#,
    );
    for expected in [
        "server.listen",
        "server.base_path",
        "server.max_body_bytes",
        "server.shutdown_grace",
        "server.allowed_origins[0]",
        "policy.mode",
        "policy.classes[0].class",
        "roles.reader.allow",
        "audit.redact[0]",
        "upstreams[0].name",
        "upstreams[0].command",
        "upstreams[1].url",
        "upstreams[1].headers.Authorization",
        "upstreams[1].headers.Host",
        "upstreams[2].name",
        "upstreams[2].transport",
    ] {
        assert!(
            f.contains(&expected.to_string()),
            "missing {expected} in {f:?}"
        );
    }
}

#[test]
fn unknown_fields_and_wrong_types_name_their_field() {
    assert_eq!(
        fields("[server]\nlisten_on = \"x\"\n"),
        vec!["server.listen_on"]
    );
    assert_eq!(
        fields("[server]\nmetrics = \"yes\"\n"),
        vec!["server.metrics"]
    );
    assert_eq!(
        fields("[[upstreams]]\nname = 3\n"),
        vec!["upstreams[0].name"]
    );
    let syntax = load("[server\n").unwrap_err().errors();
    assert_eq!(syntax.len(), 1);
    assert!(syntax[0].message.contains("line"), "{:?}", syntax[0]);
}

#[test]
fn breakers_are_off_without_their_section_and_bad_values_name_their_fields() {
    assert_eq!(load("").unwrap().breakers, None);
    let c = load("[breakers]\n").unwrap();
    let b = c.breakers.expect("on with the section");
    assert_eq!(
        (b.window, b.min_calls, b.failure_rate, b.cool_down, b.probes),
        (Duration::from_secs(60), 10, 0.5, Duration::from_secs(30), 1)
    );
    assert_eq!((b.upstreams, b.degrade_when_open), (false, None));
    let b = load("[breakers]\nupstreams = true\ndegrade_when_open = 3\n")
        .unwrap()
        .breakers
        .unwrap();
    assert_eq!((b.upstreams, b.degrade_when_open), (true, Some(3)));
    assert_eq!(
        fields("[breakers]\ndegrade_when_open = 0\nupstreams = \"yes\"\n"),
        vec!["breakers.upstreams", "breakers.degrade_when_open"]
    );
    assert_eq!(
        fields(
            "[breakers]\nwindow = \"soon\"\nmin_calls = 0\nfailure_rate = 1.5\ncool_down = \"0s\"\nprobes = 0\ntrip = 1\n"
        ),
        vec![
            "breakers.trip",
            "breakers.window",
            "breakers.min_calls",
            "breakers.failure_rate",
            "breakers.cool_down",
            "breakers.probes"
        ]
    );
    assert_eq!(
        fields("[breakers]\nfailure_rate = -0.1\n"),
        vec!["breakers.failure_rate"]
    );
}

#[test]
fn idempotency_keys_are_required_for_writes_by_default_and_bad_values_name_their_fields() {
    use portcullis_policy::ToolClass;
    let c = load("").unwrap();
    assert_eq!(
        c.idempotency.require_for,
        [ToolClass::Write, ToolClass::Destructive]
    );
    assert_eq!(c.idempotency.ttl, Duration::from_secs(86_400));
    assert_eq!(c.duplicates, None);
    let c = load("[idempotency]\nrequire_for = []\nttl = \"1h\"\n[duplicates]\n").unwrap();
    assert!(c.idempotency.require_for.is_empty());
    assert_eq!(c.idempotency.ttl, Duration::from_secs(3600));
    let d = c.duplicates.expect("on with the section");
    assert_eq!(
        (d.window, d.classes),
        (
            Duration::from_secs(10),
            vec![ToolClass::Write, ToolClass::Destructive]
        )
    );
    assert_eq!(
        fields(
            "[idempotency]\nrequire_for = [\"write\", \"write\", \"delete\"]\nttl = \"30d\"\nscope = 1\n[duplicates]\nwindow = \"0s\"\nclasses = [\"reads\"]\n"
        ),
        vec![
            "idempotency.scope",
            "idempotency.require_for[1]",
            "idempotency.require_for[2]",
            "idempotency.ttl",
            "duplicates.window",
            "duplicates.classes[0]"
        ]
    );
}

#[test]
fn an_upstream_concurrency_cap_loads_and_names_its_fields() {
    let up = "[[upstreams]]\nname = \"s\"\ntransport = \"stdio\"\ncommand = \"/bin/true\"\n";
    let c = load(up).unwrap();
    assert_eq!(
        (c.upstreams[0].max_concurrency, c.upstreams[0].max_wait),
        (None, Duration::from_secs(1))
    );
    let c = load(&format!("{up}max_concurrency = 8\nmax_wait = \"250ms\"\n")).unwrap();
    assert_eq!(
        (c.upstreams[0].max_concurrency, c.upstreams[0].max_wait),
        (Some(8), Duration::from_millis(250))
    );
    assert_eq!(
        fields(&format!("{up}max_concurrency = 0\nmax_wait = \"2m\"\n")),
        vec!["upstreams[0].max_concurrency", "upstreams[0].max_wait"]
    );
}

#[test]
fn token_issuers_load_with_their_defaults_and_every_problem_named() {
    use crate::config::JwksSource;
    let c = load("").unwrap();
    assert!(c.identity.api_keys && c.identity.oidc.is_empty());
    let c = load(
        "[identity]\nresource = \"https://gw.example/mcp\"\n[[identity.oidc]]\nissuer = \"https://idp.example\"\njwks_url = \"https://idp.example/jwks.json\"\n",
    )
    .unwrap();
    let o = &c.identity.oidc[0];
    assert_eq!(
        o.jwks,
        JwksSource::Url("https://idp.example/jwks.json".into())
    );
    assert_eq!(
        o.audiences,
        ["https://gw.example/mcp"],
        "the resource by default"
    );
    assert_eq!(o.algorithms, ["RS256", "PS256", "ES256", "EdDSA"]);
    assert_eq!(
        (
            o.tenant_claim.as_str(),
            o.agent_claim.as_str(),
            o.roles_claim.as_str()
        ),
        ("tenant", "sub", "roles")
    );
    assert_eq!(
        (o.jwks_refresh, o.clock_skew, o.max_token_bytes),
        (Duration::from_secs(600), Duration::from_secs(60), 8192)
    );
    let c = load(
        "[roles.bot]\nallow = []\n[identity]\napi_keys = false\n[[identity.oidc]]\nissuer = \"http://127.0.0.1:9000\"\njwks_file = \"keys.json\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\nrequired_scopes = [\"mcp\"]\nclaims = { tenant = \"org\", agent = \"client_id\", roles = \"groups\" }\ntenant = \"acme\"\ndefault_role = \"bot\"\n",
    )
    .unwrap();
    assert!(!c.identity.api_keys);
    let o = &c.identity.oidc[0];
    assert!(matches!(&o.jwks, JwksSource::File(p) if p.ends_with("keys.json")));
    assert_eq!(
        (o.tenant.as_deref(), o.default_role.as_deref()),
        (Some("acme"), Some("bot"))
    );
    assert_eq!(o.agent_claim, "client_id");
    assert_eq!(
        fields(
            "[identity]\nresource = \"http://gw.example/mcp\"\n[[identity.oidc]]\nissuer = \"ftp://x\"\njwks_url = \"http://idp.example/jwks\"\nalgorithms = [\"HS256\", \"none\"]\nrequired_scopes = [\"a b\"]\nclaims = { agent = \"\" }\ntenant = \"\"\njwks_refresh = \"2d\"\nclock_skew = \"soon\"\nmax_token_bytes = 10\ndefault_role = \"nobody\"\n"
        ),
        vec![
            "identity.resource",
            "identity.oidc[0].issuer",
            "identity.oidc[0].jwks_url",
            "identity.oidc[0].algorithms[0]",
            "identity.oidc[0].algorithms[1]",
            "identity.oidc[0].required_scopes",
            "identity.oidc[0].claims.agent",
            "identity.oidc[0].tenant",
            "identity.oidc[0].jwks_refresh",
            "identity.oidc[0].clock_skew",
            "identity.oidc[0].max_token_bytes",
        ]
    );
    assert_eq!(
        fields("[[identity.oidc]]\nissuer = \"https://i\"\n"),
        vec!["identity.oidc[0].jwks_url", "identity.oidc[0].audiences"]
    );
    assert_eq!(
        fields("[identity]\napi_keys = false\n"),
        vec!["identity.api_keys"]
    );
    assert_eq!(
        fields(
            "[identity]\nresource = \"https://gw.example/mcp\"\n[[identity.oidc]]\nissuer = \"https://i\"\njwks_url = \"https://i/k\"\ndefault_role = \"nobody\"\n"
        ),
        vec!["identity.oidc[0].default_role"]
    );
}

#[test]
fn actor_keys_load_and_name_every_problem() {
    use crate::config::{ActorAlgorithm, ActorKeyMaterial};
    let pk = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";
    let c = load(&format!(
        "[roles.bot]\nallow = []\n[identity]\nactor_skew = \"30s\"\n[[identity.actors]]\nkid = \"h1\"\nalgorithm = \"hmac-sha256\"\nsecret = \"env:S\"\ntenant = \"acme\"\nrole = \"bot\"\n[[identity.actors]]\nkid = \"e1\"\nalgorithm = \"ed25519\"\npublic_key = \"{pk}\"\ntenant = \"acme\"\nrole = \"bot\"\nactors = [\"etl-*\"]\nnot_before = \"2026-12-01T00:00:00Z\"\nnot_after = \"2027-01-01T00:00:00Z\"\n"
    ))
    .unwrap();
    let id = &c.identity;
    assert_eq!(id.actor_skew, Duration::from_secs(30));
    assert_eq!(id.actors[0].algorithm, ActorAlgorithm::HmacSha256);
    assert!(matches!(id.actors[0].material, ActorKeyMaterial::Secret(_)));
    assert_eq!(id.actors[0].actors, ["*"]);
    assert!(matches!(id.actors[1].material, ActorKeyMaterial::PublicKey(k) if k[0] == 0xea));
    assert_eq!(id.actors[1].not_before_ms, Some(1_796_083_200_000));
    assert_eq!(
        fields(
            "[[identity.actors]]\nkid = \"bad kid\"\nalgorithm = \"rsa\"\ntenant = \"\"\nrole = \"\"\n[[identity.actors]]\nkid = \"h\"\nalgorithm = \"hmac-sha256\"\nsecret = \"plain-text-secret\"\ntenant = \"t\"\nrole = \"nobody\"\nnot_before = \"soon\"\n[[identity.actors]]\nkid = \"e\"\nalgorithm = \"ed25519\"\npublic_key = \"c2hvcnQ\"\ntenant = \"t\"\nrole = \"x\"\nnot_before = \"2027-01-01T00:00:00Z\"\nnot_after = \"2026-01-01T00:00:00Z\"\n[[identity.actors]]\nkid = \"h\"\nalgorithm = \"ed25519\"\nsecret = \"env:S\"\ntenant = \"t\"\nrole = \"x\"\n"
        ),
        vec![
            "identity.actors[0].kid",
            "identity.actors[0].algorithm",
            "identity.actors[0].tenant",
            "identity.actors[0].role",
            "identity.actors[1].secret",
            "identity.actors[1].not_before",
            "identity.actors[2].public_key",
            "identity.actors[2].not_after",
            "identity.actors[3].kid",
            "identity.actors[3].public_key",
        ]
    );
}

#[test]
fn certificate_mappings_need_a_client_ca_and_one_field_each() {
    use crate::config::CertField;
    let tls = "[server.tls]\ncert = \"gw.pem\"\nkey = \"gw.key\"\nclient_ca = \"ca.pem\"\n";
    let c = load(&format!(
        "{tls}[roles.bot]\nallow = []\n[[identity.certificates]]\nuri = \"spiffe://acme/*\"\ntenant = \"acme\"\nrole = \"bot\"\n"
    ))
    .unwrap();
    assert!(c.server.tls.unwrap().client_ca.unwrap().ends_with("ca.pem"));
    assert_eq!(c.identity.certificates[0].field, CertField::Uri);
    assert_eq!(
        fields("[[identity.certificates]]\ncn = \"x\"\ntenant = \"t\"\nrole = \"nobody\"\n"),
        vec!["identity.certificates[0].role", "identity.certificates"]
    );
    assert_eq!(
        fields(&format!(
            "{tls}[[identity.certificates]]\nuri = \"a\"\ncn = \"b\"\ntenant = \"t\"\nrole = \"r\"\n[[identity.certificates]]\ndns = \"[\"\ntenant = \"\"\nrole = \"r\"\n"
        )),
        vec![
            "identity.certificates[0].uri",
            "identity.certificates[1].uri"
        ]
    );
}

#[test]
fn strict_attribution_is_a_stdio_setting() {
    assert_eq!(
        fields(
            "[[upstreams]]\nname = \"h\"\ntransport = \"http\"\nurl = \"http://127.0.0.1:1/mcp\"\nstrict_attribution = true\n"
        ),
        vec!["upstreams[0].strict_attribution"]
    );
    let c = load("[[upstreams]]\nname = \"s\"\ntransport = \"stdio\"\ncommand = \"/bin/true\"\nstrict_attribution = true\n").unwrap();
    assert!(matches!(
        c.upstreams[0].transport,
        crate::Transport::Stdio {
            strict_attribution: true,
            ..
        }
    ));
}

#[test]
fn rate_limits_load_and_name_their_fields() {
    let c =
        load("[[limits.rate]]\nscope = \"agent\"\nmatch = \"acme/*\"\nrate = \"2/s\"\n").unwrap();
    assert_eq!(c.rate_limits.len(), 1);
    assert_eq!(
        (c.rate_limits[0].interval_us, c.rate_limits[0].burst),
        (500_000, 2)
    );
    assert_eq!(
        fields("[[limits.rate]]\nscope = \"tool\"\nrate = \"1/s\"\nburts = 3\n"),
        vec!["limits.rate[0].burts"]
    );
    let missing = load("[[limits.rate]]\nscope = \"tool\"\n")
        .unwrap_err()
        .errors();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].field, "limits.rate[0]");
    assert!(missing[0].message.contains("rate"), "{:?}", missing[0]);
    assert_eq!(
        fields("[[limits.rate]]\nscope = \"tool\"\nrate = \"1/s\"\nburst = -1\n"),
        vec!["limits.rate[0].burst"]
    );
}

#[test]
fn a_public_listener_needs_an_explicit_host_allowlist_and_tls_or_a_plain_http_opt_in() {
    assert_eq!(
        fields("[server]\nlisten = \"0.0.0.0:8080\"\n"),
        vec!["server.allowed_hosts", "server.listen"]
    );
    let c = load("[server]\nlisten = \"0.0.0.0:8080\"\nallowed_hosts = [\"gw.example.com\"]\nplain_http = true\n")
        .unwrap();
    assert_eq!(c.server.allowed_hosts, vec!["gw.example.com"]);
    assert!(c.server.plain_http && c.server.tls.is_none());
    let c = load("[server]\nlisten = \"0.0.0.0:8443\"\nallowed_hosts = [\"gw.example.com\"]\n[server.tls]\ncert = \"gw.pem\"\nkey = \"gw.key\"\n")
        .unwrap();
    let tls = c.server.tls.unwrap();
    assert!(tls.cert.ends_with("gw.pem") && tls.key.ends_with("gw.key"));
    assert_eq!(tls.reload_every, Duration::from_secs(10));
    assert_eq!(
        fields("[server.tls]\ncert = \"\"\nkey = \"\"\nreload_every = \"never\"\n"),
        vec![
            "server.tls.cert",
            "server.tls.key",
            "server.tls.reload_every"
        ]
    );
    // Loopback needs neither.
    assert!(load("[server]\nlisten = \"127.0.0.1:8080\"\n").is_ok());
}

#[test]
fn hostile_and_oversized_input_is_refused_cleanly() {
    assert!(Config::from_bytes(&[0xff, 0xfe, 0x00], Path::new(".")).is_err());
    let huge = format!(
        "[roles.r]\nallow = [{}]\n",
        vec!["\"a*\""; 10_000].join(",")
    );
    assert!(load(&huge).is_ok());
    assert_eq!(
        fields(&format!("[roles.{}]\n", "r".repeat(100))),
        vec![format!("roles.{}", "r".repeat(100))]
    );
    assert!(load("[audit]\nredact = [\"(a{1000}){1000}\"]\n").is_err());
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = Config::load(Path::new("/nonexistent/portcullis.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
}

#[test]
fn audit_checkpoint_settings_load_with_defaults() {
    let c = load("").unwrap();
    assert_eq!(c.audit.origin, "portcullis");
    assert_eq!(c.audit.checkpoint_interval, Duration::from_secs(60));
    assert_eq!(c.audit.checkpoint_size, 10_000);
    assert_eq!(c.audit.retention, None);
    assert_eq!(
        c.audit.signing_key_path(&c.store),
        Path::new("/etc/portcullis/.portcullis/ledger.key")
    );
    let c = load(
        "[audit]\norigin = \"gw.example.com/ledger\"\ncheckpoint_interval = \"5s\"\ncheckpoint_size = 50\nsigning_key = \"keys/l.key\"\nretention_days = 30\n",
    )
    .unwrap();
    assert_eq!(c.audit.origin, "gw.example.com/ledger");
    assert_eq!(c.audit.checkpoint_interval, Duration::from_secs(5));
    assert_eq!(c.audit.checkpoint_size, 50);
    assert_eq!(c.audit.retention, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(
        c.audit.signing_key_path(&c.store),
        Path::new("/etc/portcullis/keys/l.key")
    );
}

#[test]
fn bad_audit_checkpoint_settings_name_their_fields() {
    let f = fields(
        "[audit]\norigin = \"has space\"\ncheckpoint_interval = \"0s\"\ncheckpoint_size = 0\nsigning_key = \"\"\nretention_days = 0\n",
    );
    for field in [
        "audit.origin",
        "audit.checkpoint_interval",
        "audit.checkpoint_size",
        "audit.signing_key",
        "audit.retention_days",
    ] {
        assert!(f.contains(&field.to_string()), "{field} missing from {f:?}");
    }
    let long = format!("[audit]\norigin = \"{}\"\n", "o".repeat(300));
    assert_eq!(fields(&long), vec!["audit.origin"]);
    assert_eq!(fields("[audit]\norigin = \"a+b\"\n"), vec!["audit.origin"]);
    assert_eq!(
        fields("[audit]\ncheckpoint_interval = \"forever\"\n"),
        vec!["audit.checkpoint_interval"]
    );
    assert_eq!(
        fields("[audit]\ncheckpoint_interval = \"2days\"\n"),
        vec!["audit.checkpoint_interval"]
    );
    assert_eq!(
        fields("[audit]\nretention_days = 100000\n"),
        vec!["audit.retention_days"]
    );
    assert_eq!(
        fields("[audit]\ncheckpoint_size = -1\n"),
        vec!["audit.checkpoint_size"]
    );
    assert_eq!(
        fields("[audit]\ncheckpoint_sise = 1\n"),
        vec!["audit.checkpoint_sise"]
    );
}

#[test]
fn listen_takes_an_ip_or_a_host_name_that_resolves() {
    assert_eq!(
        parse_listen("127.0.0.1:9000").unwrap(),
        "127.0.0.1:9000".parse().unwrap()
    );
    assert_eq!(
        parse_listen("[::1]:9000").unwrap(),
        "[::1]:9000".parse().unwrap()
    );
    let a = parse_listen("localhost:9000").unwrap();
    assert!(a.ip().is_loopback() && a.port() == 9000, "{a}");
    let c = load("[server]\nlisten = \"localhost:8081\"\n").unwrap();
    assert!(c.server.listen.ip().is_loopback());
    for bad in [
        "localhost",
        "8080",
        "no-such-host.invalid:80",
        "127.0.0.1:99999",
        "",
    ] {
        let e = parse_listen(bad).unwrap_err();
        assert!(e.contains("must be an address and port"), "{bad}: {e}");
    }
}

#[test]
fn every_unknown_field_and_every_bad_value_is_reported_in_one_run() {
    let text = r#"
[server]
lisen = "127.0.0.1:1"
max_sessions = "many"
shutdown_grace = "5 parsecs"

[polcy]
mode = "enforce"

[roles.reader]
alow = ["*"]

[[upstreams]]
name = "a"
transport = "stdio"
comand = "x"
timeout = 5
"#;
    let errors = load(text).unwrap_err().errors();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "server.lisen",
        "server.max_sessions",
        "polcy",
        "roles.reader.alow",
        "upstreams[0].comand",
        "upstreams[0].timeout",
        "server.shutdown_grace",
        "upstreams[0].command",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {errors:?}"
        );
    }
    let lisen = errors.iter().find(|e| e.field == "server.lisen").unwrap();
    assert!(
        lisen.message.contains("unknown field (line 3)"),
        "{}",
        lisen.message
    );
    let timeout = errors
        .iter()
        .find(|e| e.field == "upstreams[0].timeout")
        .unwrap();
    assert!(timeout.message.contains("(line 17)"), "{}", timeout.message);
}

#[test]
fn a_file_that_is_not_toml_is_one_error_with_its_line() {
    let errors = load("[server]\nlisten = \n").unwrap_err().errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "(file)");
    assert!(
        errors[0].message.contains("line 2"),
        "{}",
        errors[0].message
    );
}

#[test]
fn relative_paths_are_shown_without_dot_components() {
    let c = Config::from_bytes(b"[store]\ndata_dir = \"./data\"\n", Path::new(".")).unwrap();
    assert_eq!(c.store.data_dir, Path::new("data"));
}

#[test]
fn a_value_of_the_wrong_type_does_not_stop_the_rest_from_being_checked() {
    let text = "[[upstreams]]\nname = 3\ntransport = \"stdio\"\n\n[policy]\nmode = \"sometimes\"\n";
    let errors = load(text).unwrap_err().errors();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["upstreams[0].name", "policy.mode"], "{errors:?}");
}

#[test]
fn an_empty_key_is_named_as_such() {
    for (text, field) in [
        ("[\"\"]\nx = 1\n", "\"\""),
        ("[server]\n\"\" = 1\n", "server.\"\""),
    ] {
        let errors = load(text).unwrap_err().errors();
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains("unknown field")),
            "{text:?}: {errors:?}"
        );
    }
}

#[test]
fn the_admin_api_is_on_with_its_section_on_loopback_9090_unless_told_otherwise() {
    assert_eq!(load("").unwrap().admin.listen, None, "off without [admin]");
    let c = load("[admin]\n").unwrap();
    assert_eq!(
        c.admin.listen,
        Some(DEFAULT_ADMIN_LISTEN.parse().unwrap()),
        "on with its section, on loopback"
    );
    let c = load("[admin]\nenabled = false\n").unwrap();
    assert_eq!(c.admin.listen, None);
    let c = load("[admin]\nlisten = \"[::1]:9191\"\n").unwrap();
    assert_eq!(c.admin.listen, Some("[::1]:9191".parse().unwrap()));
    for bad in [
        "[admin]\nlisten = \"nowhere\"\n",
        "[admin]\nlisten = \"0.0.0.0:9090\"\n",
        "[server]\nlisten = \"127.0.0.1:7000\"\n[admin]\nlisten = \"127.0.0.1:7000\"\n",
    ] {
        assert_eq!(fields(bad), ["admin.listen"], "{bad}");
    }
    assert_eq!(fields("[admin]\nport = 1\n"), ["admin.port"]);
    let c = Config::from_bytes_with(
        b"[admin]\nenabled = false\n",
        Path::new("/"),
        &Overrides {
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(
        c.admin.listen,
        Some("127.0.0.1:0".parse().unwrap()),
        "--admin-listen turns it on"
    );
}

#[test]
fn admin_token_roles_need_an_issuer_and_name_admin_roles() {
    let issuer = "[identity]\nresource = \"https://gw/mcp\"\n[[identity.oidc]]\nissuer = \"https://idp\"\njwks_file = \"/k.json\"\n";
    let c = load(&format!(
        "{issuer}[admin]\ntoken_roles = {{ admin = [\"a\", \"b\"], auditor = [\"c\"] }}\n"
    ))
    .unwrap();
    assert_eq!(c.admin.token_roles.len(), 3);
    assert!(c.admin.token_roles.contains(&("admin".into(), "b".into())));
    assert_eq!(
        fields("[admin]\ntoken_roles = { admin = [\"a\"] }\n"),
        ["admin.token_roles"]
    );
    assert_eq!(
        fields(&format!(
            "{issuer}[admin]\ntoken_roles = {{ root = [\"a\"] }}\n"
        )),
        ["admin.token_roles.root"]
    );
    assert_eq!(
        fields(&format!(
            "{issuer}[admin]\ntoken_roles = {{ admin = [\"\"] }}\n"
        )),
        ["admin.token_roles.admin[0]"]
    );
}
