//! Errors as the UI receives them: `{code, message}`. The code is stable and picks the sentence
//! the UI shows in the user's language; the message is the English detail behind it.

use serde::Serialize;
use tutti_lesson::{ClientError, LessonError, SourceError};
use tutti_media::device::DeviceError;
use tutti_protocol::ErrorCode as Wire;
use tutti_store::{Invalid, StoreError};

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
    /// The English detail, for logs and reports; the UI says `code` (and `problem`) in words.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// What was wrong with what the user gave (or what the room server refused), so the UI can say
/// it in the user's language; `message` keeps the English for logs.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "key", rename_all = "snake_case")]
pub enum Problem {
    /// `what` must be 1 to `max` characters.
    Length { what: Field, max: u32 },
    /// `what` is empty.
    Empty { what: Field },
    /// `what` must be from `min` to `max`, in its own unit.
    Range { what: Field, min: f64, max: f64 },
    /// No date and time was chosen.
    NoTime,
    /// A room server's address starts with ws:// or wss://.
    ServerAddress,
    /// Not a time zone this computer knows.
    UnknownZone { zone: String },
    /// Opus frames are 2.5, 5, 10 or 20 ms.
    FrameLength,
    /// The question is no longer there.
    NoSuchQuestion,
    /// A recording too large to play in the app (open it from its folder).
    TooLargeToPlay { mb: u32 },
    /// Recording is already on.
    AlreadyRecording,
    /// The one to replay is not in the lesson.
    NotHere,
    /// At most `max` of `what`.
    TooMany { what: Field, max: u32 },
    /// The photo must be a JPEG, PNG or WebP of at most `kb` KB.
    Photo { kb: u32 },
    /// The room server refused, in its own code (as on the wire, e.g. `lesson_full`).
    Server { code: String },
}

/// What a [`Problem`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Name,
    Question,
    Message,
    Note,
    About,
    LessonMinutes,
    LocalPort,
    Bitrate,
    Tempo,
    Beats,
    CountIn,
    Volume,
    Pan,
    ReferenceA,
    ReplaySeconds,
    Text,
    Bio,
    Instrument,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Title => "the title",
            Field::Name => "your name",
            Field::Question => "the question",
            Field::Message => "the message",
            Field::Note => "the note",
            Field::About => "the note about the student",
            Field::LessonMinutes => "a lesson's length in minutes",
            Field::LocalPort => "the local port",
            Field::Bitrate => "the bitrate in kb/s",
            Field::Tempo => "the tempo in beats a minute",
            Field::Beats => "the beats in a bar",
            Field::CountIn => "the count-in in bars",
            Field::Volume => "the volume",
            Field::Pan => "the pan",
            Field::ReferenceA => "the reference A in Hz",
            Field::ReplaySeconds => "a replay in seconds",
            Field::Text => "the text",
            Field::Bio => "the biography",
            Field::Instrument => "an instrument",
        }
    }

    /// The store's names for what it checks.
    fn of_store(what: &str) -> Field {
        match what {
            "title" => Field::Title,
            "name" => Field::Name,
            "question" => Field::Question,
            "chat message" => Field::Message,
            "note" => Field::Note,
            "note about the student" => Field::About,
            _ => Field::Text,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Length { what, max } => {
                write!(f, "{} must be 1 to {max} characters", what.name())
            }
            Problem::Empty { what } => write!(f, "{} is empty", what.name()),
            Problem::Range { what, min, max } => {
                write!(f, "{} must be {min} to {max}", what.name())
            }
            Problem::NoTime => f.write_str("choose a date and time"),
            Problem::ServerAddress => {
                f.write_str("the room server address starts with ws:// or wss://")
            }
            Problem::UnknownZone { zone } => write!(f, "unknown time zone {zone:?}"),
            Problem::FrameLength => f.write_str("the frame length is 2.5, 5, 10 or 20 ms"),
            Problem::NoSuchQuestion => f.write_str("no such question"),
            Problem::TooLargeToPlay { mb } => {
                write!(
                    f,
                    "too large to play here ({mb} MB): open it from its folder"
                )
            }
            Problem::AlreadyRecording => f.write_str("already recording"),
            Problem::NotHere => f.write_str("they are not in the lesson"),
            Problem::TooMany { what, max } => write!(f, "at most {max} of {}", what.name()),
            Problem::Photo { kb } => {
                write!(
                    f,
                    "the photo must be a JPEG, PNG or WebP of at most {kb} KB"
                )
            }
            Problem::Server { code } => write!(f, "the room server refused ({code})"),
        }
    }
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            problem: None,
        }
    }

    /// Something the user gave is not acceptable: said in words by the UI.
    pub fn invalid(problem: Problem) -> Self {
        Self::with(ErrorCode::InvalidInput, problem)
    }

    pub fn with(code: ErrorCode, problem: Problem) -> Self {
        Self {
            code,
            message: problem.to_string(),
            problem: Some(problem),
        }
    }

    /// A problem the UI can say, with a fuller English `message` than the problem's own.
    pub fn detailed(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn not_in_lesson() -> Self {
        Self::new(ErrorCode::NotInLesson, "you are not in a lesson")
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The room server refused with `wire`, over the WebSocket or its HTTP API: in the user's
    /// terms, with the server's own code kept where the app has no code of its own for it.
    pub fn refused(wire: Wire, message: impl Into<String>) -> Self {
        let code = match wire {
            Wire::InvalidCode | Wire::UnknownCode | Wire::NoSuchLesson => ErrorCode::WrongCode,
            Wire::RateLimited => ErrorCode::TooManyTries,
            Wire::LessonEnded => ErrorCode::LessonEnded,
            Wire::NotHost | Wire::BadHostToken => ErrorCode::NotHost,
            Wire::NotInLesson | Wire::SessionExpired => ErrorCode::NotInLesson,
            Wire::AlreadyInLesson => ErrorCode::AlreadyInLesson,
            Wire::InvalidInput => ErrorCode::InvalidInput,
            _ => ErrorCode::Refused,
        };
        let problem =
            matches!(code, ErrorCode::Refused | ErrorCode::InvalidInput).then(|| Problem::Server {
                code: wire.as_str().to_owned(),
            });
        Self {
            code,
            message: message.into(),
            problem,
        }
    }
}

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Connect { .. } | ClientError::Closed | ClientError::Timeout => {
                ErrorCode::ServerUnreachable
            }
            ClientError::Refused { code, .. } => return Self::refused(*code, e.to_string()),
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
            LessonError::Metronome(m) => {
                use tutti_protocol::{MetronomeError, MetronomePlan};
                Self::invalid(match m {
                    MetronomeError::Tempo => Problem::Range {
                        what: Field::Tempo,
                        min: MetronomePlan::MIN_BPM,
                        max: MetronomePlan::MAX_BPM,
                    },
                    MetronomeError::Meter => Problem::Range {
                        what: Field::Beats,
                        min: 1.0,
                        max: 16.0,
                    },
                    MetronomeError::CountIn => Problem::Range {
                        what: Field::CountIn,
                        min: 0.0,
                        max: 4.0,
                    },
                })
            }
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let StoreError::Invalid(invalid) = e else {
            return Self::new(ErrorCode::Store, e.to_string());
        };
        Self::invalid(match invalid {
            Invalid::Empty { what } => Problem::Empty {
                what: Field::of_store(what),
            },
            Invalid::TooLong { what, max } => Problem::Length {
                what: Field::of_store(what),
                max: u32::try_from(max).unwrap_or(u32::MAX),
            },
            Invalid::UnknownZone(zone) => Problem::UnknownZone { zone },
        })
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
            AppError::from(StoreError::Invalid(Invalid::Empty { what: "title" })),
            AppError::invalid(Problem::Empty { what: Field::Title })
        );
    }

    /// What the UI needs to say a problem in the user's language travels typed; the English
    /// stays in `message`.
    #[test]
    fn problems_travel_typed_beside_the_english() {
        let e = AppError::invalid(Problem::Range {
            what: Field::LessonMinutes,
            min: 5.0,
            max: 600.0,
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({
                "code": "invalid_input",
                "message": "a lesson's length in minutes must be 5 to 600",
                "problem": {"key": "range", "what": "lesson_minutes", "min": 5.0, "max": 600.0}
            })
        );
        let full = AppError::from(ClientError::Refused {
            code: Wire::LessonFull,
            message: "the lesson is full (16)".into(),
        });
        assert_eq!(full.code, ErrorCode::Refused);
        assert_eq!(
            full.problem,
            Some(Problem::Server {
                code: "lesson_full".into()
            })
        );
        assert_eq!(
            AppError::from(StoreError::Invalid(Invalid::TooLong {
                what: "chat message",
                max: 10_000
            }))
            .problem,
            Some(Problem::Length {
                what: Field::Message,
                max: 10_000
            })
        );
        let tempo = AppError::from(LessonError::Metronome(
            tutti_protocol::MetronomeError::Tempo,
        ));
        assert_eq!(
            tempo.problem,
            Some(Problem::Range {
                what: Field::Tempo,
                min: 20.0,
                max: 300.0
            })
        );
    }
}
