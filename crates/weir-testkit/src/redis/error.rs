//! Why a [`RedisServer`](super::RedisServer) could not be started or stopped.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Why a test server could not be started or stopped.
///
/// Every message says what happened and what to do; the ones about the
/// server itself end with the last lines of its log.
///
/// # Examples
///
/// ```
/// use weir_testkit::redis::{RedisServer, RedisServerError};
///
/// // Port 0 is no port to listen on: redis-server exits at once.
/// let e = RedisServer::builder().port(0).try_start().unwrap_err();
/// assert!(matches!(e, RedisServerError::Exited { .. } | RedisServerError::NotReady { .. }), "{e}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisServerError {
    /// `redis-server` is not on this machine.
    #[error(
        "redis-server not found: searched {searched}; install it (Debian: `apt-get install -y \
         redis-server`) or set WEIR_REDIS_SERVER to its path"
    )]
    NotFound {
        /// The places searched, for the message.
        searched: String,
    },
    /// The temporary directory or the log file could not be made.
    #[error("could not prepare the temporary directory for redis-server: {0}")]
    TempDir(#[source] std::io::Error),
    /// No free port on the bind address.
    #[error(
        "could not find a free port on {bind}: {source}; for an address that only exists inside \
         a network namespace, give the port with RedisServerBuilder::port"
    )]
    NoPort {
        /// The bind address.
        bind: IpAddr,
        /// Why binding a probe listener failed.
        #[source]
        source: std::io::Error,
    },
    /// A command could not be run at all.
    #[error("could not run {command}: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server exited while starting (a bad option, a port that stayed
    /// taken, a wrong prefix).
    #[error("redis-server exited while starting ({status}); the last lines of {}:\n{tail}", .log.display())]
    Exited {
        /// Its exit status.
        status: String,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// The server runs but did not answer `PING` in time.
    #[error(
        "redis-server did not answer PING on {addr} within {waited:?} (last answer: {last}); \
         the last lines of {}:\n{tail}", .log.display()
    )]
    NotReady {
        /// Where it was asked.
        addr: SocketAddr,
        /// How long it was asked.
        waited: Duration,
        /// What the last check got instead of `PONG`.
        last: String,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// Killing or waiting for the server process failed.
    #[error("could not stop redis-server: {0}")]
    Stop(#[source] std::io::Error),
}
