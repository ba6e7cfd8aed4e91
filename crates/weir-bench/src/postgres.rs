//! PostgreSQL write rate: weir's `batch(..).sink(PgSink)` against the
//! hand-written tokio-postgres COPY loop of `shared/anchors/pg` (COPY
//! BINARY into a temporary staging table, then `INSERT … SELECT … ON
//! CONFLICT DO NOTHING`, one transaction per batch), on a server the test
//! kit starts (PostgreSQL with fsync on, on loopback), in the same run.

use std::time::{Duration, Instant};

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};
use weir::postgres::{EncodeError, PgRow, PgSink, RowWriter, Table};
use weir::prelude::*;
use weir_packet::{Packet, Reading};
use weir_testkit::postgres::TestServer;

use crate::table::{Row, Table as ResultTable};

/// The anchor's row: (device, seq, ts, 4 readings), keyed by (device, seq).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnchorRow {
    device: i32,
    seq: i64,
    ts: i64,
    r: f64,
}

impl AnchorRow {
    /// Row `j` as the anchor makes it.
    fn new(j: i64) -> Self {
        Self { device: (j % 1000) as i32, seq: j / 1000, ts: j, r: j as f64 }
    }
}

impl PgRow for AnchorRow {
    fn table() -> Table {
        Table::new("readings")
            .column("device", Type::INT4)
            .column("seq", Type::INT8)
            .column("ts", Type::INT8)
            .column("r0", Type::FLOAT8)
            .column("r1", Type::FLOAT8)
            .column("r2", Type::FLOAT8)
            .column("r3", Type::FLOAT8)
            .key(["device", "seq"])
    }

    fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
        row.field(&self.device)?;
        row.field(&self.seq)?;
        row.field(&self.ts)?;
        for _ in 0..4 {
            row.field(&self.r)?;
        }
        Ok(())
    }
}

/// Packet `j`: 1,000 devices, 4 readings.
fn packet(j: u64) -> Packet {
    let f = j as f32;
    Packet::new((j % 1000) as u32, j / 1000, 1_700_000_000_000 + j, (0..4).map(|s| Reading::new(s, f)))
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect to the bench server");
    tokio::spawn(conn);
    client
}

/// Drops and recreates `table` empty, as the anchor does before each run.
async fn fresh(client: &Client, table: &Table) {
    client.batch_execute(&format!("DROP TABLE IF EXISTS {}", table.name())).await.expect("drop");
    client.batch_execute(&table.create_sql()).await.expect("create");
}

async fn count(client: &Client, table: &str) -> u64 {
    let n: i64 = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
    n as u64
}

/// The anchor's `copy` mode: rows/s.
async fn hand_written_anchor(url: &str, rows: i64, batch: i64) -> f64 {
    let mut c = connect(url).await;
    fresh(&c, &AnchorRow::table()).await;
    let t = Instant::now();
    c.batch_execute("CREATE TEMP TABLE staging (LIKE readings)").await.expect("staging");
    let types = [Type::INT4, Type::INT8, Type::INT8, Type::FLOAT8, Type::FLOAT8, Type::FLOAT8, Type::FLOAT8];
    let mut i = 0;
    while i < rows {
        let e = (i + batch).min(rows);
        let tx = c.transaction().await.expect("begin");
        let sink = tx.copy_in("COPY staging FROM STDIN BINARY").await.expect("copy");
        let w = BinaryCopyInWriter::new(sink, &types);
        futures::pin_mut!(w);
        for j in i..e {
            let d = (j % 1000) as i32;
            let s = j / 1000;
            let f = j as f64;
            w.as_mut().write(&[&d, &s, &j, &f, &f, &f, &f]).await.expect("write");
        }
        w.finish().await.expect("finish");
        tx.batch_execute(
            "INSERT INTO readings SELECT * FROM staging ON CONFLICT DO NOTHING; TRUNCATE staging",
        )
        .await
        .expect("insert");
        tx.commit().await.expect("commit");
        i = e;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(count(&c, "readings").await, rows as u64);
    rows as f64 / secs
}

/// The anchor's loop writing packets (the ingest job's rows) into `packets`.
async fn hand_written_packets(url: &str, rows: u64, batch: u64) -> f64 {
    let mut c = connect(url).await;
    fresh(&c, &Packet::table()).await;
    let t = Instant::now();
    c.batch_execute("CREATE TEMP TABLE staging (LIKE packets)").await.expect("staging");
    let types = [Type::INT8, Type::INT8, Type::INT8, Type::BYTEA];
    let mut i = 0;
    while i < rows {
        let e = (i + batch).min(rows);
        let tx = c.transaction().await.expect("begin");
        let sink = tx.copy_in("COPY staging FROM STDIN BINARY").await.expect("copy");
        let w = BinaryCopyInWriter::new(sink, &types);
        futures::pin_mut!(w);
        for j in i..e {
            let p = packet(j);
            let (d, s, ts) = (i64::from(p.device()), p.sequence() as i64, p.timestamp_ms() as i64);
            w.as_mut().write(&[&d, &s, &ts, &p.readings().as_bytes()]).await.expect("write");
        }
        w.finish().await.expect("finish");
        tx.batch_execute(
            "INSERT INTO packets SELECT * FROM staging ON CONFLICT DO NOTHING; TRUNCATE staging",
        )
        .await
        .expect("insert");
        tx.commit().await.expect("commit");
        i = e;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(count(&c, "packets").await, rows);
    rows as f64 / secs
}

/// weir: `Pipeline::from_iter(rows).batch(batch).sink(PgSink)`; rows/s.
async fn weir_pipeline<R: PgRow>(
    url: &str,
    rows: impl Iterator<Item = R> + Send + 'static,
    n: u64,
    batch: usize,
) -> f64 {
    let c = connect(url).await;
    let table = R::table();
    fresh(&c, &table).await;
    let sink = PgSink::<R>::connect(url).await.expect("PgSink connects");
    let counters = sink.counters();
    let t = Instant::now();
    let report = Pipeline::from_iter(rows)
        .batch("batch", batch, Duration::from_millis(50))
        .sink(sink)
        .await
        .expect("the pipeline stores every row");
    let secs = t.elapsed().as_secs_f64();
    assert!(report.is_conserved() && report.delivered() == n, "{report}");
    assert_eq!((counters.inserted(), count(&c, table.name()).await), (n, n));
    n as f64 / secs
}

/// Runs `f` on a fresh multi-thread runtime, like the anchor's `#[tokio::main]`.
fn on_runtime<F: std::future::Future<Output = f64>>(f: F) -> f64 {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(f)
}

/// The PostgreSQL table: `rows` rows per run, best of `runs`, the two
/// implementations alternating so that both see the same server state.
pub(crate) fn bench(quick: bool) {
    let server = TestServer::start();
    let url = server.url();
    let rows: u64 = if quick { 200_000 } else { 1_000_000 };
    // Best of 5: the machine is shared, and one run moves by +-30 %.
    let runs = if quick { 3 } else { 5 };
    let batch = 10_000;
    let mut table = ResultTable::default();

    let case = format!("anchor rows (int4, 2 x int8, 4 x float8), {rows} rows, batches of {batch}");
    let (mut base, mut weir) = (0.0f64, 0.0f64);
    for _ in 0..runs {
        base = base.max(on_runtime(hand_written_anchor(&url, rows as i64, batch as i64)));
        let source = (0..rows as i64).map(AnchorRow::new);
        weir = weir.max(on_runtime(weir_pipeline(&url, source, rows, batch)));
    }
    table.push(Row::baseline(&case, "hand-written tokio-postgres COPY loop (anchor)", base));
    table.push(
        Row::measured(&case, "weir batch(10000).sink(PgSink)", weir)
            .vs("hand-written", base)
            .target(">= 0.85x hand-written", weir >= 0.85 * base),
    );

    let case = format!("ingest packets (4 readings, bytea), {rows} rows, batches of {batch}");
    let (mut base, mut weir) = (0.0f64, 0.0f64);
    for _ in 0..runs {
        base = base.max(on_runtime(hand_written_packets(&url, rows, batch as u64)));
        weir = weir.max(on_runtime(weir_pipeline(&url, (0..rows).map(packet), rows, batch)));
    }
    table.push(Row::baseline(&case, "hand-written tokio-postgres COPY loop", base));
    table.push(
        Row::measured(&case, "weir batch(10000).sink(PgSink<Packet>)", weir)
            .vs("hand-written", base)
            .target(">= 0.85x hand-written", weir >= 0.85 * base),
    );
    println!("{table}");
    drop(server);
}
