//! Errors as the UI receives them: `{code, message}`. The code is stable and picks the sentence
//! the UI shows in the user's language; the message is the English detail behind it.

use serde::Serialize;
use tutti_lesson::{ClientError, LessonError, SourceError};
use tutti_media::device::DeviceError;
use tutti_protocol::ErrorCode as Wire;
use tutti_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The room server cannot be reached (or went away).
    ServerUnreachable,
    /// The room server was lost mid-lesson: the sound goes on peer to peer while the app gets
    /// back in.
    Reconnecting,
    /// The code opens no lesson (mistyped, or never existed).
    WrongCode,
    /// Too many wrong codes from this address: the room server makes us wait (message: how long).
    TooManyTries,
    /// The lesson behind the code has ended.
    LessonEnded,
    /// A lesson we scheduled is unknown to its room server (reset, or its data lost): it can be
    /// opened again there with a new code.
    LessonUnknown,
    /// The room server could not be told that a lesson is called off: it is still scheduled.
    NotCancelled,
    /// The host turned us away.
    Denied,
    /// The user cancelled (e.g. stopped waiting to be admitted).
    Cancelled,
    /// The host asked to end the lesson and the room server did not confirm it: it is still
    /// open there (and can be opened and ended again).
    NotEnded,
    NotInLesson,
    AlreadyInLesson,
    /// Only the host may do this.
    NotHost,
    NoMicrophone,
    NoSpeaker,
    /// JACK is chosen in Settings and no JACK server runs.
    NoJackServer,
    /// The sound server delivered nothing from the microphone for a while (overload, a
    /// failing device).
    MicrophoneStalled,
    /// The sound server took nothing for the speaker for a while.
    SpeakerStalled,
    NoCamera,
    /// The system refused access to a device.
    PermissionDenied,
    /// Something the user typed is not acceptable (empty, too long, not a time zone…).
    InvalidInput,
    /// The local lesson store could not save or read (full disk, read-only…).
    Store,
    /// The room server this app runs for "host on this computer" could not start.
    LocalServer,
    /// The room server refused for another reason (message says which).
    Refused,
    /// Leader–follower needs someone to follow.
    NoFollower,
    /// The follower has not said yet how late it hears us (the aligned replay waits for it).
    NotMeasured,
    /// Nothing of that part has been heard yet: no replay.
    NothingToReplay,
    /// The disk is full: a recording stopped (what it recorded is kept).
    DiskFull,
    /// A recording could not be written (the message says why; what it recorded is kept).
    RecordingFailed,
    /// Our take could not be sent to the teacher (the message says why; it is kept here).
    TakeNotDelivered,
    /// A recording's file is not where it was saved (moved or deleted), or cannot be read.
    RecordingMissing,
    /// A recording's mix could not be made (its tracks are kept, and play in the history).
    MixFailed,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_in_lesson() -> Self {
        Self::new(ErrorCode::NotInLesson, "you are not in a lesson")
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Connect { .. } | ClientError::Closed | ClientError::Timeout => {
                ErrorCode::ServerUnreachable
            }
            ClientError::Refused { code, .. } => match code {
                Wire::InvalidCode | Wire::UnknownCode | Wire::NoSuchLesson => ErrorCode::WrongCode,
                Wire::RateLimited => ErrorCode::TooManyTries,
                Wire::LessonEnded => ErrorCode::LessonEnded,
                Wire::NotHost | Wire::BadHostToken => ErrorCode::NotHost,
                Wire::NotInLesson | Wire::SessionExpired => ErrorCode::NotInLesson,
                Wire::AlreadyInLesson => ErrorCode::AlreadyInLesson,
                Wire::InvalidInput => ErrorCode::InvalidInput,
                _ => ErrorCode::Refused,
            },
            ClientError::Unexpected(_) => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<LessonError> for AppError {
    fn from(e: LessonError) -> Self {
        match e {
            LessonError::Client(c) => c.into(),
            LessonError::Denied => Self::new(ErrorCode::Denied, e.to_string()),
            LessonError::Ended => Self::new(ErrorCode::LessonEnded, e.to_string()),
            LessonError::Media(_) | LessonError::Video(_) => {
                Self::new(ErrorCode::Internal, e.to_string())
            }
            LessonError::NotHost => Self::new(ErrorCode::NotHost, e.to_string()),
            LessonError::Metronome(_) => Self::new(ErrorCode::InvalidInput, e.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::Invalid(_) => ErrorCode::InvalidInput,
            _ => ErrorCode::Store,
        };
        Self::new(code, e.to_string())
    }
}

/// A sound card problem, as a microphone (`input`) or speaker problem.
pub fn device_error(e: &DeviceError, input: bool) -> AppError {
    let denied = e.to_string().to_lowercase().contains("permission");
    let code = match (denied, input) {
        _ if matches!(e, DeviceError::NoJackServer { .. }) => ErrorCode::NoJackServer,
        (true, _) => ErrorCode::PermissionDenied,
        (false, true) => ErrorCode::NoMicrophone,
        (false, false) => ErrorCode::NoSpeaker,
    };
    AppError::new(code, e.to_string())
}

impl From<SourceError> for AppError {
    fn from(e: SourceError) -> Self {
        match &e {
            SourceError::Device(d) => device_error(d, true),
            _ => Self::new(ErrorCode::Internal, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_and_message() {
        let e = AppError::new(ErrorCode::WrongCode, "no lesson has this code");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "wrong_code", "message": "no lesson has this code"})
        );
    }

    #[test]
    fn room_server_refusals_map_to_what_the_user_can_do() {
        let refused = |code| ClientError::Refused {
            code,
            message: "x".into(),
        };
        let cases = [
            (Wire::UnknownCode, ErrorCode::WrongCode),
            (Wire::InvalidCode, ErrorCode::WrongCode),
            (Wire::LessonEnded, ErrorCode::LessonEnded),
            (Wire::BadHostToken, ErrorCode::NotHost),
            (Wire::RateLimited, ErrorCode::TooManyTries),
            (Wire::LessonFull, ErrorCode::Refused),
        ];
        for (wire, app) in cases {
            assert_eq!(AppError::from(refused(wire)).code, app, "{wire:?}");
        }
        let unreachable = ClientError::Connect {
            url: "ws://x".into(),
            reason: "refused".into(),
        };
        assert_eq!(
            AppError::from(unreachable).code,
            ErrorCode::ServerUnreachable
        );
        assert_eq!(AppError::from(LessonError::Denied).code, ErrorCode::Denied);
    }

    #[test]
    fn a_full_disk_is_a_store_error() {
        assert_eq!(AppError::from(StoreError::DiskFull).code, ErrorCode::Store);
        assert_eq!(
            AppError::from(StoreError::Invalid("empty".into())).code,
            ErrorCode::InvalidInput
        );
    }
}
