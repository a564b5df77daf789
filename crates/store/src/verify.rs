//! Offline verification of a SQLite ledger: every row re-encodes canonically, its leaf hash
//! matches its content, seqs run 0..n with no gap, and the tree over the rows matches the saved
//! tree head. Reads the file read-only; the gateway need not run. Names the first bad record.

use std::path::Path;

use portcullis_ledger::canonical;
use portcullis_ledger::merkle::Frontier;
use rusqlite::{Connection, OpenFlags};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub size: u64,
    pub root: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the ledger: {0}")]
    Io(String),
    #[error("record {seq}: {reason}")]
    Record { seq: u64, reason: String },
    #[error("{0}")]
    Head(String),
}

impl From<rusqlite::Error> for VerifyError {
    fn from(e: rusqlite::Error) -> Self {
        VerifyError::Io(e.to_string())
    }
}

/// Verify the ledger in the SQLite file at `path`.
pub fn verify_sqlite(path: &Path) -> Result<VerifyReport, VerifyError> {
    if !path.is_file() {
        return Err(VerifyError::Io(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut frontier = Frontier::new();
    let mut stmt = conn.prepare("SELECT seq, record, leaf_hash FROM ledger ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut expected: u64 = 0;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let bad = |reason: String| VerifyError::Record {
            seq: expected,
            reason,
        };
        if seq as u64 != expected {
            return Err(bad(format!(
                "missing: the next stored record has seq {seq} (removed or reordered)"
            )));
        }
        // A hand edit may have turned a BLOB into TEXT: read either as bytes.
        let bytes: Vec<u8> = row
            .get_ref(1)?
            .as_bytes()
            .map_err(|e| bad(e.to_string()))?
            .to_vec();
        let stored: Vec<u8> = row
            .get_ref(2)?
            .as_bytes()
            .map_err(|e| bad(e.to_string()))?
            .to_vec();
        let record = canonical::parse_canonical(&bytes)
            .map_err(|e| bad(format!("not a canonical record ({e}): edited")))?;
        if record.seq != expected {
            return Err(bad(format!(
                "its content says seq {} (moved or swapped)",
                record.seq
            )));
        }
        let leaf = canonical::leaf_hash(&record).map_err(|e| bad(e.to_string()))?;
        if stored.as_slice() != leaf.as_slice() {
            return Err(bad(
                "its stored leaf hash does not match its content: edited".into(),
            ));
        }
        frontier.push(leaf);
        expected += 1;
    }
    let saved: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'frontier'", [], |r| {
            r.get(0)
        })
        .ok();
    let report = VerifyReport {
        size: frontier.size(),
        root: frontier.root(),
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
