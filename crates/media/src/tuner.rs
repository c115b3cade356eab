//! The tuner: the pitch of a sound as a note name and cents, from the last 43 ms of it.
//!
//! YIN (de Cheveigné and Kawahara, 2002): the cumulative mean normalised difference of the
//! signal with itself at each lag; the first lag where it dips under a threshold is the period,
//! refined by a parabola through its neighbours to a fraction of a sample (at 440 Hz one
//! sample of lag is 16 cents; the parabola brings a pure tone within a tenth of a cent). The
//! window is 2048 samples (42.7 ms at 48 kHz): periods up to 1024 samples, so down to 47 Hz
//! (a cello's C is 65 Hz), and an answer 43 ms after the sound.
//!
//! Sans-IO and allocation-free after `new`: samples in (mono), a pitch out.

use crate::format::SAMPLE_RATE;

/// Samples analysed: the answer is this old.
pub const WINDOW: usize = 2048;
/// The longest period looked for (47 Hz) and the shortest (2 kHz: a violin's E string's
/// harmonics go higher, but its fundamentals stop near 2.6 kHz and lessons sit well below).
const MAX_LAG: usize = WINDOW / 2;
const MIN_LAG: usize = (SAMPLE_RATE / 2_600) as usize;
/// Under this, a dip is a period (YIN's "absolute threshold").
const THRESHOLD: f32 = 0.12;
/// Quieter than this (RMS) is nobody playing.
const SILENCE_RMS: f32 = 0.003;

pub const NOTE_NAMES: [&str; 12] = [
    "C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B",
];

/// A pitch heard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pitch {
    pub hz: f64,
    /// 0 = C … 11 = B.
    pub note: u8,
    /// Scientific octave: A4 is 440 Hz (with that reference).
    pub octave: i32,
    /// How far from the note, −50 to +50.
    pub cents: f64,
    /// How periodic the sound is, 0–1 (1 − YIN's dip).
    pub clarity: f32,
}

impl Pitch {
    /// `hz` as a note against a reference A (`reference_a`, e.g. 440 or 415 for baroque).
    pub fn from_hz(hz: f64, reference_a: f64, clarity: f32) -> Self {
        let midi = 69.0 + 12.0 * (hz / reference_a).log2();
        let nearest = midi.round();
        let n = nearest as i64;
        Self {
            hz,
            note: n.rem_euclid(12) as u8,
            octave: (n.div_euclid(12) - 1) as i32,
            cents: (midi - nearest) * 100.0,
            clarity,
        }
    }

    pub fn name(&self) -> &'static str {
        NOTE_NAMES[usize::from(self.note % 12)]
    }
}

/// The pitch detector; one per sound followed.
pub struct Tuner {
    /// The difference function and its cumulative mean normalised form, by lag.
    raw: Vec<f32>,
    diff: Vec<f32>,
}

impl Default for Tuner {
    fn default() -> Self {
        Self {
            raw: vec![0.0; MAX_LAG + 1],
            diff: vec![0.0; MAX_LAG + 1],
        }
    }
}

/// Samples compared at each lag: the newest this many against those a lag before them.
const COMPARED: usize = WINDOW - MAX_LAG;

/// How old the sound a frequency describes is, in samples before the newest: the middle of
/// what its period's comparison spanned.
pub fn age_samples(hz: f64) -> f64 {
    (COMPARED as f64 + f64::from(SAMPLE_RATE) / hz) / 2.0
}

impl Tuner {
    /// The frequency of `samples` (mono, the last [`WINDOW`] are used), if it has one.
    pub fn frequency(&mut self, samples: &[f32]) -> Option<(f64, f32)> {
        if samples.len() < WINDOW {
            return None;
        }
        let x = &samples[samples.len() - WINDOW..];
        let rms = (x.iter().map(|s| s * s).sum::<f32>() / WINDOW as f32).sqrt();
        if rms < SILENCE_RMS {
            return None;
        }
        let w = COMPARED;
        // The difference function (the newest samples against those a lag earlier, so that
        // the answer is as recent as it can be), then its cumulative mean normalised form.
        self.diff[0] = 1.0;
        let newest = &x[WINDOW - w..];
        let mut running = 0.0f32;
        for tau in 1..=MAX_LAG {
            let d: f32 = x[WINDOW - w - tau..WINDOW - tau]
                .iter()
                .zip(newest)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            self.raw[tau] = d;
            running += d;
            self.diff[tau] = if running > 0.0 {
                d * tau as f32 / running
            } else {
                1.0
            };
        }
        // The first dip under the threshold, followed to its bottom.
        let mut tau = MIN_LAG;
        let found = loop {
            if tau >= MAX_LAG {
                break None;
            }
            if self.diff[tau] < THRESHOLD {
                while tau + 1 < MAX_LAG && self.diff[tau + 1] < self.diff[tau] {
                    tau += 1;
                }
                break Some(tau);
            }
            tau += 1;
        }?;
        // The parabola through the raw difference, which is smooth where the normalised one
        // is bent by its running mean (1.5 cents off at 2 kHz).
        let (a, b, c) = (
            f64::from(self.raw[found - 1]),
            f64::from(self.raw[found]),
            f64::from(self.raw[found + 1]),
        );
        let denom = a - 2.0 * b + c;
        let shift = if denom.abs() > 1e-12 {
            (0.5 * (a - c) / denom).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let period = found as f64 + shift;
        Some((f64::from(SAMPLE_RATE) / period, 1.0 - self.diff[found]))
    }

    /// The pitch of `samples` against `reference_a`.
    pub fn pitch(&mut self, samples: &[f32], reference_a: f64) -> Option<Pitch> {
        self.frequency(samples)
            .map(|(hz, clarity)| Pitch::from_hz(hz, reference_a, clarity))
    }
}

/// A synthetic bowed string for tests and the benchmark: a sawtooth-like spectrum (the bow's
/// stick-slip), its harmonics 1/n, with vibrato (±`depth_cents` at `rate_hz`) and a little
/// bow noise; `n` samples at 48 kHz, and the true frequency at each sample.
pub fn bowed_string(
    hz: f64,
    depth_cents: f64,
    rate_hz: f64,
    n: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f64>) {
    let sr = f64::from(SAMPLE_RATE);
    let mut phase = 0.0f64;
    let mut noise = seed.max(1);
    let (mut out, mut truth) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let t = i as f64 / sr;
        let f = hz * 2f64.powf(depth_cents / 1200.0 * (std::f64::consts::TAU * rate_hz * t).sin());
        phase += f / sr;
        let mut s = 0.0;
        for h in 1..=12u32 {
            let hf = f * f64::from(h);
            if hf > sr / 2.2 {
                break;
            }
            s += (std::f64::consts::TAU * phase * f64::from(h)).sin() / f64::from(h);
        }
        // xorshift: the bow's rosin noise, −40 dB.
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        let r = (noise % 2001) as f64 / 1000.0 - 1.0;
        out.push((0.25 * s + 0.005 * r) as f32);
        truth.push(f);
    }
    (out, truth)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sine(hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (0.3 * (std::f64::consts::TAU * hz * i as f64 / f64::from(SAMPLE_RATE)).sin())
                    as f32
            })
            .collect()
    }

    fn cents(a: f64, b: f64) -> f64 {
        1200.0 * (a / b).log2()
    }

    #[test]
    fn a_pure_tone_is_read_within_a_cent_across_the_violin_s_range() {
        let mut t = Tuner::default();
        for hz in [
            65.41, 196.0, 293.66, 440.0, 466.16, 659.26, 987.77, 1318.5, 2093.0,
        ] {
            let (got, clarity) = t.frequency(&sine(hz, WINDOW)).unwrap();
            assert!(cents(got, hz).abs() < 1.0, "{hz} Hz read as {got} Hz");
            assert!(clarity > 0.9, "{hz}: clarity {clarity}");
        }
    }

    #[test]
    fn notes_and_cents_follow_the_reference_a() {
        let p = Pitch::from_hz(440.0, 440.0, 1.0);
        assert_eq!((p.name(), p.octave), ("A", 4));
        assert!(p.cents.abs() < 1e-9);
        // Baroque pitch: 415 Hz is A there, and A♭ at modern pitch.
        let p = Pitch::from_hz(415.0, 415.0, 1.0);
        assert_eq!((p.name(), p.octave), ("A", 4));
        let p = Pitch::from_hz(415.0, 440.0, 1.0);
        assert_eq!((p.name(), p.octave), ("A♭", 4));
        assert!((p.cents + 1.3).abs() < 0.1, "{p:?}");
        // Middle C, a little sharp; the violin's open G.
        let p = Pitch::from_hz(262.0, 440.0, 1.0);
        assert_eq!((p.name(), p.octave), ("C", 4));
        assert!((p.cents - 2.9).abs() < 0.5, "{p:?}");
        assert_eq!(Pitch::from_hz(196.0, 440.0, 1.0).name(), "G");
    }

    #[test]
    fn a_bowed_string_with_vibrato_is_read_within_three_cents_of_where_it_is() {
        let mut t = Tuner::default();
        for hz in [196.0, 440.0, 659.26] {
            let (x, truth) = bowed_string(hz, 20.0, 5.5, 48_000, 9);
            let mut errors = Vec::new();
            for end in (WINDOW..x.len()).step_by(480) {
                let (got, _) = t.frequency(&x[..end]).unwrap();
                // Against the pitch where its estimate sits (what its period compared).
                let mid = truth[end - age_samples(hz).round() as usize];
                errors.push(cents(got, mid).abs());
            }
            errors.sort_by(f64::total_cmp);
            let p95 = errors[errors.len() * 95 / 100];
            // The harmonics must not be taken for the note (an octave is 1200 cents).
            assert!(p95 < 3.0, "{hz} Hz bowed: p95 {p95} cents");
        }
    }

    #[test]
    fn silence_and_noise_have_no_pitch() {
        let mut t = Tuner::default();
        assert_eq!(t.frequency(&vec![0.0; WINDOW]), None);
        assert_eq!(t.frequency(&sine(440.0, WINDOW / 2)), None, "too short");
        let mut s = 1u64;
        let noise: Vec<f32> = (0..WINDOW)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s % 2001) as f32 / 1000.0 - 1.0) * 0.3
            })
            .collect();
        assert_eq!(t.frequency(&noise), None);
    }
}
