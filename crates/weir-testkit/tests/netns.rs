//! Network namespaces: a star of three hosts where leaves reach the hub
//! and each other, and nothing is left behind, panic or not. Needs root
//! (CI is root); not root, it fails with the reason.

use std::net::IpAddr;
use std::process::Command;

use weir_testkit::netns::Hosts;
use weir_testkit::redis::RedisServer;

const PORT: u16 = 6390;

fn star(hub: &str, leaves: &[&str]) -> Hosts {
    Hosts::star(hub, leaves).unwrap_or_else(|e| panic!("cannot make the test's hosts: {e}"))
}

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `redis-cli -h <to> -p PORT ping` run on `from`.
fn ping_from(hosts: &Hosts, from: &str, to: IpAddr) -> String {
    let out = hosts
        .command(from, "redis-cli")
        .args(["-h", &to.to_string(), "-p", &PORT.to_string(), "ping"])
        .output()
        .expect("redis-cli");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        .trim()
        .to_owned()
}

/// A Redis on every interface of `host`, on [`PORT`].
fn redis_on(hosts: &Hosts, host: &str) -> RedisServer {
    RedisServer::builder().bind("0.0.0.0".parse().unwrap()).port(PORT).wrap(hosts.exec_prefix(host)).start()
}

#[test]
fn leaves_reach_the_hub_and_each_other() {
    let names: Vec<String>;
    {
        let hosts = star("r", &["a", "b"]);
        names = ["r", "a", "b"].map(|h| hosts.namespace(h).to_owned()).to_vec();
        let listed = namespaces();
        for name in &names {
            assert!(listed.contains(name.as_str()), "{name} not in:\n{listed}");
        }
        assert_eq!(hosts.hub_addr_for("a").to_string(), "10.200.1.1");
        assert_eq!(hosts.addr("a").to_string(), "10.200.1.2");
        assert_eq!(hosts.hub_addr_for("b").to_string(), "10.200.2.1");
        assert_eq!(hosts.addr("b").to_string(), "10.200.2.2");

        let hub = redis_on(&hosts, "r");
        assert_eq!(ping_from(&hosts, "a", hosts.hub_addr_for("a")), "PONG");
        assert_eq!(ping_from(&hosts, "b", hosts.hub_addr_for("b")), "PONG");

        // Leaf to leaf, through the hub.
        let b = redis_on(&hosts, "b");
        assert_eq!(ping_from(&hosts, "a", hosts.addr("b")), "PONG");

        // Nothing was added to this process's namespace: no address, no
        // route into the star. (A TCP connect would not show it: some
        // sandboxes answer every address.)
        for what in [&["-o", "addr"][..], &["route"][..]] {
            let out = Command::new("ip").args(what).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.contains("10.200."), "ip {what:?} in the root namespace:\n{text}");
        }

        // A cut link: `a` no longer reaches the hub, `b` still does.
        let cut = hosts.command("a", "ip").args(["link", "set", "hub", "down"]).status().unwrap();
        assert!(cut.success());
        assert_ne!(ping_from(&hosts, "a", hosts.hub_addr_for("a")), "PONG");
        assert_eq!(ping_from(&hosts, "b", hosts.hub_addr_for("b")), "PONG");

        drop((b, hub)); // the servers first: a namespace outlives its name while a process runs in it
    }
    let listed = namespaces();
    for name in &names {
        assert!(!listed.contains(name.as_str()), "{name} left behind:\n{listed}");
    }
}

#[test]
fn a_panicking_test_leaves_no_namespace() {
    let mut names = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let hosts = star("hub", &["x"]);
        names.extend(["hub", "x"].map(|h| hosts.namespace(h).to_owned()));
        panic!("the test failed");
    }));
    assert!(result.is_err());
    assert_eq!(names.len(), 2);
    let listed = namespaces();
    for name in &names {
        assert!(!listed.contains(name.as_str()), "{name} left behind:\n{listed}");
    }
}

#[test]
fn parallel_stars_do_not_collide() {
    let one = star("r", &["a"]);
    let two = star("r", &["a"]);
    assert_ne!(one.namespace("r"), two.namespace("r"));
    assert_eq!(one.addr("a"), two.addr("a"), "the same addresses, in different namespaces");
}
