//! TLS on the listener through the real gateway: a certificate made in the test, a client
//! that trusts only it, a plain-HTTP request to the TLS port refused, and a new certificate
//! taken up when the files change, without a restart.

mod common;

use std::time::Duration;

use common::*;

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM (certificate, key).
fn certificate() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

fn client_trusting(pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_tls_and_takes_up_a_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate();
    let (cert_path, key_path) = (dir.path().join("gw.pem"), dir.path().join("gw.key"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let gw = Gateway::start(&demo_config(
        "enforce",
        &format!(
            "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\nreload_every = \"200ms\"\n",
            cert_path.display(),
            key_path.display()
        ),
    ));
    assert!(gw.base.starts_with("https://127.0.0.1:"), "{}", gw.base);
    let health = client_trusting(&cert)
        .get(format!("{}/health", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (_, api_key) = gw.key("agent", &[]);
    let status: serde_json::Value = client_trusting(&cert)
        .get(format!("{}/api/status", gw.base))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["tls"], true, "{status}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = gw.base.replace("https://", "http://");
    assert!(http().get(format!("{plain}/health")).send().await.is_err());
    // A client that does not trust the certificate cannot connect.
    let (other, other_key) = certificate();
    assert!(
        client_trusting(&other)
            .get(format!("{}/health", gw.base))
            .send()
            .await
            .is_err()
    );

    // The operator replaces the certificate: new connections get it.
    std::fs::write(&key_path, &other_key).unwrap();
    std::fs::write(&cert_path, &other).unwrap();
    wait_for_async("the new certificate", Duration::from_secs(10), || async {
        let c = client_trusting(&other);
        c.get(format!("{}/health", gw.base))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
            .map(|_| ())
    })
    .await;
}

#[test]
fn files_that_are_not_a_certificate_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("gw.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let err = match Gateway::try_start(&demo_config(
        "enforce",
        &format!(
            "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            dir.path().join("missing.key").display()
        ),
    )) {
        Ok(_) => panic!("started without a certificate"),
        Err(e) => e,
    };
    assert!(err.contains("server.tls"), "{err}");
}

/// A test certificate authority.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

fn new_ca(name: &str) -> Ca {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(p, key),
    }
}

/// A certificate signed by `ca` with these SANs and CN, valid until `days` from now (negative:
/// expired); PEM certificate and key.
fn leaf(ca: &Ca, sans: Vec<rcgen::SanType>, cn: &str, days: i64) -> (String, String) {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.subject_alt_names = sans;
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(30);
    p.not_after = now + time::Duration::days(days);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn uri(s: &str) -> rcgen::SanType {
    rcgen::SanType::URI(s.try_into().unwrap())
}

fn client(ca: &Ca, identity: Option<&(String, String)>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5));
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}\n{key}");
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn initialize_with(
    c: &reqwest::Client,
    url: &str,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let mut rb = c
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_mapped_to_actors_and_bound_to_other_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("clients and server");
    let server = leaf(
        &ca,
        vec![
            rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
            rcgen::SanType::DnsName("localhost".try_into().unwrap()),
        ],
        "gateway",
        30,
    );
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key, ca_file) = (
        write("gw.pem", &server.0),
        write("gw.key", &server.1),
        write("ca.pem", &ca.pem),
    );
    // A token issuer too, to bind tokens to certificates.
    let token_key = portcullis_identity::test_keys::TestKey::ed("ed-1");
    let jwks = write(
        "jwks.json",
        &portcullis_identity::test_keys::jwks(&[&token_key]).to_string(),
    );
    let gw = Gateway::start(&demo_config(
        "enforce",
        &format!(
            "[server.tls]\ncert = \"{cert}\"\nkey = \"{key}\"\nclient_ca = \"{ca_file}\"\n\n[identity]\nresource = \"https://gw.test/mcp\"\n\n[[identity.oidc]]\nissuer = \"https://idp.test\"\njwks_file = \"{jwks}\"\n\n[[identity.certificates]]\nuri = \"spiffe://acme.example/agent/*\"\ntenant = \"acme\"\nrole = \"agent\"\n\n[[identity.certificates]]\ncn = \"agent-*\"\ntenant = \"t1\"\nrole = \"agent\"\n"
        ),
    ));
    let spiffe = leaf(
        &ca,
        vec![uri("spiffe://acme.example/agent/report")],
        "report",
        30,
    );
    // The certificate alone is the credential.
    let (status, body) = initialize_with(&client(&ca, Some(&spiffe)), &gw.url, None).await;
    assert_eq!(status, 200, "{body}");

    // No certificate, a certificate of another CA, an expired one: no TLS session at all.
    let other = new_ca("someone else");
    let stranger = leaf(
        &other,
        vec![uri("spiffe://acme.example/agent/report")],
        "x",
        30,
    );
    let expired = leaf(
        &ca,
        vec![uri("spiffe://acme.example/agent/report")],
        "report",
        -1,
    );
    for (what, c) in [
        ("no certificate", client(&ca, None)),
        ("another CA", client(&ca, Some(&stranger))),
        ("expired", client(&ca, Some(&expired))),
    ] {
        let r = c.get(format!("{}/health", gw.base)).send().await;
        assert!(r.is_err(), "{what}: {r:?}");
    }

    // A certificate and an API key: they must name the same actor.
    let (_, api_key) = gw.key("agent", &[]);
    let (status, body) =
        initialize_with(&client(&ca, Some(&spiffe)), &gw.url, Some(&api_key)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "identity_mismatch");
    let same = leaf(&ca, vec![], "agent-agent", 30);
    let (status, body) = initialize_with(&client(&ca, Some(&same)), &gw.url, Some(&api_key)).await;
    assert_eq!(status, 200, "{body}");
    // A token on a certificate: the token's actor must be the certificate's.
    let token = |sub: &str| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        token_key.sign(&serde_json::json!({
            "iss": "https://idp.test", "aud": "https://gw.test/mcp", "sub": sub,
            "tenant": "acme", "roles": ["agent"], "iat": now, "exp": now + 300,
        }))
    };
    let (status, body) = initialize_with(
        &client(&ca, Some(&spiffe)),
        &gw.url,
        Some(&token("spiffe://acme.example/agent/other")),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (401, &serde_json::json!("identity_mismatch")),
        "{body}"
    );
    let (status, body) = initialize_with(
        &client(&ca, Some(&spiffe)),
        &gw.url,
        Some(&token("spiffe://acme.example/agent/report")),
    )
    .await;
    assert_eq!(status, 200, "the same actor: {body}");
    // A certificate that names no actor, and no other credential.
    let unmapped = leaf(&ca, vec![uri("spiffe://elsewhere/x")], "nobody", 30);
    let (status, body) = initialize_with(&client(&ca, Some(&unmapped)), &gw.url, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "missing_credentials");

    // The mismatch is a recorded refusal.
    let recs = wait_for_record(&gw.db_path(), "the mismatch refusal", |r| {
        r["code"] == "identity_mismatch"
    })
    .await;
    assert_eq!(recs["decision"], "deny");
}
