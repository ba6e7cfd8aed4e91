//! Line charts over time: one polyline per series, with axes, ticks,
//! axis titles and a legend.

use std::fmt::{self, Write as _};

use super::escape::escape;
use super::svg::{self, Axis, Entry, LEGEND_X, Mark, PLOT_RIGHT, WIDTH};
use crate::{Snapshot, StageSample};

const PLOT_LEFT: f64 = 72.0;
const PLOT_TOP: f64 = 14.0;
const PLOT_BOTTOM: f64 = 236.0;

/// One line of a chart: its points, `None` where there is no value (the
/// line breaks there).
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) colour: &'static str,
    pub(crate) dashed: bool,
    pub(crate) points: Vec<(f64, Option<f64>)>,
}

impl Series {
    /// The series of the stage `stage` over the samples of `snapshot`:
    /// at each sample's time, `value` of the stage's sample.
    pub(crate) fn of_stage(
        snapshot: &Snapshot,
        stage: &str,
        colour: &'static str,
        value: impl Fn(&StageSample) -> Option<f64>,
    ) -> Self {
        let points = snapshot
            .samples
            .iter()
            .map(|sample| (sample.at, sample.stage(stage).and_then(&value).filter(|v| v.is_finite())))
            .collect();
        Self { name: stage.to_owned(), colour, dashed: false, points }
    }

    /// The same, drawn dashed.
    pub(crate) fn dashed(self) -> Self {
        Self { dashed: true, ..self }
    }

    fn values(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.points.iter().filter_map(|&(x, y)| y.map(|y| (x, y)))
    }
}

/// A line chart: its series and the titles of its axes.
#[derive(Debug, Clone)]
pub(crate) struct LineChart<'a> {
    /// What the chart shows, for screen readers.
    pub(crate) label: &'a str,
    pub(crate) x_title: &'a str,
    pub(crate) y_title: &'a str,
    pub(crate) series: Vec<Series>,
    /// The legend of the dashed series, if any (they are left out of the
    /// per-series legend).
    pub(crate) dashed_legend: Option<&'a str>,
}

impl LineChart<'_> {
    /// Writes the chart as inline SVG, or `empty` as a note if no series
    /// has a value.
    pub(crate) fn write(&self, out: &mut String, empty: &str) -> fmt::Result {
        let values = self.series.iter().flat_map(Series::values);
        let Some((x_lo, x_hi, y_hi)) = values.fold(None, |range: Option<(f64, f64, f64)>, (x, y)| {
            Some(range.map_or((x, x, y), |(lo, hi, top)| (lo.min(x), hi.max(x), top.max(y))))
        }) else {
            return svg::note(out, empty);
        };
        let (x_axis, y_axis) = (Axis::new(x_lo, x_hi), Axis::from_zero(y_hi));
        let mut legend: Vec<Entry<'_>> = self
            .series
            .iter()
            .filter(|s| !s.dashed)
            .map(|s| Entry { label: &s.name, colour: s.colour, mark: Mark::Line })
            .collect();
        if let Some(label) = self.dashed_legend {
            legend.push(Entry { label, colour: "#57606a", mark: Mark::Dashed });
        }
        let height = (PLOT_BOTTOM + 48.0).max(PLOT_TOP + 12.0 + legend.len() as f64 * svg::LEGEND_ROW);
        writeln!(
            out,
            r#"<svg viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{}" font-size="12">"#,
            escape(self.label)
        )?;
        self.axes(out, &x_axis, &y_axis)?;
        for series in &self.series {
            plot(out, series, &x_axis, &y_axis)?;
        }
        svg::legend(out, &legend, LEGEND_X, PLOT_TOP + 10.0)?;
        writeln!(out, "</svg>")
    }

    fn axes(&self, out: &mut String, x_axis: &Axis, y_axis: &Axis) -> fmt::Result {
        for tick in y_axis.ticks() {
            let y = y_axis.scale(tick, PLOT_BOTTOM, PLOT_TOP);
            writeln!(
                out,
                r##"<line x1="{PLOT_LEFT}" y1="{y:.1}" x2="{PLOT_RIGHT}" y2="{y:.1}" stroke="#e6e9ed"/><text x="{}" y="{:.1}" text-anchor="end" fill="#57606a">{}</text>"##,
                PLOT_LEFT - 6.0,
                y + 4.0,
                y_axis.label(tick)
            )?;
        }
        for tick in x_axis.ticks() {
            let x = x_axis.scale(tick, PLOT_LEFT, PLOT_RIGHT);
            writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{PLOT_BOTTOM}" x2="{x:.1}" y2="{}" stroke="#57606a"/><text x="{x:.1}" y="{}" text-anchor="middle" fill="#57606a">{}</text>"##,
                PLOT_BOTTOM + 5.0,
                PLOT_BOTTOM + 18.0,
                x_axis.label(tick)
            )?;
        }
        writeln!(
            out,
            r##"<path d="M{PLOT_LEFT},{PLOT_TOP} V{PLOT_BOTTOM} H{PLOT_RIGHT}" fill="none" stroke="#57606a"/>"##
        )?;
        writeln!(
            out,
            r##"<text x="{:.0}" y="{}" text-anchor="middle" fill="#1f2328">{}</text>"##,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            PLOT_BOTTOM + 38.0,
            escape(self.x_title)
        )?;
        let middle = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
        writeln!(
            out,
            r##"<text x="16" y="{middle:.0}" transform="rotate(-90 16 {middle:.0})" text-anchor="middle" fill="#1f2328">{}</text>"##,
            escape(self.y_title)
        )
    }
}

/// Writes one series: a polyline per run of values, a dot for a lone one.
fn plot(out: &mut String, series: &Series, x_axis: &Axis, y_axis: &Axis) -> fmt::Result {
    let (colour, name) = (series.colour, escape(&series.name));
    let dash = if series.dashed { r#" stroke-dasharray="6 4""# } else { "" };
    for run in series.points.split(|(_, y)| y.is_none()).filter(|run| !run.is_empty()) {
        let at = |&(x, y): &(f64, Option<f64>)| {
            (x_axis.scale(x, PLOT_LEFT, PLOT_RIGHT), y_axis.scale(y.unwrap_or(0.0), PLOT_BOTTOM, PLOT_TOP))
        };
        if let [point] = run {
            let (x, y) = at(point);
            writeln!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"><title>{name}</title></circle>"#
            )?;
            continue;
        }
        let points: Vec<String> = run.iter().map(at).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash}><title>{name}</title></polyline>"#,
            points.join(" ")
        )?;
    }
    Ok(())
}
