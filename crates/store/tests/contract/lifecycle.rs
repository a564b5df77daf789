//! Lifecycle: a probe writes, and a closed backend refuses every call.

use std::fmt::Debug;
use std::sync::Arc;

use portcullis_store::{Backend, RateSpec, StoreError, SwitchScope};

use super::{approval, binding, checkpoint, key, pin, record, switch};

pub async fn probe_write_succeeds<B: Backend>(s: Arc<B>) {
    s.probe_write().await.unwrap();
    s.probe_write().await.unwrap();
}

fn closed<T: Debug>(call: &str, r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Closed)),
        "{call} after close: {r:?}"
    );
}

pub async fn after_close_every_call_is_closed<B: Backend>(s: Arc<B>) {
    s.append(record(0)).await.unwrap();
    s.insert_key(key("k", 1)).await.unwrap();
    s.close().await;

    closed("append", s.append(record(1)).await);
    closed("enqueue", s.enqueue(record(1)).await.map(|_| ()));
    closed("head", s.head().await);
    closed("read_records", s.read_records(0, 10).await);
    closed("leaf_hashes", s.leaf_hashes(0, 1).await);
    closed("prune", s.prune(0).await);
    closed("latest_checkpoint", s.latest_checkpoint().await);
    closed(
        "save_checkpoint",
        s.save_checkpoint(checkpoint(1, [0; 32])).await,
    );
    closed("find_key", s.find_key("k").await);
    closed("insert_key", s.insert_key(key("j", 1)).await);
    closed("list_keys", s.list_keys().await);
    closed("revoke_key", s.revoke_key("k", 1).await);
    closed(
        "set_switch",
        s.set_switch(switch(SwitchScope::Global, true, 1)).await,
    );
    closed("switches", s.switches().await);
    closed(
        "set_pin",
        s.set_pin(pin("a.b", "00", portcullis_store::PinState::Trusted))
            .await,
    );
    closed("pin", s.pin("a.b").await);
    closed("pins", s.pins().await);
    closed("controls_version", s.controls_version().await);
    closed("create_approval", s.create_approval(approval("x", 1)).await);
    closed("approval", s.approval("x").await);
    closed(
        "decide_approval",
        s.decide_approval("x", true, "admin", None, 2).await,
    );
    closed(
        "consume_approval",
        s.consume_approval("x", &binding("t"), 3).await,
    );
    closed("pending_approvals", s.pending_approvals(None, 1).await);
    closed("reserve", s.reserve("r", "fp", 10, 1).await);
    closed("complete", s.complete("r", vec![1], 10).await);
    closed("release", s.release("r").await);
    closed("purge_expired", s.purge_expired(1).await);
    let spec = RateSpec {
        interval_us: 100_000,
        burst: 1,
    };
    closed("take_rate", s.take_rate("l", spec, 1).await);
    closed("add_usage", s.add_usage("q", 0, 1, 10).await);
    closed("refund_usage", s.refund_usage("q", 0, 1).await);
    closed("usage", s.usage("q", 0).await);
    closed("probe_write", s.probe_write().await);
    // Closing twice is harmless.
    s.close().await;
}
