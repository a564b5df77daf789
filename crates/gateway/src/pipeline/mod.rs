//! The governed pipeline: every governed request of both protocol eras (`tools/call`,
//! `prompts/get`, `resources/read`, `resources/subscribe` / `unsubscribe`,
//! `completion/complete`, and the `logging/setLevel` the gateway sends upstream for a client)
//! goes through one runner and the stages registered in [`stages::standard`], in order. See
//! `runner` for what the runner guarantees, `permit` for how an allowed request is forwarded,
//! and `docs/pipeline.md` for the stage list.

pub mod forward;
mod permit;
pub mod record;
mod request;
pub mod result_cap;
mod runner;
pub mod stages;

pub use permit::{Detached, Permit};
pub use record::RecordCtx;
pub use request::{ClientRef, Facts, Governed, GovernedMethod, QuotaSpent, Requested, Resolved};
pub use runner::{DEFAULT_BUDGET, Decided, Pipeline, REPLAYED, Settlement, Stage, Step, run};

#[cfg(test)]
mod tests;
