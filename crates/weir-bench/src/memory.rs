//! Peak memory of a pipeline through a slow sink: measured in a child
//! process per size, since the peak (VmHWM) only grows within a process.

use std::convert::Infallible;

use weir::Sink;
use weir::prelude::*;
use weir_fanout::{FanOut, FanOutExt};

use crate::work::Work;

/// A sink slower than the source: about 50 trivial work units per item.
#[derive(Debug, Default)]
struct SlowSink(u64);

impl Sink<u64> for SlowSink {
    type Error = Infallible;

    async fn send(&mut self, item: u64) -> Result<(), SinkError<u64, Infallible>> {
        for k in 0..50 {
            self.0 ^= Work::Trivial.run(item + k);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The child's job: run `items` items and print the peak RSS in KiB.
pub(crate) fn child(items: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let report = Pipeline::new(futures::stream::iter(0..items))
            .fan_out("work", FanOut::workers(3).capacity(1024), |i: u64| {
                std::future::ready(Ok::<_, Infallible>(Work::Trivial.run(i)))
            })
            .discard_failures()
            .sink(SlowSink::default())
            .run()
            .await
            .expect("runs");
        assert_eq!(report.delivered(), items);
    });
    println!("{}", peak_rss_kib().unwrap_or(0));
}

/// VmHWM of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the child for `items` and returns its peak RSS in KiB.
pub(crate) fn peak_rss(items: u64) -> u64 {
    let exe = std::env::current_exe().expect("own path");
    let out =
        std::process::Command::new(exe).args(["rss-child", &items.to_string()]).output().expect("child runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}
