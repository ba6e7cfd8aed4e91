//! The sink: batches in, committed rows out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;
use weir_core::{BuildError, Classify, ErrorClass, Sink, SinkError};

use crate::builder::SqliteSinkBuilder;
use crate::counters::SqliteCounters;
use crate::writer::{Command, Refused};
use crate::{SqliteError, SqliteRow};

/// A weir [`Sink`] that stores batches of rows in a SQLite table; see the
/// [crate docs](crate) for how it writes and why.
///
/// - `send(batch)` inserts the batch's rows into the open transaction (it
///   opens one with `BEGIN IMMEDIATE` if none is open), on the sink's
///   writer thread. If any row fails, the transaction is rolled back and
///   the batch is given back inside the [`SinkError`], classed by
///   [`SqliteError`]'s [`Classify`] impl: a busy database is transient (a
///   retry layer tries again), a constraint violation permanent (a
///   dead-letter route stores the batch). Batches sent earlier and rolled
///   back with it stay in the sink and are written again, before the next
///   commit.
/// - `flush()` commits. weir acknowledges the items only once it returns
///   `Ok`. If the commit fails the transaction is rolled back and the
///   sink keeps every uncommitted batch: the next flush (a retry layer's,
///   or the next group's) writes them all again and commits them once.
///
/// So each row is committed exactly once per delivery, and acknowledged
/// only after its commit.
///
/// # Cancellation safety
///
/// Dropping a `send` or `flush` future does not cancel the writer's work:
/// a batch sent is inserted and committed at the next flush. Dropping the
/// sink rolls back whatever was not committed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_packet::{Packet, Reading};
/// use weir_sqlite::{SqliteSink, rusqlite};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ingest.db");
/// let packets = (0..1_000u64).map(|seq| Packet::new((seq % 10) as u32, seq, 0, [Reading::new(0, 1.0)]));
/// let report = Pipeline::from_iter(packets)
///     .batch("batch", 256, Duration::from_millis(50))
///     .sink(SqliteSink::open(&path)?)
///     .run()
///     .await?;
/// assert_eq!(report.delivered(), 1_000);
///
/// let rows: i64 = rusqlite::Connection::open(&path)?.query_row("SELECT count(*) FROM packets", [], |r| r.get(0))?;
/// assert_eq!(rows, 1_000);
/// # Ok(())
/// # }
/// ```
pub struct SqliteSink<R> {
    path: PathBuf,
    writer: mpsc::Sender<Command<R>>,
    counters: SqliteCounters,
    /// Whether rows were sent since the last successful commit.
    uncommitted: bool,
    /// The writer's limit, checked by `validate`.
    transaction_rows: usize,
}

impl<R: SqliteRow> SqliteSink<R> {
    /// Opens (or creates) the database at `path` with the default settings
    /// and creates the row type's table if it is missing; see
    /// [`SqliteSinkBuilder::open`], which it calls.
    ///
    /// # Errors
    ///
    /// As [`SqliteSinkBuilder::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink: SqliteSink<Packet> = SqliteSink::open(dir.path().join("ingest.db"))?;
    /// assert_eq!(sink.path(), dir.path().join("ingest.db"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::builder(path).open()
    }

    /// The settings of a sink on the database at `path`, to change before
    /// [`open`](SqliteSinkBuilder::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db"))
    ///     .busy_timeout(Duration::from_millis(250))
    ///     .open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(path: impl AsRef<Path>) -> SqliteSinkBuilder<R> {
        SqliteSinkBuilder::new(path.as_ref())
    }
}

impl<R> SqliteSink<R> {
    pub(crate) fn new(
        path: PathBuf,
        writer: mpsc::Sender<Command<R>>,
        counters: SqliteCounters,
        transaction_rows: usize,
    ) -> Self {
        Self { path, writer, counters, uncommitted: false, transaction_rows }
    }

    /// The rows this sink has committed and the duplicates it absorbed: a
    /// shared handle, to read after the sink has moved into a pipeline.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_packet::{Packet, Reading};
    /// use weir_sqlite::SqliteSink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::open(dir.path().join("ingest.db"))?;
    /// let counters = sink.counters();
    /// let packet = Packet::new(1, 1, 0, [Reading::new(0, 1.0)]);
    /// Pipeline::from_iter([vec![packet.clone()], vec![packet]]).sink(sink).run().await?;
    /// println!("stored {}, duplicates absorbed {}", counters.stored(), counters.duplicates());
    /// assert_eq!((counters.stored(), counters.duplicates()), (1, 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn counters(&self) -> SqliteCounters {
        self.counters.clone()
    }

    /// The database file.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::open(dir.path().join("ingest.db"))?;
    /// assert!(sink.path().ends_with("ingest.db"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<R> fmt::Debug for SqliteSink<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.path)
            .field("counters", &self.counters)
            .field("uncommitted", &self.uncommitted)
            .field("transaction_rows", &self.transaction_rows)
            .finish_non_exhaustive()
    }
}

impl<R: SqliteRow> Sink<Vec<R>> for SqliteSink<R> {
    type Error = SqliteError;

    async fn send(&mut self, rows: Vec<R>) -> Result<(), SinkError<Vec<R>, SqliteError>> {
        if rows.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::SendError(command)) = self.writer.send(Command::Insert(rows, reply)) {
            let error = match command.into_rows() {
                Some(rows) => SinkError::with_item(SqliteError::WriterGone, rows),
                None => SinkError::lost(SqliteError::WriterGone),
            };
            return Err(error.with_class(ErrorClass::Permanent));
        }
        self.uncommitted = true;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Refused { error, rows })) => {
                let class = error.class();
                Err(SinkError::with_item(error, rows).with_class(class))
            }
            Err(_) => Err(SinkError::lost(SqliteError::WriterGone).with_class(ErrorClass::Permanent)),
        }
    }

    async fn flush(&mut self) -> Result<(), SqliteError> {
        if !self.uncommitted {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.writer.send(Command::Commit(reply)).map_err(|_| SqliteError::WriterGone)?;
        answer.await.map_err(|_| SqliteError::WriterGone)??;
        self.uncommitted = false;
        Ok(())
    }

    /// A transaction of 0 rows is refused.
    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        if self.transaction_rows == 0 {
            return Err(BuildError::Zero {
                stage: stage.to_owned(),
                what: "the SQLite sink's transaction_rows",
            });
        }
        Ok(())
    }
}
