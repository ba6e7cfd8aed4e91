//! The SQLite case: rows into a WAL database through weir's SQLite sink,
//! against the anchors' hand-written rusqlite loops
//! (`shared/anchors/rust`, `fn sqlite`): the naive one (autocommit, one
//! insert per row) and the tuned one (a prepared, cached insert, `batch`
//! rows per transaction). Same pragmas, same table, same rows, same insert.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir::prelude::*;
use weir::sqlite::{SqliteRow, SqliteSink, rusqlite};
use weir_packet::{Packet, Reading};

/// The anchors' pragmas (the sink's defaults are the same).
const PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-262144; PRAGMA wal_autocheckpoint=100000;";

/// The anchors' table.
const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS readings(device INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
      r0 REAL, r1 REAL, r2 REAL, r3 REAL, PRIMARY KEY(device, seq)) WITHOUT ROWID;";

/// The anchors' insert.
const INSERT: &str = "INSERT OR IGNORE INTO readings VALUES (?1,?2,?3,?4,?5,?6,?7)";

/// The anchors' row: (device, seq, ts, 4 readings), keyed by (device, seq).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    device: i64,
    seq: i64,
    ts: i64,
    r: [f64; 4],
}

/// Row `k`, with the anchors' values.
pub(crate) fn row(k: u64) -> Row {
    let f = k as f64;
    Row {
        device: (k % 1000) as i64,
        seq: (k / 1000) as i64,
        ts: k as i64,
        r: [f, f * 0.5, f * 0.25, f * 0.125],
    }
}

impl SqliteRow for Row {
    fn create_table_sql() -> &'static str {
        TABLE
    }

    fn insert_sql() -> &'static str {
        INSERT
    }

    fn bind(&self, st: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        st.raw_bind_parameter(1, self.device)?;
        st.raw_bind_parameter(2, self.seq)?;
        st.raw_bind_parameter(3, self.ts)?;
        for (i, r) in self.r.iter().enumerate() {
            st.raw_bind_parameter(4 + i, *r)?;
        }
        Ok(())
    }
}

/// A fresh database file (its WAL and shared-memory files removed too).
fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-bench-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Removes the benchmark's temporary directory.
pub(crate) fn clean() {
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("weir-bench-sqlite-{}", std::process::id())),
    );
}

fn count(path: &Path) -> u64 {
    let c = rusqlite::Connection::open(path).expect("open");
    let n: i64 = c.query_row("SELECT count(*) FROM readings", [], |r| r.get(0)).expect("count");
    n as u64
}

/// The anchors' loop: `batch` rows per transaction (1 = the naive autocommit
/// loop: one implicit transaction per insert). Returns rows/s.
pub(crate) fn hand_written(rows: u64, batch: u64) -> f64 {
    let path = fresh("hand.db");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(PRAGMAS).expect("pragmas");
    c.execute_batch(TABLE).expect("table");
    let t = Instant::now();
    if batch == 1 {
        let mut st = c.prepare_cached(INSERT).expect("prepare");
        for k in 0..rows {
            let r = row(k);
            st.execute(rusqlite::params![r.device, r.seq, r.ts, r.r[0], r.r[1], r.r[2], r.r[3]])
                .expect("insert");
        }
    } else {
        let mut i = 0u64;
        while i < rows {
            let end = (i + batch).min(rows);
            let tx = c.unchecked_transaction().expect("begin");
            {
                let mut st = tx.prepare_cached(INSERT).expect("prepare");
                for k in i..end {
                    let r = row(k);
                    st.execute(rusqlite::params![r.device, r.seq, r.ts, r.r[0], r.r[1], r.r[2], r.r[3]])
                        .expect("insert");
                }
            }
            tx.commit().expect("commit");
            i = end;
        }
    }
    let rate = rows as f64 / t.elapsed().as_secs_f64();
    drop(c);
    assert_eq!(count(&path), rows);
    rate
}

/// `Pipeline::from_iter(rows).batch(batch).sink(SqliteSink)`, on a fresh
/// multi-thread runtime; `transaction_rows` as the sink's limit (`None`:
/// its default). Returns rows/s.
pub(crate) fn weir(rows: u64, batch: usize, transaction_rows: Option<usize>) -> f64 {
    let path = fresh("weir.db");
    let mut builder = SqliteSink::<Row>::builder(&path);
    if let Some(n) = transaction_rows {
        builder = builder.transaction_rows(n);
    }
    let sink = builder.open().expect("open the sink");
    let counters = sink.counters();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let t = Instant::now();
    let report = rt
        .block_on(
            Pipeline::from_iter((0..rows).map(row))
                .batch("batch", batch, Duration::from_millis(50))
                .sink(sink)
                .run(),
        )
        .expect("the benchmark pipeline runs");
    let rate = rows as f64 / t.elapsed().as_secs_f64();
    assert_eq!(report.delivered(), rows);
    assert_eq!(counters.stored(), rows);
    drop(rt);
    assert_eq!(count(&path), rows);
    rate
}

/// The ingest job's own row: weir's `Packet` (4 readings, stored as a
/// BLOB) into the sink's `packets` table. Returns rows/s.
pub(crate) fn weir_packets(rows: u64, batch: usize) -> f64 {
    let path = fresh("packets.db");
    let sink = SqliteSink::<Packet>::open(&path).expect("open the sink");
    let counters = sink.counters();
    let packet = |k: u64| {
        let f = k as f32;
        Packet::new(
            (k % 1000) as u32,
            k / 1000,
            k,
            [
                Reading::new(0, f),
                Reading::new(1, f * 0.5),
                Reading::new(2, f * 0.25),
                Reading::new(3, f * 0.125),
            ],
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let t = Instant::now();
    rt.block_on(
        Pipeline::from_iter((0..rows).map(packet))
            .batch("batch", batch, Duration::from_millis(50))
            .sink(sink)
            .run(),
    )
    .expect("the benchmark pipeline runs");
    let rate = rows as f64 / t.elapsed().as_secs_f64();
    assert_eq!(counters.stored(), rows);
    rate
}
