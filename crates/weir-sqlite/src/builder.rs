//! The sink's settings, checked when it opens.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::counters::SqliteCounters;
use crate::{SqliteError, SqliteRow, SqliteSink, writer};

/// How hard SQLite works to put each commit on stable storage (`PRAGMA
/// synchronous`), in WAL mode.
///
/// # Examples
///
/// ```
/// use weir_packet::Packet;
/// use weir_sqlite::{SqliteSink, Synchronous};
///
/// let dir = tempfile::tempdir()?;
/// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).synchronous(Synchronous::Full).open()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// No sync at all: a crash of the operating system or a power loss
    /// may corrupt the database. For throwaway data only.
    Off,
    /// The default: the WAL is synced at checkpoints, not at each commit.
    /// A committed transaction survives a crash of the process; a power
    /// loss may roll back the last ones (never corrupt the file). This is
    /// what lets a commit cost microseconds instead of a disk sync.
    #[default]
    Normal,
    /// The WAL is synced at every commit: a committed transaction survives
    /// a power loss too, at the cost of one disk sync per flush.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// The settings of a [`SqliteSink`], made by [`SqliteSink::builder`];
/// nothing is checked until [`open`](SqliteSinkBuilder::open).
///
/// The defaults are the ones that let SQLite take ~300,000 rows/s on a
/// small machine (see the crate's docs): WAL, `synchronous = NORMAL`, a
/// 256 MiB page cache, a checkpoint every 100,000 WAL pages, a busy
/// timeout of 5 s, and at most 100,000 rows per transaction.
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
///     .busy_timeout(Duration::from_millis(100))
///     .transaction_rows(50_000)
///     .open()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteSinkBuilder<R> {
    path: PathBuf,
    busy_timeout: Duration,
    transaction_rows: usize,
    wal_autocheckpoint: u32,
    cache_size_kib: u32,
    synchronous: Synchronous,
    _row: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for SqliteSinkBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSinkBuilder")
            .field("path", &self.path)
            .field("busy_timeout", &self.busy_timeout)
            .field("transaction_rows", &self.transaction_rows)
            .field("wal_autocheckpoint", &self.wal_autocheckpoint)
            .field("cache_size_kib", &self.cache_size_kib)
            .field("synchronous", &self.synchronous)
            .finish()
    }
}

impl<R: SqliteRow> SqliteSinkBuilder<R> {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            busy_timeout: Duration::from_secs(5),
            transaction_rows: 100_000,
            wal_autocheckpoint: 100_000,
            cache_size_kib: 256 * 1024,
            synchronous: Synchronous::Normal,
            _row: PhantomData,
        }
    }

    /// How long a write waits for another connection's write lock before
    /// it fails with [`SqliteError::Busy`] (transient: a retry layer tries
    /// again). 5 s by default. The wait blocks the sink's writer thread,
    /// never an async worker. Zero fails at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).busy_timeout(Duration::ZERO).open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The most rows one transaction holds: when the rows sent since the
    /// last flush reach it, the sink commits before the flush (they are
    /// still acknowledged only at the flush). It bounds the rows the sink
    /// keeps to write again after a rolled-back transaction. 100,000 by
    /// default. 0 is a [`BuildError`](weir_core::BuildError) when the sink
    /// is connected to a pipeline (`run()` returns it before anything
    /// runs); outside a pipeline, it commits after every batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).transaction_rows(0).open()?;
    /// let err = Pipeline::from_iter([Vec::<Packet>::new()]).sink_named("store", sink).run().await.unwrap_err();
    /// assert!(matches!(err, RunError::Build(BuildError::Zero { ref stage, .. }) if stage == "store"), "{err}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn transaction_rows(mut self, rows: usize) -> Self {
        self.transaction_rows = rows;
        self
    }

    /// Checkpoint the WAL into the database once it holds this many pages
    /// (`PRAGMA wal_autocheckpoint`). 100,000 pages (≈400 MiB of WAL) by
    /// default; SQLite's own default, 1,000, checkpoints so often under a
    /// steady stream of commits that it divides the rate by up to ten.
    /// 0 turns automatic checkpoints off.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).wal_autocheckpoint(10_000).open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wal_autocheckpoint(mut self, pages: u32) -> Self {
        self.wal_autocheckpoint = pages;
        self
    }

    /// The most memory SQLite's page cache takes, in KiB (`PRAGMA
    /// cache_size = -kib`); 256 MiB by default (taken only as pages are
    /// read or written).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteSink;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).cache_size_kib(16 * 1024).open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_size_kib(mut self, kib: u32) -> Self {
        self.cache_size_kib = kib;
        self
    }

    /// How each commit reaches stable storage; [`Synchronous::Normal`] by
    /// default.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::{SqliteSink, Synchronous};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).synchronous(Synchronous::Full).open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Opens (or creates) the database, switches it to WAL, applies the
    /// settings, creates the row type's table if it is missing, prepares
    /// its insert, and starts the writer thread.
    ///
    /// It blocks while it does (milliseconds, or up to the busy timeout if
    /// another connection holds the write lock): call it before the run
    /// starts, as you would open a file.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Open`] when the file cannot be opened or set up;
    /// [`SqliteError::Schema`] when the row type's SQL is refused;
    /// [`SqliteError::WriterGone`] when the writer thread cannot start.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::{SqliteError, SqliteSink};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let sink = SqliteSink::<Packet>::builder(dir.path().join("ingest.db")).open()?;
    ///
    /// let missing = dir.path().join("no-such-dir").join("ingest.db");
    /// let err = SqliteSink::<Packet>::builder(&missing).open().unwrap_err();
    /// assert!(matches!(err, SqliteError::Open { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(self) -> Result<SqliteSink<R>, SqliteError> {
        let conn = self.connect().map_err(|source| SqliteError::Open { path: self.path.clone(), source })?;
        conn.execute_batch(R::create_table_sql())
            .map_err(|source| SqliteError::Schema { which: "create_table_sql", source })?;
        conn.prepare_cached(R::insert_sql())
            .map_err(|source| SqliteError::Schema { which: "insert_sql", source })?;
        let counters = SqliteCounters::default();
        let writer = writer::spawn(conn, self.transaction_rows, counters.clone())
            .map_err(|_| SqliteError::WriterGone)?;
        Ok(SqliteSink::new(self.path, writer, counters, self.transaction_rows))
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(self.busy_timeout)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %self.path.display(), mode, "SQLite refused WAL mode; writes will be slower");
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA wal_autocheckpoint = {}; PRAGMA cache_size = -{};",
            self.synchronous.pragma(),
            self.wal_autocheckpoint,
            self.cache_size_kib
        ))?;
        Ok(conn)
    }
}
