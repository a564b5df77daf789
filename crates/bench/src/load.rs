//! Closed-loop load: N clients, each with its own session and connection, calling back to back
//! until the round's duration or call budget runs out. Latencies go into HDR histograms (µs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::mcp::{Endpoint, Session};

/// Highest latency the histograms track (60 s, in µs); longer calls are clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// What a set of rounds against one endpoint measured.
pub struct Tally {
    pub hist: Histogram<u64>,
    pub calls: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            hist: histogram(),
            calls: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Add another tally's calls, histogram and wall time.
    pub fn absorb(&mut self, other: Tally) {
        self.hist.add(&other.hist).expect("same histogram bounds");
        self.calls += other.calls;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn summary(&self) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        let secs = self.elapsed.as_secs_f64();
        Summary {
            calls: self.calls,
            errors: self.errors,
            seconds: secs,
            calls_per_s: if secs > 0.0 {
                self.calls as f64 / secs
            } else {
                0.0
            },
            p50_ms: ms(self.hist.value_at_quantile(0.50)),
            p90_ms: ms(self.hist.value_at_quantile(0.90)),
            p99_ms: ms(self.hist.value_at_quantile(0.99)),
            max_ms: ms(self.hist.max()),
        }
    }
}

/// Throughput and latency percentiles of one endpoint at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub calls: u64,
    pub errors: u64,
    pub seconds: f64,
    pub calls_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Open `n` sessions against `ep`, at most `parallel` initialising at once.
pub async fn open_sessions(
    ep: &Endpoint,
    n: usize,
    parallel: usize,
) -> anyhow::Result<Vec<Session>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let batch = parallel.min(n - out.len());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let ep = ep.clone();
            set.spawn(async move { Session::open(&ep).await });
        }
        while let Some(r) = set.join_next().await {
            out.push(
                r.context("session task")?
                    .with_context(|| format!("opening a session at {}", ep.url))?,
            );
        }
    }
    Ok(out)
}

/// One round: every session calls back to back until `duration` has passed or the round has
/// made `max_calls` calls. Sessions are handed back for the next round.
pub async fn round(
    sessions: Vec<Session>,
    duration: Duration,
    max_calls: u64,
) -> anyhow::Result<(Vec<Session>, Tally)> {
    let budget = Arc::new(AtomicU64::new(max_calls));
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = tokio::task::JoinSet::new();
    for (i, mut s) in sessions.into_iter().enumerate() {
        let budget = budget.clone();
        set.spawn(async move {
            let mut t = Tally::new();
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let t0 = Instant::now();
                let r = s.call_echo().await;
                let us = t0.elapsed().as_micros() as u64;
                t.calls += 1;
                match r {
                    Ok(()) => t.hist.saturating_record(us.clamp(1, MAX_LATENCY_US)),
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (i, s, t)
        });
    }
    let mut total = Tally::new();
    let mut back: Vec<(usize, Session)> = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, s, t) = r.context("client task")?;
        back.push((i, s));
        total.absorb(t);
    }
    total.elapsed = start.elapsed();
    back.sort_by_key(|(i, _)| *i);
    Ok((back.into_iter().map(|(_, s)| s).collect(), total))
}
