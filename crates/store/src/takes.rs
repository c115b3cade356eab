//! Takes and marks. A take is one recording's folder: its tracks and mix on one timeline whose
//! zero is when it started. Marks are kept on the lesson's clock (the mark button; each line
//! of the notes, from when it was first typed), and questions by when they were asked; the
//! history places all of them on every take they fall in.

use crate::{
    LessonId, Mark, MarkId, MarkKind, OutgoingTake, QuestionKind, Recording, RecordingId, Result,
    Store, Take, TakeId, TakeMark, UnixMs,
};
use rusqlite::params;

/// A mark's text is cut to this many characters (a note's line can be a paragraph).
pub const MAX_MARK_CHARS: usize = 500;

impl Store {
    /// A take recorded into `dir`, its timeline's zero at `started_at`.
    pub fn add_take(&self, lesson: LessonId, dir: &str, started_at: UnixMs) -> Result<TakeId> {
        self.require_lesson(lesson)?;
        let dir = crate::non_empty(dir, "take's folder")?;
        self.conn.execute(
            "INSERT INTO takes (lesson_id, dir, started_at) VALUES (?1, ?2, ?3)",
            params![lesson.0, dir, started_at.0],
        )?;
        Ok(TakeId(self.conn.last_insert_rowid()))
    }

    /// The take recorded into `dir`, if it was listed.
    pub fn take_in(&self, lesson: LessonId, dir: &str) -> Result<Option<TakeId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM takes WHERE lesson_id = ?1 AND dir = ?2 ORDER BY id DESC LIMIT 1",
        )?;
        let mut rows = stmt.query_map(params![lesson.0, dir.trim()], |r| r.get(0))?;
        Ok(rows.next().transpose()?.map(TakeId))
    }

    /// One file of `take`: it starts `start_ms` into the take and lasts `duration_ms`.
    pub fn add_take_file(
        &self,
        take: TakeId,
        path: &str,
        start_ms: i64,
        duration_ms: i64,
        who: &str,
    ) -> Result<RecordingId> {
        let lesson: Option<i64> = self
            .conn
            .query_row("SELECT lesson_id FROM takes WHERE id = ?1", [take.0], |r| {
                r.get(0)
            })
            .ok();
        let lesson = lesson.ok_or(crate::StoreError::NotFound {
            what: "take",
            id: take.0,
        })?;
        let path = crate::non_empty(path, "recording path")?;
        self.conn.execute(
            "INSERT INTO recordings (lesson_id, path, duration_ms, who, created_at, take_id, start_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                lesson,
                path,
                duration_ms.max(0),
                who,
                self.now().0,
                take.0,
                start_ms.max(0)
            ],
        )?;
        Ok(RecordingId(self.conn.last_insert_rowid()))
    }

    /// A mark made now (the mark button), with an optional word.
    pub fn add_mark(&self, lesson: LessonId, text: &str) -> Result<MarkId> {
        self.require_lesson(lesson)?;
        self.conn.execute(
            "INSERT INTO marks (lesson_id, kind, text, at) VALUES (?1, 'mark', ?2, ?3)",
            params![lesson.0, clip(text.trim()), self.now().0],
        )?;
        Ok(MarkId(self.conn.last_insert_rowid()))
    }

    /// The notes as they now read, during the lesson: a line not seen before is marked now; a
    /// line typed on or corrected keeps the time it was begun; a line deleted loses its mark.
    pub fn mark_note_lines(&self, lesson: LessonId, body: &str) -> Result<()> {
        self.require_lesson(lesson)?;
        let tx = self.conn.unchecked_transaction()?;
        let marked: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, text FROM marks WHERE lesson_id = ?1 AND kind = 'note' ORDER BY at, id",
            )?;
            stmt.query_map([lesson.0], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let changes = note_line_changes(&marked, body);
        for (id, text) in &changes.update {
            tx.execute(
                "UPDATE marks SET text = ?2 WHERE id = ?1",
                params![id, text],
            )?;
        }
        for id in &changes.delete {
            tx.execute("DELETE FROM marks WHERE id = ?1", [id])?;
        }
        let now = self.now().0;
        for text in &changes.insert {
            tx.execute(
                "INSERT INTO marks (lesson_id, kind, text, at) VALUES (?1, 'note', ?2, ?3)",
                params![lesson.0, text, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Everything with a time in the lesson, in order: marks, note lines, and the questions
    /// asked during it (not those sent before).
    pub fn marks(&self, lesson: LessonId) -> Result<Vec<Mark>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, text, at FROM marks WHERE lesson_id = ?1
             UNION ALL
             SELECT CASE kind WHEN 'voice' THEN 'voice' ELSE 'question' END,
                    text, asked_at FROM questions WHERE lesson_id = ?1 AND pre_lesson = 0
             ORDER BY 3",
        )?;
        let rows = stmt.query_map([lesson.0], |r| {
            let kind: String = r.get(0)?;
            Ok((kind, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, text, at) = row?;
            let kind = match kind.as_str() {
                "mark" => MarkKind::Mark,
                "note" => MarkKind::Note,
                "voice" => MarkKind::Question(QuestionKind::Voice),
                _ => MarkKind::Question(QuestionKind::Text),
            };
            out.push(Mark {
                kind,
                text: clip(text.trim()),
                at: UnixMs(at),
            });
        }
        Ok(out)
    }

    /// The lesson's takes in the order they were made, each with its files (the mix last) and
    /// the marks that fall in it, placed on its timeline.
    pub fn takes(&self, lesson: LessonId) -> Result<Vec<Take>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, dir, started_at FROM takes WHERE lesson_id = ?1 ORDER BY started_at, id",
        )?;
        let heads: Vec<(i64, String, i64)> = stmt
            .query_map([lesson.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let files = self.recordings(lesson)?;
        let marks = self.marks(lesson)?;
        let mut out = Vec::new();
        for (id, dir, started_at) in heads {
            let files: Vec<Recording> = files
                .iter()
                .filter(|f| f.take == Some(TakeId(id)))
                .cloned()
                .collect();
            if files.is_empty() {
                continue;
            }
            let duration_ms = files
                .iter()
                .map(|f| f.start_ms + f.duration_ms)
                .max()
                .unwrap_or(0);
            let marks = marks
                .iter()
                .filter(|m| (started_at..=started_at + duration_ms).contains(&m.at.0))
                .map(|m| TakeMark {
                    at_ms: m.at.0 - started_at,
                    kind: m.kind,
                    text: m.text.clone(),
                })
                .collect();
            out.push(Take {
                id: TakeId(id),
                lesson,
                dir,
                started_at: UnixMs(started_at),
                duration_ms,
                files,
                marks,
            });
        }
        Ok(out)
    }
}

/// A student's takes on their way to the teacher.
impl Store {
    /// Kept until [`Store::outgoing_delivered`]; queued again, nothing changes.
    pub fn queue_outgoing(&self, take: &OutgoingTake) -> Result<()> {
        let path = crate::non_empty(&take.path, "take's path")?;
        self.conn.execute(
            "INSERT INTO outgoing_takes (path, teacher, name, start_ms, duration_ms, queued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (path) DO NOTHING",
            params![
                path,
                take.teacher.trim(),
                take.name,
                take.start_ms,
                take.duration_ms,
                self.now().0
            ],
        )?;
        Ok(())
    }

    /// Those still to go to `teacher`, oldest first.
    pub fn outgoing_to(&self, teacher: &str) -> Result<Vec<OutgoingTake>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, teacher, name, start_ms, duration_ms FROM outgoing_takes
             WHERE teacher = ?1 ORDER BY queued_at, path",
        )?;
        let rows = stmt.query_map([teacher.trim()], |r| {
            Ok(OutgoingTake {
                path: r.get(0)?,
                teacher: r.get(1)?,
                name: r.get(2)?,
                start_ms: r.get(3)?,
                duration_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The teacher has it (or its file is gone): no longer to send.
    pub fn outgoing_delivered(&self, path: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM outgoing_takes WHERE path = ?1", [path])?;
        Ok(())
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_MARK_CHARS).collect()
}

/// What a save of the notes changes of their lines' marks.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NoteLineChanges {
    /// A marked line typed on or corrected: its new text, its time kept.
    pub update: Vec<(i64, String)>,
    /// Lines new to the notes, marked now.
    pub insert: Vec<String>,
    /// Lines gone from the notes.
    pub delete: Vec<i64>,
}

/// Pairs the notes' lines as they now read with the lines already marked. Autosave sees a line
/// grow as it is typed ("Bow a", "Bow arm: elb", …), so a new line that continues or corrects a
/// line that is gone is that line, not a new one.
pub(crate) fn note_line_changes(marked: &[(i64, String)], body: &str) -> NoteLineChanges {
    let mut lines: Vec<String> = Vec::new();
    for line in body.lines().map(|l| clip(l.trim())) {
        if !line.is_empty() && !lines.contains(&line) {
            lines.push(line);
        }
    }
    let mut gone: Vec<&(i64, String)> = marked.iter().filter(|(_, t)| !lines.contains(t)).collect();
    let mut out = NoteLineChanges::default();
    for line in lines
        .iter()
        .filter(|l| !marked.iter().any(|(_, t)| t == *l))
    {
        match gone.iter().position(|(_, old)| same_line(old, line)) {
            Some(i) => {
                let (id, _) = gone.remove(i);
                out.update.push((*id, line.clone()));
            }
            None => out.insert.push(line.clone()),
        }
    }
    out.delete = gone.into_iter().map(|(id, _)| *id).collect();
    out
}

/// One line typed on (or back) from the other, or corrected after its first words.
fn same_line(old: &str, new: &str) -> bool {
    let common = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let shorter = old.chars().count().min(new.chars().count());
    common == shorter || common >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(lines: &[(i64, &str)]) -> Vec<(i64, String)> {
        lines.iter().map(|(i, t)| (*i, t.to_string())).collect()
    }

    #[test]
    fn a_line_typed_on_keeps_its_first_time() {
        let c = note_line_changes(&marked(&[(1, "Bow a")]), "Bow arm: elb");
        assert_eq!(c.update, vec![(1, "Bow arm: elb".to_string())]);
        assert!(c.insert.is_empty() && c.delete.is_empty());
    }

    #[test]
    fn a_new_line_is_new_and_a_deleted_one_goes() {
        let c = note_line_changes(
            &marked(&[(1, "Bow arm: elbow lower"), (2, "Scales: G major")]),
            "Bow arm: elbow lower\nVibrato from the wrist\n",
        );
        assert_eq!(c.insert, vec!["Vibrato from the wrist".to_string()]);
        assert_eq!(c.delete, vec![2]);
        assert!(c.update.is_empty());
    }

    #[test]
    fn a_line_corrected_after_its_first_words_is_the_same_line() {
        let c = note_line_changes(
            &marked(&[(1, "Bow arm: elbow lower")]),
            "Bow arm: elbow much lower",
        );
        assert_eq!(c.update, vec![(1, "Bow arm: elbow much lower".to_string())]);
        // Two different lines that start alike are not one.
        let c = note_line_changes(&marked(&[(1, "G major")]), "D minor");
        assert_eq!((c.insert.len(), c.delete), (1, vec![1]));
    }

    #[test]
    fn blank_and_repeated_lines_are_not_marked() {
        let c = note_line_changes(&[], "\n  \nslow\nslow\n");
        assert_eq!(c.insert, vec!["slow".to_string()]);
    }
}
