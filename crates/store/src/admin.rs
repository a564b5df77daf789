//! The admin store (control plane): tenants and admin keys. A tenant change moves the
//! controls version (see [`crate::ControlStore::controls_version`]), so every replica learns
//! of a disabled tenant the way it learns of a kill switch; an agent key is refused at once
//! because its lookup reads its tenant's state with it.

use async_trait::async_trait;
use portcullis_identity::AdminKeyRecord;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// A tenant: the unit of isolation that keys, limits and the ledger are kept by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    /// Free text for operators.
    pub description: String,
    /// When it was disabled, if it is: its keys stop working from then on.
    pub disabled_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Grows by one with every change (1 when created): the admin API's ETag.
    pub version: u64,
}

/// A name a role may use beyond what the config file gives it: an allow glob added through the
/// admin API. Grants never add write or destructive rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub role: String,
    pub pattern: String,
    /// Who made it.
    pub actor: String,
    pub created_ms: i64,
}

#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    /// Every tenant, by name.
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Store `tenant`. With `expected_version` `None` it is created (`Conflict` if the name
    /// exists) at version 1; with `Some(v)` it replaces the stored one only if that is at
    /// version `v` (`NotFound` if there is none, `Conflict` if it moved on), and its version
    /// becomes `v + 1`. The version in `tenant` is ignored. Returns what was stored.
    async fn put_tenant(
        &self,
        tenant: Tenant,
        expected_version: Option<u64>,
    ) -> Result<Tenant, StoreError>;
    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError>;
    /// Insert a new admin key; `Conflict` if its id exists.
    async fn insert_admin_key(&self, key: AdminKeyRecord) -> Result<(), StoreError>;
    /// Every admin key, oldest first.
    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError>;
    /// Revoke an admin key at `at_ms` (an earlier revocation stays); false if no such key.
    async fn revoke_admin_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Every grant, by role then pattern.
    async fn grants(&self) -> Result<Vec<Grant>, StoreError>;
    /// Add a grant (`Conflict` if the role has that pattern already); moves the controls
    /// version.
    async fn add_grant(&self, grant: Grant) -> Result<(), StoreError>;
    /// Remove a grant; false if there was none. Moves the controls version when it removes one.
    async fn remove_grant(&self, role: &str, pattern: &str) -> Result<bool, StoreError>;
}

/// What [`AdminStore::put_tenant`] stores, given what is stored now: the shared rule of every
/// backend.
pub fn next_tenant(
    mut tenant: Tenant,
    stored: Option<&Tenant>,
    expected_version: Option<u64>,
) -> Result<Tenant, StoreError> {
    match (stored, expected_version) {
        (Some(_), None) => Err(StoreError::Conflict(format!(
            "tenant '{}' exists",
            tenant.name
        ))),
        (None, None) => {
            tenant.version = 1;
            Ok(tenant)
        }
        (None, Some(_)) => Err(StoreError::NotFound(format!("tenant '{}'", tenant.name))),
        (Some(s), Some(v)) if s.version != v => Err(StoreError::Conflict(format!(
            "tenant '{}' is at version {}, not {v}",
            tenant.name, s.version
        ))),
        (Some(s), Some(_)) => {
            tenant.version = s.version + 1;
            tenant.created_ms = s.created_ms;
            Ok(tenant)
        }
    }
}
