//! Restart backoff: 100 ms doubling to 30 s, back to the start after 60 s of healthy running.

use std::time::Duration;

pub(crate) const INITIAL: Duration = Duration::from_millis(100);
pub(crate) const MAX: Duration = Duration::from_secs(30);
pub(crate) const HEALTHY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: INITIAL }
    }
}

impl Backoff {
    /// The delay before the next attempt, given how long the last one ran healthily.
    pub(crate) fn delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= HEALTHY {
            self.next = INITIAL;
        }
        let d = self.next;
        self.next = (self.next * 2).min(MAX);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let z = Duration::ZERO;
        assert_eq!(b.delay(z), Duration::from_millis(100));
        assert_eq!(b.delay(z), Duration::from_millis(200));
        for _ in 0..20 {
            b.delay(z);
        }
        assert_eq!(b.delay(z), MAX);
        assert_eq!(b.delay(HEALTHY), INITIAL);
    }
}
