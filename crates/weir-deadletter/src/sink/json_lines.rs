//! A JSON-lines dead-letter file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{DeadLetterSink, StoreError};
use crate::record::DeadLetter;

/// A dead-letter file with one JSON record per line, appended to.
///
/// Each batch of records is serialized, appended with one write and
/// flushed before the stage acknowledges its items; [`sync`](DeadLetterSink::sync)
/// (`fsync`) runs when the pipeline's input ends, or after every batch with
/// [`sync_every_batch`](JsonLines::sync_every_batch). A batch whose write
/// fails is cut off the file again, so a retried batch is not stored
/// twice and no half line is left behind. Writes run on tokio's blocking
/// pool, never on a worker thread.
///
/// Every record written reads back: a record whose item holds a NaN or
/// infinite float (which serde_json would write as `null`) or cannot be
/// serialized is rejected by [`check`](DeadLetterSink::check) before the
/// batch is written, with [`JsonLinesError::NonFinite`] naming the field.
/// It is not written and its item is returned in the run's error,
/// unacknowledged; the other records are written (see
/// [`DeadLetterSink::check`]).
///
/// The handle is cheap to clone, and every clone appends to the same file
/// under one lock: use clones for the dead-letter stages of one pipeline
/// (the record's `stage` field tells them apart, and
/// [`replay`](crate::replay()) can pick one stage). A handle stores records
/// of any item type that implements [`Serialize`]. The record format is
/// described on [`DeadLetter`]; read a file back with [`replay`](crate::replay()).
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetterExt, JsonLines};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0} is not a number")]
/// struct NotANumber(String);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let path = std::env::temp_dir().join(format!("weir-doc-jsonl-{}.jsonl", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let dead = JsonLines::open(&path)?;
/// Pipeline::from_iter(["1", "two", "3"].map(String::from))
///     .try_map("parse", |s: String| s.parse::<u32>().map_err(|_| NotANumber(s)))
///     .dead_letter(dead.clone())
///     .map("double", |x| x * 2)
///     .sink(sink::drain())
///     .run()
///     .await?;
/// let text = std::fs::read_to_string(&path)?;
/// assert_eq!(text.lines().count(), 1);
/// assert!(text.contains(r#""error":"two is not a number""#));
/// assert!(text.contains(r#""item":"two""#));
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JsonLines {
    file: Arc<Shared>,
    sync_every_batch: bool,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    file: Mutex<File>,
}

/// Why a [`JsonLines`] file could not store records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonLinesError {
    /// Writing, flushing or syncing the file failed.
    #[error("cannot write dead letters to {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A record's item holds a NaN or infinite float. JSON has no number
    /// for it: serde_json would write `null`, which does not read back as
    /// the float (replay would reject the line), so the record is not
    /// written. Keep such values as `Option<f64>` set to `None`, or as
    /// text, in the item.
    #[error(
        "cannot write a dead letter of stage `{stage}` as JSON that reads back: `{field}` is {value}, which JSON has no number for; store it as text or an Option in the item"
    )]
    NonFinite {
        /// The stage of the record.
        stage: String,
        /// Where the float is in the record, such as `item.readings[2]`.
        field: String,
        /// The float.
        value: f64,
    },
    /// A record could not be serialized (a permanent error: its item's
    /// `Serialize` implementation failed).
    #[error("cannot serialize a dead letter of stage `{stage}`: {source}")]
    Serialize {
        /// The stage of the record.
        stage: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl JsonLines {
    /// Opens `path` for appending, creating it if it does not exist;
    /// records already in it are kept.
    ///
    /// # Errors
    ///
    /// The error of opening the file.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_owned();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self { file: Arc::new(Shared { path, file: Mutex::new(file) }), sync_every_batch: false })
    }

    /// Also syncs the file (`fdatasync`) after every batch, before the
    /// batch's items are acknowledged: safe against a power loss, at the
    /// cost of one sync per batch. Off by default: batches are flushed to
    /// the operating system and the file is synced when the input ends.
    pub fn sync_every_batch(mut self, yes: bool) -> Self {
        self.sync_every_batch = yes;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

impl Shared {
    fn io_error(&self, source: io::Error) -> JsonLinesError {
        JsonLinesError::Io { path: self.path.clone(), source }
    }

    /// Appends `bytes` in one write; on error, cuts the file back to its
    /// length before the write.
    fn append(&self, bytes: &[u8], sync: bool) -> Result<(), JsonLinesError> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let before = file.metadata().map_err(|e| self.io_error(e))?.len();
        let written = file.write_all(bytes).and_then(|()| file.flush());
        let written = written.and_then(|()| if sync { file.sync_data() } else { Ok(()) });
        written.map_err(|e| {
            if let Err(undo) = file.set_len(before) {
                tracing::error!(path = %self.path.display(), error = %undo, "cannot cut a failed dead-letter write off the file");
            }
            self.io_error(e)
        })
    }

    fn sync(&self) -> Result<(), JsonLinesError> {
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.sync_all().map_err(|e| self.io_error(e))
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<F>(shared: &Arc<Shared>, f: F) -> Result<(), JsonLinesError>
where
    F: FnOnce(&Shared) -> Result<(), JsonLinesError> + Send + 'static,
{
    let file = shared.clone();
    match tokio::task::spawn_blocking(move || f(&file)).await {
        Ok(result) => result,
        Err(join) => Err(shared.io_error(io::Error::other(format!("the writing thread failed: {join}")))),
    }
}

impl<I: Serialize + Send + 'static> DeadLetterSink<I> for JsonLines {
    type Error = JsonLinesError;

    /// Rejects a record whose item holds a NaN or infinite float
    /// ([`JsonLinesError::NonFinite`]) or cannot be serialized
    /// ([`JsonLinesError::Serialize`]).
    fn check(&self, record: &DeadLetter<I>) -> Result<(), JsonLinesError> {
        let stage = || record.stage().to_owned();
        if let Some((field, value)) = super::finite::non_finite(record) {
            return Err(JsonLinesError::NonFinite { stage: stage(), field, value });
        }
        serde_json::to_writer(io::sink(), record)
            .map_err(|source| JsonLinesError::Serialize { stage: stage(), source })
    }

    async fn store(&mut self, records: Vec<DeadLetter<I>>) -> Result<(), StoreError<I, JsonLinesError>> {
        let mut bytes = Vec::with_capacity(256 * records.len());
        for record in &records {
            if let Err(source) = serde_json::to_writer(&mut bytes, record) {
                let error = JsonLinesError::Serialize { stage: record.stage().to_owned(), source };
                return Err(StoreError::permanent(error, records));
            }
            bytes.push(b'\n');
        }
        let sync = self.sync_every_batch;
        match blocking(&self.file, move |file| file.append(&bytes, sync)).await {
            Ok(()) => Ok(()),
            Err(error) => Err(StoreError::transient(error, records)),
        }
    }

    async fn sync(&mut self) -> Result<(), JsonLinesError> {
        blocking(&self.file, Shared::sync).await
    }
}
