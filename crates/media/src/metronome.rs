//! The metronome every machine plays for itself: clicks at shared times, placed at the sample
//! of the output that the speaker plays at that instant. Sans-IO: the playout loop tells it
//! which sample it is writing and when the sound card will play it.
//!
//! Two clocks meet here. The shared time (the host's monotonic clock) maps to ours through the
//! link's [`ClockEstimate`]; ours maps to the sound card's samples through a [`SampleClock`],
//! fitted to where the card says it is (its latency and our queue), because a card's crystal
//! runs its own rate (±100 ppm is 360 ms an hour) and the loop that writes to it wakes when the
//! scheduler lets it. A click is placed by the sample, never by when the loop happened to run.

use std::collections::VecDeque;

use tutti_protocol::{Accent, MetronomePlan};

use crate::format::{CHANNELS, SAMPLE_RATE};
use crate::shared_clock::ClockEstimate;

pub const NOMINAL_NS_PER_SAMPLE: f64 = 1e9 / SAMPLE_RATE as f64;

/// How the shared time (the host's clock) reads on ours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SharedTime {
    /// We are the host: the shared time is our clock.
    Own,
    /// Through the clock exchange with the host.
    Host(ClockEstimate),
}

impl SharedTime {
    pub fn to_local(&self, shared_ns: f64) -> f64 {
        match self {
            Self::Own => shared_ns,
            Self::Host(e) => e.local_at(shared_ns),
        }
    }

    pub fn to_shared(&self, local_ns: f64) -> f64 {
        match self {
            Self::Own => local_ns,
            // `remote_at` takes whole nanoseconds; the fraction does not matter at this scale.
            Self::Host(e) => e.remote_at(local_ns.max(0.0) as u64),
        }
    }
}

/// How often the playout loop tells the sample clock where the card is (100 ms).
pub const OBSERVE_EVERY_SAMPLES: usize = SAMPLE_RATE as usize / 10;
/// Observations kept: ten a second over about half a minute, enough for the rate to within
/// a few ppm through a millisecond of noise on each.
const SAMPLE_CLOCK_WINDOW: usize = 300;
/// Before the observations span this many samples (5 s), the card is taken to run at its
/// nominal rate: a slope from a shorter span is mostly noise.
const MIN_RATE_SPAN: f64 = 5.0 * SAMPLE_RATE as f64;
/// Observations this far off the line, several in a row and agreeing, mean the card's
/// timeline moved (the sound server played silence in our place, or changed its latency):
/// start again from them. While one is unconfirmed the loop observes every frame
/// ([`SampleClock::confirming`]), so that a move is followed within a few frames, not after
/// seconds of observations 100 ms apart.
const JUMP_NS: f64 = 3e6;
const JUMPS_TO_RESET: usize = 3;
const MAX_RATE_ERROR: f64 = 1e-3;

/// When the sound card plays each sample of the output: a line through observations of
/// (sample written, when it will be heard).
#[derive(Debug, Clone, Default)]
pub struct SampleClock {
    obs: VecDeque<(f64, f64)>,
    /// time = t0 + (sample − n0) × ns_per_sample
    line: Option<(f64, f64, f64)>,
    /// Observations off the line, in a row, with how far off each was.
    off_line: Vec<(f64, f64, f64)>,
    resets: u64,
}

impl SampleClock {
    /// Sample `sample` (counted per channel from the first written) will be heard at `at_ns`
    /// (our monotonic clock), as the card said just now.
    pub fn observe(&mut self, sample: u64, at_ns: f64) {
        let n = sample as f64;
        if let Some(t) = self.time_of(sample) {
            let off = at_ns - t;
            if off.abs() > JUMP_NS {
                self.off_line.push((n, at_ns, off));
                let (lo, hi) = self
                    .off_line
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), o| {
                        (lo.min(o.2), hi.max(o.2))
                    });
                if hi - lo > JUMP_NS {
                    // They disagree: noise, not a move. Only the latest still counts.
                    self.off_line.drain(..self.off_line.len() - 1);
                }
                if self.off_line.len() >= JUMPS_TO_RESET {
                    // The timeline moved; the card's rate did not: what was observed before
                    // moves with it, and the rate fitted to it stays.
                    let moved =
                        self.off_line.iter().map(|o| o.2).sum::<f64>() / self.off_line.len() as f64;
                    for o in &mut self.obs {
                        o.1 += moved;
                    }
                    self.obs
                        .extend(self.off_line.drain(..).map(|(n, t, _)| (n, t)));
                    while self.obs.len() > SAMPLE_CLOCK_WINDOW {
                        self.obs.pop_front();
                    }
                    self.resets += 1;
                    self.line = Some(self.fit());
                }
                return;
            }
            self.off_line.clear();
        }
        self.obs.push_back((n, at_ns));
        while self.obs.len() > SAMPLE_CLOCK_WINDOW {
            self.obs.pop_front();
        }
        self.line = Some(self.fit());
    }

    /// An observation was off the line and waits for the next ones to say whether the
    /// card's timeline moved.
    pub fn confirming(&self) -> bool {
        !self.off_line.is_empty()
    }

    fn fit(&self) -> (f64, f64, f64) {
        let len = self.obs.len() as f64;
        let n0 = self.obs.back().map_or(0.0, |o| o.0);
        let mn = self.obs.iter().map(|o| o.0 - n0).sum::<f64>() / len;
        let mt = self.obs.iter().map(|o| o.1).sum::<f64>() / len;
        let span = self.obs.front().map_or(0.0, |f| n0 - f.0);
        let slope = if span >= MIN_RATE_SPAN {
            let sxx: f64 = self.obs.iter().map(|o| (o.0 - n0 - mn).powi(2)).sum();
            let sxt: f64 = self.obs.iter().map(|o| (o.0 - n0 - mn) * (o.1 - mt)).sum();
            (sxt / sxx).clamp(
                NOMINAL_NS_PER_SAMPLE * (1.0 - MAX_RATE_ERROR),
                NOMINAL_NS_PER_SAMPLE * (1.0 + MAX_RATE_ERROR),
            )
        } else {
            NOMINAL_NS_PER_SAMPLE
        };
        (mt - slope * mn, n0, slope)
    }

    /// When `sample` is heard, once anything has been observed.
    pub fn time_of(&self, sample: u64) -> Option<f64> {
        self.line
            .map(|(t0, n0, slope)| t0 + (sample as f64 - n0) * slope)
    }

    pub fn ns_per_sample(&self) -> f64 {
        self.line.map_or(NOMINAL_NS_PER_SAMPLE, |l| l.2)
    }

    /// Times the card's timeline jumped and the fit started again.
    pub fn resets(&self) -> u64 {
        self.resets
    }
}

/// Where the metronome is in its bar, for the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    /// Counted from the first beat of the count-in.
    pub index: u64,
    /// The bar, from 0, count-in included.
    pub bar: u64,
    /// The beat in the bar, from 0.
    pub beat: u8,
    pub count_in: bool,
}

impl Beat {
    fn of(plan: &MetronomePlan, index: u64) -> Self {
        let per_bar = plan.beats_per_bar().max(1) as u64;
        let bar = index / per_bar;
        Self {
            index,
            bar,
            beat: (index % per_bar) as u8,
            count_in: bar < u64::from(plan.count_in_bars),
        }
    }
}

/// The beat of `plan` sounding at `shared_ns` (the latest one begun), none before the first.
pub fn beat_at(plan: &MetronomePlan, shared_ns: f64) -> Option<Beat> {
    let since = shared_ns - plan.start_ns as f64;
    (since >= 0.0).then(|| Beat::of(plan, (since / plan.beat_ns()).floor() as u64))
}

/// Clicks: short decaying cosines, so that the onset is the first sample and the next beat
/// never overlaps (30 ms at most; 300 beats a minute is 200 ms apart).
const CLICK_MS: f64 = 30.0;
const CLICK_DECAY_MS: f64 = 6.0;

fn click(freq: f64, amp: f32) -> Vec<f32> {
    let n = (CLICK_MS * 1e-3 * f64::from(SAMPLE_RATE)) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(SAMPLE_RATE);
            let env = (-t / (CLICK_DECAY_MS * 1e-3)).exp();
            amp * (env * (2.0 * std::f64::consts::PI * freq * t).cos()) as f32
        })
        .collect()
}

/// One machine's metronome: the host's plan, this participant's volume.
#[derive(Debug, Clone)]
pub struct Metronome {
    plan: Option<MetronomePlan>,
    gain: f32,
    strong: Vec<f32>,
    normal: Vec<f32>,
    count: Vec<f32>,
}

impl Default for Metronome {
    fn default() -> Self {
        Self {
            plan: None,
            gain: 1.0,
            strong: click(1760.0, 0.5),
            normal: click(1320.0, 0.35),
            count: click(880.0, 0.45),
        }
    }
}

impl Metronome {
    pub fn set_plan(&mut self, plan: Option<MetronomePlan>) {
        self.plan = plan.filter(|p| p.validate().is_ok());
    }

    pub fn plan(&self) -> Option<&MetronomePlan> {
        self.plan.as_ref()
    }

    /// 0 mutes it for this participant only.
    pub fn set_gain(&mut self, gain: f32) {
        self.gain = gain.clamp(0.0, 2.0);
    }

    pub fn running(&self) -> bool {
        self.plan.is_some()
    }

    /// The beat sounding at `shared_ns` (the latest one begun), none before the first.
    pub fn beat_at(&self, shared_ns: f64) -> Option<Beat> {
        beat_at(self.plan.as_ref()?, shared_ns)
    }

    /// The shared time of beat `index`.
    pub fn beat_time(&self, index: u64) -> Option<f64> {
        let plan = self.plan.as_ref()?;
        Some(plan.start_ns as f64 + index as f64 * plan.beat_ns())
    }

    /// Adds the clicks heard during `out` (interleaved, `CHANNELS` a frame), whose first
    /// sample the card plays at our `first_ns` and the rest `ns_per_sample` apart.
    pub fn render(&self, out: &mut [f32], first_ns: f64, ns_per_sample: f64, shared: &SharedTime) {
        let Some(plan) = self.plan.as_ref() else {
            return;
        };
        if self.gain <= 0.0 {
            return;
        }
        let frames = out.len() / CHANNELS;
        let tail = self
            .strong
            .len()
            .max(self.normal.len())
            .max(self.count.len());
        let lo = shared.to_shared(first_ns - tail as f64 * ns_per_sample);
        let hi = shared.to_shared(first_ns + frames as f64 * ns_per_sample);
        let (start, beat_ns) = (plan.start_ns as f64, plan.beat_ns());
        let first_k = ((lo - start) / beat_ns).ceil().max(0.0) as u64;
        let mut k = first_k;
        loop {
            let at_shared = start + k as f64 * beat_ns;
            if at_shared >= hi {
                break;
            }
            let beat = Beat::of(plan, k);
            let sound = if beat.count_in {
                Some(&self.count)
            } else {
                match plan.accents.get(usize::from(beat.beat)) {
                    Some(Accent::Strong) => Some(&self.strong),
                    Some(Accent::Normal) => Some(&self.normal),
                    Some(Accent::Silent) | None => None,
                }
            };
            if let Some(sound) = sound {
                let onset = ((shared.to_local(at_shared) - first_ns) / ns_per_sample).round();
                let onset = onset as i64;
                for (j, s) in sound.iter().enumerate() {
                    let i = onset + j as i64;
                    if i < 0 {
                        continue;
                    }
                    let Ok(i) = usize::try_from(i) else { break };
                    if i >= frames {
                        break;
                    }
                    for c in 0..CHANNELS {
                        out[i * CHANNELS + c] += s * self.gain;
                    }
                }
            }
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn plan(bpm: f64, start_ns: u64) -> MetronomePlan {
        MetronomePlan {
            bpm,
            accents: MetronomePlan::accents_for(4),
            count_in_bars: 1,
            start_ns,
        }
    }

    /// Onsets in an interleaved recording: the first sample of each click (found by its first
    /// non-zero sample after silence), in samples.
    fn onsets(rec: &[f32]) -> Vec<usize> {
        let mut found = Vec::new();
        let mut quiet = usize::MAX / 2;
        for (i, f) in rec.chunks(CHANNELS).enumerate() {
            if f[0].abs() > 1e-6 {
                if quiet > 100 {
                    found.push(i);
                }
                quiet = 0;
            } else {
                quiet += 1;
            }
        }
        found
    }

    /// A sound card whose crystal runs `ppm` fast: sample n is heard at t0 + n × its period,
    /// plus every move of its timeline (`moves`: from sample `at` on, `ns` later, as when the
    /// sound server plays silence in our place). The loop writes `frame` samples at a time and
    /// observes where the card is as the playout loop does (every 100 ms, every frame while a
    /// move is being confirmed), with `noise_ns` of error (scheduling, the sound server's
    /// granularity). Returns the recording and when each of its samples was truly heard.
    #[allow(clippy::too_many_arguments)]
    fn play_moving(
        metronome: &Metronome,
        shared: SharedTime,
        ppm: f64,
        noise_ns: f64,
        frame: usize,
        seconds: f64,
        by_wall_time: bool,
        moves: &[(usize, f64)],
    ) -> (Vec<f32>, impl Fn(usize) -> f64 + use<>) {
        let t0 = 1e12;
        let period = NOMINAL_NS_PER_SAMPLE / (1.0 + ppm * 1e-6);
        let moves = moves.to_vec();
        let truth = move |n: usize| {
            t0 + n as f64 * period + moves.iter().filter(|m| n >= m.0).map(|m| m.1).sum::<f64>()
        };
        let mut rng = StdRng::seed_from_u64(3);
        let mut clock = SampleClock::default();
        let total = (seconds * f64::from(SAMPLE_RATE)) as usize / frame * frame;
        // Only the last 20 s are kept (an hour of stereo would be over a gigabyte).
        let keep_from = total.saturating_sub(20 * SAMPLE_RATE as usize) / frame * frame;
        let mut rec = vec![0.0f32; (total - keep_from) * CHANNELS];
        let mut scratch = vec![0.0f32; frame * CHANNELS];
        let (mut n, mut observe_at) = (0, 0);
        while n < total {
            // The card asks for more while 20 ms are still queued: the loop writes sample n
            // about then, and observes where it is.
            if n >= observe_at {
                let heard = truth(n) + rng.random_range(-noise_ns..=noise_ns);
                clock.observe(n as u64, heard);
                observe_at = if clock.confirming() {
                    n + 1
                } else {
                    n + OBSERVE_EVERY_SAMPLES
                };
            }
            let out = if n >= keep_from {
                &mut rec[(n - keep_from) * CHANNELS..(n - keep_from + frame) * CHANNELS]
            } else {
                scratch.fill(0.0);
                &mut scratch[..]
            };
            if by_wall_time {
                // What a naive metronome does: the clicks due by now go at the start of the
                // frame being written.
                let now = truth(n) - 20e6 + rng.random_range(-noise_ns..=noise_ns);
                metronome.render(out, now, NOMINAL_NS_PER_SAMPLE, &shared);
            } else {
                let first = clock.time_of(n as u64).unwrap();
                metronome.render(out, first, clock.ns_per_sample(), &shared);
            }
            n += frame;
        }
        (rec, move |i: usize| truth(keep_from + i))
    }

    /// A card whose timeline never moves.
    fn play(
        metronome: &Metronome,
        shared: SharedTime,
        ppm: f64,
        noise_ns: f64,
        frame: usize,
        seconds: f64,
        by_wall_time: bool,
    ) -> (Vec<f32>, impl Fn(usize) -> f64 + use<>) {
        play_moving(
            metronome,
            shared,
            ppm,
            noise_ns,
            frame,
            seconds,
            by_wall_time,
            &[],
        )
    }

    /// How far each click was heard from its shared time, ns.
    fn errors(
        m: &Metronome,
        shared: &SharedTime,
        rec: &[f32],
        truth: impl Fn(usize) -> f64,
    ) -> Vec<f64> {
        onsets(rec)
            .into_iter()
            .map(|i| {
                let heard_shared = shared.to_shared(truth(i));
                match m.beat_at(heard_shared + 5e6) {
                    Some(beat) => heard_shared - m.beat_time(beat.index).unwrap(),
                    None => f64::INFINITY,
                }
            })
            .collect()
    }

    #[test]
    fn clicks_are_heard_at_their_shared_time_to_the_sample_whatever_the_frame() {
        let shared = SharedTime::Own;
        for frame in [120, 240, 480, 960] {
            let mut m = Metronome::default();
            m.set_plan(Some(plan(137.0, 1e12 as u64 + 300_000_000)));
            let (rec, truth) = play(&m, shared, 0.0, 0.0, frame, 6.0, false);
            let e = errors(&m, &shared, &rec, truth);
            assert!(e.len() >= 12, "{} clicks", e.len());
            let worst = e.iter().map(|x| x.abs()).fold(0.0, f64::max);
            assert!(worst <= NOMINAL_NS_PER_SAMPLE, "frame {frame}: {worst} ns");
        }
    }

    #[test]
    fn a_card_100_ppm_off_and_a_noisy_loop_still_click_on_time_after_an_hour() {
        for ppm in [100.0, -100.0] {
            let mut m = Metronome::default();
            // Starts 59 min 50 s in: the last ten seconds of an hour.
            let start = 1e12 as u64 + 3_590_000_000_000;
            m.set_plan(Some(plan(100.0, start)));
            let (rec, truth) = play(&m, SharedTime::Own, ppm, 1e6, 240, 3605.0, false);
            let e = errors(&m, &SharedTime::Own, &rec, truth);
            assert!(e.len() >= 15);
            let worst = e.iter().map(|x| x.abs()).fold(0.0, f64::max);
            // A millisecond of noise on every observation, 360 ms of drift an hour: the fit
            // takes out both.
            assert!(worst < 0.3e6, "{ppm} ppm: {worst} ns");
        }
    }

    #[test]
    fn a_move_of_the_card_s_timeline_is_followed_before_the_next_click() {
        // The sound server falls behind and plays silence in our place, twice: from then on
        // every sample is heard 13.9 ms later, then 24.7 ms earlier (a latency cut). Each time
        // a click is due 150 ms after the move: the move must be seen and confirmed by then,
        // not after three observations 100 ms apart.
        let beat = SAMPLE_RATE as usize * 6 / 10; // 100 a minute
        let start = 100_000_000u64; // the first click 100 ms in
        let first = (0.1 * f64::from(SAMPLE_RATE)) as usize;
        let before = (0.15 * f64::from(SAMPLE_RATE)) as usize;
        let moves = [
            (first + 3 * beat - before, 13.9e6),
            (first + 7 * beat - before, -24.7e6),
        ];
        let mut m = Metronome::default();
        m.set_plan(Some(plan(100.0, 1e12 as u64 + start)));
        let (rec, truth) = play_moving(&m, SharedTime::Own, 80.0, 0.5e6, 240, 7.0, false, &moves);
        let e = errors(&m, &SharedTime::Own, &rec, truth);
        assert!(e.len() >= 10, "{} clicks", e.len());
        let worst = e.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(
            worst < 0.3e6,
            "{:?} ms",
            e.iter().map(|x| x / 1e6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn after_a_move_the_card_s_rate_is_still_known() {
        // 100 ppm fast, a move 30 s in: the clicks four seconds later (100 ppm is 0.4 ms
        // there) are on time only if the rate fitted before the move is kept.
        let mut m = Metronome::default();
        let at = 30 * SAMPLE_RATE as usize;
        m.set_plan(Some(plan(100.0, 1e12 as u64 + 34_000_000_000)));
        let (rec, truth) = play_moving(
            &m,
            SharedTime::Own,
            100.0,
            0.5e6,
            240,
            38.0,
            false,
            &[(at, 9e6)],
        );
        let e = errors(&m, &SharedTime::Own, &rec, truth);
        assert!(e.len() >= 5, "{} clicks", e.len());
        let worst = e.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(
            worst < 0.2e6,
            "{:?} ms",
            e.iter().map(|x| x / 1e6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn observations_far_off_but_disagreeing_are_noise_not_a_move() {
        let mut c = SampleClock::default();
        let per = NOMINAL_NS_PER_SAMPLE;
        let step = OBSERVE_EVERY_SAMPLES as u64;
        for i in 0..50 {
            c.observe(i * step, i as f64 * step as f64 * per);
        }
        // Three in a row far off, but each by another amount (a loop woken late, then early).
        for (k, off) in [8e6, -6e6, 12e6].into_iter().enumerate() {
            let n = (50 + k as u64) * step;
            c.observe(n, n as f64 * per + off);
        }
        assert_eq!(c.resets(), 0);
        let n = 60 * step;
        assert!((c.time_of(n).unwrap() - n as f64 * per).abs() < 1e3);
        // Three agreeing: a move.
        for k in 0..3u64 {
            let n = (53 + k) * step;
            c.observe(n, n as f64 * per + 5e6);
        }
        assert_eq!(c.resets(), 1);
        assert!((c.time_of(n).unwrap() - (n as f64 * per + 5e6)).abs() < 1e3);
    }

    #[test]
    fn a_click_placed_by_when_the_loop_ran_is_off_by_the_queue_and_the_frame() {
        // The same run as above, but placing clicks by the loop's wall time: the test that
        // shows the sample clock matters.
        let mut m = Metronome::default();
        m.set_plan(Some(plan(100.0, 1e12 as u64 + 100_000_000)));
        let (rec, truth) = play(&m, SharedTime::Own, 0.0, 1e6, 480, 5.0, true);
        let e = errors(&m, &SharedTime::Own, &rec, truth);
        let worst = e.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(worst > 10e6, "{worst} ns");
    }

    #[test]
    fn a_follower_clicks_at_the_host_s_time_through_the_clock_estimate() {
        // The host's clock is 2.55 s ahead of ours and 40 ppm fast.
        let e = ClockEstimate {
            offset_ns: 2.55e9,
            drift_ppm: 40.0,
            at_ns: 1e12 as u64,
            uncertainty_ns: 0.0,
            rtt_ns: 0,
            exchanges: 10,
        };
        let shared = SharedTime::Host(e);
        let mut m = Metronome::default();
        m.set_plan(Some(plan(120.0, (e.remote_at(1e12 as u64) + 200e6) as u64)));
        let (rec, truth) = play(&m, shared, 30.0, 0.5e6, 240, 8.0, false);
        let errs = errors(&m, &shared, &rec, &truth);
        assert!(errs.len() >= 14);
        let worst = errs.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(worst < 0.3e6, "{worst} ns");
        // The same plan read as if our clock were the host's: 2.55 s off (not a whole number of beats), so none line up.
        let wrong = errors(&m, &SharedTime::Own, &rec, &truth);
        assert!(wrong.iter().all(|x| x.abs() > 1e6), "{wrong:?}");
    }

    #[test]
    fn accents_count_in_and_volume() {
        let mut m = Metronome::default();
        let mut p = plan(120.0, 0);
        p.accents = vec![Accent::Strong, Accent::Silent, Accent::Normal];
        p.count_in_bars = 1;
        m.set_plan(Some(p));
        // 4 s at 120: 8 beats; the count-in's three, then strong, silent, normal, strong, silent.
        let mut out = vec![0.0f32; 4 * SAMPLE_RATE as usize * CHANNELS];
        m.render(&mut out, 0.0, NOMINAL_NS_PER_SAMPLE, &SharedTime::Own);
        let on = onsets(&out);
        assert_eq!(on.len(), 6, "{on:?}");
        let peak = |i: usize| {
            out[i * CHANNELS..(i + 1000) * CHANNELS]
                .iter()
                .fold(0.0f32, |a, s| a.max(s.abs()))
        };
        let beat = SAMPLE_RATE as usize / 2;
        assert_eq!(on, vec![0, beat, 2 * beat, 3 * beat, 5 * beat, 6 * beat]);
        assert!(peak(3 * beat) > peak(5 * beat), "strong louder than normal");
        assert!(!m.beat_at(1.6e9).unwrap().count_in);
        assert!(m.beat_at(1.4e9).unwrap().count_in);
        assert!(m.beat_at(-1.0).is_none());
        m.set_gain(0.0);
        let mut quiet = vec![0.0f32; out.len()];
        m.render(&mut quiet, 0.0, NOMINAL_NS_PER_SAMPLE, &SharedTime::Own);
        assert!(quiet.iter().all(|s| *s == 0.0));
        // A plan out of range is not played.
        let mut bad = plan(5.0, 0);
        bad.count_in_bars = 0;
        m.set_plan(Some(bad));
        assert!(!m.running());
    }

    #[test]
    fn the_sample_clock_starts_again_when_the_card_s_timeline_jumps() {
        let mut c = SampleClock::default();
        for i in 0..100u64 {
            c.observe(i * 480, 1e9 + i as f64 * 10e6);
        }
        // A 40-ms underrun: every sample is now heard 40 ms later.
        for i in 100..110u64 {
            c.observe(i * 480, 1e9 + 40e6 + i as f64 * 10e6);
        }
        assert_eq!(c.resets(), 1);
        let t = c.time_of(120 * 480).unwrap();
        assert!((t - (1e9 + 40e6 + 1.2e9)).abs() < 0.1e6, "{t}");
        // One stray observation is not a jump.
        c.observe(111 * 480, 1e9 + 1.11e9);
        assert_eq!(c.resets(), 1);
    }
}
