//! Tenants and admin keys in SQLite. A tenant is written in one writer transaction that
//! compares its version and bumps `controls_version`, so concurrent edits cannot both win and
//! a replica polling the version sees the change.

use async_trait::async_trait;
use portcullis_identity::{AdminKeyRecord, AdminRole};
use rusqlite::{OptionalExtension, Transaction, params};

use super::controls::bump_version;
use super::writer::Op;
use super::{SqliteStore, query_all};
use crate::admin::next_tenant;
use crate::{AdminStore, Grant, StoreError, Tenant};

const TENANT_COLUMNS: &str = "name, description, disabled_ms, created_ms, updated_ms, version";
const ADMIN_KEY_COLUMNS: &str =
    "id, name, role, hash_hex, created_ms, expires_ms, revoked_ms, tenant";

fn tenant_from_row(row: &rusqlite::Row<'_>) -> Result<Tenant, StoreError> {
    let version: i64 = row.get(5)?;
    Ok(Tenant {
        name: row.get(0)?,
        description: row.get(1)?,
        disabled_ms: row.get(2)?,
        created_ms: row.get(3)?,
        updated_ms: row.get(4)?,
        version: u64::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("tenant version {version}")))?,
    })
}

fn admin_key_from_row(row: &rusqlite::Row<'_>) -> Result<AdminKeyRecord, StoreError> {
    let role: String = row.get(2)?;
    Ok(AdminKeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        role: AdminRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown admin role '{role}'")))?,
        hash_hex: row.get(3)?,
        created_ms: row.get(4)?,
        expires_ms: row.get(5)?,
        revoked_ms: row.get(6)?,
        tenant: row.get(7)?,
    })
}

pub(super) fn put_tenant(
    tx: &Transaction<'_>,
    tenant: Tenant,
    expected_version: Option<u64>,
) -> Result<Tenant, StoreError> {
    let stored = tx
        .query_row(
            &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?1"),
            [&tenant.name],
            |row| Ok(tenant_from_row(row)),
        )
        .optional()?
        .transpose()?;
    let next = next_tenant(tenant, stored.as_ref(), expected_version)?;
    tx.execute(
        "INSERT OR REPLACE INTO tenants(name, description, disabled_ms, created_ms, updated_ms, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            next.name,
            next.description,
            next.disabled_ms,
            next.created_ms,
            next.updated_ms,
            i64::try_from(next.version).unwrap_or(i64::MAX)
        ],
    )?;
    bump_version(tx)?;
    Ok(next)
}

pub(super) fn insert_admin_key(tx: &Transaction<'_>, k: &AdminKeyRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO admin_keys(id, name, role, hash_hex, created_ms, expires_ms, revoked_ms, tenant)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            k.id,
            k.name,
            k.role.as_str(),
            k.hash_hex,
            k.created_ms,
            k.expires_ms,
            k.revoked_ms,
            k.tenant
        ],
    )
    .map(|_| ())
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!("admin key id '{}' exists", k.id))
        }
        e => e.into(),
    })
}

pub(super) fn revoke_admin_key(
    tx: &Transaction<'_>,
    id: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE admin_keys SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
        params![id, at_ms],
    )? > 0)
}

pub(super) fn add_grant(tx: &Transaction<'_>, g: &Grant) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO role_grants(role, pattern, actor, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![g.role, g.pattern, g.actor, g.created_ms],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!(
                "role '{}' has the grant '{}' already",
                g.role, g.pattern
            ))
        }
        e => e.into(),
    })?;
    bump_version(tx)
}

pub(super) fn remove_grant(
    tx: &Transaction<'_>,
    role: &str,
    pattern: &str,
) -> Result<bool, StoreError> {
    let removed = tx.execute(
        "DELETE FROM role_grants WHERE role = ?1 AND pattern = ?2",
        params![role, pattern],
    )? > 0;
    if removed {
        bump_version(tx)?;
    }
    Ok(removed)
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            Ok(query_all(
                c,
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?1"),
                [name],
                tenant_from_row,
            )?
            .pop())
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(|c| {
            query_all(
                c,
                &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"),
                [],
                tenant_from_row,
            )
        })
        .await
    }

    async fn put_tenant(
        &self,
        tenant: Tenant,
        expected_version: Option<u64>,
    ) -> Result<Tenant, StoreError> {
        self.call(|reply| Op::PutTenant(Box::new(tenant), expected_version, reply))
            .await
    }

    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            Ok(query_all(
                c,
                &format!("SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys WHERE id = ?1"),
                [id],
                admin_key_from_row,
            )?
            .pop())
        })
        .await
    }

    async fn insert_admin_key(&self, key: AdminKeyRecord) -> Result<(), StoreError> {
        self.call(|reply| Op::InsertAdminKey(Box::new(key), reply))
            .await
    }

    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
        self.read(|c| {
            query_all(
                c,
                &format!("SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys ORDER BY created_ms, id"),
                [],
                admin_key_from_row,
            )
        })
        .await
    }

    async fn revoke_admin_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.call(|reply| Op::RevokeAdminKey(id, at_ms, reply))
            .await
    }

    async fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        self.read(|c| {
            query_all(
                c,
                "SELECT role, pattern, actor, created_ms FROM role_grants ORDER BY role, pattern",
                [],
                |row| {
                    Ok(Grant {
                        role: row.get(0)?,
                        pattern: row.get(1)?,
                        actor: row.get(2)?,
                        created_ms: row.get(3)?,
                    })
                },
            )
        })
        .await
    }

    async fn add_grant(&self, grant: Grant) -> Result<(), StoreError> {
        self.call(|reply| Op::AddGrant(Box::new(grant), reply))
            .await
    }

    async fn remove_grant(&self, role: &str, pattern: &str) -> Result<bool, StoreError> {
        let (role, pattern) = (role.to_string(), pattern.to_string());
        self.call(|reply| Op::RemoveGrant(role, pattern, reply))
            .await
    }
}
