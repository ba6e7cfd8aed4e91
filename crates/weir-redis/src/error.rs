//! The errors of the Redis source and sink.

use std::time::Duration;

use weir_core::{Classify, ErrorClass};

/// Why a Redis command failed, or why the source or sink gave up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// A connection to Redis could not be opened.
    #[error(
        "cannot connect to Redis at {url}: {source}; check the URL and that redis-server is running and reachable"
    )]
    Connect {
        /// The server, as configured.
        url: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A command failed (the connection dropped, the server refused it).
    #[error("Redis {command} failed: {source}")]
    Command {
        /// The command's name.
        command: &'static str,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A reply that is not what the command returns; the server is not a
    /// Redis of version 7 or later, or the key is not a stream.
    #[error(
        "Redis {command} replied {reply}, which is not what it returns; use Redis 7 or later and a key that holds a stream"
    )]
    Reply {
        /// The command's name.
        command: &'static str,
        /// The reply, shortened.
        reply: String,
    },
    /// The consumer group (or its stream) disappeared while the source
    /// ran: deleted, or Redis restarted without persistence.
    #[error(
        "the consumer group {group:?} of stream {stream:?} is gone (deleted, or Redis restarted without \
         persistence), and with it the record of what was delivered and acknowledged; start the consumers \
         again to create it (from the source's start id), and run Redis with appendonly yes"
    )]
    GroupGone {
        /// The stream.
        stream: String,
        /// The group.
        group: String,
        /// Redis's answer (NOGROUP).
        #[source]
        source: redis::RedisError,
    },
    /// A [`RedisSink`](crate::RedisSink)'s encoding function wrote no
    /// field for an item; XADD needs at least one.
    #[error("the encoding function wrote no field for this item; an XADD needs at least one field")]
    NoFields,
    /// Reconnecting kept failing until the reconnect policy gave up.
    #[error(
        "gave up reaching Redis at {url} after {attempts} attempts over {elapsed:?}; last error: {last}; \
         start redis-server, or allow a longer outage with a reconnect policy's max_elapsed"
    )]
    GaveUp {
        /// The server, as configured.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time from the first failure to giving up.
        elapsed: Duration,
        /// The last error.
        last: Box<RedisError>,
    },
}

impl RedisError {
    pub(crate) fn reply(command: &'static str, reply: &redis::Value) -> Self {
        let mut reply = format!("{reply:?}");
        if reply.len() > 200 {
            let mut end = 200;
            while !reply.is_char_boundary(end) {
                end -= 1;
            }
            reply.truncate(end);
            reply.push('…');
        }
        Self::Reply { command, reply }
    }

    /// Whether reconnecting may help: the connection failed, timed out or
    /// dropped, or the server is loading or failing over. A refused
    /// password or a bad client setting is not: it fails at once.
    pub fn is_connection_error(&self) -> bool {
        match self {
            Self::Connect { source, .. } => {
                !refused(source) && source.kind() != redis::ErrorKind::InvalidClientConfig
            }
            Self::Command { source, .. } => {
                !refused(source)
                    && (source.is_io_error()
                        || source.is_timeout()
                        || source.is_connection_dropped()
                        || source.is_unrecoverable_error()
                        || matches!(source.code(), Some("LOADING" | "TRYAGAIN" | "MASTERDOWN" | "READONLY")))
            }
            Self::Reply { .. } | Self::NoFields | Self::GroupGone { .. } | Self::GaveUp { .. } => false,
        }
    }
}

/// The server refused who we are (a wrong or missing password, no
/// permission): a new connection gets the same answer.
fn refused(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}

/// A connection error is [`Transient`](ErrorClass::Transient) (retry);
/// anything else, such as a wrong key type, is
/// [`Permanent`](ErrorClass::Permanent).
impl Classify for RedisError {
    fn class(&self) -> ErrorClass {
        if self.is_connection_error() { ErrorClass::Transient } else { ErrorClass::Permanent }
    }
}
