//! Tokens through the identity chain, in process: the issuer's keys in a file the test writes
//! (and rewrites to rotate them), time on the controlled clock.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use portcullis_identity::AuthMethod;
use portcullis_identity::test_keys::{TestKey, jwks};
use portcullis_protocol::ErrorCode;
use portcullis_store::Stores;
use serde_json::{Value, json};

use crate::admission::{Peer, admit};
use crate::respond::Failure;
use crate::state::AppState;
use crate::testing::{self, CONFIG, Fixture, T0};

const ISS: &str = "https://idp.example";
const RESOURCE: &str = "https://gw.example/mcp";

fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::rsa("rsa-1"))
}

struct Issuer {
    dir: tempfile::TempDir,
}

impl Issuer {
    fn new(keys: &[&TestKey]) -> Issuer {
        let i = Issuer {
            dir: tempfile::tempdir().unwrap(),
        };
        i.publish(keys);
        i
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("jwks.json")
    }

    fn publish(&self, keys: &[&TestKey]) {
        std::fs::write(self.path(), jwks(keys).to_string()).unwrap();
    }

    fn state(&self, extra: &str) -> (Arc<AppState>, Fixture) {
        let config = format!(
            "{CONFIG}\n[identity]\nresource = \"{RESOURCE}\"\n{extra}\n[[identity.oidc]]\nissuer = \"{ISS}\"\njwks_file = \"{}\"\nrequired_scopes = [\"mcp\"]\n",
            self.path().display()
        );
        let (st, fx) = testing::state_with(&config, Stores::of);
        (Arc::new(st), fx)
    }
}

fn claims() -> Value {
    let now = T0 / 1000;
    json!({
        "iss": ISS, "aud": RESOURCE, "sub": "user-1", "tenant": "acme",
        "roles": ["nobody", "writer"], "scope": "mcp", "jti": "tok-1",
        "iat": now, "exp": now + 600,
    })
}

async fn present(st: &AppState, token: &str) -> Result<portcullis_identity::Principal, Failure> {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost"));
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let peer = Peer {
        client: Some("127.0.0.1:4000".parse().unwrap()),
        line: "POST /mcp",
        cid: "cid-test",
        cert: None,
    };
    admit(st, &h, &peer).await
}

#[tokio::test]
async fn a_token_of_a_trusted_issuer_makes_its_principal() {
    let (ec, ed) = (TestKey::ec("ec-1"), TestKey::ed("ed-1"));
    let issuer = Issuer::new(&[rsa(), &ec, &ed]);
    let (st, _fx) = issuer.state("");
    for key in [rsa(), &ec, &ed] {
        let p = present(&st, &key.sign(&claims())).await.unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.agent.as_str(), p.role.as_str()),
            ("acme", "user-1", "writer"),
            "the first role the gateway defines"
        );
        assert_eq!(p.auth_method, AuthMethod::Oidc);
        assert_eq!(p.credential_id, format!("oidc:{ISS}#user-1"));
        let ev = p.evidence.unwrap();
        assert_eq!(ev["issuer"], ISS);
        assert_eq!(ev["token_id"], "tok-1");
        assert_eq!(ev["scopes"], "mcp");
    }
    assert_eq!(st.identity.methods(), ["api_key", "oidc"]);
}

#[tokio::test]
async fn refusals_say_why_with_the_bearer_challenge() {
    let key = TestKey::ec("ec-1");
    let issuer = Issuer::new(&[&key]);
    let (st, fx) = issuer.state("");
    let metadata =
        "resource_metadata=\"https://gw.example/.well-known/oauth-protected-resource/mcp\"";

    let mut c = claims();
    c["scope"] = json!("other");
    let f = present(&st, &key.sign(&c)).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::InsufficientScope);
    let challenge = f.challenge.clone().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"mcp\"")
            && challenge.contains(metadata),
        "{challenge}"
    );
    assert_eq!(f.data.unwrap()["scope"], "mcp");

    let mut c = claims();
    c["roles"] = json!(["nobody"]);
    let f = present(&st, &key.sign(&c)).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::InvalidCredentials);
    assert!(f.reason.contains("no role"), "{}", f.reason);

    let mut c = claims();
    c["iss"] = json!("https://elsewhere");
    let f = present(&st, &key.sign(&c)).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::InvalidCredentials);
    assert!(f.challenge.unwrap().contains("error=\"invalid_token\""));

    let token = key.sign(&claims());
    assert!(present(&st, &token).await.is_ok());
    fx.clock.advance(Duration::from_secs(661));
    let f = present(&st, &token).await.unwrap_err();
    assert_eq!(
        f.code,
        ErrorCode::CredentialExpired,
        "600 s and the skew later"
    );

    // No credential at all: pointed at the metadata, with no error code (RFC 6750).
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost"));
    let peer = Peer {
        client: None,
        line: "POST /mcp",
        cid: "c",
        cert: None,
    };
    let f = admit(&st, &h, &peer).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::MissingCredentials);
    assert_eq!(f.challenge.unwrap(), format!("Bearer {metadata}"));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it_at_most_every_ten_seconds() {
    let (old, new) = (TestKey::ec("old"), TestKey::ed("new"));
    let issuer = Issuer::new(&[&old]);
    let (st, fx) = issuer.state("");
    assert!(present(&st, &old.sign(&claims())).await.is_ok());
    let f = present(&st, &new.sign(&claims())).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::InvalidCredentials);
    assert!(f.reason.contains("no key 'new'"), "{}", f.reason);
    // The issuer rotates; the set was just read, so the next unknown kid waits.
    issuer.publish(&[&old, &new]);
    assert!(present(&st, &new.sign(&claims())).await.is_err());
    fx.clock.advance(super::UNKNOWN_KID_REFRESH);
    assert!(present(&st, &new.sign(&claims())).await.is_ok());
    assert!(present(&st, &old.sign(&claims())).await.is_ok());
}

#[tokio::test]
async fn keys_that_cannot_be_read_refuse_tokens_and_show_in_ready() {
    let key = TestKey::ec("ec-1");
    let issuer = Issuer::new(&[&key]);
    std::fs::remove_file(issuer.path()).unwrap();
    let (st, fx) = issuer.state("");
    let f = present(&st, &key.sign(&claims())).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::IdentityUnavailable);
    let missing = st.tokens.as_ref().unwrap().unavailable();
    assert_eq!(missing[0]["issuer"], ISS);
    assert!(missing[0]["error"].as_str().unwrap().contains("jwks.json"));
    std::fs::write(issuer.path(), "not json").unwrap();
    fx.clock.advance(super::UNKNOWN_KID_REFRESH);
    assert_eq!(
        present(&st, &key.sign(&claims())).await.unwrap_err().code,
        ErrorCode::IdentityUnavailable
    );
    assert!(
        st.tokens.as_ref().unwrap().unavailable()[0]["error"]
            .as_str()
            .unwrap()
            .contains("not a JWK set")
    );
    issuer.publish(&[&key]);
    fx.clock.advance(super::UNKNOWN_KID_REFRESH);
    assert!(present(&st, &key.sign(&claims())).await.is_ok());
    assert!(st.tokens.as_ref().unwrap().unavailable().is_empty());
}

#[tokio::test]
async fn api_keys_can_be_turned_off_and_the_default_role_applies() {
    let key = TestKey::ed("ed-1");
    let issuer = Issuer::new(&[&key]);
    let (st, fx) = issuer.state("api_keys = false");
    assert_eq!(st.identity.methods(), ["oidc"]);
    let k = portcullis_identity::GeneratedKey::generate();
    use portcullis_store::KeyStore;
    fx.store
        .insert_key(portcullis_identity::KeyRecord {
            id: k.id.clone(),
            tenant: "t1".into(),
            agent: "a1".into(),
            role: "reader".into(),
            hash_hex: hex::encode(k.hash),
            created_ms: T0,
            expires_ms: None,
            revoked_ms: None,
            tenant_disabled_ms: None,
        })
        .await
        .unwrap();
    let f = present(&st, &k.token).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::InvalidCredentials, "API keys are off");

    let config = format!(
        "{CONFIG}\n[identity]\nresource = \"{RESOURCE}\"\n[[identity.oidc]]\nissuer = \"{ISS}\"\njwks_file = \"{}\"\ndefault_role = \"reader\"\ntenant = \"fixed\"\n",
        issuer.path().display()
    );
    let (st, _fx) = testing::state_with(&config, Stores::of);
    let mut c = claims();
    c["roles"] = json!("nobody");
    let p = present(&st, &key.sign(&c)).await.unwrap();
    assert_eq!((p.role.as_str(), p.tenant.as_str()), ("reader", "fixed"));
}

#[tokio::test]
async fn an_oversized_key_set_is_not_read() {
    let key = TestKey::ec("ec-1");
    let issuer = Issuer::new(&[&key]);
    let mut big = jwks(&[&key]);
    big["padding"] = json!("x".repeat(300 * 1024));
    std::fs::write(issuer.path(), big.to_string()).unwrap();
    let (st, _fx) = issuer.state("");
    let f = present(&st, &key.sign(&claims())).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::IdentityUnavailable);
    let missing = st.tokens.as_ref().unwrap().unavailable();
    assert!(
        missing[0]["error"]
            .as_str()
            .unwrap()
            .contains("larger than"),
        "{missing:?}"
    );
}
