//! The sink: one COPY and one `INSERT … ON CONFLICT DO NOTHING` per batch,
//! in one transaction, on a connection that is made again when lost.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use futures::SinkExt;
use tokio_postgres::{Client, NoTls, Statement};
use weir_core::{Sink, SinkError};

use crate::error::PgError;
use crate::row::{PgRow, Table};
use crate::writer::encode;

/// How long a connection attempt may take when the connection string does
/// not say (`connect_timeout`): an outage then fails a batch within this
/// time, for the retry layer to decide, instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of a [`PgSink`]; see [`PgSink::builder`].
///
/// # Examples
///
/// ```
/// use weir_packet::Packet;
/// use weir_postgres::{PgError, PgSink};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), PgError> {
/// # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
/// # let url = server.url();
/// // Without creating the table, a missing one is an error at once.
/// let err = PgSink::<Packet>::builder(&url).create_table(false).connect().await.unwrap_err();
/// assert!(matches!(&err, PgError::Rejected { code, .. } if code == "42P01"), "{err}"); // undefined_table
/// let sink = PgSink::<Packet>::builder(&url).table_name("packets_eu").connect().await?;
/// assert_eq!(sink.table().name(), "packets_eu");
/// # Ok(())
/// # }
/// ```
pub struct PgSinkBuilder<R> {
    url: String,
    table: Table,
    create_table: bool,
    _row: PhantomData<fn(R)>,
}

impl<R> fmt::Debug for PgSinkBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSinkBuilder")
            .field("table", &self.table.name())
            .field("create_table", &self.create_table)
            .finish_non_exhaustive()
    }
}

impl<R: PgRow> PgSinkBuilder<R> {
    /// Stores the rows in table `name` instead of the row type's own
    /// (same columns and key).
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table = self.table.renamed(name);
        self
    }

    /// Whether to create the table when it does not exist (default: yes).
    /// Without it, a missing table makes [`connect`](Self::connect) fail.
    pub fn create_table(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }

    /// Connects, creates the table if asked, and prepares the statements.
    ///
    /// # Errors
    ///
    /// [`PgError::Config`] for a connection string that does not parse;
    /// otherwise the error of connecting or creating the table.
    pub async fn connect(self) -> Result<PgSink<R>, PgError> {
        let mut config: tokio_postgres::Config = self.url.parse().map_err(PgError::Config)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let mut sink = PgSink {
            config,
            statements: Statements::new(&self.table, self.create_table),
            table: self.table,
            conn: None,
            buf: BytesMut::new(),
            counters: PgCounters::default(),
            _row: PhantomData,
        };
        sink.connection().await?;
        Ok(sink)
    }
}

/// A weir [`Sink`] that stores batches of rows in a PostgreSQL table,
/// idempotently on the table's key.
///
/// Each batch (a `Vec<R>`, as [`batch`](weir_core::Pipeline::batch) makes
/// them) is one transaction: its rows are encoded in PostgreSQL's binary
/// COPY format, copied into a temporary staging table, then moved with
/// `INSERT … SELECT … ON CONFLICT (key) DO NOTHING`, and committed before
/// `send` returns. So a row whose key is already stored (a redelivered
/// item, a batch retried after its commit was cut short) is absorbed and
/// counted in [`PgCounters::duplicates`], never stored twice; and `flush`
/// has nothing left to do, so the pipeline acknowledges items only after
/// their commit.
///
/// A failed batch comes back whole in the [`SinkError`], classed by
/// [`PgError::class`]: a retry layer (`sink.retry(policy)`, weir-retry)
/// tries transient failures again, and a dead-letter route
/// (`sink_dead_lettering`, weir-deadletter) keeps the rest. After a lost
/// connection the sink connects again before the next batch.
///
/// # One connection, made again when lost
///
/// A pipeline drives its sink from one task, one batch at a time, so a
/// pool would never lend more than one connection; the staging table is a
/// temporary table of one session, which a pool would have to check for on
/// every checkout. The sink keeps one connection and makes a new one (and
/// its staging table and prepared statements) when it is lost. Several
/// writers in parallel are several sinks (one per worker).
///
/// TLS is not supported yet (the connection is `NoTls`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_packet::{Packet, Reading};
/// use weir_postgres::PgSink;
/// use weir_retry::{RetryPolicy, RetrySinkExt};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
/// # let url = server.url();
/// let packets = (0..10_000u64).map(|i| Packet::new(7, i, 1_700_000_000_000 + i, [Reading::new(1, 20.5)]));
/// // url: "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
/// let sink = PgSink::<Packet>::connect(&url).await?;
/// let counters = sink.counters();
/// let policy = RetryPolicy::exponential(Duration::from_millis(100)).max_attempts(8);
/// let report = Pipeline::from_iter(packets)
///     .batch("batch", 5_000, Duration::from_millis(50))
///     .sink(sink.retry(policy))
///     .await?;
/// assert_eq!(report.delivered(), 10_000);
/// println!("{} rows stored, {} duplicates absorbed", counters.inserted(), counters.duplicates());
/// # Ok(())
/// # }
/// ```
pub struct PgSink<R> {
    config: tokio_postgres::Config,
    table: Table,
    statements: Statements,
    conn: Option<Connection>,
    /// The COPY data of the batch being stored, kept between batches.
    buf: BytesMut,
    counters: PgCounters,
    _row: PhantomData<fn(R)>,
}

impl<R> fmt::Debug for PgSink<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSink")
            .field("table", &self.table.name())
            .field("connected", &self.conn.is_some())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// The statements of a table, as SQL.
#[derive(Debug)]
struct Statements {
    /// Creates the table when missing, if asked to.
    create: Option<String>,
    staging: String,
    copy: String,
    insert: String,
}

impl Statements {
    fn new(table: &Table, create: bool) -> Self {
        let staging = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            table.staging(),
            table.quoted()
        );
        let copy = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", table.staging(), table.column_list());
        // Concurrent `CREATE TABLE IF NOT EXISTS` races in PostgreSQL (a
        // unique violation on pg_type when N consumers start together):
        // serialize it with a transaction-scoped advisory lock on the
        // table's name.
        let create = create.then(|| {
            let key = table.quoted().to_string().replace('\'', "''");
            format!("BEGIN; SELECT pg_advisory_xact_lock(hashtext('{key}')); {}; COMMIT", table.create_sql())
        });
        Self { create, staging, copy, insert: table.insert_sql() }
    }
}

/// An open connection and its prepared statements.
struct Connection {
    client: Client,
    copy: Statement,
    insert: Statement,
    /// The task that drives the connection: it goes with the sink.
    _driver: Driver,
}

/// The connection's task, aborted when dropped: a sink dropped with its
/// pipeline (an abort, a dropped run) leaves no task behind, where a
/// detached one would outlive the run until the server noticed. The
/// server then sees the connection close without a goodbye (PostgreSQL
/// logs an unexpected EOF) at the end of every run; nothing is lost:
/// each transaction was committed or is rolled back.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<R: PgRow> PgSink<R> {
    /// Options: the table's name, whether to create it. The connection
    /// string is `host=H port=P user=U dbname=D` (plus `password`,
    /// `connect_timeout`…, as tokio-postgres reads them) or a
    /// `postgresql://` URL.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_postgres::PgSink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weir_postgres::PgError> {
    /// # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
    /// # let url = server.url();
    /// let sink = PgSink::<Packet>::builder(url) // "host=H port=P user=U dbname=D" or "postgresql://U@H:P/D"
    ///     .table_name("packets_2026")
    ///     .connect()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(url: impl Into<String>) -> PgSinkBuilder<R> {
        PgSinkBuilder { url: url.into(), table: R::table(), create_table: true, _row: PhantomData }
    }

    /// Connects with the default options (the row type's table, created
    /// when missing).
    ///
    /// # Errors
    ///
    /// See [`PgSinkBuilder::connect`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    /// use weir_postgres::PgSink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weir_postgres::PgError> {
    /// # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
    /// # let url = server.url();
    /// let sink = PgSink::<Packet>::connect(&url).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, PgError> {
        Self::builder(url).connect().await
    }

    /// A handle on the sink's counters (rows inserted, duplicates absorbed,
    /// batches, reconnections), readable while the pipeline runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_packet::Packet;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weir_postgres::PgError> {
    /// # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
    /// # let url = server.url();
    /// let sink = weir_postgres::PgSink::<Packet>::connect(&url).await?;
    /// let counters = sink.counters(); // keep it; the sink moves into the pipeline
    /// assert_eq!(counters.duplicates(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn counters(&self) -> PgCounters {
        self.counters.clone()
    }

    /// The table the rows go to.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_packet::Packet;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weir_postgres::PgError> {
    /// # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
    /// # let url = server.url();
    /// let sink = weir_postgres::PgSink::<Packet>::connect(&url).await?;
    /// assert_eq!(sink.table().name(), "packets");
    /// # Ok(())
    /// # }
    /// ```
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The open connection, made (with its staging table and statements)
    /// when there is none.
    async fn connection(&mut self) -> Result<&mut Connection, PgError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let (client, connection) = self.config.connect(NoTls).await.map_err(PgError::from_connect)?;
            let driver = Driver(tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "PostgreSQL connection ended");
                }
            }));
            if self.counters.0.connections.fetch_add(1, Ordering::Relaxed) > 0 {
                tracing::info!("reconnected to PostgreSQL");
            }
            let conn = prepare(client, driver, &self.statements, &self.table).await?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Stores the rows encoded in `self.buf`; returns the rows inserted.
    async fn store(&mut self) -> Result<u64, PgError> {
        let data = self.buf.split().freeze();
        let Connection { client, copy, insert, .. } = self.connection().await?;
        let tx = client.transaction().await.map_err(PgError::from_statement)?;
        let copy = tx.copy_in::<_, bytes::Bytes>(&*copy).await.map_err(PgError::from_statement)?;
        futures::pin_mut!(copy);
        copy.send(data).await.map_err(PgError::from_statement)?;
        copy.finish().await.map_err(PgError::from_statement)?;
        let inserted = tx.execute(&*insert, &[]).await.map_err(PgError::from_statement)?;
        tx.commit().await.map_err(PgError::from_statement)?;
        Ok(inserted)
    }
}

/// Creates the table if asked (again after a reconnection: it may have
/// been dropped meanwhile), the session's staging table, and prepares the
/// statements.
async fn prepare(
    client: Client,
    driver: Driver,
    statements: &Statements,
    table: &Table,
) -> Result<Connection, PgError> {
    if let Some(create) = &statements.create {
        client.batch_execute(create).await.map_err(PgError::from_statement)?;
    }
    client.batch_execute(&statements.staging).await.map_err(PgError::from_statement)?;
    let copy = client.prepare(&statements.copy).await.map_err(PgError::from_statement)?;
    let insert = client.prepare(&statements.insert).await.map_err(PgError::from_statement)?;
    tracing::debug!(table = table.name(), "PostgreSQL sink connected");
    Ok(Connection { client, copy, insert, _driver: driver })
}

impl<R: PgRow> Sink<Vec<R>> for PgSink<R> {
    type Error = PgError;

    /// Stores the batch in one transaction, committed before it returns;
    /// gives the batch back, whole and classed, when it fails.
    async fn send(&mut self, batch: Vec<R>) -> Result<(), SinkError<Vec<R>, PgError>> {
        if batch.is_empty() {
            return Ok(());
        }
        let fail = |error: PgError, batch| {
            let class = error.class();
            SinkError::with_item(error, batch).with_class(class)
        };
        if let Err(e) = encode(self.table.columns(), &batch, &mut self.buf) {
            return Err(fail(PgError::Encode(e), batch));
        }
        match self.store().await {
            Ok(inserted) => {
                let rows = batch.len() as u64;
                let c = &self.counters.0;
                c.inserted.fetch_add(inserted, Ordering::Relaxed);
                c.duplicates.fetch_add(rows.saturating_sub(inserted), Ordering::Relaxed);
                c.batches.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                if error.lost_connection() {
                    self.conn = None;
                }
                self.counters.0.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %error, class = %error.class(), rows = batch.len(), "PostgreSQL batch failed");
                Err(fail(error, batch))
            }
        }
    }

    /// Nothing to do: every batch was committed by its `send`.
    async fn flush(&mut self) -> Result<(), PgError> {
        Ok(())
    }
}

/// What a [`PgSink`] did so far; a shared handle from
/// [`PgSink::counters`].
///
/// # Examples
///
/// ```
/// let counters = weir_postgres::PgCounters::default();
/// assert_eq!((counters.inserted(), counters.duplicates(), counters.batches()), (0, 0, 0));
/// ```
#[derive(Clone, Default)]
pub struct PgCounters(Arc<Counts>);

#[derive(Default)]
struct Counts {
    inserted: AtomicU64,
    duplicates: AtomicU64,
    batches: AtomicU64,
    failed: AtomicU64,
    connections: AtomicU64,
}

impl PgCounters {
    /// Rows inserted (committed).
    pub fn inserted(&self) -> u64 {
        self.0.inserted.load(Ordering::Relaxed)
    }

    /// Rows absorbed because their key was already stored (or appeared
    /// earlier in the same batch).
    pub fn duplicates(&self) -> u64 {
        self.0.duplicates.load(Ordering::Relaxed)
    }

    /// Batches committed.
    pub fn batches(&self) -> u64 {
        self.0.batches.load(Ordering::Relaxed)
    }

    /// Batches that failed (each try counts; their rows were rolled back).
    pub fn failed_batches(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }

    /// Connections made, the first included (so reconnections are this
    /// minus one).
    pub fn connections(&self) -> u64 {
        self.0.connections.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for PgCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCounters")
            .field("inserted", &self.inserted())
            .field("duplicates", &self.duplicates())
            .field("batches", &self.batches())
            .field("failed_batches", &self.failed_batches())
            .field("connections", &self.connections())
            .finish()
    }
}
