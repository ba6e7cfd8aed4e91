//! Builds and runs the weir pipeline of a [`PipelineSpec`].

use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;

use crate::model::{Outcome, expected};
use crate::spec::{OnFailure, PipelineSpec, StageSpec};

/// The error of a failing `TryMap` stage.
#[derive(Debug, thiserror::Error)]
#[error("the group sums to a failing value")]
struct Rejected;

type Group = Vec<u32>;

fn build(spec: &PipelineSpec) -> Pipeline<Group> {
    let mut pipeline = Pipeline::from_iter(spec.items.clone().into_iter().map(|x| vec![x]));
    for (i, stage) in spec.stages.iter().enumerate() {
        let name = format!("{i}-{}", kind(stage));
        let s = stage.clone();
        pipeline = match *stage {
            StageSpec::Map { add } => pipeline.map(&name, move |mut g: Group| {
                g.iter_mut().for_each(|x| *x = x.wrapping_add(add));
                g
            }),
            StageSpec::Filter { .. } => pipeline.filter(&name, move |g| !s.matches(g)),
            StageSpec::TryMap { on_failure, .. } => {
                let checked =
                    pipeline.try_map(&name, move |g| if s.matches(&g) { Err(Rejected) } else { Ok(g) });
                match on_failure {
                    OnFailure::Discard => checked.discard_failures(),
                    OnFailure::Halt => checked.halt_on_error(),
                }
            }
            StageSpec::Batch { max_items } => pipeline
                .batch(&name, max_items, Duration::from_secs(3600))
                .map(&format!("{name}-concat"), |groups: Vec<Group>| groups.concat()),
            StageSpec::Yield { .. } => pipeline.then(&name, move |g| {
                let yields = s.matches(&g);
                async move {
                    if yields {
                        tokio::task::yield_now().await;
                    }
                    g
                }
            }),
        };
    }
    pipeline
}

fn kind(stage: &StageSpec) -> &'static str {
    match stage {
        StageSpec::Map { .. } => "map",
        StageSpec::Filter { .. } => "filter",
        StageSpec::TryMap { .. } => "try-map",
        StageSpec::Batch { .. } => "batch",
        StageSpec::Yield { .. } => "yield",
    }
}

/// Builds the weir pipeline that `spec` describes, runs it into a
/// collecting sink, and returns what happened with the run's report.
///
/// # Panics
///
/// When the run ends with an error other than
/// [`RunError::Halted`](weir_core::RunError::Halted) (a spec cannot cause one).
///
/// # Examples
///
/// ```
/// use weir_testkit::{PipelineSpec, StageSpec, run_spec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let spec = PipelineSpec { items: vec![1, 2, 3], stages: vec![StageSpec::Batch { max_items: 2 }] };
/// let (outcome, report) = run_spec(&spec).await;
/// assert_eq!(outcome.delivered, [1, 2, 3]);
/// assert!(report.is_conserved());
/// # }
/// ```
pub async fn run_spec(spec: &PipelineSpec) -> (Outcome, Report) {
    let (sink, out) = sink::collect();
    let result = build(spec).sink(sink).run().await;
    let delivered = out.take().concat();
    let (report, halted) = match result {
        Ok(report) => (report, Vec::new()),
        Err(RunError::Halted { failures, report }) => {
            let groups = failures
                .into_iter()
                .map(|f| f.into_item::<Group>().unwrap_or_else(|f| panic!("not a group: {f:?}")))
                .collect();
            (*report, groups)
        }
        Err(other) => panic!("the run of {spec:?} failed: {other}"),
    };
    let outcome = Outcome {
        taken: report.source_items(),
        delivered,
        filtered: report.filtered(),
        discarded: report.discarded(),
        returned: report.returned(),
        halted,
    };
    (outcome, report)
}

/// Runs `spec`, checks that the report is conserved and that the run did
/// exactly what the model ([`expected`]) says; returns the outcome.
///
/// # Errors
///
/// A message that shows the spec, both outcomes and the report, when they
/// differ or conservation fails.
///
/// # Examples
///
/// ```
/// use weir_testkit::{OnFailure, PipelineSpec, StageSpec, check_spec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), String> {
/// let spec = PipelineSpec {
///     items: (0..10).collect(),
///     stages: vec![StageSpec::TryMap { modulus: 4, residue: 3, on_failure: OnFailure::Halt }],
/// };
/// let outcome = check_spec(&spec).await?;
/// assert_eq!(outcome.halted, [vec![3]]);
/// # Ok(())
/// # }
/// ```
pub async fn check_spec(spec: &PipelineSpec) -> Result<Outcome, String> {
    let (actual, report) = run_spec(spec).await;
    let model = expected(spec);
    if !report.is_conserved() {
        return Err(format!("conservation violated for {spec:?}\n{report}"));
    }
    if actual != model {
        return Err(format!(
            "the run differs from the model for {spec:?}\nrun:   {actual:?}\nmodel: {model:?}\n{report}"
        ));
    }
    Ok(actual)
}

/// [`check_spec`] on a new current-thread runtime, for fuzz targets and
/// synchronous property tests.
///
/// # Errors
///
/// As for [`check_spec`].
///
/// # Panics
///
/// When the runtime cannot be built.
///
/// # Examples
///
/// ```
/// use weir_testkit::{PipelineSpec, check_spec_blocking};
///
/// let spec = PipelineSpec::from_bytes(b"\x05abcde\x01\x02\x03\x03\x04\x00");
/// check_spec_blocking(&spec).unwrap();
/// ```
pub fn check_spec_blocking(spec: &PipelineSpec) -> Result<Outcome, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio runtime");
    rt.block_on(check_spec(spec))
}
