//! Measuring received audio: the frequency and signal-to-noise ratio of a tone.

use crate::format::{CHANNELS, SAMPLE_RATE};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    /// The strongest frequency near the expected one, in Hz.
    pub frequency: f64,
    /// Power of that sinusoid over the power of everything else, in dB.
    pub snr_db: f64,
}

/// Power of the sinusoid at `f` in the left channel (a DFT bin at any frequency).
fn power_at(left: &[f32], f: f64) -> f64 {
    let w = std::f64::consts::TAU * f / f64::from(SAMPLE_RATE);
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &x) in left.iter().enumerate() {
        let a = w * n as f64;
        re += f64::from(x) * a.cos();
        im -= f64::from(x) * a.sin();
    }
    let amplitude = 2.0 * (re * re + im * im).sqrt() / left.len() as f64;
    amplitude * amplitude / 2.0
}

/// Finds the tone within ±20 Hz of `expected` in interleaved stereo `samples` (left channel)
/// and how far above everything else it stands.
pub fn tone(samples: &[f32], expected: f64) -> Tone {
    let left: Vec<f32> = samples.iter().step_by(CHANNELS).copied().collect();
    if left.is_empty() {
        return Tone {
            frequency: 0.0,
            snr_db: f64::NEG_INFINITY,
        };
    }
    let best = |from: f64, to: f64, step: f64| {
        let mut f = from;
        let (mut best_f, mut best_p) = (from, -1.0);
        while f <= to {
            let p = power_at(&left, f);
            if p > best_p {
                (best_f, best_p) = (f, p);
            }
            f += step;
        }
        (best_f, best_p)
    };
    let (coarse, _) = best(expected - 20.0, expected + 20.0, 0.5);
    let (frequency, _) = best(coarse - 0.5, coarse + 0.5, 0.01);
    // Least-squares fit of a·cos + b·sin at that frequency; the residual is the noise. (Taking
    // "total minus the bin's power" instead subtracts two nearly equal numbers.)
    let w = std::f64::consts::TAU * frequency / f64::from(SAMPLE_RATE);
    let (mut scc, mut sss, mut scs, mut sxc, mut sxs) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (n, &x) in left.iter().enumerate() {
        let (sin, cos) = (w * n as f64).sin_cos();
        let x = f64::from(x);
        scc += cos * cos;
        sss += sin * sin;
        scs += cos * sin;
        sxc += x * cos;
        sxs += x * sin;
    }
    let det = scc * sss - scs * scs;
    let (a, b) = if det.abs() > 1e-12 {
        ((sxc * sss - sxs * scs) / det, (sxs * scc - sxc * scs) / det)
    } else {
        (0.0, 0.0)
    };
    let (mut signal, mut noise) = (0.0, 0.0);
    for (n, &x) in left.iter().enumerate() {
        let (sin, cos) = (w * n as f64).sin_cos();
        let fit = a * cos + b * sin;
        signal += fit * fit;
        noise += (f64::from(x) - fit).powi(2);
    }
    Tone {
        frequency,
        snr_db: 10.0 * (signal / noise.max(1e-20)).log10(),
    }
}

/// What went in and what came out, one direction, as recorded by the sound server itself: a
/// click train and a steady tone sent, the same heard at the other end. All four on one
/// recording, so on one sample clock.
#[derive(Debug, Clone, Copy)]
pub struct Through<'a> {
    /// Interleaved recording of `channels` channels.
    pub samples: &'a [f32],
    pub channels: usize,
    pub clicks_in: usize,
    pub tone_in: usize,
    pub clicks_out: usize,
    pub tone_out: usize,
    pub tone_hz: f64,
    /// Samples after the first click heard that are not counted (the call settling).
    pub settle: usize,
}

/// Mouth to ear, one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Clicks that went in while the call was up, and how many came out.
    pub clicks_sent: usize,
    pub clicks_heard: usize,
    /// Each heard click's delay, sorted, in ms.
    pub latencies_ms: Vec<f64>,
    /// 10-ms windows of the tone, while the call was up, and how many were clean.
    pub windows: usize,
    pub clean: usize,
    /// Runs of windows that were not clean, and the longest, in ms.
    pub dropouts: usize,
    pub longest_dropout_ms: f64,
}

impl Heard {
    pub fn clean_pct(&self) -> f64 {
        100.0 * self.clean as f64 / self.windows.max(1) as f64
    }

    /// The `p`th percentile of the delays (NaN if none).
    pub fn latency_pct(&self, p: f64) -> f64 {
        let v = &self.latencies_ms;
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
}

/// A window is clean when the tone in it is within this of its level going in...
const LEVEL_DB: f64 = 3.0;
/// ...and stands this far above everything else in it (a 1-ms hole in a 10-ms window leaves
/// about 10 dB).
pub const CLEAN_SNR_DB: f64 = 20.0;
/// Clicks are this far apart at least: a heard click belongs to the last one sent before it.
const CLICK_GAP_MS: u64 = 200;

fn channel(t: &Through, c: usize) -> Vec<f32> {
    t.samples
        .iter()
        .skip(c)
        .step_by(t.channels.max(1))
        .copied()
        .collect()
}

/// Where a channel crosses `threshold` after `gap_ms` of quiet below it.
pub fn onsets(x: &[f32], threshold: f32, gap_ms: u64) -> Vec<usize> {
    let gap = (gap_ms * u64::from(SAMPLE_RATE) / 1000) as usize;
    let mut out = Vec::new();
    let mut last: Option<usize> = None;
    for (i, s) in x.iter().enumerate() {
        if s.abs() >= threshold {
            if last.is_none_or(|l| i - l > gap) {
                out.push(i);
            }
            last = Some(i);
        }
    }
    out
}

/// Amplitude and SNR (dB) of the sinusoid at `f` in `x`, fitted with a DC term.
pub fn fit(x: &[f32], f: f64) -> (f64, f64) {
    let w = std::f64::consts::TAU * f / f64::from(SAMPLE_RATE);
    // Normal equations for a·cos + b·sin + c.
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for (n, &s) in x.iter().enumerate() {
        let (sin, cos) = (w * n as f64).sin_cos();
        let basis = [cos, sin, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += basis[i] * basis[j];
            }
            v[i] += basis[i] * f64::from(s);
        }
    }
    let Some([a, b, c]) = solve3(m, v) else {
        return (0.0, f64::NEG_INFINITY);
    };
    let (mut signal, mut noise) = (0.0, 0.0);
    for (n, &s) in x.iter().enumerate() {
        let (sin, cos) = (w * n as f64).sin_cos();
        let tone = a * cos + b * sin;
        signal += tone * tone;
        noise += (f64::from(s) - tone - c).powi(2);
    }
    (
        (a * a + b * b).sqrt(),
        10.0 * (signal / noise.max(1e-20)).log10(),
    )
}

/// Cramer's rule; `None` if singular.
fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = v[i];
        }
        *o = det(mk) / d;
    }
    Some(out)
}

/// Measures one direction: each heard click against the last one sent before it; every 10-ms
/// window of the tone from the first click heard (and `settle` after it) to the last, against
/// the tone's level going in. Before the first and after the last the call was not up (or no
/// longer).
pub fn heard(t: Through) -> Heard {
    let (ci, co) = (channel(&t, t.clicks_in), channel(&t, t.clicks_out));
    let (ti, to) = (channel(&t, t.tone_in), channel(&t, t.tone_out));
    let sent = onsets(&ci, 0.3, CLICK_GAP_MS);
    let all_got = onsets(&co, 0.3, CLICK_GAP_MS);
    let counted_from = all_got.first().map_or(0, |&f| f + t.settle);
    let got: Vec<usize> = all_got.into_iter().filter(|&o| o >= counted_from).collect();
    let mut latencies_ms = Vec::new();
    for &o in &got {
        if let Some(&i) = sent.iter().rev().find(|&&i| i <= o) {
            latencies_ms.push((o - i) as f64 * 1000.0 / f64::from(SAMPLE_RATE));
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let window = SAMPLE_RATE as usize / 100;
    let (from, to_end) = match (got.first(), got.last()) {
        (Some(&a), Some(&b)) if b > a => (a, b),
        _ => (0, 0),
    };
    // The clicks sent while the call was up: from the one heard first to the one heard last.
    let sent_before = |o: usize| sent.iter().rposition(|&s| s <= o);
    let clicks_sent = match (sent_before(from), sent_before(to_end)) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    };
    let level_in = {
        let mid = ti.len() / 2;
        fit(
            &ti[mid.saturating_sub(window * 10)..(mid + window * 10).min(ti.len())],
            t.tone_hz,
        )
        .0
    };
    let (mut windows, mut clean, mut dropouts, mut run, mut longest) = (0, 0, 0, 0usize, 0usize);
    let mut start = from;
    while start + window <= to_end.min(to.len()) {
        let (amp, snr) = fit(&to[start..start + window], t.tone_hz);
        let level_db = 20.0 * (amp / level_in.max(1e-9)).log10();
        windows += 1;
        if level_db.abs() <= LEVEL_DB && snr >= CLEAN_SNR_DB {
            clean += 1;
            run = 0;
        } else {
            if run == 0 {
                dropouts += 1;
            }
            run += 1;
            longest = longest.max(run);
        }
        start += window;
    }
    Heard {
        clicks_sent,
        clicks_heard: got.len(),
        latencies_ms,
        windows,
        clean,
        dropouts,
        longest_dropout_ms: longest as f64 * 10.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_lowers_the_snr() {
        let n = 24_000;
        let clean: Vec<f32> = (0..n)
            .flat_map(|i| {
                let v = (std::f64::consts::TAU * 441.3 * i as f64 / 48_000.0).sin() as f32 * 0.5;
                [v, v]
            })
            .collect();
        let t = tone(&clean, 440.0);
        assert!((t.frequency - 441.3).abs() < 0.05, "{}", t.frequency);
        assert!(t.snr_db > 50.0, "{t:?}");
        // Add a second tone at a tenth of the amplitude: 20 dB down.
        let noisy: Vec<f32> = clean
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                v + 0.05 * (std::f64::consts::TAU * 1234.0 * (i / 2) as f64 / 48_000.0).sin() as f32
            })
            .collect();
        let t = tone(&noisy, 440.0);
        assert!((t.snr_db - 20.0).abs() < 1.0, "{}", t.snr_db);
        assert_eq!(tone(&[], 440.0).snr_db, f64::NEG_INFINITY);
    }

    /// Four channels: clicks and tone in, the same out `delay` samples later, with a hole of
    /// `hole` samples at `hole_at` in the tone out.
    fn through(delay: usize, hole_at: usize, hole: usize) -> Vec<f32> {
        let n = 48_000 * 3;
        let mut v = vec![0.0f32; n * 4];
        for i in 0..n {
            let click = |i: usize| {
                if i % 24_000 < 48 && i >= 4_800 {
                    0.8
                } else {
                    0.0
                }
            };
            let tone =
                |i: usize| (std::f64::consts::TAU * 660.0 * i as f64 / 48_000.0).sin() as f32 * 0.3;
            v[i * 4] = click(i);
            v[i * 4 + 1] = tone(i);
            if i >= delay {
                v[i * 4 + 2] = click(i - delay);
                v[i * 4 + 3] = if (hole_at..hole_at + hole).contains(&i) {
                    0.0
                } else {
                    tone(i - delay)
                };
            }
        }
        v
    }

    fn measure(v: &[f32]) -> Heard {
        heard(Through {
            samples: v,
            channels: 4,
            clicks_in: 0,
            tone_in: 1,
            clicks_out: 2,
            tone_out: 3,
            tone_hz: 660.0,
            settle: 0,
        })
    }

    #[test]
    fn clicks_give_the_delay_and_the_tone_its_clean_windows() {
        let v = through(1_440, 0, 0);
        let h = measure(&v);
        // Clicks every 0.5 s from 0.5 s; heard 30 ms later.
        assert_eq!(h.clicks_heard, 5, "{h:?}");
        assert_eq!(h.clicks_sent, 5, "{h:?}");
        assert!((h.latency_pct(50.0) - 30.0).abs() < 0.1, "{h:?}");
        assert!(h.windows >= 195 && h.clean == h.windows, "{h:?}");
        assert_eq!(h.dropouts, 0);
    }

    #[test]
    fn a_hole_of_a_millisecond_is_a_dropout() {
        let v = through(1_440, 60_000, 48);
        let h = measure(&v);
        assert_eq!(h.dropouts, 1, "{h:?}");
        assert!(h.windows - h.clean <= 2, "{h:?}");
        assert!(h.longest_dropout_ms <= 20.0);
        // A 40-ms hole: a longer dropout.
        let v = through(1_440, 60_000, 1_920);
        let h = measure(&v);
        assert_eq!(h.dropouts, 1, "{h:?}");
        assert!(h.longest_dropout_ms >= 40.0, "{h:?}");
    }
}
