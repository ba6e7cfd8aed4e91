//! The writer thread: owns the connection, inserts batches into the open
//! transaction, commits on request, and keeps every uncommitted batch so
//! that a rolled-back transaction is written again, whole, before the next
//! commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::counters::SqliteCounters;
use crate::{SqliteError, SqliteRow};

/// What the sink asks of its writer.
pub(crate) enum Command<R> {
    /// Insert these rows into the open transaction (opening one if none is).
    Insert(Vec<R>, oneshot::Sender<Result<(), Refused<R>>>),
    /// Commit the open transaction.
    Commit(oneshot::Sender<Result<(), SqliteError>>),
}

impl<R> Command<R> {
    /// The rows of an insert the writer never received.
    pub(crate) fn into_rows(self) -> Option<Vec<R>> {
        match self {
            Command::Insert(rows, _) => Some(rows),
            Command::Commit(_) => None,
        }
    }
}

/// A batch the writer could not insert, given back with the reason.
pub(crate) struct Refused<R> {
    pub(crate) error: SqliteError,
    pub(crate) rows: Vec<R>,
}

/// Starts the writer thread on `conn`.
pub(crate) fn spawn<R: SqliteRow>(
    conn: Connection,
    transaction_rows: usize,
    counters: SqliteCounters,
) -> std::io::Result<mpsc::Sender<Command<R>>> {
    let (tx, rx) = mpsc::channel();
    let writer = Writer {
        conn,
        pending: Vec::new(),
        pending_rows: 0,
        in_transaction: false,
        stored: 0,
        duplicates: 0,
        transaction_rows,
        counters,
    };
    std::thread::Builder::new().name("weir-sqlite-writer".into()).spawn(move || writer.run(rx))?;
    Ok(tx)
}

struct Writer<R> {
    conn: Connection,
    /// The batches inserted since the last commit: in the open
    /// transaction, or to write again if it was rolled back.
    pending: Vec<Vec<R>>,
    pending_rows: usize,
    /// Whether a transaction is open and holds every pending batch.
    in_transaction: bool,
    /// Rows stored and duplicates absorbed by the open transaction.
    stored: u64,
    duplicates: u64,
    /// Commit before the pending rows reach this many.
    transaction_rows: usize,
    counters: SqliteCounters,
}

impl<R: SqliteRow> Writer<R> {
    fn run(mut self, commands: mpsc::Receiver<Command<R>>) {
        while let Ok(command) = commands.recv() {
            match command {
                Command::Insert(rows, reply) => {
                    let _ = reply.send(self.insert(rows));
                }
                Command::Commit(reply) => {
                    let _ = reply.send(self.commit());
                }
            }
        }
        // The sink is gone: what was not committed was not acknowledged
        // either, and its source sends it again.
        self.rollback();
    }

    fn insert(&mut self, rows: Vec<R>) -> Result<(), Refused<R>> {
        if let Err(error) = self.begin() {
            return Err(Refused { error, rows });
        }
        if let Err(error) = self.write(&rows) {
            // Undoes this batch's rows, and the pending batches' with them:
            // those are written again before the next commit.
            self.rollback();
            return Err(Refused { error, rows });
        }
        self.pending_rows += rows.len();
        self.pending.push(rows);
        if self.pending_rows >= self.transaction_rows {
            // Bounds the rows kept for a rewrite. A failure here keeps them
            // pending: the next flush writes them again and reports it.
            if let Err(error) = self.commit() {
                tracing::debug!(%error, "an early commit failed; the rows are written again at the next flush");
            }
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SqliteError> {
        if !self.in_transaction && self.pending.is_empty() {
            return Ok(());
        }
        self.begin()?;
        if let Err(source) = self.conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])) {
            self.rollback();
            return Err(SqliteError::storing(source));
        }
        self.in_transaction = false;
        self.counters.committed(self.stored, self.duplicates);
        (self.stored, self.duplicates) = (0, 0);
        self.pending.clear();
        self.pending_rows = 0;
        Ok(())
    }

    /// Opens a transaction if none is open, and writes into it the batches
    /// of a rolled-back one.
    fn begin(&mut self) -> Result<(), SqliteError> {
        if self.in_transaction {
            return Ok(());
        }
        // IMMEDIATE takes the write lock now: a busy database fails here,
        // before any row is written, and the busy timeout applies.
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(SqliteError::storing)?;
        self.in_transaction = true;
        let pending = std::mem::take(&mut self.pending);
        let rewritten = pending.iter().try_for_each(|rows| self.write(rows));
        self.pending = pending;
        if let Err(error) = rewritten {
            self.rollback();
            return Err(error);
        }
        Ok(())
    }

    /// Inserts `rows` into the open transaction, counting what they change.
    fn write(&mut self, rows: &[R]) -> Result<(), SqliteError> {
        let conn = &self.conn;
        let (mut stored, mut duplicates) = (0u64, 0u64);
        // A panic in a row's `bind` fails its batch, not the writer.
        let written = catch_unwind(AssertUnwindSafe(|| {
            let mut insert = conn
                .prepare_cached(R::insert_sql())
                .map_err(|source| SqliteError::Schema { which: "insert_sql", source })?;
            for row in rows {
                insert.clear_bindings();
                row.bind(&mut insert).map_err(SqliteError::binding)?;
                match insert.raw_execute().map_err(SqliteError::storing)? {
                    0 => duplicates += 1,
                    changed => stored += changed as u64,
                }
            }
            Ok(())
        }));
        match written {
            Ok(Ok(())) => {
                self.stored += stored;
                self.duplicates += duplicates;
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(panic) => Err(SqliteError::RowPanicked { message: weir_core::panic_message(&*panic) }),
        }
    }

    /// Ends the open transaction without keeping anything of it; the
    /// pending batches stay, to be written again.
    fn rollback(&mut self) {
        // SQLite rolls back by itself after some errors (a full disk, an
        // I/O error); then there is no transaction left to end.
        if !self.conn.is_autocommit()
            && let Err(error) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(%error, "could not roll back the SQLite transaction");
        }
        self.in_transaction = false;
        (self.stored, self.duplicates) = (0, 0);
    }
}
