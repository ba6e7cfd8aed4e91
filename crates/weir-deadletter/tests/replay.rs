//! Replay reads a dead-letter file lazily and goes on past lines that are
//! not records, reporting each with its number and reason.

use std::io::Write;
use std::path::PathBuf;

use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink;
use weir_deadletter::{BadLine, BadLineKind, DeadLetter, DeadLetterExt, ReplayLine, replay};

/// A unique path in the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("weir-replay-{}-{name}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn record(stage: &str, item: u32, attempts: u32) -> String {
    format!(
        r#"{{"stage":"{stage}","error":"e","sources":[],"class":"transient","attempts":{attempts},"first_failed_at_ms":1000,"last_failed_at_ms":2000,"panic":null,"count":1,"item":{item}}}"#
    )
}

/// Good records 1, 4 and 7 (and one of another stage), among a truncated
/// line, a line that is not UTF-8, a record of the wrong item type, a blank
/// line, and a truncated last line without its newline.
fn damaged_file(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let torn = &record("s", 9, 1)[..30];
    writeln!(f, "{}", record("s", 1, 2)).unwrap(); // line 1
    writeln!(f, "{torn}").unwrap(); // 2: truncated
    f.write_all(b"{\"stage\":\"s\",\xff}\n").unwrap(); // 3: not UTF-8
    writeln!(f, "{}", record("s", 4, 1)).unwrap(); // 4
    writeln!(f, "{}", record("s", 1, 1).replace(r#""item":1"#, r#""item":"one""#)).unwrap(); // 5: wrong type
    writeln!(f).unwrap(); // 6: blank
    writeln!(f, "{}", record("other", 5, 1)).unwrap(); // 7: another stage
    writeln!(f, "{}\r", record("s", 7, 3)).unwrap(); // 8, written on Windows
    write!(f, "{torn}").unwrap(); // 9: torn, no newline
}

fn kinds(bad: &[&BadLine]) -> Vec<(usize, &'static str)> {
    bad.iter()
        .map(|b| {
            let kind = match b.kind() {
                BadLineKind::Truncated(_) => "truncated",
                BadLineKind::Malformed(_) => "malformed",
                BadLineKind::NotUtf8(_) => "not utf-8",
                BadLineKind::Unreadable(_) => "unreadable",
                _ => "other",
            };
            (b.line(), kind)
        })
        .collect()
}

#[tokio::test]
async fn a_replay_pipeline_goes_on_past_bad_lines_and_counts_each_as_a_failure() {
    let tmp = TempFile::new("pipeline");
    damaged_file(&tmp.0);
    let (bad, bad_records) = sink::collect::<DeadLetter<ReplayLine>>();
    let (sink, out) = sink::collect();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    let report = replay::<u32>(&tmp.0)
        .stage("s")
        .into_pipeline()
        .unwrap()
        .inspect_failures(move |f| kept.lock().unwrap().push((f.item().number(), f.cause().to_string())))
        .dead_letter(bad)
        .sink(sink)
        .run()
        .await
        .unwrap();

    assert_eq!(out.take(), [1, 4, 7], "every good record of the stage is replayed, in order");
    let seen = seen.lock().unwrap();
    let lines: Vec<usize> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, [2, 3, 5, 9]);
    let path = tmp.0.display().to_string();
    assert!(seen[0].1.starts_with(&format!("{path}:2: truncated")), "{}", seen[0].1);
    assert!(seen[1].1.starts_with(&format!("{path}:3: not UTF-8")), "{}", seen[1].1);
    assert!(seen[2].1.starts_with(&format!("{path}:5: not a dead-letter record")), "{}", seen[2].1);
    assert!(seen[3].1.starts_with(&format!("{path}:9: truncated")), "{}", seen[3].1);

    let bad_records = bad_records.take();
    assert_eq!(bad_records.len(), 4);
    assert!(bad_records.iter().all(|r| r.stage() == "replay" && r.class() == ErrorClass::Permanent));
    assert_eq!(bad_records[0].item().text(), &record("s", 9, 1)[..30]);
    assert!(bad_records[1].item().text().contains('\u{fffd}'));

    let replay_stage = report.stage("replay").unwrap();
    assert_eq!(report.source_items(), 8, "every non-blank line is a source item");
    assert_eq!((replay_stage.failed, replay_stage.dead_lettered(), replay_stage.filtered), (4, 4, 1));
    assert_eq!(report.delivered(), 3);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn replayed_items_keep_their_failure_history() {
    let tmp = TempFile::new("history");
    damaged_file(&tmp.0);
    #[derive(Debug, thiserror::Error)]
    #[error("still broken")]
    struct Broken;
    let (dead, records) = sink::collect::<DeadLetter<u32>>();
    replay::<u32>(&tmp.0)
        .stage("s")
        .into_pipeline()
        .unwrap()
        .discard_failures()
        .try_map("fix", |_| Err::<u32, _>(Broken))
        .dead_letter(dead)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let attempts: Vec<(u32, u32)> = records.take().iter().map(|r| (*r.item(), r.attempts())).collect();
    assert_eq!(attempts, [(1, 3), (4, 2), (7, 4)], "earlier attempts + 1");
}

#[tokio::test]
async fn the_record_stream_yields_a_typed_error_per_bad_line_and_goes_on() {
    let tmp = TempFile::new("stream");
    damaged_file(&tmp.0);
    let all: Vec<_> = replay::<u32>(&tmp.0).records().unwrap().collect().await;
    let items: Vec<u32> = all.iter().filter_map(|r| r.as_ref().ok()).map(|r| *r.item()).collect();
    assert_eq!(items, [1, 4, 5, 7], "no stage selected: the other stage's record too");
    let bad: Vec<&BadLine> = all.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(kinds(&bad), [(2, "truncated"), (3, "not utf-8"), (5, "malformed"), (9, "truncated")]);
    assert_eq!(bad[3].path(), tmp.0);
}

#[tokio::test]
async fn the_file_is_read_lazily_as_records_are_pulled() {
    let tmp = TempFile::new("lazy");
    std::fs::write(&tmp.0, format!("{}\n", record("s", 1, 1))).unwrap();
    let mut records = replay::<u32>(&tmp.0).records().unwrap();
    assert_eq!(*records.next().await.unwrap().unwrap().item(), 1);
    // A record appended after the first was read is still replayed: the
    // file was not read ahead into memory.
    let mut file = std::fs::OpenOptions::new().append(true).open(&tmp.0).unwrap();
    writeln!(file, "{}", record("s", 2, 1)).unwrap();
    assert_eq!(*records.next().await.unwrap().unwrap().item(), 2);
    assert!(records.next().await.is_none());
}
