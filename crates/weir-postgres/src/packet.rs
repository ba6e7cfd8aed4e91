//! The ingest job's row: a [`Packet`] in the table `packets`.

use tokio_postgres::types::Type;
use weir_packet::Packet;

use crate::row::{PgRow, Table};
use crate::writer::{EncodeError, RowWriter};

/// A [`Packet`] is one row of the table `packets`, keyed on
/// `(device, sequence)`:
///
/// | column | type | value |
/// |---|---|---|
/// | `device` | `int8` | the device id (a `u32`, so always positive) |
/// | `sequence` | `int8` | the sequence number's 64 bits, as a signed integer |
/// | `timestamp_ms` | `int8` | the timestamp's 64 bits, as a signed integer |
/// | `readings` | `bytea` | the readings as encoded in the frame: 5 bytes each, a sensor id and a big-endian `f32` |
///
/// PostgreSQL has no unsigned 64-bit integer: `sequence` and
/// `timestamp_ms` are stored as the `int8` with the same bits (`value as
/// i64`), so every packet stores, and reads back exactly with `as u64`;
/// values from 2^63 up (no real timestamp, and no sequence counter in
/// practice) read as negative in SQL. Readings stay one `bytea` rather
/// than columns because a packet carries from 0 to 64 of them.
///
/// # Examples
///
/// ```
/// use weir_packet::Packet;
/// use weir_postgres::PgRow;
///
/// let table = Packet::table();
/// assert_eq!(table.name(), "packets");
/// assert_eq!(table.key_columns(), ["device", "sequence"]);
/// ```
impl PgRow for Packet {
    fn table() -> Table {
        Table::new("packets")
            .column("device", Type::INT8)
            .column("sequence", Type::INT8)
            .column("timestamp_ms", Type::INT8)
            .column("readings", Type::BYTEA)
            .key(["device", "sequence"])
    }

    fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
        row.field(&i64::from(self.device()))?;
        // The same 64 bits: see the table above.
        row.field(&(self.sequence() as i64))?;
        row.field(&(self.timestamp_ms() as i64))?;
        row.field(&self.readings().as_bytes())
    }
}
