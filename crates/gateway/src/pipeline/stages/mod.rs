//! The stages, one module each, and their registration: [`standard`] is the one ordered list
//! the gateway runs. DESIGN.md's order: resolve/pin → kill switch → replay/idempotency →
//! argument schema → policy → flow → approval → dry-run → limits, with two changes: rate
//! limits run before the dry-run answer (a preview costs a ledger record too), and idempotency
//! runs after policy and the dry-run answer, so that a stored outcome is replayed only to a
//! caller still allowed the call, and only for live calls (a preview runs nothing). Quotas,
//! breakers and concurrency come after it: a replay spends none of them. A new stage is one
//! module here and one line in `standard`, in its place in that order.

mod arguments;
mod breaker;
mod concurrency;
mod dry_run;
mod duplicates;
pub mod idempotency;
mod kill_switch;
mod policy;
mod quota;
pub mod rate_limit;
mod resolve;

use std::sync::Arc;

pub use arguments::Arguments;
pub use breaker::{Breaker, Circuits};
pub use concurrency::{Concurrency, HeldSlot, ToolSlots};
pub use dry_run::{DryRun, PREVIEW_META};
pub use duplicates::Duplicates;
pub use idempotency::Idempotency;
pub use kill_switch::KillSwitch;
pub use policy::{Authorize, permits};
pub use quota::{Quota, quota_status};
pub use rate_limit::RateLimit;
pub use resolve::Resolve;

use super::Stage;

/// The stages every governed request goes through, in order.
pub fn standard() -> Vec<Arc<dyn Stage>> {
    vec![
        Arc::new(Resolve),
        Arc::new(KillSwitch),
        Arc::new(Arguments),
        Arc::new(Authorize),
        Arc::new(RateLimit),
        Arc::new(DryRun),
        Arc::new(Idempotency),
        Arc::new(Duplicates),
        Arc::new(Breaker),
        Arc::new(Quota),
        Arc::new(Concurrency),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stages_run_in_the_designed_order() {
        let names: Vec<&str> = standard().iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "resolve",
                "kill_switch",
                "arguments",
                "policy",
                "rate_limit",
                "dry_run",
                "idempotency",
                "duplicates",
                "breaker",
                "quota",
                "concurrency"
            ]
        );
    }

    #[test]
    fn the_docs_show_the_stage_list_as_registered() {
        let names: Vec<&str> = standard().iter().map(|s| s.name()).collect();
        let listed = format!("`{}`", names.join("` → `"));
        for doc in ["docs/pipeline.md", "README.md"] {
            let path = format!("{}/../../{doc}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect(doc);
            assert!(
                text.contains(&listed),
                "{doc} must show the registered stages as {listed}"
            );
        }
    }
}
