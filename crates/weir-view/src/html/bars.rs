//! Horizontal stacked bar charts: one bar per row, split into parts.

use std::fmt::{self, Write as _};

use super::escape::escape;
use super::svg::{self, Axis, Entry, LEGEND_X, Mark, PLOT_RIGHT, WIDTH};

const PLOT_LEFT: f64 = 180.0;
const TOP: f64 = 10.0;
const ROW: f64 = 28.0;
const BAR: f64 = 18.0;

/// One bar: its label and the size of each part.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) parts: Vec<u64>,
}

/// Writes the bars as inline SVG; `parts` names and colours their parts,
/// `x_title` says what they count.
pub(crate) fn write(
    out: &mut String,
    label: &str,
    bars: &[Bar],
    parts: &[(&str, &'static str)],
    x_title: &str,
) -> fmt::Result {
    let max = bars.iter().map(|bar| bar.parts.iter().sum::<u64>()).max().unwrap_or(0);
    let axis = Axis::from_zero(max as f64);
    let bottom = TOP + bars.len() as f64 * ROW;
    let legend_height = TOP + 12.0 + parts.len() as f64 * svg::LEGEND_ROW;
    let height = (bottom + 44.0).max(legend_height);
    writeln!(
        out,
        r#"<svg viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{}" font-size="12">"#,
        escape(label)
    )?;
    for tick in axis.ticks() {
        let x = axis.scale(tick, PLOT_LEFT, PLOT_RIGHT);
        writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e6e9ed"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#57606a">{}</text>"##,
            bottom + 16.0,
            axis.label(tick)
        )?;
    }
    for (row, bar) in bars.iter().enumerate() {
        let y = TOP + row as f64 * ROW + (ROW - BAR) / 2.0;
        writeln!(
            out,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#1f2328"{}>{}</text>"##,
            PLOT_LEFT - 8.0,
            y + BAR / 2.0 + 4.0,
            svg::fit(&bar.label, 24, PLOT_LEFT - 16.0),
            escape(&bar.label)
        )?;
        let mut sum = 0;
        for (&n, &(part, colour)) in bar.parts.iter().zip(parts).filter(|(n, _)| **n > 0) {
            let x = axis.scale(sum as f64, PLOT_LEFT, PLOT_RIGHT);
            sum += n;
            let width = axis.scale(sum as f64, PLOT_LEFT, PLOT_RIGHT) - x;
            writeln!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{BAR}" fill="{colour}"><title>{}: {n} {part}</title></rect>"#,
                escape(&bar.label)
            )?;
        }
    }
    writeln!(
        out,
        r##"<path d="M{PLOT_LEFT},{TOP} V{bottom:.1} H{PLOT_RIGHT}" fill="none" stroke="#57606a"/>"##
    )?;
    writeln!(
        out,
        r##"<text x="{:.0}" y="{:.1}" text-anchor="middle" fill="#1f2328">{}</text>"##,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        bottom + 36.0,
        escape(x_title)
    )?;
    let legend: Vec<Entry<'_>> =
        parts.iter().map(|&(label, colour)| Entry { label, colour, mark: Mark::Square }).collect();
    svg::legend(out, &legend, LEGEND_X, TOP + 12.0)?;
    writeln!(out, "</svg>")
}
