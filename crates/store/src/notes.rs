//! Lesson notes: Markdown, optionally anchored to a moment of the lesson, autosaved, with
//! history. Autosave writes every few seconds while the teacher types; keeping each of those
//! would drown the history, so saves within `COALESCE_MS` of the last kept revision replace it.

use crate::{LessonId, Note, NoteId, NoteRevision, Result, Store, StoreError, UnixMs};
use rusqlite::{OptionalExtension, Row, params};

/// Saves closer together than this share one history entry.
pub const COALESCE_MS: i64 = 2 * 60 * 1000;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 200_000;

fn from_row(r: &Row<'_>) -> rusqlite::Result<Note> {
    Ok(Note {
        id: NoteId(r.get(0)?),
        lesson: LessonId(r.get(1)?),
        body: r.get(2)?,
        anchor_ms: r.get(3)?,
        created_at: UnixMs(r.get(4)?),
        updated_at: UnixMs(r.get(5)?),
    })
}

impl Store {
    pub fn add_note(
        &mut self,
        lesson: LessonId,
        body: &str,
        anchor_ms: Option<i64>,
    ) -> Result<NoteId> {
        crate::check_text(body, "note", MAX_NOTE_CHARS)?;
        self.require_lesson(lesson)?;
        let now = self.now().0;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO notes (lesson_id, body, anchor_ms, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![lesson.0, body, anchor_ms, now],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO note_revisions (note_id, body, saved_at) VALUES (?1, ?2, ?3)",
            params![id, body, now],
        )?;
        tx.commit()?;
        Ok(NoteId(id))
    }

    /// Saves a new body (autosave). History keeps one revision per couple of minutes of editing.
    pub fn save_note(&mut self, id: NoteId, body: &str) -> Result<()> {
        crate::check_text(body, "note", MAX_NOTE_CHARS)?;
        let now = self.now().0;
        let tx = self.conn.transaction()?;
        let current: Option<String> = tx
            .query_row("SELECT body FROM notes WHERE id = ?1", [id.0], |r| r.get(0))
            .optional()?;
        match current {
            None => {
                return Err(StoreError::NotFound {
                    what: "note",
                    id: id.0,
                });
            }
            Some(b) if b == body => return Ok(()),
            Some(_) => {}
        }
        tx.execute(
            "UPDATE notes SET body = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.0, body, now],
        )?;
        let last: Option<(i64, i64)> = tx
            .query_row(
                "SELECT id, saved_at FROM note_revisions WHERE note_id = ?1
                 ORDER BY saved_at DESC, id DESC LIMIT 1",
                [id.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match last {
            Some((rev, saved_at)) if now - saved_at < COALESCE_MS => {
                tx.execute(
                    "UPDATE note_revisions SET body = ?2 WHERE id = ?1",
                    params![rev, body],
                )?;
            }
            _ => {
                tx.execute(
                    "INSERT INTO note_revisions (note_id, body, saved_at) VALUES (?1, ?2, ?3)",
                    params![id.0, body, now],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_note_anchor(&self, id: NoteId, anchor_ms: Option<i64>) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE notes SET anchor_ms = ?2 WHERE id = ?1",
            params![id.0, anchor_ms],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "note",
                id: id.0,
            });
        }
        Ok(())
    }

    pub fn note(&self, id: NoteId) -> Result<Note> {
        self.conn
            .query_row(
                "SELECT id, lesson_id, body, anchor_ms, created_at, updated_at FROM notes WHERE id = ?1",
                [id.0],
                from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound { what: "note", id: id.0 })
    }

    /// A lesson's notes: anchored ones in lesson order, then the rest as written.
    pub fn notes(&self, lesson: LessonId) -> Result<Vec<Note>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, lesson_id, body, anchor_ms, created_at, updated_at FROM notes
             WHERE lesson_id = ?1 ORDER BY anchor_ms IS NULL, anchor_ms, created_at, id",
        )?;
        let rows = stmt.query_map([lesson.0], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Earlier versions, newest first (the newest is the current body).
    pub fn note_history(&self, id: NoteId) -> Result<Vec<NoteRevision>> {
        self.note(id)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, saved_at FROM note_revisions WHERE note_id = ?1
             ORDER BY saved_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([id.0], |r| {
            Ok(NoteRevision {
                body: r.get(0)?,
                saved_at: UnixMs(r.get(1)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn delete_note(&self, id: NoteId) -> Result<()> {
        if self
            .conn
            .execute("DELETE FROM notes WHERE id = ?1", [id.0])?
            == 0
        {
            return Err(StoreError::NotFound {
                what: "note",
                id: id.0,
            });
        }
        Ok(())
    }
}
