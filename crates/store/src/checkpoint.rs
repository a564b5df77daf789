//! Signing a checkpoint of the ledger as it stands. The new tree head is checked against the
//! last signed one with an RFC 9162 consistency proof first: the gateway never signs two
//! checkpoints that contradict each other, even if the database was rewritten in between.

use portcullis_ledger::merkle::{Tree, verify_consistency};
use portcullis_ledger::note::{Checkpoint, NoteSigner};

use crate::{Store, StoreError, StoredCheckpoint};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
}

/// Sign and save a checkpoint of the current tree if it grew since the last one. Returns the
/// new checkpoint, or `None` when there was nothing new to sign.
pub async fn sign_checkpoint(
    store: &dyn Store,
    signer: &NoteSigner,
    origin: &str,
    now_ms: i64,
) -> Result<Option<StoredCheckpoint>, CheckpointError> {
    let head = store.head().await?;
    let last = store.latest_checkpoint().await?;
    let (last_size, last_root) = last.as_ref().map(|c| (c.size, c.root)).unwrap_or_default();
    if head.size < last_size {
        return Err(CheckpointError::Inconsistent(format!(
            "the ledger has {} records but checkpoint {last_size} was signed (records removed)",
            head.size
        )));
    }
    let tree = Tree::new(store.leaf_hashes(head.size).await?);
    if tree.root(head.size) != head.root {
        return Err(CheckpointError::Inconsistent(
            "the stored leaf hashes do not give the ledger's tree head".into(),
        ));
    }
    if head.size == last_size && last.is_some() {
        if head.root != last_root {
            return Err(CheckpointError::Inconsistent(format!(
                "the tree of size {last_size} no longer has the signed root"
            )));
        }
        return Ok(None);
    }
    if head.size == 0 {
        return Ok(None);
    }
    let proof = tree.consistency_proof(last_size, head.size);
    if last.is_some() && !verify_consistency(last_size, head.size, &last_root, &head.root, &proof) {
        return Err(CheckpointError::Inconsistent(format!(
            "the ledger is not an extension of the last signed checkpoint (size {last_size})"
        )));
    }
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: head.size,
        root: head.root,
    };
    let note = cp
        .sign(signer)
        .map_err(|e| CheckpointError::Inconsistent(e.to_string()))?;
    let stored = StoredCheckpoint {
        size: cp.size,
        root: cp.root,
        note,
        time_ms: now_ms,
    };
    store.save_checkpoint(stored.clone()).await?;
    Ok(Some(stored))
}
