//! A throw-away `redis-server` per test: [`RedisServer::start`].
//!
//! Every Redis test of the workspace uses [`RedisServer`], so that they all run the
//! same way on a developer's machine and in CI: a `redis-server` child
//! process in a new temporary directory, on a free loopback port, killed
//! and deleted when the [`RedisServer`] is dropped.
//! [`stop`](RedisServer::stop) and [`restart`](RedisServer::restart) make
//! an outage on purpose.
//!
//! # Why a server per test, and not one per machine
//!
//! A shared server makes tests depend on each other's keys and on the
//! order they run in, and an outage test cannot stop it. `redis-server`
//! starts in a few milliseconds, so a server per test costs nothing.
//!
//! # Why the append-only file with `fsync` always, and a kill to stop
//!
//! Outage tests stop the server in the middle of a run, start it again
//! and count what arrived: nothing acknowledged may be lost. The server
//! runs with `--appendonly yes --appendfsync always --save ""`: every
//! write is in the append-only file, synced, before Redis answers it, and
//! there are no snapshots. So [`stop`](RedisServer::stop) can simply kill
//! the process (`SIGKILL`), which is also the harsher and more realistic
//! outage (a crash, not a polite `SHUTDOWN` that saves first), and
//! [`restart`](RedisServer::restart) finds every acknowledged write.
//!
//! # Why no Redis client here
//!
//! The harness only needs to know that the server answers, and a
//! `PING\r\n` over a [`TcpStream`](std::net::TcpStream) answered by
//! `+PONG` says that. Not choosing a client crate leaves the choice to the
//! crates under test, and keeps this crate's dependencies small.
//!
//! # Running inside a network namespace
//!
//! [`RedisServerBuilder::wrap`] puts a command prefix in front of
//! `redis-server`, typically [`Hosts::exec_prefix`](crate::netns::Hosts::exec_prefix)
//! (`ip netns exec <name>`), so that the server is one host of a
//! multi-host test. This process cannot reach a server in another
//! namespace, so the readiness check then runs through the same prefix,
//! as `<prefix> redis-cli -h <ip> -p <port> ping`. The prefix must `exec`
//! its command (as `ip netns exec`, `nsenter` and `env` do) rather than
//! keep running as its parent, so that stopping the child stops the
//! server.
//!
//! # Finding the binary
//!
//! In this order: the path in the environment variable
//! `WEIR_REDIS_SERVER`, the `PATH`, then `/usr/bin/redis-server`
//! (Debian's package). When none is there, [`RedisServer::try_start`]
//! returns [`RedisServerError::NotFound`] naming the places searched and
//! how to install it; see [`find_redis_server`].

mod builder;
mod error;
mod find;
mod ping;

use std::ffi::OsString;
use std::fmt;
use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use builder::RedisServerBuilder;
pub use error::RedisServerError;
pub use find::find_redis_server;

/// How long a start may take before it is an error.
const WAIT: Duration = Duration::from_secs(30);

/// How long a start on a given port retries while the port is still taken
/// (by the server just killed, or a test before).
const REBIND: Duration = Duration::from_secs(5);

/// How many free ports a start without a given port tries, in case
/// another process takes one between our probe and the server's bind.
const PORT_TRIES: usize = 5;

/// How many lines of the server's log an error shows.
const LOG_LINES: usize = 20;

/// A `redis-server` for one test, killed and deleted on drop.
///
/// Connect with [`url`](RedisServer::url) (`redis://127.0.0.1:<port>/`,
/// which the `redis` crate and `redis-cli -u` take) or
/// [`addr`](RedisServer::addr). Starting blocks until the server answers
/// `PING`, a few milliseconds.
///
/// # Examples
///
/// ```
/// use weir_testkit::redis::RedisServer;
///
/// let mut server = RedisServer::start(); // panics with the reason when it cannot
/// println!("connect with {}", server.url());
/// server.stop()?; // an outage: connections are refused now
/// server.restart()?; // same port, same data
/// # Ok::<(), weir_testkit::redis::RedisServerError>(())
/// ```
pub struct RedisServer {
    program: PathBuf,
    wrap: Vec<OsString>,
    bind: IpAddr,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("addr", &self.addr())
            .field("dir", &self.dir.path())
            .field("wrap", &self.wrap)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish()
    }
}

impl RedisServer {
    /// Starts a server on a free loopback port; panics with the reason
    /// (missing binary, the server's log) when it cannot.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::start();
    /// assert!(server.url().starts_with("redis://127.0.0.1:"));
    /// ```
    #[track_caller]
    pub fn start() -> RedisServer {
        Self::builder().start()
    }

    /// Starts a server on a free loopback port.
    ///
    /// # Errors
    ///
    /// See [`RedisServerBuilder::try_start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::redis::{RedisServer, RedisServerError};
    ///
    /// match RedisServer::try_start() {
    ///     Ok(server) => println!("{}", server.url()),
    ///     // The message names the places searched and how to install it.
    ///     Err(e @ RedisServerError::NotFound { .. }) => eprintln!("skipped: {e}"),
    ///     Err(e) => panic!("{e}"),
    /// }
    /// ```
    pub fn try_start() -> Result<RedisServer, RedisServerError> {
        Self::builder().try_start()
    }

    /// Options: bind address, port, command prefix.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::redis::RedisServer;
    ///
    /// let server = RedisServer::builder().bind("127.0.0.1".parse().unwrap()).start();
    /// ```
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::new()
    }

    /// The server's URL: `redis://<bind address>:<port>/` (IPv6 in
    /// brackets).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::start();
    /// assert_eq!(server.url(), format!("redis://127.0.0.1:{}/", server.port()));
    /// ```
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    /// The address and port the server listens on (the same after a
    /// restart).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::start();
    /// let stream = std::net::TcpStream::connect(server.addr())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The port the server listens on (the same after a restart).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::start();
    /// assert_ne!(server.port(), 0);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory: its append-only files (`appendonlydir/`)
    /// and its log (`redis.log`); deleted on drop.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::start();
    /// assert!(server.dir().join("redis.log").exists());
    /// ```
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (all its runs).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::redis::RedisServer::start();
    /// assert!(server.log().contains("Ready to accept connections"));
    /// ```
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the server was started and not [`stop`](RedisServer::stop)ped
    /// since. A server that died by itself still counts as running.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = weir_testkit::redis::RedisServer::start();
    /// server.stop()?;
    /// assert!(!server.is_running());
    /// # Ok::<(), weir_testkit::redis::RedisServerError>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (`SIGKILL`) and waits for it to exit: open
    /// connections break, new ones are refused, every acknowledged write
    /// stays (the append-only file is synced on every write). Does nothing
    /// when it is stopped already.
    ///
    /// # Errors
    ///
    /// [`RedisServerError::Stop`] when the process cannot be killed or
    /// waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = weir_testkit::redis::RedisServer::start();
    /// server.stop()?;
    /// assert!(std::net::TcpStream::connect(server.addr()).is_err());
    /// # Ok::<(), weir_testkit::redis::RedisServerError>(())
    /// ```
    pub fn stop(&mut self) -> Result<(), RedisServerError> {
        if let Some(child) = self.child.as_mut() {
            child.kill().map_err(RedisServerError::Stop)?;
            child.wait().map_err(RedisServerError::Stop)?;
            self.child = None;
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same directory
    /// (so the same data), stopping it first if it runs; returns when it
    /// answers `PING`. While the port is still taken it retries for a few
    /// seconds.
    ///
    /// # Errors
    ///
    /// [`RedisServerError`] as for [`RedisServerBuilder::try_start`], and
    /// [`RedisServerError::Stop`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = weir_testkit::redis::RedisServer::start();
    /// let port = server.port();
    /// server.restart()?;
    /// assert!(server.is_running());
    /// assert_eq!(server.port(), port);
    /// # Ok::<(), weir_testkit::redis::RedisServerError>(())
    /// ```
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.stop()?;
        self.launch_on_same_port()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// [`launch`](Self::launch), again while the port is taken, for [`REBIND`].
    fn launch_on_same_port(&mut self) -> Result<(), RedisServerError> {
        let deadline = Instant::now() + REBIND;
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(e) if port_taken(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Spawns the server and waits until it is ready; kills it when it is
    /// not.
    fn launch(&mut self) -> Result<(), RedisServerError> {
        let log_path = self.log_path();
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        // The server's own stderr (errors before it opens its log) goes
        // to the log too.
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(RedisServerError::TempDir)?;
        let mut command = match self.wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        command
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg(self.bind.to_string())
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", "yes", "--appendfsync", "always", "--save", ""])
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .arg("--logfile")
            .arg(&log_path)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command
            .spawn()
            .map_err(|source| RedisServerError::Spawn { command: ping::shown(&command), source })?;
        self.child = Some(child);
        let ready = self.wait_ready(log_start);
        if ready.is_err()
            && let Some(mut child) = self.child.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        ready
    }

    /// The last lines the server logged since the log was `start` bytes
    /// long (this run's).
    fn log_tail(&self, start: u64) -> String {
        let log = self.log();
        let this_run = log.get(usize::try_from(start).unwrap_or(0)..).unwrap_or(&log);
        ping::tail(this_run, LOG_LINES)
    }

    /// Polls until the server answers `PING` (see [`ping::ping`] for how),
    /// it exits, or [`WAIT`] has passed.
    fn wait_ready(&mut self, log_start: u64) -> Result<(), RedisServerError> {
        let started = Instant::now();
        let target = SocketAddr::new(reachable(self.bind), self.port);
        let cli = find::redis_cli(&self.program);
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait().map_err(RedisServerError::Stop)? {
                self.child = None;
                let tail = self.log_tail(log_start);
                return Err(RedisServerError::Exited {
                    status: status.to_string(),
                    log: self.log_path(),
                    tail,
                });
            }
            let last = match ping::ping(&self.wrap, &cli, target) {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            if started.elapsed() > WAIT {
                let tail = self.log_tail(log_start);
                return Err(RedisServerError::NotReady {
                    addr: target,
                    waited: started.elapsed(),
                    last,
                    log: self.log_path(),
                    tail,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("weir RedisServer: could not stop the server in {}: {e}", self.dir.path().display());
        }
        // The TempDir deletes the directory.
    }
}

/// Whether a launch failed because the port was taken (worth another
/// try: the previous server's socket may linger, or another process won
/// the race for a free port).
fn port_taken(e: &RedisServerError) -> bool {
    matches!(e, RedisServerError::Exited { tail, .. } if tail.contains("Address already in use"))
}

/// Where to reach a server bound to `bind` from its own host: loopback
/// for an unspecified address, else the address itself.
fn reachable(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(a) if a.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(a) if a.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        a => a,
    }
}

fn free_port(bind: IpAddr) -> Result<u16, RedisServerError> {
    let no_port = |source| RedisServerError::NoPort { bind, source };
    let listener = TcpListener::bind((bind, 0)).map_err(no_port)?;
    Ok(listener.local_addr().map_err(no_port)?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_reached_on_loopback() {
        assert_eq!(reachable(Ipv4Addr::UNSPECIFIED.into()), IpAddr::from(Ipv4Addr::LOCALHOST));
        assert_eq!(reachable(Ipv6Addr::UNSPECIFIED.into()), IpAddr::from(Ipv6Addr::LOCALHOST));
        let other: IpAddr = "10.200.1.1".parse().unwrap();
        assert_eq!(reachable(other), other);
    }

    #[test]
    fn an_address_of_another_namespace_asks_for_a_port() {
        // TEST-NET-1: not on any interface of this host.
        let e = free_port("192.0.2.1".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("RedisServerBuilder::port"), "{e}");
    }
}
