//! The store contract on the in-memory backend.

mod common;
mod contract;

use std::sync::Arc;

use portcullis_store::MemoryStore;

fn fresh() -> ((), Arc<MemoryStore>) {
    ((), Arc::new(MemoryStore::new()))
}

contract::contract_suite!(fresh);
