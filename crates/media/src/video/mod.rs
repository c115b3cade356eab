//! Video: I420 frames, a test pattern that carries its own frame number and capture time, and
//! VP8 through libvpx with real-time settings, cameras, and the send loop.

pub mod assemble;
pub mod camera;
pub mod frame;
pub mod pattern;
pub mod rate;
pub mod send;
pub mod vp8;

pub use camera::{CameraError, CameraInfo, CameraSource, CameraState, list_cameras};
pub use frame::I420Frame;
pub use pattern::{Stamp, TestPattern, read_stamp};
pub use rate::RateController;
pub use send::{VideoFanout, VideoSendLoop, VideoSendReport, VideoSource};
pub use vp8::{EncodedFrame, Vp8Config, Vp8Decoder, Vp8Encoder, Vp8Error};
