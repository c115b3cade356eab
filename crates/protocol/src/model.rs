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
    /// The host's page, when the host's app published one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<TeacherId>,
}

/// The teacher's page (the seed's "my page"): what a student sees of the teacher in the invite
/// preview and in the lesson. Kept on the room server under the teacher's key (a secret the
/// teacher's app keeps), published with every lesson the teacher creates; anyone with the
/// lesson's code can read it (`GET /api/teachers/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TeacherPage {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instruments: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bio: String,
    /// IANA, e.g. `Asia/Seoul`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A small picture as a data URL: `data:image/jpeg;base64,…` (or png, webp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
}

impl TeacherPage {
    /// What is wrong with it, if anything, for a person.
    pub fn problem(&self) -> Option<String> {
        use crate::limits::*;
        let chars = |s: &str| s.chars().count();
        if self.name.trim().is_empty() || chars(&self.name) > NAME_CHARS {
            return Some(format!("the name must be 1–{NAME_CHARS} characters"));
        }
        if self.instruments.len() > INSTRUMENTS
            || self
                .instruments
                .iter()
                .any(|i| i.trim().is_empty() || chars(i) > INSTRUMENT_CHARS)
        {
            return Some(format!(
                "at most {INSTRUMENTS} instruments of 1–{INSTRUMENT_CHARS} characters each"
            ));
        }
        if chars(&self.bio) > BIO_CHARS {
            return Some(format!(
                "the biography is longer than {BIO_CHARS} characters"
            ));
        }
        if let Some(zone) = &self.time_zone
            && !crate::api::is_zone_name(zone)
        {
            return Some("the time zone is not an IANA name such as Asia/Seoul".into());
        }
        if let Some(photo) = &self.photo
            && !is_photo(photo)
        {
            return Some(format!(
                "the photo must be a JPEG, PNG or WebP data URL of at most {} KB",
                PHOTO_BYTES / 1024
            ));
        }
        None
    }
}

fn is_photo(url: &str) -> bool {
    let Some(data) = [
        "data:image/jpeg;base64,",
        "data:image/png;base64,",
        "data:image/webp;base64,",
    ]
    .iter()
    .find_map(|p| url.strip_prefix(p)) else {
        return false;
    };
    url.len() <= crate::limits::PHOTO_BYTES
        && !data.is_empty()
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Where a teacher's page is found: derived from the teacher's key, which it does not reveal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TeacherId(pub String);

impl TeacherId {
    /// 32 lowercase hex digits, as the server makes them.
    pub fn is_valid(s: &str) -> bool {
        s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }
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
