//! Client crates, measured (issue 10): rusqlite vs sqlx-sqlite and
//! tokio-postgres vs sqlx-postgres, writing the anchors' rows
//! (`shared/anchors/rust` `fn sqlite`, `shared/anchors/pg` "copy" mode):
//! `readings(device, seq, ts, r0..r3)`, primary key (device, seq),
//! idempotent inserts, one transaction per batch. Best of ROUNDS, the
//! variants alternated within each round.
//!
//! ```sh
//! nice -n 10 cargo run --release --manifest-path bench/clients/Cargo.toml [ROWS] [BATCH] [ROUNDS]
//! ```
use std::str::FromStr;
use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::NoTls;

const SQLITE_DDL: &str = "CREATE TABLE readings(device INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
  r0 REAL, r1 REAL, r2 REAL, r3 REAL, PRIMARY KEY(device, seq)) WITHOUT ROWID";
const PG_DDL: &str = "DROP TABLE IF EXISTS readings; CREATE TABLE readings (device int4, seq int8, ts int8, r0 float8, r1 float8, r2 float8, r3 float8, PRIMARY KEY (device, seq))";
/// Rows per multi-row INSERT statement: SQLite allows 32,766 bound
/// parameters, PostgreSQL 65,535; 7 per row.
const SQLITE_ROWS_PER_STMT: u64 = 4_000;
const PG_ROWS_PER_STMT: i64 = 5_000;

fn sqlite_path(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("weir-bench-clients-{tag}.db"));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

/// The anchor's loop: rusqlite, a cached prepared statement, one transaction per batch.
fn sqlite_rusqlite(rows: u64, batch: u64) -> f64 {
    let path = sqlite_path("rusqlite");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-262144; PRAGMA wal_autocheckpoint=100000;").unwrap();
    c.execute_batch(SQLITE_DDL).unwrap();
    let t = Instant::now();
    let mut i = 0u64;
    while i < rows {
        let end = (i + batch).min(rows);
        let tx = c.unchecked_transaction().unwrap();
        {
            let mut st = tx.prepare_cached("INSERT OR IGNORE INTO readings VALUES (?1,?2,?3,?4,?5,?6,?7)").unwrap();
            for k in i..end {
                let f = k as f64;
                st.execute(rusqlite::params![(k % 1000) as i64, (k / 1000) as i64, k as i64, f, f * 0.5, f * 0.25, f * 0.125]).unwrap();
            }
        }
        tx.commit().unwrap();
        i = end;
    }
    let dt = t.elapsed().as_secs_f64();
    let n: i64 = c.query_row("SELECT count(*) FROM readings", [], |r| r.get(0)).unwrap();
    assert_eq!(n as u64, rows);
    rows as f64 / dt
}

async fn sqlx_sqlite_conn(tag: &str) -> SqliteConnection {
    let path = sqlite_path(tag);
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-262144")
        .pragma("wal_autocheckpoint", "100000");
    let mut c = SqliteConnection::connect_with(&opts).await.unwrap();
    sqlx::raw_sql(SQLITE_DDL).execute(&mut c).await.unwrap();
    c
}

async fn sqlite_count(c: &mut SqliteConnection) -> u64 {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM readings").fetch_one(c).await.unwrap();
    n as u64
}

/// sqlx-sqlite, one transaction per batch, the (cached, prepared) query executed per row.
async fn sqlite_sqlx_per_row(rows: u64, batch: u64) -> f64 {
    let mut c = sqlx_sqlite_conn("sqlx-row").await;
    let t = Instant::now();
    let mut i = 0u64;
    while i < rows {
        let end = (i + batch).min(rows);
        let mut tx = c.begin().await.unwrap();
        for k in i..end {
            let f = k as f64;
            sqlx::query("INSERT OR IGNORE INTO readings VALUES (?1,?2,?3,?4,?5,?6,?7)")
                .bind((k % 1000) as i64)
                .bind((k / 1000) as i64)
                .bind(k as i64)
                .bind(f)
                .bind(f * 0.5)
                .bind(f * 0.25)
                .bind(f * 0.125)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        i = end;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(sqlite_count(&mut c).await, rows);
    rows as f64 / dt
}

/// sqlx-sqlite, one transaction per batch, `QueryBuilder::push_values` multi-row INSERTs.
async fn sqlite_sqlx_push_values(rows: u64, batch: u64) -> f64 {
    let mut c = sqlx_sqlite_conn("sqlx-multi").await;
    let t = Instant::now();
    let mut i = 0u64;
    while i < rows {
        let end = (i + batch).min(rows);
        let mut tx = c.begin().await.unwrap();
        let mut s = i;
        while s < end {
            let e = (s + SQLITE_ROWS_PER_STMT).min(end);
            let mut qb = QueryBuilder::<sqlx::Sqlite>::new("INSERT OR IGNORE INTO readings ");
            qb.push_values(s..e, |mut b, k| {
                let f = k as f64;
                b.push_bind((k % 1000) as i64)
                    .push_bind((k / 1000) as i64)
                    .push_bind(k as i64)
                    .push_bind(f)
                    .push_bind(f * 0.5)
                    .push_bind(f * 0.25)
                    .push_bind(f * 0.125);
            });
            qb.build().execute(&mut *tx).await.unwrap();
            s = e;
        }
        tx.commit().await.unwrap();
        i = end;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(sqlite_count(&mut c).await, rows);
    rows as f64 / dt
}

/// The anchor's "copy" mode: tokio-postgres, per batch a transaction with
/// COPY BINARY into a temp staging table, INSERT … SELECT … ON CONFLICT DO NOTHING, TRUNCATE.
async fn pg_tokio_copy(url: &str, rows: i64, batch: i64) -> f64 {
    let (mut c, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    let h = tokio::spawn(conn);
    c.batch_execute(PG_DDL).await.unwrap();
    c.batch_execute("CREATE TEMP TABLE staging (LIKE readings)").await.unwrap();
    let types = [Type::INT4, Type::INT8, Type::INT8, Type::FLOAT8, Type::FLOAT8, Type::FLOAT8, Type::FLOAT8];
    let t = Instant::now();
    let mut i = 0;
    while i < rows {
        let e = (i + batch).min(rows);
        let tx = c.transaction().await.unwrap();
        let sink = tx.copy_in("COPY staging FROM STDIN BINARY").await.unwrap();
        let w = BinaryCopyInWriter::new(sink, &types);
        futures::pin_mut!(w);
        for j in i..e {
            let d = (j % 1000) as i32;
            let s = j / 1000;
            let f = j as f64;
            w.as_mut().write(&[&d, &s, &j, &f, &f, &f, &f]).await.unwrap();
        }
        w.finish().await.unwrap();
        tx.batch_execute("INSERT INTO readings SELECT * FROM staging ON CONFLICT DO NOTHING; TRUNCATE staging").await.unwrap();
        tx.commit().await.unwrap();
        i = e;
    }
    let dt = t.elapsed().as_secs_f64();
    let n: i64 = c.query_one("SELECT count(*) FROM readings", &[]).await.unwrap().get(0);
    assert_eq!(n, rows);
    drop(c);
    let _ = h.await;
    rows as f64 / dt
}

async fn sqlx_pg_conn(host: &str, port: u16) -> PgConnection {
    let opts = PgConnectOptions::new().host(host).port(port).username("postgres").database("postgres");
    let mut c = PgConnection::connect_with(&opts).await.unwrap();
    sqlx::raw_sql(PG_DDL).execute(&mut c).await.unwrap();
    c
}

async fn pg_count(c: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM readings").fetch_one(c).await.unwrap()
}

/// The same binary COPY stream, encoded here (sqlx has no binary COPY
/// encoder), sent through sqlx's `copy_in_raw` as one message per batch.
async fn pg_sqlx_copy(host: &str, port: u16, rows: i64, batch: i64) -> f64 {
    let mut c = sqlx_pg_conn(host, port).await;
    sqlx::raw_sql("CREATE TEMP TABLE staging (LIKE readings)").execute(&mut c).await.unwrap();
    let t = Instant::now();
    let mut buf: Vec<u8> = Vec::with_capacity(batch as usize * 70 + 32);
    let mut i = 0;
    while i < rows {
        let e = (i + batch).min(rows);
        buf.clear();
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        for j in i..e {
            let f = j as f64;
            buf.extend_from_slice(&7i16.to_be_bytes());
            buf.extend_from_slice(&4i32.to_be_bytes());
            buf.extend_from_slice(&((j % 1000) as i32).to_be_bytes());
            for v in [j / 1000, j] {
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&v.to_be_bytes());
            }
            for _ in 0..4 {
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&f.to_be_bytes());
            }
        }
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        let mut tx = c.begin().await.unwrap();
        let mut copy = tx.copy_in_raw("COPY staging FROM STDIN BINARY").await.unwrap();
        copy.send(buf.as_slice()).await.unwrap();
        copy.finish().await.unwrap();
        sqlx::raw_sql("INSERT INTO readings SELECT * FROM staging ON CONFLICT DO NOTHING; TRUNCATE staging")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        i = e;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(pg_count(&mut c).await, rows);
    rows as f64 / dt
}

/// sqlx-postgres, one transaction per batch, `QueryBuilder::push_values`
/// multi-row INSERT … ON CONFLICT DO NOTHING (bound parameters).
async fn pg_sqlx_push_values(host: &str, port: u16, rows: i64, batch: i64) -> f64 {
    let mut c = sqlx_pg_conn(host, port).await;
    let t = Instant::now();
    let mut i = 0;
    while i < rows {
        let e = (i + batch).min(rows);
        let mut tx = c.begin().await.unwrap();
        let mut s = i;
        while s < e {
            let se = (s + PG_ROWS_PER_STMT).min(e);
            let mut qb = QueryBuilder::<sqlx::Postgres>::new("INSERT INTO readings ");
            qb.push_values(s..se, |mut b, j| {
                let f = j as f64;
                b.push_bind((j % 1000) as i32)
                    .push_bind(j / 1000)
                    .push_bind(j)
                    .push_bind(f)
                    .push_bind(f)
                    .push_bind(f)
                    .push_bind(f);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *tx).await.unwrap();
            s = se;
        }
        tx.commit().await.unwrap();
        i = e;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(pg_count(&mut c).await, rows);
    rows as f64 / dt
}

fn best(v: &[f64]) -> f64 {
    v.iter().cloned().fold(0.0, f64::max)
}

fn line(case: &str, name: &str, runs: &[f64], base: f64) {
    let b = best(runs);
    let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r / 1e3)).collect();
    println!("| {case} | {name} | {:.0} k | {:.2}x | {} |", b / 1e3, b / base, all.join(", "));
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let rows: u64 = a.get(1).map(|s| s.parse().unwrap()).unwrap_or(200_000);
    let batch: u64 = a.get(2).map(|s| s.parse().unwrap()).unwrap_or(10_000);
    let rounds: usize = a.get(3).map(|s| s.parse().unwrap()).unwrap_or(3);
    let only = a.get(4).cloned().unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    println!("{rows} rows, batches of {batch}, best of {rounds} (all runs in k rows/s)\n");
    println!("| case | client | best rows/s | ratio | runs (k rows/s) |");
    println!("|---|---|---:|---:|---|");
    if only.is_empty() || only == "sqlite" {
        let (mut r, mut s1, mut s2) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            r.push(sqlite_rusqlite(rows, batch));
            s1.push(rt.block_on(sqlite_sqlx_per_row(rows, batch)));
            s2.push(rt.block_on(sqlite_sqlx_push_values(rows, batch)));
        }
        let base = best(&r);
        line("SQLite", "rusqlite, cached statement per row", &r, base);
        line("SQLite", "sqlx-sqlite, prepared query per row", &s1, base);
        line("SQLite", "sqlx-sqlite, QueryBuilder::push_values (4,000 rows/stmt)", &s2, base);
        let _ = sqlite_path("rusqlite");
        let _ = sqlite_path("sqlx-row");
        let _ = sqlite_path("sqlx-multi");
    }
    if only.is_empty() || only == "postgres" {
        let server = weir_testkit::postgres::TestServer::builder().fsync(true).start();
        let (url, host, port) = (server.url(), server.host(), server.port());
        let (rows, batch) = (rows as i64, batch as i64);
        let (mut t, mut s1, mut s2) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            t.push(rt.block_on(pg_tokio_copy(&url, rows, batch)));
            s1.push(rt.block_on(pg_sqlx_copy(host, port, rows, batch)));
            s2.push(rt.block_on(pg_sqlx_push_values(host, port, rows, batch)));
        }
        let base = best(&t);
        line("PostgreSQL", "tokio-postgres, BinaryCopyInWriter + INSERT … SELECT", &t, base);
        line("PostgreSQL", "sqlx-postgres, copy_in_raw (binary) + INSERT … SELECT", &s1, base);
        line("PostgreSQL", "sqlx-postgres, QueryBuilder::push_values (5,000 rows/stmt)", &s2, base);
    }
}
