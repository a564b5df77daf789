//! The ledger store (audit plane): an append-only sequence of canonical records, each a leaf of
//! the Merkle tree whose head the checkpoints sign.

use async_trait::async_trait;
use portcullis_ledger::merkle::hash_leaf;
use portcullis_ledger::{Record, canonical};

use crate::StoreError;

/// Size and root of the ledger's Merkle tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerHead {
    pub size: u64,
    pub root: [u8; 32],
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub leaf_hash: [u8; 32],
}

/// A ledger row as stored: canonical bytes and the leaf hash written with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub leaf_hash: [u8; 32],
}

/// What a prune removed: the content of records `0..pruned_below` is gone, their leaf hashes
/// stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub pruned_below: u64,
    pub removed: u64,
}

/// A queued append: resolves once the record is durable (or could not be written).
pub type Queued =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Appended, StoreError>> + Send>>;

#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// Append a record (its `seq` is assigned here). Returns once the record is durable.
    async fn append(&self, record: Record) -> Result<Appended, StoreError>;
    /// Queue a record for the writer and return without waiting for it to be durable: the
    /// returned `Queued` resolves when it is. Records keep the order they were queued in, and
    /// closing the backend commits everything queued before it. For records nothing waits on
    /// (outcomes); the decision record before forwarding always uses `append`.
    async fn enqueue(&self, record: Record) -> Result<Queued, StoreError>;
    /// Current tree size and root (of what is durable).
    async fn head(&self) -> Result<LedgerHead, StoreError>;
    /// Up to `limit` records from `from` on, in order.
    async fn read_records(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, StoreError>;
    /// Leaf hashes of records `from..to`, in order (pruned records keep theirs).
    async fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Remove the content of the longest prefix of records made before `before_ms` that a
    /// signed checkpoint covers; their leaf hashes stay, so the tree and proofs are unchanged.
    async fn prune(&self, before_ms: i64) -> Result<Pruned, StoreError>;
}

/// A record's canonical bytes and leaf hash, as every backend stores them; a record that has no
/// canonical form is refused (`Conflict`).
pub(crate) fn encode(record: &Record) -> Result<(Vec<u8>, [u8; 32]), StoreError> {
    let bytes =
        canonical::canonical_bytes(record).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let leaf = hash_leaf(&bytes);
    Ok((bytes, leaf))
}
