//! The conformance suite (weir-testkit) on the SQLite sink: batches of
//! packets, some of them repeats (absorbed as duplicates), under every
//! ending: acknowledgements only for what was committed, each once. On
//! the real clock: the sink's writer is a thread of its own, which a
//! paused clock would not wait for.

mod common;

use proptest::prelude::*;
use weir_packet::{Packet, Reading};
use weir_sqlite::SqliteSink;
use weir_testkit::conformance;

fn batches() -> impl Strategy<Value = Vec<Packet>> {
    let packet =
        (0..4u32, 0..16u64).prop_map(|(device, seq)| Packet::new(device, seq, seq, [Reading::new(1, 1.0)]));
    prop::collection::vec(packet, 1..4)
}

#[test]
fn the_sqlite_sink_keeps_every_promise() {
    // One database for the whole suite: later cases repeat packets that
    // earlier ones stored, which the sink absorbs as duplicates.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.db");
    let passed = conformance::sink_over("store", batches(), move || SqliteSink::open(&path).unwrap())
        .real_clock()
        .cases(64)
        .assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
