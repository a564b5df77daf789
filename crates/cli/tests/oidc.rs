//! JWT bearer tokens through the real gateway: an identity provider played by the test (its key
//! set served on loopback, its keys made in the test), tokens of each allowed algorithm calling
//! tools, every way a token can be wrong refused with the error contract and a ledger record,
//! the RFC 9728 metadata and the `WWW-Authenticate` challenges, rotation by key id, an issuer
//! that cannot be reached, and an upstream that never sees the client's token.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::*;
use jsonwebtoken::{Algorithm, Header};
use portcullis_identity::test_keys::{TestKey, jwks, unsigned};
use serde_json::{Value, json};

const ISS: &str = "https://idp.test";
const RESOURCE: &str = "https://gw.test/mcp";
const METADATA: &str = "https://gw.test/.well-known/oauth-protected-resource/mcp";

fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::rsa("rsa-1"))
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": RESOURCE, "sub": "svc-report", "tenant": "acme",
        "roles": ["agent"], "scope": "mcp:tools", "jti": "token-1",
        "iat": now_s(), "exp": now_s() + 300,
    })
}

/// The identity provider: its key set at `/jwks`, answering 503 while "down".
struct Idp {
    addr: SocketAddr,
    keys: Arc<Mutex<Value>>,
    up: Arc<AtomicBool>,
}

#[derive(Clone)]
struct IdpState {
    keys: Arc<Mutex<Value>>,
    up: Arc<AtomicBool>,
}

async fn serve_jwks(State(s): State<IdpState>) -> Response {
    if !s.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = s.keys.lock().unwrap().clone();
    axum::Json(keys).into_response()
}

impl Idp {
    async fn start(keys: &[&TestKey], up: bool) -> Idp {
        let state = IdpState {
            keys: Arc::new(Mutex::new(jwks(keys))),
            up: Arc::new(AtomicBool::new(up)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/jwks", get(serve_jwks))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Idp {
            addr,
            keys: state.keys,
            up: state.up,
        }
    }

    fn publish(&self, keys: &[&TestKey]) {
        *self.keys.lock().unwrap() = jwks(keys);
    }

    /// The `[identity]` section trusting this provider.
    fn identity(&self) -> String {
        format!(
            "[identity]\nresource = \"{RESOURCE}\"\n\n[[identity.oidc]]\nissuer = \"{ISS}\"\njwks_url = \"http://{}/jwks\"\nrequired_scopes = [\"mcp:tools\"]\n",
            self.addr
        )
    }

    /// The demo config (stdio demo server) trusting this provider.
    fn config(&self) -> String {
        demo_config("enforce", &self.identity())
    }
}

async fn echo(gw: &Gateway, token: &str) -> Reply {
    let sid = initialize(&gw.url, token).await;
    call(
        &gw.url,
        token,
        &sid,
        "demo.echo",
        json!({"text": "hi"}),
        None,
    )
    .await
}

/// An `initialize` with `token`: 200 if the token is accepted, else the HTTP refusal.
async fn refused(gw: &Gateway, token: &str) -> Reply {
    let params = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    rpc(&gw.url, token, None, "initialize", params).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_each_algorithm_call_tools_and_the_ledger_says_how_the_caller_proved_it() {
    let (ec, ed) = (TestKey::ec("ec-1"), TestKey::ed("ed-1"));
    let idp = Idp::start(&[rsa(), &ec, &ed], true).await;
    let gw = Gateway::start(&idp.config());
    for key in [rsa(), &ec, &ed] {
        let r = echo(&gw, &key.sign(&claims())).await;
        assert_eq!(text_of(&r.body), "hi", "{:?}: {:?}", key.alg, r.body);
    }
    let decision = wait_for_record(&gw.db_path(), "a call's decision", |r| {
        r["tool"] == "demo.echo" && r["kind"] == "decision"
    })
    .await;
    assert_eq!(
        (&decision["tenant"], &decision["agent"]),
        (&json!("acme"), &json!("svc-report"))
    );
    let facts = &decision["facts"];
    assert_eq!(facts["auth_method"], "oidc");
    assert_eq!(facts["auth_issuer"], ISS);
    assert_eq!(facts["auth_subject"], "svc-report");
    assert_eq!(facts["auth_token_id"], "token-1");
    assert_eq!(facts["auth_scopes"], "mcp:tools");
    assert_eq!(decision["credential_id"], format!("oidc:{ISS}#svc-report"));
    // An API key still works beside tokens, and status lists both.
    let (_, api_key) = gw.key("agent", &[]);
    assert_eq!(text_of(&echo(&gw, &api_key).await.body), "hi");
    let status = api_status(&gw, &api_key).await;
    assert_eq!(status["authenticators"], json!(["api_key", "oidc"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_refused_with_the_contract_a_challenge_and_a_record() {
    let key = TestKey::ec("ec-1");
    let idp = Idp::start(&[&key], true).await;
    let gw = Gateway::start(&idp.config());
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        key.sign(&c)
    };
    let good = key.sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims();
    evil["tenant"] = json!("someone-else");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        unsigned(&json!({}), &evil, b"").split('.').nth(1).unwrap(),
        parts[2]
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("ec-1".into());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(key.jwk.to_string().as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            with("exp", json!(now_s() - 3600)),
            "credential_expired",
        ),
        (
            "not yet valid",
            with("nbf", json!(now_s() + 3600)),
            "invalid_credentials",
        ),
        (
            "wrong issuer",
            with("iss", json!("https://evil.test")),
            "invalid_credentials",
        ),
        (
            "wrong audience",
            with("aud", json!("https://other/mcp")),
            "invalid_credentials",
        ),
        (
            "alg none",
            unsigned(&json!({"alg": "none", "kid": "ec-1"}), &claims(), b""),
            "invalid_credentials",
        ),
        (
            "HS256 keyed with the public key",
            hs256,
            "invalid_credentials",
        ),
        ("tampered payload", tampered, "invalid_credentials"),
        (
            "unknown key",
            TestKey::ec("stranger").sign(&claims()),
            "invalid_credentials",
        ),
        (
            "oversized",
            with("pad", json!("x".repeat(9000))),
            "invalid_credentials",
        ),
    ];
    for (what, token, code) in &cases {
        let r = refused(&gw, token).await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert_eq!(r.body["code"], *code, "{what}: {:?}", r.body);
        assert!(r.body["guidance"].is_string() && r.body["correlationId"].is_string());
        let challenge = r.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"invalid_token\"")
                && challenge.contains(&format!("resource_metadata=\"{METADATA}\"")),
            "{what}: {challenge}"
        );
    }
    // A missing scope is 403 with the scope needed.
    let r = refused(&gw, &with("scope", json!("other"))).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.body["code"], "insufficient_scope");
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"mcp:tools\""),
        "{challenge}"
    );
    // No credential: pointed at the metadata.
    let none = post_raw(
        &gw.url,
        None,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
        &[],
    )
    .await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.headers["www-authenticate"],
        format!("Bearer resource_metadata=\"{METADATA}\"").as_str()
    );
    // Each refusal is in the ledger, saying which kind of credential was refused.
    let recs = ledger_until(&gw.db_path(), |recs| {
        recs.iter().filter(|r| r["decision"] == "deny").count() > cases.len()
    });
    let kinds: Vec<&str> = recs
        .iter()
        .filter(|r| r["decision"] == "deny")
        .map(|r| r["facts"]["credential"].as_str().unwrap_or(""))
        .collect();
    // Every JWT-shaped token is recorded as such; `alg: none` with no signature is not even
    // that shape.
    let oidc = kinds.iter().filter(|k| **k == "oidc").count();
    let other = kinds.iter().filter(|k| **k == "other").count();
    assert_eq!((oidc, other), (cases.len(), 1), "{kinds:?}");
}

#[tokio::test]
async fn the_protected_resource_metadata_names_the_issuers_and_scopes() {
    let key = TestKey::ed("ed-1");
    let idp = Idp::start(&[&key], true).await;
    let gw = Gateway::start(&idp.config());
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = http()
            .get(format!("{}{path}", gw.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"], json!([ISS]));
        assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
    // Without token issuers there is no metadata.
    let plain = Gateway::start(&demo_config("enforce", ""));
    let r = http()
        .get(format!(
            "{}/.well-known/oauth-protected-resource",
            plain.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let (old, new) = (TestKey::ec("old"), TestKey::ed("new"));
    let idp = Idp::start(&[&old], true).await;
    let gw = Gateway::start(&idp.config());
    assert_eq!(text_of(&echo(&gw, &old.sign(&claims())).await.body), "hi");
    idp.publish(&[&old, &new]);
    let token = new.sign(&claims());
    // Fetched again at most every 10 s: wait for the gateway to take the new key.
    wait_for_async("the rotated key", Duration::from_secs(20), || async {
        (refused(&gw, &token).await.status == 200).then_some(())
    })
    .await;
    assert_eq!(text_of(&echo(&gw, &token).await.body), "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_cannot_be_reached_refuses_its_tokens_and_shows_in_ready() {
    let key = TestKey::ec("ec-1");
    let idp = Idp::start(&[&key], false).await;
    let gw = Gateway::start(&idp.config());
    let token = key.sign(&claims());
    let r = wait_for_async("the failed fetch", Duration::from_secs(10), || async {
        let r = refused(&gw, &token).await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert_eq!(r.body["code"], "identity_unavailable");
    let ready = get_json(&gw, "/ready").await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["tokenKeysMissing"][0]["issuer"], ISS);
    idp.up.store(true, Ordering::SeqCst);
    wait_for_async("the issuer to be back", Duration::from_secs(20), || async {
        (refused(&gw, &token).await.status == 200).then_some(())
    })
    .await;
}

/// A minimal MCP server over HTTP that remembers the headers of every request it gets.
#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn mcp(State(up): State<Upstream>, headers: HeaderMap, body: String) -> Response {
    up.seen.lock().unwrap().push(headers);
    let msg: Value = serde_json::from_str(&body).unwrap_or_default();
    let Some(id) = msg.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match msg["method"].as_str().unwrap_or("") {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "recorder", "version": "1"},
        }),
        "tools/list" => json!({"tools": [{
            "name": "echo", "inputSchema": {"type": "object"},
            "annotations": {"readOnlyHint": true},
        }]}),
        "tools/call" => json!({"content": [{"type": "text", "text": "recorded"}]}),
        _ => json!({}),
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_never_sees_the_clients_token_in_either_era() {
    let key = TestKey::ed("ed-1");
    let idp = Idp::start(&[&key], true).await;
    let up = Upstream::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/mcp", post(mcp))
        .with_state(up.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = format!(
        "{}\n{}",
        demo_http_config("enforce", &format!("http://{up_addr}/mcp")),
        idp.identity()
    );
    let gw = Gateway::start(&config);
    let token = key.sign(&claims());
    let legacy = echo(&gw, &token).await;
    assert_eq!(text_of(&legacy.body), "recorded", "{:?}", legacy.body);
    let modern_reply = modern(
        &gw.url,
        &token,
        "tools/call",
        json!({"name": "demo.echo", "arguments": {}}),
        &[],
    )
    .await;
    assert_eq!(
        text_of(&modern_reply.body),
        "recorded",
        "{:?}",
        modern_reply.body
    );
    let seen = up.seen.lock().unwrap();
    let calls = seen.len();
    assert!(
        calls >= 3,
        "initialize, list and the calls reached the upstream: {calls}"
    );
    for h in seen.iter() {
        assert!(h.get("authorization").is_none(), "{h:?}");
        assert!(
            !h.values()
                .any(|v| v.to_str().is_ok_and(|v| v.contains(&token[..20]))),
            "{h:?}"
        );
    }
}
