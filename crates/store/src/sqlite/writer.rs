//! The single writer: owns the write connection and the ledger frontier, group-commits appends.

use portcullis_identity::{AdminKeyRecord, KeyRecord};
use portcullis_ledger::Record;
use portcullis_ledger::merkle::Frontier;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::{admin, approvals, controls, limits, replay};
use crate::ledger::encode;
use crate::{
    Appended, Approval, ApprovalBinding, Consumption, Grant, KillSwitch, LedgerHead, Pruned,
    QuotaOutcome, Reservation, StoreError, StoredCheckpoint, Tenant, ToolPin,
};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 4096;

pub(crate) enum Op {
    Append(Box<Record>, Reply<Appended>),
    Head(Reply<LedgerHead>),
    InsertKey(KeyRecord, Reply<()>),
    RevokeKey(String, i64, Reply<bool>),
    PutTenant(Box<Tenant>, Option<u64>, Reply<Tenant>),
    InsertAdminKey(Box<AdminKeyRecord>, Reply<()>),
    RevokeAdminKey(String, i64, Reply<bool>),
    AddGrant(Box<Grant>, Reply<()>),
    RemoveGrant(String, String, Reply<bool>),
    Probe(Reply<()>),
    SaveCheckpoint(StoredCheckpoint, Reply<()>),
    Prune(i64, Reply<Pruned>),
    SetSwitch(KillSwitch, Reply<()>),
    MarkSwitchChange(u64, Reply<bool>),
    SetPin(ToolPin, Reply<()>),
    CreateApproval(Box<Approval>, Reply<()>),
    DecideApproval(Decide, Reply<Approval>),
    ConsumeApproval(String, Box<ApprovalBinding>, i64, Reply<Consumption>),
    /// (key, fingerprint), expires, now.
    Reserve((String, String), i64, i64, Reply<Reservation>),
    Complete(String, Vec<u8>, i64, Reply<()>),
    Release(String, Reply<()>),
    PurgeExpired(i64, Reply<u64>),
    AddUsage(UsageChange, u64, Reply<QuotaOutcome>),
    RefundUsage(UsageChange, Reply<()>),
    Close(oneshot::Sender<()>),
}

/// The arguments of `decide_approval`.
pub(crate) struct Decide {
    pub(crate) id: String,
    pub(crate) approve: bool,
    pub(crate) actor: String,
    pub(crate) reason: Option<String>,
    pub(crate) at_ms: i64,
}

/// An amount added to or refunded from the counter `key` of one window.
pub(crate) struct UsageChange {
    pub(crate) key: String,
    pub(crate) window_start_ms: i64,
    pub(crate) amount: u64,
}

impl UsageChange {
    pub(crate) fn new(key: &str, window_start_ms: i64, amount: u64) -> UsageChange {
        UsageChange {
            key: key.to_string(),
            window_start_ms,
            amount,
        }
    }
}

pub(crate) struct Writer {
    conn: Connection,
    frontier: Frontier,
    /// Transactions that committed appends (each may hold many: group commit).
    pub(crate) commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn save_frontier(conn: &Connection, f: &Frontier) -> rusqlite::Result<()> {
    let (size, hashes) = f.parts();
    let value = serde_json::json!({
        "size": size,
        "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
    });
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES ('frontier', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute([value.to_string()])?;
    Ok(())
}

fn load_frontier(conn: &Connection) -> Option<Frontier> {
    let text: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'frontier'", [], |r| {
            r.get(0)
        })
        .optional()
        .ok()??;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let size = v.get("size")?.as_u64()?;
    let hashes = v
        .get("hashes")?
        .as_array()?
        .iter()
        .map(|h| {
            let bytes = hex::decode(h.as_str()?).ok()?;
            <[u8; 32]>::try_from(bytes).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    Frontier::from_parts(size, hashes).ok()
}

fn check_no_gap(conn: &Connection, size: u64) -> Result<(), StoreError> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))?;
    if count as u64 != size {
        return Err(StoreError::Corrupt(format!(
            "ledger has {count} rows but its highest seq implies {size}; run 'portcullis audit verify'"
        )));
    }
    Ok(())
}

/// Tree size implied by the highest seq (cheap: a primary-key lookup).
fn size_by_max_seq(conn: &Connection) -> Result<u64, StoreError> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT MAX(seq) FROM ledger")?
        .query_row([], |r| r.get(0))?;
    Ok(max.map(|m| m as u64 + 1).unwrap_or(0))
}

/// The saved frontier, which must match the rows: a mismatch means the ledger was changed
/// outside this gateway (or by a second writer, which the embedded store does not support), and
/// the store refuses to append rather than extend a tree it cannot vouch for.
fn checked_frontier(conn: &Connection, known: Option<Frontier>) -> Result<Frontier, StoreError> {
    let size = size_by_max_seq(conn)?;
    match known {
        Some(f) if f.size() == size => Ok(f),
        None if size == 0 => Ok(Frontier::new()),
        other => Err(StoreError::Corrupt(format!(
            "the ledger has {size} records but its saved tree covers {}: it was changed outside this gateway; run 'portcullis audit verify'",
            other.map(|f| f.size()).unwrap_or(0)
        ))),
    }
}

impl Writer {
    /// Load the saved frontier and check it against the rows; a gap in the seqs or a frontier
    /// that does not cover exactly the rows refuses to open.
    pub(crate) fn recover(conn: Connection) -> Result<Writer, StoreError> {
        check_no_gap(&conn, size_by_max_seq(&conn)?)?;
        let frontier = checked_frontier(&conn, load_frontier(&conn))?;
        Ok(Writer {
            conn,
            frontier,
            commits: Default::default(),
        })
    }

    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        while let Some(first) = rx.blocking_recv() {
            let mut appends = Vec::new();
            let mut others = Vec::new();
            let mut next = Some(first);
            while let Some(op) = next.take() {
                match op {
                    Op::Append(r, reply) => appends.push((r, reply)),
                    other => others.push(other),
                }
                if appends.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit_appends(appends);
            }
            for op in others {
                if let Some(done) = self.handle(op) {
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn commit_appends(&mut self, batch: Vec<(Box<Record>, Reply<Appended>)>) {
        let mut results = Vec::with_capacity(batch.len());
        let mut frontier = self.frontier.clone();
        let outcome = (|| -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Nothing may have been appended behind this writer's back.
            frontier = checked_frontier(&tx, Some(frontier.clone()))?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO ledger(seq, time_ms, kind, tenant, correlation_id, record, leaf_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (record, _) in &batch {
                    let mut record = (**record).clone();
                    record.seq = frontier.size();
                    let (bytes, leaf) = match encode(&record) {
                        Ok(encoded) => encoded,
                        Err(e) => {
                            results.push(Err(e));
                            continue;
                        }
                    };
                    let kind = record.kind.as_str();
                    stmt.execute(params![
                        record.seq as i64,
                        record.time_ms,
                        kind,
                        record.tenant,
                        record.correlation_id,
                        bytes,
                        leaf.to_vec()
                    ])?;
                    results.push(Ok(Appended {
                        seq: record.seq,
                        leaf_hash: leaf,
                    }));
                    frontier.push(leaf);
                }
            }
            save_frontier(&tx, &frontier)?;
            tx.commit()?;
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                self.frontier = frontier;
                self.commits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "ledger append failed");
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Handle a non-append op; returns the close acknowledgement when asked to stop.
    fn handle(&mut self, op: Op) -> Option<oneshot::Sender<()>> {
        match op {
            Op::Append(..) => unreachable!("appends are batched"),
            Op::Head(reply) => {
                let _ = reply.send(Ok(LedgerHead {
                    size: self.frontier.size(),
                    root: self.frontier.root(),
                }));
            }
            Op::InsertKey(k, reply) => {
                let r = self
                    .conn
                    .execute(
                        "INSERT INTO api_keys(id, tenant, agent, role, hash_hex, created_ms, expires_ms, revoked_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![k.id, k.tenant, k.agent, k.role, k.hash_hex, k.created_ms, k.expires_ms, k.revoked_ms],
                    )
                    .map(|_| ())
                    .map_err(|e| match e {
                        rusqlite::Error::SqliteFailure(f, _)
                            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                        {
                            StoreError::Conflict(format!("key id '{}' exists", k.id))
                        }
                        e => e.into(),
                    });
                let _ = reply.send(r);
            }
            Op::RevokeKey(id, at, reply) => {
                let r = self
                    .conn
                    .execute(
                        "UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
                        params![id, at],
                    )
                    .map(|n| n > 0)
                    .map_err(StoreError::from);
                let _ = reply.send(r);
            }
            Op::Probe(reply) => {
                let r = self
                    .conn
                    .execute(
                        "INSERT INTO meta(key, value) VALUES ('probe', '1')
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [],
                    )
                    .map(|_| ())
                    .map_err(StoreError::from);
                let _ = reply.send(r);
            }
            Op::SaveCheckpoint(cp, reply) => self.transact(reply, |tx| save_checkpoint(tx, &cp)),
            Op::Prune(before_ms, reply) => self.transact(reply, |tx| prune(tx, before_ms)),
            Op::SetSwitch(switch, reply) => {
                self.transact(reply, |tx| controls::set_switch(tx, &switch))
            }
            Op::MarkSwitchChange(id, reply) => {
                self.transact(reply, |tx| controls::mark_change_recorded(tx, id))
            }
            Op::PutTenant(t, expected, reply) => {
                self.transact(reply, |tx| admin::put_tenant(tx, *t, expected))
            }
            Op::InsertAdminKey(k, reply) => {
                self.transact(reply, |tx| admin::insert_admin_key(tx, &k))
            }
            Op::RevokeAdminKey(id, at, reply) => {
                self.transact(reply, |tx| admin::revoke_admin_key(tx, &id, at))
            }
            Op::AddGrant(g, reply) => self.transact(reply, |tx| admin::add_grant(tx, &g)),
            Op::RemoveGrant(role, pattern, reply) => {
                self.transact(reply, |tx| admin::remove_grant(tx, &role, &pattern))
            }
            Op::SetPin(pin, reply) => self.transact(reply, |tx| controls::set_pin(tx, &pin)),
            Op::CreateApproval(a, reply) => self.transact(reply, |tx| approvals::create(tx, &a)),
            Op::DecideApproval(d, reply) => self.transact(reply, |tx| approvals::decide(tx, d)),
            Op::ConsumeApproval(id, binding, at_ms, reply) => {
                self.transact(reply, |tx| approvals::consume(tx, &id, &binding, at_ms))
            }
            Op::Reserve((key, fingerprint), expires_ms, now_ms, reply) => self
                .transact(reply, |tx| {
                    replay::reserve(tx, &key, &fingerprint, expires_ms, now_ms)
                }),
            Op::Complete(key, result, keep_until_ms, reply) => self.transact(reply, |tx| {
                replay::complete(tx, &key, &result, keep_until_ms)
            }),
            Op::Release(key, reply) => self.transact(reply, |tx| replay::release(tx, &key)),
            Op::PurgeExpired(now_ms, reply) => {
                self.transact(reply, |tx| replay::purge_expired(tx, now_ms))
            }
            Op::AddUsage(change, limit, reply) => {
                self.transact(reply, |tx| limits::add_usage(tx, &change, limit))
            }
            Op::RefundUsage(change, reply) => {
                self.transact(reply, |tx| limits::refund_usage(tx, &change))
            }
            Op::Close(done) => {
                let _ = self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
                return Some(done);
            }
        }
        None
    }
}

impl Writer {
    /// Run `f` in its own immediate transaction (the write lock taken up front), commit it if
    /// `f` returns `Ok`, and send the result.
    fn transact<T>(
        &mut self,
        reply: Reply<T>,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) {
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        let _ = reply.send(result);
    }
}

/// Save a checkpoint larger than every saved one.
fn save_checkpoint(tx: &Transaction<'_>, cp: &StoredCheckpoint) -> Result<(), StoreError> {
    let max: Option<i64> = tx.query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))?;
    if max.is_some_and(|m| m as u64 >= cp.size) {
        return Err(StoreError::Conflict(format!(
            "a checkpoint of size {} exists; checkpoints only grow",
            max.unwrap_or_default()
        )));
    }
    tx.execute(
        "INSERT INTO checkpoints(size, root, note, time_ms) VALUES (?1, ?2, ?3, ?4)",
        params![cp.size as i64, cp.root.to_vec(), cp.note, cp.time_ms],
    )?;
    Ok(())
}

/// Remove the content of the longest prefix of records before `before_ms` that the largest
/// checkpoint covers, keeping their leaf hashes.
fn prune(tx: &Transaction<'_>, before_ms: i64) -> Result<Pruned, StoreError> {
    let covered: i64 = tx.query_row("SELECT COALESCE(MAX(size), 0) FROM checkpoints", [], |r| {
        r.get(0)
    })?;
    let old = pruned_below(tx)? as i64;
    let first_kept: Option<i64> = tx.query_row(
        "SELECT MIN(seq) FROM ledger WHERE seq >= ?1 AND seq < ?2 AND time_ms >= ?3",
        params![old, covered, before_ms],
        |r| r.get(0),
    )?;
    let below = first_kept.unwrap_or(covered).max(old);
    let removed = tx.execute(
        "UPDATE ledger SET record = x'', tenant = '', correlation_id = ''
         WHERE seq >= ?1 AND seq < ?2",
        params![old, below],
    )?;
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('pruned_below', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [below.to_string()],
    )?;
    Ok(Pruned {
        pruned_below: below as u64,
        removed: removed as u64,
    })
}

/// Records below this seq may have had their content pruned.
pub(crate) fn pruned_below(conn: &Connection) -> Result<u64, StoreError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'pruned_below'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    v.map(|v| {
        v.parse()
            .map_err(|_| StoreError::Corrupt(format!("pruned_below '{v}' is not a number")))
    })
    .transpose()
    .map(Option::unwrap_or_default)
}
