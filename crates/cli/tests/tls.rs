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
