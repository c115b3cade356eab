//! One clock for every process on this machine, so that a click captured in one process can be
//! timed when it is played in another: CLOCK_MONOTONIC in nanoseconds. `Instant` is built on the
//! same clock on Linux but cannot be printed or sent; an anchor pair converts between them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn monotonic_now_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

fn anchor() -> (Instant, u64) {
    static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
    *ANCHOR.get_or_init(|| (Instant::now(), monotonic_now_ns()))
}

/// `at` on the machine-wide monotonic clock, in nanoseconds.
pub fn monotonic_ns(at: Instant) -> u64 {
    let (i0, n0) = anchor();
    if at >= i0 {
        n0 + u64::try_from((at - i0).as_nanos()).unwrap_or(u64::MAX - n0)
    } else {
        n0.saturating_sub(u64::try_from((i0 - at).as_nanos()).unwrap_or(n0))
    }
}

/// The `Instant` for a machine-wide monotonic time.
pub fn instant_at(ns: u64) -> Instant {
    let (i0, n0) = anchor();
    if ns >= n0 {
        i0 + Duration::from_nanos(ns - n0)
    } else {
        i0.checked_sub(Duration::from_nanos(n0 - ns)).unwrap_or(i0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_convert_both_ways_and_match_the_system_clock() {
        let now = Instant::now();
        let ns = monotonic_ns(now);
        let back = instant_at(ns);
        assert!(back.max(now) - back.min(now) < Duration::from_micros(1));
        // Same clock as another reader of CLOCK_MONOTONIC, to within scheduling noise.
        let direct = monotonic_now_ns();
        let via = monotonic_ns(Instant::now());
        assert!(direct.abs_diff(via) < 5_000_000, "{direct} vs {via}");
        assert!(monotonic_ns(now - Duration::from_millis(5)) < ns);
    }
}
