//! Errors of the dead-letter stage and of replay.

use std::path::PathBuf;

use weir_core::BoxError;

/// Why the dead-letter stage could not store a failure. It ends the run:
/// it is the `error` of the [`RunError::Sink`](weir_core::RunError::Sink)
/// the run returns, whose `returned` count says how many failures could not
/// be stored.
///
/// # Examples
///
/// ```
/// use weir_deadletter::DeadLetterError;
///
/// let err = DeadLetterError::SinkDown;
/// assert!(err.to_string().contains("down"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadLetterError {
    /// The store kept failing (sending a record, or flushing) until the
    /// stage's tries, or the store's own retry layer, gave up.
    #[error(
        "the dead-letter store failed after {attempts} attempt(s): {source}; fix the store, then process the returned items again"
    )]
    StoreFailed {
        /// Attempts made to store the record or flush the store.
        attempts: u32,
        /// The store's last error (a boxed store's own error, unwrapped).
        source: BoxError,
    },
    /// The store panicked while taking or flushing records.
    #[error("the dead-letter store panicked: {message}")]
    SinkPanicked {
        /// The panic message.
        message: String,
    },
    /// The store cannot take this failure's record: it gave it back with
    /// an error whose class is not retryable (see
    /// [`SinkError::with_class`](weir_core::SinkError::with_class); for a
    /// [`JsonLines`](crate::JsonLines) file, an item holding a NaN or
    /// infinite float). It was not stored and not retried; the other
    /// records were stored.
    #[error(
        "a dead letter of stage `{stage}` cannot be stored: {source}; its item is returned in this error, unacknowledged: change the item (or the store) so that it can be stored, then process it again"
    )]
    Unstorable {
        /// The stage where the item failed.
        stage: String,
        /// The store's reason (a boxed store's own error, unwrapped).
        source: BoxError,
    },
    /// An earlier record could not be stored, so this failure was not tried.
    #[error("the dead-letter store is down: an earlier record could not be stored")]
    SinkDown,
    /// The store's final flush, when the input ended, kept failing: the
    /// records stored were flushed as they came (and acknowledged), but
    /// may not be on stable storage (for a file, the `fsync` failed), so
    /// a crash may still lose them.
    #[error("the dead-letter store could not make its records durable at the end of the run: {message}")]
    SyncFailed {
        /// The store's last error.
        message: String,
    },
    /// The dead-letter stage's writer task ended before the failure reached it.
    #[error("the dead-letter writer task ended unexpectedly")]
    WriterGone,
}

/// Why a dead-letter file could not be replayed at all: it cannot be
/// opened. (A line that is not a record does not stop a replay: see
/// [`BadLine`].)
///
/// # Examples
///
/// ```
/// use weir_deadletter::{ReplayError, replay};
///
/// let err = replay::<u32>("/no/such/dead-letters.jsonl").load().unwrap_err();
/// assert!(matches!(err, ReplayError::Io { .. }));
/// assert!(err.to_string().starts_with("cannot read dead letters from /no/such/dead-letters.jsonl"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file could not be opened.
    #[error("cannot read dead letters from {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A line of a dead-letter file that replay could not read as a record,
/// with its number and the reason. Replay reports it and goes on with the
/// next line.
///
/// # Examples
///
/// ```
/// use weir_deadletter::{BadLineKind, replay};
///
/// # let path = std::env::temp_dir().join(format!("weir-doc-bad-line-{}.jsonl", std::process::id()));
/// std::fs::write(&path, "{not json}\n")?;
/// let bad = replay::<u32>(&path).load()?.bad_lines.remove(0);
/// assert_eq!((bad.line(), bad.text()), (1, "{not json}"));
/// assert!(matches!(bad.kind(), BadLineKind::Malformed(_)));
/// assert!(bad.to_string().contains(":1: not a dead-letter record"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {kind}", path.display())]
pub struct BadLine {
    path: PathBuf,
    line: usize,
    #[source]
    kind: BadLineKind,
    text: String,
}

impl BadLine {
    pub(crate) fn new(path: &std::path::Path, line: usize, kind: BadLineKind, text: &str) -> Self {
        Self { path: path.to_owned(), line, kind, text: text.to_owned() }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The line's number, counting from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Why the line is not a record.
    pub fn kind(&self) -> &BadLineKind {
        &self.kind
    }

    /// The line's text (invalid UTF-8 replaced by `U+FFFD`; empty when the
    /// file could not be read).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Why a line of a dead-letter file is not a record; see [`BadLine`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadLineKind {
    /// The line ends inside a record: the writer was interrupted (a crash
    /// or a full disk) or the file was cut. Nothing of the record can be
    /// trusted; find its item in the source system, or drop the line.
    #[error("truncated: the line ends inside a record ({0}); the rest of the record is lost")]
    Truncated(#[source] serde_json::Error),
    /// The line is not JSON, or not a record, or its item is not of the
    /// type replayed (for a file shared by stages, select one with
    /// [`Replay::stage`](crate::Replay::stage)).
    #[error(
        "not a dead-letter record of the item type replayed ({0}); fix the line, or replay its stage with its own item type"
    )]
    Malformed(#[source] serde_json::Error),
    /// The line is not UTF-8 text.
    #[error("not UTF-8 text ({0}); a dead-letter file is JSON lines, so the line was damaged")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// Reading the file failed at this line; nothing after it is read.
    #[error("the file could not be read from this line on ({0})")]
    Unreadable(#[source] std::io::Error),
}
