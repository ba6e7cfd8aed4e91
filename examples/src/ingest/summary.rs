//! The report the ingest program prints at the end.

use std::fmt::Write as _;

use weir::Report;

use super::job::Tallies;

/// The final report: counts, rate, end-to-end latency and the
/// conservation line. `duplicates` is what the store absorbed (rows it
/// already had), when it can tell.
pub fn summary(report: &Report, tallies: &Tallies, duplicates: Option<u64>) -> String {
    let mut out = String::new();
    let secs = report.wall_time().as_secs_f64().max(1e-9);
    let stage = |name: &str| report.stage(name);
    let dead = |name: &str| stage(name).map_or(0, |s| s.dead_lettered());
    let _ = writeln!(out, "ingest: {:?} after {:.2} s", report.ending(), secs);
    let _ = writeln!(out, "  in                 {:>12}", report.source_items());
    let _ = writeln!(out, "  stored             {:>12}", report.delivered());
    if let Some(duplicates) = duplicates {
        let _ = writeln!(out, "  duplicates absorbed{:>12}", duplicates);
    }
    let _ = writeln!(out, "  dead-lettered      {:>12}", report.dead_lettered());
    let _ = writeln!(out, "    read errors      {:>12}", dead("read"));
    for (reason, n) in tallies.malformed.lock().expect("not poisoned").iter() {
        let _ = writeln!(out, "    malformed: {reason:<21}{n:>8}");
    }
    let _ = writeln!(out, "    invalid          {:>12}", dead("validate"));
    let _ = writeln!(out, "    store gave up    {:>12}", dead("store"));
    let retries: u64 = report.stages().iter().map(|s| s.retries).sum();
    let _ = writeln!(out, "  retries            {:>12}", retries);
    let gauge = |stage: &str, name: &str| {
        report.stage(stage).and_then(|s| s.gauges.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
    };
    if let (Some(opened), Some(closed)) = (gauge("store", "breaker_opened"), gauge("store", "breaker_closed"))
    {
        let _ = writeln!(out, "  database breaker   opened {opened}, closed {closed}");
    }
    if let Some(limit) = gauge("enrich", "concurrency_limit") {
        let _ = writeln!(out, "  enrich limit       {:>12} (adaptive)", limit);
    }
    if report.abandoned() > 0 {
        let _ = writeln!(out, "  abandoned          {:>12} (not acknowledged)", report.abandoned());
    }
    let _ = writeln!(out, "  rate               {:>12.0} packets/s", report.source_items() as f64 / secs);
    let latency = tallies.latency.lock().expect("not poisoned");
    if !latency.is_empty() {
        let ms = |us: u64| us as f64 / 1000.0;
        let _ = writeln!(
            out,
            "  latency (arrival to commit) p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max())
        );
    }
    let verdict = if report.is_conserved() { "conserved" } else { "NOT CONSERVED" };
    let _ = writeln!(
        out,
        "  in {} = stored {} + dead-lettered {} + filtered {} + discarded {} + returned {} + abandoned {}: {verdict}",
        report.source_items(),
        report.delivered(),
        report.dead_lettered(),
        report.filtered(),
        report.discarded(),
        report.returned(),
        report.abandoned()
    );
    out
}
