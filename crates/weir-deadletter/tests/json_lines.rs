//! JSON-lines dead-letter files: round trip through replay, files shared
//! by stages, malformed lines, and a replayed item that fails again.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use weir_core::prelude::*;
use weir_core::sink;
use weir_deadletter::{
    BadLineKind, DeadLetterError, DeadLetterExt, JsonLines, JsonLinesError, ReplayError, replay,
};

/// A unique path in the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("weir-deadletter-{}-{name}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Packet {
    id: u32,
    value: i64,
}

#[derive(Debug, thiserror::Error)]
enum IngestError {
    #[error("packet too short: {0} byte(s)")]
    Short(usize),
    #[error("cannot store packet {0}")]
    Store(u32, #[source] std::io::Error),
}

fn decode(bytes: Vec<u8>) -> Result<Packet, IngestError> {
    match bytes[..] {
        [id, v] => Ok(Packet { id: u32::from(id), value: i64::from(v) }),
        _ => Err(IngestError::Short(bytes.len())),
    }
}

fn store(p: Packet) -> Result<Packet, IngestError> {
    if p.value < 0 { Err(IngestError::Store(p.id, std::io::Error::other("negative value"))) } else { Ok(p) }
}

fn classic_input() -> Vec<Vec<u8>> {
    vec![vec![1, 10], vec![2], vec![3, 30], vec![4, 200], vec![], vec![5, 50]]
}

/// Runs the classic pipeline: bytes decoded, packets stored; both stages
/// dead-letter into `file`. Values of 128 and above are negative as `i8`.
async fn classic(file: &JsonLines) -> Report {
    Pipeline::from_iter(classic_input())
        .try_map("decode", decode)
        .dead_letter(file.clone())
        .map("sign", |p: Packet| Packet { value: i64::from(p.value as u8 as i8), ..p })
        .try_map("store", store)
        .dead_letter(file.clone())
        .sink(sink::drain())
        .run()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn two_stages_share_one_file_and_each_replays_its_own_items() {
    let tmp = TempFile::new("shared");
    let file = JsonLines::open(&tmp.0).unwrap();
    let report = classic(&file).await;
    assert_eq!(report.stage("decode").unwrap().dead_lettered(), 2);
    assert_eq!(report.stage("store").unwrap().dead_lettered(), 1);
    assert!(report.is_conserved());
    assert_eq!(std::fs::read_to_string(&tmp.0).unwrap().lines().count(), 3);

    let bytes = replay::<Vec<u8>>(&tmp.0).stage("decode").load().unwrap().records;
    let items: Vec<_> = bytes.iter().map(|r| r.item().clone()).collect();
    assert_eq!(items, [vec![2], vec![]]);
    assert_eq!(bytes[0].error(), "packet too short: 1 byte(s)");

    let packets = replay::<Packet>(&tmp.0).stage("store").load().unwrap().records;
    assert_eq!(packets.len(), 1);
    assert_eq!(*packets[0].item(), Packet { id: 4, value: -56 });
    assert_eq!(packets[0].error(), "cannot store packet 4");
    assert_eq!(packets[0].sources(), ["negative value"]);
    assert_eq!(packets[0].class(), ErrorClass::Permanent);
}

#[tokio::test(start_paused = true)]
async fn a_record_round_trips_through_the_file() {
    let tmp = TempFile::new("round-trip");
    let file = JsonLines::open(&tmp.0).unwrap();
    let (dead, records) = sink::collect();
    Pipeline::from_iter(classic_input())
        .try_map("decode", decode)
        .dead_letter(file)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    Pipeline::from_iter(classic_input())
        .try_map("decode", decode)
        .dead_letter(dead)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let from_file = replay::<Vec<u8>>(&tmp.0).load().unwrap().records;
    let in_memory = records.take();
    assert_eq!(from_file.len(), 2);
    for (f, m) in from_file.iter().zip(&in_memory) {
        assert_eq!(
            (f.item(), f.stage(), f.error(), f.sources()),
            (m.item(), m.stage(), m.error(), m.sources())
        );
        assert_eq!(
            (f.class(), f.attempts(), f.count(), f.panic_message()),
            (m.class(), m.attempts(), 1, None)
        );
    }
    // Serializing what was read gives the same line back.
    let text = std::fs::read_to_string(&tmp.0).unwrap();
    for (line, record) in text.lines().zip(&from_file) {
        assert_eq!(serde_json::to_string(record).unwrap(), line);
    }
}

#[tokio::test(start_paused = true)]
async fn a_replayed_item_that_fails_again_extends_its_history() {
    let first = TempFile::new("history-first");
    let second = TempFile::new("history-second");
    let long_ago = 1_600_000_000_000u64;
    let line = format!(
        r#"{{"stage":"decode","error":"packet too short: 1 byte(s)","sources":[],"class":"permanent","attempts":3,"first_failed_at_ms":{long_ago},"last_failed_at_ms":{long_ago},"panic":null,"count":1,"item":[7]}}"#
    );
    std::fs::write(&first.0, format!("{line}\n{line}\n")).unwrap();

    // Still broken: both fail again.
    let report = replay::<Vec<u8>>(&first.0)
        .into_pipeline()
        .unwrap()
        .halt_on_error()
        .try_map("decode", decode)
        .dead_letter(JsonLines::open(&second.0).unwrap())
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.dead_lettered(), 2);
    let again = replay::<Vec<u8>>(&second.0).load().unwrap().records;
    assert_eq!(again.len(), 2);
    for r in &again {
        assert_eq!(r.attempts(), 4, "3 earlier attempts + 1");
        assert_eq!(r.first_failed_at(), UNIX_EPOCH + Duration::from_millis(long_ago));
        assert!(r.last_failed_at() > r.first_failed_at());
        assert_eq!(*r.item(), [7]);
    }
}

#[test]
fn every_malformed_line_is_reported_with_its_number_and_the_others_are_read() {
    let tmp = TempFile::new("malformed");
    let good = r#"{"stage":"s","error":"e","sources":[],"class":"poison","attempts":1,"first_failed_at_ms":0,"last_failed_at_ms":0,"panic":"p","count":1,"item":5}"#;
    std::fs::write(&tmp.0, format!("{good}\n\n{good}\n{{\"stage\":\n{good}\nnot json\n")).unwrap();
    let loaded = replay::<u32>(&tmp.0).load().unwrap();
    assert_eq!(loaded.records.len(), 3, "the records around the bad lines are read");
    let bad: Vec<(usize, &str)> = loaded.bad_lines.iter().map(|b| (b.line(), b.text())).collect();
    assert_eq!(bad, [(4, r#"{"stage":"#), (6, "not json")]);
    assert!(matches!(loaded.bad_lines[0].kind(), BadLineKind::Truncated(_)));
    assert!(matches!(loaded.bad_lines[1].kind(), BadLineKind::Malformed(_)));
    assert!(loaded.bad_lines[0].to_string().contains(":4: truncated"), "{}", loaded.bad_lines[0]);

    // A record whose item is not of the expected type is malformed too.
    std::fs::write(&tmp.0, format!("{good}\n")).unwrap();
    let loaded = replay::<String>(&tmp.0).load().unwrap();
    assert!(loaded.records.is_empty());
    assert_eq!(loaded.bad_lines.len(), 1);
    assert_eq!(loaded.bad_lines[0].line(), 1);
    assert!(matches!(loaded.bad_lines[0].kind(), BadLineKind::Malformed(_)));
    // ... unless its stage is filtered out.
    let loaded = replay::<String>(&tmp.0).stage("other").load().unwrap();
    assert!(loaded.records.is_empty() && loaded.bad_lines.is_empty());
}

#[test]
fn a_missing_file_is_an_io_error() {
    let tmp = TempFile::new("missing");
    assert!(matches!(replay::<u32>(&tmp.0).load(), Err(ReplayError::Io { .. })));
    assert!(matches!(replay::<u32>(&tmp.0).records(), Err(ReplayError::Io { .. })));
    assert!(matches!(replay::<u32>(&tmp.0).into_pipeline(), Err(ReplayError::Io { .. })));
}

#[tokio::test(start_paused = true)]
async fn appending_keeps_earlier_records() {
    let tmp = TempFile::new("append");
    for _ in 0..2 {
        let file = JsonLines::open(&tmp.0).unwrap();
        classic(&file).await;
    }
    assert_eq!(replay::<Vec<u8>>(&tmp.0).stage("decode").load().unwrap().records.len(), 4);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    id: u32,
    value: f64,
    spare: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
#[error("reading {0} is out of range")]
struct OutOfRange(u32);

/// Runs readings with acknowledgements through a stage that fails them all
/// into a `JsonLines` file; returns the run's result and the acknowledged ids.
async fn dead_letter_readings(
    path: &std::path::Path,
    readings: Vec<Reading>,
) -> (Result<Report, RunError>, Vec<u32>) {
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = acked.clone();
    let source = futures::stream::iter(readings.into_iter().map(move |r| {
        let (log, id) = (log.clone(), r.id);
        (r, Ack::new(move || log.lock().unwrap().push(id)))
    }));
    let result = Pipeline::from_acked(source)
        .try_map("range", |r: Reading| Err::<Reading, _>(OutOfRange(r.id)))
        .dead_letter(JsonLines::open(path).unwrap())
        .sink(sink::drain())
        .run()
        .await;
    let mut acked = acked.lock().unwrap().clone();
    acked.sort_unstable();
    (result, acked)
}

fn reading(id: u32) -> Reading {
    Reading { id, value: f64::from(id) / 2.0, spare: None }
}

#[tokio::test(start_paused = true)]
async fn a_record_that_would_not_read_back_fails_alone_and_its_item_is_returned_unacknowledged() {
    let tmp = TempFile::new("nan");
    let mut readings: Vec<Reading> = (0..6).map(reading).collect();
    readings[2].value = f64::NAN;
    let (result, acked) = dead_letter_readings(&tmp.0, readings).await;

    let Err(RunError::Sink { stage, error, item, returned, report, .. }) = result else {
        panic!("expected the NaN reading to be returned, got {result:?}")
    };
    assert_eq!((stage.as_str(), returned), ("dead-letter", 1));
    let item = *item.expect("the item is returned").downcast::<Reading>().unwrap();
    assert_eq!(item.id, 2);
    assert!(item.value.is_nan());
    let Some(DeadLetterError::Unstorable { stage, source }) = error.downcast_ref() else {
        panic!("{error:?}")
    };
    assert_eq!(stage, "range");
    let Some(JsonLinesError::NonFinite { field, value, .. }) = source.downcast_ref() else {
        panic!("{source:?}")
    };
    assert_eq!(field, "item.value");
    assert!(value.is_nan());
    assert!(error.to_string().contains("`item.value` is NaN"), "{error}");

    // Every line written reads back, the returned item was neither written
    // nor acknowledged, and every written record was acknowledged.
    let loaded = replay::<Reading>(&tmp.0).load().unwrap();
    assert!(loaded.bad_lines.is_empty(), "{:?}", loaded.bad_lines);
    let stored: Vec<u32> = loaded.records.iter().map(|r| r.item().id).collect();
    assert!(stored.starts_with(&[0, 1]) && !stored.contains(&2), "{stored:?}");
    assert_eq!(acked, stored, "stored records are acknowledged, the returned one is not");
    assert_eq!(report.dead_lettered(), stored.len() as u64);
    assert_eq!(report.returned(), 1);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn an_optional_infinite_float_is_rejected_too_rather_than_read_back_as_none() {
    let tmp = TempFile::new("inf");
    let mut readings = vec![reading(0)];
    readings[0].spare = Some(f64::NEG_INFINITY);
    let (result, acked) = dead_letter_readings(&tmp.0, readings).await;
    let Err(RunError::Sink { error, returned: 1, .. }) = result else { panic!("{result:?}") };
    assert!(error.to_string().contains("`item.spare` is -inf"), "{error}");
    assert!(acked.is_empty());
    assert_eq!(std::fs::read_to_string(&tmp.0).unwrap(), "");
}
