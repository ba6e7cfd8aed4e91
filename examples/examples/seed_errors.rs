//! Classic example 3, error handling: items 0..10 are processed by 3
//! workers; items divisible by 3 fail with a `ProcessingError`, are retried
//! once after a short backoff (2 attempts), then dead-lettered with their
//! error instead of printed and lost. Prints each success, each dead
//! letter and the final report (6 processed, 4 dead-lettered).
//!
//! Run it with `cargo run -p examples --example seed_errors`.

use examples::seed_errors;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let outcome = seed_errors::run(|item| println!("processed {item}")).await?;
    for dead in &outcome.dead_letters {
        println!(
            "dead letter: item {} after {} attempt(s) ({}): {}",
            dead.item(),
            dead.attempts(),
            dead.class(),
            dead.error()
        );
    }
    println!("{}", outcome.report);
    Ok(())
}
