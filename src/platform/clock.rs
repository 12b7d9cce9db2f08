//! Clocks read on every request, where a reading a few milliseconds old
//! will do: the Date field changes once a second, and the file cache's
//! trust is counted in seconds. Linux keeps coarse clocks that are read
//! from memory (`CLOCK_REALTIME_COARSE`, `CLOCK_MONOTONIC_COARSE`, a
//! scheduler tick behind at most); elsewhere the standard clocks stand in.

use std::time::Duration;

/// Whole seconds since the Unix epoch, by the wall clock.
pub fn wall_seconds() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use nix::time::{clock_gettime, ClockId};
        if let Ok(now) = clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
            return u64::try_from(now.tv_sec()).unwrap_or(0);
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A reading of a monotonic clock: only differences between two readings
/// mean anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(Duration);

impl Tick {
    /// Now, to the clock's tick.
    pub fn now() -> Tick {
        #[cfg(target_os = "linux")]
        {
            use nix::time::{clock_gettime, ClockId};
            if let Ok(now) = clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE) {
                return Tick(Duration::from(now));
            }
        }
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        Tick(EPOCH.get_or_init(std::time::Instant::now).elapsed())
    }

    /// How long after `earlier` this reading was (zero if it was not).
    pub fn since(self, earlier: Tick) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_agrees_with_the_standard_one_to_the_tick() {
        let std = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let coarse = wall_seconds();
        assert!(coarse + 1 >= std && coarse <= std + 1, "{coarse} vs {std}");
    }

    #[test]
    fn ticks_do_not_go_back_and_measure_a_sleep() {
        let a = Tick::now();
        std::thread::sleep(Duration::from_millis(50));
        let b = Tick::now();
        assert!(b >= a);
        assert_eq!(a.since(b), Duration::ZERO);
        // The coarse clock is at most a scheduler tick (10 ms at HZ=100)
        // behind at either reading.
        assert!(b.since(a) >= Duration::from_millis(35), "{:?}", b.since(a));
    }
}
