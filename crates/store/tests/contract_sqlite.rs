//! The store contract on the embedded SQLite backend, each case on a new database file.

mod common;
mod contract;

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::{SqliteOptions, SqliteStore};

fn fresh() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions {
        path: dir.path().join("contract.db"),
        busy_timeout: Duration::from_secs(5),
    })
    .unwrap();
    (dir, Arc::new(store))
}

contract::contract_suite!(fresh);
