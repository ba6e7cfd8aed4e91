//! `weir-top`: watch a weir pipeline running in another process.
//!
//! ```text
//! weir-top http://127.0.0.1:9898     # the program's --metrics-addr
//! ```
//!
//! It reads the program's metrics endpoint (`/weir/samples`, served
//! beside `/metrics` when the program runs a sampler, as the ingest
//! program does with `--metrics-addr`) once a second. Keys: `q` quit,
//! `s`/`S` sort column, `r` reverse, `/` filter, arrows and PgUp/PgDn
//! scroll.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weir_view::top::{self, Feed};

/// Watch a weir pipeline running in another process.
#[derive(Debug, Parser)]
#[command(name = "weir-top", version)]
struct Args {
    /// The program's metrics endpoint, http://HOST:PORT.
    url: String,
    /// How often to read it, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    refresh_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let feed = match Feed::remote(&args.url) {
        Ok(feed) => feed,
        Err(error) => {
            eprintln!("weir-top: {error}");
            return ExitCode::from(2);
        }
    };
    match top::run(feed, Duration::from_millis(args.refresh_ms)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weir-top: the terminal failed: {error}");
            ExitCode::FAILURE
        }
    }
}
