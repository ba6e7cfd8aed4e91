//! Runs an example's real binary, as `cargo run --example` does, and
//! reads what it left: its report, its SQLite rows, its dead letters.

#![allow(dead_code, reason = "each test file uses what it needs of the common module")]

use std::process::{Command, Stdio};

/// The ingest job's stages, in pipeline order.
pub(crate) const INGEST_STAGES: [&str; 7] =
    ["source", "read", "decode", "validate", "enrich", "batch", "store"];

/// Builds the example `name` (in the test's profile) and returns the path
/// of its executable.
pub(crate) fn example_binary(name: &str) -> String {
    built("examples", "--example", name)
}

/// Builds the binary `name` of `package` (in the test's profile) and
/// returns the path of its executable.
pub(crate) fn package_binary(package: &str, name: &str) -> String {
    built(package, "--bin", name)
}

fn built(package: &str, kind: &str, name: &str) -> String {
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--package", package, kind, name, "--message-format=json"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let built = build.current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("cargo runs");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let messages = String::from_utf8(built.stdout).expect("utf-8");
    messages
        .lines()
        .filter(|m| {
            m.contains(r#""reason":"compiler-artifact""#) && m.contains(&format!(r#""name":"{name}""#))
        })
        .find_map(|m| m.split(r#""executable":""#).nth(1)?.split('"').next())
        .expect("the executable")
        .to_owned()
}

/// Builds the example `name` (in the test's profile) and runs it `runs`
/// times at once, on the real clock; returns each run's output lines.
pub(crate) fn run_example(name: &str, runs: usize) -> Vec<Vec<String>> {
    let binary = example_binary(name);
    let children: Vec<_> = (0..runs)
        .map(|_| Command::new(&binary).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns"))
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("the example runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).expect("utf-8").lines().map(str::to_owned).collect()
        })
        .collect()
}

pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-ingest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Rows in the `packets` table of the SQLite database `db` (0 before the
/// table exists: a job that is starting creates the file, then the table).
pub(crate) fn rows(db: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(db).expect("the database");
    conn.busy_timeout(std::time::Duration::from_secs(5)).expect("a busy timeout");
    match conn.query_row("SELECT count(*) FROM packets", [], |row| row.get::<_, i64>(0)) {
        Ok(count) => count as u64,
        Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message.starts_with("no such table") => 0,
        Err(e) => panic!("counting rows: {e}"),
    }
}

pub(crate) fn lines(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count() as u64)
}

/// The report of a run that must have ended well: exit 0, conserved.
pub(crate) fn succeeded(out: &std::process::Output) -> String {
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains(": conserved"), "{report}");
    report
}

/// The number after `label` in the report.
pub(crate) fn number(report: &str, label: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.trim_start().strip_prefix(label).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {label:?} in\n{report}"));
    line.split_whitespace().last().expect("a number").parse().unwrap_or_else(|_| panic!("{line}"))
}

/// A number a query of one row and column gives.
pub(crate) fn pg_count(url: &str, query: &str) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(connection);
        let row = client.query_one(query, &[]).await.expect("queries");
        row.get::<_, i64>(0) as u64
    })
}

/// Rows in the `packets` table of the PostgreSQL server at `url` (0
/// before the table exists).
pub(crate) fn pg_rows(url: &str) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(connection);
        match client.query_one("SELECT count(*) FROM packets", &[]).await {
            Ok(row) => row.get::<_, i64>(0) as u64,
            // Not created yet: the job creates it when it starts.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => 0,
            Err(e) => panic!("counting rows: {e}"),
        }
    })
}

/// Starts the ingest program on `packets` generated packets, quiet, with
/// its database and dead letters in `dir` and metrics on a free port;
/// returns it (stdout and stderr piped), the address it serves metrics on
/// and the thread that reads the rest of its stderr.
pub(crate) fn ingest_with_metrics(
    dir: &std::path::Path,
    packets: u64,
) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    let mut child = Command::new(example_binary("ingest"))
        .args(["--packets", &packets.to_string(), "--quiet", "--metrics-addr", "127.0.0.1:0"])
        .arg("--db")
        .arg(dir.join("ingest.db"))
        .arg("--dead-letters")
        .arg(dir.join("dead.jsonl"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let (addr, rest) = metrics_address(&mut child);
    (child, addr, rest)
}

/// Reads, from the stderr of an ingest process started with
/// `--metrics-addr`, the address it serves on (HOST:PORT), then keeps
/// reading its stderr on a thread so that it never blocks on it; returns
/// the address and that thread, which returns the rest of stderr.
fn metrics_address(child: &mut std::process::Child) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, Read};
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).expect("reads stderr") > 0, "no metrics address printed");
        if let Some(rest) = line.trim().strip_prefix("ingest: metrics on http://") {
            break rest.strip_suffix("/metrics").expect("…/metrics").to_owned();
        }
    };
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    (addr, rest)
}
