//! Time, injected. Everything in the gateway and the stores that depends on time (key expiry,
//! record times, session idle timeouts, TTLs, windows) reads it from a [`Clock`], so tests
//! control time with a [`ManualClock`] instead of sleeping.
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of wall time and monotonic time.
pub trait Clock: Send + Sync + 'static {
    /// Wall time: milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Monotonic time, for elapsed durations and deadlines.
    fn instant(&self) -> Instant;
}

/// The clock every component shares.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to: both its wall time and its monotonic time advance
/// together by [`ManualClock::advance`].
#[derive(Debug)]
pub struct ManualClock {
    wall_start_ms: i64,
    base: Instant,
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// A clock whose wall time starts at `wall_start_ms`.
    pub fn new(wall_start_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            wall_start_ms,
            base: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        })
    }

    /// Move time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *offset += by;
    }

    fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        let ms = i64::try_from(self.offset().as_millis()).unwrap_or(i64::MAX);
        self.wall_start_ms.saturating_add(ms)
    }

    fn instant(&self) -> Instant {
        self.base + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(1_000);
        let (t0, i0) = (c.now_ms(), c.instant());
        assert_eq!(t0, 1_000);
        assert_eq!((c.now_ms(), c.instant()), (t0, i0));
        c.advance(Duration::from_millis(1_500));
        assert_eq!(c.now_ms(), 2_500);
        assert_eq!(c.instant() - i0, Duration::from_millis(1_500));
    }

    #[test]
    fn the_system_clock_reads_real_time() {
        let c = SystemClock;
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let now = c.now_ms();
        assert!(now >= before && now - before < 60_000, "{before} {now}");
        let i = c.instant();
        assert!(c.instant() >= i);
    }
}
