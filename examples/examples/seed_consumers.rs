//! Multiple consumers (the seed article's example 2): one producer makes 10
//! items, waiting 0.1 s after each; three consumers share a queue of 10
//! and take 0.2 s per item. Each consumer prints the items it processes
//! and, when its worker stops, that it exits. There is no `None` sentinel
//! per consumer: the end of the producer's stream stops all three workers
//! (the idle ones at once, the busy one after its item), and the run
//! returns once they have all ended.
//!
//! It runs on one thread, as asyncio does: the consumers that stop at the
//! same instant (when the stream ends) then run one after the other, in the
//! order they started waiting, so the output is the article's (consumers
//! 1, 2, then 0 exit). On several threads they would race.
//!
//! Run it with `cargo run --example seed_consumers`.

use examples::seed_consumers::{Scenario, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let outcome = run(Scenario::default()).await?;
    println!("\ntook {:.1} s\n{}", outcome.elapsed.as_secs_f64(), outcome.report);
    Ok(())
}
