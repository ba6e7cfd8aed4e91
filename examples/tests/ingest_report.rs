//! `ingest --report`: the HTML report of a real run, opened in a real
//! browser. Headless Chromium (Debian's `chromium`; `.ci/run` installs it)
//! loads the file with the network off, takes a screenshot, which must not
//! be blank, and dumps the DOM it rendered, which must name every stage.

mod common;

use std::path::Path;
use std::process::Command;

use common::INGEST_STAGES as STAGES;

/// Runs headless Chromium on `page` with `args` (a screenshot, a DOM dump);
/// returns its standard output.
fn chromium(profile: &Path, page: &Path, args: &[String]) -> String {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (apt-get install chromium; .ci/run installs it)");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Distinct colours in a PNG, and the share of its pixels that are not
/// the page's background (its most common colour).
fn colours(png_file: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::fs::File::open(png_file).expect("the screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("a frame");
    let channels = frame.color_type.samples();
    let mut counts = std::collections::HashMap::<&[u8], usize>::new();
    for pixel in pixels[..frame.buffer_size()].chunks(channels) {
        *counts.entry(pixel).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let background = counts.values().max().copied().unwrap_or(0);
    (counts.len(), 1.0 - background as f64 / total as f64)
}

#[test]
fn the_run_report_renders_in_a_browser_with_every_stage() {
    let dir = common::temp_dir("report");
    let report = dir.join("report.html");
    let out = Command::new(common::example_binary("ingest"))
        // Long enough for several samples (a second each), to draw charts.
        .args(["--packets", "600000", "--malformed", "0.01", "--quiet"])
        .arg("--db")
        .arg(dir.join("ingest.db"))
        .arg("--dead-letters")
        .arg(dir.join("dead.jsonl"))
        .arg("--report")
        .arg(&report)
        .output()
        .expect("ingest runs");
    let stdout = common::succeeded(&out);
    assert!(stdout.contains(": conserved"), "{stdout}");
    let html = std::fs::read_to_string(&report).expect("the report was written");

    // Self-contained: no script, stylesheet, image or font from anywhere.
    for outside in ["http://", "https://", "<script", "<link", "src=", "href=", "url(http"] {
        assert!(!html.contains(outside), "the report loads nothing from outside ({outside:?} found)");
    }

    let screenshot = dir.join("report.png");
    let profile = dir.join("chromium-profile");
    chromium(
        &profile,
        &report,
        &[format!("--screenshot={}", screenshot.display()), "--window-size=1200,2600".into()],
    );
    let (distinct, drawn) = colours(&screenshot);
    assert!(distinct > 50, "a blank or flat screenshot: {distinct} colours");
    assert!(drawn > 0.05, "only {:.1} % of the screenshot is drawn on", drawn * 100.0);

    let dom = chromium(&profile, &report, &["--dump-dom".into()]);
    assert!(dom.contains("<svg"), "the browser rendered the inline SVG");
    assert!(!dom.contains("not enough samples"), "the run was sampled often enough to chart");
    assert!(dom.contains("<polyline"), "the charts over time have their lines");
    for stage in STAGES {
        assert!(dom.contains(&format!(">{stage}<")), "the rendered page names {stage}");
    }
    for section in
        ["Stages", "Throughput over time", "Queue depth over time", "Latency", "Retries and dead letters"]
    {
        assert!(dom.contains(section), "the page has its {section:?} section");
    }
    // The conservation line, as the run's own report says it.
    let delivered = common::number(&stdout, "stored");
    assert!(
        dom.contains(&format!("delivered {delivered} ")),
        "the page's conservation line has {delivered} delivered"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
