//! The replay store (data plane): reservations of nonces and idempotency keys, so that a
//! signed request cannot be replayed and a retried call runs once.

use async_trait::async_trait;

use crate::StoreError;

/// What a reservation attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was free (or its earlier reservation had expired): it is now held.
    Reserved,
    /// Someone holds it and has not completed.
    InFlight,
    /// Someone held it and completed with this result.
    Completed(Vec<u8>),
}

#[async_trait]
pub trait ReplayStore: Send + Sync + 'static {
    /// Reserve `key` until `expires_ms`, atomically: of any number of concurrent attempts at
    /// a free key, exactly one gets `Reserved`.
    async fn reserve(
        &self,
        key: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<Reservation, StoreError>;
    /// Record the result of a reserved key (kept until the reservation expires). `NotFound`
    /// if the key is not reserved.
    async fn complete(&self, key: &str, result: Vec<u8>) -> Result<(), StoreError>;
    /// Drop a reservation that did not complete, so a retry may take it.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
    /// Forget reservations that expired before `now_ms`; returns how many.
    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
}
