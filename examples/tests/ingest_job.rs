//! The ingest pipeline end to end on the generator, with an in-memory
//! store and a real JSON-lines dead-letter file: what is stored, what is
//! dead-lettered (by reason, with the frame to replay), and the report,
//! all counted by the test itself.

use std::collections::BTreeMap;

use examples::ingest::generator::{Generator, Kind};
use examples::ingest::job::{Settings, Source, Tallies, pipeline};
use examples::ingest::raw::Raw;
use weir::deadletter::JsonLines;
use weir::sink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_frames_are_stored_or_dead_lettered_with_their_reason() {
    let dir = std::env::temp_dir().join(format!("weir-ingest-job-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dead_path = dir.join("dead.jsonl");
    let _ = std::fs::remove_file(&dead_path);
    let plan = Generator { packets: 20_000, devices: 100, malformed: 0.05, duplicates: 0.02, seed: 5 };
    let tally = plan.tally();
    let (store, stored) = sink::collect();
    let dead = JsonLines::open(&dead_path).expect("dead-letter file");
    let tallies = Tallies::new();
    let settings = Settings { batch: 500, ..Settings::default() };
    let report = pipeline(Source::Generator(plan), settings, store, dead, &tallies)
        .expect("opens")
        .0
        .run()
        .await
        .expect("runs");

    let rows: Vec<_> = stored.take().into_iter().flatten().collect();
    assert_eq!(
        rows.len() as u64,
        tally.good + tally.duplicates,
        "good frames and resent ones reach the store"
    );
    let malformed: u64 = tally.malformed.values().sum();
    assert_eq!(report.source_items(), plan.packets);
    assert_eq!(report.delivered(), rows.len() as u64);
    assert_eq!(report.dead_lettered(), malformed);
    assert!(report.is_conserved(), "{report}");
    assert_eq!(*tallies.malformed.lock().unwrap(), tally.malformed, "counted by reason");
    assert_eq!(tallies.latency.lock().unwrap().len(), rows.len() as u64, "a latency per stored row");

    // The dead letters hold each malformed frame, by reason, ready to replay.
    let text = std::fs::read_to_string(&dead_path).unwrap();
    let mut by_reason: BTreeMap<&'static str, u64> = BTreeMap::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["stage"], "decode");
        let raw: Raw = serde_json::from_value(record["item"].clone()).unwrap();
        let reason = weir_packet::decode(raw.bytes).unwrap_err().reason();
        *by_reason.entry(reason).or_default() += 1;
    }
    assert_eq!(by_reason, tally.malformed);
    // Nothing the generator made as good was dead-lettered.
    assert_eq!(plan.frames().filter(|g| g.kind == Kind::Good).count() as u64, tally.good);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_counts_from_arrival_to_commit() {
    let dir = std::env::temp_dir().join(format!("weir-ingest-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = Generator { packets: 2_000, devices: 10, malformed: 0.0, duplicates: 0.0, seed: 5 };
    // A store whose commit takes 20 ms: every row waits at least that.
    let store = sink::from_fn(|_: Vec<weir_packet::Packet>| async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Ok::<_, std::convert::Infallible>(())
    });
    let dead = JsonLines::open(dir.join("dead.jsonl")).expect("dead-letter file");
    let tallies = Tallies::new();
    let settings = Settings { batch: 500, ..Settings::default() };
    pipeline(Source::Generator(plan), settings, store, dead, &tallies)
        .expect("opens")
        .0
        .run()
        .await
        .expect("runs");
    let latency = tallies.latency.lock().unwrap();
    assert_eq!(latency.len(), 2_000);
    assert!(latency.min() >= 20_000, "at least the commit's 20 ms, in µs: {}", latency.min());
    assert!(latency.max() < 10_000_000, "{}", latency.max());
    std::fs::remove_dir_all(&dir).unwrap();
}
