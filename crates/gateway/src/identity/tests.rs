//! The identity chain and admission, in-process: the key store is the in-memory backend and
//! time is a controlled clock, so expiry is tested by moving the clock, not by sleeping.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use portcullis_identity::{AuthMethod, GeneratedKey, KeyRecord};
use portcullis_protocol::ErrorCode;
use portcullis_store::{KeyStore, Lifecycle};

use crate::admission::{Peer, admit as admit_with};
use crate::state::AppState;
use crate::testing::{self, T0};

/// Admission of a request from a test client.
async fn admit(
    st: &AppState,
    h: &HeaderMap,
) -> Result<portcullis_identity::Principal, crate::respond::Failure> {
    let peer = Peer {
        client: Some("127.0.0.1:4000".parse().unwrap()),
        line: "POST /mcp",
        cid: "cid-test",
        cert: None,
    };
    admit_with(st, h, &peer).await
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost"));
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

/// A key of role `reader` in `keys`, expiring at `expires_ms`; returns its token.
async fn key(keys: &dyn KeyStore, expires_ms: Option<i64>) -> (String, String) {
    let k = GeneratedKey::generate();
    keys.insert_key(KeyRecord {
        id: k.id.clone(),
        tenant: "t1".into(),
        agent: "a1".into(),
        role: "reader".into(),
        hash_hex: hex::encode(k.hash),
        created_ms: T0,
        expires_ms,
        revoked_ms: None,
        tenant_disabled_ms: None,
    })
    .await
    .unwrap();
    (k.id, k.token)
}

fn code(r: Result<portcullis_identity::Principal, crate::respond::Failure>) -> ErrorCode {
    r.expect_err("refused").code
}

#[tokio::test]
async fn a_key_in_either_header_authenticates() {
    let (st, fx) = testing::state();
    let (id, token) = key(fx.store.as_ref(), None).await;
    for h in [
        headers(&[("authorization", &format!("Bearer {token}"))]),
        headers(&[("authorization", &format!("bearer  {token} "))]),
        headers(&[("x-mcp-key", &token)]),
    ] {
        let p = admit(&st, &h).await.unwrap();
        assert_eq!((p.tenant.as_str(), p.role.as_str()), ("t1", "reader"));
        assert_eq!(
            (p.credential_id.as_str(), p.auth_method),
            (id.as_str(), AuthMethod::ApiKey)
        );
    }
}

#[tokio::test]
async fn exactly_one_credential_may_claim_a_request() {
    let (st, fx) = testing::state();
    let (_, token) = key(fx.store.as_ref(), None).await;
    let bearer = format!("Bearer {token}");
    let cases: Vec<(HeaderMap, ErrorCode)> = vec![
        (headers(&[]), ErrorCode::MissingCredentials),
        (
            headers(&[("authorization", "Basic abc")]),
            ErrorCode::InvalidCredentials,
        ),
        (
            headers(&[("authorization", "Bearer")]),
            ErrorCode::InvalidCredentials,
        ),
        (
            headers(&[("authorization", "Bearer not-a-key")]),
            ErrorCode::InvalidCredentials,
        ),
        (
            headers(&[("x-mcp-key", "not-a-key")]),
            ErrorCode::InvalidCredentials,
        ),
        (
            headers(&[("authorization", &bearer), ("x-mcp-key", &token)]),
            ErrorCode::AmbiguousCredentials,
        ),
        (
            headers(&[("authorization", &bearer), ("authorization", &bearer)]),
            ErrorCode::RepeatedHeader,
        ),
        (
            headers(&[("x-mcp-key", &token), ("x-mcp-key", &token)]),
            ErrorCode::RepeatedHeader,
        ),
        (
            headers(&[("authorization", &format!("Bearer {}", "x".repeat(100_000)))]),
            ErrorCode::InvalidCredentials,
        ),
    ];
    let mut not_ascii = headers(&[]);
    not_ascii.insert("x-mcp-key", HeaderValue::from_bytes(b"pcl_\xff").unwrap());
    let cases = cases
        .into_iter()
        .chain([(not_ascii, ErrorCode::InvalidCredentials)]);
    for (h, expected) in cases {
        assert_eq!(code(admit(&st, &h).await), expected, "{h:?}");
    }
}

#[tokio::test]
async fn expiry_follows_the_clock() {
    let (st, fx) = testing::state();
    let (_, token) = key(fx.store.as_ref(), Some(T0 + 1_000)).await;
    let h = headers(&[("x-mcp-key", &token)]);
    assert!(admit(&st, &h).await.is_ok());
    fx.clock.advance(Duration::from_millis(999));
    assert!(admit(&st, &h).await.is_ok(), "valid until its expiry");
    fx.clock.advance(Duration::from_millis(1));
    assert_eq!(code(admit(&st, &h).await), ErrorCode::CredentialExpired);
}

#[tokio::test]
async fn revocation_applies_at_once_and_a_forged_secret_is_invalid() {
    let (st, fx) = testing::state();
    let (id, token) = key(fx.store.as_ref(), None).await;
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let h = headers(&[("x-mcp-key", &forged)]);
    assert_eq!(code(admit(&st, &h).await), ErrorCode::InvalidCredentials);
    fx.store.revoke_key(&id, T0).await.unwrap();
    let h = headers(&[("x-mcp-key", &token)]);
    assert_eq!(code(admit(&st, &h).await), ErrorCode::CredentialRevoked);
}

#[tokio::test]
async fn an_unreachable_key_store_denies_without_telling_why() {
    let (st, fx) = testing::state();
    let (_, token) = key(fx.store.as_ref(), None).await;
    fx.store.close().await;
    let f = admit(&st, &headers(&[("x-mcp-key", &token)]))
        .await
        .unwrap_err();
    assert_eq!(f.code, ErrorCode::AuditUnavailable);
    assert_eq!(f.reason, "the key store is unavailable");
    assert!(f.cause.is_some());
}

#[tokio::test]
async fn host_and_origin_are_checked_before_identity_and_read_once() {
    let (st, _) = testing::state();
    let mut h = headers(&[]);
    h.append("host", HeaderValue::from_static("evil.example"));
    assert_eq!(code(admit(&st, &h).await), ErrorCode::RepeatedHeader);
    let h = headers(&[
        ("origin", "http://a.example"),
        ("origin", "http://b.example"),
    ]);
    assert_eq!(code(admit(&st, &h).await), ErrorCode::RepeatedHeader);
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("evil.example"));
    assert_eq!(code(admit(&st, &h).await), ErrorCode::ForbiddenHost);
}

#[tokio::test]
async fn the_conformance_profile_admits_everyone_as_one_principal() {
    let config = format!(
        "{}\n[roles.conformance]\nallow = [\"*\"]\n[server]\nconformance_profile = true\n",
        testing::CONFIG
    );
    let (st, _) = testing::state_with(&config, portcullis_store::Stores::of);
    let p = admit(&st, &headers(&[])).await.unwrap();
    assert_eq!(
        (p.role.as_str(), p.auth_method),
        ("conformance", AuthMethod::Unauthenticated)
    );
}
