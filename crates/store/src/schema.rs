//! The schema, as migrations. Never edit a shipped migration: add one. `tests/fixtures/v1.sql`
//! is a database as version 1 left it, and a test upgrades it.

use rusqlite_migration::M;

pub const MIGRATIONS: &[M<'static>] = &[
    // 1: the first release.
    M::up(
        "CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            instrument TEXT,
            about TEXT NOT NULL DEFAULT '',
            time_zone TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE lessons (
            id INTEGER PRIMARY KEY,
            remote_id TEXT UNIQUE,
            title TEXT NOT NULL,
            my_role TEXT NOT NULL CHECK (my_role IN ('host', 'student', 'observer')),
            student_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            host_tz TEXT NOT NULL,
            student_tz TEXT,
            scheduled_start INTEGER,
            scheduled_minutes INTEGER,
            actual_start INTEGER,
            actual_end INTEGER,
            invite_code TEXT,
            status TEXT NOT NULL CHECK (status IN ('scheduled', 'live', 'ended', 'cancelled')),
            server_url TEXT,
            created_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX lessons_by_student ON lessons(student_id);
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            body TEXT NOT NULL,
            anchor_ms INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX notes_by_lesson ON notes(lesson_id);
        CREATE TABLE questions (
            id INTEGER PRIMARY KEY,
            lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            remote_id INTEGER,
            kind TEXT NOT NULL CHECK (kind IN ('text', 'voice')),
            text TEXT NOT NULL,
            author_name TEXT,
            anonymous INTEGER NOT NULL,
            votes INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('open', 'answered', 'dismissed')),
            pinned INTEGER NOT NULL DEFAULT 0,
            pre_lesson INTEGER NOT NULL DEFAULT 0,
            asked_at INTEGER NOT NULL,
            answered_at INTEGER,
            UNIQUE (lesson_id, remote_id)
        ) STRICT;
        CREATE TABLE chat_messages (
            id INTEGER PRIMARY KEY,
            lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            remote_id INTEGER,
            from_name TEXT NOT NULL,
            text TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            UNIQUE (lesson_id, remote_id)
        ) STRICT;
        CREATE TABLE recordings (
            id INTEGER PRIMARY KEY,
            lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            who TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) STRICT;",
    ),
    // 2: note history, and full-text search over notes and questions. The trigram tokenizer
    // matches any substring of three characters or more, which is what Korean needs: words carry
    // particles (비브라토를, 활은) and compounds run together (바이올린연습), so a word
    // tokenizer would miss most searches.
    M::up(
        "CREATE TABLE note_revisions (
            id INTEGER PRIMARY KEY,
            note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
            body TEXT NOT NULL,
            saved_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX note_revisions_by_note ON note_revisions(note_id, saved_at);

        CREATE VIRTUAL TABLE notes_fts USING fts5(
            body, content='notes', content_rowid='id', tokenize='trigram');
        CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
            INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body);
        END;
        CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
            INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body);
        END;
        CREATE TRIGGER notes_au AFTER UPDATE OF body ON notes BEGIN
            INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body);
            INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body);
        END;

        CREATE VIRTUAL TABLE questions_fts USING fts5(
            text, content='questions', content_rowid='id', tokenize='trigram');
        CREATE TRIGGER questions_ai AFTER INSERT ON questions BEGIN
            INSERT INTO questions_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER questions_ad AFTER DELETE ON questions BEGIN
            INSERT INTO questions_fts(questions_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER questions_au AFTER UPDATE OF text ON questions BEGIN
            INSERT INTO questions_fts(questions_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO questions_fts(rowid, text) VALUES (new.id, new.text);
        END;

        -- Index what version 1 already held.
        INSERT INTO notes_fts(notes_fts) VALUES ('rebuild');
        INSERT INTO questions_fts(questions_fts) VALUES ('rebuild');",
    ),
    // 3: the host token of a lesson we created on a room server, so that its host can open it
    // later (a scheduled lesson) or again (after an app restart). Cleared when the lesson ends.
    M::up("ALTER TABLE lessons ADD COLUMN host_token TEXT;"),
    // 4: takes (a recording's folder of tracks on one timeline, and when its zero was) and marks
    // on the lesson's clock (the mark button, the lines of the notes as they were typed), which
    // the history places on each take's timeline; questions are placed by when they were asked.
    M::up(
        "CREATE TABLE takes (
            id INTEGER PRIMARY KEY,
            lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            dir TEXT NOT NULL,
            started_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX takes_by_lesson ON takes(lesson_id);
        ALTER TABLE recordings ADD COLUMN take_id INTEGER REFERENCES takes(id) ON DELETE SET NULL;
        ALTER TABLE recordings ADD COLUMN start_ms INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE marks (
            id INTEGER PRIMARY KEY,
            lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('mark', 'note')),
            text TEXT NOT NULL,
            at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX marks_by_lesson ON marks(lesson_id, at);",
    ),
    // 5: a student's takes on their way to the teacher, until the teacher has them: a lesson
    // that ends first leaves them here, and the next lesson with that teacher sends them on.
    M::up(
        "CREATE TABLE outgoing_takes (
            path TEXT PRIMARY KEY,
            teacher TEXT NOT NULL,
            name TEXT NOT NULL,
            start_ms INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            queued_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX outgoing_by_teacher ON outgoing_takes(teacher);",
    ),
];
