//! Sound cards, through cpal: capture and playout by device name, 48 kHz, with a configurable
//! device buffer.
//!
//! The device callbacks only copy between the device's buffer and a lock-free ring (`rtrb`) and
//! update atomic counters: no allocation, lock or blocking call runs in them (the first call
//! asks once for real-time scheduling, if the thread does not have it already). Samples that find the capture ring full are
//! dropped and counted; playout that finds its ring empty plays silence and counts an underrun.
//! The rest of the engine reads and writes the rings a frame at a time, and the sound card's
//! clock — not the system's — paces it ([`AudioSource::paced`], [`AudioSink::paced`]).
//!
//! No audio system, no such device, a device that cannot do 48 kHz, or a device unplugged in the
//! middle of a lesson are typed errors or states, never panics: a lesson goes on receive-only,
//! and a device that reports an error stops pacing the engine, which falls back to the clock
//! (silence in, nothing out) instead of spinning. A stall costs the frame it delays (200 ms at
//! most), not the device.

use crate::format::{CHANNELS, SAMPLE_RATE};
use crate::signal::{AudioSink, AudioSource};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no audio system is available ({0})")]
    NoAudio(String),
    #[error("there is no {kind} device named {name:?}; the {kind} devices are: {available}")]
    NotFound {
        kind: &'static str,
        name: String,
        available: String,
    },
    #[error("the {kind} device {name:?} cannot be used at 48 kHz: {reason}")]
    Unsupported {
        kind: &'static str,
        name: String,
        reason: String,
    },
    #[error("the {kind} device {name:?} failed: {reason}")]
    Stream {
        kind: &'static str,
        name: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    pub is_default: bool,
}

/// Which device, and how large a buffer to ask it for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceConfig {
    /// `None`: the system's default device.
    pub name: Option<String>,
    /// Frames per device buffer; `None` lets the device choose. PulseAudio needs a fixed size.
    pub buffer_frames: Option<u32>,
}

/// Counters shared between a device callback and the rest.
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// Captured samples that found the ring full, or waited so long they were stale and were
    /// skipped (capture must not fall behind: every sample of backlog is latency).
    pub dropped: AtomicU64,
    /// Playout callbacks that found too little audio and played silence.
    pub underruns: AtomicU64,
    /// Set when the device reported an error (unplugged, server gone).
    pub failed: AtomicBool,
    /// The largest chunk (interleaved samples) a callback has moved: the real device period,
    /// which may be larger than the one asked for.
    pub largest_chunk: AtomicUsize,
    /// The last callback: its chunk (interleaved samples) and when it came (ns after the
    /// stream's epoch), so a waiting loop can sleep until the next one is due.
    last_chunk: AtomicUsize,
    last_call_ns: AtomicU64,
}

/// Pauses a stream (nobody to send to or hear): true if it is paused. A stream that cannot be
/// paused keeps running, and its loop keeps feeding it.
fn pause(stream: &cpal::Stream, stats: &DeviceStats, name: &str) -> bool {
    if stats.failed.load(Relaxed) {
        return false;
    }
    match stream.pause() {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(device = %name, error = %e, "cannot pause the stream");
            false
        }
    }
}

fn play(stream: &cpal::Stream, stats: &DeviceStats, name: &str) {
    if let Err(e) = stream.play() {
        tracing::warn!(device = %name, error = %e, "the stream does not play again");
        stats.failed.store(true, Relaxed);
    }
}

/// How long a loop waiting on a device sleeps at least and at most between looks.
const POLL_MIN: Duration = Duration::from_micros(250);
const POLL_MAX: Duration = Duration::from_millis(2);

impl DeviceStats {
    /// Notes a callback that moved `len` interleaved samples.
    fn called(&self, len: usize, epoch: Instant) {
        self.largest_chunk.fetch_max(len, Relaxed);
        self.last_chunk.store(len, Relaxed);
        self.last_call_ns
            .store(epoch.elapsed().as_nanos() as u64, Relaxed);
    }

    /// How long to sleep before looking again while waiting on the device: until its next
    /// callback is due (one chunk after the last), within `POLL_MIN`–`POLL_MAX`. Looking every
    /// 250 µs regardless cost 4,000 wake-ups a second per loop.
    fn wait(&self, epoch: Instant, channels: usize) -> Duration {
        let chunk = self.last_chunk.load(Relaxed) / channels.max(1);
        let period = Duration::from_secs_f64(chunk as f64 / f64::from(SAMPLE_RATE));
        let last = epoch + Duration::from_nanos(self.last_call_ns.load(Relaxed));
        // A little after it is due, so that it has come.
        let due = last + period + Duration::from_micros(100);
        due.saturating_duration_since(Instant::now())
            .clamp(POLL_MIN, POLL_MAX)
    }
}

fn name_of(d: &cpal::Device) -> String {
    d.description()
        .map(|desc| desc.name().to_owned())
        .unwrap_or_else(|_| "(unnamed)".to_owned())
}

/// Devices the system has for `kind`; the default one is marked.
fn list(input: bool) -> Result<Vec<DeviceInfo>, DeviceError> {
    let host = cpal::default_host();
    let default = if input {
        host.default_input_device()
    } else {
        host.default_output_device()
    }
    .map(|d| name_of(&d));
    let devices = if input {
        host.input_devices()
    } else {
        host.output_devices()
    }
    .map_err(|e| DeviceError::NoAudio(e.to_string()))?;
    Ok(devices
        .map(|d| {
            let name = name_of(&d);
            DeviceInfo {
                is_default: default.as_deref() == Some(name.as_str()),
                name,
            }
        })
        .collect())
}

pub fn input_devices() -> Result<Vec<DeviceInfo>, DeviceError> {
    list(true)
}

pub fn output_devices() -> Result<Vec<DeviceInfo>, DeviceError> {
    list(false)
}

fn find(input: bool, cfg: &DeviceConfig) -> Result<cpal::Device, DeviceError> {
    let kind = if input { "input" } else { "output" };
    let host = cpal::default_host();
    tracing::info!(host = host.id().name(), kind, "sound system");
    match &cfg.name {
        None => if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        }
        .ok_or_else(|| DeviceError::NoAudio(format!("no default {kind} device"))),
        Some(name) => {
            let devices: Vec<cpal::Device> = if input {
                host.input_devices()
            } else {
                host.output_devices()
            }
            .map_err(|e| DeviceError::NoAudio(e.to_string()))?
            .collect();
            let names: Vec<String> = devices.iter().map(name_of).collect();
            devices
                .into_iter()
                .zip(&names)
                .find(|(_, n)| *n == name)
                .map(|(d, _)| d)
                .ok_or_else(|| DeviceError::NotFound {
                    kind,
                    name: name.clone(),
                    available: if names.is_empty() {
                        "(none)".into()
                    } else {
                        names.join(", ")
                    },
                })
        }
    }
}

/// The channel count to open the device with: stereo if it can, else what it has.
fn stream_config(
    device: &cpal::Device,
    input: bool,
    cfg: &DeviceConfig,
) -> Result<cpal::StreamConfig, DeviceError> {
    let kind = if input { "input" } else { "output" };
    let unsupported = |reason: String| DeviceError::Unsupported {
        kind,
        name: name_of(device),
        reason,
    };
    // With no audio server, a "default" device can still be listed; asking for its configs is
    // where that shows. Detect "no audio" from the error, not from the listing.
    let configs: Vec<cpal::SupportedStreamConfigRange> = if input {
        device.supported_input_configs().map(|c| c.collect())
    } else {
        device.supported_output_configs().map(|c| c.collect())
    }
    .map_err(|e| DeviceError::NoAudio(e.to_string()))?;
    let at_48k = |c: &&cpal::SupportedStreamConfigRange| {
        c.min_sample_rate() <= SAMPLE_RATE
            && c.max_sample_rate() >= SAMPLE_RATE
            && c.sample_format() == cpal::SampleFormat::F32
    };
    let best = configs
        .iter()
        .filter(at_48k)
        .max_by_key(|c| {
            (
                c.channels() == CHANNELS as u16,
                c.channels().min(CHANNELS as u16),
            )
        })
        .ok_or_else(|| {
            unsupported(format!(
                "it offers no 48 kHz float format ({} formats)",
                configs.len()
            ))
        })?;
    Ok(cpal::StreamConfig {
        channels: best.channels(),
        sample_rate: SAMPLE_RATE,
        buffer_size: match cfg.buffer_frames {
            Some(n) => cpal::BufferSize::Fixed(n),
            None => cpal::BufferSize::Default,
        },
    })
}

fn stream_error<'a>(kind: &'static str, name: &'a str) -> impl Fn(String) -> DeviceError + 'a {
    move |reason| DeviceError::Stream {
        kind,
        name: name.to_owned(),
        reason,
    }
}

/// The device, its name, the stream configuration, its channel count, a ring for 0.5 s of its
/// audio, and the counters its callbacks share.
fn prepare(
    input: bool,
    cfg: &DeviceConfig,
) -> Result<
    (
        cpal::Device,
        String,
        cpal::StreamConfig,
        usize,
        Arc<DeviceStats>,
    ),
    DeviceError,
> {
    let device = find(input, cfg)?;
    let name = name_of(&device);
    let config = stream_config(&device, input, cfg)?;
    let channels = usize::from(config.channels).max(1);
    Ok((
        device,
        name,
        config,
        channels,
        Arc::new(DeviceStats::default()),
    ))
}

fn ring_len(channels: usize) -> usize {
    (f64::from(SAMPLE_RATE) * RING_SECONDS) as usize * channels
}

/// Room for this much audio between a device and the engine.
const RING_SECONDS: f64 = 0.5;

/// A microphone (or line in): the capture callback fills a ring; reading waits for the device.
pub struct Capture {
    stream: cpal::Stream,
    ring: rtrb::Consumer<f32>,
    channels: usize,
    /// Interleaved samples the device delivers per callback, when known.
    period: usize,
    stats: Arc<DeviceStats>,
    /// What `DeviceStats`' callback times count from.
    epoch: Instant,
    scratch: Vec<f32>,
    pub name: String,
}

impl Capture {
    pub fn open(cfg: &DeviceConfig) -> Result<Self, DeviceError> {
        let (device, name, config, channels, stats) = prepare(true, cfg)?;
        let period = cfg.buffer_frames.map_or(0, |n| n as usize * channels);
        let (mut producer, ring) = rtrb::RingBuffer::new(ring_len(channels));
        let (s1, s2) = (stats.clone(), stats.clone());
        let mut promoted = false;
        let epoch = Instant::now();
        let stream = device
            .build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], _| {
                    if !promoted {
                        // Once, on the device's own thread, unless the backend made it
                        // real-time already (PipeWire, JACK, CoreAudio do).
                        promoted = true;
                        if !crate::realtime::current_is_realtime() {
                            crate::realtime::promote_current_thread();
                        }
                    }
                    s1.called(data.len(), epoch);
                    // Real-time context: copy what fits, count the rest. Nothing else.
                    let (_, rest) = producer.push_partial_slice(data);
                    if !rest.is_empty() {
                        s1.dropped.fetch_add(rest.len() as u64, Relaxed);
                    }
                },
                move |e| {
                    s2.failed.store(true, Relaxed);
                    tracing::warn!(error = %e, "capture device error");
                },
                None,
            )
            .map_err(|e| stream_error("input", &name)(e.to_string()))?;
        stream
            .play()
            .map_err(|e| stream_error("input", &name)(e.to_string()))?;
        Ok(Self {
            stream,
            ring,
            channels,
            period,
            stats,
            epoch,
            scratch: Vec::new(),
            name,
        })
    }

    pub fn stats(&self) -> &Arc<DeviceStats> {
        &self.stats
    }
}

impl AudioSource for Capture {
    /// Waits for the device to deliver one frame (normally under a frame's time; 200 ms at
    /// most, then that frame is silence). A device that reported an error gives silence at once
    /// and no longer paces the caller, who falls back to the clock.
    fn fill(&mut self, out: &mut [f32]) {
        let frames = out.len() / CHANNELS;
        let need = frames * self.channels;
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.ring.slots() < need {
            if self.stats.failed.load(Relaxed) {
                out.fill(0.0);
                return;
            }
            if Instant::now() > deadline {
                // A stall (sound servers have them): this frame is silence; the next may flow.
                tracing::debug!(device = %self.name, "the microphone stalled for 200 ms");
                out.fill(0.0);
                return;
            }
            std::thread::sleep(self.stats.wait(self.epoch, self.channels));
        }
        // More than a frame and a device period waiting means we fell behind (a burst from the
        // sound server, a stall here): skip the oldest, so what we send is what is played now.
        let period = self.period.max(self.stats.largest_chunk.load(Relaxed));
        let backlog = self.ring.slots().saturating_sub(2 * need.max(period));
        if backlog > 0 {
            let skip = backlog - backlog % self.channels;
            if let Ok(chunk) = self.ring.read_chunk(skip) {
                chunk.commit_all();
                self.stats.dropped.fetch_add(skip as u64, Relaxed);
            }
        }
        self.scratch.resize(need, 0.0);
        let (_, missing) = self.ring.pop_partial_slice(&mut self.scratch);
        missing.fill(0.0);
        for (i, frame) in out.chunks_exact_mut(CHANNELS).enumerate() {
            let src = &self.scratch[i * self.channels..(i + 1) * self.channels];
            match src {
                [mono] => frame.fill(*mono),
                [l, r, ..] => {
                    frame[0] = *l;
                    frame[1] = *r;
                }
                [] => frame.fill(0.0),
            }
        }
    }

    fn paced(&self) -> bool {
        !self.stats.failed.load(Relaxed)
    }

    fn suspend(&mut self) -> bool {
        pause(&self.stream, &self.stats, &self.name)
    }

    /// Plays again, from now: what was captured before the pause is stale.
    fn resume(&mut self) {
        play(&self.stream, &self.stats, &self.name);
        let stale = self.ring.slots();
        if let Ok(chunk) = self.ring.read_chunk(stale) {
            chunk.commit_all();
        }
    }
}

/// Headphones or speakers: writing fills a ring the playout callback drains.
pub struct Playback {
    stream: cpal::Stream,
    ring: rtrb::Producer<f32>,
    channels: usize,
    stats: Arc<DeviceStats>,
    /// What `DeviceStats`' callback times count from.
    epoch: Instant,
    scratch: Vec<f32>,
    /// Interleaved samples the device takes per callback (its period), when known.
    period: usize,
    pub name: String,
}

impl Playback {
    pub fn open(cfg: &DeviceConfig) -> Result<Self, DeviceError> {
        let (device, name, config, channels, stats) = prepare(false, cfg)?;
        let period = cfg.buffer_frames.map_or(0, |n| n as usize * channels);
        let (ring, mut consumer) = rtrb::RingBuffer::new(ring_len(channels));
        let (s1, s2) = (stats.clone(), stats.clone());
        let mut promoted = false;
        let epoch = Instant::now();
        let stream = device
            .build_output_stream::<f32, _, _>(
                config,
                move |data: &mut [f32], _| {
                    if !promoted {
                        promoted = true;
                        if !crate::realtime::current_is_realtime() {
                            crate::realtime::promote_current_thread();
                        }
                    }
                    // Real-time context: copy what is there, silence for the rest.
                    let (_, missing) = consumer.pop_partial_slice(data);
                    if !missing.is_empty() {
                        missing.fill(0.0);
                        s1.underruns.fetch_add(1, Relaxed);
                    }
                    s1.called(data.len(), epoch);
                },
                move |e| {
                    s2.failed.store(true, Relaxed);
                    tracing::warn!(error = %e, "playout device error");
                },
                None,
            )
            .map_err(|e| stream_error("output", &name)(e.to_string()))?;
        stream
            .play()
            .map_err(|e| stream_error("output", &name)(e.to_string()))?;
        Ok(Self {
            stream,
            ring,
            channels,
            stats,
            epoch,
            scratch: Vec::new(),
            period,
            name,
        })
    }

    pub fn stats(&self) -> &Arc<DeviceStats> {
        &self.stats
    }

    /// Interleaved samples waiting for the device.
    fn queued(&self) -> usize {
        self.ring.buffer().capacity() - self.ring.slots()
    }
}

impl AudioSink for Playback {
    /// Waits until no more than one device period (the largest the device has taken so far, or
    /// the one asked for) waits ahead of the device, then queues the frame, so the device finds
    /// a full period, and little more, when it calls. A device that stalls for 200 ms costs this
    /// frame; one that reported an error drops frames at once and no longer paces the caller. A failed device drops it: the lesson goes on without sound.
    fn write(&mut self, frames: &[f32]) {
        let n = frames.len() / CHANNELS;
        self.scratch.clear();
        for frame in frames.chunks_exact(CHANNELS) {
            match self.channels {
                1 => self.scratch.push((frame[0] + frame[1]) * 0.5),
                c => {
                    self.scratch.extend_from_slice(frame);
                    self.scratch.extend(std::iter::repeat_n(0.0, c - CHANNELS));
                }
            }
        }
        let target = self
            .period
            .max(self.stats.largest_chunk.load(Relaxed))
            .max(n * self.channels);
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.queued() > target {
            if self.stats.failed.load(Relaxed) {
                return;
            }
            if Instant::now() > deadline {
                tracing::debug!(device = %self.name, "the speaker stalled for 200 ms");
                return;
            }
            std::thread::sleep(self.stats.wait(self.epoch, self.channels));
        }
        let (_, rest) = self.ring.push_partial_slice(&self.scratch);
        if !rest.is_empty() {
            self.stats.dropped.fetch_add(rest.len() as u64, Relaxed);
        }
    }

    fn paced(&self) -> bool {
        !self.stats.failed.load(Relaxed)
    }

    fn suspend(&mut self) -> bool {
        pause(&self.stream, &self.stats, &self.name)
    }

    fn resume(&mut self) {
        play(&self.stream, &self.stats, &self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_loop_sleeps_until_the_next_callback_is_due() {
        let epoch = Instant::now();
        let stats = DeviceStats::default();
        // No callback yet: look again soon.
        assert_eq!(stats.wait(epoch, 2), POLL_MIN);
        // A callback of 1 ms (48 stereo frames) just came: the next is due in about 1.1 ms.
        stats.called(48 * 2, epoch);
        let w = stats.wait(epoch, 2);
        assert!(
            w > Duration::from_micros(600) && w <= Duration::from_micros(1100),
            "{w:?}"
        );
        // Large chunks: never more than POLL_MAX between looks.
        stats.called(480 * 2 * 10, epoch);
        assert_eq!(stats.wait(epoch, 2), POLL_MAX);
        // A callback long overdue (the device stalled): look often.
        let now = Instant::now();
        stats.called(48 * 2, now);
        assert_eq!(stats.wait(now - Duration::from_millis(50), 2), POLL_MIN);
    }
}
