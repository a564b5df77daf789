//! The reader pool: a few read connections, so that a long read (every leaf hash for a proof)
//! does not stall short ones (a key lookup on the request path). Written here because no
//! `r2d2_sqlite` release supports this workspace's rusqlite.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::StoreError;

pub(crate) struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: holding a permit guarantees an idle connection.
    permits: Arc<Semaphore>,
}

/// A connection checked out of the pool; it goes back when the lease is dropped (also when
/// the read that held it panicked).
pub(crate) struct Lease {
    pool: Arc<ReaderPool>,
    conn: Option<Connection>,
    _permit: OwnedSemaphorePermit,
}

impl ReaderPool {
    pub(crate) fn new(conns: Vec<Connection>) -> ReaderPool {
        ReaderPool {
            permits: Arc::new(Semaphore::new(conns.len())),
            idle: Mutex::new(conns),
        }
    }

    /// Refuse every later lease (and wake those waiting) with `Closed`.
    pub(crate) fn close(&self) {
        self.permits.close();
    }

    /// Wait for an idle connection.
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Lease, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self
            .idle
            .lock()
            .map_err(|_| StoreError::Unavailable("reader pool lock poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Unavailable("reader pool is empty".into()))?;
        Ok(Lease {
            pool: self.clone(),
            conn: Some(conn),
            _permit: permit,
        })
    }
}

impl std::ops::Deref for Lease {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.pool.idle.lock()) {
            idle.push(conn);
        }
    }
}
