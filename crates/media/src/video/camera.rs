//! Cameras through nokhwa, on a thread of their own: frames are converted to I420 and handed
//! over through a small bounded queue (the newest wins; drops are counted), so a slow camera or
//! encoder never holds up anything else. No camera, a busy one or one unplugged mid-lesson is
//! a typed error or a state the UI can show; the lesson goes on with audio either way.

use super::{I420Frame, VideoSource};
use crate::worker::LoopThread;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("no camera")]
    NoCamera,
    #[error("no camera named {0:?}")]
    NotFound(String),
    #[error("the camera cannot be opened (in use by another program?): {0}")]
    Open(String),
}

/// A camera as the pickers list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    pub index: u32,
    pub name: String,
}

/// What the camera is doing, for the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    Running,
    /// It stopped delivering (unplugged, or taken by another program).
    Lost,
}

/// The cameras this machine has; an empty list when there are none.
pub fn list_cameras() -> Vec<CameraInfo> {
    match nokhwa::query(ApiBackend::Auto) {
        Ok(cams) => cams
            .iter()
            .filter_map(|c| match c.index() {
                CameraIndex::Index(i) => Some(CameraInfo {
                    index: *i,
                    name: c.human_name(),
                }),
                CameraIndex::String(_) => None,
            })
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "no cameras to list");
            Vec::new()
        }
    }
}

/// Picks a camera by name (any part of it, ignoring case), or the first one.
fn choose(cameras: &[CameraInfo], name: Option<&str>) -> Result<u32, CameraError> {
    match name {
        None => cameras
            .first()
            .map(|c| c.index)
            .ok_or(CameraError::NoCamera),
        Some(want) => {
            let want_lc = want.to_lowercase();
            cameras
                .iter()
                .find(|c| c.name.to_lowercase().contains(&want_lc))
                .map(|c| c.index)
                .ok_or_else(|| {
                    if cameras.is_empty() {
                        CameraError::NoCamera
                    } else {
                        CameraError::NotFound(want.to_owned())
                    }
                })
        }
    }
}

/// BT.601 limited range, 4:2:0 by averaging each 2×2 block's chroma.
pub fn rgb_to_i420(rgb: &[u8], width: u32, height: u32) -> I420Frame {
    let (w, h) = (width & !1, height & !1);
    let mut f = I420Frame::new(w, h);
    let src_w = width as usize;
    let px = |x: u32, y: u32| {
        let i = (y as usize * src_w + x as usize) * 3;
        match rgb.get(i..i + 3) {
            Some(p) => (f32::from(p[0]), f32::from(p[1]), f32::from(p[2])),
            None => (0.0, 0.0, 0.0),
        }
    };
    {
        let y_plane = f.y_mut();
        for y in 0..h {
            for x in 0..w {
                let (r, g, b) = px(x, y);
                y_plane[(y * w + x) as usize] = (16.0 + 0.257 * r + 0.504 * g + 0.098 * b) as u8;
            }
        }
    }
    let cw = w / 2;
    let (u_plane, v_plane) = f.uv_mut();
    for cy in 0..h / 2 {
        for cx in 0..cw {
            let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = px(cx * 2 + dx, cy * 2 + dy);
                r += p.0 / 4.0;
                g += p.1 / 4.0;
                b += p.2 / 4.0;
            }
            let i = (cy * cw + cx) as usize;
            u_plane[i] = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b) as u8;
            v_plane[i] = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b) as u8;
        }
    }
    f
}

/// A running camera.
pub struct CameraSource {
    frames: mpsc::Receiver<I420Frame>,
    lost: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    /// Stopped (and waited for, to let go of the device) when the source is dropped.
    worker: Option<LoopThread<()>>,
    /// The size frames come in (the camera's closest to what was asked).
    pub width: u32,
    pub height: u32,
}

impl CameraSource {
    /// Opens the camera named (or the first), asking for `width`×`height` at `fps`.
    pub fn open(
        name: Option<&str>,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Self, CameraError> {
        let index = choose(&list_cameras(), name)?;
        let (tx, frames) = mpsc::sync_channel(2);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(u32, u32), CameraError>>();
        let lost = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (lost2, dropped2) = (lost.clone(), dropped.clone());
        let worker = LoopThread::spawn("tutti-camera", move |stop| {
            // The camera is made on its own thread: nokhwa's handles are not all Send.
            let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(
                CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps),
            ));
            let mut cam = match nokhwa::Camera::new(CameraIndex::Index(index), format)
                .and_then(|mut c| c.open_stream().map(|()| c))
            {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(CameraError::Open(e.to_string())));
                    return;
                }
            };
            let res = cam.resolution();
            let _ = ready_tx.send(Ok((res.width() & !1, res.height() & !1)));
            while !stop.load(Relaxed) {
                let picture = cam.frame().and_then(|buf| buf.decode_image::<RgbFormat>());
                match picture {
                    Ok(img) => {
                        lost2.store(false, Relaxed);
                        let f = rgb_to_i420(img.as_raw(), img.width(), img.height());
                        if tx.try_send(f).is_err() {
                            dropped2.fetch_add(1, Relaxed);
                        }
                    }
                    Err(e) => {
                        if !lost2.swap(true, Relaxed) {
                            tracing::warn!(error = %e, "the camera stopped delivering");
                        }
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                }
            }
            let _ = cam.stop_stream();
        })
        .map_err(|e| CameraError::Open(e.to_string()))?;
        let (w, h) = ready_rx
            .recv()
            .map_err(|_| CameraError::Open("the camera thread ended".into()))??;
        Ok(Self {
            frames,
            lost,
            dropped,
            worker: Some(worker),
            width: w,
            height: h,
        })
    }

    pub fn state(&self) -> CameraState {
        if self.lost.load(Relaxed) {
            CameraState::Lost
        } else {
            CameraState::Running
        }
    }

    /// Frames the encoder did not take in time.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

impl VideoSource for CameraSource {
    fn next_frame(&mut self, _captured_ms: u32) -> Option<I420Frame> {
        // The newest waiting frame; older ones would only add delay.
        let mut newest = None;
        while let Ok(f) = self.frames.try_recv() {
            newest = Some(f);
        }
        newest
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_camera_opening_says_so() {
        // This machine (and CI) has no camera: a clear, typed answer, no panic.
        if list_cameras().is_empty() {
            assert_eq!(
                CameraSource::open(None, 640, 480, 30).err(),
                Some(CameraError::NoCamera)
            );
            assert_eq!(
                CameraSource::open(Some("Logitech"), 640, 480, 30).err(),
                Some(CameraError::NoCamera)
            );
        }
    }

    #[test]
    fn cameras_are_chosen_by_part_of_their_name() {
        let cams = vec![
            CameraInfo {
                index: 0,
                name: "Integrated Webcam".into(),
            },
            CameraInfo {
                index: 2,
                name: "Logitech BRIO".into(),
            },
        ];
        assert_eq!(choose(&cams, None), Ok(0));
        assert_eq!(choose(&cams, Some("brio")), Ok(2));
        assert_eq!(
            choose(&cams, Some("Sony")),
            Err(CameraError::NotFound("Sony".into()))
        );
        assert_eq!(choose(&[], None), Err(CameraError::NoCamera));
    }

    #[test]
    fn rgb_converts_to_i420_with_the_right_levels() {
        // White, black, and pure red 2×2 blocks side by side.
        let (w, h) = (6u32, 2u32);
        let mut rgb = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(match x / 2 {
                    0 => &[255, 255, 255],
                    1 => &[0, 0, 0],
                    _ => &[255, 0, 0],
                });
            }
        }
        let f = rgb_to_i420(&rgb, w, h);
        let y = f.y();
        assert!((234..=236).contains(&y[0]), "white Y {}", y[0]);
        assert_eq!(y[2], 16, "black Y");
        assert!((80..=83).contains(&y[4]), "red Y {}", y[4]);
        let (cw, _) = f.chroma_size();
        let v_plane = &f.data[(w * h + cw) as usize..];
        assert!(v_plane[2] > 230, "red has high V: {}", v_plane[2]);
        // Short input: no panic.
        let _ = rgb_to_i420(&[1, 2, 3], 640, 480);
    }
}
