//! What every backend does besides storing: prove it can write, and stop cleanly.

use async_trait::async_trait;

use crate::StoreError;

#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// A write round-trip, for readiness.
    async fn probe_write(&self) -> Result<(), StoreError>;
    /// Flush what is queued and stop; later calls fail with `StoreError::Closed`.
    async fn close(&self);
}
