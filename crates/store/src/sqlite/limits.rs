//! Limits in SQLite: quota counters are durable rows, checked and added in one writer
//! transaction; rate buckets stay in process memory (see [`SqliteStore`]'s `rates`).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::writer::{Op, UsageChange};
use crate::limits::add_within;
use crate::{LimitStore, QuotaOutcome, RateOutcome, RateSpec, RateTake, RatesOutcome, StoreError};

/// Counters are SQLite integers, so no counter may pass this.
const MAX_COUNT: u64 = i64::MAX as u64;

fn used(conn: &Connection, key: &str, window_start_ms: i64) -> Result<u64, StoreError> {
    let used: Option<i64> = conn
        .prepare_cached("SELECT used FROM quota_usage WHERE key = ?1 AND window_start_ms = ?2")?
        .query_row(params![key, window_start_ms], |r| r.get(0))
        .optional()?;
    Ok(used.unwrap_or(0).max(0) as u64)
}

fn store_used(tx: &Transaction<'_>, c: &UsageChange, used: u64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO quota_usage(key, window_start_ms, used) VALUES (?1, ?2, ?3)
         ON CONFLICT(key, window_start_ms) DO UPDATE SET used = excluded.used",
        params![c.key, c.window_start_ms, used as i64],
    )?;
    Ok(())
}

pub(super) fn add_usage(
    tx: &Transaction<'_>,
    c: &UsageChange,
    limit: u64,
) -> Result<QuotaOutcome, StoreError> {
    let outcome = add_within(
        used(tx, &c.key, c.window_start_ms)?,
        c.amount,
        limit.min(MAX_COUNT),
    );
    if let QuotaOutcome::Counted { used } = outcome {
        store_used(tx, c, used)?;
    }
    Ok(outcome)
}

pub(super) fn refund_usage(tx: &Transaction<'_>, c: &UsageChange) -> Result<(), StoreError> {
    let used = used(tx, &c.key, c.window_start_ms)?;
    if used > 0 {
        store_used(tx, c, used.saturating_sub(c.amount))?;
    }
    Ok(())
}

#[async_trait]
impl LimitStore for SqliteStore {
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
        let change = UsageChange::new(key, window_start_ms, amount);
        self.call(|reply| Op::AddUsage(change, limit, reply)).await
    }

    async fn refund_usage(
        &self,
        key: &str,
        window_start_ms: i64,
        amount: u64,
    ) -> Result<(), StoreError> {
        let change = UsageChange::new(key, window_start_ms, amount);
        self.call(|reply| Op::RefundUsage(change, reply)).await
    }

    async fn usage(&self, key: &str, window_start_ms: i64) -> Result<u64, StoreError> {
        let key = key.to_string();
        self.read(move |c| used(c, &key, window_start_ms)).await
    }
}
