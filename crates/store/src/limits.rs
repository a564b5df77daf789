//! The limit store (data plane): rate limits (GCRA) and quota counters.

use async_trait::async_trait;

use crate::StoreError;

/// A GCRA rate: one cell every `interval_ms` on average, with bursts of up to `burst` cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    /// Emission interval: the rate's period divided by its count (at least 1 ms).
    pub interval_ms: u64,
    /// Cells that may be taken at once from a full bucket (at least 1).
    pub burst: u32,
}

/// What taking one cell found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateOutcome {
    /// Taken; `remaining` more could be taken now.
    Allowed { remaining: u32 },
    /// Not taken; the next cell is free after `retry_after_ms`.
    Limited { retry_after_ms: u64 },
}

/// What adding to a quota counter found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaOutcome {
    /// Added; the counter now stands at `used`.
    Counted { used: u64 },
    /// Not added: it would pass the limit; the counter stays at `used`.
    Exceeded { used: u64 },
}

#[async_trait]
pub trait LimitStore: Send + Sync + 'static {
    /// GCRA: take one cell of bucket `key` at `now_ms`. With theoretical arrival time `tat`
    /// (`now_ms` for a new bucket): `new_tat = max(tat, now) + interval`; allowed when
    /// `new_tat - now <= interval * burst`, and then `tat` becomes `new_tat`.
    async fn take_rate(
        &self,
        key: &str,
        spec: RateSpec,
        now_ms: i64,
    ) -> Result<RateOutcome, StoreError>;
    /// Add `amount` to counter `key` of the window starting at `window_start_ms`, unless the
    /// sum would pass `limit`; atomic, and durable once it returns.
    async fn add_usage(
        &self,
        key: &str,
        window_start_ms: i64,
        amount: u64,
        limit: u64,
    ) -> Result<QuotaOutcome, StoreError>;
    /// Give back `amount` (a counted call that was refused later); never below zero.
    async fn refund_usage(
        &self,
        key: &str,
        window_start_ms: i64,
        amount: u64,
    ) -> Result<(), StoreError>;
    /// The counter `key` of the window starting at `window_start_ms` (0 if never counted).
    async fn usage(&self, key: &str, window_start_ms: i64) -> Result<u64, StoreError>;
}
