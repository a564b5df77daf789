//! Data plane: ingress guards, identity, the MCP endpoint for both protocol eras, the
//! governed methods and the relay of forwarded calls, plus the ops endpoints, served with
//! axum. See `server::run` for the lifecycle, `endpoint` for the stage order and
//! `methods::tools` for the `tools/call` pipeline.
#![forbid(unsafe_code)]

pub mod audit;
pub mod checkpointer;
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
pub mod relay;
pub mod respond;
pub mod server;
pub mod session;
pub mod state;
pub mod upstreams;

pub use server::{Running, StartError, bind, run};
