//! `weir top`: a terminal view of a running pipeline.
//!
//! The stage graph, each stage coloured by how backpressured it is
//! (green under 10 % of the time, amber under 50 %, red above); a table
//! of the stages to sort (`s`, `S`, `r`), filter (`/`) and scroll (arrows,
//! PgUp, PgDn); sparklines of the selected stage's throughput and queue
//! depth; the conservation line, live. `q` (or Ctrl-C) leaves.
//!
//! It reads a [`History`] filled by a [`Sampler`](crate::Sampler): in
//! the same process ([`Feed::local`]), or in another one through the
//! metrics endpoint ([`Feed::remote`], the `weir-top` program), which
//! serves the history as JSON at `/weir/samples` beside Prometheus'
//! `/metrics`. The endpoint rather than a socket of its own: a program
//! that is watched already opens it, it reaches across hosts and
//! containers as well as on one machine, and the JSON can be read with
//! curl; an attaching view sees the past minutes at once.

mod app;
mod draw;
mod remote;

use std::io;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;

use crate::error::AttachError;
use crate::history::{History, Snapshot};
use app::App;
use draw::View;
use remote::Remote;

/// Where `weir top` reads its samples.
///
/// ```
/// use weir_view::History;
/// use weir_view::top::Feed;
///
/// let here = Feed::local(History::new(300));
/// let there = Feed::remote("http://127.0.0.1:9898")?;
/// assert!(Feed::remote("ftp://nowhere").is_err());
/// # Ok::<(), weir_view::AttachError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Feed(Source);

#[derive(Debug, Clone)]
enum Source {
    Local(History),
    Remote(Remote),
}

impl Feed {
    /// A pipeline in this process, through its sampler's history.
    ///
    /// # Examples
    ///
    /// See [`Feed`].
    pub fn local(history: History) -> Self {
        Self(Source::Local(history))
    }

    /// A pipeline in another process, through its metrics endpoint:
    /// `http://HOST:PORT` (the ingest program's `--metrics-addr`).
    ///
    /// # Errors
    ///
    /// [`AttachError::BadAddress`] when `url` is not of that form.
    ///
    /// # Examples
    ///
    /// See [`Feed`].
    pub fn remote(url: &str) -> Result<Self, AttachError> {
        Remote::parse(url).map(|remote| Self(Source::Remote(remote)))
    }

    /// Reads what the feed shows now: the local history's snapshot, or
    /// one GET of the remote one.
    ///
    /// # Errors
    ///
    /// For a remote feed, [`AttachError::Http`] when the endpoint cannot
    /// be read and [`AttachError::NotAHistory`] when it answers something
    /// else.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_view::History;
    /// use weir_view::top::Feed;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weir_view::AttachError> {
    /// let snapshot = Feed::local(History::new(300)).snapshot().await?;
    /// assert!(snapshot.samples.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn snapshot(&self) -> Result<Snapshot, AttachError> {
        match &self.0 {
            Source::Local(history) => Ok(history.snapshot()),
            Source::Remote(remote) => remote.read().await,
        }
    }

    fn attached(&self) -> String {
        match &self.0 {
            Source::Local(_) => "this process".to_owned(),
            Source::Remote(remote) => remote.url(),
        }
    }

    async fn read(&self, view: &mut View) {
        match self.snapshot().await {
            Ok(snapshot) => {
                view.snapshot = snapshot;
                view.error = None;
            }
            Err(error) => view.error = Some(error.to_string()),
        }
    }
}

/// Runs the view on this terminal until the user leaves it (`q`, Esc
/// or Ctrl-C), redrawing every `refresh` and on every key; the terminal
/// is restored on the way out, a panic or a dropped future included.
/// Leaving does not stop the pipeline: the caller decides (the ingest
/// program drains it).
///
/// # Errors
///
/// The terminal's errors (no terminal, a closed one).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_view::Sampler;
/// use weir_view::top::{self, Feed};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = Pipeline::from_iter(0..u64::MAX).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
/// let sampling = Sampler::new().start(handle.monitor())?;
/// top::run(Feed::local(sampling.history()), Duration::from_millis(250)).await?;
/// let report = handle.shutdown().await?; // the user left the view: drain
/// # Ok(())
/// # }
/// ```
pub async fn run(feed: Feed, refresh: Duration) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let restore = Restore;
    let outcome = show(&mut terminal, feed, refresh).await;
    std::mem::forget(restore);
    ratatui::try_restore()?;
    outcome
}

/// Restores the terminal if the view's future is dropped before it ends
/// (a `select!` that took another branch): raw mode must not outlive it.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = ratatui::try_restore();
    }
}

async fn show(terminal: &mut ratatui::DefaultTerminal, feed: Feed, refresh: Duration) -> io::Result<()> {
    let mut app = App::default();
    let mut view = View { attached: feed.attached(), ..View::default() };
    let mut events = EventStream::new();
    let mut ticks = tokio::time::interval(refresh.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => feed.read(&mut view).await,
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    let rows = view.snapshot.samples.back().map_or(0, |s| app.rows(s).len());
                    app.on_key(key, rows);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            },
        }
        if app.quit {
            return Ok(());
        }
        terminal.draw(|frame| draw::draw(frame, &mut app, &view))?;
    }
}
