//! Network namespaces for tests that need several hosts: [`Hosts::star`].
//!
//! A test of a distributed setup (a pipeline on one host writing to a
//! Redis on another, a client cut off from its server) needs hosts with
//! their own addresses and links that can be cut. Linux network
//! namespaces give that on one machine, in milliseconds: each namespace
//! has its own interfaces, addresses, routes and ports, and a virtual
//! Ethernet pair (veth) joins two of them like a cable.
//!
//! # Why namespaces, and not loopback aliases or containers
//!
//! Loopback aliases (`127.0.0.2`, `127.0.0.3`) are one host: every
//! address reaches every port, and no link can be cut between two of
//! them. Containers (Docker, compose) need a daemon, images and seconds
//! per host, and CI would have to allow them. A namespace needs only
//! root and iproute2's `ip`, which CI has, and any program runs in it
//! unchanged with `ip netns exec <name>` ([`Hosts::command`]), including
//! a [`RedisServer`](crate::redis::RedisServer) through
//! [`RedisServerBuilder::wrap`](crate::redis::RedisServerBuilder::wrap).
//!
//! # The star
//!
//! [`Hosts::star`] makes one hub and some leaves, each a namespace, and
//! joins every leaf to the hub with its own veth pair. Leaf `i` (from 0,
//! in the order given) gets the network `10.200.{i+1}.0/24`: the hub is
//! `10.200.{i+1}.1` on it ([`Hosts::hub_addr_for`]), the leaf
//! `10.200.{i+1}.2` ([`Hosts::addr`]). The hub forwards between its links
//! and every leaf routes through it by default, so leaves reach each
//! other too. The interface is called `hub` in a leaf and `leaf{i+1}` in
//! the hub, so that a test can cut a link with
//! `hosts.command(leaf, "ip").args(["link", "set", "hub", "down"])`.
//!
//! These addresses exist only inside the namespaces a [`Hosts`] makes:
//! nothing is added to the namespace this process runs in, and no link or
//! route leads to it, so a test can neither disturb the machine's network
//! nor be reached from it. Each [`Hosts`] prefixes its namespaces' names
//! with a tag of its own (`weir-{pid}-{n}-`), so tests running in
//! parallel, in one process or several, never share a namespace.
//!
//! # Cleaning up
//!
//! Dropping a [`Hosts`] deletes its namespaces (`ip netns del`), also
//! when the test panicked, and with them their links. A star that fails
//! halfway deletes what it made before returning the error. Stop the
//! programs running in the namespaces first (declare the [`Hosts`] before
//! the servers, so that the servers drop first): a namespace outlives its name
//! while a process still runs in it.
//!
//! # Root
//!
//! Making namespaces and links needs root (`CAP_SYS_ADMIN` and
//! `CAP_NET_ADMIN`). Not root, [`Hosts::star`] returns
//! [`NetnsError::NotRoot`] at once, and a test that unwraps it fails with
//! that message rather than being skipped: CI runs as root, so a skipped
//! multi-host test would only hide that it never ran.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Numbers the stars of this process, for unique namespace names.
static NEXT_STAR: AtomicU32 = AtomicU32::new(0);

/// The most leaves a star has: one `10.200.{i+1}.0/24` network each.
pub const MAX_LEAVES: usize = 254;

/// The longest host name; namespace names stay short enough to read.
const MAX_NAME: usize = 32;

/// Why a set of network namespaces could not be made.
///
/// Every message says what happened and what to do.
///
/// # Examples
///
/// ```
/// use weir_testkit::netns::{Hosts, NetnsError};
///
/// // Names are checked before anything is made (and before the root check).
/// let e = Hosts::star("r", &["a", "a"]).unwrap_err();
/// assert!(matches!(e, NetnsError::InvalidHost { .. }));
/// assert!(e.to_string().contains("its own name"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// The process is not root.
    #[error(
        "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`, and \
         this process is not root; run the test as root (CI does), for example in a container"
    )]
    NotRoot,
    /// iproute2's `ip` is not on this machine.
    #[error(
        "network namespaces need root and iproute2's `ip`, and `ip` was not found (searched \
         {searched}); install it (Debian: `apt-get install -y iproute2`)"
    )]
    IpNotFound {
        /// The places searched, for the message.
        searched: String,
    },
    /// A host name that cannot be used.
    #[error("host name {name:?} cannot be used: {reason}")]
    InvalidHost {
        /// The name.
        name: String,
        /// Why not.
        reason: String,
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
    /// A command ran and failed.
    #[error("{command} failed ({status}): {stderr}; network namespaces need root and iproute2's `ip`")]
    Command {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Hosts of a multi-host test, each a network namespace; deleted on drop.
///
/// See the [module docs](self) for the addresses and names.
///
/// # Examples
///
/// ```no_run
/// use weir_testkit::netns::Hosts;
/// use weir_testkit::redis::RedisServer;
///
/// let hosts = Hosts::star("r", &["a", "b"])?;
/// // A Redis on the hub, on every interface of its namespace.
/// let redis = RedisServer::builder()
///     .bind("0.0.0.0".parse().unwrap())
///     .port(6390)
///     .wrap(hosts.exec_prefix("r"))
///     .start();
/// // Leaf "a" reaches it at the hub's address on its link.
/// let out = hosts
///     .command("a", "redis-cli")
///     .args(["-h", &hosts.hub_addr_for("a").to_string(), "-p", "6390", "ping"])
///     .output()?;
/// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Hosts {
    ip: PathBuf,
    tag: String,
    /// Every host and its namespace's name, the hub first.
    hosts: Vec<(String, String)>,
    /// The namespaces made so far, deleted on drop.
    created: Vec<String>,
}

impl fmt::Debug for Hosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hosts").field("tag", &self.tag).field("hosts", &self.hosts).finish()
    }
}

impl Hosts {
    /// Makes a hub and leaves, each in its own network namespace, every
    /// leaf joined to the hub by a link of its own; see the
    /// [module docs](self) for the addresses.
    ///
    /// Host names are short (up to 32 characters) and made of ASCII
    /// letters, digits, `-` and `_`; they must differ from each other.
    ///
    /// # Errors
    ///
    /// [`NetnsError::InvalidHost`] for a bad or repeated name or more than
    /// [`MAX_LEAVES`] leaves; [`NetnsError::NotRoot`];
    /// [`NetnsError::IpNotFound`]; [`NetnsError::Command`] with the
    /// failing `ip` command and its stderr (what was made is deleted
    /// again).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hosts = weir_testkit::netns::Hosts::star("hub", &["client", "server"])?;
    /// assert_eq!(hosts.addr("server").to_string(), "10.200.2.2");
    /// # Ok::<(), weir_testkit::netns::NetnsError>(())
    /// ```
    pub fn star(hub: &str, leaves: &[&str]) -> Result<Hosts, NetnsError> {
        check_names(hub, leaves)?;
        if !running_as_root() {
            return Err(NetnsError::NotRoot);
        }
        let ip = find_ip()?;
        let tag = format!("weir-{}-{}", std::process::id(), NEXT_STAR.fetch_add(1, Ordering::Relaxed));
        let names = std::iter::once(hub).chain(leaves.iter().copied());
        let hosts = names.map(|h| (h.to_owned(), format!("{tag}-{h}"))).collect();
        let mut hosts = Hosts { ip, tag, hosts, created: Vec::new() };
        // On an error `hosts` drops here, deleting what was made.
        let hub_ns = hosts.namespace(hub).to_owned();
        hosts.add_namespace(&hub_ns)?;
        // Forwarding in the hub only (`/proc/sys/net` is per namespace),
        // so that leaves reach each other through it.
        hosts.ip(&["netns", "exec", &hub_ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
        for (i, &leaf) in leaves.iter().enumerate() {
            let leaf_ns = hosts.namespace(leaf).to_owned();
            hosts.add_namespace(&leaf_ns)?;
            let hub_if = format!("leaf{}", i + 1);
            let (hub_ip, leaf_ip) = (hub_addr(i).to_string(), leaf_addr(i).to_string());
            // Both ends are made in their namespaces directly, never in
            // ours, so parallel stars cannot clash on interface names.
            hosts.ip(&[
                "link", "add", "hub", "netns", &leaf_ns, "type", "veth", "peer", "name", &hub_if, "netns",
                &hub_ns,
            ])?;
            hosts.ip(&["-n", &leaf_ns, "addr", "add", &format!("{leaf_ip}/24"), "dev", "hub"])?;
            hosts.ip(&["-n", &hub_ns, "addr", "add", &format!("{hub_ip}/24"), "dev", &hub_if])?;
            hosts.ip(&["-n", &leaf_ns, "link", "set", "hub", "up"])?;
            hosts.ip(&["-n", &hub_ns, "link", "set", &hub_if, "up"])?;
            hosts.ip(&["-n", &leaf_ns, "route", "add", "default", "via", &hub_ip])?;
        }
        Ok(hosts)
    }

    /// The hub's address on `leaf`'s link: `10.200.{i+1}.1` for the
    /// `i`th leaf. This is where the leaf reaches a server on the hub.
    ///
    /// # Panics
    ///
    /// When `leaf` is not a leaf of this star.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hosts = weir_testkit::netns::Hosts::star("r", &["a", "b"])?;
    /// assert_eq!(hosts.hub_addr_for("b").to_string(), "10.200.2.1");
    /// # Ok::<(), weir_testkit::netns::NetnsError>(())
    /// ```
    #[track_caller]
    pub fn hub_addr_for(&self, leaf: &str) -> IpAddr {
        hub_addr(self.leaf_index(leaf)).into()
    }

    /// `leaf`'s address: `10.200.{i+1}.2` for the `i`th leaf.
    ///
    /// # Panics
    ///
    /// When `leaf` is not a leaf of this star; the hub has one address per
    /// leaf, see [`hub_addr_for`](Hosts::hub_addr_for).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hosts = weir_testkit::netns::Hosts::star("r", &["a", "b"])?;
    /// assert_eq!(hosts.addr("a").to_string(), "10.200.1.2");
    /// # Ok::<(), weir_testkit::netns::NetnsError>(())
    /// ```
    #[track_caller]
    pub fn addr(&self, leaf: &str) -> IpAddr {
        leaf_addr(self.leaf_index(leaf)).into()
    }

    /// The name of `host`'s namespace, `weir-{pid}-{n}-{host}`, for `ip -n`
    /// and `ip netns exec`.
    ///
    /// # Panics
    ///
    /// When `host` is neither the hub nor a leaf of this star.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hosts = weir_testkit::netns::Hosts::star("r", &["a"])?;
    /// assert!(hosts.namespace("a").ends_with("-a"));
    /// # Ok::<(), weir_testkit::netns::NetnsError>(())
    /// ```
    #[track_caller]
    pub fn namespace(&self, host: &str) -> &str {
        match self.hosts.iter().find(|(h, _)| h == host) {
            Some((_, ns)) => ns,
            None => panic!("{host:?} is not a host of this star: {:?}", self.host_names()),
        }
    }

    /// The command prefix that runs a program in `host`'s namespace:
    /// `[<path of ip>, "netns", "exec", <namespace>]`. Give it to
    /// [`RedisServerBuilder::wrap`](crate::redis::RedisServerBuilder::wrap),
    /// or to anything else that takes a prefix.
    ///
    /// # Panics
    ///
    /// When `host` is neither the hub nor a leaf of this star.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hosts = weir_testkit::netns::Hosts::star("r", &["a"])?;
    /// let prefix = hosts.exec_prefix("r");
    /// assert_eq!(prefix[1..3], ["netns", "exec"]);
    /// # Ok::<(), weir_testkit::netns::NetnsError>(())
    /// ```
    #[track_caller]
    pub fn exec_prefix(&self, host: &str) -> Vec<OsString> {
        let ns = self.namespace(host);
        vec![self.ip.clone().into(), "netns".into(), "exec".into(), ns.into()]
    }

    /// A [`Command`] that runs `program` in `host`'s namespace (through
    /// [`exec_prefix`](Hosts::exec_prefix)); add arguments and run it as
    /// usual.
    ///
    /// # Panics
    ///
    /// When `host` is neither the hub nor a leaf of this star.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hosts = weir_testkit::netns::Hosts::star("r", &["a"])?;
    /// let status = hosts.command("a", "ip").args(["addr", "show", "hub"]).status()?;
    /// assert!(status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn command(&self, host: &str, program: impl AsRef<OsStr>) -> Command {
        let prefix = self.exec_prefix(host);
        let mut command = Command::new(&prefix[0]);
        command.args(&prefix[1..]).arg(program);
        command
    }

    #[track_caller]
    fn leaf_index(&self, leaf: &str) -> usize {
        let leaves = &self.hosts[1..];
        match leaves.iter().position(|(l, _)| l == leaf) {
            Some(i) => i,
            None => panic!("{leaf:?} is not a leaf of this star: {:?}", self.host_names()),
        }
    }

    /// The hosts' names, the hub first, for messages.
    fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|(h, _)| h.as_str()).collect()
    }

    /// Makes the namespace `ns` with `lo` up, and records it for the drop.
    fn add_namespace(&mut self, ns: &str) -> Result<(), NetnsError> {
        self.ip(&["netns", "add", ns])?;
        self.created.push(ns.to_owned());
        self.ip(&["-n", ns, "link", "set", "lo", "up"])
    }

    /// Runs `ip <args>`, turning a failure into an error with its stderr.
    fn ip(&self, args: &[&str]) -> Result<(), NetnsError> {
        let shown = format!("{} {}", self.ip.display(), args.join(" "));
        let output = Command::new(&self.ip)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| NetnsError::Spawn { command: shown.clone(), source })?;
        if output.status.success() {
            return Ok(());
        }
        Err(NetnsError::Command {
            command: shown,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = self.ip(&["netns", "del", ns]) {
                eprintln!("weir Hosts: could not delete network namespace {ns}: {e}");
            }
        }
    }
}

fn hub_addr(leaf: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 200, network(leaf), 1)
}

fn leaf_addr(leaf: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 200, network(leaf), 2)
}

/// The third octet of the `leaf`th leaf's network.
fn network(leaf: usize) -> u8 {
    u8::try_from(leaf + 1).expect("at most MAX_LEAVES leaves")
}

/// Names are non-empty, short, of `[A-Za-z0-9_-]`, and all different.
fn check_names(hub: &str, leaves: &[&str]) -> Result<(), NetnsError> {
    let invalid = |name: &str, reason: &str| NetnsError::InvalidHost {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if leaves.len() > MAX_LEAVES {
        return Err(invalid(hub, &format!("a star has at most {MAX_LEAVES} leaves, not {}", leaves.len())));
    }
    for (i, &name) in std::iter::once(&hub).chain(leaves).enumerate() {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(invalid(name, &format!("a host name has 1 to {MAX_NAME} characters")));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid(name, "a host name has only ASCII letters, digits, `-` and `_`"));
        }
        let earlier = std::iter::once(&hub).chain(leaves).take(i);
        if earlier.into_iter().any(|&e| e == name) {
            return Err(invalid(name, "every host of a star needs its own name"));
        }
    }
    Ok(())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// iproute2's `ip`: on the `PATH`, else in the system directories (which
/// a root `PATH` usually has, but not always).
fn find_ip() -> Result<PathBuf, NetnsError> {
    let path: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    path.into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("ip"))
        .find(|p| p.is_file())
        .ok_or_else(|| NetnsError::IpNotFound {
            searched: "the PATH, /usr/sbin, /sbin, /usr/bin, /bin".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_get_one_network_each() {
        assert_eq!(hub_addr(0), Ipv4Addr::new(10, 200, 1, 1));
        assert_eq!(leaf_addr(0), Ipv4Addr::new(10, 200, 1, 2));
        assert_eq!(leaf_addr(MAX_LEAVES - 1), Ipv4Addr::new(10, 200, 254, 2));
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_made() {
        assert!(check_names("r", &["a", "b"]).is_ok());
        for (hub, leaves, reason) in [
            ("r", &["a", "a"][..], "its own name"),
            ("a", &["a"][..], "its own name"),
            ("", &["a"][..], "1 to 32"),
            ("r", &["a b"][..], "ASCII"),
            ("r", &["a/b"][..], "ASCII"),
        ] {
            let e = check_names(hub, leaves).unwrap_err();
            assert!(e.to_string().contains(reason), "{hub:?} {leaves:?}: {e}");
        }
        let many: Vec<String> = (0..=MAX_LEAVES).map(|i| format!("l{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(check_names("r", &many).unwrap_err().to_string().contains("at most 254"));
    }

    #[test]
    fn messages_say_what_is_needed() {
        assert!(NetnsError::NotRoot.to_string().contains("need root"));
        let e = NetnsError::IpNotFound { searched: "the PATH".to_owned() };
        assert!(e.to_string().contains("apt-get install -y iproute2"), "{e}");
    }
}
