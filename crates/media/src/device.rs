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
    #[error(
        "no JACK server is running for this user (start jackd, or PipeWire with its JACK \
         interface), so there is no JACK {kind}"
    )]
    NoJackServer { kind: &'static str },
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
    pub host: AudioHost,
}

/// Which audio system to open devices through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AudioHost {
    /// PulseAudio's native protocol where a server (PulseAudio or PipeWire) listens, else
    /// the platform's own through cpal (ALSA, CoreAudio, WASAPI).
    #[default]
    Auto,
    /// PulseAudio's native protocol, or an error.
    PulseAudio,
    /// cpal's default host (on Linux: its PulseAudio host, else ALSA).
    Cpal,
    /// JACK (jackd, or PipeWire's JACK interface), for musicians who route their sound through
    /// it: the server sets the period and the sample rate (which must be 48 kHz), and Tutti's
    /// ports are connected to the system's capture and playback ports. The client library is
    /// loaded when this is chosen, so a machine without JACK only gets an error for it.
    Jack,
}

/// What a choice of host comes to on this machine: what opens the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opener {
    Pulse,
    Cpal,
    Jack,
}

impl AudioHost {
    /// What opens the devices: our own PulseAudio client, cpal's default host, or cpal's JACK
    /// host. `TUTTI_AUDIO_HOST=cpal` (or `pulseaudio`, `jack`) in the environment decides for
    /// `Auto`: a way out for a user whose sound server misbehaves with one of them.
    fn backend(self) -> Result<Opener, DeviceError> {
        let chosen = match (self, std::env::var("TUTTI_AUDIO_HOST").as_deref()) {
            (Self::Auto, Ok("cpal")) => Self::Cpal,
            (Self::Auto, Ok("pulseaudio")) => Self::PulseAudio,
            (Self::Auto, Ok("jack")) => Self::Jack,
            (other, _) => other,
        };
        match chosen {
            #[cfg(target_os = "linux")]
            Self::Auto => Ok(if crate::pulse::available() {
                Opener::Pulse
            } else {
                Opener::Cpal
            }),
            #[cfg(target_os = "linux")]
            Self::PulseAudio => crate::pulse::available()
                .then_some(Opener::Pulse)
                .ok_or_else(|| {
                    DeviceError::NoAudio("no PulseAudio or PipeWire server for this user".into())
                }),
            #[cfg(not(target_os = "linux"))]
            Self::Auto => Ok(Opener::Cpal),
            #[cfg(not(target_os = "linux"))]
            Self::PulseAudio => Err(DeviceError::NoAudio(
                "PulseAudio is only used on Linux".into(),
            )),
            Self::Cpal => Ok(Opener::Cpal),
            Self::Jack => Ok(Opener::Jack),
        }
    }
}

/// Counters shared between a device callback and the rest.
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// Captured samples that found the ring full, or waited so long they were stale and were
    /// skipped (capture must not fall behind: every sample of backlog is latency).
    pub dropped: AtomicU64,
    /// Playout callbacks that found too little audio and played silence.
    pub underruns: AtomicU64,
    /// Interleaved samples of silence those callbacks played in our place.
    silence: AtomicU64,
    /// Set when the device reported an error (unplugged, server gone).
    pub failed: AtomicBool,
    /// The largest chunk (interleaved samples) a callback has moved: the real device period,
    /// which may be larger than the one asked for.
    pub largest_chunk: AtomicUsize,
    /// The largest chunk since a capture reader last looked (it looks every few seconds).
    recent_chunk: AtomicUsize,
    /// Times a device made a loop wait 200 ms for it, or a bursty microphone ran dry.
    pub stalls: AtomicU64,
    /// The last callback: its chunk (interleaved samples) and when it came (ns after the
    /// stream's epoch), so a waiting loop can sleep until the next one is due.
    last_chunk: AtomicUsize,
    last_call_ns: AtomicU64,
    /// Audio the sound server holds for the stream, the device's own buffer included, in µs
    /// (0: not known).
    device_latency_us: AtomicU64,
    /// Interleaved samples the callbacks have moved in all (silence for an underrun included).
    moved: AtomicU64,
    /// A playback stream's sound server, when it last said: at what moment (ours), how many
    /// frames it had had from us by then, and how long until the last of them is heard.
    server_said: std::sync::Mutex<Option<(Instant, u64, Duration)>>,
}

/// The stream a device is open with: cpal's, or our own PulseAudio client's.
enum Backend {
    Cpal(cpal::Stream),
    #[cfg(target_os = "linux")]
    Pulse(crate::pulse::Stream),
}

impl Backend {
    fn pause(&self) -> Result<(), String> {
        match self {
            Self::Cpal(s) => s.pause().map_err(|e| e.to_string()),
            #[cfg(target_os = "linux")]
            Self::Pulse(s) => s.pause(),
        }
    }

    fn play(&self) -> Result<(), String> {
        match self {
            Self::Cpal(s) => s.play().map_err(|e| e.to_string()),
            #[cfg(target_os = "linux")]
            Self::Pulse(s) => s.play(),
        }
    }
}

/// Pauses a stream (nobody to send to or hear): true if it is paused. A stream that cannot be
/// paused keeps running, and its loop keeps feeding it.
fn pause(stream: &Backend, stats: &DeviceStats, name: &str) -> bool {
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

fn play(stream: &Backend, stats: &DeviceStats, name: &str) {
    if let Err(e) = stream.play() {
        tracing::warn!(device = %name, error = %e, "the stream does not play again");
        stats.failed.store(true, Relaxed);
    }
}

/// What a cpal stream's error callback says. Only a stream that is gone fails the device; an
/// xrun (JACK and ALSA report every one: a period missed on a busy machine) or a rerouting is
/// a glitch, counted as a stall. Failing the device on an xrun silenced a JACK microphone for
/// the rest of the lesson.
fn stream_trouble(stats: &DeviceStats, e: &cpal::Error, kind: &'static str) {
    use cpal::ErrorKind as K;
    match e.kind() {
        K::Xrun | K::DeviceChanged | K::RealtimeDenied | K::DeviceBusy => {
            stats.stalls.fetch_add(1, Relaxed);
            tracing::debug!(error = %e, "{kind} device glitch");
        }
        _ => {
            stats.failed.store(true, Relaxed);
            tracing::warn!(error = %e, "{kind} device error");
        }
    }
}

/// How long a loop waiting on a device sleeps at least and at most between looks.
const POLL_MIN: Duration = Duration::from_micros(250);
const POLL_MAX: Duration = Duration::from_millis(2);

impl DeviceStats {
    pub(crate) fn set_device_latency(&self, d: Duration) {
        self.device_latency_us
            .store(d.as_micros().max(1) as u64, Relaxed);
    }

    /// What the sound server holds for the stream (its device included), when it says.
    pub fn device_latency(&self) -> Option<Duration> {
        match self.device_latency_us.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// The sound server said at `at` that the `frames`-th frame we gave it will be heard
    /// `until` later.
    pub(crate) fn server_said(&self, at: Instant, frames: u64, until: Duration) {
        *self.server_said.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, frames, until));
    }

    /// How long until the last frame the callbacks have handed over is heard, now: what the
    /// server last said, plus what it got since, less the time that has passed (libpulse's
    /// interpolation). Steady between answers, where the server's bare figure jumps by a block
    /// with the moment it is asked.
    ///
    /// Unknown (`Err`) while the server is not keeping up: its last answer is old, or more
    /// time has passed than it held and asked for, so it stalled or played silence, and only
    /// its next answer says how far the stream moved. A guess then would move the
    /// metronome's clicks by tens of milliseconds. `None`: it has never answered.
    fn server_delay_now(&self, channels: usize) -> Option<Result<Duration, ()>> {
        let (at, frames, until) = (*self.server_said.lock().unwrap_or_else(|p| p.into_inner()))?;
        let moved = self.moved.load(Relaxed) / channels.max(1) as u64;
        let since_given = moved.saturating_sub(frames) as f64 / f64::from(SAMPLE_RATE);
        let age = at.elapsed();
        let left = until.as_secs_f64() + since_given - age.as_secs_f64();
        if age > SERVER_ANSWER_STALE || left < -SERVER_SLACK.as_secs_f64() {
            return Some(Err(()));
        }
        Some(Ok(Duration::from_secs_f64(left.max(0.0))))
    }

    /// Notes a callback that moved `len` interleaved samples.
    pub(crate) fn called(&self, len: usize, epoch: Instant) {
        self.moved.fetch_add(len as u64, Relaxed);
        self.largest_chunk.fetch_max(len, Relaxed);
        self.recent_chunk.fetch_max(len, Relaxed);
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

/// The microphones (and line inputs) of the audio system `open` would use by default.
pub fn input_devices() -> Result<Vec<DeviceInfo>, DeviceError> {
    devices_of(AudioHost::Auto, true)
}

pub fn output_devices() -> Result<Vec<DeviceInfo>, DeviceError> {
    devices_of(AudioHost::Auto, false)
}

/// The devices `host` offers for capture (`input`) or playback. JACK has one of each: the
/// server's graph, where Tutti's ports are connected to the system's.
pub fn devices_of(host: AudioHost, input: bool) -> Result<Vec<DeviceInfo>, DeviceError> {
    match host.backend()? {
        #[cfg(target_os = "linux")]
        Opener::Pulse => crate::pulse::list(input),
        #[cfg(not(target_os = "linux"))]
        Opener::Pulse => list(input),
        Opener::Cpal => list(input),
        Opener::Jack => {
            let kind = if input { "input" } else { "output" };
            let device = jack_device(input, kind)?;
            Ok(vec![DeviceInfo {
                name: name_of(&device),
                is_default: true,
            }])
        }
    }
}

/// JACK's device for one direction: a client of the running server (never one started for
/// us: a server started by a program dies with it).
#[cfg(target_os = "linux")]
fn jack_device(input: bool, kind: &'static str) -> Result<cpal::Device, DeviceError> {
    use cpal::traits::HostTrait as _;
    let host = cpal::platform::JackHost::new().map_err(|e| DeviceError::NoAudio(e.to_string()))?;
    let device = if input {
        host.default_input_device()
    } else {
        host.default_output_device()
    };
    device
        .map(Into::into)
        .ok_or(DeviceError::NoJackServer { kind })
}

#[cfg(not(target_os = "linux"))]
fn jack_device(_input: bool, _kind: &'static str) -> Result<cpal::Device, DeviceError> {
    Err(DeviceError::NoAudio("JACK is only used on Linux".into()))
}

fn find(input: bool, cfg: &DeviceConfig, opener: Opener) -> Result<cpal::Device, DeviceError> {
    let kind = if input { "input" } else { "output" };
    if opener == Opener::Jack {
        // One device each way, whatever it was called.
        return jack_device(input, kind);
    }
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
    opener: Opener,
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
        // JACK's period is the server's, for every client: asking another is refused.
        buffer_size: match cfg.buffer_frames {
            Some(n) if opener != Opener::Jack => cpal::BufferSize::Fixed(n),
            _ => cpal::BufferSize::Default,
        },
    })
}

/// The period a device will call back with, in frames, when it has one fixed (JACK's server
/// period, or what was asked for).
fn fixed_period(device: &cpal::Device, input: bool, config: &cpal::StreamConfig) -> Option<u32> {
    if let cpal::BufferSize::Fixed(n) = config.buffer_size {
        return Some(n);
    }
    let supported = if input {
        device.default_input_config()
    } else {
        device.default_output_config()
    };
    match supported.ok()?.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } if min == max => Some(*min),
        _ => None,
    }
}

fn stream_error<'a>(kind: &'static str, name: &'a str) -> impl Fn(String) -> DeviceError + 'a {
    move |reason| DeviceError::Stream {
        kind,
        name: name.to_owned(),
        reason,
    }
}

/// The device, its name, the stream configuration and its channel count.
fn prepare(
    input: bool,
    cfg: &DeviceConfig,
    opener: Opener,
) -> Result<(cpal::Device, String, cpal::StreamConfig, usize), DeviceError> {
    let device = find(input, cfg, opener)?;
    let name = name_of(&device);
    let config = stream_config(&device, input, cfg, opener)?;
    let channels = usize::from(config.channels).max(1);
    Ok((device, name, config, channels))
}

fn ring_len(channels: usize) -> usize {
    (f64::from(SAMPLE_RATE) * RING_SECONDS) as usize * channels
}

/// A sound server's answer about a stream older than this (it is asked every 100 ms) means it
/// is stalled; so does more time passed than it held by this much.
const SERVER_ANSWER_STALE: Duration = Duration::from_millis(250);
const SERVER_SLACK: Duration = Duration::from_millis(2);

/// Room for this much audio between a device and the engine.
const RING_SECONDS: f64 = 0.5;

/// What a capture callback does with what the device delivered: copies what fits into the
/// ring and counts the rest. Real-time context: nothing else.
fn deliver(producer: &mut rtrb::Producer<f32>, stats: &DeviceStats, data: &[f32], epoch: Instant) {
    stats.called(data.len(), epoch);
    let (_, rest) = producer.push_partial_slice(data);
    if !rest.is_empty() {
        stats.dropped.fetch_add(rest.len() as u64, Relaxed);
    }
}

/// What a playout callback does: copies what is there, silence for the rest.
fn take(consumer: &mut rtrb::Consumer<f32>, stats: &DeviceStats, data: &mut [f32], epoch: Instant) {
    let (_, missing) = consumer.pop_partial_slice(data);
    if !missing.is_empty() {
        stats.silence.fetch_add(missing.len() as u64, Relaxed);
        missing.fill(0.0);
        stats.underruns.fetch_add(1, Relaxed);
    }
    stats.called(data.len(), epoch);
}

/// Once, on the device's own thread, unless the backend made it real-time already (PipeWire,
/// JACK, CoreAudio do).
fn promote_once(promoted: &mut bool) {
    if !*promoted {
        *promoted = true;
        if !crate::realtime::current_is_realtime() {
            crate::realtime::promote_current_thread();
        }
    }
}

/// A device that delivers more than this at once is bursty.
const BURSTY: Duration = Duration::from_millis(8);
/// How long delivery must stay steady before a bursty device is trusted to pace again, and how
/// long a buffer's lowest level is watched before what stands in it is trimmed.
const SETTLE: Duration = Duration::from_secs(4);

/// Reads a capture ring a frame at a time.
///
/// A steady device (callbacks of a few ms) paces the reader: a frame is read the moment it is
/// complete; a backlog after a stall is read whole, and only one that stands is trimmed. A
/// bursty one (a sound server handing over tens or hundreds of ms at once, a Bluetooth or USB
/// device with large periods) cannot pace: waiting for it sends nothing, then a burst, and the
/// other side hears holes. Then the reader keeps its own clock and reads from a buffer primed
/// with a burst's worth of audio (more after each time it runs dry): later, but whole.
pub(crate) struct CaptureReader {
    ring: rtrb::Consumer<f32>,
    channels: usize,
    /// Interleaved samples the device was asked to deliver per callback, when known.
    period: usize,
    stats: Arc<DeviceStats>,
    epoch: Instant,
    scratch: Vec<f32>,
    name: String,
    /// The largest delivery of the last `SETTLE`, and of the one before it.
    burst: usize,
    burst_since: Instant,
    clock: Option<Clocked>,
    /// Paced: the lowest the ring fell since `trough_since`.
    trough: usize,
    trough_since: Instant,
}

/// The reader's own pace, for a bursty device.
struct Clocked {
    next: Instant,
    primed: bool,
    /// Interleaved samples to hold before reading.
    target: usize,
    /// The lowest the buffer fell since `trough_since`.
    trough: usize,
    trough_since: Instant,
}

impl CaptureReader {
    pub(crate) fn new(
        ring: rtrb::Consumer<f32>,
        channels: usize,
        period: usize,
        stats: Arc<DeviceStats>,
        epoch: Instant,
        name: String,
    ) -> Self {
        Self {
            ring,
            channels,
            period,
            stats,
            epoch,
            scratch: Vec::new(),
            name,
            burst: 0,
            burst_since: Instant::now(),
            clock: None,
            trough: usize::MAX,
            trough_since: Instant::now(),
        }
    }

    fn samples_in(&self, d: Duration) -> usize {
        (d.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize * self.channels
    }

    /// Follows how the device delivers, and changes pace when it turns bursty or steady.
    fn observe(&mut self, need: usize) {
        let now = Instant::now();
        let recent = self.stats.recent_chunk.load(Relaxed);
        if now.duration_since(self.burst_since) >= SETTLE {
            // A new window: what it saw, and what the one before saw, decide.
            let last = self.stats.recent_chunk.swap(0, Relaxed);
            self.burst = last;
            self.burst_since = now;
        }
        let burst = self.burst.max(recent);
        let bursty = burst > self.samples_in(BURSTY).max(2 * need.max(self.period));
        match (&mut self.clock, bursty) {
            (None, true) => {
                tracing::info!(device = %self.name, burst_ms = burst as f64 * 1000.0 / self.channels as f64 / f64::from(SAMPLE_RATE), "the microphone delivers in bursts: buffering to ride them");
                self.clock = Some(Clocked {
                    next: now,
                    primed: false,
                    target: burst + need,
                    trough: usize::MAX,
                    trough_since: now,
                });
            }
            (Some(c), true) => c.target = c.target.max(burst + need),
            (Some(_), false) => {
                tracing::info!(device = %self.name, "the microphone is steady again");
                self.clock = None;
            }
            (None, false) => {}
        }
    }

    /// Copies `need` interleaved samples from the ring (silence for any missing) into `out`
    /// as stereo.
    fn read(&mut self, out: &mut [f32], need: usize) {
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

    fn skip(&mut self, n: usize) {
        let n = n - n % self.channels;
        if n > 0
            && let Ok(chunk) = self.ring.read_chunk(n)
        {
            chunk.commit_all();
            self.stats.dropped.fetch_add(n as u64, Relaxed);
        }
    }

    /// One frame of stereo into `out`, waiting for the device (or for our own clock, when
    /// the device is bursty). A device that reported an error gives silence at once.
    pub(crate) fn fill(&mut self, out: &mut [f32]) {
        let frames = out.len() / CHANNELS;
        let need = frames * self.channels;
        self.observe(need);
        if self.clock.is_some() {
            self.fill_clocked(out, need);
        } else {
            self.fill_paced(out, need);
        }
    }

    fn fill_paced(&mut self, out: &mut [f32], need: usize) {
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.ring.slots() < need {
            if self.stats.failed.load(Relaxed) {
                out.fill(0.0);
                return;
            }
            if Instant::now() > deadline {
                // A stall (sound servers have them): this frame is silence; the next may flow.
                tracing::debug!(device = %self.name, "the microphone stalled for 200 ms");
                self.stats.stalls.fetch_add(1, Relaxed);
                out.fill(0.0);
                return;
            }
            std::thread::sleep(self.stats.wait(self.epoch, self.channels));
        }
        // A backlog after a hiccup (here or at the server) is read at once, whole: the caller
        // reads faster than real time until it is gone. Only one that stands — more than a
        // frame and a period still waiting at the lowest for a whole window — is latency for
        // nothing, and goes.
        let period = self.period.max(self.stats.largest_chunk.load(Relaxed));
        let slots = self.ring.slots();
        self.trough = self.trough.min(slots - need);
        if self.trough_since.elapsed() >= SETTLE {
            let standing = self.trough.saturating_sub(2 * need.max(period));
            self.trough = usize::MAX;
            self.trough_since = Instant::now();
            self.skip(standing);
        }
        self.read(out, need);
    }

    fn fill_clocked(&mut self, out: &mut [f32], need: usize) {
        let frame = Duration::from_secs_f64((need / self.channels) as f64 / f64::from(SAMPLE_RATE));
        let now = Instant::now();
        let Some(c) = self.clock.as_mut() else {
            return;
        };
        if c.next > now {
            std::thread::sleep(c.next - now);
        } else if now - c.next > Duration::from_millis(50) {
            // We were not called for a while (nobody to send to, a busy machine): from now.
            c.next = now;
        }
        c.next += frame;
        if self.stats.failed.load(Relaxed) {
            out.fill(0.0);
            return;
        }
        let slots = self.ring.slots();
        if !c.primed {
            if slots < c.target {
                out.fill(0.0);
                return;
            }
            c.primed = true;
            c.trough = usize::MAX;
            c.trough_since = Instant::now();
        }
        if slots < need {
            // Ran dry: hold more before reading again.
            tracing::debug!(device = %self.name, "the microphone ran dry; buffering more");
            self.stats.stalls.fetch_add(1, Relaxed);
            c.primed = false;
            c.target = (c.target + c.target / 2).min(self.ring.buffer().capacity() / 2);
            self.read(out, need);
            return;
        }
        c.trough = c.trough.min(slots - need);
        let mut trim = 0;
        if c.trough_since.elapsed() >= SETTLE {
            // What never left the buffer in a whole window is latency for nothing (the
            // device's clock runs faster than ours, or a burst was once larger): let most
            // of it go, keeping a frame's margin.
            trim = c.trough.saturating_sub(need);
            c.trough = usize::MAX;
            c.trough_since = Instant::now();
        }
        self.skip(trim);
        self.read(out, need);
    }
}

/// A microphone (or line in): the capture callback fills a ring; reading waits for the device.
pub struct Capture {
    stream: Backend,
    reader: CaptureReader,
    stats: Arc<DeviceStats>,
    pub name: String,
}

impl Capture {
    pub fn open(cfg: &DeviceConfig) -> Result<Self, DeviceError> {
        let epoch = Instant::now();
        let stats = Arc::new(DeviceStats::default());
        // (Decided once: with `Auto` it asks the sound server whether it is there.)
        let opener = cfg.host.backend()?;
        if opener == Opener::Pulse {
            #[cfg(target_os = "linux")]
            return Self::open_pulse(cfg, stats, epoch);
        }
        let (device, name, config, channels) = prepare(true, cfg, opener)?;
        let period = fixed_period(&device, true, &config).map_or(0, |n| n as usize * channels);
        let (mut producer, ring) = rtrb::RingBuffer::new(ring_len(channels));
        let (s1, s2) = (stats.clone(), stats.clone());
        let mut promoted = false;
        let stream = device
            .build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], info: &cpal::InputCallbackInfo| {
                    promote_once(&mut promoted);
                    // How long ago the device took in what this callback delivers.
                    let t = info.timestamp();
                    // (A host that cannot tell gives the same instant twice: nothing known.)
                    if let Some(d) = t.callback.checked_duration_since(t.capture)
                        && !d.is_zero()
                    {
                        s1.set_device_latency(d);
                    }
                    deliver(&mut producer, &s1, data, epoch);
                },
                move |e: cpal::Error| stream_trouble(&s2, &e, "capture"),
                None,
            )
            .map_err(|e| stream_error("input", &name)(e.to_string()))?;
        stream
            .play()
            .map_err(|e| stream_error("input", &name)(e.to_string()))?;
        Ok(Self {
            stream: Backend::Cpal(stream),
            reader: CaptureReader::new(ring, channels, period, stats.clone(), epoch, name.clone()),
            stats,
            name,
        })
    }

    #[cfg(target_os = "linux")]
    fn open_pulse(
        cfg: &DeviceConfig,
        stats: Arc<DeviceStats>,
        epoch: Instant,
    ) -> Result<Self, DeviceError> {
        let channels = crate::pulse::CHANNELS;
        let frames = cfg.buffer_frames.unwrap_or(DEFAULT_PULSE_PERIOD);
        let (mut producer, ring) = rtrb::RingBuffer::new(ring_len(channels));
        let s1 = stats.clone();
        let mut promoted = false;
        let (stream, name) =
            crate::pulse::record(cfg.name.as_deref(), frames, stats.clone(), move |data| {
                promote_once(&mut promoted);
                deliver(&mut producer, &s1, data, epoch);
            })?;
        tracing::info!(device = %name, frames, "microphone open through PulseAudio");
        Ok(Self {
            stream: Backend::Pulse(stream),
            reader: CaptureReader::new(
                ring,
                channels,
                frames as usize * channels,
                stats.clone(),
                epoch,
                name.clone(),
            ),
            stats,
            name,
        })
    }

    pub fn stats(&self) -> &Arc<DeviceStats> {
        &self.stats
    }
}

/// Frames per period for PulseAudio when none is asked for: 5 ms.
const DEFAULT_PULSE_PERIOD: u32 = 240;

impl AudioSource for Capture {
    /// Waits for the device to deliver one frame (normally under a frame's time; 200 ms at
    /// most, then that frame is silence). A device that reported an error gives silence at once
    /// and no longer paces the caller, who falls back to the clock.
    fn fill(&mut self, out: &mut [f32]) {
        self.reader.fill(out);
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
        let stale = self.reader.ring.slots();
        if let Ok(chunk) = self.reader.ring.read_chunk(stale) {
            chunk.commit_all();
        }
    }

    /// The sound server's part (when it says) and what waits in our ring.
    fn delay(&self) -> Option<Duration> {
        let ring = self.reader.ring.slots() / self.reader.channels.max(1);
        let ring = Duration::from_secs_f64(ring as f64 / f64::from(SAMPLE_RATE));
        self.stats.device_latency().map(|d| d + ring)
    }
}

/// Headphones or speakers: writing fills a ring the playout callback drains.
pub struct Playback {
    stream: Backend,
    ring: rtrb::Producer<f32>,
    channels: usize,
    stats: Arc<DeviceStats>,
    /// What `DeviceStats`' callback times count from.
    epoch: Instant,
    scratch: Vec<f32>,
    /// Interleaved samples the device takes per callback (its period), when known.
    period: usize,
    /// Interleaved samples written that never reached the device (a stall, a full ring).
    lost: u64,
    pub name: String,
}

impl Playback {
    pub fn open(cfg: &DeviceConfig) -> Result<Self, DeviceError> {
        let epoch = Instant::now();
        let stats = Arc::new(DeviceStats::default());
        // (Decided once: with `Auto` it asks the sound server whether it is there.)
        let opener = cfg.host.backend()?;
        if opener == Opener::Pulse {
            #[cfg(target_os = "linux")]
            return Self::open_pulse(cfg, stats, epoch);
        }
        let (device, name, config, channels) = prepare(false, cfg, opener)?;
        let period = fixed_period(&device, false, &config).map_or(0, |n| n as usize * channels);
        let (ring, mut consumer) = rtrb::RingBuffer::new(ring_len(channels));
        let (s1, s2) = (stats.clone(), stats.clone());
        let mut promoted = false;
        let stream = device
            .build_output_stream::<f32, _, _>(
                config,
                move |data: &mut [f32], info: &cpal::OutputCallbackInfo| {
                    promote_once(&mut promoted);
                    // How long until what this callback hands over is heard.
                    let t = info.timestamp();
                    if let Some(d) = t.playback.checked_duration_since(t.callback)
                        && !d.is_zero()
                    {
                        s1.set_device_latency(d);
                    }
                    take(&mut consumer, &s1, data, epoch);
                },
                move |e: cpal::Error| stream_trouble(&s2, &e, "playout"),
                None,
            )
            .map_err(|e| stream_error("output", &name)(e.to_string()))?;
        stream
            .play()
            .map_err(|e| stream_error("output", &name)(e.to_string()))?;
        Ok(Self {
            stream: Backend::Cpal(stream),
            ring,
            channels,
            stats,
            epoch,
            scratch: Vec::new(),
            period,
            lost: 0,
            name,
        })
    }

    #[cfg(target_os = "linux")]
    fn open_pulse(
        cfg: &DeviceConfig,
        stats: Arc<DeviceStats>,
        epoch: Instant,
    ) -> Result<Self, DeviceError> {
        let channels = crate::pulse::CHANNELS;
        let frames = cfg.buffer_frames.unwrap_or(DEFAULT_PULSE_PERIOD);
        let (ring, mut consumer) = rtrb::RingBuffer::new(ring_len(channels));
        let s1 = stats.clone();
        let mut promoted = false;
        let (stream, name) =
            crate::pulse::playback(cfg.name.as_deref(), frames, stats.clone(), move |data| {
                promote_once(&mut promoted);
                take(&mut consumer, &s1, data, epoch);
            })?;
        tracing::info!(device = %name, frames, "speaker open through PulseAudio");
        Ok(Self {
            stream: Backend::Pulse(stream),
            ring,
            channels,
            stats,
            epoch,
            scratch: Vec::new(),
            period: frames as usize * channels,
            lost: 0,
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
    /// frame; one that reported an error drops frames at once and no longer paces the caller:
    /// the lesson goes on without sound.
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
                self.stats.stalls.fetch_add(1, Relaxed);
                self.lost += self.scratch.len() as u64;
                return;
            }
            std::thread::sleep(self.stats.wait(self.epoch, self.channels));
        }
        let (_, rest) = self.ring.push_partial_slice(&self.scratch);
        if !rest.is_empty() {
            self.stats.dropped.fetch_add(rest.len() as u64, Relaxed);
            self.lost += rest.len() as u64;
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

    fn slip(&self) -> i64 {
        let silence = self.stats.silence.load(Relaxed) as i64;
        (silence - self.lost as i64) / self.channels.max(1) as i64
    }

    fn delay(&self) -> Option<Duration> {
        let ring = self.queued() / self.channels.max(1);
        let ring = Duration::from_secs_f64(ring as f64 / f64::from(SAMPLE_RATE));
        match self.stats.server_delay_now(self.channels) {
            Some(now) => now.ok().map(|d| d + ring),
            None => self.stats.device_latency().map(|d| d + ring),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_xrun_is_a_glitch_not_the_end_of_the_device() {
        let stats = DeviceStats::default();
        stream_trouble(&stats, &cpal::ErrorKind::Xrun.into(), "capture");
        assert!(!stats.failed.load(Relaxed));
        assert_eq!(stats.stalls.load(Relaxed), 1);
        stream_trouble(
            &stats,
            &cpal::ErrorKind::DeviceNotAvailable.into(),
            "capture",
        );
        assert!(stats.failed.load(Relaxed));
    }

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

    /// A device delivering a numbered signal (sample n is n, both channels) in chunks of
    /// `chunk_ms` every `chunk_ms`, for `seconds`; what a reader of 2.5-ms frames read.
    fn read_through(chunk_ms: u64, seconds: f64) -> Vec<f32> {
        let stats = Arc::new(DeviceStats::default());
        let (mut producer, ring) = rtrb::RingBuffer::new(ring_len(2));
        let epoch = Instant::now();
        let s = stats.clone();
        let chunk = (48 * chunk_ms) as usize;
        let device = std::thread::spawn(move || {
            let start = Instant::now();
            let mut n = 0usize;
            let mut k = 0u32;
            while start.elapsed().as_secs_f64() < seconds {
                k += 1;
                let data: Vec<f32> = (n..n + chunk).flat_map(|i| [i as f32, i as f32]).collect();
                n += chunk;
                deliver(&mut producer, &s, &data, epoch);
                crate::pipeline::sleep_until(start + Duration::from_millis(chunk_ms) * k);
            }
        });
        let mut reader = CaptureReader::new(ring, 2, 240, stats, epoch, "test".into());
        let mut got = Vec::new();
        let mut frame = vec![0.0f32; 240];
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < until {
            reader.fill(&mut frame);
            got.extend(frame.iter().step_by(2));
        }
        device.join().unwrap();
        got
    }

    /// Where the numbered signal read does not go on by one: holes, skips, silence.
    fn breaks(got: &[f32]) -> Vec<(usize, f32, f32)> {
        let first = got.iter().position(|&v| v > 0.0).unwrap_or(got.len());
        // The device stops before the reader does: what follows its last sample is not a break.
        let last = got.iter().rposition(|&v| v > 0.0).map_or(first, |l| l + 1);
        got[first..last.max(first)]
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[1] != w[0] + 1.0)
            .map(|(i, w)| (first + i, w[0], w[1]))
            .collect()
    }

    #[test]
    fn a_microphone_that_delivers_in_bursts_is_read_whole() {
        // 200 ms at a time: once the first burst has shown what the device does, every
        // sample goes on in order, none skipped, no silence between.
        let got = read_through(200, 3.0);
        let b = breaks(&got);
        // The first burst arrives before the reader knows; from the second on, nothing breaks.
        let after_first: Vec<_> = b.iter().filter(|(i, _, _)| *i > 48 * 600).collect();
        assert!(
            after_first.is_empty(),
            "{} breaks, first {:?}",
            after_first.len(),
            &after_first[..after_first.len().min(5)]
        );
        assert!(got.len() > 48 * 2_000, "{} samples read", got.len());
    }

    #[test]
    fn a_steady_microphone_paces_the_reader_and_is_read_whole() {
        let got = read_through(5, 1.5);
        let b = breaks(&got);
        assert!(
            b.is_empty(),
            "{} breaks, first {:?}",
            b.len(),
            &b[..b.len().min(5)]
        );
        // And is read as it comes: about as much as was delivered.
        assert!(
            got.len() >= 48 * 1_300,
            "{} samples read in 1.5 s",
            got.len()
        );
    }
}
