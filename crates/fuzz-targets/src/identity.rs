//! Bearer tokens: what a client sends as `Authorization: Bearer <token>`, read by the token
//! authenticator before any key is used.

use jsonwebtoken::jwk::JwkSet;
use portcullis_identity::jwt::{self, ALLOWED, ClaimNames, IssuerRules};
use serde_json::json;

/// The issuer of the corpus's tokens, and its Ed25519 key (the seed of 32 bytes 0x07).
const ISS: &str = "https://idp.example";
const PUBLIC_KEY: &str = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";
/// The corpus's tokens are checked at this time (seconds).
const NOW: i64 = 1_800_000_000;

/// A bearer token (the input as UTF-8; other bytes are not a header value a token can be):
/// reading its issuer and verifying it never panic; a token that verifies has the JWS form,
/// claims the issuer, and names the principal the rules say.
pub fn jwt_token(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let claimed = jwt::claimed_issuer(token, 8192);
    if claimed.is_ok() {
        assert!(jwt::looks_like_jwt(token));
    }
    let rules = IssuerRules {
        issuer: ISS.into(),
        audiences: vec!["https://gw.example/mcp".into()],
        algorithms: ALLOWED.to_vec(),
        required_scopes: vec!["mcp".into()],
        claims: ClaimNames::default(),
        fixed_tenant: None,
        skew_s: 60,
        max_token_bytes: 8192,
    };
    let keys = jwt::Keys::from(
        serde_json::from_value::<JwkSet>(json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "x": PUBLIC_KEY,
        }]}))
        .expect("the fixed key set"),
    );
    if let Ok(v) = jwt::verify(&rules, &keys, token, NOW) {
        assert_eq!(claimed.as_deref(), Ok(ISS));
        assert_eq!(v.issuer, ISS);
        assert!(v.scopes.iter().any(|s| s == "mcp"));
        assert!(!v.tenant.is_empty() && !v.agent.is_empty() && !v.subject.is_empty());
        assert!(NOW <= v.expires_s + 60);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus holds a token that verifies, so the properties of a verified token are
    /// exercised by the replay, not only the refusals.
    #[test]
    fn the_corpus_has_a_token_that_verifies() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/jwt_token/valid-eddsa"
        );
        let token = std::fs::read_to_string(path).expect("corpus token");
        assert_eq!(jwt::claimed_issuer(&token, 8192).as_deref(), Ok(ISS));
        jwt_token(token.as_bytes());
        let keys = jwt::Keys::from(
            serde_json::from_value::<JwkSet>(json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "x": PUBLIC_KEY,
            }]}))
            .unwrap(),
        );
        let rules = IssuerRules {
            issuer: ISS.into(),
            audiences: vec!["https://gw.example/mcp".into()],
            algorithms: ALLOWED.to_vec(),
            required_scopes: vec![],
            claims: ClaimNames::default(),
            fixed_tenant: None,
            skew_s: 60,
            max_token_bytes: 8192,
        };
        assert!(jwt::verify(&rules, &keys, &token, NOW).is_ok());
    }
}
