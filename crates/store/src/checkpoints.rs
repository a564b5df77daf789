//! The checkpoint store (audit plane): signed statements of the ledger's size and root.

use async_trait::async_trait;

use crate::StoreError;

/// A signed checkpoint as stored: the tree head it states and the signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    /// The C2SP signed note.
    pub note: String,
    pub time_ms: i64,
}

#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// The most recent signed checkpoint, if any.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Save a checkpoint; refused (`Conflict`) unless it is larger than every saved one.
    async fn save_checkpoint(&self, cp: StoredCheckpoint) -> Result<(), StoreError>;
}
