//! Server → client.

use crate::error::ErrorCode;
use crate::ids::{HostToken, LessonId, PeerId, QuestionId, RequestId, ResumeToken};
use crate::model::{
    ChatMessage, IceServer, Knock, LeaveReason, LessonInfo, Participant, Question, Signal,
};
use serde::{Deserialize, Serialize};

/// Replies carry `re`, the `req` of the request they answer; events do not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    // ---- replies ----
    Welcome {
        re: RequestId,
        protocol: u32,
        server: String,
        /// Larger text frames are refused with `frame_too_large`.
        max_frame_bytes: usize,
    },
    LessonCreated {
        re: RequestId,
        lesson: LessonInfo,
        /// Keep it: it is the only way to open the lesson as its host. Shown once.
        host_token: HostToken,
    },
    LessonPreview {
        re: RequestId,
        lesson: LessonInfo,
        questions: Vec<Question>,
    },
    /// In the waiting room; `you` is the peer id kept once admitted.
    Waiting {
        re: RequestId,
        lesson: LessonInfo,
        you: PeerId,
        /// Whether the host is connected to admit you now (`host_presence` tells of changes).
        host_present: bool,
    },
    /// Reply to `start_lesson` and `rejoin`, or the event that admits a knocking participant.
    Joined(Box<Joined>),
    QuestionAsked {
        re: RequestId,
        question: QuestionId,
    },
    Ok {
        re: RequestId,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        re: Option<RequestId>,
        code: ErrorCode,
        message: String,
    },

    // ---- events ----
    /// To the host: someone is in the waiting room.
    Knocking {
        knock: Knock,
    },
    /// To the host: a knocking participant left the waiting room.
    KnockWithdrawn {
        peer: PeerId,
    },
    /// To a knocking participant: the host started the lesson.
    LessonStarted {
        lesson: LessonInfo,
    },
    /// To those in the waiting room: the host arrived, or lost its connection or left.
    HostPresence {
        present: bool,
    },
    /// To a knocking participant.
    Denied {
        lesson: LessonId,
    },
    /// A participant joined, came back, lost the connection, or had the mic granted or revoked.
    ParticipantUpdated {
        participant: Participant,
    },
    ParticipantLeft {
        peer: PeerId,
        reason: LeaveReason,
    },
    /// A new or changed question (upsert by id).
    QuestionUpdated {
        question: Question,
    },
    ChatPosted {
        message: ChatMessage,
    },
    Signal {
        from: PeerId,
        signal: Signal,
    },
    /// To the removed participant.
    Removed {
        lesson: LessonId,
    },
    LessonEnded {
        lesson: LessonId,
    },
    /// This connection's session was taken over by a `rejoin` or `start_lesson` elsewhere.
    SessionReplaced {
        lesson: LessonId,
    },
    /// The server is going down (restart or shutdown); reconnect and rejoin.
    ServerClosing {
        reason: String,
    },
}

/// Everything a participant needs on entering a lesson.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<RequestId>,
    pub lesson: LessonInfo,
    pub you: Participant,
    /// Keep it to `rejoin` after a lost connection.
    pub resume_token: ResumeToken,
    /// Everyone in the lesson, including you.
    pub participants: Vec<Participant>,
    /// The waiting room; empty unless you are the host.
    pub waiting: Vec<Knock>,
    pub questions: Vec<Question>,
    /// Questions you have voted for.
    pub your_votes: Vec<QuestionId>,
    /// The most recent chat, oldest first.
    pub chat: Vec<ChatMessage>,
    pub ice_servers: Vec<IceServer>,
    /// How long a lost connection may be away before it is dropped from the lesson.
    pub grace_secs: u64,
}

impl ServerMessage {
    pub fn error(re: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            re,
            code,
            message: message.into(),
        }
    }

    /// The request this message answers, if it is a reply.
    pub fn re(&self) -> Option<RequestId> {
        match self {
            Self::Welcome { re, .. }
            | Self::LessonCreated { re, .. }
            | Self::LessonPreview { re, .. }
            | Self::Waiting { re, .. }
            | Self::QuestionAsked { re, .. }
            | Self::Ok { re } => Some(*re),
            Self::Joined(j) => j.re,
            Self::Error { re, .. } => *re,
            _ => None,
        }
    }
}
