//! The limit store (data plane): rate limits (GCRA) and quota counters.

use async_trait::async_trait;

use crate::StoreError;

/// A GCRA rate: one cell every `interval_us` on average, with bursts of up to `burst` cells.
/// Intervals are in microseconds so that rates above one a millisecond can be stated; time
/// is read in milliseconds, so several cells of a fast rate may be taken in one millisecond
/// (as many as the burst allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    /// Emission interval: the rate's period divided by its count (at least 1 µs).
    pub interval_us: u64,
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

/// One bucket to take a cell from, in [`LimitStore::take_rates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTake {
    pub key: String,
    pub spec: RateSpec,
}

/// What taking one cell from each of several buckets found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatesOutcome {
    /// A cell was taken from every bucket.
    Allowed,
    /// Nothing was taken: bucket `index` (the first that would pass its limit) has its next
    /// cell free after `retry_after_ms`.
    Limited { index: usize, retry_after_ms: u64 },
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
    /// GCRA: take one cell of bucket `key` at `now_ms`. In microseconds, with theoretical
    /// arrival time `tat` (`now` for a new bucket): `new_tat = max(tat, now) + interval`;
    /// allowed when `new_tat - now <= interval * burst`, and then `tat` becomes `new_tat`. A
    /// limited take says when the next cell is free, rounded up to whole milliseconds.
    async fn take_rate(
        &self,
        key: &str,
        spec: RateSpec,
        now_ms: i64,
    ) -> Result<RateOutcome, StoreError>;
    /// Take one cell from each of `takes` at `now_ms`, all or none: if any bucket would pass
    /// its limit, no bucket changes, so a call refused by one limit spends none of the others.
    async fn take_rates(&self, takes: &[RateTake], now_ms: i64)
    -> Result<RatesOutcome, StoreError>;
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

/// GCRA arithmetic as [`LimitStore::take_rate`] states it, in microseconds: the outcome of
/// taking one cell at `now_ms` from a bucket whose theoretical arrival time is `tat_us`
/// (`None` when new), and the bucket's new `tat_us` if the cell was taken. An `interval_us` or
/// `burst` of 0 counts as 1; the wait is rounded up to whole milliseconds.
pub(crate) fn gcra(tat_us: Option<i64>, spec: RateSpec, now_ms: i64) -> (RateOutcome, Option<i64>) {
    let interval = i128::from(spec.interval_us.max(1));
    let limit = interval * i128::from(spec.burst.max(1));
    let now = i128::from(now_ms) * 1000;
    let new_tat = tat_us.map_or(now, |t| i128::from(t).max(now)) + interval;
    let ahead = new_tat - now;
    if ahead <= limit {
        let remaining = u32::try_from((limit - ahead) / interval).unwrap_or(u32::MAX);
        let tat = i64::try_from(new_tat).unwrap_or(i64::MAX);
        (RateOutcome::Allowed { remaining }, Some(tat))
    } else {
        let wait_us = ahead - limit;
        let retry_after_ms = u64::try_from((wait_us + 999) / 1000).unwrap_or(u64::MAX);
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
        table.sweep(now_ms);
        Ok(outcome)
    }

    /// [`LimitStore::take_rates`] on this table, under one lock.
    pub(crate) fn take_all(
        &self,
        takes: &[RateTake],
        now_ms: i64,
    ) -> Result<RatesOutcome, StoreError> {
        let mut table = self
            .table
            .lock()
            .map_err(|_| StoreError::Unavailable("rate table lock poisoned".into()))?;
        let mut next = Vec::with_capacity(takes.len());
        for (index, t) in takes.iter().enumerate() {
            // A key named twice takes two cells of one bucket.
            let tat = next
                .iter()
                .rev()
                .find(|(k, _): &&(&str, i64)| *k == t.key)
                .map(|(_, tat)| *tat)
                .or_else(|| table.tats.get(&t.key).copied());
            match gcra(tat, t.spec, now_ms) {
                (_, Some(tat)) => next.push((t.key.as_str(), tat)),
                (outcome, None) => {
                    let retry_after_ms = match outcome {
                        RateOutcome::Limited { retry_after_ms } => retry_after_ms,
                        RateOutcome::Allowed { .. } => 0,
                    };
                    return Ok(RatesOutcome::Limited {
                        index,
                        retry_after_ms,
                    });
                }
            }
        }
        for (key, tat) in next {
            table.tats.insert(key.to_string(), tat);
        }
        table.sweep(now_ms);
        Ok(RatesOutcome::Allowed)
    }
}

impl RateTable {
    /// Forget buckets whose `tat` has passed once the table has grown enough.
    fn sweep(&mut self, now_ms: i64) {
        if self.tats.len() > self.sweep_above.max(MIN_SWEEP) {
            let now_us = now_ms.saturating_mul(1000);
            self.tats.retain(|_, tat| *tat > now_us);
            self.sweep_above = self.tats.len() * 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A token bucket counted in microseconds of credit: full at `burst * interval`, refilled
    /// one microsecond per microsecond (time advancing in whole milliseconds), and a cell
    /// costs `interval`.
    struct Model {
        credit: i128,
        last: i64,
    }

    impl Model {
        fn take(&mut self, spec: RateSpec, now: i64) -> bool {
            let interval = i128::from(spec.interval_us.max(1));
            let full = interval * i128::from(spec.burst.max(1));
            self.credit = (self.credit + i128::from(now - self.last) * 1000).min(full);
            self.last = now;
            if self.credit >= interval {
                self.credit -= interval;
                true
            } else {
                false
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Over any arrival sequence, GCRA allows exactly the calls the token bucket allows.
        #[test]
        fn gcra_allows_what_a_token_bucket_allows(
            interval_us in 1u64..500_000,
            burst in 1u32..20,
            gaps in prop::collection::vec(0i64..400, 1..200),
        ) {
            let spec = RateSpec { interval_us, burst };
            let start = 1_000_000;
            let mut model = Model { credit: i128::from(interval_us) * i128::from(burst), last: start };
            let rates = LocalRates::default();
            let mut now = start;
            let (mut allowed, mut by_model) = (0, 0);
            for gap in gaps {
                now += gap;
                let got = matches!(rates.take("k", spec, now).unwrap(), RateOutcome::Allowed { .. });
                let want = model.take(spec, now);
                prop_assert_eq!(got, want, "at {} ms", now - start);
                allowed += usize::from(got);
                by_model += usize::from(want);
            }
            prop_assert_eq!(allowed, by_model);
        }

        /// Taking from several buckets at once changes none of them when one is limited.
        #[test]
        fn several_buckets_are_taken_all_or_none(
            bursts in prop::collection::vec(1u32..4, 2..5),
            calls in 1usize..12,
        ) {
            let takes: Vec<RateTake> = bursts
                .iter()
                .enumerate()
                .map(|(i, b)| RateTake { key: format!("k{i}"), spec: RateSpec { interval_us: 1_000_000, burst: *b } })
                .collect();
            let rates = LocalRates::default();
            let smallest = *bursts.iter().min().unwrap() as usize;
            for call in 0..calls {
                let got = rates.take_all(&takes, 0).unwrap();
                if call < smallest {
                    prop_assert_eq!(got, RatesOutcome::Allowed);
                } else {
                    let first_full = bursts.iter().position(|b| *b as usize == smallest).unwrap();
                    let limited_first_full = matches!(got, RatesOutcome::Limited { index, .. } if index == first_full);
                    prop_assert!(limited_first_full, "{:?}", got);
                }
            }
            // Each bucket gave one cell per allowed call, none for a limited one.
            let taken = calls.min(smallest);
            for (t, b) in takes.iter().zip(&bursts) {
                let left = *b as usize - taken;
                let allowed = |o: RateOutcome| matches!(o, RateOutcome::Allowed { .. });
                for _ in 0..left {
                    prop_assert!(allowed(rates.take(&t.key, t.spec, 0).unwrap()));
                }
                prop_assert!(!allowed(rates.take(&t.key, t.spec, 0).unwrap()));
            }
        }
    }
}
