//! Shared by the sink's tests: rows, packets, and counting with a
//! connection of the test's own.

#![allow(dead_code, reason = "each test file uses a part")]
#![allow(unreachable_pub, reason = "a test helper module, not an API")]

use std::path::Path;

use weir_packet::{Packet, Reading};
use weir_sqlite::{SqliteRow, rusqlite};

/// `n` packets from 10 devices, sequences `first..first + n`.
pub fn packets(first: u64, n: u64) -> Vec<Packet> {
    (first..first + n)
        .map(|seq| {
            Packet::new((seq % 10) as u32, seq, 1_700_000_000_000 + seq, [Reading::new(1, seq as f32)])
        })
        .collect()
}

/// Rows in `table`, counted through a separate connection.
pub fn count(path: &Path, table: &str) -> i64 {
    let db = rusqlite::Connection::open(path).expect("the test opens the database");
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("the test counts")
}

/// A row with a constraint of its own: `value` may not be negative, and a
/// `value` of `i64::MIN` makes `bind` panic.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub id: i64,
    pub value: i64,
}

impl SqliteRow for Measure {
    fn create_table_sql() -> &'static str {
        "CREATE TABLE IF NOT EXISTS measures (id INTEGER PRIMARY KEY, value INTEGER NOT NULL CHECK (value >= 0))"
    }

    fn insert_sql() -> &'static str {
        "INSERT INTO measures (id, value) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING"
    }

    fn bind(&self, statement: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        assert!(self.value != i64::MIN, "measure {} has no value", self.id);
        statement.raw_bind_parameter(1, self.id)?;
        statement.raw_bind_parameter(2, self.value)
    }
}

/// A row whose foreign key is checked at commit (deferred): a child whose
/// parent is missing makes the commit fail, not the insert.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub id: i64,
    pub parent: i64,
}

impl SqliteRow for Child {
    fn create_table_sql() -> &'static str {
        "PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS parents (id INTEGER PRIMARY KEY);
         CREATE TABLE IF NOT EXISTS children (
             id INTEGER PRIMARY KEY,
             parent INTEGER NOT NULL REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED
         )"
    }

    fn insert_sql() -> &'static str {
        "INSERT INTO children (id, parent) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING"
    }

    fn bind(&self, statement: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        statement.raw_bind_parameter(1, self.id)?;
        statement.raw_bind_parameter(2, self.parent)
    }
}
