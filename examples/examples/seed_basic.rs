//! The classic single producer / consumer (the seed article's example 1):
//! 5 items, the producer waits 0.1 s between items, the consumer takes
//! 0.2 s per item, a queue of 10 between them. The output is in the same
//! order as the asyncio program, on every run, but the consumer ends
//! because the stream ends: there is no `None` sentinel to forget.
//!
//! Run it with `cargo run --example seed_basic`.

use examples::seed_basic::{Log, run};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let report = run(Log::default()).await?;
    println!("\n{report}");
    Ok(())
}
