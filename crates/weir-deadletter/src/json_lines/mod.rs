//! A JSON-lines dead-letter file.

mod finite;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use weir_core::{ErrorClass, Sink, SinkError};

use crate::record::DeadLetter;

/// A dead-letter file with one JSON record per line, appended to: a
/// [`Sink`] of [`DeadLetter`] records, for
/// [`dead_letter`](crate::DeadLetterExt::dead_letter).
///
/// `send` serializes a record into the handle's buffer; `flush` appends
/// the buffer to the file with one write and flushes it to the operating
/// system, before the dead-letter stage acknowledges the records' items.
/// A flush with nothing new to write syncs the file (`fsync`): the
/// dead-letter stage does this once, when the pipeline's input ends. With
/// [`sync_every_batch`](JsonLines::sync_every_batch) every write is synced
/// too. A write that fails is cut off the file again and its records stay
/// in the buffer, so a flush tried again does not store them twice and no
/// half line is left behind. Writes run on tokio's blocking pool, never
/// on a worker thread.
///
/// Every record written reads back: `send` gives back a record whose item
/// holds a NaN or infinite float (which serde_json would write as `null`),
/// with [`JsonLinesError::NonFinite`] naming the field, or one that cannot
/// be serialized ([`JsonLinesError::Serialize`]), classed
/// [`ErrorClass::Permanent`]. The dead-letter stage does not retry such a
/// record: its item is returned in the run's error as
/// [`DeadLetterError::Unstorable`](crate::DeadLetterError::Unstorable),
/// unacknowledged, and intake stops; the other records are written.
///
/// A clone appends to the same file under one lock, with a buffer of its
/// own: use clones for the dead-letter stages of one pipeline (the
/// record's `stage` field tells them apart, and [`replay`](crate::replay())
/// can pick one stage). A handle stores records of any item type that
/// implements [`Serialize`]. The record format is described on
/// [`DeadLetter`]; read a file back with [`replay`](crate::replay()).
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
pub struct JsonLines {
    file: Arc<Shared>,
    sync_every_batch: bool,
    /// Records sent and not yet written, one line each.
    buffer: Vec<u8>,
    /// Whether this handle wrote records since its last sync.
    unsynced: bool,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    file: Mutex<File>,
}

/// Why a [`JsonLines`] file could not store records.
///
/// # Examples
///
/// A reading holding a NaN is not written (it would not read back): it
/// ends the run, unacknowledged, with its item.
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetterError, DeadLetterExt, JsonLines, JsonLinesError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("reading out of range")]
/// struct OutOfRange;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let path = std::env::temp_dir().join(format!("weir-doc-jsonl-error-{}.jsonl", std::process::id()));
/// let err = Pipeline::from_iter([f64::NAN])
///     .try_map("range", |_: f64| Err::<f64, _>(OutOfRange))
///     .dead_letter(JsonLines::open(&path)?)
///     .sink(sink::drain())
///     .run()
///     .await
///     .unwrap_err();
/// let RunError::Sink { error, returned, .. } = err else { panic!("{err:?}") };
/// let Some(DeadLetterError::Unstorable { source, .. }) = error.downcast_ref() else { panic!("{error}") };
/// assert!(matches!(source.downcast_ref(), Some(JsonLinesError::NonFinite { .. })));
/// assert_eq!(returned, 1);
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
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
    #[error(
        "cannot serialize a dead letter of stage `{stage}`: {source}; fix the item's `Serialize` implementation, or dead-letter it elsewhere"
    )]
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
        let file = Arc::new(Shared { path, file: Mutex::new(file) });
        Ok(Self { file, sync_every_batch: false, buffer: Vec::new(), unsynced: false })
    }

    /// Also syncs the file (`fdatasync`) at every flush that writes
    /// records, before their items are acknowledged: safe against a power
    /// loss, at the cost of one sync per batch. Off by default: batches
    /// are flushed to the operating system and the file is synced when the
    /// input ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::JsonLines;
    ///
    /// # let path = std::env::temp_dir().join(format!("weir-doc-sync-{}.jsonl", std::process::id()));
    /// let dead = JsonLines::open(&path)?.sync_every_batch(true);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sync_every_batch(mut self, yes: bool) -> Self {
        self.sync_every_batch = yes;
        self
    }

    /// The file's path.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::JsonLines;
    ///
    /// # let path = std::env::temp_dir().join(format!("weir-doc-path-{}.jsonl", std::process::id()));
    /// let dead = JsonLines::open(&path)?;
    /// assert_eq!(dead.path(), path);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
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

impl Clone for JsonLines {
    /// A handle on the same file, with an empty buffer of its own.
    fn clone(&self) -> Self {
        Self {
            file: self.file.clone(),
            sync_every_batch: self.sync_every_batch,
            buffer: Vec::new(),
            unsynced: false,
        }
    }
}

impl fmt::Debug for JsonLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("path", &self.file.path)
            .field("sync_every_batch", &self.sync_every_batch)
            .field("buffered_bytes", &self.buffer.len())
            .finish()
    }
}

impl<I: Serialize + Send + 'static> Sink<DeadLetter<I>> for JsonLines {
    type Error = JsonLinesError;

    /// Serializes `record` into the buffer. A record that would not read
    /// back is given back, classed [`ErrorClass::Permanent`]:
    /// [`JsonLinesError::NonFinite`] for a NaN or infinite float,
    /// [`JsonLinesError::Serialize`] when its item cannot be serialized.
    async fn send(&mut self, record: DeadLetter<I>) -> Result<(), SinkError<DeadLetter<I>, JsonLinesError>> {
        let stage = || record.stage().to_owned();
        if let Some((field, value)) = finite::non_finite(&record) {
            let error = JsonLinesError::NonFinite { stage: stage(), field, value };
            return Err(SinkError::with_item(error, record).with_class(ErrorClass::Permanent));
        }
        let len = self.buffer.len();
        if let Err(source) = serde_json::to_writer(&mut self.buffer, &record) {
            self.buffer.truncate(len);
            let error = JsonLinesError::Serialize { stage: stage(), source };
            return Err(SinkError::with_item(error, record).with_class(ErrorClass::Permanent));
        }
        self.buffer.push(b'\n');
        Ok(())
    }

    /// Appends the buffered records to the file in one write (syncing it
    /// with [`sync_every_batch`](JsonLines::sync_every_batch)); with
    /// nothing buffered, syncs what this handle wrote. On error the
    /// records stay buffered for the next flush.
    async fn flush(&mut self) -> Result<(), JsonLinesError> {
        if self.buffer.is_empty() {
            if self.unsynced {
                blocking(&self.file, Shared::sync).await?;
                self.unsynced = false;
            }
            return Ok(());
        }
        let bytes = Arc::new(std::mem::take(&mut self.buffer));
        let (lines, sync) = (bytes.clone(), self.sync_every_batch);
        let written = blocking(&self.file, move |file| file.append(&lines, sync)).await;
        match written {
            Ok(()) => {
                self.unsynced = !sync;
                Ok(())
            }
            Err(error) => {
                self.buffer = Arc::try_unwrap(bytes).unwrap_or_else(|bytes| (*bytes).clone());
                Err(error)
            }
        }
    }
}
