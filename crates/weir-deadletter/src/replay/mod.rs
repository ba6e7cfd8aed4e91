//! Replay: a dead-letter file read back, lazily, as a source of the
//! original items.
//!
//! # Why bad lines do not stop a replay
//!
//! A dead-letter file is written over many runs, by processes that may be
//! killed mid-write (a truncated last line), and edited by hand. Rejecting
//! the whole file for one bad line would make every good record hostage to
//! it; skipping it silently would lose an item. So each line that is not a
//! record is reported on its own, with its number and the reason (a
//! [`BadLine`]), and replay goes on with the next: as an `Err` in
//! [`Replay::records`], as a failure of the `replay` stage in
//! [`Replay::into_pipeline`] (which the pipeline must route, like any
//! failure, and the report counts), or in [`Loaded::bad_lines`].

mod stage;
mod stream;

use std::fmt;
use std::io::BufRead;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use weir_core::{Envelope, Fallible, Pipeline};

use crate::error::{BadLine, BadLineKind, ReplayError};
use crate::record::DeadLetter;

pub use stream::ReplayStream;

/// The name of the stage that turns a dead-letter file's lines into items,
/// in [`Replay::into_pipeline`]: look its counts up in the report with it
/// (no other stage of a replay pipeline may have this name).
///
/// ```
/// assert_eq!(weir_deadletter::REPLAY_STAGE, "replay");
/// ```
pub const REPLAY_STAGE: &str = "replay";

/// Reads the JSON-lines dead-letter file at `path` back, to process its
/// items again after a fix.
///
/// Each replayed item carries its failure history (attempts made, first
/// failure time): if it fails again and is dead-lettered again, its new
/// record continues that history (the attempts add up, the first failure
/// time is kept). [`stage`](Replay::stage) keeps the records of one stage
/// only, which is how a file shared by stages with different item types is
/// replayed.
///
/// The file is read lazily, a line at a time, as the pipeline pulls items:
/// memory does not grow with the file. A line that is not a record (or,
/// for a selected stage, whose item is not an `I`; or a truncated last
/// line) does not stop the replay: it becomes a failure of the
/// [`REPLAY_STAGE`] stage, with the line ([`ReplayLine`]) as its item and a
/// [`BadLine`] saying where and why as its error, and the records after it
/// are replayed. Say what happens to those failures as for any fallible
/// stage: dead-letter them (to another file), halt, or discard them,
/// counted. Blank lines are ignored.
///
/// Replay to a different dead-letter file than the one being read.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetterExt, JsonLines, replay};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0} is odd")]
/// struct Odd(u32);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir();
/// # let first = dir.join(format!("weir-doc-replay-a-{}.jsonl", std::process::id()));
/// # let second = dir.join(format!("weir-doc-replay-b-{}.jsonl", std::process::id()));
/// # let _ = (std::fs::remove_file(&first), std::fs::remove_file(&second));
/// // A first run dead-letters the odd numbers; then the file gets a torn line.
/// Pipeline::from_iter(0..6u32)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
///     .dead_letter(JsonLines::open(&first)?)
///     .sink(sink::drain())
///     .run()
///     .await?;
/// std::fs::OpenOptions::new().append(true).open(&first)?.write_all(br#"{"stage":"even","err"#)?;
///
/// // After a "fix", replay them: 1 and 3 pass now, 5 fails again, and the
/// // torn line is kept aside with its line number.
/// let (bad, bad_lines) = sink::collect();
/// let (sink, out) = sink::collect();
/// let report = replay::<u32>(&first)
///     .stage("even")
///     .into_pipeline()?
///     .dead_letter(bad)
///     .try_map("even", |x| if x < 5 { Ok(x) } else { Err(Odd(x)) })
///     .dead_letter(JsonLines::open(&second)?)
///     .sink(sink)
///     .run()
///     .await?;
/// assert_eq!(out.take(), [1, 3]);
/// let bad_lines = bad_lines.take();
/// assert!(bad_lines[0].error().starts_with(&format!("{}:4: truncated", first.display())));
/// assert_eq!(report.stage("replay").unwrap().dead_lettered(), 1);
/// let again = replay::<u32>(&second).load()?.records;
/// assert_eq!((*again[0].item(), again[0].attempts()), (5, 2));
/// # std::fs::remove_file(&first)?;
/// # std::fs::remove_file(&second)?;
/// # Ok(())
/// # }
/// ```
pub fn replay<I>(path: impl AsRef<Path>) -> Replay<I> {
    Replay { path: path.as_ref().to_owned(), stage: None, item: PhantomData }
}

/// A dead-letter file to replay; see [`replay`].
pub struct Replay<I> {
    path: PathBuf,
    stage: Option<String>,
    item: PhantomData<fn() -> I>,
}

impl<I> fmt::Debug for Replay<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay").field("path", &self.path).field("stage", &self.stage).finish()
    }
}

/// Everything [`Replay::load`] read: the records, and the lines that are
/// not records (see [`Replay::load`] for an example).
#[derive(Debug)]
#[non_exhaustive]
pub struct Loaded<I> {
    /// The selected records, in file order.
    pub records: Vec<DeadLetter<I>>,
    /// The lines that could not be read as records, in file order.
    pub bad_lines: Vec<BadLine>,
}

/// The part of a record read before its item, to filter by stage.
#[derive(Deserialize)]
struct Header {
    stage: String,
}

impl<I: DeserializeOwned> Replay<I> {
    /// Keeps only the records of the stage named `name`. A line whose stage
    /// cannot be read is still reported as a [`BadLine`]: it may be one of
    /// that stage's.
    pub fn stage(mut self, name: &str) -> Self {
        self.stage = Some(name.to_owned());
        self
    }

    /// Reads the whole file at once (synchronously): every selected
    /// record, and every line that is not one, with its number and reason.
    /// For small files and tests; [`records`](Self::records) and
    /// [`into_pipeline`](Self::into_pipeline) read lazily instead.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Io`] if the file cannot be opened. An error while
    /// reading it is the last entry of `bad_lines`
    /// ([`BadLineKind::Unreadable`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::{BadLineKind, replay};
    ///
    /// # let path = std::env::temp_dir().join(format!("weir-doc-load-{}.jsonl", std::process::id()));
    /// let good = r#"{"stage":"s","error":"e","sources":[],"class":"permanent","attempts":1,"first_failed_at_ms":0,"last_failed_at_ms":0,"panic":null,"count":1,"item":7}"#;
    /// std::fs::write(&path, format!("{good}\nnot json\n{good}\n"))?;
    /// let loaded = replay::<u32>(&path).load()?;
    /// assert_eq!(loaded.records.len(), 2);
    /// assert_eq!(loaded.bad_lines[0].line(), 2);
    /// assert!(matches!(loaded.bad_lines[0].kind(), BadLineKind::Malformed(_)));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(&self) -> Result<Loaded<I>, ReplayError> {
        let file = std::fs::File::open(&self.path).map_err(|source| self.io_error(source))?;
        let mut loaded = Loaded { records: Vec::new(), bad_lines: Vec::new() };
        for (index, bytes) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let line = match bytes {
                Ok(bytes) => ReplayLine::read(index + 1, bytes),
                Err(e) => Some(ReplayLine::unreadable(index + 1, &e)),
            };
            let parsed = line.and_then(|line| self.parse(&line));
            match parsed {
                Some(Ok(record)) => loaded.records.push(record),
                Some(Err(bad)) => {
                    let unreadable = matches!(bad.kind(), BadLineKind::Unreadable(_));
                    loaded.bad_lines.push(bad);
                    if unreadable {
                        break;
                    }
                }
                None => {}
            }
        }
        Ok(loaded)
    }

    /// Opens the file and returns its records as a stream, read lazily, a
    /// line at a time on tokio's blocking pool: `Ok` for each selected
    /// record, `Err` for each line that is not one, and the stream goes on
    /// after it. An error reading the file is the last item. For items with
    /// their failure history, use [`into_pipeline`](Self::into_pipeline).
    ///
    /// The stream must be polled within a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Io`] if the file cannot be opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir_deadletter::{BadLineKind, replay};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let path = std::env::temp_dir().join(format!("weir-doc-records-{}.jsonl", std::process::id()));
    /// let good = r#"{"stage":"s","error":"e","sources":[],"class":"permanent","attempts":1,"first_failed_at_ms":0,"last_failed_at_ms":0,"panic":null,"count":1,"item":7}"#;
    /// std::fs::write(&path, format!("{good}\n{}", &good[..40]))?; // the last line is torn
    /// let lines: Vec<_> = replay::<u32>(&path).records()?.collect().await;
    /// assert_eq!(*lines[0].as_ref().unwrap().item(), 7);
    /// let bad = lines[1].as_ref().unwrap_err();
    /// assert_eq!(bad.line(), 2);
    /// assert!(matches!(bad.kind(), BadLineKind::Truncated(_)));
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn records(self) -> Result<ReplayStream<I>, ReplayError> {
        let file = std::fs::File::open(&self.path).map_err(|source| self.io_error(source))?;
        Ok(ReplayStream::new(stream::Lines::new(file), self))
    }

    /// Opens the file and returns a pipeline of its selected records'
    /// items, each with its failure history, read lazily as the pipeline
    /// pulls them.
    ///
    /// Each non-blank line is one source item, taken by the
    /// [`REPLAY_STAGE`] stage: a record of the selected stage passes as its
    /// item; a record of another stage is counted as filtered there; a
    /// line that is not a record is a failure of that stage (class
    /// permanent) whose item is the [`ReplayLine`] and whose error is a
    /// [`BadLine`] saying why. Route those failures like any other.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Io`] if the file cannot be opened.
    pub fn into_pipeline(self) -> Result<Fallible<I, ReplayLine, BadLine>, ReplayError>
    where
        I: Send + 'static,
    {
        let file = std::fs::File::open(&self.path).map_err(|source| self.io_error(source))?;
        let lines = stream::Lines::new(file).map(Envelope::new);
        Ok(Pipeline::from_envelopes(lines).try_stage(stage::Parse::new(self)))
    }

    fn io_error(&self, source: std::io::Error) -> ReplayError {
        ReplayError::Io { path: self.path.clone(), source }
    }

    /// The record on `line`, `None` if it is one of another stage, or why
    /// it is not a record.
    fn parse(&self, line: &ReplayLine) -> Option<Result<DeadLetter<I>, BadLine>> {
        let bad = |kind| BadLine::new(&self.path, line.number, kind, &line.text);
        match &line.unread {
            None => {}
            Some(Unread::NotUtf8(e)) => return Some(Err(bad(BadLineKind::NotUtf8(*e)))),
            Some(Unread::Io(kind, message)) => {
                let error = std::io::Error::new(*kind, message.clone());
                return Some(Err(bad(BadLineKind::Unreadable(error))));
            }
        }
        let json = |e: serde_json::Error| {
            bad(if e.is_eof() { BadLineKind::Truncated(e) } else { BadLineKind::Malformed(e) })
        };
        if let Some(stage) = &self.stage {
            match serde_json::from_str::<Header>(&line.text) {
                Ok(header) if header.stage != *stage => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(json(e))),
            }
        }
        Some(serde_json::from_str(&line.text).map_err(json))
    }
}

/// A non-blank line of a dead-letter file, as replay read it: the item of
/// a failure of the [`REPLAY_STAGE`] stage when it is not a record, so that
/// it can be dead-lettered (to another file), fixed and replayed.
///
/// # Examples
///
/// ```
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetter, DeadLetterExt, ReplayLine, replay};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let path = std::env::temp_dir().join(format!("weir-doc-line-{}.jsonl", std::process::id()));
/// std::fs::write(&path, "\n{not a record}\n")?;
/// let (bad, bad_lines) = sink::collect::<DeadLetter<ReplayLine>>();
/// let report = replay::<u32>(&path).into_pipeline()?.dead_letter(bad).sink(sink::drain()).run().await?;
/// let line = bad_lines.take().remove(0).into_item();
/// assert_eq!((line.number(), line.text()), (2, "{not a record}"));
/// assert_eq!(report.stage("replay").unwrap().dead_lettered(), 1);
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayLine {
    number: usize,
    text: String,
    /// Why the line could not be read as text, if it could not.
    #[serde(skip)]
    unread: Option<Unread>,
}

/// Why a line could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unread {
    /// Its bytes are not UTF-8 (the text holds them with replacement characters).
    NotUtf8(std::str::Utf8Error),
    /// Reading the file failed here (the text is empty).
    Io(std::io::ErrorKind, String),
}

impl ReplayLine {
    /// The line read from `bytes` (without its `\n`), number `number`;
    /// `None` for a blank line.
    fn read(number: usize, bytes: Vec<u8>) -> Option<Self> {
        let bytes = match bytes.strip_suffix(b"\r") {
            Some(stripped) => stripped.to_vec(),
            None => bytes,
        };
        let (text, unread) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(e) => {
                (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(Unread::NotUtf8(e.utf8_error())))
            }
        };
        (!text.trim().is_empty()).then_some(Self { number, text, unread })
    }

    /// The line where reading the file failed with `error`.
    fn unreadable(number: usize, error: &std::io::Error) -> Self {
        Self { number, text: String::new(), unread: Some(Unread::Io(error.kind(), error.to_string())) }
    }

    /// The line's number in the file, counting from 1.
    pub fn number(&self) -> usize {
        self.number
    }

    /// The line's text (invalid UTF-8 replaced by `U+FFFD`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Takes the line's text.
    pub fn into_text(self) -> String {
        self.text
    }
}
