//! Composed chains of weir's stages under every ending, as the fuzz target
//! `composed_endings` runs them, from random bytes: every promise holds,
//! and the run comes to the exact model's outcome (see `chains/mod.rs`).

use proptest::prelude::*;
use weir_testkit::conformance::Promise;

mod chains;

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn composed_chains_keep_every_promise_and_meet_their_model(data in prop::collection::vec(any::<u8>(), 0..80)) {
        chains::expected_panics_are_not_crashes();
        let checked = chains::check(&data).map_err(|broken| TestCaseError::fail(broken.to_string()))?;
        prop_assert!(checked.contains(&Promise::NoLeakedTask), "{checked:?}");
    }
}
