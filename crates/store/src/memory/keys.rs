//! In-memory API keys, by id.

use async_trait::async_trait;
use portcullis_identity::KeyRecord;

use super::MemoryStore;
use crate::{KeyStore, StoreError};

#[async_trait]
impl KeyStore for MemoryStore {
    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let key = self.lock(&self.keys)?.get(id).cloned();
        key.map(|k| self.with_tenant(k)).transpose()
    }

    async fn insert_key(&self, key: KeyRecord) -> Result<(), StoreError> {
        let mut keys = self.lock(&self.keys)?;
        if keys.contains_key(&key.id) {
            return Err(StoreError::Conflict(format!("key id '{}' exists", key.id)));
        }
        keys.insert(
            key.id.clone(),
            KeyRecord {
                tenant_disabled_ms: None,
                ..key
            },
        );
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let keys: Vec<KeyRecord> = self.lock(&self.keys)?.values().cloned().collect();
        let mut keys = keys
            .into_iter()
            .map(|k| self.with_tenant(k))
            .collect::<Result<Vec<_>, _>>()?;
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

impl MemoryStore {
    /// The key with its tenant's state, as SQLite's join reads it.
    fn with_tenant(&self, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
        key.tenant_disabled_ms = self
            .lock(&self.admin)?
            .tenants
            .get(&key.tenant)
            .and_then(|t| t.disabled_ms);
        Ok(key)
    }
}
