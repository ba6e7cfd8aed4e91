//! The conformance suite (weir-testkit) on the PostgreSQL sink, against a
//! real server (one for the suite, a connection per case, made on the
//! case's own runtime): every ending, acknowledgements once each and only
//! for committed rows, no task left behind (the connection's included).

mod common;

use common::{packet, server};
use proptest::prelude::*;
use weir_packet::Packet;
use weir_postgres::PgSink;
use weir_testkit::conformance;

#[test]
fn the_postgres_sink_keeps_every_promise() {
    let server = server();
    let url = server.url();
    let connect = move || {
        let url = url.clone();
        async move { PgSink::<Packet>::connect(&url).await.expect("the test server accepts connections") }
    };
    // Batches of packets, some repeated across cases (absorbed as
    // duplicates by the table's key).
    let batches = prop::collection::vec((0..64u64).prop_map(packet), 1..4);
    let passed = conformance::sink_async_over("store", batches, connect).real_clock().cases(32).assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
