//! In-memory tenants and admin keys, ordered like SQLite's.

use std::collections::BTreeMap;

use async_trait::async_trait;
use portcullis_identity::AdminKeyRecord;

use super::MemoryStore;
use crate::admin::next_tenant;
use crate::{AdminStore, Grant, StoreError, Tenant};

#[derive(Default)]
pub(super) struct Admin {
    pub(super) tenants: BTreeMap<String, Tenant>,
    keys: BTreeMap<String, AdminKeyRecord>,
    /// By (role, pattern).
    grants: BTreeMap<(String, String), Grant>,
}

#[async_trait]
impl AdminStore for MemoryStore {
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(self.lock(&self.admin)?.tenants.get(name).cloned())
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        Ok(self.lock(&self.admin)?.tenants.values().cloned().collect())
    }

    async fn put_tenant(
        &self,
        tenant: Tenant,
        expected_version: Option<u64>,
    ) -> Result<Tenant, StoreError> {
        let mut admin = self.lock(&self.admin)?;
        let stored = admin.tenants.get(&tenant.name).cloned();
        let next = next_tenant(tenant, stored.as_ref(), expected_version)?;
        admin.tenants.insert(next.name.clone(), next.clone());
        self.lock(&self.controls)?.version += 1;
        Ok(next)
    }

    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
        Ok(self.lock(&self.admin)?.keys.get(id).cloned())
    }

    async fn insert_admin_key(&self, key: AdminKeyRecord) -> Result<(), StoreError> {
        let mut admin = self.lock(&self.admin)?;
        if admin.keys.contains_key(&key.id) {
            return Err(StoreError::Conflict(format!(
                "admin key id '{}' exists",
                key.id
            )));
        }
        admin.keys.insert(key.id.clone(), key);
        Ok(())
    }

    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
        let mut keys: Vec<AdminKeyRecord> =
            self.lock(&self.admin)?.keys.values().cloned().collect();
        keys.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(keys)
    }

    async fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        Ok(self.lock(&self.admin)?.grants.values().cloned().collect())
    }

    async fn add_grant(&self, grant: Grant) -> Result<(), StoreError> {
        let mut admin = self.lock(&self.admin)?;
        let k = (grant.role.clone(), grant.pattern.clone());
        if admin.grants.contains_key(&k) {
            return Err(StoreError::Conflict(format!(
                "role '{}' has the grant '{}' already",
                grant.role, grant.pattern
            )));
        }
        admin.grants.insert(k, grant);
        self.lock(&self.controls)?.version += 1;
        Ok(())
    }

    async fn remove_grant(&self, role: &str, pattern: &str) -> Result<bool, StoreError> {
        let removed = self
            .lock(&self.admin)?
            .grants
            .remove(&(role.to_string(), pattern.to_string()))
            .is_some();
        if removed {
            self.lock(&self.controls)?.version += 1;
        }
        Ok(removed)
    }

    async fn revoke_admin_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        Ok(match self.lock(&self.admin)?.keys.get_mut(id) {
            Some(key) => {
                key.revoked_ms.get_or_insert(at_ms);
                true
            }
            None => false,
        })
    }
}
