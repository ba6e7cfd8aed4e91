//! proptest strategies for pipeline shapes, faults and scripted items.
//!
//! ```
//! use proptest::prelude::*;
//! use weir_testkit::{check_spec_blocking, strategy::pipeline_spec};
//!
//! proptest!(ProptestConfig::with_cases(8), |(spec in pipeline_spec())| {
//!     check_spec_blocking(&spec).map_err(TestCaseError::fail)?;
//! });
//! ```

use std::time::Duration;

use proptest::prelude::*;

use crate::faults::Fault;
use crate::spec::{OnFailure, PipelineSpec, StageSpec};

/// `Discard` or `Halt`, with halting rarer (it ends runs early).
///
/// # Examples
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let value = weir_testkit::strategy::on_failure().new_tree(&mut runner).unwrap().current();
/// assert!(matches!(value, weir_testkit::OnFailure::Discard | weir_testkit::OnFailure::Halt));
/// ```
pub fn on_failure() -> impl Strategy<Value = OnFailure> {
    prop_oneof![3 => Just(OnFailure::Discard), 1 => Just(OnFailure::Halt)]
}

/// Any one stage, with valid parameters.
///
/// # Examples
///
/// ```
/// use proptest::prelude::*;
///
/// proptest!(ProptestConfig::with_cases(16), |(stage in weir_testkit::strategy::stage_spec())| {
///     if let weir_testkit::StageSpec::Batch { max_items } = stage {
///         prop_assert!(max_items >= 1);
///     }
/// });
/// ```
pub fn stage_spec() -> impl Strategy<Value = StageSpec> {
    let modulus_residue = (1..8u32).prop_flat_map(|m| (Just(m), 0..m));
    prop_oneof![
        any::<u32>().prop_map(|add| StageSpec::Map { add }),
        modulus_residue.clone().prop_map(|(modulus, residue)| StageSpec::Filter { modulus, residue }),
        (modulus_residue, on_failure()).prop_map(|((modulus, residue), on_failure)| StageSpec::TryMap {
            modulus,
            residue,
            on_failure
        }),
        (1..10usize).prop_map(|max_items| StageSpec::Batch { max_items }),
        (1..5u32).prop_map(|every| StageSpec::Yield { every }),
    ]
}

/// A pipeline of up to 200 items and up to 6 stages.
///
/// # Examples
///
/// ```
/// use proptest::prelude::*;
///
/// proptest!(ProptestConfig::with_cases(16), |(spec in weir_testkit::strategy::pipeline_spec())| {
///     prop_assert!(spec.items.len() <= 200 && spec.stages.len() <= 6);
/// });
/// ```
pub fn pipeline_spec() -> impl Strategy<Value = PipelineSpec> {
    (proptest::collection::vec(0..1000u32, 0..200), proptest::collection::vec(stage_spec(), 0..6))
        .prop_map(|(items, stages)| PipelineSpec { items, stages })
}

/// One attempt's fault, as a property test would draw it: mostly
/// passes, sometimes waits a few milliseconds, fails or panics; never
/// hangs (see [`fault_or_hang`]).
///
/// # Examples
///
/// ```
/// use proptest::prelude::*;
/// use weir_testkit::faults::Fault;
///
/// proptest!(ProptestConfig::with_cases(16), |(fault in weir_testkit::strategy::fault())| {
///     prop_assert_ne!(fault, Fault::Hang);
/// });
/// ```
pub fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::Pass),
        2 => (1..50u64).prop_map(|ms| Fault::Delay(Duration::from_millis(ms))),
        1 => Just(Fault::Fail),
        1 => Just(Fault::Panic),
    ]
}

/// [`fault`], and now and then [`Fault::Hang`]: for tests of drain
/// deadlines, aborts and drops.
///
/// # Examples
///
/// ```
/// use proptest::prelude::*;
///
/// proptest!(ProptestConfig::with_cases(8), |(fault in weir_testkit::strategy::fault_or_hang())| {
///     let _ = fault;
/// });
/// ```
pub fn fault_or_hang() -> impl Strategy<Value = Fault> {
    prop_oneof![9 => fault(), 1 => Just(Fault::Hang)]
}

/// Items from `items`, each with the fault its attempt will meet, up to
/// `max` of them: feed them to [`FaultyOp::scripted`](crate::faults::FaultyOp::scripted) and the test knows
/// what each item must become.
///
/// # Examples
///
/// A property a user's test might state: every item is delivered,
/// unless its attempt failed or panicked, in which case it is
/// discarded; nothing else happens to it.
///
/// ```
/// use proptest::prelude::*;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_fanout::{FanOut, FanOutExt};
/// use weir_testkit::faults::{Fault, FaultyOp, run_paused};
/// use weir_testkit::{assert_conserved, strategy::scripted};
///
/// proptest!(ProptestConfig::with_cases(16), |(items in scripted(any::<u16>(), 40))| {
///     let failing = items.iter().filter(|(_, f)| matches!(f, Fault::Fail | Fault::Panic)).count() as u64;
///     let (sink, out) = sink::collect();
///     let report = run_paused(
///         Pipeline::from_iter(items.clone())
///             .fan_out("store", FanOut::workers(3), FaultyOp::scripted())
///             .discard_failures()
///             .sink(sink)
///             .run(),
///     ).unwrap();
///     assert_conserved(&report);
///     prop_assert_eq!(report.discarded(), failing);
///     prop_assert_eq!(out.len() as u64, items.len() as u64 - failing);
/// });
/// ```
pub fn scripted<T: std::fmt::Debug + Clone>(
    items: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = Vec<(T, Fault)>> {
    proptest::collection::vec((items, fault()), 0..=max)
}
