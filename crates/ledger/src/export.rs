//! The export bundle: records, the signed checkpoint covering them and an inclusion proof for
//! each, in one JSON document (format in `docs/ledger.md`). `verify_bundle` is all an auditor
//! runs: it needs the bundle and the gateway's verifier key, nothing else.

use serde::{Deserialize, Serialize};

use crate::merkle;
use crate::note::{Checkpoint, NoteVerifier};
use crate::proof::{decode_hashes, encode_hashes};
use crate::{Record, canonical};

/// Value of the bundle's `format` member.
pub const EXPORT_FORMAT: &str = "portcullis-ledger-export/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBundle {
    pub format: String,
    /// The signed checkpoint (C2SP signed note) every proof is checked against.
    pub checkpoint: String,
    /// The export was restricted to this tenant's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The export was restricted to records made at or after this time (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// The export was restricted to records made before this time (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// How many records follow; a cut-off bundle is caught even if it still parses.
    pub record_count: u64,
    pub records: Vec<ExportedRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRecord {
    pub seq: u64,
    /// The canonical record bytes, as text.
    pub record: String,
    /// Audit path from the record's leaf to the checkpoint's root, hex.
    pub proof: Vec<String>,
}

impl ExportedRecord {
    pub fn new(seq: u64, canonical_text: String, proof: &[merkle::Hash]) -> ExportedRecord {
        ExportedRecord {
            seq,
            record: canonical_text,
            proof: encode_hashes(proof),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub checkpoint: Checkpoint,
    pub records: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("the export is not a valid bundle: {0}")]
    Malformed(String),
    #[error("the export's checkpoint is not valid: {0}")]
    Checkpoint(String),
    #[error("record {seq} (entry {position} of the export): {reason}")]
    Record {
        position: usize,
        seq: u64,
        reason: String,
    },
}

/// Verify an export bundle's bytes against the gateway's verifier key.
pub fn verify_bundle(bytes: &[u8], key: &NoteVerifier) -> Result<ExportReport, ExportError> {
    let bundle: ExportBundle = serde_json::from_slice(bytes).map_err(|e| {
        ExportError::Malformed(format!("{e} (the file may be truncated or not an export)"))
    })?;
    if bundle.format != EXPORT_FORMAT {
        return Err(ExportError::Malformed(format!(
            "format '{}' is not {EXPORT_FORMAT}",
            bundle.format
        )));
    }
    let cp = Checkpoint::open(&bundle.checkpoint, key)
        .map_err(|e| ExportError::Checkpoint(e.to_string()))?;
    if bundle.record_count != bundle.records.len() as u64 {
        return Err(ExportError::Malformed(format!(
            "it declares {} records but holds {} (records removed or added)",
            bundle.record_count,
            bundle.records.len()
        )));
    }
    let mut previous: Option<u64> = None;
    for (position, entry) in bundle.records.iter().enumerate() {
        let bad = |reason: String| ExportError::Record {
            position,
            seq: entry.seq,
            reason,
        };
        if previous.is_some_and(|p| entry.seq <= p) {
            return Err(bad("out of order or duplicated (seqs must increase)".into()));
        }
        previous = Some(entry.seq);
        if entry.seq >= cp.size {
            return Err(bad(format!(
                "beyond the checkpoint's tree size {}",
                cp.size
            )));
        }
        let record = canonical::parse_canonical(entry.record.as_bytes())
            .map_err(|e| bad(format!("not a canonical record: {e}")))?;
        check_scope(&bundle, &record).map_err(bad)?;
        if record.seq != entry.seq {
            return Err(bad(format!("its content says seq {}", record.seq)));
        }
        let proof = decode_hashes(&entry.proof).map_err(bad)?;
        let leaf = merkle::hash_leaf(entry.record.as_bytes());
        if !merkle::verify_inclusion(&leaf, entry.seq, cp.size, &proof, &cp.root) {
            return Err(bad(
                "not in the ledger the checkpoint commits to (edited, or its proof is wrong)"
                    .into(),
            ));
        }
    }
    Ok(ExportReport {
        checkpoint: cp,
        records: bundle.record_count,
    })
}

/// A record outside the bundle's stated tenant or time window was spliced in.
fn check_scope(bundle: &ExportBundle, r: &Record) -> Result<(), String> {
    if let Some(t) = &bundle.tenant
        && &r.tenant != t
    {
        return Err(format!(
            "belongs to tenant '{}', not the exported tenant '{t}'",
            r.tenant
        ));
    }
    if bundle.since_ms.is_some_and(|s| r.time_ms < s)
        || bundle.until_ms.is_some_and(|u| r.time_ms >= u)
    {
        return Err("its time is outside the export's window".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
