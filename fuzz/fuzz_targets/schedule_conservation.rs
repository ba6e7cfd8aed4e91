//! Bytes → a pipeline shape (items, stages, failure handling) → a run on a
//! current-thread runtime, which must match the model of `weir-testkit`
//! and keep conservation. The generator and the model live in
//! `weir-testkit`, tested on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_testkit::{PipelineSpec, check_spec_blocking};

fuzz_target!(|data: &[u8]| {
    let spec = PipelineSpec::from_bytes(data);
    if let Err(message) = check_spec_blocking(&spec) {
        panic!("{message}");
    }
});
