//! The one backoff every retry loop uses: exponential between a floor and a ceiling, with
//! jitter so that many clients retrying after one outage do not come back in lockstep.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Growing waits between attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles after each wait, never above `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max: max.max(min), next: min }
    }

    /// The next wait (with up to ±20 % jitter), and the one after it doubled.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        jitter(base)
    }

    /// Back to the first, shortest wait (after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// Waits the next delay; `true` if `shutdown` came first.
    pub async fn sleep_or_stop(&mut self, shutdown: &CancellationToken) -> bool {
        let wait = self.next_delay();
        tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }

    /// Waits the next delay.
    pub async fn sleep(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

/// `base` moved by up to ±20 %.
fn jitter(base: Duration) -> Duration {
    // Four random bytes from the already-seeded UUID generator: no RNG of our own.
    let random = uuid::Uuid::new_v4().as_bytes()[..4].iter().fold(0u32, |a, b| (a << 8) | u32::from(*b));
    let factor = 0.8 + 0.4 * (f64::from(random) / f64::from(u32::MAX));
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling_with_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let waits: Vec<Duration> = (0..4).map(|_| backoff.next_delay()).collect();
        let within = |d: Duration, base: u64| {
            d >= Duration::from_millis(base * 8 / 10) && d <= Duration::from_millis(base * 12 / 10)
        };
        assert!(within(waits[0], 100) && within(waits[1], 200), "{waits:?}");
        assert!(within(waits[2], 350) && within(waits[3], 350), "{waits:?}");
        backoff.reset();
        assert!(within(backoff.next_delay(), 100));
    }
}
