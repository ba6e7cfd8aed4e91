//! Charts over the run's samples: throughput and queue depth per stage.

use std::fmt::{self, Write as _};

use weir_core::Report;

use super::line::{LineChart, Series};
use super::{style, svg};
use crate::Snapshot;

const X_TITLE: &str = "seconds since the run started";

/// Writes the section of throughput over time.
pub(crate) fn throughput(out: &mut String, snapshot: &Snapshot, report: &Report) -> fmt::Result {
    writeln!(out, "<section>\n<h2>Throughput over time</h2>")?;
    writeln!(
        out,
        r#"<p class="caption">Items each stage handed on per second (the sink: delivered), over each sampling interval.</p>"#
    )?;
    if svg::enough_samples(out, snapshot.samples.len())? {
        let series = report
            .stages()
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                Series::of_stage(snapshot, &stage.name, style::series(i), |s| Some(s.out_per_sec))
            })
            .collect();
        let chart = LineChart {
            label: "throughput per stage over time",
            x_title: X_TITLE,
            y_title: "items/s out",
            series,
            dashed_legend: None,
        };
        chart.write(out, "No stage handed anything on.")?;
    }
    writeln!(out, "</section>")
}

/// Writes the section of queue depth over time: the stages with a
/// queue, or what every stage held if none has one.
pub(crate) fn queues(out: &mut String, snapshot: &Snapshot, report: &Report) -> fmt::Result {
    writeln!(out, "<section>\n<h2>Queue depth over time</h2>")?;
    if !svg::enough_samples(out, snapshot.samples.len())? {
        return writeln!(out, "</section>");
    }
    let stages = report.stages().iter().enumerate();
    let queued: Vec<_> = stages
        .clone()
        .filter(|(_, stage)| {
            snapshot.samples.iter().any(|sample| sample.stage(&stage.name).is_some_and(|s| s.queue.is_some()))
        })
        .collect();
    let chart = if queued.is_empty() {
        writeln!(
            out,
            r#"<p class="caption">No stage has a queue: this plots the items in flight in each stage instead.</p>"#
        )?;
        let series = stages
            .map(|(i, stage)| {
                Series::of_stage(snapshot, &stage.name, style::series(i), |s| Some(s.in_flight as f64))
            })
            .collect();
        LineChart {
            label: "items in flight per stage over time",
            x_title: X_TITLE,
            y_title: "items in flight",
            series,
            dashed_legend: None,
        }
    } else {
        writeln!(
            out,
            r#"<p class="caption">Items waiting in each stage's queue (a buffer, a fan-out) at each sample; dashed: the queue's capacity.</p>"#
        )?;
        let series = queued
            .into_iter()
            .flat_map(|(i, stage)| {
                let colour = style::series(i);
                let depth =
                    Series::of_stage(snapshot, &stage.name, colour, |s| s.queue.map(|(d, _)| d as f64));
                let capacity =
                    Series::of_stage(snapshot, &stage.name, colour, |s| s.queue.map(|(_, c)| c as f64));
                [depth, capacity.dashed()]
            })
            .collect();
        LineChart {
            label: "queue depth per stage over time",
            x_title: X_TITLE,
            y_title: "items queued",
            series,
            dashed_legend: Some("capacity"),
        }
    };
    chart.write(out, "Nothing to plot.")?;
    writeln!(out, "</section>")
}
