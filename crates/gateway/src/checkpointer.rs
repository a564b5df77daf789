//! Audit plane, in the running gateway: signs checkpoints of the ledger (at start, then every
//! `audit.checkpoint_interval` while it grows, and as soon as `audit.checkpoint_size` records
//! were added, and a last time once the gateway has drained, so that even a short run leaves a
//! signed checkpoint of everything it recorded), and prunes record content past
//! `audit.retention_days`. Each new checkpoint is
//! checked for consistency with the last signed one before it is signed (`Checkpointer`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_ledger::note::NoteSigner;
use portcullis_store::{Checkpointer, StoreError, signing_key};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the tree size is looked at.
const POLL: Duration = Duration::from_millis(250);
/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Load (or create) the signing key and start the loop, which signs a last checkpoint and ends
/// when `drained` is cancelled (after the server has drained). Fails if the key file is
/// unusable.
pub fn start(st: Arc<AppState>, drained: CancellationToken) -> Result<JoinHandle<()>, StoreError> {
    let audit = &st.config.audit;
    let path = audit.signing_key_path(&st.config.store);
    let (key, created) = signing_key::load_or_create(&path)?;
    let signer =
        NoteSigner::new(&audit.origin, key).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let verifier = signer.verifier().to_string();
    let signer = Checkpointer::new(signer, &audit.origin);
    if created {
        tracing::info!(key_file = %path.display(), public_key = %verifier, "checkpoint signing key created");
    } else {
        tracing::info!(public_key = %verifier, "checkpoint signing key loaded");
    }
    Ok(tokio::spawn(run(st, signer, drained)))
}

async fn run(st: Arc<AppState>, mut signer: Checkpointer, drained: CancellationToken) {
    let audit = st.config.audit.clone();
    let mut last_signed = st.clock.instant();
    let first = sign(&st, &mut signer).await;
    // After a failure, retry only once the interval has passed, not on every size trigger.
    let mut failing = first.is_none();
    let mut last_size = first.unwrap_or(0);
    let mut last_prune: Option<Instant> = None;
    loop {
        if let Some(keep) = audit.retention
            && last_prune.is_none_or(|t| st.clock.instant() - t >= PRUNE_EVERY)
        {
            last_prune = Some(st.clock.instant());
            prune(&st, keep).await;
        }
        tokio::select! {
            _ = drained.cancelled() => {
                // Everything queued before this is in the head the writer reports now.
                sign(&st, &mut signer).await;
                return;
            }
            _ = tokio::time::sleep(POLL.min(audit.checkpoint_interval)) => {}
        }
        let Ok(head) = st.stores.ledger.head().await else {
            continue;
        };
        let grown = head.size.saturating_sub(last_size);
        let interval_passed = st.clock.instant() - last_signed >= audit.checkpoint_interval;
        if (grown >= audit.checkpoint_size && !failing) || (grown > 0 && interval_passed) {
            let signed = sign(&st, &mut signer).await;
            failing = signed.is_none();
            last_size = signed.unwrap_or(last_size);
            last_signed = st.clock.instant();
        }
    }
}

/// Sign if the tree grew; the size the latest checkpoint covers, or `None` on failure.
async fn sign(st: &AppState, signer: &mut Checkpointer) -> Option<u64> {
    let covered = match signer
        .sign(
            st.stores.ledger.as_ref(),
            st.stores.checkpoints.as_ref(),
            st.clock.now_ms(),
        )
        .await
    {
        Ok(Some(cp)) => {
            tracing::debug!(size = cp.size, root = %hex::encode(cp.root), "checkpoint signed");
            Some(cp.size)
        }
        Ok(None) => st
            .stores
            .checkpoints
            .latest_checkpoint()
            .await
            .ok()
            .map(|c| c.map_or(0, |c| c.size)),
        Err(e) => {
            tracing::error!(error = %e, "checkpoint not signed");
            None
        }
    };
    match covered {
        Some(size) => {
            st.metrics.checkpoint_size.set(size as i64);
        }
        None => {
            st.metrics.checkpoint_failures.inc();
        }
    }
    covered
}

async fn prune(st: &AppState, keep: Duration) {
    let before = st.clock.now_ms().saturating_sub(keep.as_millis() as i64);
    match st.stores.ledger.prune(before).await {
        Ok(p) if p.removed > 0 => {
            tracing::info!(
                removed = p.removed,
                pruned_below = p.pruned_below,
                "ledger records pruned"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "ledger pruning failed"),
    }
}
