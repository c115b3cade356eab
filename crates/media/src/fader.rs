//! One participant's channel in our own mix: how loud, where between the ears, and whether we
//! hear them at all. For us only: nothing of it reaches the others, the recording or the
//! replays (those keep each part as it arrived).

use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};

/// Loudest a fader goes: +6 dB, for a quiet instrument on a far microphone.
pub const MAX_VOLUME: f32 = 2.0;

/// A participant's fader as set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fader {
    /// Linear gain, 0 to [`MAX_VOLUME`]; 1 leaves them as they arrive.
    pub volume: f32,
    /// −1 all left, 0 centre, 1 all right.
    pub pan: f32,
    /// Not heard here (still metered, so one sees who is playing).
    pub muted: bool,
}

impl Default for Fader {
    fn default() -> Self {
        Self {
            volume: 1.0,
            pan: 0.0,
            muted: false,
        }
    }
}

/// Why a fader setting was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FaderError {
    #[error("volume {0} is outside 0–{MAX_VOLUME}")]
    Volume(f32),
    #[error("pan {0} is outside −1–1")]
    Pan(f32),
}

impl Fader {
    /// The same, or why not (NaN included).
    pub fn checked(self) -> Result<Self, FaderError> {
        if !(0.0..=MAX_VOLUME).contains(&self.volume) {
            return Err(FaderError::Volume(self.volume));
        }
        if !(-1.0..=1.0).contains(&self.pan) {
            return Err(FaderError::Pan(self.pan));
        }
        Ok(self)
    }

    /// The gain of each ear. A balance, not a panner: the sources are already stereo (or mono
    /// in both channels), so turning one way only lowers the other side, never raises this
    /// one: centred at unity is exactly as sent (a volume above 1 raises both, and can clip).
    pub fn gains(&self) -> (f32, f32) {
        if self.muted {
            return (0.0, 0.0);
        }
        let left = (1.0 - self.pan).min(1.0);
        let right = (1.0 + self.pan).min(1.0);
        (self.volume * left, self.volume * right)
    }

    /// Adds `frame` (interleaved stereo) into `mix` through this fader.
    pub fn mix_into(&self, frame: &[f32], mix: &mut [f32]) {
        let (l, r) = self.gains();
        if l == 0.0 && r == 0.0 {
            return;
        }
        for (out, inp) in mix.chunks_exact_mut(2).zip(frame.chunks_exact(2)) {
            out[0] += inp[0] * l;
            out[1] += inp[1] * r;
        }
    }
}

impl Fader {
    /// As [`Fader::mix_into`], with the gains moving in a straight line from `from` (what they
    /// were last frame) to this fader's across the frame, so that a fader dragged or a mute
    /// pressed mid-note does not click; returns the gains reached.
    pub fn mix_into_from(&self, from: (f32, f32), frame: &[f32], mix: &mut [f32]) -> (f32, f32) {
        let to = self.gains();
        if from == to {
            self.mix_into(frame, mix);
            return to;
        }
        let n = (frame.len() / 2).max(1) as f32;
        for (i, (out, inp)) in mix
            .chunks_exact_mut(2)
            .zip(frame.chunks_exact(2))
            .enumerate()
        {
            let k = (i + 1) as f32 / n;
            out[0] += inp[0] * (from.0 + (to.0 - from.0) * k);
            out[1] += inp[1] * (from.1 + (to.1 - from.1) * k);
        }
        to
    }
}

/// A fader shared between whoever sets it and the playout thread, which reads it every frame
/// without a lock.
#[derive(Debug)]
pub struct SharedFader {
    volume: AtomicU32,
    pan: AtomicU32,
    muted: AtomicBool,
}

impl Default for SharedFader {
    fn default() -> Self {
        Self::new(Fader::default())
    }
}

impl SharedFader {
    pub fn new(f: Fader) -> Self {
        Self {
            volume: AtomicU32::new(f.volume.to_bits()),
            pan: AtomicU32::new(f.pan.to_bits()),
            muted: AtomicBool::new(f.muted),
        }
    }

    pub fn set(&self, f: Fader) {
        self.volume.store(f.volume.to_bits(), Relaxed);
        self.pan.store(f.pan.to_bits(), Relaxed);
        self.muted.store(f.muted, Relaxed);
    }

    /// As last set (a setting changed this instant may be read half old, half new for one
    /// frame: each field on its own is always whole).
    pub fn get(&self) -> Fader {
        Fader {
            volume: f32::from_bits(self.volume.load(Relaxed)),
            pan: f32::from_bits(self.pan.load(Relaxed)),
            muted: self.muted.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed(f: Fader, frame: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; frame.len()];
        f.mix_into(frame, &mut out);
        out
    }

    #[test]
    fn centred_at_unity_is_exactly_what_arrived() {
        let frame = [0.5, -0.25, 0.125, 1.0];
        assert_eq!(mixed(Fader::default(), &frame), frame);
    }

    #[test]
    fn muted_adds_nothing() {
        let f = Fader {
            muted: true,
            ..Fader::default()
        };
        let mut out = vec![0.1, 0.2];
        f.mix_into(&[0.9, 0.9], &mut out);
        assert_eq!(out, [0.1, 0.2]);
    }

    #[test]
    fn the_pan_lowers_the_far_side_and_never_raises_the_near_one() {
        let left = Fader {
            pan: -1.0,
            ..Fader::default()
        };
        assert_eq!(mixed(left, &[0.5, 0.5]), [0.5, 0.0]);
        let half_right = Fader {
            pan: 0.5,
            ..Fader::default()
        };
        assert_eq!(mixed(half_right, &[0.5, 0.5]), [0.25, 0.5]);
    }

    #[test]
    fn the_volume_scales_both_ears() {
        let f = Fader {
            volume: 0.5,
            pan: 0.0,
            muted: false,
        };
        assert_eq!(mixed(f, &[0.5, -0.5]), [0.25, -0.25]);
    }

    #[test]
    fn settings_out_of_range_or_nan_are_refused() {
        let ok = Fader {
            volume: MAX_VOLUME,
            pan: -1.0,
            muted: false,
        };
        assert_eq!(ok.checked(), Ok(ok));
        for bad in [
            Fader { volume: -0.1, ..ok },
            Fader {
                volume: f32::NAN,
                ..ok
            },
            Fader { volume: 2.1, ..ok },
            Fader { pan: 1.5, ..ok },
            Fader {
                pan: f32::NAN,
                ..ok
            },
        ] {
            assert!(bad.checked().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_moved_fader_glides_over_one_frame_and_then_holds() {
        let muted = Fader {
            muted: true,
            ..Fader::default()
        };
        let frame = [1.0f32; 8]; // four stereo samples
        let mut out = vec![0.0; 8];
        let reached = muted.mix_into_from((1.0, 1.0), &frame, &mut out);
        assert_eq!(reached, (0.0, 0.0));
        // 3/4, 1/2, 1/4, 0: no step from full to nothing.
        assert_eq!(out, [0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0.0, 0.0]);
        let mut out = vec![0.0; 8];
        assert_eq!(muted.mix_into_from(reached, &frame, &mut out), reached);
        assert_eq!(out, [0.0; 8]);
    }

    #[test]
    fn a_shared_fader_reads_back_what_was_set() {
        let s = SharedFader::default();
        assert_eq!(s.get(), Fader::default());
        let f = Fader {
            volume: 0.3,
            pan: 0.7,
            muted: true,
        };
        s.set(f);
        assert_eq!(s.get(), f);
    }
}
