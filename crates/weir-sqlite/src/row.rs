//! What a row type tells the sink: its table, its insert, its values.

/// A type the SQLite sink can store: its table, its insert statement and
/// how its values bind to that statement.
///
/// The sink runs [`create_table_sql`](SqliteRow::create_table_sql) once
/// when it opens, prepares [`insert_sql`](SqliteRow::insert_sql) once and
/// keeps it cached, then for each row calls [`bind`](SqliteRow::bind) and
/// executes the statement.
///
/// # Idempotent inserts
///
/// A pipeline delivers at least once: an item whose acknowledgement did
/// not fire (a crash before the commit, a retried batch) comes again. Make
/// the insert idempotent on the row's key, so that a row stored twice is
/// one row: a primary key (or unique index) on the key and
/// `INSERT … ON CONFLICT (key) DO NOTHING`. The sink counts a row whose
/// insert changed nothing as a duplicate
/// ([`SqliteCounters::duplicates`](crate::SqliteCounters::duplicates)).
///
/// Prefer `ON CONFLICT (key) DO NOTHING` to `INSERT OR IGNORE`: `OR
/// IGNORE` also skips rows that break a `CHECK` or `NOT NULL` constraint,
/// silently, and the sink would count them as duplicates; `ON CONFLICT`
/// skips only conflicts on the key, and a row that breaks another
/// constraint fails its batch with [`SqliteError::Constraint`](crate::SqliteError::Constraint).
///
/// # Examples
///
/// A row type of your own:
///
/// ```
/// use weir_core::prelude::*;
/// use weir_sqlite::{SqliteRow, SqliteSink, rusqlite};
///
/// struct Order { id: i64, cents: i64 }
///
/// impl SqliteRow for Order {
///     fn create_table_sql() -> &'static str {
///         "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, cents INTEGER NOT NULL CHECK (cents >= 0))"
///     }
///     fn insert_sql() -> &'static str {
///         "INSERT INTO orders (id, cents) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING"
///     }
///     fn bind(&self, statement: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
///         statement.raw_bind_parameter(1, self.id)?;
///         statement.raw_bind_parameter(2, self.cents)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("shop.db");
/// let sink = SqliteSink::<Order>::open(&path)?;
/// let counters = sink.counters();
/// let orders = [(1, 500), (2, 250), (1, 500)].map(|(id, cents)| Order { id, cents });
/// Pipeline::from_iter(orders).batch("batch", 100, std::time::Duration::from_millis(10)).sink(sink).run().await?;
/// assert_eq!((counters.stored(), counters.duplicates()), (2, 1));
///
/// let db = rusqlite::Connection::open(&path)?;
/// let total: i64 = db.query_row("SELECT sum(cents) FROM orders", [], |r| r.get(0))?;
/// assert_eq!(total, 750);
/// # Ok(())
/// # }
/// ```
pub trait SqliteRow: Send + 'static {
    /// The SQL that creates the row's table (and its indexes) if it does
    /// not exist yet; it may hold several statements. Run once, when the
    /// sink opens.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteRow;
    ///
    /// assert!(Packet::create_table_sql().starts_with("CREATE TABLE IF NOT EXISTS packets"));
    /// ```
    fn create_table_sql() -> &'static str;

    /// The statement that inserts one row, with numbered parameters
    /// (`?1`, `?2`, …) that [`bind`](SqliteRow::bind) fills; idempotent on
    /// the row's key (see the trait's docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_sqlite::SqliteRow;
    ///
    /// assert!(Packet::insert_sql().ends_with("ON CONFLICT (device, sequence) DO NOTHING"));
    /// ```
    fn insert_sql() -> &'static str;

    /// Binds this row's values to the parameters of the statement of
    /// [`insert_sql`](SqliteRow::insert_sql), with
    /// [`Statement::raw_bind_parameter`](rusqlite::Statement::raw_bind_parameter)
    /// (indexes start at 1). A parameter left unbound is `NULL`.
    ///
    /// An error fails the row's batch with [`SqliteError::Bind`](crate::SqliteError::Bind);
    /// a panic fails it with [`SqliteError::RowPanicked`](crate::SqliteError::RowPanicked).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::{Packet, Reading};
    /// use weir_sqlite::{SqliteRow, rusqlite};
    ///
    /// let db = rusqlite::Connection::open_in_memory()?;
    /// db.execute_batch(Packet::create_table_sql())?;
    /// let mut insert = db.prepare(Packet::insert_sql())?;
    /// let packet = Packet::new(7, 1, 1_700_000_000_000, [Reading::new(0, 1.5)]);
    /// packet.bind(&mut insert)?;
    /// assert_eq!(insert.raw_execute()?, 1); // stored
    /// packet.bind(&mut insert)?;
    /// assert_eq!(insert.raw_execute()?, 0); // a duplicate: nothing changed
    /// # Ok::<(), rusqlite::Error>(())
    /// ```
    fn bind(&self, statement: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()>;
}
