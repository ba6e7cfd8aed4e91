//! The front door for futures and tokio code: sources of `Result`s, a
//! pipeline's output as a stream, `From<Stream>`, `.await` on a runnable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncBufReadExt;
use tokio_stream::wrappers::LinesStream;
use weir_core::prelude::*;
use weir_core::sink;

/// Lines of a reader, one of them not UTF-8: an I/O error mid-stream.
fn lines() -> LinesStream<tokio::io::BufReader<&'static [u8]>> {
    LinesStream::new(tokio::io::BufReader::new(&b"1\n2\n\xff\xfe\n4\n"[..]).lines())
}

#[tokio::test]
async fn a_read_error_is_a_counted_failure_of_the_named_source_stage_and_the_stream_goes_on() {
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = failures.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::try_new("read", lines())
        .route_failures(move |failure: Failure<(), std::io::Error>, _| {
            seen.lock().unwrap().push((failure.stage().to_owned(), failure.class(), failure.to_string()));
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .map("parse", |line: String| line.parse::<u32>().expect("digits"))
        .sink(sink)
        .await
        .expect("runs");
    assert_eq!(out.take(), [1, 2, 4], "the lines after the error still came");
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].0.as_str(), failures[0].1), ("read", ErrorClass::Permanent));
    assert!(failures[0].2.contains("invalid utf-8"), "{}", failures[0].2);
    assert_eq!(report.source_items(), 4, "the error counts as an item in");
    assert_eq!((report.delivered(), report.discarded()), (3, 1));
    assert_eq!(report.stage("read").expect("stage").failed, 1);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn halting_on_a_read_error_stops_intake_and_returns_it() {
    let err = Pipeline::try_new("read", lines()).halt_on_error().sink(sink::drain()).await.unwrap_err();
    let RunError::Halted { failures, report } = err else { panic!("not halted: {err}") };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].stage(), "read");
    assert_eq!(report.source_items(), 3, "nothing pulled after the error");
    assert!(report.is_conserved(), "{report}");
}

/// `0..n` with an acknowledgement each, counted in `acked`.
fn acked_source(n: u64, acked: &Arc<AtomicU64>, pulled: &Arc<AtomicU64>) -> Pipeline<u64> {
    let (acked, pulled) = (acked.clone(), pulled.clone());
    Pipeline::from_acked(futures::stream::iter(0..n).map(move |x| {
        pulled.fetch_add(1, SeqCst);
        let acked = acked.clone();
        (
            x,
            Ack::new(move || {
                acked.fetch_add(1, SeqCst);
            }),
        )
    }))
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_ends_in_a_stream_with_backpressure_acks_on_take_and_a_true_report() {
    let (acked, pulled) = (Arc::default(), Arc::default());
    let mut out = acked_source(100, &acked, &pulled).map("double", |x| x * 2).into_stream(4).expect("valid");
    assert_eq!(out.next().await, Some(0));
    assert_eq!(out.next().await, Some(2));
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Two taken, four queued, one waiting for room: the source waits.
    assert_eq!(pulled.load(SeqCst), 2 + 4 + 1, "backpressure");
    assert_eq!(acked.load(SeqCst), 2, "acknowledged when taken");
    let live = out.report();
    assert_eq!(live.delivered(), 2);
    let rest: Vec<u64> = (&mut out).collect().await;
    assert_eq!(rest, (2..100).map(|x| x * 2).collect::<Vec<_>>());
    let report = out.finish().await.expect("runs");
    assert_eq!(report.ending(), Ending::Completed);
    assert_eq!((report.source_items(), report.delivered()), (100, 100));
    assert_eq!(acked.load(SeqCst), 100);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn finishing_a_stream_early_aborts_and_counts_what_was_not_taken_as_abandoned() {
    let (acked, pulled) = (Arc::default(), Arc::default());
    let mut out = acked_source(100, &acked, &pulled).into_stream(4).expect("valid");
    for expected in 0..3 {
        assert_eq!(out.next().await, Some(expected));
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = out.finish().await.expect("an abort is no error");
    assert_eq!(report.ending(), Ending::Aborted);
    assert_eq!(report.delivered(), 3);
    assert_eq!(report.source_items(), pulled.load(SeqCst));
    assert_eq!(report.abandoned(), pulled.load(SeqCst) - 3);
    assert_eq!(acked.load(SeqCst), 3, "items not taken are not acknowledged");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn a_zero_capacity_stream_is_a_build_error() {
    let err = Pipeline::from_iter(0..3).into_stream(0).unwrap_err();
    assert!(matches!(err, BuildError::Zero { ref stage, .. } if stage == "stream"), "{err}");
}

#[tokio::test]
async fn a_pipeline_from_any_stream_and_awaiting_a_runnable() {
    let (sink, out) = sink::collect();
    let report = Pipeline::from(futures::stream::iter(["a", "b"])).sink(sink).await.expect("runs");
    assert_eq!(out.take(), ["a", "b"]);
    assert_eq!(report.delivered(), 2);
}
