//! Data plane: admission (ingress guards, identity), the MCP endpoint for both protocol eras,
//! the governed pipeline every governed method goes through, and the relay of forwarded calls,
//! plus the ops endpoints, served with axum. See `server::run` for the lifecycle, `endpoint`
//! for what happens before dispatch and `pipeline` for the stages.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admission;
pub mod audit;
pub mod checkpointer;
pub mod controls;
pub mod endpoint;
pub mod federation;
pub mod identity;
pub mod ingress;
pub mod ledger_api;
pub mod listen;
pub mod methods;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod pipeline;
pub mod relay;
pub mod reload;
pub mod respond;
pub mod server;
pub mod session;
pub mod shed;
pub mod state;
/// In-process fixtures for the crate's tests and benchmarks (memory store, manual clock).
#[doc(hidden)]
pub mod testing;
pub mod upstreams;

pub use server::{Running, Services, StartError, bind, run};
