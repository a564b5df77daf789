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

/// GCRA arithmetic as [`LimitStore::take_rate`] states it: the outcome of taking one cell from
/// a bucket whose theoretical arrival time is `tat` (`None` when new), and the bucket's new
/// `tat` if the cell was taken. An `interval_ms` or `burst` of 0 counts as 1.
pub(crate) fn gcra(tat: Option<i64>, spec: RateSpec, now_ms: i64) -> (RateOutcome, Option<i64>) {
    let interval = i128::from(spec.interval_ms.max(1));
    let limit = interval * i128::from(spec.burst.max(1));
    let now = i128::from(now_ms);
    let new_tat = tat.map_or(now, |t| i128::from(t).max(now)) + interval;
    let ahead = new_tat - now;
    if ahead <= limit {
        let remaining = u32::try_from((limit - ahead) / interval).unwrap_or(u32::MAX);
        let tat = i64::try_from(new_tat).unwrap_or(i64::MAX);
        (RateOutcome::Allowed { remaining }, Some(tat))
    } else {
        let retry_after_ms = u64::try_from(ahead - limit).unwrap_or(u64::MAX);
        (RateOutcome::Limited { retry_after_ms }, None)
    }
}

/// Quota arithmetic as [`LimitStore::add_usage`] states it: add `amount` to `used` unless the
/// sum would pass `limit`.
pub(crate) fn add_within(used: u64, amount: u64, limit: u64) -> QuotaOutcome {
    match used.checked_add(amount) {
        Some(sum) if sum <= limit => QuotaOutcome::Counted { used: sum },
        _ => QuotaOutcome::Exceeded { used },
    }
}

/// Rate buckets in process memory: each bucket's theoretical arrival time. A bucket whose
/// `tat` has passed behaves exactly like a new one, so such buckets are swept away as the
/// table grows.
#[derive(Default)]
pub(crate) struct LocalRates {
    table: std::sync::Mutex<RateTable>,
}

#[derive(Default)]
struct RateTable {
    tats: std::collections::HashMap<String, i64>,
    sweep_above: usize,
}

/// The table is not swept while it holds fewer buckets than this.
const MIN_SWEEP: usize = 1024;

impl LocalRates {
    pub(crate) fn take(
        &self,
        key: &str,
        spec: RateSpec,
        now_ms: i64,
    ) -> Result<RateOutcome, StoreError> {
        let mut table = self
            .table
            .lock()
            .map_err(|_| StoreError::Unavailable("rate table lock poisoned".into()))?;
        let (outcome, tat) = gcra(table.tats.get(key).copied(), spec, now_ms);
        if let Some(tat) = tat {
            table.tats.insert(key.to_string(), tat);
        }
        if table.tats.len() > table.sweep_above.max(MIN_SWEEP) {
            table.tats.retain(|_, tat| *tat > now_ms);
            table.sweep_above = table.tats.len() * 2;
        }
        Ok(outcome)
    }
}
