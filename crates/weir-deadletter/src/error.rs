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
    /// The sink kept failing until the retry policy gave up.
    #[error("the dead-letter sink failed after {attempts} attempt(s): {source}")]
    StoreFailed {
        /// Attempts made to store the batch.
        attempts: u32,
        /// The sink's last error.
        source: BoxError,
    },
    /// The sink panicked while storing a batch.
    #[error("the dead-letter sink panicked: {message}")]
    SinkPanicked {
        /// The panic message.
        message: String,
    },
    /// The sink cannot store this failure's record in a form that reads
    /// back ([`DeadLetterSink::check`](crate::DeadLetterSink::check)
    /// rejected it; for a [`JsonLines`](crate::JsonLines) file, an item
    /// holding a NaN or infinite float). It was not stored and not retried;
    /// the other records were stored.
    #[error(
        "a dead letter of stage `{stage}` cannot be stored: {source}; its item is returned in this error, unacknowledged: change how the item is serialized, then process it again"
    )]
    Unstorable {
        /// The stage where the item failed.
        stage: String,
        /// The sink's reason.
        source: BoxError,
    },
    /// An earlier batch could not be stored, so this failure was not tried.
    #[error("the dead-letter sink is down: an earlier batch could not be stored")]
    SinkDown,
    /// The stored records could not be synced to durable storage at the end
    /// of the run (they were flushed; a crash may still lose them).
    #[error("the dead-letter sink could not sync its records at the end of the run: {message}")]
    SyncFailed {
        /// The sink's last error.
        message: String,
    },
    /// The dead-letter stage's writer task ended before the failure reached it.
    #[error("the dead-letter writer task ended unexpectedly")]
    WriterGone,
}

/// Why a dead-letter file could not be replayed. Nothing is replayed from
/// a file that has a malformed line.
///
/// # Examples
///
/// ```
/// use weir_deadletter::{ReplayError, replay};
///
/// # let path = std::env::temp_dir().join(format!("weir-doc-replay-err-{}.jsonl", std::process::id()));
/// std::fs::write(&path, "{not json}\n")?;
/// let err = replay::<u32>(&path).load().unwrap_err();
/// assert!(matches!(err, ReplayError::Malformed { line: 1, .. }));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read dead letters from {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a dead-letter record of the expected item type.
    #[error(
        "{}:{line}: not a dead-letter record ({malformed} malformed line(s) in all): {source}",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The first malformed line, counting from 1.
        line: usize,
        /// How many lines of the file are malformed.
        malformed: usize,
        /// Why the first one could not be read.
        #[source]
        source: serde_json::Error,
    },
}
