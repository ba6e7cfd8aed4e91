//! The per-item work of the benchmarks.

use std::hint::black_box;

/// What each item costs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// A multiply and a shift (the anchors' `work`).
    Trivial,
    /// About this many microseconds of CPU.
    Cpu(u32),
}

/// Iterations of the CPU loop per microsecond, calibrated once.
static SPINS_PER_US: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn spin(n: u64, seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..n {
        x = black_box(x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x5555);
    }
    x
}

/// Calibrates the CPU loop; call before timing anything.
pub(crate) fn calibrate() -> u64 {
    *SPINS_PER_US.get_or_init(|| {
        let n = 20_000_000;
        let t = std::time::Instant::now();
        black_box(spin(n, 1));
        let us = t.elapsed().as_secs_f64() * 1e6;
        (n as f64 / us).max(1.0) as u64
    })
}

impl Work {
    /// Does the work for item `i`.
    pub(crate) fn run(self, i: u64) -> u64 {
        match self {
            Work::Trivial => i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7,
            Work::Cpu(us) => spin(calibrate() * u64::from(us), i),
        }
    }
}
