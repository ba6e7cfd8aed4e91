//! The model: what a [`PipelineSpec`] must do, computed without weir.

use crate::spec::{OnFailure, PipelineSpec, StageSpec};

/// What a run of a [`PipelineSpec`] did (or, from [`expected`], must do).
/// Counts are in source items.
///
/// # Examples
///
/// ```
/// use weir_testkit::{Outcome, PipelineSpec, expected};
///
/// let outcome = expected(&PipelineSpec { items: vec![4, 5], stages: vec![] });
/// assert_eq!(outcome, Outcome { taken: 2, delivered: vec![4, 5], ..Outcome::default() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Items that left the source.
    pub taken: u64,
    /// The numbers delivered to the sink, in order (batches flattened).
    pub delivered: Vec<u32>,
    /// Items dropped by filters.
    pub filtered: u64,
    /// Items of discarded failures.
    pub discarded: u64,
    /// Items of halted failures, returned in the run's error.
    pub returned: u64,
    /// The groups that failed under `halt_on_error()`, in order.
    pub halted: Vec<Vec<u32>>,
}

/// Computes what the pipeline of `spec` must do.
///
/// weir's inline stages pull one item at a time from upstream, so the model
/// pulls the same way: a `halt_on_error()` failure stops the source, and
/// every item already taken still drains through the rest of the pipeline.
///
/// # Examples
///
/// ```
/// use weir_testkit::{OnFailure, PipelineSpec, StageSpec, expected};
///
/// let spec = PipelineSpec {
///     items: (1..=6).collect(),
///     stages: vec![
///         StageSpec::Batch { max_items: 2 },
///         StageSpec::TryMap { modulus: 7, residue: 0, on_failure: OnFailure::Halt }, // 3 + 4 fails
///     ],
/// };
/// let outcome = expected(&spec);
/// assert_eq!(outcome.delivered, [1, 2]);
/// assert_eq!(outcome.halted, [vec![3, 4]]);
/// assert_eq!((outcome.taken, outcome.returned), (4, 2));
/// ```
pub fn expected(spec: &PipelineSpec) -> Outcome {
    let mut sim = Sim { spec, next: 0, stopped: false, outcome: Outcome::default() };
    while let Some(group) = sim.pull(spec.stages.len()) {
        sim.outcome.delivered.extend(group);
    }
    sim.outcome.taken = sim.next as u64;
    sim.outcome
}

struct Sim<'a> {
    spec: &'a PipelineSpec,
    next: usize,
    stopped: bool,
    outcome: Outcome,
}

impl Sim<'_> {
    /// The next group out of the first `depth` stages.
    fn pull(&mut self, depth: usize) -> Option<Vec<u32>> {
        let Some(stage) = depth.checked_sub(1).map(|i| &self.spec.stages[i]) else {
            if self.stopped {
                return None;
            }
            let item = *self.spec.items.get(self.next)?;
            self.next += 1;
            return Some(vec![item]);
        };
        loop {
            let mut group = self.pull(depth - 1)?;
            match *stage {
                StageSpec::Map { add } => {
                    group.iter_mut().for_each(|x| *x = x.wrapping_add(add));
                    return Some(group);
                }
                StageSpec::Filter { .. } if stage.matches(&group) => {
                    self.outcome.filtered += group.len() as u64
                }
                StageSpec::TryMap { on_failure, .. } if stage.matches(&group) => match on_failure {
                    OnFailure::Discard => self.outcome.discarded += group.len() as u64,
                    OnFailure::Halt => {
                        self.outcome.returned += group.len() as u64;
                        self.outcome.halted.push(group);
                        self.stopped = true;
                    }
                },
                StageSpec::Batch { max_items } => {
                    for _ in 1..max_items {
                        match self.pull(depth - 1) {
                            Some(more) => group.extend(more),
                            None => break,
                        }
                    }
                    return Some(group);
                }
                StageSpec::Filter { .. } | StageSpec::TryMap { .. } | StageSpec::Yield { .. } => {
                    return Some(group);
                }
            }
        }
    }
}
