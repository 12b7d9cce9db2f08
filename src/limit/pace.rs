//! `--limit-rate`: one response's body at a set number of bytes per
//! second, after a first part at full speed (`--limit-rate-after`), as
//! nginx's `limit_rate` does. Every protocol asks its [`Pace`] how much
//! may go before each write, whether the bytes leave by `sendfile(2)`,
//! through TLS, or in HTTP/2 or HTTP/3 DATA frames.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::rate::Bandwidth;

/// The longest a paced body sends at once: a tenth of a second's worth,
/// so that the rate holds over short spans too.
const SLICES_PER_SECOND: u64 = 10;

/// The smallest amount worth a write of its own.
const MIN_SLICE: u64 = 1024;

/// The pace of one response body.
#[derive(Debug)]
pub struct Pace {
    rate: u64,
    after: u64,
    started: Instant,
    sent: u64,
}

impl Pace {
    /// The pace `bandwidth` sets, from now.
    pub fn new(bandwidth: Bandwidth) -> Pace {
        Pace {
            rate: bandwidth.rate.max(1),
            after: bandwidth.after,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Waits until some of `want` bytes may go, and says how many (at
    /// least one when `want` is not 0). Count them with [`Pace::sent`].
    pub async fn allow(&mut self, want: u64) -> u64 {
        if want == 0 {
            return 0;
        }
        let slice = (self.rate / SLICES_PER_SECOND).max(MIN_SLICE).min(want);
        loop {
            let budget = self.budget();
            if budget >= slice || self.sent < self.after {
                return budget.min(want);
            }
            let short = slice - budget;
            let wait = Duration::from_nanos(short.saturating_mul(1_000_000_000) / self.rate);
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Counts `n` bytes as sent.
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }

    /// Bytes that may go now.
    fn budget(&self) -> u64 {
        let elapsed = self.started.elapsed();
        let earned =
            u64::try_from(elapsed.as_nanos().saturating_mul(u128::from(self.rate)) / 1_000_000_000)
                .unwrap_or(u64::MAX);
        self.after.saturating_add(earned).saturating_sub(self.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_holds_after_the_first_part() {
        let mut pace = Pace::new(Bandwidth {
            rate: 100_000,
            after: 50_000,
        });
        let start = Instant::now();
        let mut left = 350_000u64;
        while left > 0 {
            let n = pace.allow(left.min(16384)).await;
            assert!(n >= 1 && n <= left.min(16384));
            pace.sent(n);
            left -= n;
        }
        // 50 kB at once, then 300 kB at 100 kB/s.
        let took = start.elapsed().as_secs_f64();
        assert!((2.9..=3.1).contains(&took), "{took}");
    }
}
