//! The fair merge, from outside: a hot source does not starve slow ones,
//! streams come and go while it runs, a stream's error fails only that
//! stream, the pipeline's bound holds the streams back, and every count
//! in the report is what happened.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_shape::{Merge, SourceFailed};

/// An item of the fairness test: which source, and when it was made.
#[derive(Debug, Clone, Copy)]
struct Made {
    slow: bool,
    at: Instant,
}

/// A hot source that always has an item (`hot` of them), and `slow`
/// sources that each receive `each` items, one every 100 ms.
fn hot_and_slow(hot: usize, slow: usize, each: usize) -> Vec<BoxStream<'static, Made>> {
    let mut streams = vec![stream::iter(0..hot).map(|_| Made { slow: false, at: Instant::now() }).boxed()];
    for _ in 0..slow {
        // Item i arrives at 100 ms × i, whether or not it is read.
        let start = Instant::now();
        let slow = stream::iter(1..=each as u32).then(move |i| async move {
            let at = start + Duration::from_millis(100) * i;
            tokio::time::sleep_until(at).await;
            Made { slow: true, at }
        });
        streams.push(slow.boxed());
    }
    streams
}

/// Delivers `merged` to a sink that takes 1 ms an item (1,000 a second;
/// the slow sources send 200 a second in all), and gives the
/// longest wait of a slow item from when it was made to its delivery, and
/// how many slow items were delivered.
async fn slowest_wait(merged: Pipeline<Made>) -> (Duration, usize) {
    let longest = Arc::new(std::sync::Mutex::new((Duration::ZERO, 0)));
    let seen = longest.clone();
    let sink = sink::from_fn(move |made: Made| {
        let seen = seen.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if made.slow {
                let mut seen = seen.lock().unwrap();
                seen.0 = seen.0.max(made.at.elapsed());
                seen.1 += 1;
            }
            Ok::<_, Infallible>(())
        }
    });
    let report = merged.sink(sink).run().await.unwrap();
    assert!(report.is_conserved());
    *longest.lock().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_hot_source_does_not_starve_many_slow_ones() {
    let (merge, sources) = Merge::new();
    for (i, stream) in hot_and_slow(5_000, 20, 10).into_iter().enumerate() {
        sources.add(if i == 0 { "hot" } else { "slow" }, stream).unwrap();
    }
    drop(sources);
    let (longest, slow_items) = slowest_wait(merge.into_pipeline()).await;
    assert_eq!(slow_items, 200);
    // The hot source alone takes 5 s to deliver. A slow item waits for at
    // most the rest of the turn being given out (32 hot items) and one
    // turn of each source in line before it (32 hot items, one for each
    // other slow source): 84 ms, and the item the sink holds.
    assert!(longest <= Duration::from_millis(85), "a slow item waited {longest:?}");
}

#[tokio::test(start_paused = true)]
async fn the_fairness_measure_catches_a_hot_first_merge() {
    // The hand-written loop that polls the hot source first (`biased;`):
    // the measure above must see its slow items wait behind the hot ones.
    let mut streams = hot_and_slow(5_000, 20, 10).into_iter();
    let hot = streams.next().unwrap();
    let slow = stream::select_all(streams);
    let hot_first = stream::select_with_strategy(hot, slow, |_: &mut ()| stream::PollNext::Left);
    let (longest, slow_items) = slowest_wait(Pipeline::new(hot_first)).await;
    assert_eq!(slow_items, 200);
    assert!(longest > Duration::from_secs(4), "a slow item waited only {longest:?}");
}

/// The positions of each source's items in the merged order.
fn turns_taken(order: &[(usize, usize)], sources: usize) -> Vec<Vec<usize>> {
    let mut taken = vec![Vec::new(); sources];
    for (at, &(source, _)) in order.iter().enumerate() {
        taken[source].push(at);
    }
    taken
}

/// The largest lead, at any point of `order`, of one source over another
/// that still had items to give: at most the quantum for a fair merge.
fn largest_lead(order: &[(usize, usize)], lengths: &[usize]) -> usize {
    let mut counts = vec![0; lengths.len()];
    let mut lead = 0;
    for &(source, _) in order {
        counts[source] += 1;
        for (other, &count) in counts.iter().enumerate() {
            if count < lengths[other] {
                lead = lead.max(counts[source].saturating_sub(count));
            }
        }
    }
    lead
}

/// Runs `lengths.len()` always-ready sources through a merge of
/// `quantum`, and gives the merged order as (source, index).
async fn merged_order(lengths: &[usize], quantum: usize) -> Vec<(usize, usize)> {
    let (merge, sources) = Merge::new();
    for (source, &len) in lengths.iter().enumerate() {
        sources.add(&format!("s{source}"), stream::iter((0..len).map(move |i| (source, i)))).unwrap();
    }
    drop(sources);
    let (sink, out) = sink::collect();
    let report = merge.quantum(quantum).into_pipeline().sink(sink).run().await.unwrap();
    let source = report.stage("source").unwrap();
    for (s, &len) in lengths.iter().enumerate() {
        assert_eq!(source.gauge(&format!("source_items:s{s}")).unwrap(), len as u64);
    }
    assert_eq!(source.gauge("sources_ended").unwrap(), lengths.len() as u64);
    out.take()
}

#[tokio::test]
async fn always_ready_sources_take_strict_turns() {
    let order = merged_order(&[5, 5, 5], 1).await;
    let sources: Vec<usize> = order.iter().map(|&(s, _)| s).collect();
    assert_eq!(sources, [0, 1, 2].repeat(5));
    let order = merged_order(&[6, 3], 2).await;
    let sources: Vec<usize> = order.iter().map(|&(s, _)| s).collect();
    assert_eq!(sources, [0, 0, 1, 1, 0, 0, 1, 0, 0]);
}

#[tokio::test]
async fn chained_select_fails_the_fairness_measure() {
    // `a.select(b).select(c)`: c takes half, a and b a quarter each
    // (tokio#2319). The measure sees the lead grow with the run.
    let s = |source: usize| stream::iter((0..400).map(move |i| (source, i)));
    let chained = s(0).chain(stream::empty()).boxed();
    let chained = stream::select(stream::select(chained, s(1)), s(2));
    let order: Vec<_> = chained.collect().await;
    assert!(largest_lead(&order, &[400; 3]) > 100);
    let fair = merged_order(&[400; 3], 1).await;
    assert_eq!(largest_lead(&fair, &[400; 3]), 1);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every item comes out once, each source's in its order, and no
        /// source with items left falls more than a quantum behind another.
        #[test]
        fn every_item_once_in_order_and_fairly(
            lengths in prop::collection::vec(0usize..120, 1..10),
            quantum in 1usize..6,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let order = rt.block_on(merged_order(&lengths, quantum));
            let taken = turns_taken(&order, lengths.len());
            for (source, positions) in taken.iter().enumerate() {
                prop_assert_eq!(positions.len(), lengths[source]);
            }
            for (source, &len) in lengths.iter().enumerate() {
                let indices: Vec<usize> = order.iter().filter(|(s, _)| *s == source).map(|&(_, i)| i).collect();
                prop_assert_eq!(indices, (0..len).collect::<Vec<_>>());
            }
            prop_assert!(largest_lead(&order, &lengths) <= quantum);
        }
    }
}

/// A stream that sets `dropped` when it is dropped (a socket closing).
fn watched<S: Stream + Send + 'static>(
    stream: S,
    dropped: Arc<AtomicBool>,
) -> impl Stream<Item = S::Item> + Send {
    struct Watch(Arc<AtomicBool>);
    impl Drop for Watch {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let watch = Watch(dropped);
    stream.map(move |item| {
        let _ = &watch;
        item
    })
}

#[tokio::test(start_paused = true)]
async fn streams_come_and_go_while_it_runs() {
    let (merge, sources) = Merge::<u32>::new();
    let (sink, out) = sink::collect();
    let handle = merge.into_pipeline().sink(sink).spawn().unwrap();

    let first = sources.add("a", stream::iter(0..3)).unwrap();
    let idle_dropped = Arc::new(AtomicBool::new(false));
    let idle = sources.add("idle", watched(stream::pending::<u32>(), idle_dropped.clone())).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(out.take(), [0, 1, 2]);
    assert!(!sources.remove(first), "a stream that ended leaves by itself");
    assert_eq!(sources.open(), 1);

    sources.add("a", stream::iter(10..12)).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(out.take(), [10, 11]);

    assert!(sources.remove(idle));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(idle_dropped.load(Ordering::SeqCst), "a removed stream is dropped");
    assert!(!handle.is_finished(), "the merge waits for more while a handle is held");

    let live = handle.report();
    let source = live.stage("source").unwrap();
    assert_eq!(source.gauge("source_items:a").unwrap(), 5);
    assert_eq!(source.gauge("source_items:idle").unwrap(), 0);
    assert_eq!(source.gauge("sources_added").unwrap(), 3);
    assert_eq!(source.gauge("sources_ended").unwrap(), 2);
    assert_eq!(source.gauge("sources_removed").unwrap(), 1);
    assert_eq!(source.gauge("sources_open").unwrap(), 0);

    drop(sources);
    let report = handle.join().await.unwrap();
    assert_eq!(report.delivered(), 5);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn a_streams_error_fails_that_stream_only() {
    let (merge, sources) = Merge::<u32, io::Error>::new();
    let failing = stream::iter([Ok(1), Err(io::Error::other("connection reset")), Ok(2)]);
    sources.try_add("10.0.0.7", failing).unwrap();
    sources.add("10.0.0.8", stream::iter(100..110)).unwrap();
    drop(sources);

    let (sink, out) = sink::collect();
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = failures.clone();
    let report = Pipeline::try_from_source("intake", merge)
        .route_failures(move |failure: Failure<(), SourceFailed<io::Error>>, _| {
            seen.lock()
                .unwrap()
                .push((failure.cause().error().unwrap().name.to_string(), failure.to_string()));
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink)
        .run()
        .await
        .unwrap();
    let mut delivered = out.take();
    delivered.sort_unstable();
    assert_eq!(delivered, [1, 2, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "10.0.0.7");
    assert!(failures[0].1.contains("source 10.0.0.7: connection reset"), "{}", failures[0].1);
    assert_eq!(report.stage("intake").unwrap().failed, 1);
    let source = report.stage("source").unwrap();
    assert_eq!(source.gauge("source_items:10.0.0.7").unwrap(), 2);
    assert_eq!(source.gauge("source_errors:10.0.0.7").unwrap(), 1);
    assert_eq!(source.gauge("source_errors:10.0.0.8").unwrap(), 0);
    assert_eq!(source.emitted, 13);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn a_saturated_pipeline_reads_no_stream() {
    let pulled = Arc::new(AtomicU64::new(0));
    let (merge, sources) = Merge::<u64>::new();
    for _ in 0..4 {
        let pulled = pulled.clone();
        sources
            .add("s", stream::iter(0..u64::MAX).inspect(move |_| _ = pulled.fetch_add(1, Ordering::Relaxed)))
            .unwrap();
    }
    let (release, released) = tokio::sync::watch::channel(false);
    let sink = sink::from_fn(move |_: u64| {
        let mut released = released.clone();
        async move {
            let _ = released.wait_for(|r| *r).await;
            Ok::<_, Infallible>(())
        }
    });
    let handle = merge.into_pipeline().sink(sink).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let read = pulled.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pulled.load(Ordering::Relaxed), read, "streams were read with the sink stuck");
    // The sink holds one item; the merge read one turn (a quantum).
    assert!(read <= 32, "{read} items read ahead of a stuck sink");
    drop(sources);
    release.send(true).unwrap();
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved());
    let source = report.stage("source").unwrap();
    assert_eq!(report.delivered(), source.emitted);
    // The per-name count is what the pipeline took, not what was read
    // ahead (at most one turn, dropped with the run).
    assert_eq!(source.gauge("source_items:s"), Some(source.emitted));
    assert!(pulled.load(Ordering::Relaxed) <= source.emitted + 32);
}

#[tokio::test(start_paused = true)]
async fn shutdown_drops_every_stream_and_closes_the_merge() {
    let (merge, sources) = Merge::<u32>::new();
    let dropped: Vec<_> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    for flag in &dropped {
        sources.add("conn", watched(stream::iter(0..2).chain(stream::pending()), flag.clone())).unwrap();
    }
    let handle = merge.into_pipeline().sink(sink::drain()).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = handle.shutdown().await.unwrap();
    assert_eq!(report.delivered(), 6);
    assert!(report.is_conserved());
    assert!(dropped.iter().all(|d| d.load(Ordering::SeqCst)));
    let source = report.stage("source").unwrap();
    assert_eq!(source.gauge("sources_dropped"), Some(3), "open when the merge ended");
    assert_eq!(source.gauge("sources_added"), Some(3));
    assert!(sources.is_closed());
    tokio::time::timeout(Duration::from_secs(1), sources.closed()).await.unwrap();
    assert_eq!(sources.add("late", stream::iter([1])), Err(weir_shape::MergeClosed));
    assert_eq!(sources.open(), 0);
}

#[tokio::test]
async fn names_past_the_limit_are_counted_as_other() {
    let (merge, sources) = Merge::<u32, io::Error>::new();
    for host in ["a", "b", "c", "a"] {
        sources.add(host, stream::iter(0..2)).unwrap();
    }
    sources.try_add("d", stream::iter([Err(io::Error::other("reset"))])).unwrap();
    drop(sources);
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = failures.clone();
    let report = Pipeline::try_from_source("intake", merge.max_names(2))
        .route_failures(move |failure: Failure<(), SourceFailed<io::Error>>, _| {
            seen.lock().unwrap().push(failure.cause().error().unwrap().name.to_string());
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let source = report.stage("source").unwrap();
    assert_eq!(source.gauge("source_items:a"), Some(4));
    assert_eq!(source.gauge("source_items:b"), Some(2));
    assert_eq!(source.gauge("source_items:c"), None);
    assert_eq!(source.gauge("source_items:other"), Some(2));
    assert_eq!(source.gauge("source_errors:other"), Some(1));
    assert_eq!(*failures.lock().unwrap(), ["d"], "an error still names its stream");
}

#[tokio::test]
async fn a_zero_quantum_is_refused_when_built() {
    let (merge, _sources) = Merge::<u32>::new();
    let err = merge.quantum(0).into_pipeline().sink(sink::drain()).run().await.unwrap_err();
    assert!(err.to_string().contains("quantum is zero"), "{err}");
}

#[test]
fn source_failed_keeps_its_error_as_source() {
    let failed = SourceFailed { name: "n".into(), error: io::Error::other("gone") };
    let source = std::error::Error::source(&failed).unwrap();
    assert_eq!(source.to_string(), "gone");
}
