//! PostgreSQL's binary COPY format, written row by row into one buffer.

use std::fmt;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{IsNull, ToSql};

use crate::row::{Column, PgRow};

/// The binary COPY signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Writes one row's values; given to [`PgRow::write`].
///
/// Each [`field`](RowWriter::field) call encodes the next column's value
/// in PostgreSQL's binary COPY format, checked against the column's type.
/// Encoding is synchronous and goes into one buffer for the whole batch,
/// sent in a single COPY.
///
/// # Examples
///
/// ```
/// use tokio_postgres::types::Type;
/// use weir_postgres::{EncodeError, PgRow, RowWriter, Table};
///
/// struct Note(i64, Option<String>);
///
/// impl PgRow for Note {
///     fn table() -> Table {
///         Table::new("notes")
///             .column("id", Type::INT8)
///             .with_column(weir_postgres::Column::new("text", Type::TEXT).nullable())
///             .key(["id"])
///     }
///     fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
///         row.field(&self.0)?;
///         row.field(&self.1) // None is NULL
///     }
/// }
/// ```
pub struct RowWriter<'a> {
    columns: &'a [Column],
    buf: &'a mut BytesMut,
    next: usize,
}

impl fmt::Debug for RowWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowWriter").field("next_column", &self.next).finish_non_exhaustive()
    }
}

impl RowWriter<'_> {
    /// Writes the next column's value.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when the row has more values than the table has
    /// columns, or the value's Rust type does not match the column's type
    /// (or cannot encode this value).
    pub fn field<T: ToSql + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        let Some(column) = self.columns.get(self.next) else {
            return Err(EncodeError::new(format!(
                "the row writes more values than the table's {} columns",
                self.columns.len()
            )));
        };
        self.next += 1;
        let at = self.buf.len();
        self.buf.put_i32(0);
        match value.to_sql_checked(column.ty(), self.buf) {
            Ok(IsNull::No) => {
                let len = self.buf.len() - at - 4;
                let len = i32::try_from(len).map_err(|_| {
                    EncodeError::new(format!(
                        "column {}: a value of {len} bytes is over PostgreSQL's 1 GiB",
                        column.name()
                    ))
                })?;
                self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            Ok(IsNull::Yes) if column.is_nullable() => {
                self.buf[at..at + 4].copy_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
            Ok(IsNull::Yes) => {
                Err(EncodeError::new(format!("column {} is NOT NULL, and the row wrote NULL", column.name())))
            }
            Err(source) => Err(EncodeError {
                message: format!("column {} ({}): cannot encode the value", column.name(), column.ty()),
                source: Some(source),
            }),
        }
    }
}

/// A row value that does not fit its column; see [`RowWriter::field`].
///
/// # Examples
///
/// ```
/// let err = weir_postgres::EncodeError::new("sequence 2^63 does not fit an int8");
/// assert_eq!(err.to_string(), "sequence 2^63 does not fit an int8");
/// ```
pub struct EncodeError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl EncodeError {
    /// An error with this message, for a check of a row's own (a value out
    /// of the range its column can hold).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
}

impl fmt::Debug for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeError").field("message", &self.message).field("source", &self.source).finish()
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Encodes `rows` as one binary COPY stream into `buf` (cleared first).
pub(crate) fn encode<R: PgRow>(
    columns: &[Column],
    rows: &[R],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    buf.clear();
    buf.extend_from_slice(HEADER);
    let fields = i16::try_from(columns.len())
        .map_err(|_| EncodeError::new(format!("{} columns: PostgreSQL takes at most 1600", columns.len())))?;
    for (index, row) in rows.iter().enumerate() {
        buf.put_i16(fields);
        let mut writer = RowWriter { columns, buf, next: 0 };
        row.write(&mut writer).map_err(|e| e.in_row(index))?;
        if writer.next != columns.len() {
            let wrote = writer.next;
            return Err(EncodeError::new(format!(
                "the row wrote {wrote} values for {} columns",
                columns.len()
            ))
            .in_row(index));
        }
    }
    buf.put_i16(-1);
    Ok(())
}

impl EncodeError {
    fn in_row(mut self, index: usize) -> Self {
        self.message = format!("row {index} of the batch: {}", self.message);
        self
    }
}

#[cfg(test)]
mod tests {
    use tokio_postgres::types::Type;

    use super::*;
    use crate::Table;

    struct Pair(i64, Option<&'static str>);

    impl PgRow for Pair {
        fn table() -> Table {
            Table::new("pairs").column("a", Type::INT8).with_column(Column::new("b", Type::TEXT).nullable())
        }
        fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
            row.field(&self.0)?;
            row.field(&self.1)
        }
    }

    #[test]
    fn the_binary_copy_layout() {
        let table = Pair::table();
        let mut buf = BytesMut::new();
        encode(table.columns(), &[Pair(1, Some("x")), Pair(2, None)], &mut buf).unwrap();
        let mut expected = HEADER.to_vec();
        expected.extend_from_slice(&[0, 2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, b'x']);
        expected.extend_from_slice(&[0, 2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(&buf[..], &expected[..]);
    }

    struct Wrong;

    impl PgRow for Wrong {
        fn table() -> Table {
            Table::new("t").column("a", Type::INT8).column("b", Type::INT8)
        }
        fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
            row.field(&1i32) // an i32 for an int8, and one value short
        }
    }

    #[test]
    fn a_wrong_type_names_the_row_and_column() {
        let mut buf = BytesMut::new();
        let err = encode(Wrong::table().columns(), &[Wrong], &mut buf).unwrap_err();
        assert!(err.to_string().starts_with("row 0 of the batch: column a (int8): cannot encode"), "{err}");
    }

    struct Null;

    impl PgRow for Null {
        fn table() -> Table {
            Table::new("t").column("a", Type::TEXT)
        }
        fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
            row.field(&None::<&str>)
        }
    }

    #[test]
    fn null_in_a_not_null_column_is_refused() {
        let mut buf = BytesMut::new();
        let err = encode(Null::table().columns(), &[Null], &mut buf).unwrap_err();
        assert_eq!(err.to_string(), "row 0 of the batch: column a is NOT NULL, and the row wrote NULL");
    }
}
