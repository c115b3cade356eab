//! Pictures to the web view: each decoded frame (and our own camera's preview) is converted to
//! RGBA and sent as raw bytes over a Tauri channel, which the UI draws on a canvas with
//! `putImageData`. No disk, no base64, no JSON: one binary IPC message per frame.
//!
//! A message is a 12-byte header (width, height, length of the peer id; little-endian u32),
//! the peer id (UTF-8; empty for our own preview), then width × height × 4 bytes of RGBA.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tauri::ipc::{Channel, InvokeResponseBody};
use tutti_media::video::{CameraSource, CameraState, I420Frame, VideoSource};
use tutti_protocol::PeerId;

/// Our own picture is shown small: every other pixel of every other row, at most 15 fps.
const PREVIEW_EVERY: Duration = Duration::from_millis(66);

/// Where frames for the web view go, once it has asked for them.
#[derive(Default)]
pub struct VideoOut {
    channel: Mutex<Option<Channel<InvokeResponseBody>>>,
    last_preview: Mutex<Option<Instant>>,
    pub sent: AtomicU64,
}

impl VideoOut {
    pub fn attach(&self, channel: Channel<InvokeResponseBody>) {
        *self.channel.lock().unwrap_or_else(|p| p.into_inner()) = Some(channel);
    }

    fn send(&self, peer: &str, frame: &I420Frame, step: u32) {
        let Some(channel) = self
            .channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return;
        };
        let msg = encode(peer, frame, step);
        if channel.send(InvokeResponseBody::Raw(msg)).is_ok() {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A participant's decoded picture.
    pub fn send_remote(&self, peer: &PeerId, frame: &I420Frame) {
        self.send(peer.as_str(), frame, 1);
    }

    /// Our own camera, small and at most 15 fps.
    pub fn send_preview(&self, frame: &I420Frame) {
        {
            let mut last = self.last_preview.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < PREVIEW_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.send("", frame, 2);
    }
}

/// The message for one frame, taking every `step`-th pixel of every `step`-th row.
pub fn encode(peer: &str, frame: &I420Frame, step: u32) -> Vec<u8> {
    let step = step.max(1);
    let (w, h) = (frame.width / step, frame.height / step);
    let mut out = Vec::with_capacity(12 + peer.len() + (w * h * 4) as usize);
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&(peer.len() as u32).to_le_bytes());
    out.extend_from_slice(peer.as_bytes());
    frame.append_rgba(step, &mut out);
    out
}

/// The camera's switch (the camera button) and whether it stopped delivering.
#[derive(Clone)]
pub struct CameraSwitch {
    pub on: Arc<AtomicBool>,
    pub lost: Arc<AtomicBool>,
}

/// The camera as the video send loop reads it: nothing while switched off, and each frame
/// also to our own preview.
pub struct CameraTap {
    camera: CameraSource,
    switch: CameraSwitch,
    out: Arc<VideoOut>,
}

impl CameraTap {
    pub fn new(camera: CameraSource, out: Arc<VideoOut>) -> (Self, CameraSwitch) {
        let switch = CameraSwitch {
            on: Arc::new(AtomicBool::new(true)),
            lost: Arc::new(AtomicBool::new(false)),
        };
        (
            Self {
                camera,
                switch: switch.clone(),
                out,
            },
            switch,
        )
    }
}

impl VideoSource for CameraTap {
    fn next_frame(&mut self, captured_ms: u32) -> Option<I420Frame> {
        let frame = self.camera.next_frame(captured_ms);
        self.switch
            .lost
            .store(self.camera.state() == CameraState::Lost, Ordering::Relaxed);
        if !self.switch.on.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(f) = &frame {
            self.out.send_preview(f);
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, y: u8, u: u8, v: u8) -> I420Frame {
        let mut f = I420Frame::new(w, h);
        let n = (w * h) as usize;
        f.data[..n].fill(y);
        let c = (f.data.len() - n) / 2;
        f.data[n..n + c].fill(u);
        f.data[n + c..].fill(v);
        f
    }

    #[test]
    fn header_then_rgba() {
        let msg = encode("p1", &solid(4, 2, 235, 128, 128), 1);
        assert_eq!(&msg[0..4], &4u32.to_le_bytes());
        assert_eq!(&msg[4..8], &2u32.to_le_bytes());
        assert_eq!(&msg[8..12], &2u32.to_le_bytes());
        assert_eq!(&msg[12..14], b"p1");
        assert_eq!(msg.len(), 14 + 4 * 2 * 4);
        // Limited-range white is white.
        assert_eq!(&msg[14..18], &[255, 255, 255, 255]);
    }

    #[test]
    fn colours_convert() {
        // BT.601 red: Y 81, U 90, V 240.
        let px = &encode("", &solid(2, 2, 81, 90, 240), 1)[12..16];
        assert!(px[0] > 240 && px[1] < 16 && px[2] < 16, "{px:?}");
        // Black.
        let px = &encode("", &solid(2, 2, 16, 128, 128), 1)[12..16];
        assert_eq!(px, &[0, 0, 0, 255]);
    }

    #[test]
    fn the_preview_is_a_quarter_of_the_pixels() {
        let msg = encode("", &solid(640, 480, 16, 128, 128), 2);
        assert_eq!(&msg[0..4], &320u32.to_le_bytes());
        assert_eq!(&msg[4..8], &240u32.to_le_bytes());
        assert_eq!(msg.len(), 12 + 320 * 240 * 4);
    }
}
