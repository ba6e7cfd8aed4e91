//! The ingest program as a user runs it: the real binary, on the
//! generator, into a real SQLite file and a real dead-letter file; then a
//! SIGINT mid-run. The test counts rows and dead letters itself.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{lines, number, pg_rows, rows, succeeded, temp_dir};
use examples::ingest::generator::Generator;

/// The ingest binary, quiet, storing into `db` and dead-lettering to `dead`.
fn ingest(db: &std::path::Path, dead: &std::path::Path) -> Command {
    let mut command = Command::new(common::example_binary("ingest"));
    command.arg("--quiet").arg("--db").arg(db).arg("--dead-letters").arg(dead);
    command
}

#[test]
fn the_main_job_stores_every_good_packet_once_and_dead_letters_the_rest() {
    let dir = temp_dir("cli");
    let (db, dead) = (dir.join("ingest.db"), dir.join("dead.jsonl"));
    let plan = Generator { packets: 30_000, devices: 100, malformed: 0.05, duplicates: 0.03, seed: 9 };
    let tally = plan.tally();
    let out = ingest(&db, &dead)
        .args([
            "--packets",
            "30000",
            "--devices",
            "100",
            "--malformed",
            "0.05",
            "--duplicates",
            "0.03",
            "--seed",
            "9",
        ])
        .args(["--batch", "1000"])
        .output()
        .expect("runs");
    let report = succeeded(&out);
    assert_eq!(rows(&db), tally.good, "every good packet stored once\n{report}");
    assert_eq!(number(&report, "duplicates absorbed"), tally.duplicates, "{report}");
    assert_eq!(lines(&dead), tally.malformed.values().sum::<u64>(), "one dead letter per malformed frame");
    assert_eq!(number(&report, "in"), plan.packets);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigint_drains_commits_and_exits_0_with_every_packet_accounted_for() {
    let dir = temp_dir("sigint");
    let (db, dead) = (dir.join("ingest.db"), dir.join("dead.jsonl"));
    let child = ingest(&db, &dead)
        .args(["--packets", "50000000", "--malformed", "0.01"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().expect("exits");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "exit 0 after a drain: {report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("Drained"), "{report}");
    assert!(report.contains(": conserved"), "{report}");
    let taken = number(&report, "in");
    assert!(taken > 0 && taken < 50_000_000, "stopped mid-run: {taken}");
    // Every packet that left the source is a row or a dead letter.
    assert_eq!(rows(&db) + number(&report, "duplicates absorbed") + lines(&dead), taken, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_main_job_into_postgresql_through_an_outage_stores_every_good_packet_once() {
    let mut server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
    let dir = temp_dir("pg");
    let dead = dir.join("dead.jsonl");
    let plan = Generator { packets: 400_000, devices: 1_000, malformed: 0.01, duplicates: 0.01, seed: 4 };
    let tally = plan.tally();
    let child = Command::new(common::example_binary("ingest"))
        .args([
            "--packets",
            "400000",
            "--malformed",
            "0.01",
            "--duplicates",
            "0.01",
            "--seed",
            "4",
            "--quiet",
        ])
        .args(["--postgres", &server.url()])
        .arg("--aggregate")
        .arg("--dead-letters")
        .arg(&dead)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    // The server goes away mid-run and comes back: batches are retried.
    std::thread::sleep(Duration::from_millis(600));
    server.stop().expect("stops");
    std::thread::sleep(Duration::from_millis(800));
    server.restart().expect("restarts");
    let out = child.wait_with_output().expect("exits");
    let report = succeeded(&out);
    assert_eq!(number(&report, "in"), plan.packets, "{report}");
    assert!(number(&report, "retries") > 0, "the outage happened mid-run and was retried\n{report}");
    // The breaker paused intake during the outage, and said so.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("circuit breaker open, intake paused"), "{log}\n{report}");
    assert!(log.contains("circuit breaker closed, intake resumed"), "{log}\n{report}");
    assert!(report.contains("database breaker   opened "), "{report}");
    assert_eq!(
        pg_rows(&server.url()),
        tally.good,
        "every good packet once, nothing lost or doubled\n{report}"
    );
    assert_eq!(lines(&dead), tally.malformed.values().sum::<u64>(), "{report}");
    // The aggregates went through the outage too: every stored packet
    // counted once in its device-minute.
    assert_eq!(
        common::pg_count(&server.url(), "SELECT sum(packets)::bigint FROM device_minutes"),
        tally.good,
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_main_job_waits_out_a_locked_sqlite_database_and_loses_nothing() {
    let dir = temp_dir("locked");
    let (db, dead) = (dir.join("ingest.db"), dir.join("dead.jsonl"));
    let plan = Generator { packets: 300_000, devices: 1_000, malformed: 0.0, duplicates: 0.0, seed: 2 };
    let child = ingest(&db, &dead)
        .args(["--packets", "300000", "--seed", "2", "--batch", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    // Another writer holds the database for a while, mid-run.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !db.exists() {
        assert!(std::time::Instant::now() < deadline, "the database appears");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let other = rusqlite::Connection::open(&db).expect("opens");
    other.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    other.execute_batch("BEGIN IMMEDIATE").expect("takes the write lock");
    std::thread::sleep(Duration::from_millis(1500));
    other.execute_batch("COMMIT").expect("releases it");
    let out = child.wait_with_output().expect("exits");
    let report = succeeded(&out);
    let secs: f64 = report
        .split(" after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("the run's time");
    assert!(secs >= 1.5, "the lock held the run for a while: {secs} s\n{report}");
    assert_eq!(rows(&db), plan.packets, "every packet stored once after the lock\n{report}");
    assert_eq!(lines(&dead), 0, "nothing dead-lettered: busy is transient\n{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dead-letter record as the job writes it, holding `item`.
fn record(stage: &str, item: serde_json::Value) -> String {
    serde_json::json!({
        "stage": stage, "error": "earlier failure", "sources": [], "class": "transient", "attempts": 10,
        "first_failed_at_ms": 0, "last_failed_at_ms": 0, "panic": null, "count": 1, "item": item,
    })
    .to_string()
}

#[test]
fn replaying_dead_letters_stores_the_frames_that_now_go_through() {
    use examples::ingest::raw::{Origin, Raw};
    let dir = temp_dir("replay");
    let (old, db, dead) = (dir.join("old.jsonl"), dir.join("ingest.db"), dir.join("dead.jsonl"));
    let plan = Generator { packets: 60, devices: 5, malformed: 0.1, duplicates: 0.0, seed: 8 };
    let raws: Vec<(Raw, bool)> = plan
        .frames()
        .enumerate()
        .map(|(n, g)| {
            let good = weir_packet::decode(g.frame.clone()).is_ok();
            (Raw { origin: Origin::Generated(n as u64), bytes: g.frame }, good)
        })
        .collect();
    // An earlier run's dead letters: single frames, a batch the store gave
    // up on (stored as a list), and a line that is no record at all.
    let mut records: Vec<String> =
        raws[..20].iter().map(|(raw, _)| record("decode", serde_json::to_value(raw).unwrap())).collect();
    let batch: Vec<&Raw> = raws[20..].iter().map(|(raw, _)| raw).collect();
    records.push(record("store", serde_json::to_value(&batch).unwrap()));
    records.push("{not a record".to_owned());
    std::fs::write(&old, records.join("\n") + "\n").unwrap();

    let out = ingest(&db, &dead).args(["--replay"]).arg(&old).output().expect("runs");
    let report = succeeded(&out);
    let good = raws.iter().filter(|(_, good)| *good).count() as u64;
    assert_eq!(rows(&db), good, "every frame that decodes is stored\n{report}");
    assert_eq!(
        lines(&dead),
        raws.len() as u64 - good + 1,
        "the still-malformed frames and the bad line, again\n{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replaying_into_the_same_file_is_refused() {
    let dir = temp_dir("replay-same");
    let same = dir.join("dead.jsonl");
    std::fs::write(&same, "").unwrap();
    let out = Command::new(common::example_binary("ingest"))
        .args(["--quiet", "--replay"])
        .arg(&same)
        .arg("--dead-letters")
        .arg(&same)
        .arg("--db")
        .arg(dir.join("ingest.db"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("same file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tcp_server_and_the_send_client_reconcile() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("tcp");
    let (db, dead) = (dir.join("ingest.db"), dir.join("dead.jsonl"));
    let binary = common::example_binary("ingest");
    let mut server = Command::new(&binary)
        .args(["--quiet", "--listen", "127.0.0.1:0", "--batch-wait-ms", "5"])
        .arg("--db")
        .arg(&db)
        .arg("--dead-letters")
        .arg(&dead)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut stderr = BufReader::new(server.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("the listening line");
    let addr = line.trim().rsplit(' ').next().expect("an address").to_owned();
    assert!(line.contains("listening on"), "{line}");
    let plan = Generator { packets: 20_000, devices: 200, malformed: 0.02, duplicates: 0.01, seed: 6 };
    let tally = plan.tally();
    let sent = Command::new(&binary)
        .args(["send", "--to", &addr, "--connections", "4", "--oversize", "2"])
        .args([
            "--packets",
            "20000",
            "--devices",
            "200",
            "--malformed",
            "0.02",
            "--duplicates",
            "0.01",
            "--seed",
            "6",
        ])
        .output()
        .expect("the client runs");
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    // Wait until everything sent is stored or dead-lettered, then stop the server.
    let expected_dead = tally.malformed.values().sum::<u64>() + 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(db.exists() && rows(&db) == tally.good && lines(&dead) == expected_dead) {
        assert!(std::time::Instant::now() < deadline, "rows {} dead {}", rows(&db), lines(&dead));
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill").args(["-INT", &server.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let out = server.wait_with_output().expect("exits");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{report}");
    assert!(report.contains(": conserved"), "{report}");
    assert_eq!(number(&report, "duplicates absorbed"), tally.duplicates, "{report}");
    assert_eq!(number(&report, "read errors"), 2, "the two oversize frames\n{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_of_frames_is_ingested_like_the_network() {
    let dir = temp_dir("file");
    let (frames, db, dead) = (dir.join("frames.bin"), dir.join("ingest.db"), dir.join("dead.jsonl"));
    let plan = Generator { packets: 5_000, devices: 50, malformed: 0.04, duplicates: 0.02, seed: 13 };
    let tally = plan.tally();
    let mut bytes = Vec::new();
    for generated in plan.frames() {
        bytes.extend_from_slice(&(generated.frame.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&generated.frame);
    }
    // A torn last frame: its length says more than the file holds.
    bytes.extend_from_slice(&100u32.to_be_bytes());
    bytes.extend_from_slice(&[0; 10]);
    std::fs::write(&frames, bytes).unwrap();
    let out = ingest(&db, &dead).args(["--file"]).arg(&frames).output().expect("runs");
    let report = succeeded(&out);
    assert_eq!(rows(&db), tally.good, "{report}");
    assert_eq!(number(&report, "duplicates absorbed"), tally.duplicates, "{report}");
    assert_eq!(number(&report, "read errors"), 1, "the torn frame\n{report}");
    assert_eq!(lines(&dead), tally.malformed.values().sum::<u64>() + 1, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_aggregate_table_holds_each_device_minute_of_the_stored_packets() {
    let dir = temp_dir("aggregate");
    let (db, dead) = (dir.join("ingest.db"), dir.join("dead.jsonl"));
    let out = ingest(&db, &dead)
        .args([
            "--packets",
            "30000",
            "--devices",
            "50",
            "--malformed",
            "0.02",
            "--duplicates",
            "0.05",
            "--seed",
            "4",
        ])
        .arg("--aggregate")
        .output()
        .expect("runs");
    let report = succeeded(&out);
    let conn = rusqlite::Connection::open(&db).expect("the database");
    // The packets table, grouped directly, against the window's rows.
    let direct: Vec<(i64, i64, i64)> = conn
        .prepare(
            "SELECT device, timestamp_ms / 60000 * 60000 AS minute, count(*) FROM packets \
             GROUP BY device, minute ORDER BY device, minute",
        )
        .expect("prepares")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("queries")
        .collect::<Result<_, _>>()
        .expect("rows");
    let windowed: Vec<(i64, i64, i64)> = conn
        .prepare("SELECT device, minute_ms, packets FROM device_minutes ORDER BY device, minute_ms")
        .expect("prepares")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("queries")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(!direct.is_empty());
    assert_eq!(windowed, direct, "one row per device-minute, counting each stored packet once\n{report}");
    let (readings, sane): (i64, bool) = conn
        .query_row("SELECT sum(readings), min(min <= max) FROM device_minutes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("sums");
    assert!(readings > 0 && sane, "{readings} readings");
    assert!(report.contains("aggregates: table device_minutes"), "{report}");
    assert!(report.contains("(0 late"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
