//! What a row is: its table's description and how it writes its values.

use std::fmt;

use tokio_postgres::types::Type;

use crate::writer::{EncodeError, RowWriter};

/// A value that [`PgSink`](crate::PgSink) stores as one row of a table.
///
/// Implement it for your own row type: [`table`](PgRow::table) describes
/// the table (name, columns with their PostgreSQL types, the key that makes
/// a redelivered row a duplicate), and [`write`](PgRow::write) writes the
/// row's values, one per column, in the columns' order. The values are
/// anything tokio-postgres can send (`ToSql`: integers, floats, `&str`,
/// `&[u8]`, `Option<_>` for NULL, and the types of its `with-*` features);
/// each must match its column's type (`i64` for `INT8`, `i32` for `INT4`,
/// `f64` for `FLOAT8`, `&[u8]` for `BYTEA`…).
///
/// # Examples
///
/// ```
/// use tokio_postgres::types::Type;
/// use weir_postgres::{EncodeError, PgRow, RowWriter, Table};
///
/// /// One temperature reading.
/// struct Temperature { sensor: u32, at_ms: i64, celsius: f64 }
///
/// impl PgRow for Temperature {
///     fn table() -> Table {
///         Table::new("temperatures")
///             .column("sensor", Type::INT8)
///             .column("at_ms", Type::INT8)
///             .column("celsius", Type::FLOAT8)
///             .key(["sensor", "at_ms"])
///     }
///
///     fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError> {
///         row.field(&i64::from(self.sensor))?;
///         row.field(&self.at_ms)?;
///         row.field(&self.celsius)
///     }
/// }
///
/// assert_eq!(
///     Temperature::table().create_sql(),
///     "CREATE TABLE IF NOT EXISTS \"temperatures\" (\"sensor\" int8 NOT NULL, \
///      \"at_ms\" int8 NOT NULL, \"celsius\" float8 NOT NULL, PRIMARY KEY (\"sensor\", \"at_ms\"))"
/// );
/// ```
pub trait PgRow: Send + 'static {
    /// The table this row goes to. Called once per sink.
    fn table() -> Table;

    /// Writes the row's values with [`RowWriter::field`], one per column,
    /// in the order of [`table`](PgRow::table)'s columns.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when a value does not fit its column (returned by
    /// `field`, or made with [`EncodeError::new`] for a check of your own).
    /// The batch holding the row is then refused as permanent.
    fn write(&self, row: &mut RowWriter<'_>) -> Result<(), EncodeError>;
}

/// One column of a [`Table`].
///
/// # Examples
///
/// ```
/// use tokio_postgres::types::Type;
/// use weir_postgres::Column;
///
/// let note = Column::new("note", Type::TEXT).nullable();
/// assert_eq!((note.name(), note.is_nullable()), ("note", true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    ty: Type,
    nullable: bool,
}

impl Column {
    /// A `NOT NULL` column `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Self { name: name.into(), ty, nullable: false }
    }

    /// The same column, which may hold NULL (write `None::<T>`).
    pub fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its PostgreSQL type.
    pub fn ty(&self) -> &Type {
        &self.ty
    }

    /// Whether it may hold NULL.
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }
}

/// The description of a table a [`PgRow`] goes to: its name, columns and
/// key.
///
/// The key decides idempotency: a row whose key is already in the table is
/// absorbed as a duplicate (`ON CONFLICT (key) DO NOTHING`) and counted in
/// [`PgCounters::duplicates`](crate::PgCounters::duplicates). Without a
/// key every row is inserted, so a redelivered batch is stored twice.
///
/// # Examples
///
/// ```
/// use tokio_postgres::types::Type;
/// use weir_postgres::Table;
///
/// let table = Table::new("events").column("id", Type::INT8).column("body", Type::BYTEA).key(["id"]);
/// assert_eq!(table.name(), "events");
/// assert_eq!(table.columns().len(), 2);
/// assert_eq!(table.key_columns(), ["id"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    name: String,
    columns: Vec<Column>,
    key: Vec<String>,
}

impl Table {
    /// A table `name` (optionally `schema.name`), without columns yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), columns: Vec::new(), key: Vec::new() }
    }

    /// Adds a `NOT NULL` column.
    pub fn column(self, name: impl Into<String>, ty: Type) -> Self {
        self.with_column(Column::new(name, ty))
    }

    /// Adds a column (for a [`nullable`](Column::nullable) one).
    pub fn with_column(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }

    /// Sets the key: the columns whose values identify a row.
    pub fn key<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.key = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The same table under another name (one table per tenant, per test…).
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its columns, in the order rows write their values.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Its key's columns.
    pub fn key_columns(&self) -> &[String] {
        &self.key
    }

    /// The statement that creates it when it does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_postgres::types::Type;
    /// use weir_postgres::Table;
    ///
    /// let sql = Table::new("logs.lines").column("line", Type::TEXT).create_sql();
    /// assert_eq!(sql, "CREATE TABLE IF NOT EXISTS \"logs\".\"lines\" (\"line\" text NOT NULL)");
    /// ```
    pub fn create_sql(&self) -> String {
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                format!("{} {}{null}", Ident(&c.name), c.ty.name())
            })
            .collect();
        if !self.key.is_empty() {
            parts.push(format!("PRIMARY KEY ({})", self.key_list()));
        }
        format!("CREATE TABLE IF NOT EXISTS {} ({})", QualifiedIdent(&self.name), parts.join(", "))
    }

    /// The quoted table name.
    pub(crate) fn quoted(&self) -> String {
        QualifiedIdent(&self.name).to_string()
    }

    /// The quoted column names, comma-separated.
    pub(crate) fn column_list(&self) -> String {
        self.columns.iter().map(|c| Ident(&c.name).to_string()).collect::<Vec<_>>().join(", ")
    }

    fn key_list(&self) -> String {
        self.key.iter().map(|k| Ident(k).to_string()).collect::<Vec<_>>().join(", ")
    }

    /// The staging table's name for this table (a session's temporary table).
    pub(crate) fn staging(&self) -> String {
        let base: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        Ident(&format!("weir_staging_{base}")).to_string()
    }

    /// `INSERT … SELECT … FROM staging`, absorbing rows whose key exists.
    pub(crate) fn insert_sql(&self) -> String {
        let cols = self.column_list();
        let conflict = if self.key.is_empty() {
            String::new()
        } else {
            format!(" ON CONFLICT ({}) DO NOTHING", self.key_list())
        };
        format!("INSERT INTO {} ({cols}) SELECT {cols} FROM {}{conflict}", self.quoted(), self.staging())
    }
}

/// An identifier, double-quoted.
struct Ident<'a>(&'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// `schema.name` or `name`, each part quoted.
struct QualifiedIdent<'a>(&'a str);

impl fmt::Display for QualifiedIdent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.split('.').map(|p| Ident(p).to_string()).collect();
        f.write_str(&parts.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_names() {
        let t = Table::new("odd\"name").column("a b", Type::INT4).key(["a b"]);
        assert_eq!(t.quoted(), "\"odd\"\"name\"");
        assert_eq!(t.staging(), "\"weir_staging_odd_name\"");
        assert_eq!(
            t.insert_sql(),
            "INSERT INTO \"odd\"\"name\" (\"a b\") SELECT \"a b\" FROM \"weir_staging_odd_name\" ON CONFLICT (\"a b\") DO NOTHING"
        );
    }

    #[test]
    fn without_a_key_rows_are_appended() {
        let t = Table::new("t").column("x", Type::INT8);
        assert!(!t.insert_sql().contains("ON CONFLICT"));
        assert!(!t.create_sql().contains("PRIMARY KEY"));
    }
}
