//! Signed requests through admission, in process: keys in the config, the controlled clock,
//! the in-memory replay store.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_identity::AuthMethod;
use portcullis_identity::actor::{self, body_hash, ed25519_public, sign_ed25519, sign_hmac};
use portcullis_protocol::ErrorCode;
use portcullis_store::Stores;

use super::check_body;
use crate::admission::{Peer, admit};
use crate::respond::Failure;
use crate::state::AppState;
use crate::testing::{self, CONFIG, Fixture, T0};

const SECRET: &str = "an hmac secret of at least thirty-two bytes";
const SEED: [u8; 32] = [9; 32];
const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn state(extra: &str) -> (Arc<AppState>, Fixture) {
    let pk = actor::b64(&ed25519_public(&SEED).unwrap());
    let config = format!(
        r#"{CONFIG}
[[identity.actors]]
kid = "h1"
algorithm = "hmac-sha256"
secret = "env:ACTOR_SECRET"
tenant = "acme"
role = "writer"
actors = ["report-*"]

[[identity.actors]]
kid = "e1"
algorithm = "ed25519"
public_key = "{pk}"
tenant = "acme"
role = "reader"
{extra}
"#
    );
    let (st, fx) = testing::state_with(&config, Stores::of);
    st.actors
        .as_ref()
        .unwrap()
        .resolve_secrets(&|n| (n == "ACTOR_SECRET").then(|| SECRET.to_string()))
        .unwrap();
    (Arc::new(st), fx)
}

/// The headers of a request signed with `kid` at `ts` over `body`.
fn signed(kid: &str, actor_id: &str, ts: i64, body: &[u8]) -> HeaderMap {
    let hash = body_hash(body);
    let m = actor::canonical("POST", "/mcp", actor_id, ts, kid, &hash);
    let sig = match kid {
        "e1" | "e-old" => sign_ed25519(&SEED, &m).unwrap(),
        _ => sign_hmac(SECRET.as_bytes(), &m),
    };
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost"));
    for (k, v) in [
        (actor::ACTOR_HEADER, actor_id.to_string()),
        (actor::TS_HEADER, ts.to_string()),
        (actor::KID_HEADER, kid.to_string()),
        (actor::BODY_HEADER, hash),
        (actor::SIG_HEADER, sig),
    ] {
        h.insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    h
}

async fn present(st: &AppState, h: &HeaderMap) -> Result<portcullis_identity::Principal, Failure> {
    let peer = Peer {
        client: None,
        line: "POST /mcp",
        cid: "c",
        cert: None,
    };
    admit(st, h, &peer).await
}

fn now() -> i64 {
    T0 / 1000
}

#[tokio::test]
async fn hmac_and_ed25519_signed_requests_make_their_principal() {
    let (st, _fx) = state("");
    let p = present(&st, &signed("h1", "report-bot", now(), BODY))
        .await
        .unwrap();
    assert_eq!(
        (
            p.tenant.as_str(),
            p.agent.as_str(),
            p.role.as_str(),
            p.auth_method
        ),
        ("acme", "report-bot", "writer", AuthMethod::SignedActor)
    );
    assert_eq!(p.credential_id, "actor:report-bot@h1");
    let ev = p.evidence.clone().unwrap();
    assert_eq!(
        (ev["key_id"].as_str(), ev["algorithm"].as_str()),
        ("h1", "hmac-sha256")
    );
    let h = signed("h1", "report-bot", now(), BODY);
    assert!(check_body(&p, &h, BODY).is_ok());
    let e = present(&st, &signed("e1", "anyone", now() - 30, BODY))
        .await
        .unwrap();
    assert_eq!((e.role.as_str(), e.agent.as_str()), ("reader", "anyone"));
    assert_eq!(st.identity.methods(), ["api_key", "signed_actor"]);
}

#[tokio::test]
async fn a_changed_body_a_stale_time_and_a_replay_are_refused() {
    let (st, fx) = state("");
    let h = signed("h1", "report-bot", now(), BODY);
    let p = present(&st, &h).await.unwrap();
    let f = check_body(&p, &h, br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap_err();
    assert_eq!(f.code, ErrorCode::InvalidCredentials);
    let again = present(&st, &h).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::ReplayedRequest);
    for skewed in [now() - 61, now() + 61] {
        let f = present(&st, &signed("h1", "report-bot", skewed, BODY))
            .await
            .unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidCredentials);
        assert!(f.reason.contains("clock"), "{}", f.reason);
    }
    // Within the window, the replay stays refused by the clock, after it by the window.
    fx.clock.advance(Duration::from_secs(59));
    assert_eq!(
        present(&st, &h).await.unwrap_err().code,
        ErrorCode::ReplayedRequest
    );
    fx.clock.advance(Duration::from_secs(3));
    assert_eq!(
        present(&st, &h).await.unwrap_err().code,
        ErrorCode::InvalidCredentials
    );
}

#[tokio::test]
async fn forged_unknown_and_unauthorised_signatures_are_refused() {
    let (st, _fx) = state("");
    let mut h = signed("h1", "report-bot", now(), BODY);
    h.insert(
        actor::ACTOR_HEADER,
        HeaderValue::from_static("report-other"),
    );
    let f = present(&st, &h).await.unwrap_err();
    assert!(f.reason.contains("signature"), "{}", f.reason);
    let f = present(&st, &signed("nope", "report-bot", now(), BODY))
        .await
        .unwrap_err();
    assert!(f.reason.contains("no actor key"), "{}", f.reason);
    let f = present(&st, &signed("h1", "ops-bot", now(), BODY))
        .await
        .unwrap_err();
    assert!(f.reason.contains("may not sign for"), "{}", f.reason);
    let mut h = signed("e1", "x", now(), BODY);
    h.insert(actor::SIG_HEADER, HeaderValue::from_static("AAAA"));
    assert_eq!(
        present(&st, &h).await.unwrap_err().code,
        ErrorCode::InvalidCredentials
    );
}

#[tokio::test]
async fn headers_are_read_in_any_case_with_spaces_but_never_twice_or_partly() {
    let (st, _fx) = state("");
    let h = signed("h1", "report-bot", now(), BODY);
    let mut spaced = HeaderMap::new();
    spaced.insert("host", HeaderValue::from_static("localhost"));
    for (k, v) in h.iter().filter(|(k, _)| k.as_str() != "host") {
        let upper = HeaderName::from_bytes(k.as_str().to_ascii_uppercase().as_bytes()).unwrap();
        let padded = format!("  {}  ", v.to_str().unwrap());
        spaced.insert(upper, HeaderValue::from_str(&padded).unwrap());
    }
    assert!(present(&st, &spaced).await.is_ok());
    let mut twice = signed("h1", "report-bot", now() - 1, BODY);
    twice.append(actor::KID_HEADER, HeaderValue::from_static("e1"));
    assert_eq!(
        present(&st, &twice).await.unwrap_err().code,
        ErrorCode::RepeatedHeader
    );
    for missing in actor::HEADERS {
        let mut h = signed("h1", "report-bot", now() - 2, BODY);
        h.remove(missing);
        let f = present(&st, &h).await.unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidCredentials, "{missing}");
    }
    for (name, value) in [
        (actor::TS_HEADER, "yesterday"),
        (actor::ACTOR_HEADER, "has space"),
        (actor::BODY_HEADER, "abc"),
    ] {
        let mut h = signed("h1", "report-bot", now() - 3, BODY);
        h.insert(name, HeaderValue::from_static(value));
        assert_eq!(
            present(&st, &h).await.unwrap_err().code,
            ErrorCode::InvalidCredentials,
            "{name}"
        );
    }
}

#[tokio::test]
async fn keys_rotate_through_overlapping_validity_windows() {
    let pk = actor::b64(&ed25519_public(&SEED).unwrap());
    // T0 is 2027-01-15T08:00:00Z.
    let (st, fx) = state(&format!(
        "not_before = \"2027-01-15T07:00:00Z\"\n\n[[identity.actors]]\nkid = \"e-old\"\nalgorithm = \"ed25519\"\npublic_key = \"{pk}\"\ntenant = \"acme\"\nrole = \"reader\"\nnot_after = \"2027-01-15T08:30:00Z\"\n"
    ));
    assert!(present(&st, &signed("e1", "a", now(), BODY)).await.is_ok());
    assert!(
        present(&st, &signed("e-old", "a", now(), BODY))
            .await
            .is_ok(),
        "both in the overlap"
    );
    fx.clock.advance(Duration::from_secs(31 * 60));
    let t = now() + 31 * 60;
    assert!(present(&st, &signed("e1", "a", t, BODY)).await.is_ok());
    let f = present(&st, &signed("e-old", "a", t, BODY))
        .await
        .unwrap_err();
    assert_eq!(f.code, ErrorCode::CredentialExpired);
}

#[tokio::test]
async fn a_secret_that_was_not_read_refuses_and_a_request_without_a_body_signs_the_empty_one() {
    let (st, _fx) = state("");
    let config = st.config.clone();
    let fresh =
        super::SignedActors::from_config(&config, Arc::new(portcullis_store::MemoryStore::new()))
            .unwrap();
    assert!(
        fresh
            .resolve_secrets(&|_| None)
            .unwrap_err()
            .contains("ACTOR_SECRET")
    );
    assert!(
        fresh
            .resolve_secrets(&|_| Some("short".into()))
            .unwrap_err()
            .contains("32 bytes")
    );
    let peer = Peer {
        client: None,
        line: "GET /mcp",
        cid: "c",
        cert: None,
    };
    let f = admit(&st, &signed("h1", "report-bot", now(), BODY), &peer)
        .await
        .unwrap_err();
    assert!(f.reason.contains("empty body"), "{}", f.reason);
}

#[tokio::test]
async fn a_client_certificate_binds_the_signed_actor_of_its_request() {
    use crate::ingress::tls::ClientCert;
    let (st, _fx) = state(
        "\n[server.tls]\ncert = \"gw.pem\"\nkey = \"gw.key\"\nclient_ca = \"ca.pem\"\n\n[[identity.certificates]]\ncn = \"report-*\"\ntenant = \"acme\"\nrole = \"reader\"\n",
    );
    let cert = |cn: &str| ClientCert {
        cn: Some(cn.to_string()),
        sha256: "00".repeat(32),
        ..Default::default()
    };
    let admit_with = |c: ClientCert, h: HeaderMap| {
        let st = st.clone();
        async move {
            let peer = Peer {
                client: None,
                line: "POST /mcp",
                cid: "c",
                cert: Some(&c),
            };
            admit(&st, &h, &peer).await
        }
    };
    // The same actor with both: the signed credential is the principal.
    let p = admit_with(cert("report-bot"), signed("h1", "report-bot", now(), BODY))
        .await
        .unwrap();
    assert_eq!(
        (p.agent.as_str(), p.auth_method),
        ("report-bot", AuthMethod::SignedActor)
    );
    // Another actor signed on this workload's certificate: refused.
    let f = admit_with(
        cert("report-other"),
        signed("h1", "report-bot", now() - 1, BODY),
    )
    .await
    .unwrap_err();
    assert_eq!(f.code, ErrorCode::IdentityMismatch);
    assert!(f.reason.contains("acme/report-other"), "{}", f.reason);
    // The certificate alone.
    let mut bare = HeaderMap::new();
    bare.insert("host", HeaderValue::from_static("localhost"));
    let p = admit_with(cert("report-bot"), bare.clone()).await.unwrap();
    assert_eq!(
        (p.auth_method, p.role.as_str()),
        (AuthMethod::Mtls, "reader")
    );
    // A certificate that names no actor is no credential.
    let f = admit_with(cert("stranger"), bare).await.unwrap_err();
    assert_eq!(f.code, ErrorCode::MissingCredentials);
}
