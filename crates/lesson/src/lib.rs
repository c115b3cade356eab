//! The client side of a lesson, without any UI: connect to the room server, host or join,
//! admit, run one media link per remote participant, follow the queue and chat. The desktop app
//! and `tutti-peer` are thin shells over this.

pub mod check;
pub mod client;
pub mod engine;
pub mod lesson_core;
pub mod socket;
pub mod sources;

pub use client::{ClientError, RoomClient};
pub use engine::{
    AdmitPolicy, EncodedVideoSink, EngineConfig, Lesson, LessonError, LessonEvent, LessonHandle,
    MetronomeSettings, OverReason, PeerStats, ReceivedVideo, VideoFrame, VideoOutput, VideoSink,
};
pub use lesson_core::{Effect, LessonCore, LinkId};
pub use sources::{SourceError, parse_source};
