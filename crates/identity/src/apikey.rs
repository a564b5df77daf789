//! API keys: `pcl_<id>_<secret>` for agents and `pca_<id>_<secret>` for administrators, 12 hex
//! id characters and 43 base64url secret characters (256 random bits). The prefix keeps the two
//! apart: an agent key is never looked up as an admin key, nor the other way round. Only SHA-256
//! of the whole key is stored; the id finds the row and the hash is compared in constant time.
//! Keys are random, so a fast hash is the right hash here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "pcl_";
/// The prefix of admin keys (the admin API's credentials).
pub const ADMIN_PREFIX: &str = "pca_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 43;
/// Total length of a well-formed key.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("API key is not in the <prefix>_<id>_<secret> format")]
    Malformed,
}

/// A freshly generated key: `token` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    pub id: String,
    pub token: String,
    pub hash: [u8; 32],
}

impl GeneratedKey {
    /// A new agent key.
    pub fn generate() -> GeneratedKey {
        GeneratedKey::with_prefix(PREFIX)
    }

    /// A new admin key.
    pub fn admin() -> GeneratedKey {
        GeneratedKey::with_prefix(ADMIN_PREFIX)
    }

    fn with_prefix(prefix: &str) -> GeneratedKey {
        let mut id = [0u8; ID_LEN / 2];
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut secret);
        let id = hex::encode(id);
        let token = format!("{prefix}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        let hash = hash_token(&token);
        GeneratedKey { id, token, hash }
    }
}

/// A presented key, parsed and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub id: String,
    pub hash: [u8; 32],
}

impl ParsedKey {
    /// An agent key.
    pub fn parse(token: &str) -> Result<ParsedKey, ApiKeyError> {
        ParsedKey::parse_with(PREFIX, token)
    }

    /// An admin key.
    pub fn parse_admin(token: &str) -> Result<ParsedKey, ApiKeyError> {
        ParsedKey::parse_with(ADMIN_PREFIX, token)
    }

    fn parse_with(prefix: &str, token: &str) -> Result<ParsedKey, ApiKeyError> {
        if token.len() != KEY_LEN || !token.starts_with(prefix) {
            return Err(ApiKeyError::Malformed);
        }
        let rest = &token[prefix.len()..];
        let (id, secret) = rest.split_at(ID_LEN);
        let secret = secret.strip_prefix('_').ok_or(ApiKeyError::Malformed)?;
        let id_ok = id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let secret_ok = secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok || !secret_ok {
            return Err(ApiKeyError::Malformed);
        }
        Ok(ParsedKey {
            id: id.to_string(),
            hash: hash_token(token),
        })
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A key as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub tenant: String,
    pub agent: String,
    pub role: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub hash_hex: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    /// When the key's tenant was disabled, if it is: read from the tenant with the key, never
    /// stored with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_disabled_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Valid,
    /// The presented secret does not match the stored hash.
    Mismatch,
    Expired,
    Revoked,
    /// The key is sound but its tenant is disabled.
    TenantDisabled,
}

/// Check a presented key against a stored hash and lifetime at `now_ms`. The hash is compared
/// first (in constant time), so a caller without the secret learns nothing about the key's
/// state.
pub fn check_key(
    hash_hex: &str,
    expires_ms: Option<i64>,
    revoked_ms: Option<i64>,
    presented: &ParsedKey,
    now_ms: i64,
) -> KeyStatus {
    let stored = hex::decode(hash_hex).unwrap_or_default();
    if stored.len() != 32 || !bool::from(stored.ct_eq(&presented.hash)) {
        return KeyStatus::Mismatch;
    }
    if revoked_ms.is_some_and(|r| r <= now_ms) {
        return KeyStatus::Revoked;
    }
    if expires_ms.is_some_and(|e| e <= now_ms) {
        return KeyStatus::Expired;
    }
    KeyStatus::Valid
}

impl KeyRecord {
    /// Check a presented key against this record at `now_ms` ([`check_key`]); a sound key of a
    /// disabled tenant is [`KeyStatus::TenantDisabled`].
    pub fn check(&self, presented: &ParsedKey, now_ms: i64) -> KeyStatus {
        match check_key(
            &self.hash_hex,
            self.expires_ms,
            self.revoked_ms,
            presented,
            now_ms,
        ) {
            KeyStatus::Valid if self.tenant_disabled_ms.is_some_and(|d| d <= now_ms) => {
                KeyStatus::TenantDisabled
            }
            s => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_for(k: &GeneratedKey) -> KeyRecord {
        KeyRecord {
            id: k.id.clone(),
            tenant: "t".into(),
            agent: "a".into(),
            role: "reader".into(),
            hash_hex: hex::encode(k.hash),
            created_ms: 0,
            expires_ms: None,
            revoked_ms: None,
            tenant_disabled_ms: None,
        }
    }

    #[test]
    fn generated_keys_parse_and_verify() {
        let k = GeneratedKey::generate();
        assert_eq!(k.token.len(), KEY_LEN);
        let p = ParsedKey::parse(&k.token).unwrap();
        assert_eq!(p.id, k.id);
        assert_eq!(record_for(&k).check(&p, 1), KeyStatus::Valid);
    }

    #[test]
    fn agent_and_admin_keys_never_parse_as_each_other() {
        let agent = GeneratedKey::generate();
        let admin = GeneratedKey::admin();
        assert!(admin.token.starts_with(ADMIN_PREFIX));
        assert_eq!(admin.token.len(), KEY_LEN);
        assert_eq!(ParsedKey::parse_admin(&admin.token).unwrap().id, admin.id);
        assert_eq!(ParsedKey::parse(&admin.token), Err(ApiKeyError::Malformed));
        assert_eq!(
            ParsedKey::parse_admin(&agent.token),
            Err(ApiKeyError::Malformed)
        );
    }

    #[test]
    fn a_disabled_tenant_stops_a_sound_key_but_not_before_its_time() {
        let k = GeneratedKey::generate();
        let p = ParsedKey::parse(&k.token).unwrap();
        let mut r = record_for(&k);
        r.tenant_disabled_ms = Some(10);
        assert_eq!(r.check(&p, 9), KeyStatus::Valid);
        assert_eq!(r.check(&p, 10), KeyStatus::TenantDisabled);
        r.revoked_ms = Some(5);
        assert_eq!(r.check(&p, 10), KeyStatus::Revoked, "revocation says more");
        let mut forged = k.token.clone();
        forged.pop();
        forged.push('!');
        assert!(ParsedKey::parse(&forged).is_err());
    }

    #[test]
    fn keys_are_unique() {
        let a = GeneratedKey::generate();
        let b = GeneratedKey::generate();
        assert_ne!(a.token, b.token);
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn a_wrong_secret_with_a_right_id_mismatches() {
        let k = GeneratedKey::generate();
        let mut forged = k.token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        let p = ParsedKey::parse(&forged).unwrap();
        assert_eq!(record_for(&k).check(&p, 1), KeyStatus::Mismatch);
    }

    #[test]
    fn expiry_and_revocation_apply() {
        let k = GeneratedKey::generate();
        let p = ParsedKey::parse(&k.token).unwrap();
        let mut r = record_for(&k);
        r.expires_ms = Some(100);
        assert_eq!(r.check(&p, 99), KeyStatus::Valid);
        assert_eq!(r.check(&p, 100), KeyStatus::Expired);
        r.revoked_ms = Some(50);
        assert_eq!(r.check(&p, 60), KeyStatus::Revoked);
    }

    #[test]
    fn malformed_and_hostile_tokens_are_refused() {
        let k = GeneratedKey::generate();
        for bad in [
            String::new(),
            "pcl_".into(),
            k.token[..KEY_LEN - 1].to_string(),
            format!("{}x", k.token),
            k.token.replacen("pcl_", "xyz_", 1),
            k.token.replacen('_', "-", 2),
            format!("pcl_{}_{}", "G".repeat(12), "a".repeat(43)),
            format!("pcl_{}_{}", "a".repeat(12), "é".repeat(21)),
            "x".repeat(10_000),
        ] {
            assert_eq!(
                ParsedKey::parse(&bad),
                Err(ApiKeyError::Malformed),
                "{bad:?}"
            );
        }
    }
}
