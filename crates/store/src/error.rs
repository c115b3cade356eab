//! What can go wrong, in terms the app can show: a full disk and a read-only file are their own
//! errors, so the user is told what to do, and nothing already saved is touched by them.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the disk is full: this change was not saved (everything saved before is intact)")]
    DiskFull,
    #[error("the lesson store is read-only: this change was not saved")]
    ReadOnly,
    #[error("the lesson store is in use by another program; try again")]
    Busy,
    #[error("the lesson store file is damaged: {0}")]
    Corrupt(String),
    #[error("cannot open the lesson store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: i64 },
    #[error("{0}")]
    Invalid(Invalid),
    #[error("the lesson store's schema could not be brought up to date: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

/// Input the store will not keep, typed so the app can say it in the user's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the {what} is empty")]
    Empty { what: &'static str },
    #[error("the {what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DiskFull) => Self::DiskFull,
            Some(C::ReadOnly) => Self::ReadOnly,
            Some(C::DatabaseBusy | C::DatabaseLocked) => Self::Busy,
            Some(C::DatabaseCorrupt | C::NotADatabase) => Self::Corrupt(e.to_string()),
            _ => Self::Sqlite(e),
        }
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(e: rusqlite_migration::Error) -> Self {
        match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => err.into(),
            other => Self::Migration(other.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
