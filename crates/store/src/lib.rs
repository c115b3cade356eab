//! The local lesson store, on each participant's own machine: lessons, students, notes (with
//! history), questions and chat mirrored from the live lesson, recordings; full-text search in
//! Korean and English; Markdown export. SQLite (bundled, so FTS5 is the same everywhere) in WAL
//! mode. No SQL leaves this crate.

mod error;
mod export;
mod lessons;
mod model;
mod notes;
mod people;
mod queue;
mod schema;
mod search;
mod takes;
mod zones;

pub use error::{Invalid, Result, StoreError};
pub use export::{span, take_folder};
pub use model::*;
pub use notes::MAX_NOTE_CHARS;
pub use takes::MAX_MARK_CHARS;
pub use zones::validate_zone;

use rusqlite::Connection;
use rusqlite_migration::Migrations;
use std::path::{Path, PathBuf};

/// The store's file name inside the app-data directory.
pub const FILE_NAME: &str = "tutti.db";

pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
    clock: Box<dyn Fn() -> UnixMs + Send>,
}

impl Store {
    /// The platform's app-data location, e.g. `~/.local/share/tutti/tutti.db` on Linux.
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("tutti").join(FILE_NAME))
    }

    /// Opens (creating, and upgrading the schema of) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::init(conn, Some(path.to_owned()))
    }

    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Fail early and clearly on a file that is not a database.
        let _: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a note that was saved survives a power cut, not only a crash of the app.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Migrations::from_slice(schema::MIGRATIONS).to_latest(&mut conn)?;
        Ok(Self {
            conn,
            path,
            clock: Box::new(UnixMs::now),
        })
    }

    /// Replaces the clock (tests, and imports that carry their own times).
    pub fn set_clock(&mut self, clock: impl Fn() -> UnixMs + Send + 'static) {
        self.clock = Box::new(clock);
    }

    fn now(&self) -> UnixMs {
        (self.clock)()
    }

    /// Where the file is, to show in the app; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version, as the migrations count it.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// SQLite's own check of the file: `Ok(())` when it says "ok".
    pub fn integrity_check(&self) -> Result<()> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(result))
        }
    }

    /// Caps the file's size in pages, as a full disk would (tests of the disk-full path).
    #[doc(hidden)]
    pub fn limit_pages_for_tests(&self, pages: Option<u64>) -> Result<()> {
        // SQLite's own maximum when unlimited.
        let pages = pages.unwrap_or(0xFFFF_FFFE);
        self.conn.pragma_update(
            None,
            "max_page_count",
            i64::try_from(pages).unwrap_or(i64::MAX),
        )?;
        Ok(())
    }

    /// Makes the connection read-only, as a read-only file would (tests).
    #[doc(hidden)]
    pub fn set_read_only_for_tests(&self, read_only: bool) -> Result<()> {
        self.conn.pragma_update(None, "query_only", read_only)?;
        Ok(())
    }
}

fn check_text(text: &str, what: &'static str, max_chars: usize) -> Result<()> {
    if text.chars().count() > max_chars {
        return Err(StoreError::Invalid(Invalid::TooLong {
            what,
            max: max_chars,
        }));
    }
    Ok(())
}

fn non_empty(text: &str, what: &'static str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(StoreError::Invalid(Invalid::Empty { what }));
    }
    Ok(t.to_owned())
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Host => "host",
        Role::Student => "student",
        Role::Observer => "observer",
    }
}

fn parse_role(s: &str) -> Option<Role> {
    Some(match s {
        "host" => Role::Host,
        "student" => Role::Student,
        "observer" => Role::Observer,
        _ => return None,
    })
}

fn kind_str(k: QuestionKind) -> &'static str {
    match k {
        QuestionKind::Text => "text",
        QuestionKind::Voice => "voice",
    }
}

fn state_str(s: QuestionState) -> &'static str {
    match s {
        QuestionState::Open => "open",
        QuestionState::Answered => "answered",
        QuestionState::Dismissed => "dismissed",
    }
}

/// A value from the file that this version does not know: the file is from elsewhere or damaged.
fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

#[cfg(test)]
mod tests;
