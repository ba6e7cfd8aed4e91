//! Assertions with messages that explain what went wrong.

use weir_core::Report;

/// Asserts that every source item of the run is accounted for.
///
/// # Panics
///
/// When the report is not conserved; the message shows the report's table
/// and conservation line, and names the stages that still hold items.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..4).filter("odd", |x| x % 2 == 1).sink(sink::drain()).run().await?;
/// weir_testkit::assert_conserved(&report);
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn assert_conserved(report: &Report) {
    if report.is_conserved() {
        return;
    }
    let holding: Vec<String> = report
        .stages()
        .iter()
        .filter(|s| s.in_flight > 0)
        .map(|s| format!("`{}` holds {}", s.name, s.in_flight))
        .collect();
    let holding = if holding.is_empty() { "no stage holds items".to_owned() } else { holding.join(", ") };
    panic!(
        "conservation violated (ending {:?}; {holding}): a stage dropped items without counting them\n{report}",
        report.ending()
    );
}
