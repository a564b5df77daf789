//! Exports, made page by page: the records a scope covers, each with its inclusion proof
//! against the latest signed checkpoint, written as one export bundle (`docs/ledger.md`) in
//! chunks, so that neither the gateway nor the CLI holds a whole export in memory. Only the
//! checkpoint's leaf hashes (32 bytes a record) are held, to make the proofs.

use std::sync::Arc;

use portcullis_ledger::export::{EXPORT_FORMAT, ExportedRecord};
use portcullis_ledger::merkle::Tree;
use portcullis_ledger::{Record, canonical};
use serde_json::json;

use crate::{CheckpointStore, LedgerStore, StoreError};

/// Records read from the store at a time.
const PAGE: usize = 2_000;

/// Which records an export holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportScope {
    pub tenant: Option<String>,
    /// Made at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Made before (Unix ms).
    pub until_ms: Option<i64>,
}

impl ExportScope {
    pub fn covers(&self, r: &Record) -> bool {
        self.tenant.as_ref().is_none_or(|t| &r.tenant == t)
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportFailure {
    #[error("no checkpoint has been signed yet")]
    NoCheckpoint,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("record {seq}: {reason}; run 'portcullis audit verify'")]
    Corrupt { seq: u64, reason: String },
}

/// What an export left out, known once it is done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub records: u64,
    /// Records of the checkpoint whose content was pruned.
    pub pruned: u64,
    /// Records newer than the checkpoint (not in the export).
    pub uncovered: u64,
    /// The checkpoint's tree size.
    pub checkpoint_size: u64,
}

enum Stage {
    Head,
    Records,
    Done,
}

/// An export in progress: call [`Export::next_chunk`] until it returns `None`.
pub struct Export {
    ledger: Arc<dyn LedgerStore>,
    scope: ExportScope,
    note: String,
    tree: Tree,
    size: u64,
    ledger_size: u64,
    from: u64,
    stage: Stage,
    summary: ExportSummary,
}

impl Export {
    /// Start an export against the latest checkpoint.
    pub async fn start(
        ledger: Arc<dyn LedgerStore>,
        checkpoints: &dyn CheckpointStore,
        scope: ExportScope,
    ) -> Result<Export, ExportFailure> {
        let latest = checkpoints
            .latest_checkpoint()
            .await?
            .ok_or(ExportFailure::NoCheckpoint)?;
        let head = ledger.head().await?;
        let tree = Tree::new(ledger.leaf_hashes(0, latest.size).await?);
        Ok(Export {
            ledger,
            scope,
            note: latest.note,
            tree,
            size: latest.size,
            ledger_size: head.size,
            from: 0,
            stage: Stage::Head,
            summary: ExportSummary {
                checkpoint_size: latest.size,
                ..ExportSummary::default()
            },
        })
    }

    /// The next piece of the bundle's JSON text; `None` when it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportFailure> {
        match self.stage {
            Stage::Head => {
                self.stage = Stage::Records;
                let mut head = json!({"format": EXPORT_FORMAT, "checkpoint": self.note});
                if let Some(t) = &self.scope.tenant {
                    head["tenant"] = json!(t);
                }
                if let Some(s) = self.scope.since_ms {
                    head["since_ms"] = json!(s);
                }
                if let Some(u) = self.scope.until_ms {
                    head["until_ms"] = json!(u);
                }
                let mut text = head.to_string();
                text.pop();
                text.push_str(",\"records\":[");
                Ok(Some(text.into_bytes()))
            }
            Stage::Records => {
                let mut out = Vec::new();
                // Pages that hold nothing in scope are skipped without yielding an empty chunk.
                while out.is_empty() && self.from < self.size {
                    self.page(&mut out).await?;
                }
                if self.from >= self.size {
                    self.stage = Stage::Done;
                    self.summary.uncovered = self.ledger_size.saturating_sub(self.size);
                    out.extend_from_slice(
                        format!("],\"record_count\":{}}}\n", self.summary.records).as_bytes(),
                    );
                }
                Ok(Some(out))
            }
            Stage::Done => Ok(None),
        }
    }

    async fn page(&mut self, out: &mut Vec<u8>) -> Result<(), ExportFailure> {
        let page = self.ledger.read_records(self.from, PAGE).await?;
        if page.is_empty() {
            self.from = self.size;
            return Ok(());
        }
        for row in page.into_iter().take_while(|r| r.seq < self.size) {
            self.from = row.seq + 1;
            if row.bytes.is_empty() {
                self.summary.pruned += 1;
                continue;
            }
            let corrupt = |reason: String| ExportFailure::Corrupt {
                seq: row.seq,
                reason,
            };
            let r = canonical::parse_canonical(&row.bytes).map_err(|e| corrupt(e.to_string()))?;
            if !self.scope.covers(&r) {
                continue;
            }
            let text = String::from_utf8(row.bytes).map_err(|e| corrupt(e.to_string()))?;
            let entry = ExportedRecord::new(
                row.seq,
                text,
                &self.tree.inclusion_proof(row.seq, self.size),
            );
            if self.summary.records > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, &entry).map_err(|e| corrupt(e.to_string()))?;
            self.summary.records += 1;
        }
        Ok(())
    }

    /// What the export held and left out (complete once `next_chunk` returned `None`).
    pub fn summary(&self) -> &ExportSummary {
        &self.summary
    }
}
