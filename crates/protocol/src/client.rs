//! Client → server.

use crate::ids::{HostToken, LessonId, PeerId, QuestionId, RequestId, ResumeToken, UnixMs};
use crate::model::{JoinRole, QuestionKind, QuestionState, Signal};
use serde::{Deserialize, Serialize};

/// What travels in one WebSocket text frame from a client: a request id and the message.
///
/// On the wire the two are one flat object: `{"req": 7, "type": "knock", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub req: RequestId,
    #[serde(flatten)]
    pub msg: ClientMessage,
}

/// Every request gets exactly one reply echoing its `req`: a specific reply, `ok`, or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Must be first. `protocol` is [`crate::PROTOCOL_VERSION`] of the client's build.
    Hello {
        protocol: u32,
        client: String,
    },

    /// Creates a lesson now (`scheduled_for` absent) or for later. Reply: `lesson_created`.
    /// The creator is not in the lesson until it sends `start_lesson` with the host token.
    CreateLesson {
        title: String,
        host_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheduled_for: Option<UnixMs>,
        /// The host's time zone (IANA, e.g. `Asia/Seoul`), so a student sees the lesson's time
        /// in both zones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
        /// The teacher's page, published (or updated) with the lesson under `teacher_key`, a
        /// secret the teacher's app keeps (16–128 characters): the lesson then names the page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        teacher_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        teacher: Option<crate::TeacherPage>,
    },
    /// Host only, with the host token, from any connection: a lesson that will not take place.
    /// Its code stops working and anyone waiting is told (`lesson_ended`). Reply: `ok`, also
    /// when it had already ended.
    CancelLesson {
        lesson: LessonId,
        host_token: HostToken,
    },
    /// Opens the lesson as its host (or comes back to it). Reply: `joined`.
    StartLesson {
        lesson: LessonId,
        host_token: HostToken,
    },
    /// Looks a lesson up by its code without joining. Reply: `lesson_preview`.
    Preview {
        code: String,
    },
    /// A question sent with the code before (or outside) the lesson. Reply: `question_asked`.
    SubmitPreQuestion {
        code: String,
        name: String,
        text: String,
        #[serde(default)]
        kind: QuestionKind,
        #[serde(default)]
        anonymous: bool,
    },
    /// Asks to join; the host admits or denies. Reply: `waiting`; later `joined` or `denied`.
    Knock {
        code: String,
        name: String,
        #[serde(default)]
        role: JoinRole,
    },
    /// Host only: lets a knocking participant in.
    Admit {
        peer: PeerId,
    },
    /// Host only: turns a knocking participant away.
    Deny {
        peer: PeerId,
    },
    /// Comes back after a lost connection, within the grace period. Reply: `joined`.
    Rejoin {
        lesson: LessonId,
        peer: PeerId,
        token: ResumeToken,
    },
    /// Leaves the lesson (or the waiting room). The host leaving does not end the lesson.
    Leave,
    /// Host only.
    Remove {
        peer: PeerId,
    },
    /// Host only: everyone is told, and the code stops working.
    EndLesson,
    /// WebRTC negotiation for another participant of the same lesson.
    Signal {
        to: PeerId,
        signal: Signal,
    },
    /// Adds to the live queue. Reply: `question_asked`.
    AskQuestion {
        #[serde(default)]
        text: String,
        #[serde(default)]
        kind: QuestionKind,
        #[serde(default)]
        anonymous: bool,
    },
    /// One vote per participant and question; `up: false` takes it back.
    Vote {
        question: QuestionId,
        up: bool,
    },
    /// Host only: answered, dismissed, or open again.
    SetQuestionState {
        question: QuestionId,
        state: QuestionState,
    },
    /// Host only.
    PinQuestion {
        question: QuestionId,
        pinned: bool,
    },
    /// Host only: grants or revokes the right to send audio.
    SetMic {
        peer: PeerId,
        allowed: bool,
    },
    Chat {
        text: String,
    },
    /// Says that we record the lesson (or have stopped): everyone sees it.
    SetRecording {
        on: bool,
    },
}

impl ClientMessage {
    /// The wire names of every message, for telling an unknown type from malformed fields.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "create_lesson",
        "start_lesson",
        "cancel_lesson",
        "preview",
        "submit_pre_question",
        "knock",
        "admit",
        "deny",
        "rejoin",
        "leave",
        "remove",
        "end_lesson",
        "signal",
        "ask_question",
        "vote",
        "set_question_state",
        "pin_question",
        "set_mic",
        "chat",
        "set_recording",
    ];

    /// The wire name of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::CreateLesson { .. } => "create_lesson",
            Self::StartLesson { .. } => "start_lesson",
            Self::CancelLesson { .. } => "cancel_lesson",
            Self::Preview { .. } => "preview",
            Self::SubmitPreQuestion { .. } => "submit_pre_question",
            Self::Knock { .. } => "knock",
            Self::Admit { .. } => "admit",
            Self::Deny { .. } => "deny",
            Self::Rejoin { .. } => "rejoin",
            Self::Leave => "leave",
            Self::Remove { .. } => "remove",
            Self::EndLesson => "end_lesson",
            Self::Signal { .. } => "signal",
            Self::AskQuestion { .. } => "ask_question",
            Self::Vote { .. } => "vote",
            Self::SetQuestionState { .. } => "set_question_state",
            Self::PinQuestion { .. } => "pin_question",
            Self::SetMic { .. } => "set_mic",
            Self::Chat { .. } => "chat",
            Self::SetRecording { .. } => "set_recording",
        }
    }
}
