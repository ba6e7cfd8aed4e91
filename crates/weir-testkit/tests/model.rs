//! The model and the real pipeline agree, for chosen and for random specs.

use proptest::prelude::*;
use weir_testkit::strategy::pipeline_spec;
use weir_testkit::{OnFailure, Outcome, PipelineSpec, StageSpec, check_spec, check_spec_blocking, expected};

#[tokio::test]
async fn filter_batch_discard() {
    let spec = PipelineSpec {
        items: (0..10).collect(),
        stages: vec![
            StageSpec::Filter { modulus: 3, residue: 0 }, // drops 0, 3, 6, 9
            StageSpec::Batch { max_items: 2 },            // [1,2] [4,5] [7,8]
            StageSpec::TryMap { modulus: 9, residue: 0, on_failure: OnFailure::Discard }, // 4+5 fails
            StageSpec::Map { add: 1 },
        ],
    };
    let outcome = check_spec(&spec).await.unwrap();
    assert_eq!(
        outcome,
        Outcome { taken: 10, delivered: vec![2, 3, 8, 9], filtered: 4, discarded: 2, ..Outcome::default() }
    );
}

#[tokio::test]
async fn halt_drains_the_batch_downstream() {
    let spec = PipelineSpec {
        items: (1..=10).collect(),
        stages: vec![
            StageSpec::TryMap { modulus: 4, residue: 0, on_failure: OnFailure::Halt }, // 4 fails
            StageSpec::Yield { every: 1 },
            StageSpec::Batch { max_items: 3 },
        ],
    };
    let outcome = check_spec(&spec).await.unwrap();
    assert_eq!(outcome.delivered, [1, 2, 3]);
    assert_eq!(outcome.halted, [vec![4]]);
    assert_eq!((outcome.taken, outcome.returned), (4, 1));
}

#[tokio::test]
async fn halt_after_a_batch_returns_the_whole_batch() {
    let spec = PipelineSpec {
        items: vec![1, 1, 5, 5, 1, 1],
        stages: vec![
            StageSpec::Batch { max_items: 2 },
            StageSpec::TryMap { modulus: 10, residue: 0, on_failure: OnFailure::Halt }, // [5, 5]
            StageSpec::TryMap { modulus: 2, residue: 0, on_failure: OnFailure::Discard }, // [1, 1]
        ],
    };
    let outcome = check_spec(&spec).await.unwrap();
    assert_eq!(outcome, expected(&spec));
    assert_eq!(outcome.halted, [vec![5, 5]]);
    assert_eq!((outcome.taken, outcome.discarded, outcome.returned), (4, 2, 2));
    assert!(outcome.delivered.is_empty());
}

#[test]
fn an_empty_spec_delivers_nothing() {
    let outcome = check_spec_blocking(&PipelineSpec::default()).unwrap();
    assert_eq!(outcome, Outcome::default());
}

#[test]
fn every_decoded_spec_of_short_inputs_matches_the_model() {
    for seed in 0u32..64 {
        let bytes: Vec<u8> =
            (0..24).map(|i| (seed.wrapping_mul(2654435761).rotate_left(i) & 0xff) as u8).collect();
        let spec = PipelineSpec::from_bytes(&bytes);
        check_spec_blocking(&spec).unwrap();
    }
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn model_and_run_agree(spec in pipeline_spec()) {
        check_spec_blocking(&spec).map_err(TestCaseError::fail)?;
    }
}
