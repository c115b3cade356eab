//! The things messages talk about: lessons, participants, questions, chat, ICE servers.

use crate::ids::{ChatId, LessonId, PeerId, QuestionId, UnixMs};
use crate::invite::InviteCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LessonStatus {
    /// Created for a later time; students may send pre-questions and knock.
    Scheduled,
    /// The host has opened it.
    Live,
    /// The host ended it; its code no longer admits anyone.
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonInfo {
    pub id: LessonId,
    pub code: InviteCode,
    pub title: String,
    pub host_name: String,
    pub status: LessonStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<UnixMs>,
    /// The host's time zone (IANA), when the host's app said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub created_at: UnixMs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<UnixMs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<UnixMs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    Student,
    Observer,
}

/// The roles a knocking participant may ask for; only the host token makes a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinRole {
    #[default]
    Student,
    Observer,
}

impl From<JoinRole> for Role {
    fn from(r: JoinRole) -> Self {
        match r {
            JoinRole::Student => Role::Student,
            JoinRole::Observer => Role::Observer,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub peer: PeerId,
    pub name: String,
    pub role: Role,
    /// May send audio. Host and students by default; observers when the host grants it.
    pub mic: bool,
    /// False while the participant's connection is lost and it may still rejoin.
    pub connected: bool,
    /// Recording the lesson (for themselves): everyone is told, latecomers too.
    #[serde(default)]
    pub recording: bool,
}

/// Someone in the waiting room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knock {
    pub peer: PeerId,
    pub name: String,
    pub role: JoinRole,
    pub at: UnixMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    #[default]
    Text,
    /// A raised hand: the asker wants to speak; the host grants the mic.
    Voice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionState {
    Open,
    Answered,
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: QuestionId,
    pub lesson: LessonId,
    pub kind: QuestionKind,
    /// May be empty for a voice question.
    pub text: String,
    /// The asking participant; absent when anonymous or sent before the lesson.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<PeerId>,
    /// The asker's name; absent when anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    pub anonymous: bool,
    pub votes: u32,
    pub state: QuestionState,
    pub pinned: bool,
    /// Sent before the lesson started.
    pub pre_lesson: bool,
    pub asked_at: UnixMs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<UnixMs>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: ChatId,
    pub from: PeerId,
    pub from_name: String,
    pub text: String,
    pub at: UnixMs,
}

/// One entry of RTCPeerConnection's `iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// WebRTC negotiation, relayed verbatim between two participants of one lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    /// Trickle ICE is over for this side.
    EndOfCandidates,
    /// From the side that offers, on the link both already hold: fresh ICE credentials, so that
    /// the two look for a path again (a network changed) with DTLS and the tracks as they are.
    /// Answered with `answer` on that link, or with `ready` by a side that no longer has it.
    Restart {
        sdp: String,
    },
    /// From the side that answers: it has no link to the receiver (it just came in, or its
    /// link failed), so any link the receiver holds to it is dead; offer again.
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// Left on purpose.
    Left,
    /// Removed by the host.
    Removed,
    /// Lost the connection and did not come back within the grace period.
    TimedOut,
}
