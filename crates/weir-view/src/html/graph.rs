//! The stage graph: a box per stage, left to right, coloured by how
//! backpressured the stage was over the run.

use std::fmt::{self, Write as _};

use weir_core::{Report, StageKind, StageReport};

use super::escape::escape;
use super::style;
use super::svg::{self, Entry, Mark};

const PER_ROW: usize = 6;
const BOX_W: f64 = 140.0;
const BOX_H: f64 = 84.0;
const GAP: f64 = 40.0;
const ROW_GAP: f64 = 44.0;
const MARGIN: f64 = 12.0;

/// Writes the section of the stage graph.
pub(crate) fn section(out: &mut String, report: &Report) -> fmt::Result {
    writeln!(out, "<section>\n<h2>Stages</h2>")?;
    writeln!(
        out,
        r#"<p class="caption">Each box: items in and out (for the sink: delivered), the share of the run it was busy (per worker) and backpressured. Colour: how backpressured it was.</p>"#
    )?;
    let stages = report.stages();
    if stages.is_empty() {
        svg::note(out, "The run has no stages.")?;
        return writeln!(out, "</section>");
    }
    let columns = stages.len().min(PER_ROW);
    let rows = stages.len().div_ceil(PER_ROW);
    let width = 2.0 * MARGIN + columns as f64 * BOX_W + (columns - 1) as f64 * GAP;
    let legend_y = MARGIN + rows as f64 * (BOX_H + ROW_GAP) - ROW_GAP + 26.0;
    writeln!(
        out,
        r#"<svg viewBox="0 0 {width:.0} {:.0}" style="max-width:{width:.0}px" role="img" aria-label="stage graph" font-size="12">"#,
        legend_y + 12.0
    )?;
    writeln!(
        out,
        r##"<defs><marker id="weir-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>"##
    )?;
    let wall = report.wall_time().as_secs_f64();
    for (index, stage) in stages.iter().enumerate() {
        if index + 1 < stages.len() {
            arrow(out, index)?;
        }
        stage_box(out, index, stage, wall)?;
    }
    let legend: Vec<Entry<'_>> =
        style::PRESSURE.iter().map(|&(label, colour)| Entry { label, colour, mark: Mark::Square }).collect();
    for (i, entry) in legend.iter().enumerate() {
        svg::legend(out, std::slice::from_ref(entry), MARGIN + i as f64 * 170.0, legend_y)?;
    }
    writeln!(out, "</svg>\n</section>")
}

/// The top left corner of the box of the stage at `index`.
fn corner(index: usize) -> (f64, f64) {
    let (row, column) = (index / PER_ROW, index % PER_ROW);
    (MARGIN + column as f64 * (BOX_W + GAP), MARGIN + row as f64 * (BOX_H + ROW_GAP))
}

/// The arrow from the stage at `index` to the next: straight within a
/// row, down and back to the start of the next row when it wraps.
fn arrow(out: &mut String, index: usize) -> fmt::Result {
    let ((x, y), (next_x, next_y)) = (corner(index), corner(index + 1));
    let path = if next_y > y {
        let middle = y + BOX_H + ROW_GAP / 2.0;
        format!(
            "M{:.1},{:.1} V{middle:.1} H{:.1} V{:.1}",
            x + BOX_W / 2.0,
            y + BOX_H,
            next_x + BOX_W / 2.0,
            next_y - 1.0
        )
    } else {
        format!("M{:.1},{:.1} H{:.1}", x + BOX_W, y + BOX_H / 2.0, next_x - 1.0)
    };
    writeln!(
        out,
        r##"<path d="{path}" fill="none" stroke="#57606a" stroke-width="1.5" marker-end="url(#weir-arrow)"/>"##
    )
}

/// What fraction of the run (0 to 1) `time` is, divided by `workers`.
fn share(time: std::time::Duration, wall: f64, workers: u64) -> f64 {
    if wall > 0.0 { (time.as_secs_f64() / wall / workers.max(1) as f64).clamp(0.0, 1.0) } else { 0.0 }
}

/// Writes the box of one stage.
fn stage_box(out: &mut String, index: usize, stage: &StageReport, wall: f64) -> fmt::Result {
    let (x, y) = corner(index);
    let timing = &stage.timing;
    let workers = stage.gauge("workers").unwrap_or(1);
    let busy = share(timing.busy, wall, workers);
    let backpressured = share(timing.backpressured, wall, 1);
    let timed = !(timing.busy + timing.idle + timing.backpressured).is_zero();
    let (kind, counts) = match stage.kind {
        StageKind::Source => ("source", format!("out {}", svg::short_count(stage.emitted))),
        StageKind::Sink => (
            "sink",
            format!(
                "in {} · delivered {}",
                svg::short_count(stage.received),
                svg::short_count(stage.delivered)
            ),
        ),
        _ => (
            "transform",
            format!("in {} · out {}", svg::short_count(stage.received), svg::short_count(stage.emitted)),
        ),
    };
    let times = if timed {
        format!("busy {:.0} % · bp {:.0} %", busy * 100.0, backpressured * 100.0)
    } else {
        "not timed".to_owned()
    };
    let fill = if timed { style::pressure(backpressured) } else { "#eef0f3" };
    let (centre, name) = (x + BOX_W / 2.0, escape(&stage.name));
    writeln!(out, "<g>")?;
    writeln!(
        out,
        r##"<title>{name} ({kind}): received {}, emitted {}, delivered {}; busy {:.1} %, backpressured {:.1} %</title>"##,
        stage.received,
        stage.emitted,
        stage.delivered,
        busy * 100.0,
        backpressured * 100.0
    )?;
    writeln!(
        out,
        r##"<rect x="{x:.1}" y="{y:.1}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="#57606a"/><rect x="{:.1}" y="{:.1}" width="{}" height="4" fill="{}"/>"##,
        x + 6.0,
        y + 1.0,
        BOX_W - 12.0,
        style::series(index)
    )?;
    writeln!(
        out,
        r##"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" font-weight="600" font-size="13" fill="#1f2328"{}>{name}</text>"##,
        y + 22.0,
        svg::fit(&stage.name, 18, BOX_W - 12.0)
    )?;
    for (line, (text, colour)) in
        [(kind.to_owned(), "#57606a"), (counts, "#1f2328"), (times, "#1f2328")].into_iter().enumerate()
    {
        writeln!(
            out,
            r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="{colour}"{}>{}</text>"#,
            y + 39.0 + line as f64 * 16.0,
            svg::fit(&text, 22, BOX_W - 12.0),
            escape(&text)
        )?;
    }
    writeln!(out, "</g>")
}
