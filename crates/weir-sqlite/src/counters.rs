//! What the sink has committed, readable while and after it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The rows a [`SqliteSink`](crate::SqliteSink) has committed and the
/// duplicates it absorbed, counted at each commit: a shared handle, still
/// readable after the sink has moved into a pipeline or the run has ended.
///
/// A row counts once, in the transaction that committed it; rows of a
/// rolled-back transaction are counted when they are written again and
/// committed. So after a run whose every batch was flushed, `stored +
/// duplicates` is the number of rows the pipeline delivered, and
/// `stored` the number of rows it added to the table.
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
/// let packet = |seq| Packet::new(1, seq, 0, [Reading::new(0, 1.0)]);
/// // Packet 2 is sent twice, as a retrying client would.
/// Pipeline::from_iter([vec![packet(1), packet(2)], vec![packet(2), packet(3)]]).sink(sink).run().await?;
/// assert_eq!((counters.stored(), counters.duplicates()), (3, 1));
/// assert!(counters.commits() >= 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SqliteCounters(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    stored: AtomicU64,
    duplicates: AtomicU64,
    commits: AtomicU64,
}

impl SqliteCounters {
    /// Rows committed that were new to the table.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_sqlite::SqliteCounters;
    ///
    /// assert_eq!(SqliteCounters::default().stored(), 0);
    /// ```
    pub fn stored(&self) -> u64 {
        self.0.stored.load(Ordering::Relaxed)
    }

    /// Rows committed whose insert changed nothing: their key was in the
    /// table already (a redelivered or resent row), so the idempotent
    /// insert absorbed them.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_sqlite::SqliteCounters;
    ///
    /// assert_eq!(SqliteCounters::default().duplicates(), 0);
    /// ```
    pub fn duplicates(&self) -> u64 {
        self.0.duplicates.load(Ordering::Relaxed)
    }

    /// Transactions committed.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_sqlite::SqliteCounters;
    ///
    /// assert_eq!(SqliteCounters::default().commits(), 0);
    /// ```
    pub fn commits(&self) -> u64 {
        self.0.commits.load(Ordering::Relaxed)
    }

    /// Counts one commit.
    pub(crate) fn committed(&self, stored: u64, duplicates: u64) {
        self.0.stored.fetch_add(stored, Ordering::Relaxed);
        self.0.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        self.0.commits.fetch_add(1, Ordering::Relaxed);
    }
}
