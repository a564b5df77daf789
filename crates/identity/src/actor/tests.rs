use super::*;

const SEED: [u8; 32] = [7; 32];
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn message() -> String {
    canonical(
        "POST",
        "/mcp",
        "report-bot",
        1_800_000_000,
        "bot-1",
        &body_hash(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    )
}

/// The test vector of docs/identity.md: body `{"jsonrpc":"2.0","id":1,"method":"ping"}`,
/// HMAC secret `0123456789abcdef0123456789abcdef`, Ed25519 seed of 32 bytes 0x07.
#[test]
fn the_documented_test_vector_holds() {
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(
        body_hash(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let m = message();
    assert_eq!(
        m,
        format!(
            "PORTCULLIS-ACTOR-V1\nPOST\n/mcp\nreport-bot\n1800000000\nbot-1\n{}",
            body_hash(body)
        )
    );
    // Computed independently with Python's hashlib, hmac and cryptography.
    assert_eq!(
        body_hash(body),
        "98e0961a7c1232f08d2f2187d13c4a1a22a0641e00e5dec0eca645d646077fab"
    );
    assert_eq!(
        sign_hmac(SECRET, &m),
        "zXKzhkC4xx63qwGoXWX8jihkC5qNhjJ8jlfaVDE6Wak"
    );
    assert_eq!(
        sign_ed25519(&SEED, &m).unwrap(),
        "Kkt4LpUcUqv70fthxyM6QuyN11pmCikad5d4Df9gTpyPmiZgKzjrHOJdRHJWBNVh9YW1U-EMzFBfG0RLwm50Cw"
    );
    assert_eq!(
        URL_SAFE_NO_PAD.encode(ed25519_public(&SEED).unwrap()),
        "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"
    );
}

#[test]
fn signatures_verify_and_any_change_breaks_them() {
    let hmac = Verifier::Hmac(SECRET.to_vec());
    let ed = Verifier::Ed25519(ed25519_public(&SEED).unwrap());
    let m = message();
    let hsig = sign_hmac(SECRET, &m);
    let esig = sign_ed25519(&SEED, &m).unwrap();
    assert!(hmac.verify(&m, &hsig));
    assert!(ed.verify(&m, &esig));
    let changed = m.replace("report-bot", "report-bot2");
    assert!(!hmac.verify(&changed, &hsig) && !ed.verify(&changed, &esig));
    assert!(
        !hmac.verify(&m, &esig) && !ed.verify(&m, &hsig),
        "the other algorithm's signature"
    );
    for bad in [
        "",
        "not base64!",
        &hsig[..hsig.len() - 2],
        &format!("{hsig}="),
        &format!("{esig}AA"),
    ] {
        assert!(!hmac.verify(&m, bad) && !ed.verify(&m, bad), "{bad:?}");
    }
    let other = Verifier::Hmac(b"another secret of thirty-two bytes".to_vec());
    assert!(!other.verify(&m, &hsig));
}
