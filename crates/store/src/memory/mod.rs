//! The in-memory backend: every concern in process memory behind std mutexes, for tests. Its
//! ledger encodes, hashes and prunes exactly like the SQLite one; nothing survives a restart.

mod admin;
mod approvals;
mod controls;
mod keys;
mod ledger;
mod limits;
mod replay;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use portcullis_identity::KeyRecord;

use crate::limits::LocalRates;
use crate::{Approval, Lifecycle, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    closed: AtomicBool,
    ledger: Mutex<ledger::Ledger>,
    keys: Mutex<BTreeMap<String, KeyRecord>>,
    controls: Mutex<controls::Controls>,
    admin: Mutex<admin::Admin>,
    approvals: Mutex<HashMap<String, Approval>>,
    replay: Mutex<HashMap<String, replay::Held>>,
    /// Quota counters by key and window start.
    quotas: Mutex<HashMap<(String, i64), u64>>,
    rates: LocalRates,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// `Closed` once closed.
    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Lock one concern's state, unless the store is closed.
    fn lock<'a, T>(&self, state: &'a Mutex<T>) -> Result<MutexGuard<'a, T>, StoreError> {
        self.check_open()?;
        state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }
}

#[async_trait]
impl Lifecycle for MemoryStore {
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.check_open()
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}
