//! Prometheus metrics for any running weir pipeline, served over HTTP.
//!
//! [`serve`] binds an address and answers `GET /metrics` with the live
//! counts of a pipeline's [`Monitor`], in the OpenMetrics text format that
//! Prometheus scrapes:
//!
//! | family | labels | from |
//! | --- | --- | --- |
//! | `weir_stage_items_total` (counter) | `stage`, `outcome` = `in`, `out`, `filtered`, `failed`, `retried`, `panicked`, `dead_lettered`, `discarded`, `returned`, `delivered` | the stage's [`StageReport`](weir_core::StageReport) fields |
//! | `weir_stage_retries_total` (counter) | `stage` | retry attempts (an item retried three times counts three) |
//! | `weir_stage_in_flight` (gauge) | `stage` | items inside the stage: its queue depth |
//! | `weir_stage_gauge` (gauge) | `stage`, `gauge` | readings of the stage's layers ([`StageReport::gauges`](weir_core::StageReport::gauges)): a circuit breaker's `breaker_state` (0 closed, 1 half-open, 2 open), `breaker_opened`, `breaker_closed`, `breaker_waiting`; an adaptive limit's `concurrency_limit`, `concurrency_in_flight`; a rate limit's `rate_waited`, `rate_wait_ms` (throttle) or `rate_limited` (enforced), `rate_keys`, `rate_evicted`; an idle timeout's `idle_events`; a restartable source's `source_restarts`; a fixed set of names per layer, so the labels stay bounded |
//! | `weir_pipeline_uptime_seconds` (gauge) | | time since the run started |
//! | `weir_end_to_end_latency_seconds` (histogram) | | optional, see [`Exporter::latency_micros`] |
//!
//! # Why read on scrape
//!
//! The pipeline already counts every item in its own per-stage atomics
//! (that is what [`Monitor::report`] reads). A second set of counters fed
//! from the hot path would cost every item a second increment; instead a
//! custom `prometheus_client` [`Collector`](prometheus_client::collector::Collector)
//! takes one [`Monitor::report`] snapshot per scrape and encodes it. A
//! scrape every few seconds costs the pipeline nothing it would notice.
//!
//! # Why `prometheus-client` and `hyper`
//!
//! `prometheus-client` is the Prometheus organisation's own Rust client:
//! its text encoder follows the OpenMetrics format, and its `Collector`
//! trait is made for values read at scrape time. The `metrics` facade
//! would have us push every count through a global recorder, which is the
//! hot-path cost this crate avoids. The server is `hyper` 1's HTTP/1
//! connection driver on our own `tokio` accept loop: one endpoint needs
//! no router, and `hyper` is what `axum` and friends are built on.
//!
//! # Examples
//!
//! ```
//! use weir_core::{Pipeline, sink};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Pipeline::from_iter(0..100u64).map("double", |n| n * 2).sink(sink::drain()).spawn()?;
//! let server = weir_metrics::serve("127.0.0.1:0", handle.monitor()).await?;
//! eprintln!("metrics on http://{}/metrics", server.local_addr());
//! let report = handle.join().await?;
//! // The server stops when `server` is dropped.
//! # Ok(())
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod collector;
mod server;

pub use collector::{Exporter, SAMPLES_PATH};
pub use hdrhistogram;
pub use server::MetricsServer;
pub use weir_core::Monitor;

use tokio::net::ToSocketAddrs;

/// Serves the live counts of `monitor` as Prometheus metrics on `addr`
/// (`GET /metrics`), until the returned [`MetricsServer`] is dropped.
///
/// A shorthand for `Exporter::new(monitor).serve(addr)`; use
/// [`Exporter`] to add an end-to-end latency histogram.
///
/// # Errors
///
/// The error of binding `addr` (in use, not an address of this host…).
///
/// # Examples
///
/// ```
/// use weir_core::{Pipeline, sink};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn()?;
/// let server = weir_metrics::serve("127.0.0.1:0", handle.monitor()).await?;
/// assert!(server.local_addr().port() != 0);
/// handle.join().await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve(addr: impl ToSocketAddrs, monitor: Monitor) -> std::io::Result<MetricsServer> {
    Exporter::new(monitor).serve(addr).await
}
