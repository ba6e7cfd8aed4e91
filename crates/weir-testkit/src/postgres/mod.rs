//! A throw-away PostgreSQL server for tests: [`TestServer::start`].
//!
//! Every PostgreSQL test of the workspace uses it, so that they all run
//! the same way on a developer's machine and in CI: a fresh cluster
//! (`initdb`) in a new temporary directory, a server (`pg_ctl start`)
//! listening on a free loopback port only, trust authentication for the
//! user `postgres`, stopped and deleted when the [`TestServer`] is
//! dropped. [`stop`](TestServer::stop) and
//! [`restart`](TestServer::restart) make an outage on purpose.
//!
//! # Why a server per test, and not one per machine
//!
//! A shared server makes tests depend on each other's tables and on the
//! order they run in, and an outage test cannot stop it. `initdb` takes
//! about a second here, which a test that talks to a real database can
//! afford.
//!
//! # Running as root
//!
//! PostgreSQL refuses to run as root, and CI runs as root. The harness
//! then runs `initdb` and `pg_ctl` as the `postgres` user (which Debian's
//! `postgresql` package creates) with `runuser`, in a directory it gives to
//! that user. As any other user it runs them as that user.
//!
//! # Finding the binaries
//!
//! In this order: the directory in the environment variable
//! `WEIR_PG_BIN`, the `PATH` (the binaries are symlinked into
//! `/usr/local/bin` on the project's machines), then the newest
//! `/usr/lib/postgresql/*/bin` (Debian's layout, which is not on the
//! `PATH`). When none has `initdb`, `pg_ctl` and `postgres`,
//! [`TestServer::try_start`] returns [`TestServerError::BinariesNotFound`]
//! naming the binaries, the places searched and how to install them.

mod find;

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use find::find_binaries;

/// The superuser of a test cluster (trust authentication, no password).
pub const USER: &str = "postgres";

/// The database a test cluster starts with.
pub const DATABASE: &str = "postgres";

/// How long a start or stop may take before it is an error.
const WAIT: Duration = Duration::from_secs(60);

/// Why a test server could not be started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestServerError {
    /// The PostgreSQL server binaries are not on this machine.
    #[error(
        "PostgreSQL server binaries not found: need initdb, pg_ctl and postgres in one directory; \
         searched {searched}; install them (Debian: `apt-get install -y postgresql`) or set \
         WEIR_PG_BIN to the directory that holds them"
    )]
    BinariesNotFound {
        /// The places searched, for the message.
        searched: String,
    },
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` user \
         to run it as ({0}); install Debian's postgresql package, which creates it, or run \
         `useradd --system postgres`"
    )]
    NoPostgresUser(String),
    /// Running as root, but `runuser` (util-linux), which runs the server
    /// as the `postgres` user, is not on this machine.
    #[error(
        "running as root, and PostgreSQL refuses to run as root, but `runuser` is not on the PATH \
         nor in /usr/sbin or /sbin to run it as the `postgres` user; install util-linux"
    )]
    NoRunuser,
    /// A command could not be run at all.
    #[error("could not run {command}: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{command} failed ({status}); its output:\n{output}")]
    Command {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed (and the server's log, when it was starting it).
        output: String,
    },
    /// The temporary directory could not be made or given to the `postgres` user.
    #[error("could not prepare the temporary directory for the cluster: {0}")]
    TempDir(#[source] std::io::Error),
    /// No free loopback port.
    #[error("could not find a free loopback port: {0}")]
    NoPort(#[source] std::io::Error),
}

/// A PostgreSQL server for one test, stopped and deleted on drop.
///
/// Connect with [`url`](TestServer::url) (a `key=value` connection string
/// that tokio-postgres, sqlx and psql all take) or with the parts
/// ([`host`](TestServer::host), [`port`](TestServer::port),
/// [`USER`], [`DATABASE`]). Starting blocks for about a second
/// (`initdb`); call it at the top of a test, before other work.
///
/// # Examples
///
/// ```
/// use weir_testkit::postgres::TestServer;
///
/// let mut server = TestServer::start(); // panics with the reason when it cannot
/// println!("connect with {}", server.url());
/// server.stop()?; // an outage: connections fail now
/// server.restart()?; // same port, same data
/// # Ok::<(), weir_testkit::postgres::TestServerError>(())
/// ```
pub struct TestServer {
    bin: PathBuf,
    /// `runuser`, to run the binaries as the `postgres` user (we are root).
    as_postgres: Option<PathBuf>,
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("data", &self.data_dir())
            .field("port", &self.port)
            .field("running", &self.running)
            .finish()
    }
}

/// Options of a [`TestServer`]; see [`TestServer::builder`].
///
/// # Examples
///
/// ```
/// use weir_testkit::postgres::TestServer;
///
/// // Few connection slots, to test "too many connections"; no fsync, to run fast.
/// let server = TestServer::builder().fsync(false).setting("max_connections", "5").try_start()?;
/// # Ok::<(), weir_testkit::postgres::TestServerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    fsync: bool,
    settings: Vec<(String, String)>,
}

impl Builder {
    /// Whether the server syncs its writes to disk (`fsync`); on by default,
    /// as in production, so that commit costs are real (the benchmark needs
    /// them). Tests that only check logic may turn it off to run faster.
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Any other server setting (`postgresql.conf` syntax for the value),
    /// such as `("max_connections", "10")`.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts the server; panics with the reason when it cannot (a test's
    /// usual wish). See [`try_start`](Builder::try_start).
    #[track_caller]
    pub fn start(self) -> TestServer {
        self.try_start().unwrap_or_else(|e| panic!("cannot start a PostgreSQL test server: {e}"))
    }

    /// Starts the server.
    ///
    /// # Errors
    ///
    /// [`TestServerError`]: the binaries or the `postgres` user are
    /// missing, `initdb` or `pg_ctl` failed (the error holds their output
    /// and the server's log).
    pub fn try_start(self) -> Result<TestServer, TestServerError> {
        let bin = find_binaries()?;
        let as_postgres = if running_as_root() { Some(find::runuser()?) } else { None };
        let dir = tempfile::Builder::new().prefix("weir-pg-").tempdir().map_err(TestServerError::TempDir)?;
        if as_postgres.is_some() {
            give_to_postgres(dir.path())?;
        }
        let mut server = TestServer { bin, as_postgres, dir, port: 0, running: false };
        server.init(&self)?;
        // Another process may take the port between our probe and the
        // server's bind: try a few.
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            server.write_port()?;
            match server.start_server() {
                Ok(()) => return Ok(server),
                Err(e) if server.log().contains("could not bind") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("tried at least once"))
    }
}

impl TestServer {
    /// Starts a server with fsync on; panics with the reason (missing
    /// binaries, no `postgres` user, `initdb` output) when it cannot.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::postgres::TestServer::start();
    /// assert!(server.url().contains("host=127.0.0.1"));
    /// ```
    #[track_caller]
    pub fn start() -> TestServer {
        Self::builder().start()
    }

    /// Starts a server with fsync on.
    ///
    /// # Errors
    ///
    /// See [`Builder::try_start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::postgres::{TestServer, TestServerError};
    ///
    /// match TestServer::try_start() {
    ///     Ok(server) => println!("{}", server.url()),
    ///     // The message names what is missing and how to install it.
    ///     Err(e @ TestServerError::BinariesNotFound { .. }) => eprintln!("skipped: {e}"),
    ///     Err(e) => panic!("{e}"),
    /// }
    /// ```
    pub fn try_start() -> Result<TestServer, TestServerError> {
        Self::builder().try_start()
    }

    /// Options: fsync, other settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::postgres::TestServer;
    ///
    /// let server = TestServer::builder().fsync(false).setting("max_connections", "20").start();
    /// ```
    pub fn builder() -> Builder {
        Builder { fsync: true, settings: Vec::new() }
    }

    /// A connection string: `host=127.0.0.1 port=… user=postgres dbname=postgres`.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::postgres::TestServer::start();
    /// let url = server.url(); // tokio_postgres::connect(&url, NoTls), or psql "$url"
    /// ```
    pub fn url(&self) -> String {
        format!("host={} port={} user={USER} dbname={DATABASE}", self.host(), self.port)
    }

    /// The host it listens on: `127.0.0.1`.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::postgres::TestServer::start();
    /// assert_eq!(server.host(), "127.0.0.1");
    /// ```
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port it listens on (the same after a restart).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::postgres::TestServer::start();
    /// assert_ne!(server.port(), 0);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::postgres::TestServer::start();
    /// assert!(server.data_dir().join("PG_VERSION").exists());
    /// ```
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether the server is running (not [`stop`](TestServer::stop)ped).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = weir_testkit::postgres::TestServer::start();
    /// server.stop()?;
    /// assert!(!server.is_running());
    /// # Ok::<(), weir_testkit::postgres::TestServerError>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server (`pg_ctl stop -m fast`): open connections are
    /// closed, new ones are refused, committed data stays. Does nothing
    /// when it is stopped already.
    ///
    /// # Errors
    ///
    /// [`TestServerError::Command`] when `pg_ctl` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = weir_testkit::postgres::TestServer::start();
    /// server.stop()?;
    /// # Ok::<(), weir_testkit::postgres::TestServerError>(())
    /// ```
    pub fn stop(&mut self) -> Result<(), TestServerError> {
        if self.running {
            self.pg_ctl(&["stop", "-m", "fast"])?;
            self.running = false;
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same data,
    /// stopping it first if it runs; returns when it accepts connections.
    ///
    /// # Errors
    ///
    /// [`TestServerError::Command`] when `pg_ctl` fails (with the log).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = weir_testkit::postgres::TestServer::start();
    /// server.stop()?;
    /// server.restart()?;
    /// assert!(server.is_running());
    /// # Ok::<(), weir_testkit::postgres::TestServerError>(())
    /// ```
    pub fn restart(&mut self) -> Result<(), TestServerError> {
        self.stop()?;
        self.start_server()
    }

    /// The server's log so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = weir_testkit::postgres::TestServer::start();
    /// assert!(server.log().contains("ready to accept connections"));
    /// ```
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn init(&mut self, options: &Builder) -> Result<(), TestServerError> {
        let data = self.data_dir();
        let data = data.to_str().expect("temporary paths are UTF-8");
        // --no-sync: only initdb's own final sync; the server's fsync is a setting.
        self.run(
            "initdb",
            &["-D", data, "-U", USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        )?;
        let mut conf = String::from("\n# weir TestServer\nlisten_addresses = '127.0.0.1'\n");
        conf.push_str("unix_socket_directories = ''\n");
        conf.push_str(&format!("fsync = {}\n", if options.fsync { "on" } else { "off" }));
        for (name, value) in &options.settings {
            conf.push_str(&format!("{name} = {value}\n"));
        }
        append(&self.data_dir().join("postgresql.conf"), &conf)
    }

    /// Sets the port in `postgresql.auto.conf` (the last word on settings).
    fn write_port(&self) -> Result<(), TestServerError> {
        let path = self.data_dir().join("postgresql.auto.conf");
        std::fs::write(&path, format!("port = {}\n", self.port)).map_err(TestServerError::TempDir)?;
        if self.as_postgres.is_some() {
            give_to_postgres(&path)?;
        }
        Ok(())
    }

    fn start_server(&mut self) -> Result<(), TestServerError> {
        let log = self.log_path();
        let log = log.to_str().expect("temporary paths are UTF-8").to_owned();
        let timeout = WAIT.as_secs().to_string();
        if let Err(e) = self.pg_ctl(&["start", "-w", "-t", &timeout, "-l", &log]) {
            return Err(match e {
                TestServerError::Command { command, status, output } => {
                    let output = format!("{output}\nserver log:\n{}", self.log());
                    TestServerError::Command { command, status, output }
                }
                e => e,
            });
        }
        self.running = true;
        // pg_ctl -w waits for the server to say it is ready; also wait for
        // the port, so that the first connection of a test never races.
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect((self.host(), self.port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), TestServerError> {
        let data = self.data_dir();
        let data = data.to_str().expect("temporary paths are UTF-8");
        let mut all = vec!["-D", data, "-s"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all).map(drop)
    }

    /// Runs one of the binaries, as the `postgres` user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output, TestServerError> {
        let path = self.bin.join(program);
        let (mut command, shown) = match &self.as_postgres {
            Some(runuser) => {
                let mut c = Command::new(runuser);
                c.args(["-u", USER, "--"]).arg(&path);
                (c, format!("{} -u {USER} -- {} {}", runuser.display(), path.display(), args.join(" ")))
            }
            None => (Command::new(&path), format!("{} {}", path.display(), args.join(" "))),
        };
        command.args(args).current_dir(self.dir.path()).stdin(std::process::Stdio::null());
        let output =
            command.output().map_err(|source| TestServerError::Spawn { command: shown.clone(), source })?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            return Err(TestServerError::Command {
                command: shown,
                status: output.status.to_string(),
                output: text,
            });
        }
        Ok(output)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.running {
            // Immediate: the data is deleted next, nothing needs saving.
            if let Err(e) = self.pg_ctl(&["stop", "-m", "immediate"]) {
                eprintln!("weir TestServer: could not stop the server in {}: {e}", self.data_dir().display());
            }
        }
        // The TempDir deletes the directory.
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// The uid and gid of the `postgres` user.
fn postgres_ids() -> Result<(u32, u32), TestServerError> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| TestServerError::NoPostgresUser(format!("cannot read /etc/passwd: {e}")))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&USER))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| TestServerError::NoPostgresUser("no such user in /etc/passwd".to_owned()))
}

fn give_to_postgres(path: &Path) -> Result<(), TestServerError> {
    let (uid, gid) = postgres_ids()?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(TestServerError::TempDir)
}

fn append(path: &Path, text: &str) -> Result<(), TestServerError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).map_err(TestServerError::TempDir)?;
    file.write_all(text.as_bytes()).map_err(TestServerError::TempDir)
}

fn free_port() -> Result<u16, TestServerError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(TestServerError::NoPort)?;
    Ok(listener.local_addr().map_err(TestServerError::NoPort)?.port())
}
