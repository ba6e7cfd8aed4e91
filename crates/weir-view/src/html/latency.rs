//! Latency percentiles: over the whole run per stage, and p99 over time.

use std::fmt::{self, Write as _};
use std::time::Duration;

use weir_core::Report;

use super::escape::escape;
use super::line::{LineChart, Series};
use super::{style, svg};
use crate::Snapshot;

/// The percentiles in the table: their heading and quantile.
const PERCENTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

/// Writes the section of latencies.
pub(crate) fn section(out: &mut String, snapshot: &Snapshot, report: &Report) -> fmt::Result {
    writeln!(out, "<section>\n<h2>Latency</h2>")?;
    writeln!(
        out,
        r#"<p class="caption">Age of marked items (about one per millisecond at the source) when they left each stage, over the whole run, in milliseconds.</p>"#
    )?;
    out.push_str(
        "<div class=\"scroll\">\n<table>\n<thead><tr><th>stage</th><th class=\"num\">marked items</th>",
    );
    for (heading, _) in PERCENTILES {
        write!(out, r#"<th class="num">{heading} ms</th>"#)?;
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for stage in report.stages() {
        let latency = &stage.timing.latency;
        write!(out, r#"<tr><td>{}</td><td class="num">{}</td>"#, escape(&stage.name), latency.count())?;
        for (_, q) in PERCENTILES {
            write!(out, r#"<td class="num">{}</td>"#, millis(latency.quantile(q)))?;
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n<h3>p99 over time</h3>\n");
    if svg::enough_samples(out, snapshot.samples.len())? {
        let series = report
            .stages()
            .iter()
            .enumerate()
            .map(|(i, stage)| Series::of_stage(snapshot, &stage.name, style::series(i), |s| s.p99_ms))
            .collect();
        let chart = LineChart {
            label: "p99 latency per stage over time",
            x_title: "seconds since the run started",
            y_title: "p99 latency (ms)",
            series,
            dashed_legend: None,
        };
        chart.write(out, "No latency was recorded in any interval.")?;
    }
    writeln!(out, "</section>")
}

/// A latency in milliseconds with two decimals, or a dash for none.
fn millis(latency: Option<Duration>) -> String {
    latency.map_or_else(|| "–".to_owned(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0))
}
