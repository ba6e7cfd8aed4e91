//! The printed result table.

use std::fmt;

use crate::latency::Latency;

/// One measured line.
#[derive(Debug)]
pub(crate) struct Row {
    case: String,
    label: String,
    rate: f64,
    ratios: Vec<(&'static str, f64)>,
    target: Option<(String, bool)>,
}

impl Row {
    pub(crate) fn baseline(case: &str, label: &str, rate: f64) -> Self {
        Self { case: case.to_owned(), label: label.to_owned(), rate, ratios: Vec::new(), target: None }
    }

    pub(crate) fn measured(case: &str, label: &str, rate: f64) -> Self {
        Self::baseline(case, label, rate)
    }

    pub(crate) fn vs(mut self, name: &'static str, rate: f64) -> Self {
        self.ratios.push((name, self.rate / rate));
        self
    }

    pub(crate) fn target(mut self, text: &str, met: bool) -> Self {
        self.target = Some((text.to_owned(), met));
        self
    }
}

/// Every line of a run.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Row>,
    extra: Vec<String>,
}

impl Table {
    pub(crate) fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub(crate) fn latency(&mut self, case: &str, label: &str, l: Latency) {
        self.extra.push(format!("| {case} | {label} | p50 {:.1?} | p99 {:.1?} |", l.p50, l.p99));
    }

    pub(crate) fn memory(&mut self, small_n: u64, small: u64, large_n: u64, large: u64) {
        let growth = large as f64 / small.max(1) as f64;
        let verdict = if growth <= 1.10 { "met" } else { "MISSED" };
        self.extra.push(format!(
            "| peak RSS through a slow sink | {small_n} items: {small} KiB; {large_n} items: {large} KiB | ratio {growth:.2} | target <= 1.10: {verdict} |"
        ));
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| case | implementation | items/s | ratios | target |")?;
        writeln!(f, "|---|---|---:|---|---|")?;
        for r in &self.rows {
            let ratios: Vec<String> = r.ratios.iter().map(|(n, x)| format!("{x:.2}x {n}")).collect();
            let target = match &r.target {
                Some((t, true)) => format!("{t}: met"),
                Some((t, false)) => format!("{t}: MISSED"),
                None => String::new(),
            };
            writeln!(
                f,
                "| {} | {} | {:.2} M | {} | {} |",
                r.case,
                r.label,
                r.rate / 1e6,
                ratios.join(", "),
                target
            )?;
        }
        if self.extra.is_empty() {
            return Ok(());
        }
        writeln!(f)?;
        writeln!(f, "| case | implementation | latency | | |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for line in &self.extra {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
