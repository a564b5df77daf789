//! The store contract: cases that every backend must pass, each a function of a fresh backend.
//! A backend's `contract_<name>.rs` declares `mod common; mod contract;` and runs them all with
//! [`contract_suite!`]; nothing here knows which backend it runs on.

pub mod admin;
pub mod approvals;
pub mod checkpoints;
pub mod controls;
pub mod keys;
pub mod ledger;
pub mod lifecycle;
pub mod limits;
pub mod replay;

pub use crate::common::record;

use std::future::Future;
use std::sync::Arc;

use portcullis_identity::KeyRecord;
use portcullis_store::{
    Approval, ApprovalBinding, ApprovalState, Backend, KillSwitch, PinState, StoredCheckpoint,
    SwitchScope, ToolPin,
};

/// Run every case as a test named `<concern>::<case>`, each on the backend that `$fresh()`
/// returns as `(guard, Arc<backend>)`; the guard (a temporary directory, say) lives as long as
/// the test.
macro_rules! contract_suite {
    ($fresh:ident) => {
        $crate::contract::contract_suite!(@cases $fresh;
            ledger {
                appends_get_consecutive_seqs_and_their_leaf_hashes,
                the_head_is_the_merkle_root_of_the_leaf_hashes,
                read_records_returns_ranges,
                leaf_hashes_returns_ranges_and_refuses_past_the_end,
                enqueued_records_keep_their_order_and_resolve,
                an_uncanonical_record_is_refused_and_takes_no_seq,
                prune_removes_content_only_below_a_checkpoint_and_keeps_the_tree,
            }
            checkpoints {
                the_latest_checkpoint_is_the_largest,
                checkpoints_only_grow,
            }
            keys {
                keys_are_found_and_listed_oldest_first,
                a_duplicate_key_id_conflicts,
                revoking_keeps_the_first_revocation_time,
            }
            admin {
                tenants_are_created_once_and_listed_by_name,
                a_tenant_is_updated_only_at_the_version_read,
                of_concurrent_updates_at_one_version_exactly_one_wins,
                a_keys_tenant_state_is_read_with_the_key,
                a_tenant_change_moves_the_controls_version,
                admin_keys_are_kept_apart_and_revoked_once,
                grants_are_added_once_listed_by_role_and_removed,
            }
            lifecycle {
                probe_write_succeeds,
                after_close_every_call_is_closed,
            }
            controls {
                switches_are_set_replaced_and_listed_by_scope_key,
                every_switch_change_waits_to_be_recorded_once,
                pins_are_set_replaced_and_listed_by_tool,
                the_controls_version_grows_with_every_change,
            }
            approvals {
                approvals_are_created_once,
                deciding_approves_or_denies,
                deciding_twice_conflicts,
                deciding_an_expired_approval_conflicts,
                deciding_an_unknown_approval_is_not_found,
                consuming_needs_every_binding_field,
                consuming_refuses_expired_unapproved_and_unknown_approvals,
                exactly_one_of_many_concurrent_consumers_wins,
                pending_approvals_are_listed_by_tenant_oldest_first,
            }
            replay {
                exactly_one_of_many_concurrent_reservations_wins,
                a_reservation_is_in_flight_until_completed,
                release_frees_a_reservation_that_did_not_complete,
                an_expired_reservation_can_be_taken_again,
                purge_forgets_expired_reservations_and_counts_them,
                a_result_is_kept_as_long_as_completion_says_with_its_fingerprint,
            }
            limits {
                gcra_allows_a_burst_then_limits_with_the_exact_wait,
                gcra_refills_one_cell_per_interval,
                rate_buckets_are_independent,
                several_buckets_are_taken_all_or_none,
                quota_counts_up_to_the_limit_and_never_past_it,
                refunds_never_go_below_zero,
                usage_is_kept_per_key_and_window,
                concurrent_usage_counts_exactly_up_to_the_limit,
            }
        );
    };
    (@cases $fresh:ident; $($concern:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $concern {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let (_guard, store) = super::$fresh();
                        $crate::contract::$concern::$case(store).await;
                    }
                )*
            }
        )*
    };
}
pub(crate) use contract_suite;

/// Run `n` copies of `f` at once and collect their results.
pub async fn concurrently<B, F, T>(store: &Arc<B>, n: usize, f: fn(Arc<B>, usize) -> F) -> Vec<T>
where
    B: Backend,
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(f(store.clone(), i))).collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

pub fn checkpoint(size: u64, root: [u8; 32]) -> StoredCheckpoint {
    StoredCheckpoint {
        size,
        root,
        note: format!("note of {size}"),
        time_ms: 5000 + size as i64,
    }
}

pub fn key(id: &str, created_ms: i64) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        tenant: "t".into(),
        agent: "a".into(),
        role: "reader".into(),
        hash_hex: "ab".repeat(32),
        created_ms,
        expires_ms: Some(99_000),
        revoked_ms: None,
        tenant_disabled_ms: None,
    }
}

pub fn switch(scope: SwitchScope, engaged: bool, updated_ms: i64) -> KillSwitch {
    KillSwitch {
        scope,
        engaged,
        reason: format!("set at {updated_ms}"),
        actor: "admin".into(),
        updated_ms,
    }
}

pub fn pin(tool: &str, hash: &str, state: PinState) -> ToolPin {
    ToolPin {
        tool: tool.into(),
        hash: hash.into(),
        state,
        definition: format!("{{\"name\":\"{tool}\"}}"),
        actor: "first-sight".into(),
        updated_ms: 7,
    }
}

pub fn binding(tenant: &str) -> ApprovalBinding {
    ApprovalBinding {
        tenant: tenant.into(),
        agent: "agent-1".into(),
        tool: "files.delete".into(),
        pin: "cd".repeat(32),
        args_digest: "ef".repeat(32),
        policy_version: "v1".into(),
    }
}

/// A pending approval of tenant `t`, made at `created_ms`, that expires at 1000.
pub fn approval(id: &str, created_ms: i64) -> Approval {
    Approval {
        id: id.into(),
        binding: binding("t"),
        state: ApprovalState::Pending,
        created_ms,
        expires_ms: 1000,
        decided_by: None,
        decided_ms: None,
        reason: None,
        consumed_ms: None,
    }
}
