//! What each credential costs to check, per request, in process: an API key's parse and hash
//! comparison (the store lookup is not included), a JWT's full verification for each allowed
//! algorithm (issuer peek, header, key choice, signature, claims), and a signed actor request's
//! canonical string, body hash and signature check (the replay reservation is not included).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::JwkSet;
use portcullis_identity::jwt::{self, ALLOWED, ClaimNames, IssuerRules};
use portcullis_identity::test_keys::{TestKey, jwks};
use portcullis_identity::{GeneratedKey, KeyRecord, ParsedKey, actor};
use serde_json::json;

const NOW: i64 = 1_800_000_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("credential_check");
    let key = GeneratedKey::generate();
    let record = KeyRecord {
        id: key.id.clone(),
        tenant: "t".into(),
        agent: "a".into(),
        role: "r".into(),
        hash_hex: hex::encode(key.hash),
        created_ms: 0,
        expires_ms: None,
        revoked_ms: None,
        tenant_disabled_ms: None,
    };
    g.bench_function("api_key", |b| {
        b.iter(|| {
            let parsed = ParsedKey::parse(black_box(&key.token)).expect("parsed");
            black_box(record.check(&parsed, NOW * 1000))
        })
    });
    let rules = IssuerRules {
        issuer: "https://idp.example".into(),
        audiences: vec!["https://gw.example/mcp".into()],
        algorithms: ALLOWED.to_vec(),
        required_scopes: vec!["mcp".into()],
        claims: ClaimNames::default(),
        fixed_tenant: None,
        skew_s: 60,
        max_token_bytes: 8192,
    };
    let claims = json!({
        "iss": "https://idp.example", "aud": "https://gw.example/mcp", "sub": "svc",
        "tenant": "acme", "roles": ["agent"], "scope": "mcp", "jti": "t-1",
        "iat": NOW, "exp": NOW + 600,
    });
    for (name, k) in [
        ("jwt_rs256", TestKey::rsa("rsa")),
        ("jwt_es256", TestKey::ec("ec")),
        ("jwt_eddsa", TestKey::ed("ed")),
    ] {
        let set = jwt::Keys::from(serde_json::from_value::<JwkSet>(jwks(&[&k])).expect("set"));
        let token = k.sign(&claims);
        g.bench_function(name, |b| {
            b.iter(|| {
                let iss = jwt::claimed_issuer(black_box(&token), 8192).expect("issuer");
                black_box(iss);
                jwt::verify(&rules, &set, black_box(&token), NOW).expect("verified")
            })
        });
    }
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo.echo"}}"#;
    let secret = b"an hmac secret of at least thirty-two bytes".to_vec();
    let seed = [7u8; 32];
    let message = |kid: &str| {
        actor::canonical(
            "POST",
            "/mcp",
            "report-bot",
            NOW,
            kid,
            &actor::body_hash(body),
        )
    };
    let hsig = actor::sign_hmac(&secret, &message("h"));
    let esig = actor::sign_ed25519(&seed, &message("e")).expect("signed");
    let hmac = actor::Verifier::Hmac(secret.clone());
    let ed = actor::Verifier::Ed25519(actor::ed25519_public(&seed).expect("public"));
    g.bench_function("signed_hmac_sha256", |b| {
        b.iter(|| assert!(hmac.verify(&message(black_box("h")), black_box(&hsig))))
    });
    g.bench_function("signed_ed25519", |b| {
        b.iter(|| assert!(ed.verify(&message(black_box("e")), black_box(&esig))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
