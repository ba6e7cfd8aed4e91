//! `ingest --metrics-addr`: the real binary, scraped over HTTP while it
//! runs, then stopped with SIGINT.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// `GET /metrics` over HTTP/1.1, by hand; returns the status line and body.
fn scrape(addr: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// The largest value of the `weir_stage_items_total{…,outcome="in"}` samples.
fn most_taken_in(body: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with("weir_stage_items_total{") && l.contains(r#"outcome="in"}"#))
        .map(|l| l.rsplit_once(' ').expect("name{labels} value").1.parse::<u64>().expect("a count"))
        .max()
        .expect("per-stage counters")
}

#[test]
fn metrics_are_scraped_while_the_job_runs() {
    let dir = std::env::temp_dir().join(format!("weir-ingest-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (child, addr, rest) = common::ingest_with_metrics(&dir, 50_000_000);

    let deadline = Instant::now() + Duration::from_secs(30);
    let taken = loop {
        let (status, body) = scrape(&addr);
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert!(body.contains("# TYPE weir_stage_in_flight gauge"), "{body}");
        assert!(body.contains("# TYPE weir_end_to_end_latency_seconds histogram"), "{body}");
        let taken = most_taken_in(&body);
        if taken > 0 || Instant::now() > deadline {
            break taken;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(taken > 0, "a stage counted packets while running");

    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().expect("exits");
    let stderr = rest.join().expect("stderr reader");
    assert!(out.status.success(), "exit 0 after a drain\n{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
