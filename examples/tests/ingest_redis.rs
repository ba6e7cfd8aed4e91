//! The ingest program scaled out over a Redis stream, as a user runs it:
//! the real binaries, a real redis-server, real processes. `ingest load`
//! fills the stream; consumers started with `--redis` share it.
//!
//! - Three consumers into one PostgreSQL, one of them killed with SIGKILL
//!   mid-run: the others reclaim its pending entries, and every good
//!   packet ends stored exactly once.
//! - Two hosts for real: consumers in two network namespaces, joined by
//!   veth pairs to a third that runs Redis, each storing into its own
//!   SQLite file.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{number, pg_rows, rows, succeeded, temp_dir};
use examples::ingest::generator::Generator;
use weir_testkit::netns::Hosts;
use weir_testkit::redis::RedisServer;

/// Generator flags for `plan`, the same for `load` and the tally.
fn generate_args(plan: &Generator) -> Vec<String> {
    let args = [
        ("--packets", plan.packets.to_string()),
        ("--devices", plan.devices.to_string()),
        ("--malformed", plan.malformed.to_string()),
        ("--duplicates", plan.duplicates.to_string()),
        ("--seed", plan.seed.to_string()),
    ];
    args.into_iter().flat_map(|(flag, value)| [flag.to_owned(), value]).collect()
}

/// `ingest load` into `stream` at `url`, through `command` (a plain one,
/// or one that enters a network namespace first).
fn load(mut command: Command, url: &str, plan: &Generator) {
    let out = command.args(["load", "--redis", url]).args(generate_args(plan)).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with(&format!("loaded {} frames", plan.packets)), "{said}");
}

/// A consumer named `name`, quiet, its dead letters in `dir`.
fn consumer(mut command: Command, url: &str, name: &str, dir: &std::path::Path) -> Command {
    command
        .args(["--quiet", "--redis", url, "--consumer", name, "--claim-idle", "1", "--batch", "500"])
        .arg("--dead-letters")
        .arg(dir.join(format!("{name}.jsonl")))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits until `done`, or fails after `limit` saying `what`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: still not done after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks a consumer to stop (SIGINT: drain, acknowledge, report) and
/// returns its report.
fn interrupt(child: Child) -> String {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(sent.success());
    succeeded(&child.wait_with_output().expect("exits"))
}

/// Distinct frame origins (Redis entry ids) in dead-letter files.
fn dead_ids(files: &[std::path::PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(&line).expect("a JSON record");
            record["item"]["origin"]["redis"].as_str().expect("a Redis origin").to_owned()
        })
        .collect()
}

/// The group's pending count, by `redis-cli` through `command`.
fn pending(mut command: Command, host: &str, port: u16) -> u64 {
    let out = command
        .args(["-h", host, "-p", &port.to_string(), "XPENDING", "packets", "ingest"])
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// Entries pending on the consumer `name` (XINFO CONSUMERS), by
/// `redis-cli` on the local server at `port`.
fn pending_on(port: u16, name: &str) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "XINFO", "CONSUMERS", "packets", "ingest"])
        .output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = text.lines().map(str::trim).collect();
    // name c0 pending 12 idle 3 ... name c1 pending 0 ...
    words
        .windows(4)
        .find(|w| w[0] == "name" && w[1] == name && w[2] == "pending")
        .and_then(|w| w[3].parse().ok())
        .unwrap_or(0)
}

#[test]
fn three_consumers_one_killed_every_packet_stored_exactly_once() {
    let redis = RedisServer::start();
    let pg = weir_testkit::postgres::TestServer::builder().fsync(false).start();
    let dir = temp_dir("redis-kill");
    let binary = common::example_binary("ingest");
    let plan = Generator { packets: 200_000, devices: 1_000, malformed: 0.01, duplicates: 0.0, seed: 11 };
    let tally = plan.tally();
    load(Command::new(&binary), &redis.url(), &plan);

    let start = |name: &str| {
        let mut command = consumer(Command::new(&binary), &redis.url(), name, &dir);
        command.args(["--postgres", &pg.url()]).spawn().expect("spawns")
    };
    let mut victim = start("c0");
    let survivors = [start("c1"), start("c2")];
    // Kill one consumer mid-run, while it holds entries: what it read and
    // did not acknowledge stays pending on it.
    let port = redis.port();
    wait_until(Duration::from_secs(120), "a quarter stored, c0 busy", || {
        pg_rows(&pg.url()) >= tally.good / 4 && pending_on(port, "c0") > 0
    });
    victim.kill().expect("SIGKILL");
    let _ = victim.wait();
    let left = pending_on(port, "c0");
    assert!(left > 0, "c0 died holding entries");
    wait_until(Duration::from_secs(180), "every good packet stored", || pg_rows(&pg.url()) >= tally.good);
    wait_until(Duration::from_secs(60), "nothing pending", || {
        pending(Command::new("redis-cli"), "127.0.0.1", port) == 0
    });
    let reports: Vec<String> = survivors.into_iter().map(interrupt).collect();
    let reclaimed: u64 = reports
        .iter()
        .map(|r| {
            let line = r.lines().find(|l| l.contains("redis: read")).expect("a redis line");
            line.split("reclaimed ").nth(1).and_then(|x| x.split(',').next()).unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert!(reclaimed >= left, "the survivors took over the killed consumer's {left} entries\n{reports:?}");
    assert_eq!(pg_rows(&pg.url()), tally.good, "every good packet stored exactly once\n{reports:?}");
    let dead = dead_ids(&(0..3).map(|i| dir.join(format!("c{i}.jsonl"))).collect::<Vec<_>>());
    assert_eq!(
        dead.len() as u64,
        tally.malformed.values().sum::<u64>(),
        "every malformed entry dead-lettered"
    );
    for report in &reports {
        assert!(number(report, "in") > 0, "{report}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_hosts_share_a_stream_across_network_namespaces() {
    let hosts = Hosts::star("redis", &["a", "b"]).expect("network namespaces (run as root)");
    let port = 6379;
    let redis = RedisServer::builder()
        .bind("0.0.0.0".parse().unwrap())
        .port(port)
        .wrap(hosts.exec_prefix("redis"))
        .start();
    let dir = temp_dir("redis-netns");
    let binary = common::example_binary("ingest");
    let url = |leaf: &str| format!("redis://{}:{port}/", hosts.hub_addr_for(leaf));
    let plan = Generator { packets: 100_000, devices: 500, malformed: 0.0, duplicates: 0.0, seed: 12 };
    load(hosts.command("a", &binary), &url("a"), &plan);

    let start = |leaf: &str| {
        let mut command = consumer(hosts.command(leaf, &binary), &url(leaf), leaf, &dir);
        command.arg("--db").arg(dir.join(format!("{leaf}.db"))).spawn().expect("spawns")
    };
    let children = [start("a"), start("b")];
    let (a_db, b_db) = (dir.join("a.db"), dir.join("b.db"));
    let stored = || [&a_db, &b_db].iter().map(|db| if db.exists() { rows(db) } else { 0 }).sum::<u64>();
    wait_until(Duration::from_secs(120), "every packet stored on one host or the other", || {
        stored() >= plan.packets
    });
    let hub = hosts.hub_addr_for("a").to_string();
    wait_until(Duration::from_secs(30), "nothing pending", || {
        pending(hosts.command("a", "redis-cli"), &hub, port) == 0
    });
    let reports: Vec<String> = children.into_iter().map(interrupt).collect();
    let (a, b) = (rows(&a_db), rows(&b_db));
    assert_eq!(a + b, plan.packets, "each packet stored once, on one host\n{reports:?}");
    assert!(a > 0 && b > 0, "both hosts took a share: {a} + {b}");
    assert_eq!(number(&reports[0], "stored") + number(&reports[1], "stored"), plan.packets);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
