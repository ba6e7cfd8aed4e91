//! What the SVG charts share: axes with round ticks, number labels,
//! legends and the notes shown instead of a chart.

use std::fmt::{self, Write as _};

use super::escape::escape;

/// One axis of a chart: the range it shows and the step of its ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl Axis {
    /// From `lo` to `hi` (widened to one unit if they are equal), with
    /// about five ticks at round values.
    pub(crate) fn new(lo: f64, hi: f64) -> Self {
        let hi = if hi - lo > 1e-9 { hi } else { lo + 1.0 };
        Self { lo, hi, step: round_step(hi - lo) }
    }

    /// From zero to `max` rounded up to the next tick (one if `max` is
    /// not positive).
    pub(crate) fn from_zero(max: f64) -> Self {
        let max = if max > 0.0 && max.is_finite() { max } else { 1.0 };
        let step = round_step(max);
        Self { lo: 0.0, hi: (max / step).ceil() * step, step }
    }

    /// The round values within the range.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        let first = (self.lo / self.step - 1e-9).ceil();
        let last = (self.hi / self.step + 1e-9).floor();
        let count = (last - first).max(0.0) as usize;
        (0..=count).map(|i| (first + i as f64) * self.step + 0.0).collect()
    }

    /// `value` written with as many decimals as the step needs.
    pub(crate) fn label(&self, value: f64) -> String {
        let decimals = if self.step >= 1.0 { 0 } else { (-self.step.log10()).ceil() as usize };
        format!("{value:.decimals$}")
    }

    /// Where `value` falls between the coordinates `from` (at `lo`) and
    /// `to` (at `hi`).
    pub(crate) fn scale(&self, value: f64, from: f64, to: f64) -> f64 {
        from + (value - self.lo) / (self.hi - self.lo) * (to - from)
    }
}

/// A step of 1, 2 or 5 times a power of ten that cuts `range` into
/// about five.
fn round_step(range: f64) -> f64 {
    let raw = range / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = match raw / magnitude {
        n if n < 1.5 => 1.0,
        n if n < 3.0 => 2.0,
        n if n < 7.0 => 5.0,
        _ => 10.0,
    };
    step * magnitude
}

/// The attributes that squeeze `text` into `width` when it is longer
/// than `chars` characters (none otherwise): long names stay whole.
pub(crate) fn fit(text: &str, chars: usize, width: f64) -> String {
    if text.chars().count() > chars {
        format!(r#" textLength="{width:.0}" lengthAdjust="spacingAndGlyphs""#)
    } else {
        String::new()
    }
}

/// A count written short for a small box: `950`, `12.3k`, `4.5M`.
pub(crate) fn short_count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..10_000_000 => format!("{:.1}k", n as f64 / 1e3),
        10_000_000..10_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// One entry of a legend: a label and its colour, drawn as a line
/// (dashed or not) or as a filled square.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    pub(crate) label: &'a str,
    pub(crate) colour: &'static str,
    pub(crate) mark: Mark,
}

/// How a legend entry shows its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Line,
    Dashed,
    Square,
}

/// Height of a legend row.
pub(crate) const LEGEND_ROW: f64 = 18.0;

/// The width of every chart, in SVG units (the page scales it).
pub(crate) const WIDTH: f64 = 1000.0;
/// Where every chart's plot ends on the right.
pub(crate) const PLOT_RIGHT: f64 = 760.0;
/// Where every chart's legend starts.
pub(crate) const LEGEND_X: f64 = 784.0;

/// Writes a legend, one entry a row from (`x`, `y`).
pub(crate) fn legend(out: &mut String, entries: &[Entry<'_>], x: f64, y: f64) -> fmt::Result {
    for (i, entry) in entries.iter().enumerate() {
        let y = y + i as f64 * LEGEND_ROW;
        let colour = entry.colour;
        match entry.mark {
            Mark::Square => {
                write!(out, r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{colour}"/>"#, y - 10.0)?;
            }
            Mark::Line | Mark::Dashed => {
                let dash = if entry.mark == Mark::Dashed { r#" stroke-dasharray="5 3""# } else { "" };
                write!(
                    out,
                    r#"<line x1="{x}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{colour}" stroke-width="2.5"{dash}/>"#,
                    y - 4.0,
                    x + 16.0,
                    y - 4.0
                )?;
            }
        }
        writeln!(
            out,
            r##"<text x="{}" y="{y:.1}" fill="#1f2328"{}>{}</text>"##,
            x + 22.0,
            fit(entry.label, 26, 190.0),
            escape(entry.label)
        )?;
    }
    Ok(())
}

/// Writes a note in place of a chart.
pub(crate) fn note(out: &mut String, text: &str) -> fmt::Result {
    writeln!(out, r#"<p class="note">{}</p>"#, escape(text))
}

/// Whether `samples` are enough for a chart over time (two or more);
/// if not, writes a note saying so.
pub(crate) fn enough_samples(out: &mut String, samples: usize) -> Result<bool, fmt::Error> {
    if samples >= 2 {
        return Ok(true);
    }
    let plural = if samples == 1 { "" } else { "s" };
    note(out, &format!("{samples} sample{plural}: not enough samples to draw a chart over time."))?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_have_round_ticks() {
        let axis = Axis::from_zero(87.0);
        assert_eq!(axis.ticks(), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(axis.label(40.0), "40");
        let axis = Axis::new(0.3, 1.2);
        assert_eq!(
            axis.ticks().iter().map(|t| axis.label(*t)).collect::<Vec<_>>(),
            ["0.4", "0.6", "0.8", "1.0", "1.2"]
        );
        assert_eq!(Axis::new(2.0, 2.0).ticks().len(), 6);
        assert_eq!(Axis::from_zero(0.0).scale(0.5, 100.0, 0.0), 50.0);
        assert_eq!(short_count(12_345), "12.3k");
    }
}
