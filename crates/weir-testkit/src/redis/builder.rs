//! The options of a [`RedisServer`]: bind address, port, command prefix.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};

use super::{PORT_TRIES, RedisServer, RedisServerError, find_redis_server, free_port, port_taken};

/// Options of a [`RedisServer`]; see [`RedisServer::builder`].
///
/// # Examples
///
/// ```
/// use weir_testkit::redis::RedisServer;
///
/// let server = RedisServer::builder().bind("127.0.0.1".parse().unwrap()).try_start()?;
/// assert!(server.url().starts_with("redis://127.0.0.1:"));
/// # Ok::<(), weir_testkit::redis::RedisServerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedisServerBuilder {
    bind: IpAddr,
    port: Option<u16>,
    wrap: Vec<OsString>,
}

impl RedisServerBuilder {
    /// Loopback, a free port, no prefix.
    pub(super) fn new() -> Self {
        RedisServerBuilder { bind: IpAddr::V4(Ipv4Addr::LOCALHOST), port: None, wrap: Vec::new() }
    }

    /// The address to listen on; `127.0.0.1` by default. An unspecified
    /// address (`0.0.0.0`) listens on every interface of the host (or
    /// namespace), and readiness is then checked on loopback.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use weir_testkit::redis::RedisServer;
    ///
    /// let server = RedisServer::builder().bind(Ipv4Addr::LOCALHOST.into()).start();
    /// assert_eq!(server.addr().ip(), Ipv4Addr::LOCALHOST);
    /// ```
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The port to listen on. By default a free one: the port a listener
    /// bound to port 0 on the bind address got, closed again before the
    /// server starts. Give one when the bind address only exists inside a
    /// network namespace (see [`wrap`](RedisServerBuilder::wrap)), where
    /// this process cannot probe.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::redis::RedisServer;
    ///
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let server = RedisServer::builder().port(port).start();
    /// assert_eq!(server.port(), port);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// A command prefix to run `redis-server` (and the readiness check's
    /// `redis-cli`) with, such as `["ip", "netns", "exec", "weir-r"]` to run
    /// it inside a network namespace. The prefix must `exec` the command
    /// it is given; see the [module docs](super).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::redis::RedisServer;
    ///
    /// // `env` runs its command in place, like `ip netns exec`.
    /// let server = RedisServer::builder().wrap(["env"]).start();
    /// assert!(server.is_running());
    /// ```
    pub fn wrap(mut self, prefix: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        self.wrap = prefix.into_iter().map(Into::into).collect();
        self
    }

    /// Starts the server; panics with the reason when it cannot (a test's
    /// usual wish). See [`try_start`](RedisServerBuilder::try_start).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::builder().start();
    /// ```
    #[track_caller]
    pub fn start(self) -> RedisServer {
        self.try_start().unwrap_or_else(|e| panic!("cannot start a redis-server for the test: {e}"))
    }

    /// Starts the server and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// [`RedisServerError`]: the binary is missing, no port is free, the
    /// server exited or did not answer within 30 s (the error holds the
    /// end of its log).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::builder().try_start()?;
    /// # Ok::<(), weir_testkit::redis::RedisServerError>(())
    /// ```
    pub fn try_start(self) -> Result<RedisServer, RedisServerError> {
        let program = find_redis_server()?;
        let dir =
            tempfile::Builder::new().prefix("weir-redis-").tempdir().map_err(RedisServerError::TempDir)?;
        let mut server = RedisServer { program, wrap: self.wrap, bind: self.bind, port: 0, dir, child: None };
        if let Some(port) = self.port {
            server.port = port;
            server.launch_on_same_port()?;
            return Ok(server);
        }
        let mut last = None;
        for _ in 0..PORT_TRIES {
            server.port = free_port(server.bind)?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) if port_taken(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("tried at least once"))
    }
}
