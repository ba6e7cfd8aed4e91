//! A self-contained HTML report of a run: one page with inline CSS and
//! inline SVG, no scripts, nothing fetched.
//!
//! The page shows the run's title, how it ended, its wall time, rate and
//! conservation line; the stage graph coloured by backpressure;
//! throughput and queue depth over time; latency percentiles; and
//! retries and dead letters by class.

use std::fmt;
use std::path::Path;

use weir_core::Report;

use crate::Snapshot;

mod bars;
mod escape;
mod failures;
mod graph;
mod latency;
mod line;
mod page;
mod style;
mod svg;
mod timeline;

/// Renders the report of a run: `title`, the sampler's history and the
/// run's final report, as one self-contained HTML page.
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_view::Sampler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = Pipeline::from_iter(0..1000).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
/// let sampling = Sampler::new().start(handle.monitor())?;
/// let report = handle.join().await?;
/// let history = sampling.finish(&report);
/// let page = weir_view::html::render("doubling", &history.snapshot(), &report);
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// assert!(page.contains("<svg") && page.contains(">double</text>"));
/// # Ok(())
/// # }
/// ```
pub fn render(title: &str, snapshot: &Snapshot, report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    // Writing to a `String` cannot fail.
    let _ = write_page(&mut out, title, snapshot, report);
    out
}

/// Writes [`render`]`(title, snapshot, report)` to the file at `path`,
/// replacing it if there is one.
///
/// # Errors
///
/// When the file cannot be written.
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_view::Sampler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = Pipeline::from_iter(0..100).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
/// let sampling = Sampler::new().start(handle.monitor())?;
/// let report = handle.join().await?;
/// let history = sampling.finish(&report);
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.html");
/// weir_view::html::write(&path, "doubling", &history.snapshot(), &report)?;
/// assert!(std::fs::read_to_string(&path)?.starts_with("<!DOCTYPE html>"));
/// # Ok(())
/// # }
/// ```
pub fn write(
    path: impl AsRef<Path>,
    title: &str,
    snapshot: &Snapshot,
    report: &Report,
) -> std::io::Result<()> {
    std::fs::write(path, render(title, snapshot, report))
}

fn write_page(out: &mut String, title: &str, snapshot: &Snapshot, report: &Report) -> fmt::Result {
    page::open(out, title)?;
    page::header(out, title, report)?;
    graph::section(out, report)?;
    timeline::throughput(out, snapshot, report)?;
    timeline::queues(out, snapshot, report)?;
    latency::section(out, snapshot, report)?;
    failures::section(out, report)?;
    page::close(out, snapshot)
}

#[cfg(test)]
mod tests;
