//! Questions and chat mirrored from the live lesson (updates replace by the server's id), and
//! recordings.

use crate::{
    ChatRecord, LessonId, QuestionKind, QuestionRecord, QuestionState, Recording, RecordingId,
    Result, Store, UnixMs, corrupt, kind_str, non_empty, state_str,
};
use rusqlite::{OptionalExtension, Row, params};

fn question_from_row(r: &Row<'_>) -> rusqlite::Result<QuestionRecord> {
    let kind: String = r.get(1)?;
    let state: String = r.get(6)?;
    Ok(QuestionRecord {
        remote_id: r
            .get::<_, Option<i64>>(0)?
            .and_then(|v| u64::try_from(v).ok()),
        kind: match kind.as_str() {
            "text" => QuestionKind::Text,
            "voice" => QuestionKind::Voice,
            _ => return Err(corrupt("question kind", &kind)),
        },
        text: r.get(2)?,
        author_name: r.get(3)?,
        anonymous: r.get(4)?,
        votes: r.get(5)?,
        state: match state.as_str() {
            "open" => QuestionState::Open,
            "answered" => QuestionState::Answered,
            "dismissed" => QuestionState::Dismissed,
            _ => return Err(corrupt("question state", &state)),
        },
        pinned: r.get(7)?,
        pre_lesson: r.get(8)?,
        asked_at: UnixMs(r.get(9)?),
        answered_at: r.get::<_, Option<i64>>(10)?.map(UnixMs),
    })
}

fn remote(id: Option<u64>) -> Option<i64> {
    id.and_then(|v| i64::try_from(v).ok())
}

impl Store {
    /// Adds a question, or updates the one with the same server id.
    pub fn mirror_question(&self, lesson: LessonId, q: &QuestionRecord) -> Result<()> {
        self.require_lesson(lesson)?;
        crate::check_text(&q.text, "question", 10_000)?;
        let values = params![
            lesson.0,
            remote(q.remote_id),
            kind_str(q.kind),
            q.text,
            q.author_name,
            q.anonymous,
            q.votes,
            state_str(q.state),
            q.pinned,
            q.pre_lesson,
            q.asked_at.0,
            q.answered_at.map(|t| t.0),
        ];
        if q.remote_id.is_some() {
            self.conn.execute(
                "INSERT INTO questions (lesson_id, remote_id, kind, text, author_name, anonymous,
                                        votes, state, pinned, pre_lesson, asked_at, answered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (lesson_id, remote_id) DO UPDATE SET
                    kind = excluded.kind, text = excluded.text, author_name = excluded.author_name,
                    anonymous = excluded.anonymous, votes = excluded.votes, state = excluded.state,
                    pinned = excluded.pinned, pre_lesson = excluded.pre_lesson,
                    answered_at = excluded.answered_at",
                values,
            )?;
        } else {
            self.conn.execute(
                "INSERT INTO questions (lesson_id, remote_id, kind, text, author_name, anonymous,
                                        votes, state, pinned, pre_lesson, asked_at, answered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                values,
            )?;
        }
        Ok(())
    }

    /// A lesson's questions in the order they were asked.
    pub fn questions(&self, lesson: LessonId) -> Result<Vec<QuestionRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT remote_id, kind, text, author_name, anonymous, votes, state, pinned,
                    pre_lesson, asked_at, answered_at
             FROM questions WHERE lesson_id = ?1 ORDER BY asked_at, id",
        )?;
        let rows = stmt.query_map([lesson.0], question_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Adds a chat message; one already kept (same server id) is left as it is.
    pub fn add_chat(&self, lesson: LessonId, m: &ChatRecord) -> Result<()> {
        self.require_lesson(lesson)?;
        crate::check_text(&m.text, "chat message", 10_000)?;
        self.conn.execute(
            "INSERT INTO chat_messages (lesson_id, remote_id, from_name, text, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (lesson_id, remote_id) DO NOTHING",
            params![lesson.0, remote(m.remote_id), m.from_name, m.text, m.at.0],
        )?;
        Ok(())
    }

    pub fn chat(&self, lesson: LessonId) -> Result<Vec<ChatRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT remote_id, from_name, text, sent_at FROM chat_messages
             WHERE lesson_id = ?1 ORDER BY sent_at, id",
        )?;
        let rows = stmt.query_map([lesson.0], |r| {
            Ok(ChatRecord {
                remote_id: r
                    .get::<_, Option<i64>>(0)?
                    .and_then(|v| u64::try_from(v).ok()),
                from_name: r.get(1)?,
                text: r.get(2)?,
                at: UnixMs(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn add_recording(
        &self,
        lesson: LessonId,
        path: &str,
        duration_ms: i64,
        who: &str,
    ) -> Result<RecordingId> {
        self.require_lesson(lesson)?;
        let path = non_empty(path, "recording path")?;
        self.conn.execute(
            "INSERT INTO recordings (lesson_id, path, duration_ms, who, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![lesson.0, path, duration_ms.max(0), who, self.now().0],
        )?;
        Ok(RecordingId(self.conn.last_insert_rowid()))
    }

    /// One listed file.
    pub fn recording(&self, id: RecordingId) -> Result<Recording> {
        let sql = format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1");
        let found = self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.0], recording_row)
            .optional()?;
        found.ok_or(crate::StoreError::NotFound {
            what: "recording",
            id: id.0,
        })
    }

    pub fn recordings(&self, lesson: LessonId) -> Result<Vec<Recording>> {
        let sql = format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE lesson_id = ?1 ORDER BY created_at, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([lesson.0], recording_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

const RECORDING_COLUMNS: &str =
    "id, lesson_id, path, duration_ms, who, created_at, take_id, start_ms";

fn recording_row(r: &Row<'_>) -> rusqlite::Result<Recording> {
    Ok(Recording {
        id: RecordingId(r.get(0)?),
        lesson: LessonId(r.get(1)?),
        path: r.get(2)?,
        duration_ms: r.get(3)?,
        who: r.get(4)?,
        created_at: UnixMs(r.get(5)?),
        take: r.get::<_, Option<i64>>(6)?.map(crate::TakeId),
        start_ms: r.get(7)?,
    })
}
