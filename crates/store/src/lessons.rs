//! Lessons: scheduled, live, ended; with both sides' time zones.

use crate::{
    Lesson, LessonFilter, LessonId, LessonStatus, NewLesson, PersonId, Result, Store, StoreError,
    UnixMs, corrupt, non_empty, parse_role, role_str, validate_zone,
};
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str = "id, remote_id, title, my_role, student_id, host_tz, student_tz,
    scheduled_start, scheduled_minutes, actual_start, actual_end, invite_code, status,
    server_url, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Lesson> {
    let role: String = r.get(3)?;
    let status: String = r.get(12)?;
    Ok(Lesson {
        id: LessonId(r.get(0)?),
        remote_id: r.get(1)?,
        title: r.get(2)?,
        my_role: parse_role(&role).ok_or_else(|| corrupt("role", &role))?,
        student: r.get::<_, Option<i64>>(4)?.map(PersonId),
        host_tz: r.get(5)?,
        student_tz: r.get(6)?,
        scheduled_start: r.get::<_, Option<i64>>(7)?.map(UnixMs),
        scheduled_minutes: r.get(8)?,
        actual_start: r.get::<_, Option<i64>>(9)?.map(UnixMs),
        actual_end: r.get::<_, Option<i64>>(10)?.map(UnixMs),
        invite_code: r.get(11)?,
        status: LessonStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        server_url: r.get(13)?,
        created_at: UnixMs(r.get(14)?),
    })
}

impl Store {
    pub fn create_lesson(&self, l: &NewLesson) -> Result<LessonId> {
        let title = non_empty(&l.title, "title")?;
        crate::check_text(&title, "title", 200)?;
        validate_zone(&l.host_tz)?;
        if let Some(tz) = &l.student_tz {
            validate_zone(tz)?;
        }
        self.conn.execute(
            "INSERT INTO lessons (remote_id, title, my_role, student_id, host_tz, student_tz,
                                  scheduled_start, scheduled_minutes, invite_code, status,
                                  server_url, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'scheduled', ?10, ?11)",
            params![
                l.remote_id,
                title,
                role_str(l.my_role),
                l.student.map(|p| p.0),
                l.host_tz,
                l.student_tz,
                l.scheduled_start.map(|t| t.0),
                l.scheduled_minutes,
                l.invite_code,
                l.server_url,
                self.now().0,
            ],
        )?;
        Ok(LessonId(self.conn.last_insert_rowid()))
    }

    pub fn lesson(&self, id: LessonId) -> Result<Lesson> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM lessons WHERE id = ?1"),
                [id.0],
                from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "lesson",
                id: id.0,
            })
    }

    /// The lesson the room server knows by `remote_id`, if this store has it.
    pub fn lesson_by_remote(&self, remote_id: &str) -> Result<Option<Lesson>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM lessons WHERE remote_id = ?1"),
                [remote_id],
                from_row,
            )
            .optional()?)
    }

    pub fn lessons(&self, filter: LessonFilter) -> Result<Vec<Lesson>> {
        let start = "COALESCE(actual_start, scheduled_start, created_at)";
        let clause = match filter {
            LessonFilter::Upcoming => {
                format!("WHERE status IN ('scheduled', 'live') ORDER BY {start}, id")
            }
            LessonFilter::Past => {
                format!("WHERE status IN ('ended', 'cancelled') ORDER BY {start} DESC, id DESC")
            }
            LessonFilter::All => format!("ORDER BY {start} DESC, id DESC"),
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM lessons {clause}"))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A student's lessons, oldest first.
    pub fn lessons_of(&self, student: PersonId) -> Result<Vec<Lesson>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM lessons WHERE student_id = ?1
             ORDER BY COALESCE(actual_start, scheduled_start, created_at), id"
        ))?;
        let rows = stmt.query_map([student.0], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records the server's id and code once the room server has created the lesson.
    pub fn link_remote(
        &self,
        id: LessonId,
        remote_id: &str,
        invite_code: &str,
        server_url: &str,
    ) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET remote_id = ?2, invite_code = ?3, server_url = ?4 WHERE id = ?1",
            params![id.0, remote_id, invite_code, server_url],
        )
    }

    /// The lesson was made again on a room server (which had lost it): its new id, code, server
    /// and host token, together.
    pub fn relink_remote(
        &self,
        id: LessonId,
        remote_id: &str,
        invite_code: &str,
        server_url: &str,
        host_token: &str,
    ) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET remote_id = ?2, invite_code = ?3, server_url = ?4, host_token = ?5
             WHERE id = ?1",
            params![id.0, remote_id, invite_code, server_url, host_token],
        )
    }

    /// Keeps the room server's host token for a lesson we created (the only way to open it as
    /// its host).
    pub fn set_host_token(&self, id: LessonId, token: &str) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET host_token = ?2 WHERE id = ?1",
            params![id.0, token],
        )
    }

    /// The host token kept for a lesson, while it has not ended.
    pub fn host_token(&self, id: LessonId) -> Result<Option<String>> {
        self.require_lesson(id)?;
        Ok(self.conn.query_row(
            "SELECT host_token FROM lessons WHERE id = ?1",
            [id.0],
            |r| r.get(0),
        )?)
    }

    /// The lesson began now (the first start is kept if it is started again).
    pub fn mark_started(&self, id: LessonId) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET status = 'live', actual_start = COALESCE(actual_start, ?2)
             WHERE id = ?1",
            params![id.0, self.now().0],
        )
    }

    /// The lesson ended now; its code no longer admits anyone, so it is forgotten.
    pub fn mark_ended(&self, id: LessonId) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET status = 'ended', actual_end = ?2, invite_code = NULL,
             host_token = NULL WHERE id = ?1",
            params![id.0, self.now().0],
        )
    }

    pub fn cancel_lesson(&self, id: LessonId) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET status = 'cancelled', invite_code = NULL, host_token = NULL
             WHERE id = ?1",
            params![id.0],
        )
    }

    pub fn set_student(&self, id: LessonId, student: Option<PersonId>) -> Result<()> {
        self.update(
            id,
            "UPDATE lessons SET student_id = ?2 WHERE id = ?1",
            params![id.0, student.map(|p| p.0)],
        )
    }

    fn update(&self, id: LessonId, sql: &str, params: impl rusqlite::Params) -> Result<()> {
        if self.conn.execute(sql, params)? == 0 {
            return Err(StoreError::NotFound {
                what: "lesson",
                id: id.0,
            });
        }
        Ok(())
    }

    pub(crate) fn require_lesson(&self, id: LessonId) -> Result<()> {
        let found: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM lessons WHERE id = ?1", [id.0], |r| r.get(0))
            .optional()?;
        found.map(|_| ()).ok_or(StoreError::NotFound {
            what: "lesson",
            id: id.0,
        })
    }
}
