//! The shared clock between two participants: how far the other side's clock is from ours, and
//! how fast it runs, from NTP-style exchanges over the link. Sans-IO: times in, pings out.
//!
//! Each exchange gives four times: `t1` we send, `t2` they receive, `t3` they answer, `t4` we
//! receive (`t2`, `t3` on their clock). Whatever the delays, the offset θ (theirs minus ours) is
//! bounded by each leg separately: θ ≤ t2 − t1 − d↑ and θ ≥ t3 − t4 + d↓. So rather than
//! averaging round trips (whose jitter is the sum of both legs'), the estimate takes, over a few
//! seconds, the tightest bound on each side — the fastest packet each way — and the middle of
//! the two. With 70 ± 10 ms each way that is within a fraction of a millisecond of the truth,
//! where a single exchange can be 10 ms off. A line through those estimates over the last two
//! minutes gives the drift (two crystals differ by tens of ppm: 100 ppm is 6 ms a minute).
//!
//! What no exchange can see is a route slower one way than the other: that shifts the estimate
//! by half the difference. `uncertainty` is the statistical error only.

use std::collections::VecDeque;

/// Pings while the clock must be precise (a metronome runs): ten a second, 600 bytes a second
/// each way; fewer leave each segment's fastest packet further from the path's floor (with
/// 70 ± 10 ms, 5 a second left the offset up to 1 ms out, 10 a second 0.4 ms).
const PRECISE_PING_NS: u64 = 100_000_000;
/// Otherwise once a second: the estimate is kept (for the statistics, and a head start for the
/// metronome) without the link's task and the audio around it waking twenty times a second
/// for it on a busy 2-core machine.
const IDLE_PING_NS: u64 = 1_000_000_000;
/// The exchanges used: the last two minutes, at most this many.
const WINDOW_NS: u64 = 120_000_000_000;
const MAX_EXCHANGES: usize = 1200;
/// Each segment's fastest packets make one point of the line.
const SEGMENT_NS: u64 = 4_000_000_000;
/// A drift is fitted once the points span this long; before, the offset is taken as constant.
const MIN_FIT_SPAN_NS: u64 = 16_000_000_000;
/// Two sound cards or clocks further apart than this are not clocks but a fault.
const MAX_DRIFT_PPM: f64 = 1000.0;
/// An answer later than this is not a measurement of anything useful.
const MAX_RTT_NS: u64 = 5_000_000_000;
/// Below what a timestamp taken in a task can mean.
const MIN_UNCERTAINTY_NS: f64 = 50_000.0;

/// One exchange's four times, ns: ours (`t1`, `t4`) and theirs (`t2`, `t3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub t1: u64,
    pub t2: u64,
    pub t3: u64,
    pub t4: u64,
}

impl Exchange {
    fn mid(&self) -> u64 {
        self.t1 + (self.t4 - self.t1) / 2
    }

    /// The other side's processing time taken out.
    fn rtt(&self) -> u64 {
        (self.t4 - self.t1).saturating_sub(self.t3 - self.t2)
    }

    /// θ ≤ upper (the outward leg took no less than nothing).
    fn upper(&self) -> f64 {
        self.t2 as f64 - self.t1 as f64
    }

    /// θ ≥ lower (the way back took no less than nothing).
    fn lower(&self) -> f64 {
        self.t3 as f64 - self.t4 as f64
    }
}

/// Why an answer was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    #[error("an answer to a ping we did not send")]
    Unknown,
    #[error("an answer whose times do not add up (answered before it was asked, or took over 5 s)")]
    Inconsistent,
}

/// What we know of the other side's clock: `remote = local + offset + drift × (local − at)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockEstimate {
    /// Theirs minus ours at `at`, ns.
    pub offset_ns: f64,
    /// How much faster theirs runs, in parts per million.
    pub drift_ppm: f64,
    /// Our time the offset is for, ns.
    pub at_ns: u64,
    /// The statistical error of the offset (one standard deviation), ns.
    pub uncertainty_ns: f64,
    /// The fastest round trip in the window, ns.
    pub rtt_ns: u64,
    /// Exchanges in the window.
    pub exchanges: usize,
}

impl ClockEstimate {
    /// The other side's clock when ours reads `local_ns`.
    pub fn remote_at(&self, local_ns: u64) -> f64 {
        let dt = local_ns as f64 - self.at_ns as f64;
        local_ns as f64 + self.offset_ns + self.drift_ppm * 1e-6 * dt
    }

    /// Our clock when theirs reads `remote_ns`.
    pub fn local_at(&self, remote_ns: f64) -> f64 {
        // remote = local + offset + k (local − at)  ⇒  local = (remote − offset + k at) / (1 + k)
        let k = self.drift_ppm * 1e-6;
        (remote_ns - self.offset_ns + k * self.at_ns as f64) / (1.0 + k)
    }
}

/// A ping to send; the other side answers with its own receive and send times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    pub id: u32,
    pub t1: u64,
}

/// One side's estimator of the other side's clock. Both sides of a link run one.
#[derive(Debug)]
pub struct ClockSync {
    started_ns: u64,
    next_ping_ns: u64,
    every_ns: u64,
    next_id: u32,
    /// Pings sent and not yet answered (id, t1), newest last; a few only.
    outstanding: VecDeque<(u32, u64)>,
    exchanges: VecDeque<Exchange>,
    estimate: Option<ClockEstimate>,
}

impl ClockSync {
    pub fn new(now_ns: u64) -> Self {
        Self {
            started_ns: now_ns,
            next_ping_ns: now_ns,
            every_ns: IDLE_PING_NS,
            next_id: 1,
            outstanding: VecDeque::new(),
            exchanges: VecDeque::new(),
            estimate: None,
        }
    }

    /// A ping, when one is due at `now_ns`.
    pub fn poll_ping(&mut self, now_ns: u64) -> Option<Ping> {
        if now_ns < self.next_ping_ns {
            return None;
        }
        self.next_ping_ns = now_ns + self.every_ns;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.outstanding.push_back((id, now_ns));
        while self.outstanding.len() > 64 {
            self.outstanding.pop_front();
        }
        Some(Ping { id, t1: now_ns })
    }

    /// Ten pings a second (a metronome runs on this link), from `now_ns`, or one.
    pub fn set_precise(&mut self, precise: bool, now_ns: u64) {
        let every = if precise {
            PRECISE_PING_NS
        } else {
            IDLE_PING_NS
        };
        if every != self.every_ns {
            self.every_ns = every;
            self.next_ping_ns = self.next_ping_ns.min(now_ns + every);
        }
    }

    /// When the next ping is due.
    pub fn next_ping_at(&self) -> u64 {
        self.next_ping_ns
    }

    /// When the first ping is (or was) due.
    pub fn first_ping_at(&self) -> u64 {
        self.started_ns
    }

    /// The answer to our ping `id`, with the other side's `t2` and `t3`, arriving at `t4`.
    pub fn on_answer(&mut self, id: u32, t2: u64, t3: u64, t4: u64) -> Result<(), ExchangeError> {
        let pos = self
            .outstanding
            .iter()
            .position(|(i, _)| *i == id)
            .ok_or(ExchangeError::Unknown)?;
        let (_, t1) = self.outstanding[pos];
        let x = Exchange { t1, t2, t3, t4 };
        if t4 < t1 || t3 < t2 || x.rtt() > MAX_RTT_NS {
            return Err(ExchangeError::Inconsistent);
        }
        self.outstanding.remove(pos);
        self.exchanges.push_back(x);
        while self.exchanges.len() > MAX_EXCHANGES
            || self
                .exchanges
                .front()
                .is_some_and(|f| f.t4 + WINDOW_NS < t4)
        {
            self.exchanges.pop_front();
        }
        self.estimate = self.fit();
        Ok(())
    }

    pub fn estimate(&self) -> Option<ClockEstimate> {
        self.estimate
    }

    /// Forgets what was measured (the path changed: an ICE restart, a new relay); keeps the
    /// pace.
    pub fn reset(&mut self, now_ns: u64) {
        let every = self.every_ns;
        *self = Self::new(now_ns);
        self.every_ns = every;
    }

    fn fit(&self) -> Option<ClockEstimate> {
        let newest = self.exchanges.back()?;
        let at = newest.mid();
        let rtt_ns = self.exchanges.iter().map(Exchange::rtt).min()?;
        // Detrend with the drift found so far, find each segment's tightest bounds, fit a line
        // through them; once more with the drift that gives.
        let mut drift = self.estimate.map_or(0.0, |e| e.drift_ppm);
        let mut result = None;
        for _ in 0..2 {
            let points = self.segment_points(at, drift);
            let span = match (points.first(), points.last()) {
                (Some(a), Some(b)) => b.0 - a.0,
                _ => return None,
            };
            if points.len() < 3 || span < MIN_FIT_SPAN_NS as f64 {
                // Too short for a drift: all the exchanges as one segment.
                let (upper, lower) = self
                    .exchanges
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(u, l), x| {
                        (u.min(x.upper()), l.max(x.lower()))
                    });
                let offset = (upper + lower) / 2.0;
                result = Some(ClockEstimate {
                    offset_ns: offset,
                    drift_ppm: 0.0,
                    at_ns: at,
                    // The honest bound until there is a spread to measure: half the fastest
                    // round trip, the most the two legs can differ by.
                    uncertainty_ns: (rtt_ns as f64 / 2.0).max(MIN_UNCERTAINTY_NS),
                    rtt_ns,
                    exchanges: self.exchanges.len(),
                });
                break;
            }
            let (slope, intercept, se) = line_fit(&points);
            drift = (slope * 1e6).clamp(-MAX_DRIFT_PPM, MAX_DRIFT_PPM);
            result = Some(ClockEstimate {
                offset_ns: intercept,
                drift_ppm: drift,
                at_ns: at,
                uncertainty_ns: se.max(MIN_UNCERTAINTY_NS),
                rtt_ns,
                exchanges: self.exchanges.len(),
            });
        }
        result
    }

    /// Per segment (counted back from `at`): the time relative to `at` and the offset there,
    /// from the tightest bounds once `drift_ppm` is taken out (and put back).
    fn segment_points(&self, at: u64, drift_ppm: f64) -> Vec<(f64, f64)> {
        let k = drift_ppm * 1e-6;
        // (segment, min upper, its time, max lower, its time)
        let mut segs: Vec<(u64, f64, f64, f64, f64)> = Vec::new();
        for x in &self.exchanges {
            let seg = at.saturating_sub(x.mid()) / SEGMENT_NS;
            let (tu, tl) = (x.t1 as f64 - at as f64, x.t4 as f64 - at as f64);
            let (u, l) = (x.upper() - k * tu, x.lower() - k * tl);
            match segs.iter_mut().find(|s| s.0 == seg) {
                Some(s) => {
                    if u < s.1 {
                        (s.1, s.2) = (u, tu);
                    }
                    if l > s.3 {
                        (s.3, s.4) = (l, tl);
                    }
                }
                None => segs.push((seg, u, tu, l, tl)),
            }
        }
        let mut points: Vec<(f64, f64)> = segs
            .into_iter()
            .map(|(_, u, tu, l, tl)| {
                let t = (tu + tl) / 2.0;
                (t, (u + l) / 2.0 + k * t)
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }
}

/// How far apart two clocks' rates usually are (crystals of ±25–50 ppm each): the slope is
/// drawn toward 0 by as much as the points leave it uncertain. Over the first tens of seconds
/// a line through a few noisy points can say 130 ppm where there is none, and extrapolating
/// that cost 1.4 ms; once the points span a minute the pull is negligible.
const DRIFT_PRIOR: f64 = 50e-6;

/// Least squares through `points` (x, y), the slope shrunk toward 0 by its prior: slope, the
/// value at x = 0, and that value's standard error.
fn line_fit(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let residual = |slope: f64| -> f64 {
        let intercept = my - slope * mx;
        let rss: f64 = points
            .iter()
            .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
            .sum();
        if n > 2.0 { rss / (n - 2.0) } else { 0.0 }
    };
    let plain = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let s2 = residual(plain);
    let ridge = s2 / (DRIFT_PRIOR * DRIFT_PRIOR);
    let slope = if sxx + ridge > 0.0 {
        sxy / (sxx + ridge)
    } else {
        0.0
    };
    let intercept = my - slope * mx;
    let se = (residual(slope) * (1.0 / n + mx * mx / (sxx + ridge).max(1.0))).sqrt();
    (slope, intercept, se)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Two clocks over a simulated path: the remote one reads `offset + true × (1 + drift)`; each
    /// leg takes `delay ± jitter` (uniform), and `extra_back` more on the way back.
    struct Sim {
        offset_ns: f64,
        drift_ppm: f64,
        delay_ns: f64,
        jitter_ns: f64,
        extra_back_ns: f64,
        rng: StdRng,
    }

    impl Sim {
        fn remote(&self, t: f64) -> u64 {
            (t * (1.0 + self.drift_ppm * 1e-6) + self.offset_ns) as u64
        }
        fn leg(&mut self) -> f64 {
            self.delay_ns + self.rng.random_range(-self.jitter_ns..=self.jitter_ns)
        }

        /// Runs `seconds`, answering every ping; the worst error after `settle_s`, ns, and
        /// the last estimate.
        fn run(&mut self, seconds: u64, settle_s: u64) -> (f64, Vec<f64>, ClockEstimate) {
            let start = 1_000_000_000_000u64;
            let mut sync = ClockSync::new(start);
            sync.set_precise(true, start);
            let mut errors = Vec::new();
            let mut t = start;
            let end = start + seconds * 1_000_000_000;
            while t < end {
                if let Some(ping) = sync.poll_ping(t) {
                    let arrive = t as f64 + self.leg();
                    let t2 = self.remote(arrive);
                    let t3 = self.remote(arrive + 50_000.0);
                    let back = arrive + 50_000.0 + self.leg() + self.extra_back_ns;
                    let t4 = back as u64;
                    // Answers arrive in order here; a real path may reorder them, which the
                    // estimator does not mind (ids).
                    sync.on_answer(ping.id, t2, t3, t4).unwrap();
                    if t4 >= start + settle_s * 1_000_000_000
                        && let Some(e) = sync.estimate()
                    {
                        let truth = self.remote(t4 as f64) as f64;
                        errors.push((e.remote_at(t4) - truth).abs());
                    }
                }
                t = sync.next_ping_at();
            }
            let worst = errors.iter().copied().fold(0.0, f64::max);
            (worst, errors, sync.estimate().unwrap())
        }
    }

    fn sim(offset_ms: f64, drift_ppm: f64, delay_ms: f64, jitter_ms: f64) -> Sim {
        Sim {
            offset_ns: offset_ms * 1e6,
            drift_ppm,
            delay_ns: delay_ms * 1e6,
            jitter_ns: jitter_ms * 1e6,
            extra_back_ns: 0.0,
            rng: StdRng::seed_from_u64(11),
        }
    }

    fn p99(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[(v.len() * 99 / 100).min(v.len() - 1)]
    }

    #[test]
    fn across_70_plus_minus_10_ms_each_way_the_offset_is_within_2_ms() {
        let mut s = sim(-123_456.7, 0.0, 70.0, 10.0);
        let (worst, errors, e) = s.run(120, 3);
        // A single exchange is up to 10 ms off; the fastest packets each way are not.
        assert!(p99(errors) < 1.0e6, "p99 error {worst} ns, {e:?}");
        assert!(worst < 2.0e6, "worst {worst} ns");
        assert!(
            (e.rtt_ns as f64) < 125e6 && (e.rtt_ns as f64) > 115e6,
            "{e:?}"
        );
        assert!(e.uncertainty_ns < 1e6, "{e:?}");
    }

    #[test]
    fn a_drift_of_100_ppm_is_followed_for_an_hour() {
        let mut s = sim(5_000.0, 100.0, 70.0, 10.0);
        let (worst, _, e) = s.run(3600, 30);
        assert!(
            worst < 2.0e6,
            "worst {worst} ns after an hour at 100 ppm ({e:?})"
        );
        // The rate itself wanders by a few ppm with the noise; the offset is what is heard.
        assert!((e.drift_ppm - 100.0).abs() < 10.0, "{e:?}");
        let mut s = sim(5_000.0, -100.0, 1.0, 0.5);
        let (worst, _, e) = s.run(600, 30);
        assert!(
            worst < 0.3e6,
            "worst {worst} ns at −100 ppm, short path ({e:?})"
        );
    }

    #[test]
    fn on_a_short_path_it_is_within_a_fraction_of_a_millisecond_at_once() {
        let mut s = sim(42.0, 0.0, 0.2, 0.1);
        let (worst, _, _) = s.run(10, 1);
        assert!(worst < 0.2e6, "worst {worst} ns");
    }

    #[test]
    fn a_route_slower_one_way_shifts_it_by_half_the_difference_and_no_more() {
        // What no clock exchange can see; the test keeps the estimator honest about it.
        let mut s = sim(0.0, 0.0, 70.0, 10.0);
        s.extra_back_ns = 6e6;
        let (_, errors, _) = s.run(60, 5);
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        assert!((mean - 3e6).abs() < 0.8e6, "mean error {mean} ns");
    }

    #[test]
    fn answers_that_do_not_add_up_are_refused_and_change_nothing() {
        let mut sync = ClockSync::new(1_000);
        let ping = sync.poll_ping(1_000).unwrap();
        assert_eq!(
            sync.on_answer(ping.id + 5, 10, 11, 2_000),
            Err(ExchangeError::Unknown)
        );
        assert_eq!(
            sync.on_answer(ping.id, 10, 9, 2_000),
            Err(ExchangeError::Inconsistent)
        );
        assert_eq!(
            sync.on_answer(ping.id, 10, 11, 500),
            Err(ExchangeError::Inconsistent)
        );
        assert_eq!(
            sync.on_answer(ping.id, 10, 11, 1_000 + 6_000_000_000),
            Err(ExchangeError::Inconsistent)
        );
        assert!(sync.estimate().is_none());
        sync.on_answer(ping.id, 5_000, 5_100, 9_000).unwrap();
        assert!(sync.estimate().is_some());
        // Answered once only.
        assert_eq!(
            sync.on_answer(ping.id, 5_000, 5_100, 9_000),
            Err(ExchangeError::Unknown)
        );
    }

    #[test]
    fn local_and_remote_times_convert_both_ways() {
        let e = ClockEstimate {
            offset_ns: -5e6,
            drift_ppm: 80.0,
            at_ns: 10_000_000_000,
            uncertainty_ns: 0.0,
            rtt_ns: 0,
            exchanges: 1,
        };
        for local in [0u64, 10_000_000_000, 3_600_000_000_000] {
            let back = e.local_at(e.remote_at(local));
            assert!((back - local as f64).abs() < 10.0, "{local} → {back}");
        }
    }

    #[test]
    fn pings_are_paced_once_a_second_and_ten_times_while_it_must_be_precise() {
        let mut sync = ClockSync::new(0);
        let count = |sync: &mut ClockSync, from: u64, to: u64| {
            let mut sent = 0;
            let mut t = from;
            while t < to {
                if sync.poll_ping(t).is_some() {
                    sent += 1;
                }
                t += 10_000_000;
            }
            sent
        };
        assert!((9..=11).contains(&count(&mut sync, 0, 10_000_000_000)));
        sync.set_precise(true, 10_000_000_000);
        // At once, not at the next idle ping.
        assert!(
            sync.next_ping_at() <= 10_100_000_000,
            "{}",
            sync.next_ping_at()
        );
        assert!((98..=102).contains(&count(&mut sync, 10_000_000_000, 20_000_000_000)));
        sync.set_precise(false, 20_000_000_000);
        assert!((9..=11).contains(&count(&mut sync, 20_000_000_000, 30_000_000_000)));
    }
}
