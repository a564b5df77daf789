//! Signed actor proofs: a request signed by the agent that sends it, with a key the gateway
//! knows by id. The signature (HMAC-SHA256 with a shared secret, or Ed25519) covers one
//! canonical string made of the request's method and path, the actor, the time, the key id and
//! the SHA-256 of the exact body bytes:
//!
//! ```text
//! PORTCULLIS-ACTOR-V1\n<METHOD>\n<path>\n<actor>\n<timestamp>\n<key id>\n<body sha-256, lowercase hex>
//! ```
//!
//! sent as the headers `x-actor-id`, `x-actor-ts` (Unix seconds), `x-actor-kid`,
//! `x-actor-content-sha256` and `x-actor-sig` (the signature, base64url without padding).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{hmac, signature};
use sha2::{Digest, Sha256};

pub const ACTOR_HEADER: &str = "x-actor-id";
pub const TS_HEADER: &str = "x-actor-ts";
pub const KID_HEADER: &str = "x-actor-kid";
pub const SIG_HEADER: &str = "x-actor-sig";
pub const BODY_HEADER: &str = "x-actor-content-sha256";
/// Every header of a signed request.
pub const HEADERS: [&str; 5] = [ACTOR_HEADER, TS_HEADER, KID_HEADER, SIG_HEADER, BODY_HEADER];

/// The string a signature covers.
pub fn canonical(
    method: &str,
    path: &str,
    actor: &str,
    ts: i64,
    kid: &str,
    body_sha256_hex: &str,
) -> String {
    format!("PORTCULLIS-ACTOR-V1\n{method}\n{path}\n{actor}\n{ts}\n{kid}\n{body_sha256_hex}")
}

/// The lowercase hex SHA-256 of `body`.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// What verifies a key id's signatures.
#[derive(Clone)]
pub enum Verifier {
    /// A shared secret (at least 32 bytes).
    Hmac(Vec<u8>),
    /// An Ed25519 public key (32 bytes).
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verifier::Hmac(_) => f.write_str("Hmac(…)"),
            Verifier::Ed25519(k) => write!(f, "Ed25519({})", URL_SAFE_NO_PAD.encode(k)),
        }
    }
}

impl Verifier {
    /// Whether `sig` (base64url, no padding) is a valid signature of `message`. HMAC tags are
    /// compared in constant time.
    pub fn verify(&self, message: &str, sig: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        match self {
            Verifier::Hmac(secret) => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
                hmac::verify(&key, message.as_bytes(), &sig).is_ok()
            }
            Verifier::Ed25519(pk) => signature::UnparsedPublicKey::new(&signature::ED25519, pk)
                .verify(message.as_bytes(), &sig)
                .is_ok(),
        }
    }
}

/// Bytes as base64url without padding: how signatures and public keys are written.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Sign `message` with an HMAC secret (for clients, tests and docs).
pub fn sign_hmac(secret: &[u8], message: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, message.as_bytes()).as_ref())
}

/// Sign `message` with an Ed25519 private key given as its 32-byte seed.
pub fn sign_ed25519(seed: &[u8; 32], message: &str) -> Option<String> {
    let pair = signature::Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
    Some(URL_SAFE_NO_PAD.encode(pair.sign(message.as_bytes()).as_ref()))
}

/// The Ed25519 public key of a 32-byte seed.
pub fn ed25519_public(seed: &[u8; 32]) -> Option<[u8; 32]> {
    use ring::signature::KeyPair;
    let pair = signature::Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
    pair.public_key().as_ref().try_into().ok()
}

#[cfg(test)]
mod tests;
