//! The `_lent` fan-outs (issue 12, point 2): items that are not `Clone`
//! go through every mode, retries borrow the same item again, a failure
//! or a panic keeps the original item, and an operation that keeps its
//! `Lent` after a failure holds its worker without losing the item (a
//! success goes on without it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt, Lent};
use weir_retry::{RetryExt, RetryPolicy};

/// Not `Clone`: an owned buffer whose heap address tells whether the
/// worker's item is the original one.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    id: u32,
    bytes: Box<[u8]>,
}

impl Frame {
    fn new(id: u32) -> Self {
        Self { id, bytes: vec![id as u8; 16].into_boxed_slice() }
    }

    fn address(&self) -> usize {
        self.bytes.as_ptr() as usize
    }
}

#[derive(Debug, thiserror::Error)]
#[error("frame {0} refused on attempt {1}")]
struct Refused(u32, u32);

type Log = Arc<Mutex<Vec<(u32, usize)>>>;

fn log_of(log: &Log) -> Vec<(u32, usize)> {
    log.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn retries_borrow_the_same_item_and_deliver_it() {
    let frames: Vec<Frame> = (0..6).map(Frame::new).collect();
    let addresses: Vec<(u32, usize)> = frames.iter().map(|f| (f.id, f.address())).collect();
    let attempts: Log = Arc::default();
    let seen = attempts.clone();
    // Odd frames fail their first two attempts.
    let store = move |frame: Lent<Frame>| {
        let earlier = seen.lock().unwrap().iter().filter(|(id, _)| *id == frame.id).count() as u32;
        seen.lock().unwrap().push((frame.id, frame.address()));
        async move {
            if frame.id % 2 == 1 && earlier < 2 {
                return Err(Refused(frame.id, earlier + 1));
            }
            Ok(frame.id)
        }
    };
    let (sink, out) = sink::collect();
    let started = Instant::now();
    let report = Pipeline::from_iter(frames)
        .fan_out_lent(
            "store",
            FanOut::workers(2).ordered(),
            store.retry(RetryPolicy::constant(Duration::from_secs(1))),
        )
        .halt_on_error()
        .sink(sink)
        .await
        .unwrap();
    assert_eq!(out.take(), [0, 1, 2, 3, 4, 5]);
    assert_eq!(started.elapsed(), Duration::from_secs(2), "two 1 s backoffs");
    let attempts = log_of(&attempts);
    assert_eq!(attempts.len(), 6 + 3 * 2, "three frames took three attempts");
    for (id, address) in attempts {
        assert!(addresses.contains(&(id, address)), "frame {id} was lent at its own address, never a copy");
    }
    assert_eq!(report.delivered(), 6);
    assert_eq!(report.stage("store").unwrap().retries, 6, "{report}");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn a_failure_and_a_panic_keep_the_original_item_in_every_mode() {
    for mode in ["unordered", "ordered", "keyed", "with"] {
        let frames: Vec<Frame> = (0..20).map(Frame::new).collect();
        let addresses: Vec<(u32, usize)> = frames.iter().map(|f| (f.id, f.address())).collect();
        // 1: an error; 2: a panic in the attempt's future; 3: a panic
        // before the operation made its future.
        let op = |frame: Lent<Frame>| {
            assert!(frame.id % 5 != 3, "frame {} panics at once", frame.id);
            async move {
                match frame.id % 5 {
                    1 => Err(Refused(frame.id, 1)),
                    2 => panic!("frame {} is poison", frame.id),
                    _ => Ok(frame.id),
                }
            }
        };
        let failed: Log = Arc::default();
        let keep = failed.clone();
        let config = FanOut::workers(3).capacity(4);
        let pipeline = Pipeline::from_iter(frames);
        let fallible = match mode {
            "unordered" => pipeline.fan_out_lent("store", config, op),
            "ordered" => pipeline.fan_out_lent("store", config.ordered(), op),
            "keyed" => pipeline.fan_out_keyed_lent("store", config, |f: &Frame| f.id % 3, op),
            _ => pipeline.fan_out_with_lent("store", config, move |_| op),
        };
        let (sink, out) = sink::collect();
        let report = fallible
            .route_failures(move |failure, _| {
                let keep = keep.clone();
                async move {
                    let frame = failure.settle(Settled::Discarded);
                    keep.lock().unwrap().push((frame.id, frame.address()));
                }
            })
            .sink(sink)
            .await
            .unwrap();
        let mut delivered = out.take();
        delivered.sort_unstable();
        let fails = |id: u32| (1..=3).contains(&(id % 5));
        let expected: Vec<u32> = (0..20).filter(|&id| !fails(id)).collect();
        assert_eq!(delivered, expected, "{mode}");
        let mut failed = log_of(&failed);
        failed.sort_unstable();
        let expected: Vec<(u32, usize)> = addresses.into_iter().filter(|&(id, _)| fails(id)).collect();
        assert_eq!(failed, expected, "{mode}: each failure kept the original frame, at its own address");
        assert_eq!(report.discarded(), 12, "{mode}: {report}");
        assert!(report.is_conserved(), "{mode}: {report}");
    }
}

/// Frames 0 and 1 through one worker; the operation keeps frame 0's
/// `Lent` for 5 s after its attempt (a spawned task holds it) and fails
/// or succeeds as `fails_first` says. Returns when each frame came out
/// (delivered or failed), in seconds.
async fn frame_zero_kept_five_seconds(fails_first: bool) -> (Vec<(u32, usize)>, Report) {
    let op = move |frame: Lent<Frame>| async move {
        let id = frame.id;
        if id == 0 {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(frame);
            });
            if fails_first {
                return Err(Refused(id, 1));
            }
        }
        Ok(id)
    };
    let out: Log = Arc::default();
    let (delivered, failed) = (out.clone(), out.clone());
    let started = Instant::now();
    let report = Pipeline::from_iter((0..2).map(Frame::new))
        .fan_out_lent("store", FanOut::workers(1), op)
        .route_failures(move |failure, _| {
            let frame = failure.settle(Settled::Discarded);
            failed.lock().unwrap().push((frame.id, started.elapsed().as_secs() as usize));
            std::future::ready(())
        })
        .sink(sink::from_fn(move |id: u32| {
            delivered.lock().unwrap().push((id, started.elapsed().as_secs() as usize));
            std::future::ready(Ok::<_, std::convert::Infallible>(()))
        }))
        .await
        .unwrap();
    let mut out = log_of(&out);
    out.sort_unstable();
    (out, report)
}

#[tokio::test(start_paused = true)]
async fn a_success_whose_lent_is_kept_does_not_hold_its_worker() {
    // A success needs no item: the worker goes on at once, and the item
    // is dropped when the operation lets go of it.
    let (out, report) = frame_zero_kept_five_seconds(false).await;
    assert_eq!(out, [(0, 0), (1, 0)]);
    assert_eq!(report.delivered(), 2);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_failure_waits_for_its_lent_item_to_come_back() {
    // The failure keeps the original item, so the worker waits for it.
    let (out, report) = frame_zero_kept_five_seconds(true).await;
    assert_eq!(out, [(0, 5), (1, 5)], "frame 0 fails when its item is back; frame 1 waits for the worker");
    assert_eq!((report.delivered(), report.discarded()), (1, 1));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_item_that_never_comes_back_is_abandoned_at_the_drain_deadline() {
    let op = |frame: Lent<Frame>| async move {
        let id = frame.id;
        if id == 3 {
            std::mem::forget(frame);
            return Err(Refused(id, 1));
        }
        Ok(id)
    };
    let (sink, out) = sink::collect();
    let handle = Pipeline::from_iter((0..6).map(Frame::new))
        .fan_out_lent("store", FanOut::workers(1).ordered(), op)
        .discard_failures()
        .sink(sink)
        .drain_timeout(Duration::from_secs(1))
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = handle.shutdown().await.unwrap();
    assert_eq!(out.take(), [0, 1, 2], "the items before the lost one");
    assert_eq!(report.ending(), Ending::Aborted);
    assert_eq!(report.delivered(), 3);
    assert_eq!(report.stage("store").unwrap().in_flight, 3, "frame 3 and the two behind it: {report}");
    assert_eq!(report.abandoned(), 3, "{report}");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn an_operation_that_returns_its_lent_does_not_hold_its_worker() {
    // The output holds the item: the worker goes on without it, and the
    // item comes back late (when the sink drops the output), ignored.
    let pass_on = |frame: Lent<Frame>| async move { Ok::<_, Refused>(frame) };
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter((0..5).map(Frame::new))
        .fan_out_lent("pass", FanOut::workers(1).ordered(), pass_on)
        .halt_on_error()
        .map("id", |frame: Lent<Frame>| frame.id)
        .sink(sink)
        .await
        .unwrap();
    assert_eq!(out.take(), [0, 1, 2, 3, 4]);
    assert_eq!(report.delivered(), 5);
    assert!(report.is_conserved(), "{report}");
}
