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
}
