//! The one audio format inside Tutti: 48 kHz, stereo, interleaved f32 (Opus's native rate, and
//! the rate every sound card offers). Frames are 2.5, 5, 10 or 20 ms.

use std::time::Duration;

pub const SAMPLE_RATE: u32 = 48_000;
pub const CHANNELS: usize = 2;

/// How much audio one Opus packet carries. Shorter frames mean less latency and more packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FrameDuration {
    Ms2_5,
    #[default]
    Ms5,
    Ms10,
    Ms20,
}

impl FrameDuration {
    pub const ALL: [FrameDuration; 4] = [Self::Ms2_5, Self::Ms5, Self::Ms10, Self::Ms20];

    /// Samples per channel in one frame at 48 kHz.
    pub const fn samples(self) -> usize {
        match self {
            Self::Ms2_5 => 120,
            Self::Ms5 => 240,
            Self::Ms10 => 480,
            Self::Ms20 => 960,
        }
    }

    /// Interleaved values in one stereo frame.
    pub const fn interleaved(self) -> usize {
        self.samples() * CHANNELS
    }

    pub fn duration(self) -> Duration {
        Duration::from_micros(self.samples() as u64 * 1_000_000 / SAMPLE_RATE as u64)
    }

    pub fn millis(self) -> f64 {
        self.samples() as f64 * 1000.0 / SAMPLE_RATE as f64
    }

    /// From milliseconds as people write them: 2.5, 5, 10, 20.
    pub fn from_millis(ms: f64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| (f.millis() - ms).abs() < 1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes() {
        assert_eq!(FrameDuration::Ms2_5.samples(), 120);
        assert_eq!(FrameDuration::Ms2_5.duration(), Duration::from_micros(2500));
        assert_eq!(FrameDuration::Ms20.interleaved(), 1920);
        assert_eq!(FrameDuration::from_millis(2.5), Some(FrameDuration::Ms2_5));
        assert_eq!(FrameDuration::from_millis(7.0), None);
    }
}
