//! Why a batch was not stored, and whether trying it again can help.

use tokio_postgres::error::SqlState;
use weir_core::{Classify, ErrorClass};

use crate::writer::EncodeError;

/// Why [`PgSink`](crate::PgSink) could not connect or store a batch.
///
/// Each variant is [`Transient`](ErrorClass::Transient) (a retry layer
/// tries the batch again: the connection was lost or refused, a
/// serialization failure `40001`, a deadlock `40P01`, too many connections
/// `53300`) or [`Permanent`](ErrorClass::Permanent) (anything else: the
/// same batch will fail the same way, so it goes to dead letters); see
/// [`PgError::class`]. A failed batch is always given back whole: its
/// transaction was rolled back, so nothing of it is stored unless the
/// connection was lost while the commit was under way, in which case the
/// retry's rows are absorbed as duplicates on the table's key.
///
/// # Examples
///
/// ```
/// use weir_core::ErrorClass;
/// use weir_postgres::{PgError, PgSink, Table};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A row type of one int8 column.
/// # struct Id(i64);
/// # impl weir_postgres::PgRow for Id {
/// #     fn table() -> Table { Table::new("ids").column("id", tokio_postgres::types::Type::INT8) }
/// #     fn write(&self, row: &mut weir_postgres::RowWriter<'_>) -> Result<(), weir_postgres::EncodeError> {
/// #         row.field(&self.0)
/// #     }
/// # }
/// let err = PgSink::<Id>::builder("port=not-a-number").connect().await.unwrap_err();
/// assert!(matches!(err, PgError::Config(_)));
/// assert_eq!(err.class(), ErrorClass::Permanent);
/// assert!(err.to_string().starts_with("invalid PostgreSQL connection string"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection string does not parse.
    #[error(
        "invalid PostgreSQL connection string: {0}; write it as `host=H port=P user=U dbname=D` \
         or `postgresql://U@H:P/D`"
    )]
    Config(#[source] tokio_postgres::Error),
    /// The server could not be reached, or refused the connection for a
    /// reason that may pass (starting up, too many connections); transient.
    #[error(
        "cannot connect to PostgreSQL: {0}; is the server up and reachable? the batch is kept for a retry"
    )]
    Unreachable(#[source] tokio_postgres::Error),
    /// The server refused the connection for good (bad password, no such
    /// database or user); permanent.
    #[error(
        "PostgreSQL refused the connection: {0}; check the user, password and database in the connection string"
    )]
    Refused(#[source] tokio_postgres::Error),
    /// The connection was lost while storing a batch (the server stopped
    /// or restarted, the network failed); transient. The sink reconnects
    /// on the next batch.
    #[error("the connection to PostgreSQL was lost: {0}; the batch was rolled back and is kept for a retry")]
    ConnectionLost(#[source] tokio_postgres::Error),
    /// `40001`: the transaction could not be serialized with a concurrent
    /// one; transient.
    #[error("serialization failure (40001): {0}; retry the batch")]
    SerializationFailure(#[source] tokio_postgres::Error),
    /// `40P01`: the transaction was chosen as a deadlock victim; transient.
    #[error("deadlock detected (40P01): {0}; retry the batch")]
    Deadlock(#[source] tokio_postgres::Error),
    /// `53300`: the server has no connection slot free; transient.
    #[error(
        "too many connections to PostgreSQL (53300): {0}; retry later, or raise max_connections \
         or use fewer clients"
    )]
    TooManyConnections(#[source] tokio_postgres::Error),
    /// The server rejected the statements (a constraint, a table whose
    /// columns differ from the row's description, permissions); permanent.
    #[error(
        "PostgreSQL rejected the batch (SQLSTATE {code}): {source}; retrying will not help: fix \
         the rows or the table, then replay the dead letters"
    )]
    Rejected {
        /// The SQLSTATE code.
        code: String,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A row's value does not fit its column; permanent.
    #[error("a row cannot be encoded: {0}; fix the row type's `PgRow::write` or its table description")]
    Encode(#[source] EncodeError),
}

impl PgError {
    /// Whether trying the batch again may help; see [`PgError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::ErrorClass;
    /// use weir_postgres::{EncodeError, PgError};
    ///
    /// assert_eq!(PgError::Encode(EncodeError::new("too big")).class(), ErrorClass::Permanent);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            PgError::Unreachable(_)
            | PgError::ConnectionLost(_)
            | PgError::SerializationFailure(_)
            | PgError::Deadlock(_)
            | PgError::TooManyConnections(_) => ErrorClass::Transient,
            PgError::Config(_) | PgError::Refused(_) | PgError::Rejected { .. } | PgError::Encode(_) => {
                ErrorClass::Permanent
            }
        }
    }

    /// Whether the connection is gone after this error (the sink then
    /// reconnects before the next batch).
    pub(crate) fn lost_connection(&self) -> bool {
        matches!(self, PgError::Unreachable(_) | PgError::ConnectionLost(_) | PgError::Refused(_))
    }

    /// Classifies an error of a statement on an open connection.
    pub(crate) fn from_statement(error: tokio_postgres::Error) -> PgError {
        let Some(code) = error.code().cloned() else {
            // No SQLSTATE: an I/O error, a closed connection, a protocol
            // error. The connection cannot be trusted any more either way.
            return PgError::ConnectionLost(error);
        };
        match code {
            SqlState::T_R_SERIALIZATION_FAILURE => PgError::SerializationFailure(error),
            SqlState::T_R_DEADLOCK_DETECTED => PgError::Deadlock(error),
            SqlState::TOO_MANY_CONNECTIONS => PgError::TooManyConnections(error),
            ref c if connection_gone(c) => PgError::ConnectionLost(error),
            c => PgError::Rejected { code: c.code().to_owned(), source: error },
        }
    }

    /// Classifies an error while connecting.
    pub(crate) fn from_connect(error: tokio_postgres::Error) -> PgError {
        match error.code().cloned() {
            None => PgError::Unreachable(error),
            Some(SqlState::TOO_MANY_CONNECTIONS) => PgError::TooManyConnections(error),
            Some(ref c) if connection_gone(c) => PgError::Unreachable(error),
            Some(_) => PgError::Refused(error),
        }
    }
}

/// SQLSTATEs that mean the connection is gone or cannot be had yet: class
/// 08 (connection exception) and the shutdowns of class 57 (the server is
/// stopping, crashed, or still starting up).
fn connection_gone(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(code)
}

impl Classify for PgError {
    fn class(&self) -> ErrorClass {
        PgError::class(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_and_connection_codes_mean_the_connection_is_gone() {
        for code in [SqlState::ADMIN_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW, SqlState::CONNECTION_FAILURE] {
            assert!(connection_gone(&code), "{}", code.code());
        }
        for code in
            [SqlState::UNIQUE_VIOLATION, SqlState::T_R_SERIALIZATION_FAILURE, SqlState::UNDEFINED_TABLE]
        {
            assert!(!connection_gone(&code), "{}", code.code());
        }
    }
}
