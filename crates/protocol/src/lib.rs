//! The Tutti wire protocol: JSON text frames over a WebSocket between a client (the desktop
//! app, the headless peer, tests) and the room server. `docs/protocol.md` documents it with an
//! example of every message.
//!
//! One tagged enum per direction ([`ClientMessage`], [`ServerMessage`]); the `type` field names
//! the variant. Requests carry `req`; every request gets exactly one reply carrying `re`.

pub mod api;
mod client;
mod error;
mod ids;
mod invite;
mod model;
mod peer;
#[doc(hidden)]
pub mod properties;
mod server;
pub mod take;

pub use client::{ClientFrame, ClientMessage};
pub use error::{DecodeError, ErrorCode};
pub use ids::{ChatId, HostToken, LessonId, PeerId, QuestionId, RequestId, ResumeToken, UnixMs};
pub use invite::{InviteCode, InviteCodeError};
pub use model::{
    ChatMessage, IceServer, JoinRole, Knock, LeaveReason, LessonInfo, LessonStatus, Participant,
    Question, QuestionKind, QuestionState, Role, Signal, TeacherId, TeacherPage,
};
pub use peer::{Accent, MetronomeError, MetronomePlan, PeerMessage};
pub use server::{Joined, ServerMessage};

/// Bumped on any change a client of the previous version could not read or write.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest text frame the server reads; SDP with many candidates stays well below it.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Limits on user text, in characters (not bytes: Korean text is three bytes a character).
pub mod limits {
    pub const NAME_CHARS: usize = 64;
    pub const TITLE_CHARS: usize = 120;
    /// An IANA time zone name (the longest real one is 32).
    pub const ZONE_CHARS: usize = 64;
    pub const QUESTION_CHARS: usize = 1000;
    pub const CHAT_CHARS: usize = 2000;
    pub const SDP_BYTES: usize = 32 * 1024;
    /// The teacher's page: a short biography, instruments, and a small photo (a data URL; a
    /// 160×160 JPEG is about 15 KB of it), all within one frame.
    pub const BIO_CHARS: usize = 1000;
    pub const INSTRUMENTS: usize = 8;
    pub const INSTRUMENT_CHARS: usize = 40;
    pub const PHOTO_BYTES: usize = 40 * 1024;
    /// A teacher's key (the app's secret that owns the page).
    pub const TEACHER_KEY_CHARS: usize = 128;
}

impl ServerMessage {
    /// Serialises for the wire. Serialising these types cannot fail (string keys only).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","code":"bad_json","message":"encode: {e}"}}"#)
        })
    }
}

impl ClientFrame {
    pub fn new(req: u64, msg: ClientMessage) -> Self {
        Self {
            req: RequestId(req),
            msg,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
