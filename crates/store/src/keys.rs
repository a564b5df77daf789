//! The key store (control plane): agent API keys, stored only as hashes.

use async_trait::async_trait;
use portcullis_identity::KeyRecord;

use crate::StoreError;

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Insert a new key; `Conflict` if its id exists.
    async fn insert_key(&self, key: KeyRecord) -> Result<(), StoreError>;
    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Revoke a key at `at_ms` (an earlier revocation stays); false if no such key.
    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError>;
}
