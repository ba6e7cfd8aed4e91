//! The progress bar: rate and counts on stderr while the job runs, read
//! from the pipeline's live report (never from the hot path).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use weir::Monitor;

/// Shows the live counts every 100 ms until the returned task is
/// aborted; draws nothing when `quiet` or when stderr is not a terminal.
pub fn show(monitor: Monitor, total: Option<u64>, quiet: bool) -> JoinHandle<()> {
    let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), target),
        None => ProgressBar::with_draw_target(None, target),
    };
    let style = match total {
        Some(_) => "{elapsed_precise} [{bar:30}] {pos}/{len} in, {msg}",
        None => "{elapsed_precise} {spinner} {pos} in, {msg}",
    };
    bar.set_style(ProgressStyle::with_template(style).expect("a valid template").progress_chars("=> "));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let report = monitor.report();
            let secs = report.wall_time().as_secs_f64().max(1e-9);
            let retrying: u64 = report.stages().iter().map(|s| s.retries).sum();
            bar.set_position(report.source_items());
            bar.set_message(format!(
                "{} stored, {} dead-lettered, {} retries, {:.0}/s",
                report.delivered(),
                report.dead_lettered(),
                retrying,
                report.source_items() as f64 / secs
            ));
        }
    })
}
