//! Failures: retries and dead letters by class, per stage.

use std::fmt::{self, Write as _};

use weir_core::{Report, StageReport};

use super::bars::{self, Bar};
use super::escape::escape;
use super::{style, svg};

/// One column of the table: its heading and what it counts of a stage.
type Column = (&'static str, fn(&StageReport) -> u64);

/// The columns of the table (the 4th to 6th under "dead-lettered").
const COLUMNS: [Column; 10] = [
    ("failed", |s| s.failed),
    ("retries", |s| s.retries),
    ("retried items", |s| s.retried),
    ("transient", |s| s.dead_lettered_by_class[0]),
    ("permanent", |s| s.dead_lettered_by_class[1]),
    ("poison", |s| s.dead_lettered_by_class[2]),
    ("discarded", |s| s.discarded),
    ("returned", |s| s.returned),
    ("panicked", |s| s.panicked),
    ("store retries", |s| s.store_retries),
];

/// Writes the section of retries and dead letters.
pub(crate) fn section(out: &mut String, report: &Report) -> fmt::Result {
    writeln!(out, "<section>\n<h2>Retries and dead letters</h2>")?;
    out.push_str("<div class=\"scroll\">\n<table>\n<thead>\n<tr><th rowspan=\"2\">stage</th>");
    for (heading, _) in &COLUMNS[..3] {
        write!(out, r#"<th rowspan="2" class="num">{heading}</th>"#)?;
    }
    out.push_str(r#"<th colspan="3" class="group">dead-lettered</th>"#);
    for (heading, _) in &COLUMNS[6..] {
        write!(out, r#"<th rowspan="2" class="num">{heading}</th>"#)?;
    }
    out.push_str("</tr>\n<tr>");
    for (heading, _) in &COLUMNS[3..6] {
        write!(out, r#"<th class="num">{heading}</th>"#)?;
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for stage in report.stages() {
        write!(out, "<tr><td>{}</td>", escape(&stage.name))?;
        for (_, count) in COLUMNS {
            write!(out, r#"<td class="num">{}</td>"#, count(stage))?;
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n<tfoot><tr><td>all stages</td>");
    for (_, count) in COLUMNS {
        write!(out, r#"<td class="num">{}</td>"#, report.stages().iter().map(count).sum::<u64>())?;
    }
    out.push_str("</tr></tfoot>\n</table>\n</div>\n<h3>Dead letters by class</h3>\n");
    let bars: Vec<Bar> = report
        .stages()
        .iter()
        .filter(|stage| stage.dead_lettered() > 0)
        .map(|stage| Bar { label: stage.name.clone(), parts: stage.dead_lettered_by_class.to_vec() })
        .collect();
    if bars.is_empty() {
        svg::note(out, "No dead letters: no failure was stored in a dead-letter sink.")?;
    } else {
        bars::write(out, "dead letters by class per stage", &bars, &style::CLASSES, "dead-lettered items")?;
    }
    writeln!(out, "</section>")
}
