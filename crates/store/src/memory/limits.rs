//! In-memory rate buckets and quota counters.

use async_trait::async_trait;

use super::MemoryStore;
use crate::limits::add_within;
use crate::{LimitStore, QuotaOutcome, RateOutcome, RateSpec, RateTake, RatesOutcome, StoreError};

#[async_trait]
impl LimitStore for MemoryStore {
    async fn take_rate(
        &self,
        key: &str,
        spec: RateSpec,
        now_ms: i64,
    ) -> Result<RateOutcome, StoreError> {
        self.check_open()?;
        self.rates.take(key, spec, now_ms)
    }

    async fn take_rates(
        &self,
        takes: &[RateTake],
        now_ms: i64,
    ) -> Result<RatesOutcome, StoreError> {
        self.check_open()?;
        self.rates.take_all(takes, now_ms)
    }

    async fn add_usage(
        &self,
        key: &str,
        window_start_ms: i64,
        amount: u64,
        limit: u64,
    ) -> Result<QuotaOutcome, StoreError> {
        let mut quotas = self.lock(&self.quotas)?;
        let used = quotas
            .entry((key.to_string(), window_start_ms))
            .or_default();
        let outcome = add_within(*used, amount, limit);
        if let QuotaOutcome::Counted { used: now } = outcome {
            *used = now;
        }
        Ok(outcome)
    }

    async fn refund_usage(
        &self,
        key: &str,
        window_start_ms: i64,
        amount: u64,
    ) -> Result<(), StoreError> {
        let mut quotas = self.lock(&self.quotas)?;
        if let Some(used) = quotas.get_mut(&(key.to_string(), window_start_ms)) {
            *used = used.saturating_sub(amount);
        }
        Ok(())
    }

    async fn usage(&self, key: &str, window_start_ms: i64) -> Result<u64, StoreError> {
        let quotas = self.lock(&self.quotas)?;
        Ok(quotas
            .get(&(key.to_string(), window_start_ms))
            .copied()
            .unwrap_or(0))
    }
}
