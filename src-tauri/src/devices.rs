//! The check before joining: which microphones, speakers and cameras there are, a live input
//! meter, a test sound, and the camera's preview.

use crate::error::{AppError, AppResult, ErrorCode, device_error};
use crate::settings::AudioSystem;
use crate::video::VideoOut;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tutti_media::device::{Capture, DeviceConfig, Playback, devices_of};
use tutti_media::signal::{AudioSink, AudioSource, Sine};
use tutti_media::video::{CameraSource, VideoSource, list_cameras};

/// Frames per sound-card buffer: 5 ms at 48 kHz (PulseAudio needs a fixed size).
const DEVICE_BUFFER: u32 = 240;

/// How the app opens the sound card named (`None`: the system's default) through `system`,
/// for the device check and the lesson alike.
pub fn device_config(system: AudioSystem, name: Option<String>) -> DeviceConfig {
    DeviceConfig {
        name,
        // (JACK's period is its server's: this one is not asked of it.)
        buffer_frames: Some(DEVICE_BUFFER),
        host: system.host(),
    }
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DeviceList {
    pub microphones: Vec<String>,
    pub speakers: Vec<String>,
    pub cameras: Vec<String>,
    /// Why there are no sound devices, when there are none.
    pub audio_error: Option<AppError>,
}

pub fn list(system: AudioSystem) -> DeviceList {
    let (inputs, outputs) = (
        devices_of(system.host(), true),
        devices_of(system.host(), false),
    );
    let (microphones, speakers, audio_error) = match (inputs, outputs) {
        (Ok(i), Ok(o)) => (
            i.into_iter().map(|d| d.name).collect(),
            o.into_iter().map(|d| d.name).collect(),
            None,
        ),
        (Err(e), _) => (Vec::new(), Vec::new(), Some(device_error(&e, true))),
        (_, Err(e)) => (Vec::new(), Vec::new(), Some(device_error(&e, false))),
    };
    DeviceList {
        microphones,
        speakers,
        cameras: list_cameras().into_iter().map(|c| c.name).collect(),
        audio_error,
    }
}

/// The peak level of interleaved samples, 0–1.
pub fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, s| m.max(s.abs())).min(1.0)
}

/// A running device check: the microphone's level, reported about 15 times a second, and the
/// camera's preview. Stops when dropped.
pub struct DeviceCheck {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the check found: a problem per device, if any.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CheckStarted {
    pub microphone: Option<AppError>,
    pub camera: Option<AppError>,
}

impl DeviceCheck {
    pub fn start(
        system: AudioSystem,
        microphone: Option<String>,
        camera: Option<String>,
        level: impl Fn(f32) + Send + 'static,
        video: Arc<VideoOut>,
    ) -> (DeviceCheck, CheckStarted) {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut started = CheckStarted {
            microphone: None,
            camera: None,
        };
        match Capture::open(&device_config(system, microphone)) {
            Ok(mut capture) => {
                let stop = stop.clone();
                let spawned = std::thread::Builder::new()
                    .name("tutti-meter".into())
                    .spawn(move || {
                        // 10 ms reads; a report every 7th (70 ms).
                        let mut buf = vec![0.0f32; 480 * 2];
                        let mut held = 0.0f32;
                        let mut n = 0u32;
                        while !stop.load(Ordering::Relaxed) {
                            capture.fill(&mut buf);
                            if !capture.paced() {
                                std::thread::sleep(std::time::Duration::from_millis(10));
                            }
                            held = held.max(peak(&buf));
                            n += 1;
                            if n.is_multiple_of(7) {
                                level(held);
                                held = 0.0;
                            }
                        }
                    });
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        started.microphone = Some(AppError::new(ErrorCode::Internal, e.to_string()))
                    }
                }
            }
            Err(e) => started.microphone = Some(device_error(&e, true)),
        }
        match CameraSource::open(camera.as_deref(), 640, 480, 30) {
            Ok(mut cam) => {
                let stop = stop.clone();
                let spawned = std::thread::Builder::new()
                    .name("tutti-preview".into())
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            if let Some(f) = cam.next_frame(0) {
                                video.send_preview(&f);
                            }
                            std::thread::sleep(std::time::Duration::from_millis(33));
                        }
                    });
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        started.camera = Some(AppError::new(ErrorCode::Internal, e.to_string()))
                    }
                }
            }
            Err(e) => started.camera = Some(AppError::new(ErrorCode::NoCamera, e.to_string())),
        }
        (DeviceCheck { stop, threads }, started)
    }
}

impl Drop for DeviceCheck {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Plays a second of a soft A (440 Hz) on the speaker named (or the default); blocks meanwhile.
pub fn play_test_sound(system: AudioSystem, speaker: Option<String>) -> AppResult<()> {
    let mut out =
        Playback::open(&device_config(system, speaker)).map_err(|e| device_error(&e, false))?;
    let mut tone = Sine::new(440.0, 0.2);
    let mut buf = vec![0.0f32; 480 * 2];
    let chunks = 100;
    for k in 0..chunks {
        tone.fill(&mut buf);
        // Fade in and out over 50 ms, so it starts and stops without a click.
        let fade = (k.min(chunks - 1 - k) as f32 / 5.0).min(1.0);
        buf.iter_mut().for_each(|s| *s *= fade);
        out.write(&buf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_the_largest_magnitude_capped_at_one() {
        assert_eq!(peak(&[0.1, -0.5, 0.2]), 0.5);
        assert_eq!(peak(&[]), 0.0);
        assert_eq!(peak(&[3.0]), 1.0);
    }
}
