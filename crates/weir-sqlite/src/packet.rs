//! The ingest job's row: a telemetry [`Packet`] in a `packets` table.

use weir_packet::Packet;

use crate::SqliteRow;

/// A [`Packet`] is stored in the table `packets`, keyed on
/// `(device, sequence)`:
///
/// | column | type | value |
/// |---|---|---|
/// | `device` | `INTEGER NOT NULL` | [`Packet::device`] |
/// | `sequence` | `INTEGER NOT NULL` | [`Packet::sequence`], as the `i64` of the same bits |
/// | `timestamp_ms` | `INTEGER NOT NULL` | [`Packet::timestamp_ms`], as the `i64` of the same bits |
/// | `readings` | `BLOB NOT NULL` | the readings' encoded bytes ([`Readings::as_bytes`](weir_packet::Readings::as_bytes)): 5 bytes each, a sensor id then a big-endian `f32` |
///
/// SQLite's integers are signed 64-bit: a `u64` above `i64::MAX` is stored
/// as the negative number of the same bits (read it back with
/// `value as u64`), so that every packet is stored and two packets never
/// share a key. The readings stay in their frame's encoding: storing them
/// costs one copy, and a variable number of readings needs no second
/// table. A packet sent twice is one row.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_packet::{Packet, Reading};
/// use weir_sqlite::{SqliteSink, rusqlite};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ingest.db");
/// let packet = Packet::new(7, 42, 1_700_000_000_000, [Reading::new(1, 21.5)]);
/// let sink = SqliteSink::open(&path)?;
/// Pipeline::from_iter([vec![packet.clone(), packet]]).sink(sink).run().await?;
///
/// let db = rusqlite::Connection::open(&path)?;
/// let (rows, readings): (i64, Vec<u8>) =
///     db.query_row("SELECT count(*), readings FROM packets WHERE device = 7", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
/// assert_eq!(rows, 1);
/// assert_eq!(readings, [1, 0x41, 0xac, 0, 0]); // sensor 1, 21.5f32
/// # Ok(())
/// # }
/// ```
impl SqliteRow for Packet {
    fn create_table_sql() -> &'static str {
        "CREATE TABLE IF NOT EXISTS packets (
            device INTEGER NOT NULL,
            sequence INTEGER NOT NULL,
            timestamp_ms INTEGER NOT NULL,
            readings BLOB NOT NULL,
            PRIMARY KEY (device, sequence)
        ) WITHOUT ROWID"
    }

    fn insert_sql() -> &'static str {
        "INSERT INTO packets (device, sequence, timestamp_ms, readings) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (device, sequence) DO NOTHING"
    }

    fn bind(&self, statement: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        statement.raw_bind_parameter(1, self.device())?;
        // The same bits: every u64 is stored, none collides with another.
        statement.raw_bind_parameter(2, self.sequence().cast_signed())?;
        statement.raw_bind_parameter(3, self.timestamp_ms().cast_signed())?;
        statement.raw_bind_parameter(4, self.readings().as_bytes())
    }
}
