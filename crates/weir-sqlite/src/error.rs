//! The sink's error: what went wrong, whether retrying can help, what to do.

use std::path::PathBuf;

use rusqlite::ErrorCode;
use weir_core::{Classify, ErrorClass};

/// Why the SQLite sink could not open, or could not store a batch.
///
/// Its [`class`](Classify::class) tells a retry layer what to do:
/// [`Busy`](SqliteError::Busy) and [`Locked`](SqliteError::Locked) are
/// [`Transient`](ErrorClass::Transient) (another connection holds a lock:
/// wait and try again), [`RowPanicked`](SqliteError::RowPanicked) is
/// [`Poison`](ErrorClass::Poison), everything else is
/// [`Permanent`](ErrorClass::Permanent) (trying the same rows again gives
/// the same error). A failed `send` gives its batch back inside
/// [`SinkError`](weir_core::SinkError) with that class, so `sink.retry(policy)`
/// retries only what can succeed, and a dead-letter route keeps the rest.
/// For a failed `flush`, which has no item to carry a class, add
/// `.classify_by_trait()` to the retry layer (`sink.retry(policy)
/// .classify_by_trait()`) so that it reads this class too (by default it
/// retries every error).
///
/// # Examples
///
/// ```
/// use weir_core::{Classify, ErrorClass};
/// use weir_sqlite::SqliteError;
///
/// let err = SqliteError::WriterGone;
/// assert_eq!(err.class(), ErrorClass::Permanent);
/// assert!(err.to_string().contains("open a new sink"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The database could not be opened or set up: the file, the pragmas,
    /// or the row type's table.
    #[error(
        "could not open the SQLite database {}: {source}; check that its directory exists and is writable and that the file is a SQLite database",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The row type's SQL (`create_table_sql` or `insert_sql`) was refused.
    #[error("the row type's SQL was refused: {source}; fix `SqliteRow::{which}`")]
    Schema {
        /// Which of the row type's functions gave the SQL.
        which: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another connection held the database's write lock for longer than
    /// the busy timeout (`SQLITE_BUSY`). Transient.
    #[error(
        "the SQLite database is busy: another connection holds its write lock ({source}); the transaction was rolled back and nothing of it is lost: retry (wrap the sink in `sink.retry(policy)`), or raise `busy_timeout`"
    )]
    Busy {
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A table is locked by another statement or by a connection sharing
    /// this one's cache (`SQLITE_LOCKED`). Transient.
    #[error(
        "a table of the SQLite database is locked ({source}); the transaction was rolled back and nothing of it is lost: retry (wrap the sink in `sink.retry(policy)`)"
    )]
    Locked {
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A row violates a constraint of the table (`CHECK`, `NOT NULL`, a
    /// foreign key, a unique index other than the conflict target).
    /// Permanent: the same rows fail again.
    #[error(
        "a row violates a constraint of the table: {source}; its batch was rolled back: fix the rows (or the table) and store them again; retrying as they are cannot help"
    )]
    Constraint {
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database file, its directory or its WAL is read-only.
    #[error(
        "the SQLite database is read-only ({source}); give this process write access to the file and to its directory (SQLite creates the -wal and -shm files beside it)"
    )]
    ReadOnly {
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A row's value could not be bound to the insert statement (for
    /// example an integer SQLite cannot hold). Permanent.
    #[error(
        "a row's value cannot be bound to the insert statement: {source}; its batch was rolled back: fix the row type's `bind` or the row"
    )]
    Bind {
        /// SQLite's (or rusqlite's) error.
        source: rusqlite::Error,
    },
    /// A row type's `bind` panicked. Poison: the batch is given back and
    /// the transaction rolled back; the sink goes on.
    #[error("a row's `bind` panicked: {message}; its batch was rolled back: fix the row type's `bind`")]
    RowPanicked {
        /// The panic message.
        message: String,
    },
    /// Any other failure of SQLite (disk full, I/O error, corrupt file).
    /// Permanent.
    #[error(
        "SQLite failed: {source}; the transaction was rolled back: fix the cause (disk space, permissions, the file) and store the rows again"
    )]
    Sqlite {
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The sink's writer thread is gone (it could not be started, or it
    /// stopped); nothing more can be stored through this sink.
    #[error("the SQLite sink's writer thread is gone; open a new sink")]
    WriterGone,
}

impl SqliteError {
    /// Sorts a SQLite error met while storing rows by its code.
    pub(crate) fn storing(source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy) => Self::Busy { source },
            Some(ErrorCode::DatabaseLocked) => Self::Locked { source },
            Some(ErrorCode::ConstraintViolation) => Self::Constraint { source },
            Some(ErrorCode::ReadOnly) => Self::ReadOnly { source },
            _ => Self::Sqlite { source },
        }
    }

    /// An error met while binding a row's values.
    pub(crate) fn binding(source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(_) => Self::storing(source),
            None => Self::Bind { source },
        }
    }
}

impl Classify for SqliteError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Busy { .. } | Self::Locked { .. } => ErrorClass::Transient,
            Self::RowPanicked { .. } => ErrorClass::Poison,
            _ => ErrorClass::Permanent,
        }
    }
}
