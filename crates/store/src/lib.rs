//! Storage, split by concern: the ledger and its checkpoints (audit plane), keys, controls and
//! approvals (control plane), replay reservations and limits (data plane). Each concern is a
//! trait; a backend implements all of them and [`Stores`] hands each part of the gateway the
//! one it needs. The embedded SQLite backend is the default; the in-memory one serves tests.
#![forbid(unsafe_code)]

pub mod admin;
pub mod approvals;
pub mod checkpointer;
pub mod checkpoints;
pub mod controls;
mod error;
pub mod export;
pub mod keys;
pub mod ledger;
pub mod lifecycle;
pub mod limits;
pub mod memory;
pub mod replay;
pub mod signing_key;
pub mod sqlite;
pub mod verify;

use std::sync::Arc;

pub use admin::{AdminStore, Grant, Tenant};
pub use approvals::{Approval, ApprovalBinding, ApprovalState, ApprovalStore, Consumption};
pub use checkpointer::{CheckpointError, Checkpointer, sign_checkpoint};
pub use checkpoints::{CheckpointStore, StoredCheckpoint};
pub use controls::{ControlStore, KillSwitch, PinState, SwitchChange, SwitchScope, ToolPin};
pub use error::StoreError;
pub use keys::KeyStore;
pub use ledger::{Appended, LedgerHead, LedgerStore, Pruned, Queued, StoredRecord};
pub use lifecycle::Lifecycle;
pub use limits::{LimitStore, QuotaOutcome, RateOutcome, RateSpec, RateTake, RatesOutcome};
pub use memory::MemoryStore;
pub use replay::{ReplayStore, Reservation};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use verify::{VerifyError, VerifyReport, verify_sqlite};

/// Version of the store's schema, reported by `/api/status`.
pub const SCHEMA_VERSION: u32 = 6;

/// A backend that stores every concern.
pub trait Backend:
    LedgerStore
    + CheckpointStore
    + KeyStore
    + AdminStore
    + ControlStore
    + ApprovalStore
    + ReplayStore
    + LimitStore
    + Lifecycle
{
}

impl<T> Backend for T where
    T: LedgerStore
        + CheckpointStore
        + KeyStore
        + AdminStore
        + ControlStore
        + ApprovalStore
        + ReplayStore
        + LimitStore
        + Lifecycle
{
}

/// One store per concern, shared by everything that needs it.
#[derive(Clone)]
pub struct Stores {
    pub ledger: Arc<dyn LedgerStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub keys: Arc<dyn KeyStore>,
    pub admin: Arc<dyn AdminStore>,
    pub controls: Arc<dyn ControlStore>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub replay: Arc<dyn ReplayStore>,
    pub limits: Arc<dyn LimitStore>,
    pub lifecycle: Arc<dyn Lifecycle>,
}

impl Stores {
    /// Every concern from one backend.
    pub fn of<B: Backend>(backend: Arc<B>) -> Stores {
        Stores {
            ledger: backend.clone(),
            checkpoints: backend.clone(),
            keys: backend.clone(),
            admin: backend.clone(),
            controls: backend.clone(),
            approvals: backend.clone(),
            replay: backend.clone(),
            limits: backend.clone(),
            lifecycle: backend,
        }
    }
}
