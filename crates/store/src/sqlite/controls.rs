//! Kill switches and tool pins in SQLite; every change bumps `controls_version` in `meta` in
//! the same transaction, so a replica polling the version never misses one.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use super::writer::Op;
use super::{SqliteStore, query_all};
use crate::{ControlStore, KillSwitch, PinState, StoreError, SwitchChange, SwitchScope, ToolPin};

const PIN_COLUMNS: &str = "tool, hash, state, definition, actor, updated_ms";

fn pin_from_row(row: &rusqlite::Row<'_>) -> Result<ToolPin, StoreError> {
    let state: String = row.get(2)?;
    Ok(ToolPin {
        tool: row.get(0)?,
        hash: row.get(1)?,
        state: PinState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown pin state '{state}'")))?,
        definition: row.get(3)?,
        actor: row.get(4)?,
        updated_ms: row.get(5)?,
    })
}

pub(super) fn bump_version(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let version = read_version(tx)?;
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('controls_version', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(version + 1).to_string()],
    )?;
    Ok(())
}

fn read_version(conn: &rusqlite::Connection) -> Result<u64, StoreError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'controls_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    v.map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| StoreError::Corrupt(format!("controls_version '{v}' is not a number")))
    })
}

pub(super) fn set_switch(tx: &Transaction<'_>, s: &KillSwitch) -> Result<(), StoreError> {
    let values = params![s.scope.key(), s.engaged, s.reason, s.actor, s.updated_ms];
    tx.execute(
        "INSERT OR REPLACE INTO kill_switches(scope, engaged, reason, actor, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        values,
    )?;
    tx.execute(
        "INSERT INTO switch_changes(scope, engaged, reason, actor, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        values,
    )?;
    bump_version(tx)
}

pub(super) fn mark_change_recorded(tx: &Transaction<'_>, id: u64) -> Result<bool, StoreError> {
    let changed = tx.execute(
        "UPDATE switch_changes SET recorded = 1 WHERE id = ?1 AND recorded = 0",
        [i64::try_from(id).unwrap_or(i64::MAX)],
    )?;
    Ok(changed == 1)
}

/// A switch from `scope, engaged, reason, actor, updated_ms` at column `first`.
fn switch_from_row(row: &rusqlite::Row<'_>, first: usize) -> Result<KillSwitch, StoreError> {
    let key: String = row.get(first)?;
    Ok(KillSwitch {
        scope: SwitchScope::parse(&key)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown kill switch scope '{key}'")))?,
        engaged: row.get(first + 1)?,
        reason: row.get(first + 2)?,
        actor: row.get(first + 3)?,
        updated_ms: row.get(first + 4)?,
    })
}

pub(super) fn set_pin(tx: &Transaction<'_>, p: &ToolPin) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT OR REPLACE INTO tool_pins({PIN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            p.tool,
            p.hash,
            p.state.as_str(),
            p.definition,
            p.actor,
            p.updated_ms
        ],
    )?;
    bump_version(tx)
}

#[async_trait]
impl ControlStore for SqliteStore {
    async fn set_switch(&self, switch: KillSwitch) -> Result<(), StoreError> {
        self.call(|reply| Op::SetSwitch(switch, reply)).await
    }

    async fn switches(&self) -> Result<Vec<KillSwitch>, StoreError> {
        self.read(|c| {
            query_all(
                c,
                "SELECT scope, engaged, reason, actor, updated_ms FROM kill_switches ORDER BY scope",
                [],
                |row| switch_from_row(row, 0),
            )
        })
        .await
    }

    async fn unrecorded_switch_changes(
        &self,
        limit: usize,
    ) -> Result<Vec<SwitchChange>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            query_all(
                c,
                "SELECT id, scope, engaged, reason, actor, updated_ms FROM switch_changes
                 WHERE recorded = 0 ORDER BY id LIMIT ?1",
                [limit],
                |row| {
                    let id: i64 = row.get(0)?;
                    Ok(SwitchChange {
                        id: u64::try_from(id).map_err(|_| {
                            StoreError::Corrupt(format!("switch change id {id} is negative"))
                        })?,
                        switch: switch_from_row(row, 1)?,
                    })
                },
            )
        })
        .await
    }

    async fn mark_switch_change_recorded(&self, id: u64) -> Result<bool, StoreError> {
        self.call(|reply| Op::MarkSwitchChange(id, reply)).await
    }

    async fn set_pin(&self, pin: ToolPin) -> Result<(), StoreError> {
        self.call(|reply| Op::SetPin(pin, reply)).await
    }

    async fn pin(&self, tool: &str) -> Result<Option<ToolPin>, StoreError> {
        let tool = tool.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {PIN_COLUMNS} FROM tool_pins WHERE tool = ?1");
            Ok(query_all(c, &sql, [tool], pin_from_row)?.pop())
        })
        .await
    }

    async fn pins(&self) -> Result<Vec<ToolPin>, StoreError> {
        self.read(|c| {
            let sql = format!("SELECT {PIN_COLUMNS} FROM tool_pins ORDER BY tool");
            query_all(c, &sql, [], pin_from_row)
        })
        .await
    }

    async fn controls_version(&self) -> Result<u64, StoreError> {
        self.read(read_version).await
    }
}
