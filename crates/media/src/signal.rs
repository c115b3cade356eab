//! Synthetic sources and sinks behind the same interfaces as devices, so every test and
//! benchmark runs without hardware. All audio is 48 kHz interleaved stereo f32.

use crate::format::{CHANNELS, SAMPLE_RATE};
use std::path::Path;

/// Something that produces audio, frame by frame.
pub trait AudioSource: Send {
    /// Fills `out` (interleaved stereo) with the next samples.
    fn fill(&mut self, out: &mut [f32]);

    /// True when `fill` waits for the audio to exist (a sound card), so the caller must not
    /// pace itself by the clock as well.
    fn paced(&self) -> bool {
        false
    }

    /// Stops delivering (a sound card's stream paused) while nobody would hear it; true if it
    /// did, and then `fill` must not be called until `resume`.
    fn suspend(&mut self) -> bool {
        false
    }

    fn resume(&mut self) {}

    /// How long sound takes from the air to `fill` (a sound card's and its server's buffers),
    /// when known.
    fn delay(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Something that consumes audio.
pub trait AudioSink: Send {
    fn write(&mut self, frames: &[f32]);

    /// True when `write` waits until the audio is wanted (a sound card), so the caller must
    /// not pace itself by the clock as well.
    fn paced(&self) -> bool {
        false
    }

    /// Stops playing (a sound card's stream paused) while there is nothing to play; true if it
    /// did, and then `write` must not be called until `resume`.
    fn suspend(&mut self) -> bool {
        false
    }

    fn resume(&mut self) {}

    /// How long sound takes from `write` to the air, when known (a sound card whose server
    /// is stalled cannot say until it answers again).
    fn delay(&self) -> Option<std::time::Duration> {
        None
    }

    /// How far the device's timeline has slipped from what was written, in frames, in all:
    /// up for silence it played in our place (an underrun), down for frames written that never
    /// reached it (a stall). Everything written after a slip is heard that much later (or
    /// earlier), at once: the frame `n` written is the device's `n + slip`.
    fn slip(&self) -> i64 {
        0
    }
}

impl<S: AudioSource + ?Sized> AudioSource for Box<S> {
    fn fill(&mut self, out: &mut [f32]) {
        (**self).fill(out);
    }

    fn paced(&self) -> bool {
        (**self).paced()
    }

    fn suspend(&mut self) -> bool {
        (**self).suspend()
    }

    fn resume(&mut self) {
        (**self).resume();
    }

    fn delay(&self) -> Option<std::time::Duration> {
        (**self).delay()
    }
}

impl<S: AudioSink + ?Sized> AudioSink for Box<S> {
    fn write(&mut self, frames: &[f32]) {
        (**self).write(frames);
    }

    fn paced(&self) -> bool {
        (**self).paced()
    }

    fn suspend(&mut self) -> bool {
        (**self).suspend()
    }

    fn resume(&mut self) {
        (**self).resume();
    }

    fn delay(&self) -> Option<std::time::Duration> {
        (**self).delay()
    }

    fn slip(&self) -> i64 {
        (**self).slip()
    }
}

/// Passes a source through, or silence while muted (the mute button). The source is still read,
/// so a sound card keeps its pace and the stream its timing on the far side.
pub struct Gate<S> {
    inner: S,
    muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<S: AudioSource> Gate<S> {
    /// The gate and the switch that mutes it (`true`: muted).
    pub fn new(inner: S) -> (Self, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let muted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Self {
                inner,
                muted: muted.clone(),
            },
            muted,
        )
    }
}

impl<S: AudioSource> AudioSource for Gate<S> {
    fn fill(&mut self, out: &mut [f32]) {
        self.inner.fill(out);
        if self.muted.load(std::sync::atomic::Ordering::Relaxed) {
            out.fill(0.0);
        }
    }

    fn paced(&self) -> bool {
        self.inner.paced()
    }

    fn suspend(&mut self) -> bool {
        self.inner.suspend()
    }

    fn resume(&mut self) {
        self.inner.resume();
    }
}

/// Keeps what is played in memory, with the moment each frame was ready; clones share it, so
/// one can read while a playout loop writes.
#[derive(Clone, Default)]
pub struct MemorySink(std::sync::Arc<std::sync::Mutex<Recorded>>);

#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub samples: Vec<f32>,
    /// When each written block was ready for the sound card, with its first sample's position.
    pub blocks: Vec<(u64, std::time::Instant)>,
}

impl MemorySink {
    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl AudioSink for MemorySink {
    fn write(&mut self, frames: &[f32]) {
        let mut r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let pos = (r.samples.len() / CHANNELS) as u64;
        r.blocks.push((pos, std::time::Instant::now()));
        r.samples.extend_from_slice(frames);
    }
}

impl Recorded {
    /// When the sample at stream position `pos` was ready: its block's time plus its offset.
    pub fn ready_at(&self, pos: u64) -> Option<std::time::Instant> {
        let i = self
            .blocks
            .partition_point(|(p, _)| *p <= pos)
            .checked_sub(1)?;
        let (start, at) = self.blocks[i];
        Some(at + std::time::Duration::from_secs_f64((pos - start) as f64 / f64::from(SAMPLE_RATE)))
    }
}

pub struct Silence;

impl AudioSource for Silence {
    fn fill(&mut self, out: &mut [f32]) {
        out.fill(0.0);
    }
}

/// A pure tone on both channels.
pub struct Sine {
    step: f64,
    phase: f64,
    amplitude: f32,
}

impl Sine {
    pub fn new(frequency: f64, amplitude: f32) -> Self {
        Self {
            step: std::f64::consts::TAU * frequency / f64::from(SAMPLE_RATE),
            phase: 0.0,
            amplitude,
        }
    }
}

impl AudioSource for Sine {
    fn fill(&mut self, out: &mut [f32]) {
        for frame in out.chunks_exact_mut(CHANNELS) {
            let v = self.amplitude * self.phase.sin() as f32;
            frame.fill(v);
            self.phase = (self.phase + self.step) % std::f64::consts::TAU;
        }
    }
}

/// Short clicks (1 ms half-sine pulses) at a fixed interval, silence between: a latency probe.
/// Click `k` starts at sample `offset + k * interval` of the stream.
pub struct ClickTrain {
    interval: u64,
    offset: u64,
    pos: u64,
    amplitude: f32,
}

/// A click lasts 1 ms.
pub const CLICK_SAMPLES: u64 = 48;

impl ClickTrain {
    pub fn new(interval_ms: u32, amplitude: f32) -> Self {
        // 17 samples more than asked: no frame size divides the interval, so successive clicks
        // fall at every position within a frame, and a latency measurement sees them all.
        let interval = u64::from(interval_ms) * u64::from(SAMPLE_RATE) / 1000 + 17;
        Self {
            interval: interval.max(CLICK_SAMPLES * 2),
            // Not frame-aligned, so the measurement covers every position in a frame.
            offset: 1_000 + 37,
            pos: 0,
            amplitude,
        }
    }

    /// Stream position (samples per channel) where click `k` starts.
    pub fn click_at(&self, k: u64) -> u64 {
        self.offset + k * self.interval
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Samples produced so far (per channel).
    pub fn position(&self) -> u64 {
        self.pos
    }
}

impl AudioSource for ClickTrain {
    fn fill(&mut self, out: &mut [f32]) {
        for frame in out.chunks_exact_mut(CHANNELS) {
            let v = if self.pos >= self.offset {
                let into = (self.pos - self.offset) % self.interval;
                if into < CLICK_SAMPLES {
                    self.amplitude
                        * (std::f32::consts::PI * into as f32 / CLICK_SAMPLES as f32).sin()
                } else {
                    0.0
                }
            } else {
                0.0
            };
            frame.fill(v);
            self.pos += 1;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("WAV file {path}: {source}")]
    Io { path: String, source: hound::Error },
    #[error("WAV file {path} is {rate} Hz; Tutti plays 48000 Hz files")]
    SampleRate { path: String, rate: u32 },
    #[error("WAV file {path} has {channels} channels; mono or stereo only")]
    Channels { path: String, channels: u16 },
}

/// A WAV file (48 kHz, mono or stereo, 16/24/32-bit or float), played in a loop.
pub struct WavSource {
    samples: Vec<f32>,
    pos: usize,
}

impl WavSource {
    pub fn open(path: &Path) -> Result<Self, WavError> {
        let name = path.display().to_string();
        let io = |source| WavError::Io {
            path: name.clone(),
            source,
        };
        let mut reader = hound::WavReader::open(path).map_err(io)?;
        let spec = reader.spec();
        if spec.sample_rate != SAMPLE_RATE {
            return Err(WavError::SampleRate {
                path: name,
                rate: spec.sample_rate,
            });
        }
        if !(1..=2).contains(&spec.channels) {
            return Err(WavError::Channels {
                path: name,
                channels: spec.channels,
            });
        }
        let raw: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader
                .samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(io)?,
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(io)?
            }
        };
        let samples = if spec.channels == 1 {
            raw.iter().flat_map(|&s| [s, s]).collect()
        } else {
            raw
        };
        Ok(Self { samples, pos: 0 })
    }

    /// The whole file, interleaved stereo.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }
}

impl AudioSource for WavSource {
    fn fill(&mut self, out: &mut [f32]) {
        if self.samples.is_empty() {
            out.fill(0.0);
            return;
        }
        for s in out {
            *s = self.samples[self.pos];
            self.pos = (self.pos + 1) % self.samples.len();
        }
    }
}

/// Writes 48 kHz stereo float WAV.
pub struct WavSink {
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
    path: String,
}

impl WavSink {
    pub fn create(path: &Path) -> Result<Self, WavError> {
        let spec = hound::WavSpec {
            channels: CHANNELS as u16,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let name = path.display().to_string();
        let writer = hound::WavWriter::create(path, spec).map_err(|source| WavError::Io {
            path: name.clone(),
            source,
        })?;
        Ok(Self {
            writer: Some(writer),
            path: name,
        })
    }

    /// Writes the header's final length. Dropping does this too, but cannot report errors.
    pub fn finish(mut self) -> Result<(), WavError> {
        match self.writer.take() {
            Some(w) => w.finalize().map_err(|source| WavError::Io {
                path: self.path.clone(),
                source,
            }),
            None => Ok(()),
        }
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, frames: &[f32]) {
        if let Some(w) = &mut self.writer {
            for &s in frames {
                if w.write_sample(s).is_err() {
                    tracing::warn!(path = %self.path, "recording stopped: cannot write");
                    self.writer = None;
                    return;
                }
            }
        }
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.finalize();
        }
    }
}

pub struct NullSink;

impl AudioSink for NullSink {
    fn write(&mut self, _frames: &[f32]) {}
}

/// Finds click onsets: the first sample above the threshold after a quiet refractory time.
/// Reports stream positions (samples per channel since the detector started).
pub struct ClickDetector {
    threshold: f32,
    refractory: u64,
    pos: u64,
    last: Option<u64>,
    onsets: Vec<u64>,
}

impl ClickDetector {
    pub fn new(threshold: f32, refractory_ms: u32) -> Self {
        Self {
            threshold,
            refractory: u64::from(refractory_ms) * u64::from(SAMPLE_RATE) / 1000,
            pos: 0,
            last: None,
            onsets: Vec::new(),
        }
    }

    pub fn onsets(&self) -> &[u64] {
        &self.onsets
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Looks at `frames`; returns the onsets found in them.
    pub fn scan(&mut self, frames: &[f32]) -> &[u64] {
        let before = self.onsets.len();
        for frame in frames.chunks_exact(CHANNELS) {
            let peak = frame.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            if peak > self.threshold && self.last.is_none_or(|l| self.pos - l >= self.refractory) {
                self.onsets.push(self.pos);
                self.last = Some(self.pos);
            }
            self.pos += 1;
        }
        &self.onsets[before..]
    }
}

impl AudioSink for ClickDetector {
    fn write(&mut self, frames: &[f32]) {
        self.scan(frames);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_silences_only_while_muted() {
        let (mut gate, muted) = Gate::new(Sine::new(440.0, 0.5));
        let mut buf = vec![0.0f32; 480];
        gate.fill(&mut buf);
        assert!(buf.iter().any(|s| s.abs() > 0.1));
        muted.store(true, std::sync::atomic::Ordering::Relaxed);
        gate.fill(&mut buf);
        assert!(buf.iter().all(|s| *s == 0.0));
        muted.store(false, std::sync::atomic::Ordering::Relaxed);
        gate.fill(&mut buf);
        assert!(buf.iter().any(|s| s.abs() > 0.1));
    }
    use crate::analysis::tone;

    #[test]
    fn sine_is_the_requested_tone() {
        let mut buf = vec![0.0; 48_000 * 2];
        Sine::new(440.0, 0.5).fill(&mut buf);
        let t = tone(&buf, 440.0);
        assert!((t.frequency - 440.0).abs() < 0.1, "{}", t.frequency);
        assert!(t.snr_db > 60.0, "{}", t.snr_db);
        assert!(buf.chunks(2).all(|f| f[0] == f[1]));
    }

    #[test]
    fn the_detector_finds_every_click_where_the_train_put_it() {
        let mut train = ClickTrain::new(100, 0.8);
        let mut det = ClickDetector::new(0.3, 50);
        let mut buf = vec![0.0; 240 * 2];
        for _ in 0..200 {
            train.fill(&mut buf);
            det.write(&buf);
        }
        let expected: Vec<u64> = (0..10)
            .map(|k| train.click_at(k))
            .filter(|&p| p < train.position())
            .collect();
        // The half-sine crosses 0.3 a few samples after it starts.
        let found: Vec<u64> = det.onsets().to_vec();
        assert_eq!(found.len(), expected.len());
        for (f, e) in found.iter().zip(&expected) {
            assert!(f >= e && f - e < 8, "onset {f}, click at {e}");
        }
    }

    #[test]
    fn wav_files_round_trip_and_bad_ones_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        let mut sink = WavSink::create(&path).unwrap();
        let mut buf = vec![0.0; 4800];
        Sine::new(1000.0, 0.25).fill(&mut buf);
        sink.write(&buf);
        sink.finish().unwrap();
        let mut src = WavSource::open(&path).unwrap();
        let mut back = vec![0.0; 4800];
        src.fill(&mut back);
        assert_eq!(back, buf);

        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let cd = dir.path().join("cd.wav");
        hound::WavWriter::create(&cd, spec)
            .unwrap()
            .finalize()
            .unwrap();
        assert!(matches!(
            WavSource::open(&cd),
            Err(WavError::SampleRate { rate: 44_100, .. })
        ));
        assert!(matches!(
            WavSource::open(&dir.path().join("missing.wav")),
            Err(WavError::Io { .. })
        ));
        std::fs::write(dir.path().join("junk.wav"), b"not a wav").unwrap();
        assert!(matches!(
            WavSource::open(&dir.path().join("junk.wav")),
            Err(WavError::Io { .. })
        ));
    }

    #[test]
    fn mono_16_bit_files_are_widened_to_stereo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        w.write_sample(16_384i16).unwrap();
        w.write_sample(-32_768i16).unwrap();
        w.finalize().unwrap();
        let mut out = [0.0; 4];
        WavSource::open(&path).unwrap().fill(&mut out);
        assert_eq!(out, [0.5, 0.5, -1.0, -1.0]);
    }
}
