//! Benchmark runner (see BENCHMARKS.md).
fn main() {}
