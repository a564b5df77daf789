//! Signing checkpoints of the ledger. Before signing, the new tree head is checked to extend
//! the last signed one: the tree of the last checkpoint (re-derived from the stored leaf hashes
//! and compared with its signed root) plus the leaves appended since must give the new head.
//! So the gateway never signs two checkpoints that contradict each other, even if the database
//! was rewritten in between. The checked tree's right edge is kept, so each later check reads
//! only the new leaf hashes.

use portcullis_ledger::merkle::Frontier;
use portcullis_ledger::note::{Checkpoint, NoteSigner, NoteVerifier};

use crate::{CheckpointStore, LedgerStore, StoreError, StoredCheckpoint};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
}

/// Signs checkpoints with one key, remembering the last tree it checked.
pub struct Checkpointer {
    signer: NoteSigner,
    origin: String,
    /// The tree of the latest checkpoint, checked against its signed root.
    checked: Option<Frontier>,
}

impl Checkpointer {
    pub fn new(signer: NoteSigner, origin: &str) -> Checkpointer {
        Checkpointer {
            signer,
            origin: origin.to_string(),
            checked: None,
        }
    }

    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// The tree of the latest checkpoint: the remembered one if it still matches, else
    /// re-derived from every stored leaf hash and checked against the signed root.
    async fn base(
        &mut self,
        ledger: &dyn LedgerStore,
        last: Option<&StoredCheckpoint>,
    ) -> Result<Frontier, CheckpointError> {
        let (size, root) = last.map(|c| (c.size, c.root)).unwrap_or_default();
        if let Some(f) = self.checked.take()
            && f.size() == size
            && (last.is_none() || f.root() == root)
        {
            return Ok(f);
        }
        let mut f = Frontier::new();
        for leaf in ledger.leaf_hashes(0, size).await? {
            f.push(leaf);
        }
        if last.is_some() && f.root() != root {
            return Err(CheckpointError::Inconsistent(format!(
                "the stored records no longer give the root signed in checkpoint {size}"
            )));
        }
        Ok(f)
    }

    /// Sign and save a checkpoint of the current tree if it grew since the last one. Returns
    /// the new checkpoint, or `None` when there was nothing new to sign.
    pub async fn sign(
        &mut self,
        ledger: &dyn LedgerStore,
        checkpoints: &dyn CheckpointStore,
        now_ms: i64,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let head = ledger.head().await?;
        let last = checkpoints.latest_checkpoint().await?;
        let last_size = last.as_ref().map_or(0, |c| c.size);
        if head.size < last_size {
            return Err(CheckpointError::Inconsistent(format!(
                "the ledger has {} records but checkpoint {last_size} was signed (records removed)",
                head.size
            )));
        }
        let base = self.base(ledger, last.as_ref()).await?;
        let mut next = base.clone();
        for leaf in ledger.leaf_hashes(last_size, head.size).await? {
            next.push(leaf);
        }
        if next.root() != head.root {
            return Err(CheckpointError::Inconsistent(format!(
                "the tree of checkpoint {last_size} extended by the stored records does not give the ledger's head"
            )));
        }
        if head.size == last_size {
            self.checked = Some(base);
            return Ok(None);
        }
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: head.size,
            root: head.root,
        };
        let note = cp
            .sign(&self.signer)
            .map_err(|e| CheckpointError::Inconsistent(e.to_string()))?;
        let stored = StoredCheckpoint {
            size: cp.size,
            root: cp.root,
            note,
            time_ms: now_ms,
        };
        checkpoints.save_checkpoint(stored.clone()).await?;
        self.checked = Some(next);
        Ok(Some(stored))
    }
}

/// Sign once with a fresh `Checkpointer` (the CLI's `audit checkpoint`).
pub async fn sign_checkpoint(
    ledger: &dyn LedgerStore,
    checkpoints: &dyn CheckpointStore,
    signer: &NoteSigner,
    origin: &str,
    now_ms: i64,
) -> Result<Option<StoredCheckpoint>, CheckpointError> {
    Checkpointer::new(signer.clone(), origin)
        .sign(ledger, checkpoints, now_ms)
        .await
}
