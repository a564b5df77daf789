//! Schema and migrations, tracked in SQLite's `user_version`.

use rusqlite::Connection;

use crate::{SCHEMA_VERSION, StoreError};

pub(crate) const V1: &str = "
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
pub(crate) const V2: &str = "
CREATE TABLE IF NOT EXISTS checkpoints (
    size    INTEGER PRIMARY KEY,
    root    BLOB NOT NULL,
    note    TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);
";

/// Control-plane state (kill switches, tool pins, approvals) and data-plane state that must
/// survive a restart (replay reservations, quota counters). `controls_version` lives in `meta`.
pub(crate) const V3: &str = "
CREATE TABLE IF NOT EXISTS kill_switches (
    scope      TEXT PRIMARY KEY,
    engaged    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tool_pins (
    tool       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL,
    state      TEXT NOT NULL,
    definition TEXT NOT NULL,
    actor      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    agent          TEXT NOT NULL,
    tool           TEXT NOT NULL,
    pin            TEXT NOT NULL,
    args_digest    TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    state          TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    expires_ms     INTEGER NOT NULL,
    decided_by     TEXT,
    decided_ms     INTEGER,
    reason         TEXT,
    consumed_ms    INTEGER
);
CREATE INDEX IF NOT EXISTS approvals_state_created ON approvals(state, created_ms);
CREATE TABLE IF NOT EXISTS replay (
    key        TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL,
    result     BLOB
);
CREATE INDEX IF NOT EXISTS replay_expires ON replay(expires_ms);
CREATE TABLE IF NOT EXISTS quota_usage (
    key             TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    used            INTEGER NOT NULL,
    PRIMARY KEY (key, window_start_ms)
);
";

/// Every setting of a kill switch, in order, until the gateway has recorded it in the ledger.
pub(crate) const V4: &str = "
CREATE TABLE IF NOT EXISTS switch_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scope      TEXT NOT NULL,
    engaged    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    recorded   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS switch_changes_unrecorded ON switch_changes(recorded, id);
";

/// A replay reservation keeps the fingerprint of what reserved it (an idempotency key's
/// request digest), so a different request under the same key is told apart from a retry.
pub(crate) const V5: &str = "
ALTER TABLE replay ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
";

/// Tenants (disabled ones stop their keys), the admin API's keys (kept apart from agent keys),
/// and grants made through the admin API.
pub(crate) const V6: &str = "
CREATE TABLE IF NOT EXISTS tenants (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    disabled_ms INTEGER,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    version     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash_hex   TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER,
    tenant     TEXT
);
CREATE TABLE IF NOT EXISTS role_grants (
    role       TEXT NOT NULL,
    pattern    TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (role, pattern)
);
";

/// Each version's DDL, in order: a database at version `v` runs the steps from `v` on.
const STEPS: [&str; 6] = [V1, V2, V3, V4, V5, V6];
const _: () = assert!(STEPS.len() == SCHEMA_VERSION as usize);

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "database schema version {version} is newer than this binary's {SCHEMA_VERSION}"
        )));
    }
    if version < SCHEMA_VERSION {
        let tx = conn.transaction()?;
        for ddl in &STEPS[version as usize..] {
            tx.execute_batch(ddl)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    }
    Ok(())
}
