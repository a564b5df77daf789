//! Approvals in SQLite: decide and consume read the row and update it in one writer
//! transaction, so of concurrent consumers exactly one wins.

use async_trait::async_trait;
use rusqlite::{Connection, Transaction, params};

use super::writer::{Decide, Op};
use super::{SqliteStore, query_all};
use crate::{Approval, ApprovalBinding, ApprovalState, ApprovalStore, Consumption, StoreError};

const COLUMNS: &str = "id, tenant, agent, tool, pin, args_digest, policy_version, state, \
     created_ms, expires_ms, decided_by, decided_ms, reason, consumed_ms";

fn from_row(row: &rusqlite::Row<'_>) -> Result<Approval, StoreError> {
    let state: String = row.get(7)?;
    Ok(Approval {
        id: row.get(0)?,
        binding: ApprovalBinding {
            tenant: row.get(1)?,
            agent: row.get(2)?,
            tool: row.get(3)?,
            pin: row.get(4)?,
            args_digest: row.get(5)?,
            policy_version: row.get(6)?,
        },
        state: ApprovalState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown approval state '{state}'")))?,
        created_ms: row.get(8)?,
        expires_ms: row.get(9)?,
        decided_by: row.get(10)?,
        decided_ms: row.get(11)?,
        reason: row.get(12)?,
        consumed_ms: row.get(13)?,
    })
}

fn load(conn: &Connection, id: &str) -> Result<Option<Approval>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1");
    Ok(query_all(conn, &sql, [id], from_row)?.pop())
}

/// Write the mutable part of an approval back.
fn save_decision(tx: &Transaction<'_>, a: &Approval) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE approvals SET state = ?2, decided_by = ?3, decided_ms = ?4, reason = ?5,
         consumed_ms = ?6 WHERE id = ?1",
        params![
            a.id,
            a.state.as_str(),
            a.decided_by,
            a.decided_ms,
            a.reason,
            a.consumed_ms
        ],
    )?;
    Ok(())
}

pub(super) fn create(tx: &Transaction<'_>, a: &Approval) -> Result<(), StoreError> {
    let b = &a.binding;
    let inserted = tx.execute(
        &format!(
            "INSERT OR IGNORE INTO approvals({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            a.id,
            b.tenant,
            b.agent,
            b.tool,
            b.pin,
            b.args_digest,
            b.policy_version,
            a.state.as_str(),
            a.created_ms,
            a.expires_ms,
            a.decided_by,
            a.decided_ms,
            a.reason,
            a.consumed_ms
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "approval id '{}' exists",
            a.id
        )));
    }
    Ok(())
}

pub(super) fn decide(tx: &Transaction<'_>, d: Decide) -> Result<Approval, StoreError> {
    let mut a =
        load(tx, &d.id)?.ok_or_else(|| StoreError::NotFound(format!("approval '{}'", d.id)))?;
    a.decide(d.approve, &d.actor, d.reason, d.at_ms)?;
    save_decision(tx, &a)?;
    Ok(a)
}

pub(super) fn consume(
    tx: &Transaction<'_>,
    id: &str,
    binding: &ApprovalBinding,
    at_ms: i64,
) -> Result<Consumption, StoreError> {
    let Some(mut a) = load(tx, id)? else {
        return Ok(Consumption::NotFound);
    };
    let outcome = a.consume(binding, at_ms);
    if matches!(outcome, Consumption::Consumed(_)) {
        save_decision(tx, &a)?;
    }
    Ok(outcome)
}

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn create_approval(&self, approval: Approval) -> Result<(), StoreError> {
        self.call(|reply| Op::CreateApproval(Box::new(approval), reply))
            .await
    }

    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let id = id.to_string();
        self.read(move |c| load(c, &id)).await
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        actor: &str,
        reason: Option<String>,
        at_ms: i64,
    ) -> Result<Approval, StoreError> {
        let decide = Decide {
            id: id.to_string(),
            approve,
            actor: actor.to_string(),
            reason,
            at_ms,
        };
        self.call(|reply| Op::DecideApproval(decide, reply)).await
    }

    async fn consume_approval(
        &self,
        id: &str,
        binding: &ApprovalBinding,
        at_ms: i64,
    ) -> Result<Consumption, StoreError> {
        let (id, binding) = (id.to_string(), Box::new(binding.clone()));
        self.call(|reply| Op::ConsumeApproval(id, binding, at_ms, reply))
            .await
    }

    async fn pending_approvals(
        &self,
        tenant: Option<&str>,
        at_ms: i64,
    ) -> Result<Vec<Approval>, StoreError> {
        let tenant = tenant.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {COLUMNS} FROM approvals
                 WHERE state = 'pending' AND expires_ms >= ?1 AND (?2 IS NULL OR tenant = ?2)
                 ORDER BY created_ms, id"
            );
            query_all(c, &sql, params![at_ms, tenant], from_row)
        })
        .await
    }
}
