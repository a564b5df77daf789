//! Schema and migrations, tracked in SQLite's `user_version`.

use rusqlite::Connection;

use crate::{SCHEMA_VERSION, StoreError};

const V1: &str = "
CREATE TABLE IF NOT EXISTS ledger (
    seq            INTEGER PRIMARY KEY,
    time_ms        INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    record         BLOB NOT NULL,
    leaf_hash      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_tenant_time ON ledger(tenant, time_ms);
CREATE INDEX IF NOT EXISTS ledger_correlation ON ledger(correlation_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    agent      TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash_hex   TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Signed checkpoints, one per tree size, in the order they were signed.
const V2: &str = "
CREATE TABLE IF NOT EXISTS checkpoints (
    size    INTEGER PRIMARY KEY,
    root    BLOB NOT NULL,
    note    TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);
";

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "database schema version {version} is newer than this binary's {SCHEMA_VERSION}"
        )));
    }
    if version < SCHEMA_VERSION {
        let tx = conn.transaction()?;
        if version < 1 {
            tx.execute_batch(V1)?;
        }
        tx.execute_batch(V2)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    }
    Ok(())
}
