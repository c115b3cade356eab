//! Error codes sent in `error` frames, and the decoding of client frames into typed errors.

use crate::client::{ClientFrame, ClientMessage};
use crate::ids::RequestId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What was wrong, as a stable machine-readable code; `message` carries the human sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    BadJson,
    /// `type` names no message of this protocol version.
    UnknownType,
    /// A known message with missing or wrongly typed fields.
    InvalidMessage,
    /// A text frame above `max_frame_bytes`.
    FrameTooLarge,
    /// Binary frames carry nothing in this protocol.
    BinaryFrame,
    /// Too many messages, or too many wrong invite codes, in a short time.
    RateLimited,
    /// The first message must be `hello`.
    HelloRequired,
    /// The client speaks another protocol version; the connection is closed.
    VersionMismatch,
    /// A name, title, question or chat text that is empty, too long or has control characters;
    /// or an action that makes no sense (the host removing itself, revoking its own mic).
    InvalidInput,
    /// Not an invite code (wrong length or a symbol codes never contain).
    InvalidCode,
    /// A well-formed code that opens no lesson.
    UnknownCode,
    NoSuchLesson,
    LessonEnded,
    /// Pre-questions are for lessons that have not started: knock, and ask inside.
    LessonLive,
    /// The lesson has as many participants, knocks or questions as it takes.
    LessonFull,
    /// The host token does not open this lesson.
    BadHostToken,
    /// The resume token is wrong or the grace period is over: knock again.
    SessionExpired,
    /// Only the host may do this.
    NotHost,
    /// This needs a lesson, and the connection is not in one.
    NotInLesson,
    /// The connection is already in (or waiting for) a lesson: leave first.
    AlreadyInLesson,
    NoSuchPeer,
    NoSuchQuestion,
    /// No teacher's page has this id.
    NoSuchTeacher,
    /// The server could not save; nothing was changed.
    Storage,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::UnknownType => "unknown_type",
            Self::InvalidMessage => "invalid_message",
            Self::FrameTooLarge => "frame_too_large",
            Self::BinaryFrame => "binary_frame",
            Self::RateLimited => "rate_limited",
            Self::HelloRequired => "hello_required",
            Self::VersionMismatch => "version_mismatch",
            Self::InvalidInput => "invalid_input",
            Self::InvalidCode => "invalid_code",
            Self::UnknownCode => "unknown_code",
            Self::NoSuchLesson => "no_such_lesson",
            Self::LessonEnded => "lesson_ended",
            Self::LessonLive => "lesson_live",
            Self::LessonFull => "lesson_full",
            Self::BadHostToken => "bad_host_token",
            Self::SessionExpired => "session_expired",
            Self::NotHost => "not_host",
            Self::NotInLesson => "not_in_lesson",
            Self::AlreadyInLesson => "already_in_lesson",
            Self::NoSuchPeer => "no_such_peer",
            Self::NoSuchQuestion => "no_such_question",
            Self::NoSuchTeacher => "no_such_teacher",
            Self::Storage => "storage",
        }
    }

    pub const ALL: &'static [ErrorCode] = &[
        Self::BadJson,
        Self::UnknownType,
        Self::InvalidMessage,
        Self::FrameTooLarge,
        Self::BinaryFrame,
        Self::RateLimited,
        Self::HelloRequired,
        Self::VersionMismatch,
        Self::InvalidInput,
        Self::InvalidCode,
        Self::UnknownCode,
        Self::NoSuchLesson,
        Self::LessonEnded,
        Self::LessonLive,
        Self::LessonFull,
        Self::BadHostToken,
        Self::SessionExpired,
        Self::NotHost,
        Self::NotInLesson,
        Self::AlreadyInLesson,
        Self::NoSuchPeer,
        Self::NoSuchQuestion,
        Self::NoSuchTeacher,
        Self::Storage,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client frame that could not be decoded, with the request id when one could be read,
/// so that the error frame can still echo it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub re: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
}

/// Just enough of a frame to answer a broken one: its request id and type. The type is read
/// as any JSON value, so that a frame whose `type` is not a string still gets its `req` back.
#[derive(Deserialize)]
pub(crate) struct Envelope {
    pub(crate) req: Option<RequestId>,
    #[serde(rename = "type")]
    ty: Option<serde_json::Value>,
}

impl ClientFrame {
    /// Decodes one text frame. The common case is a single parse; only a frame that fails is
    /// looked at again, to say precisely what was wrong with it.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let full_error = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => return Ok(frame),
            Err(e) => e,
        };
        if !text.trim_start().starts_with('{') {
            let message = match serde_json::from_str::<serde_json::Value>(text) {
                Ok(_) => "a frame must be a JSON object".to_owned(),
                Err(e) => format!("not JSON: {e}"),
            };
            return Err(DecodeError {
                re: None,
                code: ErrorCode::BadJson,
                message,
            });
        }
        let envelope = match serde_json::from_str::<Envelope>(text) {
            Ok(env) => env,
            Err(e) => {
                let (code, message) = if e.is_data() {
                    // Valid JSON, but `req` or `type` has the wrong shape.
                    (ErrorCode::InvalidMessage, format!("invalid frame: {e}"))
                } else {
                    (ErrorCode::BadJson, format!("not JSON: {e}"))
                };
                return Err(DecodeError {
                    re: None,
                    code,
                    message,
                });
            }
        };
        let re = envelope.req;
        let err = |code, message: String| Err(DecodeError { re, code, message });
        match envelope.ty.as_ref().map(|t| t.as_str()) {
            None => err(ErrorCode::InvalidMessage, "missing field `type`".to_owned()),
            Some(None) => err(
                ErrorCode::InvalidMessage,
                "`type` must be a string".to_owned(),
            ),
            Some(Some(ty)) if !ClientMessage::TYPES.contains(&ty) => err(
                ErrorCode::UnknownType,
                format!("unknown message type `{}`", truncate(ty, 64)),
            ),
            Some(Some(ty)) => err(
                ErrorCode::InvalidMessage,
                format!("invalid `{ty}` message: {full_error}"),
            ),
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
