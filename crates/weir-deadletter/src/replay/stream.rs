//! The lines and records of a dead-letter file, read lazily.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;
use futures::stream::FusedStream;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, BufReader, Split};

use super::{Replay, ReplayLine};
use crate::error::BadLine;
use crate::record::DeadLetter;

/// The non-blank lines of a file, read a line at a time on tokio's
/// blocking pool. An error reading the file is the last line.
pub(super) struct Lines {
    lines: Split<BufReader<tokio::fs::File>>,
    /// The number of the last line read.
    number: usize,
    done: bool,
}

impl Lines {
    pub(super) fn new(file: std::fs::File) -> Self {
        let lines = BufReader::new(tokio::fs::File::from_std(file)).split(b'\n');
        Self { lines, number: 0, done: false }
    }
}

impl Stream for Lines {
    type Item = ReplayLine;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ReplayLine>> {
        let this = self.get_mut();
        while !this.done {
            let read = ready!(Pin::new(&mut this.lines).poll_next_segment(cx));
            this.number += 1;
            match read {
                Ok(Some(bytes)) => {
                    if let Some(line) = ReplayLine::read(this.number, bytes) {
                        return Poll::Ready(Some(line));
                    }
                }
                Ok(None) => this.done = true,
                Err(e) => {
                    // Where the reader stands after an error is unknown: stop.
                    this.done = true;
                    return Poll::Ready(Some(ReplayLine::unreadable(this.number, &e)));
                }
            }
        }
        Poll::Ready(None)
    }
}

/// The records of a dead-letter file, read a line at a time; see
/// [`Replay::records`].
pub struct ReplayStream<I> {
    lines: Lines,
    replay: Replay<I>,
}

impl<I> ReplayStream<I> {
    pub(super) fn new(lines: Lines, replay: Replay<I>) -> Self {
        Self { lines, replay }
    }
}

impl<I> fmt::Debug for ReplayStream<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayStream")
            .field("path", &self.replay.path)
            .field("stage", &self.replay.stage)
            .field("line", &self.lines.number)
            .field("done", &self.lines.done)
            .finish()
    }
}

impl<I> Unpin for ReplayStream<I> {}

impl<I: DeserializeOwned> Stream for ReplayStream<I> {
    type Item = Result<DeadLetter<I>, BadLine>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(line) = ready!(Pin::new(&mut this.lines).poll_next(cx)) else {
                return Poll::Ready(None);
            };
            if let Some(parsed) = this.replay.parse(&line) {
                return Poll::Ready(Some(parsed));
            }
        }
    }
}

impl<I: DeserializeOwned> FusedStream for ReplayStream<I> {
    fn is_terminated(&self) -> bool {
        self.lines.done
    }
}
