//! A stage from its own crate, plugged in with `.stage(..)`: the
//! `weir-dedup` crate (examples/dedup-stage) drops readings that an
//! at-least-once source delivered twice, and counts them as filtered, so
//! the report still accounts for every item.
//!
//! Run it with `cargo run --example custom_stage`.

use weir::prelude::*;
use weir::sink;
use weir_dedup::Dedup;

#[derive(Debug, Clone, PartialEq)]
struct Reading {
    device: u32,
    seq: u32,
    celsius: f32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Device 2's reading 1 and device 1's reading 2 arrive twice (redelivered).
    let readings = [(1, 1, 20.5), (2, 1, 19.0), (2, 1, 19.0), (1, 2, 20.7), (3, 1, 22.1), (1, 2, 20.7)]
        .map(|(device, seq, celsius)| Reading { device, seq, celsius });
    let (sink, stored) = sink::collect();
    let report = Pipeline::from_iter(readings)
        .stage(Dedup::by_key("dedup", 10_000, |r: &Reading| (r.device, r.seq)))
        .inspect("print", |r| println!("storing {r:?}"))
        .sink(sink)
        .run()
        .await?;
    assert_eq!(stored.len(), 4);
    println!("\n{report}");
    Ok(())
}
