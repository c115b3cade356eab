//! The server's own SQLite file: lessons (so codes and scheduled lessons survive a restart),
//! their questions with votes (so pre-questions wait for the host), and who is in a live lesson
//! with a hash of their resume token (so everyone can rejoin after a restart). Connections live
//! in memory only.

use rusqlite::backup::Backup;
use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tutti_protocol::{
    InviteCode, LessonId, LessonInfo, LessonStatus, PeerId, Question, QuestionId, QuestionKind,
    QuestionState, Role, TeacherId, TeacherPage, UnixMs,
};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database schema: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("data directory {path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("invite code already in use")]
    CodeTaken,
    #[error("database holds a value this version cannot read: {0}")]
    Corrupt(String),
}

const MIGRATIONS: &[M<'static>] = &[
    M::up(
        "CREATE TABLE lessons (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        host_name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('scheduled', 'live', 'ended')),
        scheduled_for INTEGER,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        host_token_sha256 TEXT NOT NULL
    ) STRICT;
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lesson_id TEXT NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('text', 'voice')),
        text TEXT NOT NULL,
        author TEXT,
        author_name TEXT,
        anonymous INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'answered', 'dismissed')),
        pinned INTEGER NOT NULL DEFAULT 0,
        pre_lesson INTEGER NOT NULL,
        asked_at INTEGER NOT NULL,
        answered_at INTEGER
    ) STRICT;
    CREATE INDEX questions_by_lesson ON questions(lesson_id, id);
    CREATE TABLE votes (
        question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        voter TEXT NOT NULL,
        PRIMARY KEY (question_id, voter)
    ) STRICT, WITHOUT ROWID;",
    ),
    // Members of live lessons: a restarted server lets them rejoin.
    M::up(
        "CREATE TABLE members (
        lesson_id TEXT NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
        peer TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('host', 'student', 'observer')),
        mic INTEGER NOT NULL,
        token_sha256 TEXT NOT NULL,
        UNIQUE (lesson_id, peer)
    ) STRICT;",
    ),
    // The host's time zone, shown to students beside their own.
    M::up("ALTER TABLE lessons ADD COLUMN time_zone TEXT;"),
    // Teachers' pages, by the id their key gives; the lessons that name one.
    M::up(
        "CREATE TABLE teachers (
        id TEXT PRIMARY KEY,
        page TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    ALTER TABLE lessons ADD COLUMN teacher_id TEXT;",
    ),
];

/// A lesson as stored, with what only the server may see.
#[derive(Debug, Clone)]
pub struct StoredLesson {
    pub info: LessonInfo,
    pub host_token_sha256: String,
}

/// A member of a live lesson as stored: enough to let it back in, and to show it as away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub peer: PeerId,
    pub name: String,
    pub role: Role,
    pub mic: bool,
    pub token_sha256: String,
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Host => "host",
        Role::Student => "student",
        Role::Observer => "observer",
    }
}

/// A question as stored, with who voted for it.
#[derive(Debug, Clone)]
pub struct StoredQuestion {
    pub question: Question,
    pub voters: Vec<PeerId>,
}

pub struct ServerDb {
    conn: Connection,
}

fn status_str(s: LessonStatus) -> &'static str {
    match s {
        LessonStatus::Scheduled => "scheduled",
        LessonStatus::Live => "live",
        LessonStatus::Ended => "ended",
    }
}

fn state_str(s: QuestionState) -> &'static str {
    match s {
        QuestionState::Open => "open",
        QuestionState::Answered => "answered",
        QuestionState::Dismissed => "dismissed",
    }
}

fn kind_str(k: QuestionKind) -> &'static str {
    match k {
        QuestionKind::Text => "text",
        QuestionKind::Voice => "voice",
    }
}

impl ServerDb {
    /// Opens (creating if needed) `DIR/tutti-server.db`.
    pub fn open_dir(dir: &Path) -> Result<Self, DbError> {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        Self::init(Connection::open(dir.join("tutti-server.db"))?)
    }

    /// A fresh database in memory (tests, the fuzzer). Migrating takes 0.4 ms and they open
    /// thousands, so a migrated template is made once and copied (SQLite's backup).
    pub fn open_in_memory() -> Result<Self, DbError> {
        static TEMPLATE: OnceLock<Mutex<Connection>> = OnceLock::new();
        let template = match TEMPLATE.get() {
            Some(t) => t,
            None => {
                let fresh = Self::init(Connection::open_in_memory()?)?;
                TEMPLATE.get_or_init(|| Mutex::new(fresh.conn))
            }
        };
        let mut conn = Connection::open_in_memory()?;
        {
            let template = template.lock().unwrap_or_else(|p| p.into_inner());
            Backup::new(&template, &mut conn)?.run_to_completion(i32::MAX, Duration::ZERO, None)?;
        }
        Self::configure(&conn)?;
        Ok(Self { conn })
    }

    /// What each connection needs set (the file's own settings are in the file).
    fn configure(conn: &Connection) -> Result<(), DbError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(())
    }

    fn init(mut conn: Connection) -> Result<Self, DbError> {
        // WAL: a crash loses at most the last transactions, never the file. NORMAL sync is
        // durable across process crashes, which is what a restart needs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::configure(&conn)?;
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn)?;
        Ok(Self { conn })
    }

    /// Makes every write fail, as a full disk or a read-only file would.
    #[cfg(test)]
    pub(crate) fn refuse_writes(&self, refuse: bool) {
        self.conn
            .pragma_update(None, "query_only", refuse)
            .expect("query_only pragma");
    }

    pub fn insert_lesson(&self, lesson: &StoredLesson) -> Result<(), DbError> {
        let i = &lesson.info;
        let result = self.conn.execute(
            "INSERT INTO lessons (id, code, title, host_name, status, scheduled_for, created_at,
                                  started_at, ended_at, host_token_sha256, time_zone, teacher_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                i.id.as_str(),
                i.code.to_string(),
                i.title,
                i.host_name,
                status_str(i.status),
                i.scheduled_for.map(|t| t.0),
                i.created_at.0,
                i.started_at.map(|t| t.0),
                i.ended_at.map(|t| t.0),
                lesson.host_token_sha256,
                i.time_zone,
                i.teacher.as_ref().map(|t| t.0.as_str()),
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation
                    && msg.contains("lessons.code") =>
            {
                Err(DbError::CodeTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `member` to `lesson`, or updates it (a mic granted).
    pub fn save_member(&self, lesson: &LessonId, member: &StoredMember) -> Result<(), DbError> {
        self.conn.execute(
            "INSERT INTO members (lesson_id, peer, name, role, mic, token_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (lesson_id, peer) DO UPDATE SET
                 name = excluded.name, role = excluded.role, mic = excluded.mic,
                 token_sha256 = excluded.token_sha256",
            params![
                lesson.as_str(),
                member.peer.as_str(),
                member.name,
                role_str(member.role),
                member.mic,
                member.token_sha256,
            ],
        )?;
        Ok(())
    }

    /// Forgets one member (`Some`) or all of a lesson's (`None`).
    pub fn delete_members(&self, lesson: &LessonId, peer: Option<&PeerId>) -> Result<(), DbError> {
        match peer {
            Some(p) => self.conn.execute(
                "DELETE FROM members WHERE lesson_id = ?1 AND peer = ?2",
                params![lesson.as_str(), p.as_str()],
            )?,
            None => self.conn.execute(
                "DELETE FROM members WHERE lesson_id = ?1",
                params![lesson.as_str()],
            )?,
        };
        Ok(())
    }

    pub fn members(&self, lesson: &LessonId) -> Result<Vec<StoredMember>, DbError> {
        // In the order they came in (an update keeps a member's row).
        let mut stmt = self.conn.prepare(
            "SELECT peer, name, role, mic, token_sha256 FROM members
             WHERE lesson_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![lesson.as_str()], |r| {
            let role: String = r.get(2)?;
            Ok((
                StoredMember {
                    peer: PeerId(r.get(0)?),
                    name: r.get(1)?,
                    role: Role::Host,
                    mic: r.get(3)?,
                    token_sha256: r.get(4)?,
                },
                role,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut m, role) = row?;
            m.role = match role.as_str() {
                "host" => Role::Host,
                "student" => Role::Student,
                "observer" => Role::Observer,
                other => return Err(DbError::Corrupt(format!("member role {other:?}"))),
            };
            out.push(m);
        }
        Ok(out)
    }

    fn lesson_where(&self, clause: &str, key: &str) -> Result<Option<StoredLesson>, DbError> {
        let sql = format!(
            "SELECT id, code, title, host_name, status, scheduled_for, created_at, started_at,
                    ended_at, host_token_sha256, time_zone, teacher_id FROM lessons
             WHERE {clause} = ?1"
        );
        let row = self
            .conn
            .query_row(&sql, [key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, Option<String>>(11)?,
                ))
            })
            .optional()?;
        let Some((
            id,
            code,
            title,
            host_name,
            status,
            sched,
            created,
            started,
            ended,
            hash,
            zone,
            teacher,
        )) = row
        else {
            return Ok(None);
        };
        let status = match status.as_str() {
            "scheduled" => LessonStatus::Scheduled,
            "live" => LessonStatus::Live,
            "ended" => LessonStatus::Ended,
            other => return Err(DbError::Corrupt(format!("lesson status {other}"))),
        };
        let code = InviteCode::parse(&code).map_err(|e| DbError::Corrupt(e.to_string()))?;
        Ok(Some(StoredLesson {
            info: LessonInfo {
                id: LessonId(id),
                code,
                title,
                host_name,
                status,
                scheduled_for: sched.map(UnixMs),
                time_zone: zone,
                created_at: UnixMs(created),
                started_at: started.map(UnixMs),
                ended_at: ended.map(UnixMs),
                teacher: teacher.map(TeacherId),
            },
            host_token_sha256: hash,
        }))
    }

    /// Publishes (or replaces) a teacher's page.
    pub fn put_teacher(
        &self,
        id: &TeacherId,
        page: &TeacherPage,
        now: UnixMs,
    ) -> Result<(), DbError> {
        let json = serde_json::to_string(page).map_err(|e| DbError::Corrupt(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO teachers (id, page, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET page = excluded.page, updated_at = excluded.updated_at",
            params![id.0, json, now.0],
        )?;
        Ok(())
    }

    pub fn teacher(&self, id: &TeacherId) -> Result<Option<TeacherPage>, DbError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT page FROM teachers WHERE id = ?1", [&id.0], |r| {
                r.get(0)
            })
            .optional()?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| DbError::Corrupt(format!("teacher page: {e}")))
        })
        .transpose()
    }

    pub fn lesson_by_id(&self, id: &LessonId) -> Result<Option<StoredLesson>, DbError> {
        self.lesson_where("id", id.as_str())
    }

    pub fn lesson_by_code(&self, code: &InviteCode) -> Result<Option<StoredLesson>, DbError> {
        self.lesson_where("code", &code.to_string())
    }

    pub fn update_lesson_status(&self, info: &LessonInfo) -> Result<(), DbError> {
        self.conn.execute(
            "UPDATE lessons SET status = ?2, started_at = ?3, ended_at = ?4 WHERE id = ?1",
            params![
                info.id.as_str(),
                status_str(info.status),
                info.started_at.map(|t| t.0),
                info.ended_at.map(|t| t.0),
            ],
        )?;
        Ok(())
    }

    /// Stores a new question; its `id` is assigned here and returned in the copy.
    pub fn insert_question(&self, q: &Question) -> Result<Question, DbError> {
        self.conn.execute(
            "INSERT INTO questions (lesson_id, kind, text, author, author_name, anonymous, state,
                                    pinned, pre_lesson, asked_at, answered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                q.lesson.as_str(),
                kind_str(q.kind),
                q.text,
                q.author.as_ref().map(PeerId::as_str),
                q.author_name,
                q.anonymous,
                state_str(q.state),
                q.pinned,
                q.pre_lesson,
                q.asked_at.0,
                q.answered_at.map(|t| t.0),
            ],
        )?;
        let id = u64::try_from(self.conn.last_insert_rowid())
            .map_err(|_| DbError::Corrupt("negative question id".into()))?;
        Ok(Question {
            id: QuestionId(id),
            ..q.clone()
        })
    }

    /// Saves a question's state, pin and answer time.
    pub fn update_question(&self, q: &Question) -> Result<(), DbError> {
        self.conn.execute(
            "UPDATE questions SET state = ?2, pinned = ?3, answered_at = ?4 WHERE id = ?1",
            params![
                i64::try_from(q.id.0).unwrap_or(i64::MAX),
                state_str(q.state),
                q.pinned,
                q.answered_at.map(|t| t.0)
            ],
        )?;
        Ok(())
    }

    /// Records or withdraws one participant's vote.
    pub fn set_vote(&self, question: QuestionId, voter: &PeerId, up: bool) -> Result<(), DbError> {
        let qid = i64::try_from(question.0).unwrap_or(i64::MAX);
        if up {
            self.conn.execute(
                "INSERT OR IGNORE INTO votes (question_id, voter) VALUES (?1, ?2)",
                params![qid, voter.as_str()],
            )?;
        } else {
            self.conn.execute(
                "DELETE FROM votes WHERE question_id = ?1 AND voter = ?2",
                params![qid, voter.as_str()],
            )?;
        }
        Ok(())
    }

    /// A lesson's questions, oldest first, with their voters.
    pub fn questions(&self, lesson: &LessonId) -> Result<Vec<StoredQuestion>, DbError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, lesson_id, kind, text, author, author_name, anonymous, state, pinned,
                    pre_lesson, asked_at, answered_at
             FROM questions WHERE lesson_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([lesson.as_str()], question_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            let question = row??;
            out.push(StoredQuestion {
                question,
                voters: Vec::new(),
            });
        }
        let mut votes = self.conn.prepare_cached(
            "SELECT v.question_id, v.voter FROM votes v JOIN questions q ON q.id = v.question_id
             WHERE q.lesson_id = ?1",
        )?;
        let rows = votes.query_map([lesson.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let index: std::collections::HashMap<i64, usize> = out
            .iter()
            .enumerate()
            .filter_map(|(i, sq)| i64::try_from(sq.question.id.0).ok().map(|id| (id, i)))
            .collect();
        for row in rows {
            let (qid, voter) = row?;
            if let Some(&i) = index.get(&qid) {
                out[i].voters.push(PeerId(voter));
            }
        }
        for sq in &mut out {
            sq.question.votes = u32::try_from(sq.voters.len()).unwrap_or(u32::MAX);
        }
        Ok(out)
    }
}

fn question_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Question, DbError>> {
    let id: i64 = r.get(0)?;
    let kind: String = r.get(2)?;
    let state: String = r.get(7)?;
    let kind = match kind.as_str() {
        "text" => QuestionKind::Text,
        "voice" => QuestionKind::Voice,
        other => return Ok(Err(DbError::Corrupt(format!("question kind {other}")))),
    };
    let state = match state.as_str() {
        "open" => QuestionState::Open,
        "answered" => QuestionState::Answered,
        "dismissed" => QuestionState::Dismissed,
        other => return Ok(Err(DbError::Corrupt(format!("question state {other}")))),
    };
    Ok(Ok(Question {
        id: QuestionId(u64::try_from(id).unwrap_or(0)),
        lesson: LessonId(r.get(1)?),
        kind,
        text: r.get(3)?,
        author: r.get::<_, Option<String>>(4)?.map(PeerId),
        author_name: r.get(5)?,
        anonymous: r.get(6)?,
        votes: 0,
        state,
        pinned: r.get(8)?,
        pre_lesson: r.get(9)?,
        asked_at: UnixMs(r.get(10)?),
        answered_at: r.get::<_, Option<i64>>(11)?.map(UnixMs),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_memory_copy_is_at_the_latest_migration_with_its_pragmas_and_empty() {
        let a = ServerDb::open_in_memory().unwrap();
        a.insert_lesson(&lesson("l1", "K7M-4QX-9TD")).unwrap();
        let b = ServerDb::open_in_memory().unwrap();
        let version: i64 = b
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        let fk: bool = b
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert!(fk);
        let n: i64 = b
            .conn
            .query_row("SELECT count(*) FROM lessons", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "each copy starts empty, whatever another holds");
    }

    fn lesson(id: &str, code: &str) -> StoredLesson {
        StoredLesson {
            info: LessonInfo {
                id: id.into(),
                code: InviteCode::parse(code).unwrap(),
                title: "Scales".into(),
                host_name: "김선생".into(),
                status: LessonStatus::Scheduled,
                scheduled_for: Some(UnixMs(5_000)),
                time_zone: Some("Asia/Seoul".into()),
                created_at: UnixMs(1_000),
                started_at: None,
                ended_at: None,
                teacher: None,
            },
            host_token_sha256: "abc".into(),
        }
    }

    fn question(lesson: &str, text: &str) -> Question {
        Question {
            id: QuestionId(0),
            lesson: lesson.into(),
            kind: QuestionKind::Voice,
            text: text.into(),
            author: None,
            author_name: Some("Omar".into()),
            anonymous: false,
            votes: 0,
            state: QuestionState::Open,
            pinned: false,
            pre_lesson: true,
            asked_at: UnixMs(2_000),
            answered_at: None,
        }
    }

    #[test]
    fn lessons_round_trip_by_id_and_code() {
        let db = ServerDb::open_in_memory().unwrap();
        let l = lesson("l1", "ABC-DEF-GHJ");
        db.insert_lesson(&l).unwrap();
        let by_id = db.lesson_by_id(&"l1".into()).unwrap().unwrap();
        assert_eq!(by_id.info, l.info);
        assert_eq!(by_id.host_token_sha256, "abc");
        let code = InviteCode::parse("abcdefghj").unwrap();
        assert_eq!(
            db.lesson_by_code(&code).unwrap().unwrap().info.id,
            "l1".into()
        );
        assert!(db.lesson_by_id(&"nope".into()).unwrap().is_none());

        let mut live = l.info.clone();
        live.status = LessonStatus::Live;
        live.started_at = Some(UnixMs(6_000));
        db.update_lesson_status(&live).unwrap();
        assert_eq!(db.lesson_by_id(&"l1".into()).unwrap().unwrap().info, live);
    }

    #[test]
    fn a_teacher_s_page_is_kept_replaced_and_named_by_lessons() {
        let db = ServerDb::open_in_memory().unwrap();
        let id = TeacherId("0123456789abcdef0123456789abcdef".into());
        assert_eq!(db.teacher(&id).unwrap(), None);
        let mut page = TeacherPage {
            name: "김선생".into(),
            instruments: vec!["violin".into()],
            bio: "Seoul Philharmonic, 20 years".into(),
            ..TeacherPage::default()
        };
        db.put_teacher(&id, &page, UnixMs(1)).unwrap();
        assert_eq!(db.teacher(&id).unwrap().as_ref(), Some(&page));
        page.instruments.push("viola".into());
        db.put_teacher(&id, &page, UnixMs(2)).unwrap();
        assert_eq!(db.teacher(&id).unwrap().as_ref(), Some(&page));

        let mut l = lesson("l1", "ABC-DEF-GHJ");
        l.info.teacher = Some(id.clone());
        db.insert_lesson(&l).unwrap();
        assert_eq!(
            db.lesson_by_id(&"l1".into()).unwrap().unwrap().info.teacher,
            Some(id)
        );
    }

    #[test]
    fn a_taken_code_is_reported_as_such() {
        let db = ServerDb::open_in_memory().unwrap();
        db.insert_lesson(&lesson("l1", "ABC-DEF-GHJ")).unwrap();
        assert!(matches!(
            db.insert_lesson(&lesson("l2", "ABC-DEF-GHJ")),
            Err(DbError::CodeTaken)
        ));
        assert!(matches!(
            db.insert_lesson(&lesson("l1", "ZZZ-DEF-GHJ")),
            Err(DbError::Sqlite(_))
        ));
    }

    #[test]
    fn questions_and_votes_round_trip() {
        let db = ServerDb::open_in_memory().unwrap();
        db.insert_lesson(&lesson("l1", "ABC-DEF-GHJ")).unwrap();
        let q1 = db.insert_question(&question("l1", "비브라토?")).unwrap();
        let q2 = db.insert_question(&question("l1", "second")).unwrap();
        assert!(q2.id > q1.id);
        db.set_vote(q1.id, &"pa".into(), true).unwrap();
        db.set_vote(q1.id, &"pa".into(), true).unwrap();
        db.set_vote(q1.id, &"pb".into(), true).unwrap();
        db.set_vote(q2.id, &"pa".into(), true).unwrap();
        db.set_vote(q2.id, &"pa".into(), false).unwrap();
        let mut answered = q1.clone();
        answered.state = QuestionState::Answered;
        answered.pinned = true;
        answered.answered_at = Some(UnixMs(9_000));
        db.update_question(&answered).unwrap();

        let qs = db.questions(&"l1".into()).unwrap();
        assert_eq!(qs.len(), 2);
        assert_eq!(
            qs[0].question,
            Question {
                votes: 2,
                ..answered
            }
        );
        assert_eq!(qs[0].voters.len(), 2);
        assert_eq!(qs[1].question, Question { votes: 0, ..q2 });
    }

    #[test]
    fn a_question_for_an_unknown_lesson_is_refused() {
        let db = ServerDb::open_in_memory().unwrap();
        assert!(db.insert_question(&question("ghost", "x")).is_err());
    }

    #[test]
    fn members_round_trip_in_order_and_go_with_their_lesson() {
        let db = ServerDb::open_in_memory().unwrap();
        db.insert_lesson(&lesson("l1", "K7M-4QX-9TD")).unwrap();
        let member = |peer: &str, role| StoredMember {
            peer: PeerId::from(peer),
            name: peer.to_uppercase(),
            role,
            mic: role != Role::Observer,
            token_sha256: format!("sha-{peer}"),
        };
        let l1 = LessonId::from("l1");
        db.save_member(&l1, &member("z", Role::Host)).unwrap();
        db.save_member(&l1, &member("a", Role::Observer)).unwrap();
        let granted = StoredMember {
            mic: true,
            ..member("a", Role::Observer)
        };
        db.save_member(&l1, &granted).unwrap();
        assert_eq!(db.members(&l1).unwrap(), [member("z", Role::Host), granted]);
        db.delete_members(&l1, Some(&PeerId::from("z"))).unwrap();
        assert_eq!(db.members(&l1).unwrap().len(), 1);
        db.delete_members(&l1, None).unwrap();
        assert!(db.members(&l1).unwrap().is_empty());
        let unknown = db.save_member(&LessonId::from("nope"), &member("b", Role::Student));
        assert!(unknown.is_err(), "a member of no lesson is refused");
    }

    #[test]
    fn data_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = ServerDb::open_dir(dir.path()).unwrap();
            db.insert_lesson(&lesson("l1", "ABC-DEF-GHJ")).unwrap();
            db.insert_question(&question("l1", "kept")).unwrap();
        }
        let db = ServerDb::open_dir(dir.path()).unwrap();
        assert_eq!(db.questions(&"l1".into()).unwrap()[0].question.text, "kept");
    }
}
