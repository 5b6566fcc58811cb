//! One monotonic clock for the whole process.
//!
//! Engines, meters and the runner stamp events with [`now_ns`], nanoseconds since
//! a process-wide epoch, so that a token's timestamp and a power sample can be
//! placed on the same axis without converting between `Instant`s.

use std::sync::OnceLock;
use std::time::Instant;

/// Nanoseconds on the process-wide monotonic clock.
pub type MonoNs = u64;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The current time on the process-wide monotonic clock.
pub fn now_ns() -> MonoNs {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Converts a span of the monotonic clock to seconds.
pub fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = now_ns();
        assert!(b >= a + 1_000_000, "{a} then {b}");
    }
}
