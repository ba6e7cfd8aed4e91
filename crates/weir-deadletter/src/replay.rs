//! Replay: a dead-letter file read back as a source of the original items.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use weir_core::{Envelope, History, Pipeline};

use crate::error::ReplayError;
use crate::record::DeadLetter;

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
/// The whole file is read and checked before the first item is replayed:
/// a malformed line (or a record whose item is not an `I`) is reported with
/// its line number as [`ReplayError::Malformed`], and nothing is replayed
/// from that file, rather than a silently partial replay. Blank lines are
/// ignored. Reading is synchronous (do it before the pipeline starts), and
/// the selected records are held in memory.
///
/// Replay to a different dead-letter file than the one being read.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
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
/// // A first run dead-letters the odd numbers.
/// Pipeline::from_iter(0..6u32)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
///     .dead_letter(JsonLines::open(&first)?)
///     .sink(sink::drain())
///     .run()
///     .await?;
///
/// // After a "fix", replay them: 1 and 3 pass now, 5 fails again.
/// let (sink, out) = sink::collect();
/// replay::<u32>(&first)
///     .stage("even")
///     .into_pipeline()?
///     .try_map("even", |x| if x < 5 { Ok(x) } else { Err(Odd(x)) })
///     .dead_letter(JsonLines::open(&second)?)
///     .sink(sink)
///     .run()
///     .await?;
/// assert_eq!(out.take(), [1, 3]);
/// let again = replay::<u32>(&second).load()?;
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

/// The part of a record read before its item, to filter by stage.
#[derive(Deserialize)]
struct Header {
    stage: String,
}

impl<I: DeserializeOwned> Replay<I> {
    /// Keeps only the records of the stage named `name`.
    pub fn stage(mut self, name: &str) -> Self {
        self.stage = Some(name.to_owned());
        self
    }

    /// Reads the selected records, in file order.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Io`] if the file cannot be read;
    /// [`ReplayError::Malformed`] with the first bad line's number if a
    /// line is not a record (or, for a selected stage, its item is not an `I`).
    pub fn load(&self) -> Result<Vec<DeadLetter<I>>, ReplayError> {
        let io = |source| ReplayError::Io { path: self.path.clone(), source };
        let file = std::fs::File::open(&self.path).map_err(io)?;
        let mut records = Vec::new();
        let mut first_bad: Option<(usize, serde_json::Error)> = None;
        let mut malformed = 0;
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            match self.parse(&line) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {}
                Err(e) => {
                    malformed += 1;
                    first_bad.get_or_insert((index + 1, e));
                }
            }
        }
        match first_bad {
            None => Ok(records),
            Some((line, source)) => {
                Err(ReplayError::Malformed { path: self.path.clone(), line, malformed, source })
            }
        }
    }

    /// The record on `line`, or `None` if it belongs to another stage.
    fn parse(&self, line: &str) -> Result<Option<DeadLetter<I>>, serde_json::Error> {
        if let Some(stage) = &self.stage {
            let header: Header = serde_json::from_str(line)?;
            if header.stage != *stage {
                return Ok(None);
            }
        }
        serde_json::from_str(line).map(Some)
    }

    /// Reads the selected records into a stream of their items, each with
    /// its failure history.
    ///
    /// # Errors
    ///
    /// As for [`load`](Self::load).
    pub fn into_stream(self) -> Result<ReplayStream<I>, ReplayError> {
        Ok(ReplayStream { records: self.load()?.into_iter() })
    }

    /// Reads the selected records into a pipeline of their items, each with
    /// its failure history.
    ///
    /// # Errors
    ///
    /// As for [`load`](Self::load).
    pub fn into_pipeline(self) -> Result<Pipeline<I>, ReplayError>
    where
        I: Send + 'static,
    {
        Ok(Pipeline::from_envelopes(self.into_stream()?))
    }
}

/// The items of a dead-letter file, with their failure history; see
/// [`Replay::into_stream`].
pub struct ReplayStream<I> {
    records: std::vec::IntoIter<DeadLetter<I>>,
}

impl<I> fmt::Debug for ReplayStream<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayStream").field("remaining", &self.records.len()).finish()
    }
}

impl<I> Unpin for ReplayStream<I> {}

impl<I> Stream for ReplayStream<I> {
    type Item = Envelope<I>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Envelope<I>>> {
        let next = self.get_mut().records.next().map(|record| {
            let history = History::new(record.attempts(), record.first_failed_at());
            Envelope::new(record.into_item()).with_history(history)
        });
        Poll::Ready(next)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

impl<I> futures::stream::FusedStream for ReplayStream<I> {
    fn is_terminated(&self) -> bool {
        self.records.len() == 0
    }
}
