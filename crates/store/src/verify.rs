//! Offline verification of a SQLite ledger: every row re-encodes canonically, its leaf hash
//! matches its content, the row's own columns (kind, tenant, time, correlation id — what
//! exports and `audit tail` select by) agree with the signed record, seqs run 0..n with no gap,
//! the tree over the rows matches the saved tree head, every signed checkpoint states the root of
//! the records it covers (and is signed by the given key), and the pruning mark claims no record
//! that a signed checkpoint does not cover. Reads the file read-only; the gateway need not run.
//! Names the first bad record.

use std::path::Path;

use portcullis_ledger::canonical;
use portcullis_ledger::merkle::{self, Frontier, Hash};
use portcullis_ledger::note::{Checkpoint, NoteVerifier};
use rusqlite::{Connection, OpenFlags};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub size: u64,
    pub root: [u8; 32],
    /// Signed checkpoints found and checked.
    pub checkpoints: u64,
    /// Records below this seq had their content pruned.
    pub pruned_below: u64,
    /// Records the latest signed checkpoint covers (the rest is not signed yet).
    pub signed_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the ledger: {0}")]
    Io(String),
    #[error("record {seq}: {reason}")]
    Record { seq: u64, reason: String },
    #[error("checkpoint {size}: {reason}")]
    Checkpoint { size: u64, reason: String },
    #[error("{0}")]
    Head(String),
}

impl From<rusqlite::Error> for VerifyError {
    fn from(e: rusqlite::Error) -> Self {
        VerifyError::Io(e.to_string())
    }
}

/// Rows hashed per parallel batch.
const BATCH: usize = 16 * 1024;

/// The columns stored beside a row's canonical bytes, which must say what the record says.
#[derive(Debug, Clone, Default)]
struct Columns {
    kind: String,
    tenant: String,
    time_ms: i64,
    correlation_id: String,
}

/// One stored row: content, stored leaf hash, and its columns.
type Row = (Vec<u8>, Vec<u8>, Columns);

/// Check one row's content against its seq, stored leaf hash and columns; returns the leaf
/// hash. Rows below `pruned_below` may have had their content removed: their stored hash
/// stands, vouched for by the tree head and the signed checkpoints.
fn check_row(seq: u64, row: &Row, pruned_below: u64) -> Result<Hash, String> {
    let (bytes, stored, columns) = row;
    let stored: Hash = stored
        .as_slice()
        .try_into()
        .map_err(|_| "its stored leaf hash is not 32 bytes: edited".to_string())?;
    if bytes.is_empty() {
        return if seq < pruned_below {
            Ok(stored)
        } else {
            Err("its content was removed but it is not below the pruning mark: deleted".into())
        };
    }
    let record = canonical::parse_canonical(bytes)
        .map_err(|e| format!("not a canonical record ({e}): edited"))?;
    if record.seq != seq {
        return Err(format!(
            "its content says seq {} (moved or swapped)",
            record.seq
        ));
    }
    if merkle::hash_leaf(bytes) != stored {
        return Err("its stored leaf hash does not match its content: edited".into());
    }
    let kind = record.kind.as_str();
    for (column, stored_value, signed) in [
        ("kind", columns.kind.clone(), kind.to_string()),
        ("tenant", columns.tenant.clone(), record.tenant.clone()),
        (
            "time_ms",
            columns.time_ms.to_string(),
            record.time_ms.to_string(),
        ),
        (
            "correlation_id",
            columns.correlation_id.clone(),
            record.correlation_id.clone(),
        ),
    ] {
        if stored_value != signed {
            return Err(format!(
                "its {column} column says '{}' but the record says '{}': edited",
                stored_value.escape_default(),
                signed.escape_default()
            ));
        }
    }
    Ok(stored)
}

/// Hash a batch of rows on every core; returns the leaves in order or the first bad record.
fn check_batch(first_seq: u64, rows: &[Row], pruned_below: u64) -> Result<Vec<Hash>, VerifyError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = rows.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Hash>, VerifyError>> = std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(per)
            .enumerate()
            .map(|(c, chunk)| {
                s.spawn(move || {
                    let base = first_seq + (c * per) as u64;
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, row)| {
                            let seq = base + i as u64;
                            check_row(seq, row, pruned_below)
                                .map_err(|reason| VerifyError::Record { seq, reason })
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(VerifyError::Io("a hashing thread panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(rows.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

struct SavedCheckpoint {
    size: u64,
    root: Vec<u8>,
    note: String,
}

fn load_checkpoints(conn: &Connection) -> Result<Vec<SavedCheckpoint>, VerifyError> {
    // A database of schema version 1, not yet opened by a gateway that signs, has none.
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare("SELECT size, root, note FROM checkpoints ORDER BY size")?;
    let rows = stmt.query_map([], |r| {
        Ok(SavedCheckpoint {
            size: r.get::<_, i64>(0)? as u64,
            root: r.get(1)?,
            note: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A saved checkpoint must be signed by one of `keys` (when given) and state its row's head.
fn check_signature(cp: &SavedCheckpoint, keys: &[NoteVerifier]) -> Result<(), VerifyError> {
    if keys.is_empty() {
        return Ok(());
    }
    let bad = |reason: String| VerifyError::Checkpoint {
        size: cp.size,
        reason,
    };
    let opened = keys
        .iter()
        .find_map(|k| Checkpoint::open(&cp.note, k).ok())
        .ok_or_else(|| bad("its note is not signed by the given key".into()))?;
    if opened.size != cp.size || opened.root.as_slice() != cp.root.as_slice() {
        return Err(bad("its signed note states a different tree head".into()));
    }
    Ok(())
}

/// Verify the ledger in the SQLite file at `path`; checkpoint signatures are checked against
/// `keys` when any are given.
pub fn verify_sqlite(path: &Path, keys: &[NoteVerifier]) -> Result<VerifyReport, VerifyError> {
    if !path.is_file() {
        return Err(VerifyError::Io(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let pruned_below =
        crate::sqlite::writer::pruned_below(&conn).map_err(|e| VerifyError::Head(e.to_string()))?;
    let checkpoints = load_checkpoints(&conn)?;
    let signed_size = checkpoints.last().map_or(0, |c| c.size);
    if pruned_below > signed_size {
        return Err(VerifyError::Head(format!(
            "the pruning mark claims records below {pruned_below} were pruned, but no signed checkpoint covers more than {signed_size}: only signed records are ever pruned"
        )));
    }
    let mut pending = checkpoints.iter().peekable();
    let mut frontier = Frontier::new();
    let mut stmt = conn.prepare(
        "SELECT seq, record, leaf_hash, kind, tenant, time_ms, correlation_id FROM ledger ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut expected: u64 = 0;
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        batch.clear();
        let first = expected;
        while batch.len() < BATCH {
            let Some(row) = rows.next()? else {
                done = true;
                break;
            };
            let seq: i64 = row.get(0)?;
            if seq as u64 != expected {
                // Check what came before first, so an earlier bad record is named first.
                check_batch(first, &batch, pruned_below)?;
                return Err(VerifyError::Record {
                    seq: expected,
                    reason: format!(
                        "missing: the next stored record has seq {seq} (removed or reordered)"
                    ),
                });
            }
            // A hand edit may have turned a BLOB into TEXT: read either as bytes.
            let bytes = row.get_ref(1)?.as_bytes().map(<[u8]>::to_vec);
            let stored = row.get_ref(2)?.as_bytes().map(<[u8]>::to_vec);
            // Likewise, a column of the wrong type reads as a value no record has.
            let text = |i: usize| {
                row.get_ref(i)
                    .ok()
                    .and_then(|v| v.as_str().ok().map(str::to_string))
                    .unwrap_or_else(|| "\u{fffd}".into())
            };
            let columns = Columns {
                kind: text(3),
                tenant: text(4),
                time_ms: row.get_ref(5)?.as_i64().unwrap_or(i64::MIN),
                correlation_id: text(6),
            };
            batch.push((
                bytes.unwrap_or_else(|_| vec![0]),
                stored.unwrap_or_default(),
                columns,
            ));
            expected += 1;
        }
        for leaf in check_batch(first, &batch, pruned_below)? {
            frontier.push(leaf);
            while let Some(cp) = pending.next_if(|c| c.size == frontier.size()) {
                if cp.root.as_slice() != frontier.root().as_slice() {
                    return Err(VerifyError::Checkpoint {
                        size: cp.size,
                        reason: "the records up to it do not give the root it signed: earlier records were changed".into(),
                    });
                }
                check_signature(cp, keys)?;
            }
        }
    }
    if let Some(cp) = pending.next() {
        return Err(VerifyError::Checkpoint {
            size: cp.size,
            reason: format!(
                "it covers more records than the {} stored: records were removed",
                frontier.size()
            ),
        });
    }
    let saved: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'frontier'", [], |r| {
            r.get(0)
        })
        .ok();
    let report = VerifyReport {
        size: frontier.size(),
        root: frontier.root(),
        checkpoints: checkpoints.len() as u64,
        pruned_below,
        signed_size,
    };
    let Some(saved) = saved else {
        if report.size == 0 {
            return Ok(report);
        }
        return Err(VerifyError::Head("the saved tree head is missing".into()));
    };
    let v: serde_json::Value = serde_json::from_str(&saved)
        .map_err(|e| VerifyError::Head(format!("the saved tree head is unreadable: {e}")))?;
    let size = v.get("size").and_then(|s| s.as_u64()).unwrap_or(u64::MAX);
    let hashes = v
        .get("hashes")
        .and_then(|h| h.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|h| {
                    hex::decode(h.as_str()?)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let saved = Frontier::from_parts(size, hashes)
        .map_err(|e| VerifyError::Head(format!("the saved tree head is malformed: {e}")))?;
    if saved.size() != report.size {
        return Err(VerifyError::Head(format!(
            "the saved tree head covers {} records but {} are stored (records added or removed behind the gateway's back)",
            saved.size(),
            report.size
        )));
    }
    if saved.root() != report.root {
        return Err(VerifyError::Head(
            "the tree over the stored records does not match the saved tree head (records were rewritten together with their hashes)".into(),
        ));
    }
    Ok(report)
}
