//! What the store keeps, as plain records.

pub use tutti_protocol::{QuestionKind, QuestionState, Role, UnixMs};

macro_rules! key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
    };
}

key!(
    /// A person (a teacher's student) in this store.
    PersonId
);
key!(
    /// A lesson in this store (not the server's lesson id: see `Lesson::remote_id`).
    LessonId
);
key!(NoteId);
key!(RecordingId);
key!(
    /// One recording: a folder of tracks on one timeline (see [`Take`]).
    TakeId
);
key!(MarkId);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub name: String,
    pub instrument: Option<String>,
    /// The teacher's notes about this student (Markdown).
    pub about: String,
    /// IANA zone, e.g. `Asia/Dubai`.
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: PersonId,
    pub name: String,
    pub instrument: Option<String>,
    pub about: String,
    pub time_zone: Option<String>,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LessonStatus {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl LessonStatus {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => Self::Scheduled,
            "live" => Self::Live,
            "ended" => Self::Ended,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLesson {
    pub title: String,
    /// This machine's user's role in the lesson.
    pub my_role: Role,
    pub student: Option<PersonId>,
    /// IANA zones, e.g. `Asia/Seoul` and `Asia/Dubai`.
    pub host_tz: String,
    pub student_tz: Option<String>,
    pub scheduled_start: Option<UnixMs>,
    pub scheduled_minutes: Option<u32>,
    /// The room server's id for it, once it has one.
    pub remote_id: Option<String>,
    pub invite_code: Option<String>,
    pub server_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    pub id: LessonId,
    pub remote_id: Option<String>,
    pub title: String,
    pub my_role: Role,
    pub student: Option<PersonId>,
    pub host_tz: String,
    pub student_tz: Option<String>,
    pub scheduled_start: Option<UnixMs>,
    pub scheduled_minutes: Option<u32>,
    pub actual_start: Option<UnixMs>,
    pub actual_end: Option<UnixMs>,
    /// Kept while the code still admits anyone; cleared when the lesson ends.
    pub invite_code: Option<String>,
    pub status: LessonStatus,
    pub server_url: Option<String>,
    pub created_at: UnixMs,
}

impl Lesson {
    /// When it starts (or started), for ordering: actual, else scheduled, else created.
    pub fn start(&self) -> UnixMs {
        self.actual_start
            .or(self.scheduled_start)
            .unwrap_or(self.created_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LessonFilter {
    /// Not ended or cancelled, soonest first.
    Upcoming,
    /// Ended, most recent first.
    Past,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: NoteId,
    pub lesson: LessonId,
    /// Markdown.
    pub body: String,
    /// A moment of the lesson this note is about, in ms from its start.
    pub anchor_ms: Option<i64>,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
}

/// An earlier version of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRevision {
    pub body: String,
    pub saved_at: UnixMs,
}

/// A question as mirrored from the live queue (or written locally when offline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionRecord {
    /// The server's question id; the key for mirroring updates.
    pub remote_id: Option<u64>,
    pub kind: QuestionKind,
    pub text: String,
    pub author_name: Option<String>,
    pub anonymous: bool,
    pub votes: u32,
    pub state: QuestionState,
    pub pinned: bool,
    pub pre_lesson: bool,
    pub asked_at: UnixMs,
    pub answered_at: Option<UnixMs>,
}

impl From<&tutti_protocol::Question> for QuestionRecord {
    fn from(q: &tutti_protocol::Question) -> Self {
        Self {
            remote_id: Some(q.id.0),
            kind: q.kind,
            text: q.text.clone(),
            author_name: q.author_name.clone(),
            anonymous: q.anonymous,
            votes: q.votes,
            state: q.state,
            pinned: q.pinned,
            pre_lesson: q.pre_lesson,
            asked_at: q.asked_at,
            answered_at: q.answered_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRecord {
    pub remote_id: Option<u64>,
    pub from_name: String,
    pub text: String,
    pub at: UnixMs,
}

impl From<&tutti_protocol::ChatMessage> for ChatRecord {
    fn from(m: &tutti_protocol::ChatMessage) -> Self {
        Self {
            remote_id: Some(m.id.0),
            from_name: m.from_name.clone(),
            text: m.text.clone(),
            at: m.at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub id: RecordingId,
    pub lesson: LessonId,
    pub path: String,
    pub duration_ms: i64,
    /// Whose sound: e.g. the student, the teacher, or both.
    pub who: String,
    pub created_at: UnixMs,
    /// The take it belongs to (none: listed on its own, e.g. a take a student sent).
    pub take: Option<TakeId>,
    /// Where it starts on its take's timeline.
    pub start_ms: i64,
}

/// What a mark on the timeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The mark button.
    Mark,
    /// A line of the notes, from when it was first typed.
    Note,
    /// A question asked during the lesson.
    Question(QuestionKind),
}

/// A moment of the lesson, on its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub kind: MarkKind,
    pub text: String,
    pub at: UnixMs,
}

/// A mark placed on a take's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeMark {
    /// Into the take.
    pub at_ms: i64,
    pub kind: MarkKind,
    pub text: String,
}

/// One recording of a lesson: its files on one timeline (zero when it began), and its marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub id: TakeId,
    pub lesson: LessonId,
    pub dir: String,
    pub started_at: UnixMs,
    /// To the end of its longest file.
    pub duration_ms: i64,
    pub files: Vec<Recording>,
    pub marks: Vec<TakeMark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    Note,
    Question,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub kind: HitKind,
    /// The note's or question's row id.
    pub id: i64,
    pub lesson: LessonId,
    pub lesson_title: String,
    /// Text around the first match.
    pub snippet: String,
    pub at: UnixMs,
}

/// Our own track of a take, on its way to the teacher (the host of the lesson it was made in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingTake {
    pub path: String,
    /// The teacher it goes to, by the name they host under.
    pub teacher: String,
    /// Whose part it is (ours, by our name in that lesson).
    pub name: String,
    pub start_ms: i64,
    pub duration_ms: i64,
}
