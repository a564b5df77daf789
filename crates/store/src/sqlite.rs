//! Embedded SQLite backend. WAL with `synchronous=FULL`, so a committed record survives power
//! loss. One writer thread owns the write connection and group-commits: it takes every append
//! waiting in its queue, writes them in one transaction, and releases the waiters only when that
//! transaction is durable. Every other write is one transaction on the same thread, so
//! compare-and-set operations (consume an approval, reserve a key, add to a quota) are atomic.
//! Reads use a small pool of separate connections.

mod admin;
mod approvals;
mod controls;
mod limits;
mod pool;
mod replay;
mod schema;
pub(crate) mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use portcullis_identity::KeyRecord;
use portcullis_ledger::Record;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use crate::limits::LocalRates;
use crate::{
    Appended, CheckpointStore, KeyStore, LedgerHead, LedgerStore, Lifecycle, Pruned, Queued,
    StoreError, StoredCheckpoint, StoredRecord,
};
use pool::ReaderPool;
use writer::{Op, Writer};

/// Read connections in the pool.
const READERS: usize = 4;

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// How long a write waits for a lock held by another connection before failing.
    pub busy_timeout: Duration,
}

pub struct SqliteStore {
    tx: mpsc::Sender<Op>,
    readers: Arc<ReaderPool>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Transactions that committed appends, counted by the writer.
    commits: Arc<std::sync::atomic::AtomicU64>,
    /// Rate buckets live in process memory: rate state need not survive a restart, and the
    /// embedded store serves one gateway process.
    rates: LocalRates,
}

fn open_connection(opts: &SqliteOptions) -> Result<Connection, StoreError> {
    let conn = Connection::open(&opts.path)?;
    conn.busy_timeout(opts.busy_timeout)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

impl SqliteStore {
    /// How many transactions have committed appends since the store was opened. Appends that
    /// wait together share one (group commit), so under concurrency this grows slower than the
    /// number of appends.
    pub fn append_commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Open (creating if needed) the database, migrate it, recover the ledger frontier and
    /// start the writer.
    pub fn open(opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = opts.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let mut wconn = open_connection(&opts)?;
        #[cfg(unix)]
        restrict_permissions(&opts.path);
        schema::migrate(&mut wconn)?;
        let writer = Writer::recover(wconn)?;
        let commits = writer.commits.clone();
        let readers = (0..READERS)
            .map(|_| open_connection(&opts))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel(8192);
        let handle = std::thread::Builder::new()
            .name("portcullis-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore {
            tx,
            readers: Arc::new(ReaderPool::new(readers)),
            writer_thread: Mutex::new(Some(handle)),
            commits,
            rates: LocalRates::default(),
        })
    }

    async fn call<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// `Closed` once the writer has stopped.
    fn check_open(&self) -> Result<(), StoreError> {
        if self.tx.is_closed() {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Run `f` on a pooled read connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.check_open()?;
        let conn = self.readers.lease().await?;
        tokio::task::spawn_blocking(move || f(&conn))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

/// Every row of a prepared query, each mapped by `f`.
fn query_all<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.get(0)?,
        tenant: row.get(1)?,
        agent: row.get(2)?,
        role: row.get(3)?,
        hash_hex: row.get(4)?,
        created_ms: row.get(5)?,
        expires_ms: row.get(6)?,
        revoked_ms: row.get(7)?,
        tenant_disabled_ms: None,
    })
}

const KEY_COLUMNS: &str = "id, tenant, agent, role, hash_hex, created_ms, expires_ms, revoked_ms";

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn append(&self, record: Record) -> Result<Appended, StoreError> {
        self.call(|reply| Op::Append(Box::new(record), reply)).await
    }

    async fn enqueue(&self, record: Record) -> Result<Queued, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Op::Append(Box::new(record), tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(Box::pin(async move {
            rx.await.map_err(|_| StoreError::Closed)?
        }))
    }

    async fn head(&self) -> Result<LedgerHead, StoreError> {
        self.call(Op::Head).await
    }

    async fn read_records(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, record, leaf_hash FROM ledger WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![from as i64, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, bytes, leaf) = row?;
                let leaf_hash: [u8; 32] = leaf
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("record {seq}: leaf hash size")))?;
                out.push(StoredRecord {
                    seq: seq as u64,
                    bytes,
                    leaf_hash,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, leaf_hash FROM ledger WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![from as i64, to as i64])?;
            let mut out = Vec::with_capacity(to.saturating_sub(from).min(1 << 24) as usize);
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                let expected = from + out.len() as u64;
                let leaf = row
                    .get_ref(1)?
                    .as_bytes()
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                match leaf {
                    Some(h) if seq as u64 == expected => out.push(h),
                    _ => {
                        return Err(StoreError::Corrupt(format!(
                            "record {expected}: missing or with a malformed leaf hash; run 'portcullis audit verify'"
                        )));
                    }
                }
            }
            if from + out.len() as u64 != to.max(from) {
                return Err(StoreError::Corrupt(format!(
                    "the ledger has no records {}..{to}",
                    from + out.len() as u64
                )));
            }
            Ok(out)
        })
        .await
    }

    async fn prune(&self, before_ms: i64) -> Result<Pruned, StoreError> {
        self.call(|reply| Op::Prune(before_ms, reply)).await
    }
}

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT size, root, note, time_ms FROM checkpoints ORDER BY size DESC LIMIT 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(size, root, note, time_ms)| {
                let root = <[u8; 32]>::try_from(root).map_err(|_| {
                    StoreError::Corrupt(format!("checkpoint {size}: malformed root"))
                })?;
                Ok(StoredCheckpoint {
                    size: size as u64,
                    root,
                    note,
                    time_ms,
                })
            })
            .transpose()
        })
        .await
    }

    async fn save_checkpoint(&self, cp: StoredCheckpoint) -> Result<(), StoreError> {
        self.call(|reply| Op::SaveCheckpoint(cp, reply)).await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            // Two point lookups rather than a join: each plan is fixed, so the statements stay
            // prepared across calls.
            let mut stmt =
                c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?;
            let Some(mut key) = stmt.query_row([id], key_from_row).optional()? else {
                return Ok(None);
            };
            let mut tenant = c.prepare_cached("SELECT disabled_ms FROM tenants WHERE name = ?1")?;
            key.tenant_disabled_ms = tenant
                .query_row([&key.tenant], |r| r.get(0))
                .optional()?
                .flatten();
            Ok(Some(key))
        })
        .await
    }

    async fn insert_key(&self, key: KeyRecord) -> Result<(), StoreError> {
        self.call(|reply| Op::InsertKey(key, reply)).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT k.id, k.tenant, k.agent, k.role, k.hash_hex, k.created_ms, k.expires_ms, \
                 k.revoked_ms, t.disabled_ms FROM api_keys k LEFT JOIN tenants t ON t.name = k.tenant \
                 ORDER BY k.created_ms, k.id",
            )?;
            let rows = stmt.query_map([], |row| {
                let mut k = key_from_row(row)?;
                k.tenant_disabled_ms = row.get(8)?;
                Ok(k)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.call(|reply| Op::RevokeKey(id, at_ms, reply)).await
    }
}

#[async_trait]
impl Lifecycle for SqliteStore {
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.call(Op::Probe).await
    }

    async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Op::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.readers.close();
        let handle = self.writer_thread.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

#[cfg(test)]
mod tests;
