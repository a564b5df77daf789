use std::sync::OnceLock;

use jsonwebtoken::Header;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Value, json};

use super::*;
use crate::test_keys::{TestKey, jwks, unsigned};

const ISS: &str = "https://idp.example";
const AUD: &str = "https://gw.example/mcp";
const NOW: i64 = 1_800_000_000;

fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::rsa("rsa-1"))
}

fn rules() -> IssuerRules {
    IssuerRules {
        issuer: ISS.into(),
        audiences: vec![AUD.into()],
        algorithms: ALLOWED.to_vec(),
        required_scopes: vec!["mcp".into()],
        claims: ClaimNames::default(),
        fixed_tenant: None,
        skew_s: 60,
        max_token_bytes: 8192,
    }
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "user-7", "tenant": "acme",
        "roles": ["agent", "viewer"], "scope": "mcp other", "jti": "t-1",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 300,
    })
}

fn set(keys: &[&TestKey]) -> Keys {
    Keys::from(serde_json::from_value::<JwkSet>(jwks(keys)).unwrap())
}

fn check(key: &TestKey, token: &str) -> Result<Verified, TokenError> {
    verify(&rules(), &set(&[key]), token, NOW)
}

#[test]
fn tokens_of_each_allowed_algorithm_verify_and_name_the_principal() {
    let ps = TestKey::rsa("ps-1").with_alg(Algorithm::PS256);
    for key in [rsa(), &TestKey::ec("ec-1"), &TestKey::ed("ed-1"), &ps] {
        let v = check(key, &key.sign(&claims())).unwrap_or_else(|e| panic!("{:?}: {e}", key.alg));
        assert_eq!(
            v,
            Verified {
                issuer: ISS.into(),
                subject: "user-7".into(),
                tenant: "acme".into(),
                agent: "user-7".into(),
                roles: vec!["agent".into(), "viewer".into()],
                scopes: vec!["mcp".into(), "other".into()],
                token_id: Some("t-1".into()),
                expires_s: NOW + 300,
            }
        );
    }
}

#[test]
fn time_claims_are_checked_on_the_callers_clock_with_the_skew() {
    let key = TestKey::ec("ec-1");
    let with = |k: &str, v: i64| {
        let mut c = claims();
        c[k] = json!(v);
        key.sign(&c)
    };
    assert_eq!(
        check(&key, &with("exp", NOW - 61)),
        Err(TokenError::Expired)
    );
    assert!(
        check(&key, &with("exp", NOW - 59)).is_ok(),
        "within the skew"
    );
    assert_eq!(
        check(&key, &with("nbf", NOW + 61)),
        Err(TokenError::NotYetValid)
    );
    assert!(check(&key, &with("nbf", NOW + 59)).is_ok());
    assert_eq!(
        check(&key, &with("iat", NOW + 120)),
        Err(TokenError::IssuedInFuture)
    );
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        check(&key, &key.sign(&no_exp)),
        Err(TokenError::MissingClaim("exp".into()))
    );
}

#[test]
fn issuer_audience_scopes_and_claims_are_required() {
    let key = TestKey::ed("ed-1");
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        key.sign(&c)
    };
    assert_eq!(
        check(&key, &with("iss", json!("https://evil"))),
        Err(TokenError::UnknownIssuer)
    );
    assert_eq!(
        check(&key, &with("aud", json!("https://other/mcp"))),
        Err(TokenError::Audience)
    );
    assert!(
        check(&key, &with("aud", json!(["x", AUD]))).is_ok(),
        "one of several"
    );
    assert_eq!(
        check(&key, &with("scope", json!("other"))),
        Err(TokenError::MissingScopes(vec!["mcp".into()]))
    );
    assert!(
        check(&key, &with("scp", json!(["mcp"]))).is_ok(),
        "scp as a list"
    );
    assert_eq!(
        check(&key, &with("tenant", json!(""))),
        Err(TokenError::MissingClaim("tenant".into()))
    );
    let mut fixed = rules();
    fixed.fixed_tenant = Some("pinned".into());
    fixed.claims.agent = "client_id".into();
    let mut c = claims();
    c["client_id"] = json!("bot");
    c["tenant"] = json!("ignored");
    let v = verify(&fixed, &set(&[&key]), &key.sign(&c), NOW).unwrap();
    assert_eq!((v.tenant.as_str(), v.agent.as_str()), ("pinned", "bot"));
}

#[test]
fn forged_and_confused_tokens_are_refused() {
    let key = TestKey::ec("ec-1");
    let good = key.sign(&claims());
    // Tampered payload, signature kept.
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims();
    evil["tenant"] = json!("other-tenant");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(evil.to_string()),
        parts[2]
    );
    assert_eq!(check(&key, &tampered), Err(TokenError::Signature));
    // Signed by another key under the same kid.
    let impostor = TestKey::ec("ec-1");
    assert_eq!(
        check(&key, &impostor.sign(&claims())),
        Err(TokenError::Signature)
    );
    // alg none, and HS256 keyed with the public key's bytes.
    let none = unsigned(&json!({"alg": "none", "kid": "ec-1"}), &claims(), b"");
    assert!(matches!(check(&key, &none), Err(TokenError::Algorithm(_))));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("ec-1".into());
    let secret = key.jwk.to_string();
    let hs_token = jsonwebtoken::encode(
        &hs,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        check(&key, &hs_token),
        Err(TokenError::Algorithm("HS256".into()))
    );
    // An RSA token presented with an EC key of its kid: the key does not fit.
    let rsa_token = rsa().sign(&claims());
    let mut jwk = key.jwk.clone();
    jwk["kid"] = json!("rsa-1");
    let mixed = Keys::from(
        serde_json::from_value::<JwkSet>(json!({"keys": [key.jwk.clone(), jwk]})).unwrap(),
    );
    assert_eq!(
        verify(&rules(), &mixed, &rsa_token, NOW),
        Err(TokenError::KeyMismatch("rsa-1".into()))
    );
    // An algorithm the issuer does not allow, an unknown key, no kid.
    let mut only_rsa = rules();
    only_rsa.algorithms = vec![Algorithm::RS256];
    assert_eq!(
        verify(&only_rsa, &set(&[&key]), &good, NOW),
        Err(TokenError::Algorithm("ES256".into()))
    );
    assert_eq!(
        check(&TestKey::ec("other"), &good),
        Err(TokenError::UnknownKey("ec-1".into()))
    );
    let no_kid = key.sign_with(Header::new(Algorithm::ES256), &claims());
    assert_eq!(check(&key, &no_kid), Err(TokenError::NoKeyId));
}

#[test]
fn malformed_and_oversized_tokens_are_refused_before_any_key_is_used() {
    for bad in ["", "a.b", "a.b.c.d", "a..c", "a.b.c d", "é.b.c"] {
        assert!(!looks_like_jwt(bad), "{bad:?}");
        assert!(claimed_issuer(bad, 8192).is_err(), "{bad:?}");
    }
    assert!(looks_like_jwt("a-_.b.c"));
    let key = TestKey::ed("ed-1");
    let mut big = claims();
    big["pad"] = json!("x".repeat(9000));
    let token = key.sign(&big);
    assert_eq!(check(&key, &token), Err(TokenError::TooLarge(8192)));
    assert_eq!(
        claimed_issuer(&token, 8192),
        Err(TokenError::TooLarge(8192))
    );
    assert_eq!(
        claimed_issuer(&key.sign(&claims()), 8192),
        Ok(ISS.to_string())
    );
    let no_iss = unsigned(&json!({"alg": "EdDSA"}), &json!({"sub": "x"}), b"sig");
    assert_eq!(
        claimed_issuer(&no_iss, 8192),
        Err(TokenError::MissingClaim("iss".into()))
    );
    let not_json = format!("{}.{}.{}", b64("{"), b64("["), b64("x"));
    assert!(claimed_issuer(&not_json, 8192).is_err());
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn algorithm_names_parse_only_for_allowed_algorithms() {
    assert_eq!(algorithm("RS256"), Some(Algorithm::RS256));
    assert_eq!(algorithm("eddsa"), Some(Algorithm::EdDSA));
    for bad in ["HS256", "none", "RS512", ""] {
        assert_eq!(algorithm(bad), None, "{bad}");
    }
}
