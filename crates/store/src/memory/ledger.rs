//! The in-memory ledger and its checkpoints: rows, the Merkle frontier and the prune mark in
//! one mutex, so that appends, checkpoints and prunes see each other whole.

use async_trait::async_trait;
use portcullis_ledger::Record;
use portcullis_ledger::merkle::Frontier;

use super::MemoryStore;
use crate::ledger::encode;
use crate::{
    Appended, CheckpointStore, LedgerHead, LedgerStore, Pruned, Queued, StoreError,
    StoredCheckpoint, StoredRecord,
};

#[derive(Default)]
pub(super) struct Ledger {
    rows: Vec<Row>,
    frontier: Frontier,
    /// Records below this seq have had their content removed.
    pruned_below: u64,
    /// Saved checkpoints, smallest first.
    checkpoints: Vec<StoredCheckpoint>,
}

struct Row {
    time_ms: i64,
    bytes: Vec<u8>,
    leaf_hash: [u8; 32],
}

impl Ledger {
    fn append(&mut self, mut record: Record) -> Result<Appended, StoreError> {
        record.seq = self.frontier.size();
        let (bytes, leaf_hash) = encode(&record)?;
        self.rows.push(Row {
            time_ms: record.time_ms,
            bytes,
            leaf_hash,
        });
        self.frontier.push(leaf_hash);
        Ok(Appended {
            seq: record.seq,
            leaf_hash,
        })
    }

    /// As the SQLite writer prunes: up to the first record at or after `before_ms`, never past
    /// the largest checkpoint, never back.
    fn prune(&mut self, before_ms: i64) -> Pruned {
        let covered = self.checkpoints.last().map_or(0, |cp| cp.size);
        let old = self.pruned_below;
        let rows = self.rows.len() as u64;
        let first_kept =
            (old..covered.min(rows)).find(|&seq| self.rows[seq as usize].time_ms >= before_ms);
        let below = first_kept.unwrap_or(covered).max(old);
        let pruning = old.min(rows) as usize..below.min(rows) as usize;
        let removed = pruning.len() as u64;
        for row in &mut self.rows[pruning] {
            row.bytes = Vec::new();
        }
        self.pruned_below = below;
        Pruned {
            pruned_below: below,
            removed,
        }
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn append(&self, record: Record) -> Result<Appended, StoreError> {
        self.lock(&self.ledger)?.append(record)
    }

    async fn enqueue(&self, record: Record) -> Result<Queued, StoreError> {
        let appended = self.lock(&self.ledger)?.append(record);
        Ok(Box::pin(std::future::ready(appended)))
    }

    async fn head(&self) -> Result<LedgerHead, StoreError> {
        let ledger = self.lock(&self.ledger)?;
        Ok(LedgerHead {
            size: ledger.frontier.size(),
            root: ledger.frontier.root(),
        })
    }

    async fn read_records(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let ledger = self.lock(&self.ledger)?;
        Ok(ledger
            .rows
            .iter()
            .enumerate()
            .skip(usize::try_from(from).unwrap_or(usize::MAX))
            .take(limit)
            .map(|(seq, row)| StoredRecord {
                seq: seq as u64,
                bytes: row.bytes.clone(),
                leaf_hash: row.leaf_hash,
            })
            .collect())
    }

    async fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let ledger = self.lock(&self.ledger)?;
        let size = ledger.rows.len() as u64;
        if to > size && to > from {
            return Err(StoreError::Corrupt(format!(
                "the ledger has no records {}..{to}",
                from.max(size)
            )));
        }
        let range = from.min(to) as usize..to as usize;
        Ok(ledger.rows[range].iter().map(|r| r.leaf_hash).collect())
    }

    async fn prune(&self, before_ms: i64) -> Result<Pruned, StoreError> {
        Ok(self.lock(&self.ledger)?.prune(before_ms))
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self.lock(&self.ledger)?.checkpoints.last().cloned())
    }

    async fn save_checkpoint(&self, cp: StoredCheckpoint) -> Result<(), StoreError> {
        let mut ledger = self.lock(&self.ledger)?;
        if let Some(last) = ledger.checkpoints.last()
            && last.size >= cp.size
        {
            return Err(StoreError::Conflict(format!(
                "a checkpoint of size {} exists; checkpoints only grow",
                last.size
            )));
        }
        ledger.checkpoints.push(cp);
        Ok(())
    }
}
