//! proptest strategies for pipeline shapes.
//!
//! ```
//! use proptest::prelude::*;
//! use weir_testkit::{check_spec_blocking, strategy::pipeline_spec};
//!
//! proptest!(ProptestConfig::with_cases(8), |(spec in pipeline_spec())| {
//!     check_spec_blocking(&spec).map_err(TestCaseError::fail)?;
//! });
//! ```

use proptest::prelude::*;

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
