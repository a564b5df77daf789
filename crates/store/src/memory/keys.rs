//! In-memory API keys, by id.

use async_trait::async_trait;
use portcullis_identity::KeyRecord;

use super::MemoryStore;
use crate::{KeyStore, StoreError};

#[async_trait]
impl KeyStore for MemoryStore {
    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock(&self.keys)?.get(id).cloned())
    }

    async fn insert_key(&self, key: KeyRecord) -> Result<(), StoreError> {
        let mut keys = self.lock(&self.keys)?;
        if keys.contains_key(&key.id) {
            return Err(StoreError::Conflict(format!("key id '{}' exists", key.id)));
        }
        keys.insert(key.id.clone(), key);
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys: Vec<KeyRecord> = self.lock(&self.keys)?.values().cloned().collect();
        keys.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        Ok(match self.lock(&self.keys)?.get_mut(id) {
            Some(key) => {
                key.revoked_ms.get_or_insert(at_ms);
                true
            }
            None => false,
        })
    }
}
