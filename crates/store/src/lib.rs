//! Storage behind small traits: the ledger (audit plane) and keys (control plane). The embedded
//! SQLite backend is the default; distributed backends implement the same `Store` trait.
#![forbid(unsafe_code)]

mod error;
pub mod sqlite;
pub mod verify;

pub use error::StoreError;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use verify::{VerifyError, VerifyReport, verify_sqlite};

use async_trait::async_trait;
use portcullis_identity::KeyRecord;
use portcullis_ledger::Record;

/// Version of the store's schema, reported by `/api/status`.
pub const SCHEMA_VERSION: u32 = 1;

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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Append a record (its `seq` is assigned here). Returns once the record is durable.
    async fn append(&self, record: Record) -> Result<Appended, StoreError>;
    /// Current tree size and root (of what is durable).
    async fn head(&self) -> Result<LedgerHead, StoreError>;
    /// Up to `limit` records from `from` on, in order.
    async fn read_records(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, StoreError>;
    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    async fn insert_key(&self, key: KeyRecord) -> Result<(), StoreError>;
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Revoke a key; false if no such key.
    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// A write round-trip through the writer, for readiness.
    async fn probe_write(&self) -> Result<(), StoreError>;
    /// Flush and stop; later calls fail with `StoreError::Closed`.
    async fn close(&self);
}
