//! The other sound card's clock against ours: how many samples its sender makes while our card
//! plays one, so the playout can follow it by resampling ([`crate::stream_decoder`]) instead of
//! letting the buffer fill or drain until a frame has to be cut or made up.
//!
//! Two crystals differ by tens of ppm (poor ones by hundreds): 100 ppm is 4.8 samples a second,
//! a 2.5-ms frame every 25 s. The estimate is open-loop: each playout period the caller gives
//! how far our card has played (its samples, counted by us) and how far the sender's stream has
//! come (the newest packet's place, plus the time since it arrived), and the slope of the one
//! against the other, fitted over the last 20 s, is the drift. Nothing the playout does feeds
//! back into it, so it does not swing, and network jitter averages out (1 ms of it leaves a few
//! ppm). A step in the lead (the route changed, our card was starved and its server played
//! silence, the sender restarted) is not drift: the fit starts over from it, keeping the last
//! estimate meanwhile. Pure: positions in, an estimate out.

/// The most the playout's rate is bent to follow the sender's clock: 1.7 cents of pitch, below
/// what a trained ear hears, and 48 samples a second of latency; a card farther off than this
/// is followed the rest of the way by the jitter buffer's whole-period corrections.
pub const MAX_RATE_PPM: f64 = 1000.0;
/// How fast the rate followed may change (ppm a second): an estimate that changes moves the
/// pitch by a hundredth of a cent a second, never a step.
pub const RATE_SLEW_PPM_PER_S: f64 = 200.0;

/// Our card's samples per point: each point is the mean of the observations within it.
const BUCKET: u64 = 24_000;
/// Points kept (20 s), and how many before there is an estimate (4 s).
const POINTS: usize = 40;
const MIN_POINTS: usize = 8;
/// A point this far (samples, 2 ms) off the line fitted so far is a step, not drift (a point
/// averages 200 observations: 1 ms of network jitter leaves it 3 samples of noise).
const STEP: f64 = 96.0;

#[derive(Debug, Clone)]
pub struct DriftEstimator {
    /// The stream's epoch (a restart starts the fit over), and the first observation: what
    /// later ones are measured from, so the sums stay small.
    epoch: u32,
    origin: Option<(u64, f64)>,
    /// A ring of (our samples, the sender's lead over them), both from the origin.
    points: [(f64, f64); POINTS],
    len: usize,
    head: usize,
    /// The bucket being gathered: where it started, and its sums.
    bucket_start: u64,
    sum: (f64, f64),
    count: u32,
    /// The last fit: the slope (ppm) and the points' centre it passes through; and the
    /// estimate before it, in case its last point was already part of a step.
    ppm: Option<f64>,
    centre: (f64, f64),
    before: Option<f64>,
}

impl Default for DriftEstimator {
    fn default() -> Self {
        Self {
            epoch: 0,
            origin: None,
            points: [(0.0, 0.0); POINTS],
            len: 0,
            head: 0,
            bucket_start: 0,
            sum: (0.0, 0.0),
            count: 0,
            ppm: None,
            centre: (0.0, 0.0),
            before: None,
        }
    }
}

impl DriftEstimator {
    /// Our card has played `ours` samples (per channel) of this stream, and the sender's
    /// stream stands at `theirs` samples (its timeline) in the stream's `epoch`.
    pub fn observe(&mut self, epoch: u32, ours: u64, theirs: f64) {
        if self.origin.is_none() || epoch != self.epoch {
            self.restart(epoch, ours, theirs);
        }
        let Some((o_ours, o_theirs)) = self.origin else {
            return;
        };
        let x = ours.saturating_sub(o_ours) as f64;
        self.sum.0 += x;
        self.sum.1 += theirs - o_theirs - x;
        self.count += 1;
        if ours.saturating_sub(self.bucket_start) >= BUCKET {
            let n = f64::from(self.count);
            let point = (self.sum.0 / n, self.sum.1 / n);
            (self.bucket_start, self.sum, self.count) = (ours, (0.0, 0.0), 0);
            if self.off_the_line(point) {
                // (Its last point may have held the start of the step.)
                self.ppm = self.before.or(self.ppm);
                self.restart(epoch, ours, theirs);
                return;
            }
            self.points[self.head] = point;
            self.head = (self.head + 1) % POINTS;
            self.len = (self.len + 1).min(POINTS);
            if let Some((ppm, centre)) = self.fit() {
                self.before = self.ppm;
                (self.ppm, self.centre) = (Some(ppm), centre);
            }
        }
    }

    /// A new fit from here, the last estimate kept until it has one.
    fn restart(&mut self, epoch: u32, ours: u64, theirs: f64) {
        *self = Self {
            epoch,
            origin: Some((ours, theirs)),
            bucket_start: ours,
            ppm: self.ppm,
            before: self.ppm,
            ..Self::default()
        };
    }

    /// Whether `point` is a step away from the line fitted so far (or, before there is one in
    /// this fit, from the last point).
    fn off_the_line(&self, (x, y): (f64, f64)) -> bool {
        if self.len == 0 {
            return false;
        }
        let expected = if self.len >= MIN_POINTS
            && let Some(ppm) = self.ppm
        {
            self.centre.1 + (x - self.centre.0) * ppm * 1e-6
        } else {
            self.points[(self.head + POINTS - 1) % POINTS].1
        };
        (y - expected).abs() > STEP
    }

    /// How many ppm faster than our card the sender's runs, once there is enough to tell.
    pub fn ppm(&self) -> Option<f64> {
        self.ppm
    }

    /// Least squares over the points: the slope of the sender's lead (ppm), and the centre.
    fn fit(&self) -> Option<(f64, (f64, f64))> {
        if self.len < MIN_POINTS {
            return None;
        }
        let pts = &self.points[..self.len];
        let n = self.len as f64;
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let (sxy, sxx) = pts.iter().fold((0.0, 0.0), |(sxy, sxx), &(x, y)| {
            (sxy + (x - mx) * (y - my), sxx + (x - mx) * (x - mx))
        });
        (sxx > 0.0).then(|| (sxy / sxx * 1e6, (mx, my)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ppm` between the clocks, `noise` samples of jitter (a fixed pseudo-random pattern),
    /// observed every 120 samples for `secs`.
    fn run(ppm: f64, noise: f64, secs: u64) -> DriftEstimator {
        let mut d = DriftEstimator::default();
        let mut state = 12345u64;
        for k in 0..secs * 400 {
            let ours = k * 120;
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (state >> 33) as f64 / f64::from(1u32 << 31) - 0.5;
            let theirs = 1_000_000.0 + ours as f64 * (1.0 + ppm * 1e-6) + r * 2.0 * noise;
            d.observe(1, ours, theirs);
        }
        d
    }

    #[test]
    fn the_clocks_difference_is_found_through_network_jitter() {
        for ppm in [0.0, 37.0, -120.0, 500.0, -900.0] {
            // 1 ms of jitter each way (48 samples).
            let d = run(ppm, 48.0, 30);
            let got = d.ppm().unwrap_or(f64::NAN);
            assert!((got - ppm).abs() < 5.0, "{ppm} ppm: got {got}");
        }
    }

    #[test]
    fn nothing_is_claimed_before_four_seconds() {
        assert_eq!(run(200.0, 0.0, 3).ppm(), None);
        assert!(run(200.0, 0.0, 5).ppm().is_some());
    }

    #[test]
    fn a_step_in_the_lead_is_not_taken_for_drift() {
        // 100 ppm, and about 10 s in the sender's stream jumps 50 ms ahead (our card starved,
        // its server played silence), at a point's end, within one, or near its end; or a new
        // epoch starts a new timeline altogether.
        for (jump_at, epoch_after) in [(4000, 1), (4100, 1), (4195, 1), (4100, 2)] {
            let mut d = DriftEstimator::default();
            for k in 0..30 * 400u64 {
                let ours = k * 120;
                let jump = if k >= jump_at { 2400.0 } else { 0.0 };
                let theirs = ours as f64 * (1.0 + 100e-6) + jump;
                d.observe(if jump > 0.0 { epoch_after } else { 1 }, ours, theirs);
                if k > 5 * 400 {
                    // The estimate is kept through the new fit; only the point that held the
                    // step's start (not yet known as one) moves it, for half a second.
                    let got = d.ppm().unwrap_or(f64::NAN);
                    let within = if (jump_at..jump_at + 400).contains(&k) {
                        50.0
                    } else {
                        5.0
                    };
                    assert!(
                        (got - 100.0).abs() < within,
                        "jump at {jump_at}, at {k}: {got}"
                    );
                }
            }
        }
    }
}
