//! Replay reservations in SQLite, durable so that a restart cannot let a nonce or an
//! idempotency key run twice; each check-and-reserve is one writer transaction.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::writer::Op;
use crate::replay::held;
use crate::{ReplayStore, Reservation, StoreError};

pub(super) fn reserve(
    tx: &Transaction<'_>,
    key: &str,
    fingerprint: &str,
    expires_ms: i64,
    now_ms: i64,
) -> Result<Reservation, StoreError> {
    let found: Option<(i64, String, Option<Vec<u8>>)> = tx
        .query_row(
            "SELECT expires_ms, fingerprint, result FROM replay WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some(outcome) = found.and_then(|(expires, fp, result)| held(expires, fp, result, now_ms))
    {
        return Ok(outcome);
    }
    tx.execute(
        "INSERT OR REPLACE INTO replay(key, expires_ms, result, fingerprint)
         VALUES (?1, ?2, NULL, ?3)",
        params![key, expires_ms, fingerprint],
    )?;
    Ok(Reservation::Reserved)
}

pub(super) fn complete(
    tx: &Transaction<'_>,
    key: &str,
    result: &[u8],
    keep_until_ms: i64,
) -> Result<(), StoreError> {
    let done: Option<bool> = tx
        .query_row(
            "SELECT result IS NOT NULL FROM replay WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()?;
    match done {
        None => Err(StoreError::NotFound(format!("reservation '{key}'"))),
        Some(true) => Err(StoreError::Conflict(format!(
            "reservation '{key}' already completed"
        ))),
        Some(false) => {
            tx.execute(
                "UPDATE replay SET result = ?2, expires_ms = ?3 WHERE key = ?1",
                params![key, result, keep_until_ms],
            )?;
            Ok(())
        }
    }
}

pub(super) fn release(tx: &Transaction<'_>, key: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM replay WHERE key = ?1 AND result IS NULL",
        [key],
    )?;
    Ok(())
}

pub(super) fn purge_expired(tx: &Transaction<'_>, now_ms: i64) -> Result<u64, StoreError> {
    Ok(tx.execute("DELETE FROM replay WHERE expires_ms < ?1", [now_ms])? as u64)
}

#[async_trait]
impl ReplayStore for SqliteStore {
    async fn reserve(
        &self,
        key: &str,
        fingerprint: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<Reservation, StoreError> {
        let key = (key.to_string(), fingerprint.to_string());
        self.call(|reply| Op::Reserve(key, expires_ms, now_ms, reply))
            .await
    }

    async fn complete(
        &self,
        key: &str,
        result: Vec<u8>,
        keep_until_ms: i64,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        self.call(|reply| Op::Complete(key, result, keep_until_ms, reply))
            .await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.call(|reply| Op::Release(key, reply)).await
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.call(|reply| Op::PurgeExpired(now_ms, reply)).await
    }
}
