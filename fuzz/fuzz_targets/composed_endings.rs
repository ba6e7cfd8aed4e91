//! The fuzz target over composed chains of weir's stages, under every
//! ending, against the harness's counts and the exact model: see
//! `crates/weir/tests/chains/mod.rs`, shared with a property test.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/weir/tests/chains/mod.rs"]
mod chains;

fuzz_target!(|data: &[u8]| {
    chains::expected_panics_are_not_crashes();
    if let Err(broken) = chains::check(data) {
        panic!("{broken}");
    }
});
