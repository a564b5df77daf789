//! The replay store (data plane): reservations of nonces and idempotency keys, so that a
//! signed request cannot be replayed and a retried call runs once.
//!
//! A reservation holds a key with the fingerprint of what reserved it (for an idempotency key,
//! the digest of the request), so that a later attempt can tell a retry of the same request
//! from a different request under the same key.

use async_trait::async_trait;

use crate::StoreError;

/// What a reservation attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was free (or its earlier reservation had expired): it is now held.
    Reserved,
    /// Someone holds it, with this fingerprint, and has not completed.
    InFlight { fingerprint: String },
    /// Someone held it, with this fingerprint, and completed with this result.
    Completed {
        fingerprint: String,
        result: Vec<u8>,
    },
}

#[async_trait]
pub trait ReplayStore: Send + Sync + 'static {
    /// Reserve `key` with `fingerprint` until `expires_ms` (held at `expires_ms` itself, free
    /// after it), atomically: of any number of concurrent attempts at a free key, exactly one
    /// gets `Reserved`.
    async fn reserve(
        &self,
        key: &str,
        fingerprint: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<Reservation, StoreError>;
    /// Record the result of a reserved key and keep it until `keep_until_ms`. `NotFound` if
    /// the key is not reserved, `Conflict` if it already completed.
    async fn complete(
        &self,
        key: &str,
        result: Vec<u8>,
        keep_until_ms: i64,
    ) -> Result<(), StoreError>;
    /// Drop a reservation that did not complete, so a retry may take it (a completed one, or
    /// none, is left as it is).
    async fn release(&self, key: &str) -> Result<(), StoreError>;
    /// Forget reservations that expired before `now_ms`; returns how many.
    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
}

/// What a stored reservation means to a new attempt at `now_ms`: `None` if it expired
/// (the key is free), else `InFlight` or `Completed`.
pub(crate) fn held(
    expires_ms: i64,
    fingerprint: String,
    result: Option<Vec<u8>>,
    now_ms: i64,
) -> Option<Reservation> {
    if expires_ms < now_ms {
        return None;
    }
    Some(match result {
        None => Reservation::InFlight { fingerprint },
        Some(result) => Reservation::Completed {
            fingerprint,
            result,
        },
    })
}
