//! In-memory replay reservations.

use async_trait::async_trait;

use super::MemoryStore;
use crate::replay::held;
use crate::{ReplayStore, Reservation, StoreError};

/// One reservation: held until `expires_ms`, with its result once completed.
pub(super) struct Held {
    expires_ms: i64,
    fingerprint: String,
    result: Option<Vec<u8>>,
}

#[async_trait]
impl ReplayStore for MemoryStore {
    async fn reserve(
        &self,
        key: &str,
        fingerprint: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<Reservation, StoreError> {
        let mut all = self.lock(&self.replay)?;
        if let Some(h) = all.get(key)
            && let Some(outcome) = held(
                h.expires_ms,
                h.fingerprint.clone(),
                h.result.clone(),
                now_ms,
            )
        {
            return Ok(outcome);
        }
        let fresh = Held {
            expires_ms,
            fingerprint: fingerprint.to_string(),
            result: None,
        };
        all.insert(key.to_string(), fresh);
        Ok(Reservation::Reserved)
    }

    async fn complete(
        &self,
        key: &str,
        result: Vec<u8>,
        keep_until_ms: i64,
    ) -> Result<(), StoreError> {
        let mut all = self.lock(&self.replay)?;
        let h = all
            .get_mut(key)
            .ok_or_else(|| StoreError::NotFound(format!("reservation '{key}'")))?;
        if h.result.is_some() {
            return Err(StoreError::Conflict(format!(
                "reservation '{key}' already completed"
            )));
        }
        h.result = Some(result);
        h.expires_ms = keep_until_ms;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut all = self.lock(&self.replay)?;
        if all.get(key).is_some_and(|h| h.result.is_none()) {
            all.remove(key);
        }
        Ok(())
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut all = self.lock(&self.replay)?;
        let before = all.len();
        all.retain(|_, h| h.expires_ms >= now_ms);
        Ok((before - all.len()) as u64)
    }
}
