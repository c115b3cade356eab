//! PulseAudio (and PipeWire's PulseAudio interface, what current Linux desktops run) spoken
//! directly, through the `pulseaudio` crate's native-protocol client.
//!
//! cpal's PulseAudio host cannot say what a low-latency client needs: its record stream is
//! created with `maxlength` equal to one period (5 ms at 240 frames), so the server throws away
//! whatever the client has not read within a period — every scheduling hiccup is a hole — and
//! it asks the server for timing after every callback (400 round trips a second for a call),
//! which made its threads the app's largest CPU cost. Here the record stream may hold what the
//! server allows (our capture decides what is stale), fragments are one period, the playback
//! buffer is two periods with the server asked to size the device for it, and the timing is
//! asked for ten times a second (for the latency the lesson shows, and so that the metronome
//! follows a move of the output's timeline at once), not after every callback.
//!
//! One client per process (one reactor thread, one socket) carries every stream; it is made
//! again if the server went away.

use crate::device::{DeviceError, DeviceInfo, DeviceStats};
use crate::format::SAMPLE_RATE;
use pulseaudio::protocol::{self, stream::BufferAttr, stream::StreamFlags};
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Interleaved channels of every stream: the server mixes up or down to the device.
pub(crate) const CHANNELS: usize = 2;
const BYTES_PER_FRAME: usize = CHANNELS * 4;
/// How often the server is asked how much audio it holds for a stream: a move of the
/// stream's timeline (the server played silence in our place) is seen this soon, and the
/// metronome follows it within a few frames after.
const TIMING_EVERY: Duration = Duration::from_millis(100);

static CLIENT: Mutex<Option<pulseaudio::Client>> = Mutex::new(None);

fn no_audio(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::NoAudio(format!("PulseAudio: {e}"))
}

/// The cookie the server wrote for its clients: where libpulse looks, in its order (the
/// `pulseaudio` crate alone ignores XDG_CONFIG_HOME and found none in userspace set-ups).
fn cookie() -> Option<Vec<u8>> {
    let var = |k: &str| std::env::var_os(k).map(PathBuf::from);
    [
        var("PULSE_COOKIE"),
        var("XDG_CONFIG_HOME").map(|d| d.join("pulse/cookie")),
        var("HOME").map(|d| d.join(".config/pulse/cookie")),
        var("HOME").map(|d| d.join(".pulse-cookie")),
    ]
    .into_iter()
    .flatten()
    .find_map(|p| std::fs::read(p).ok())
}

/// True if a PulseAudio server (or PipeWire's) listens for this user.
pub fn available() -> bool {
    client().is_ok()
}

fn client() -> Result<pulseaudio::Client, DeviceError> {
    let mut slot = CLIENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = slot.as_ref() {
        // A client whose server went away fails at once; make a new one then.
        if futures::executor::block_on(c.server_info()).is_ok() {
            return Ok(c.clone());
        }
        *slot = None;
    }
    let path = pulseaudio::socket_path_from_env()
        .ok_or_else(|| no_audio("no server socket for this user"))?;
    let socket = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| no_audio(format!("{}: {e}", path.display())))?;
    let c = pulseaudio::Client::new_unix(c"Tutti", socket, cookie()).map_err(no_audio)?;
    *slot = Some(c.clone());
    Ok(c)
}

fn text(s: &Option<CString>, name: &CString) -> String {
    String::from_utf8_lossy(s.as_ref().unwrap_or(name).as_bytes()).into_owned()
}

/// A device as the system names it to people (its description), and its server name.
struct Found {
    shown: String,
    name: CString,
}

fn devices(input: bool) -> Result<(Vec<Found>, Option<String>), DeviceError> {
    let c = client()?;
    let info = futures::executor::block_on(c.server_info()).map_err(no_audio)?;
    let found: Vec<Found> = if input {
        futures::executor::block_on(c.list_sources())
            .map_err(no_audio)?
            .into_iter()
            .map(|s| Found {
                shown: text(&s.description, &s.name),
                name: s.name,
            })
            .collect()
    } else {
        futures::executor::block_on(c.list_sinks())
            .map_err(no_audio)?
            .into_iter()
            .map(|s| Found {
                shown: text(&s.description, &s.name),
                name: s.name,
            })
            .collect()
    };
    let default = if input {
        info.default_source_name
    } else {
        info.default_sink_name
    };
    let default = default.and_then(|d| found.iter().find(|f| f.name == d).map(|f| f.shown.clone()));
    Ok((found, default))
}

pub(crate) fn list(input: bool) -> Result<Vec<DeviceInfo>, DeviceError> {
    let (found, default) = devices(input)?;
    Ok(found
        .into_iter()
        .map(|f| DeviceInfo {
            is_default: default.as_deref() == Some(f.shown.as_str()),
            name: f.shown,
        })
        .collect())
}

/// The server's name of the device shown as `wanted` (or of the default), and what it is shown
/// as.
fn resolve(input: bool, wanted: Option<&str>) -> Result<(CString, String), DeviceError> {
    let (found, default) = devices(input)?;
    let kind = if input { "input" } else { "output" };
    let shown = match wanted {
        Some(w) => w.to_owned(),
        None => default.ok_or_else(|| DeviceError::NoAudio(format!("no default {kind} device")))?,
    };
    found
        .iter()
        .find(|f| f.shown == shown)
        .or_else(|| found.iter().find(|f| f.name.as_bytes() == shown.as_bytes()))
        .map(|f| (f.name.clone(), f.shown.clone()))
        .ok_or_else(|| DeviceError::NotFound {
            kind,
            name: shown,
            available: if found.is_empty() {
                "(none)".into()
            } else {
                found
                    .iter()
                    .map(|f| f.shown.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

fn spec() -> protocol::SampleSpec {
    protocol::SampleSpec {
        format: protocol::SampleFormat::Float32Le,
        channels: CHANNELS as u8,
        sample_rate: SAMPLE_RATE,
    }
}

fn props(role: &str) -> protocol::Props {
    let mut p = protocol::Props::new();
    p.set(protocol::Prop::MediaName, c"Tutti lesson");
    if let Ok(role) = CString::new(role) {
        p.set(protocol::Prop::MediaRole, role.as_c_str());
    }
    p
}

enum Inner {
    Record(pulseaudio::RecordStream),
    Playback(pulseaudio::PlaybackStream),
}

/// An open stream. Dropping it deletes the stream on the server.
pub(crate) struct Stream {
    inner: Inner,
    stop: Arc<AtomicBool>,
}

impl Stream {
    pub(crate) fn pause(&self) -> Result<(), String> {
        futures::executor::block_on(async {
            match &self.inner {
                Inner::Record(s) => s.cork().await,
                Inner::Playback(s) => s.cork().await,
            }
        })
        .map_err(|e| e.to_string())
    }

    pub(crate) fn play(&self) -> Result<(), String> {
        futures::executor::block_on(async {
            match &self.inner {
                Inner::Record(s) => s.uncork().await,
                Inner::Playback(s) => s.uncork().await,
            }
        })
        .map_err(|e| e.to_string())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// Asks the server, every `TIMING_EVERY`, how much audio it holds for the stream (the device's
/// latency and the stream's buffer); a server that no longer answers fails the stream.
fn watch(inner: &Inner, stats: Arc<DeviceStats>, stop: Arc<AtomicBool>) {
    let inner = match inner {
        Inner::Record(s) => Inner::Record(s.clone()),
        Inner::Playback(s) => Inner::Playback(s.clone()),
    };
    let spawned = std::thread::Builder::new()
        .name("tutti-pulse-timing".into())
        .spawn(move || {
            while !stop.load(Relaxed) {
                let asked = Instant::now();
                let timing = futures::executor::block_on(async {
                    match &inner {
                        Inner::Record(s) => s
                            .timing_info()
                            .await
                            .map(|t| (t.source_usec, t.write_offset - t.read_offset, None)),
                        Inner::Playback(s) => s.timing_info().await.map(|t| {
                            (
                                t.sink_usec,
                                t.write_offset - t.read_offset,
                                Some(t.write_offset),
                            )
                        }),
                    }
                });
                // The server answered somewhere between: the middle is off by half the round
                // trip at most (tens of µs on one machine).
                let at = asked + asked.elapsed() / 2;
                match timing {
                    Ok((device_us, held, written)) => {
                        let held_us = held.max(0) as u64 * 1_000_000
                            / (BYTES_PER_FRAME as u64 * u64::from(SAMPLE_RATE));
                        let until = Duration::from_micros(device_us + held_us);
                        stats.set_device_latency(until);
                        if let Some(w) = written {
                            let frames = w.max(0) as u64 / BYTES_PER_FRAME as u64;
                            stats.server_said(at, frames, until);
                        }
                    }
                    Err(e) => {
                        if !stop.load(Relaxed) {
                            tracing::warn!(error = %e, "the sound server stopped answering");
                            stats.failed.store(true, Relaxed);
                        }
                        return;
                    }
                }
                std::thread::sleep(TIMING_EVERY);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread for the sound server's timing");
    }
}

fn stream_error(kind: &'static str, name: &str, e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Stream {
        kind,
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

/// Opens a record stream on the source shown as `wanted` (or the default), delivering
/// `period_frames` at a time to `on_data` (interleaved stereo f32), on the client's thread.
pub(crate) fn record(
    wanted: Option<&str>,
    period_frames: u32,
    stats: Arc<DeviceStats>,
    mut on_data: impl FnMut(&[f32]) + Send + 'static,
) -> Result<(Stream, String), DeviceError> {
    let (device, shown) = resolve(true, wanted)?;
    let c = client()?;
    let period = period_frames as usize * BYTES_PER_FRAME;
    let params = protocol::RecordStreamParams {
        sample_spec: spec(),
        channel_map: protocol::ChannelMap::stereo(),
        source_name: Some(device),
        buffer_attr: BufferAttr {
            // What the server allows: a client late by more than a period must not lose
            // audio (the capture skips what is stale, knowing how late it is).
            max_length: u32::MAX,
            fragment_size: period as u32,
            ..BufferAttr::default()
        },
        flags: StreamFlags {
            // The source runs at the fragment size asked for, not its own default.
            adjust_latency: true,
            ..StreamFlags::default()
        },
        props: props("music"),
        ..Default::default()
    };
    let mut samples: Vec<f32> = Vec::with_capacity(period / 4 * 4);
    let sink = move |data: &[u8]| {
        samples.clear();
        samples.extend(
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        on_data(&samples);
    };
    let s = futures::executor::block_on(c.create_record_stream(params, sink))
        .map_err(|e| stream_error("input", &shown, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let inner = Inner::Record(s);
    watch(&inner, stats, stop.clone());
    Ok((Stream { inner, stop }, shown))
}

/// Opens a playback stream on the sink shown as `wanted` (or the default); `fill` is asked for
/// interleaved stereo f32 on the client's thread and must fill all of it.
pub(crate) fn playback(
    wanted: Option<&str>,
    period_frames: u32,
    stats: Arc<DeviceStats>,
    mut fill: impl FnMut(&mut [f32]) + Send + 'static,
) -> Result<(Stream, String), DeviceError> {
    let (device, shown) = resolve(false, wanted)?;
    let c = client()?;
    let period = (period_frames as usize * BYTES_PER_FRAME) as u32;
    let params = protocol::PlaybackStreamParams {
        sample_spec: spec(),
        channel_map: protocol::ChannelMap::stereo(),
        sink_name: Some(device),
        buffer_attr: BufferAttr {
            max_length: u32::MAX,
            // Four periods in all, the device included (adjust_latency): the server gives the
            // device (tlength - 2 minreq) / 2 = one period, and keeps two for us. With two in
            // all (cpal's choice) the device gets none: the server then renders every 0.5 ms,
            // which cost it a core on a busy machine.
            target_length: 4 * period,
            minimum_request_length: period,
            pre_buffering: u32::MAX,
            fragment_size: u32::MAX,
        },
        flags: StreamFlags {
            adjust_latency: true,
            ..StreamFlags::default()
        },
        props: props("music"),
        ..Default::default()
    };
    let mut samples: Vec<f32> = Vec::with_capacity(2 * period as usize / 4);
    let source = move |buf: &mut [u8]| {
        samples.clear();
        samples.resize(buf.len() / 4, 0.0);
        fill(&mut samples);
        for (b, s) in buf.chunks_exact_mut(4).zip(&samples) {
            b.copy_from_slice(&s.to_le_bytes());
        }
        // Always all of it: returning less makes the client ask again at once, and 0 means
        // the end of the stream.
        buf.len()
    };
    use pulseaudio::AsPlaybackSource;
    let s =
        futures::executor::block_on(c.create_playback_stream(params, source.as_playback_source()))
            .map_err(|e| stream_error("output", &shown, e))?;
    // The client writes only when the server asks; `play_all` drives nothing here, but the
    // stream must not be corked.
    let stop = Arc::new(AtomicBool::new(false));
    let inner = Inner::Playback(s);
    watch(&inner, stats, stop.clone());
    Ok((Stream { inner, stop }, shown))
}
