//! The dead-letter stage: what a record carries, when acknowledgements
//! fire, how failures are batched and counted.

use std::sync::{Arc, Mutex};

use weir_core::prelude::*;
use weir_core::{Sink, SinkError, sink};
use weir_deadletter::{DeadLetter, DeadLetterExt, DeadLetterOptions};

#[derive(Debug, thiserror::Error)]
#[error("cannot store item {item}")]
struct StoreFailed {
    item: u32,
    #[source]
    cause: Disk,
}

#[derive(Debug, thiserror::Error)]
#[error("disk full")]
struct Disk;

#[tokio::test(start_paused = true)]
async fn a_record_carries_the_item_error_chain_class_attempts_stage_and_times() {
    let before = std::time::SystemTime::now() - std::time::Duration::from_millis(1);
    let (dead, records) = sink::collect();
    let report = Pipeline::from_iter(0..3u32)
        .try_map("store", |x| if x == 1 { Err(StoreFailed { item: x, cause: Disk }) } else { Ok(x) })
        .dead_letter(dead)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let records = records.take();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(*r.item(), 1);
    assert_eq!(r.stage(), "store");
    assert_eq!(r.error(), "cannot store item 1");
    assert_eq!(r.sources(), ["disk full"]);
    assert_eq!(r.class(), ErrorClass::Permanent);
    assert_eq!(r.attempts(), 1);
    assert_eq!(r.count(), 1);
    assert_eq!(r.panic_message(), None);
    assert!(r.first_failed_at() >= before && r.last_failed_at() >= r.first_failed_at());
    assert_eq!(report.delivered(), 2);
    assert_eq!(report.stage("store").unwrap().dead_lettered_of(ErrorClass::Permanent), 1);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_dead_lettered_as_poison_with_its_message() {
    let (dead, records) = sink::collect();
    let report = Pipeline::from_iter(0..4u32)
        .try_map("check", |x| if x == 2 { panic!("bad item {x}") } else { Ok::<_, Disk>(x) })
        .dead_letter(dead)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let r = records.take().pop().unwrap();
    assert_eq!(r.panic_message(), Some("bad item 2"));
    assert_eq!(r.error(), "operation panicked: bad item 2");
    assert_eq!(r.class(), ErrorClass::Poison);
    assert_eq!(report.dead_lettered_of(ErrorClass::Poison), 1);
    assert!(report.is_conserved());
}

/// Records, for each stored item, whether its acknowledgement had fired
/// before the sink stored it.
struct AckSpy {
    acked: Arc<Mutex<Vec<bool>>>,
    seen: Arc<Mutex<Vec<(u32, bool)>>>,
}

impl Sink<DeadLetter<u32>> for AckSpy {
    type Error = std::convert::Infallible;

    async fn send(&mut self, r: DeadLetter<u32>) -> Result<(), SinkError<DeadLetter<u32>, Self::Error>> {
        let acked = self.acked.lock().unwrap()[*r.item() as usize];
        self.seen.lock().unwrap().push((*r.item(), acked));
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn acknowledgements_of_dead_letters_fire_only_after_they_are_stored() {
    let acked = Arc::new(Mutex::new(vec![false; 10]));
    let log = acked.clone();
    let source = futures::stream::iter((0..10u32).map(move |i| {
        let acked = log.clone();
        (i, Ack::new(move || acked.lock().unwrap()[i as usize] = true))
    }));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spy = AckSpy { acked: acked.clone(), seen: seen.clone() };
    let report = Pipeline::from_acked(source)
        .try_map("odd", |x| if x % 2 == 1 { Err(Disk) } else { Ok(x) })
        .dead_letter(spy)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [(1, false), (3, false), (5, false), (7, false), (9, false)]);
    assert!(acked.lock().unwrap().iter().all(|a| *a), "every item acknowledged in the end");
    assert_eq!((report.delivered(), report.dead_lettered()), (5, 5));
}

/// Logs how many records each flush covers (0 for a flush with nothing
/// new: the final one); clones share the log, each counts its own records.
#[derive(Clone, Default)]
struct Batches {
    log: Arc<Mutex<Vec<usize>>>,
    unflushed: usize,
}

impl Batches {
    fn sizes(&self) -> Vec<usize> {
        self.log.lock().unwrap().clone()
    }
}

impl Sink<DeadLetter<u32>> for Batches {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _: DeadLetter<u32>) -> Result<(), SinkError<DeadLetter<u32>, Self::Error>> {
        self.unflushed += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.log.lock().unwrap().push(std::mem::take(&mut self.unflushed));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn back_to_back_failures_are_stored_in_batches_of_at_most_max_batch() {
    let batches = Batches::default();
    let report = Pipeline::from_iter(0..100u32)
        .try_map("fail", |_| Err::<u32, _>(Disk))
        .dead_letter_with(batches.clone(), DeadLetterOptions::new().max_batch(8))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let mut sizes = batches.sizes();
    assert_eq!(sizes.pop(), Some(0), "the final flush");
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    assert!(sizes.iter().all(|n| (1..=8).contains(n)), "{sizes:?}");
    assert!(sizes.len() < 100, "back-to-back failures share batches: {sizes:?}");
    assert_eq!(report.dead_lettered(), 100);
}

#[tokio::test(start_paused = true)]
async fn a_lone_failure_is_stored_while_the_input_is_idle() {
    let (dead, records) = sink::collect();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let handle = Pipeline::new(tokio_stream_from(rx))
        .try_map("fail", |x: u32| if x == 0 { Err(Disk) } else { Ok(x) })
        .dead_letter(dead)
        .sink(sink::drain())
        .spawn()
        .unwrap();
    tx.send(0).await.unwrap();
    let mut yields = 0;
    while records.is_empty() && yields < 100 {
        tokio::task::yield_now().await;
        yields += 1;
    }
    assert_eq!(records.len(), 1, "stored without waiting for more failures or the end of the input");
    drop(tx);
    let report = handle.join().await.unwrap();
    assert_eq!(report.dead_lettered(), 1);
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<u32>) -> impl futures::Stream<Item = u32> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(start_paused = true)]
async fn two_stages_count_their_dead_letters_separately_and_the_store_is_flushed_at_the_end_per_stage() {
    let (dead, records) = sink::collect::<DeadLetter<u32>>();
    let batches = Batches::default();
    let report = Pipeline::from_iter(0..10u32)
        .try_map("small", |x| if x < 8 { Ok(x) } else { Err(Disk) })
        .dead_letter(dead.clone())
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Disk) })
        .dead_letter(dead)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.stage("small").unwrap().dead_lettered(), 2);
    assert_eq!(report.stage("even").unwrap().dead_lettered(), 4);
    assert_eq!(report.dead_lettered_of(ErrorClass::Permanent), 6);
    assert_eq!(records.len(), 6);
    assert!(report.is_conserved());

    Pipeline::from_iter(0..10u32)
        .try_map("small", |x| if x < 8 { Ok(x) } else { Err(Disk) })
        .dead_letter(batches.clone())
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Disk) })
        .dead_letter(batches.clone())
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let sizes = batches.sizes();
    assert_eq!(sizes.iter().sum::<usize>(), 6);
    assert_eq!(sizes.iter().filter(|n| **n == 0).count(), 2, "one final flush per stage: {sizes:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retried_items_record_keeps_the_first_attempts_failure_time() {
    use std::time::Duration;
    use weir_fanout::{FanOut, FanOutExt};
    use weir_retry::{RetryExt, RetryPolicy};

    let policy = RetryPolicy::constant(Duration::from_millis(300)).max_attempts(3);
    let op = |x: u32| async move { if x == 1 { Err(Disk) } else { Ok(x) } };
    let (dead, records) = sink::collect();
    let report = Pipeline::from_iter(0..3u32)
        .fan_out("store", FanOut::workers(2), op.retry(policy))
        .dead_letter(dead)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let records = records.take();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.attempts(), 3);
    let span = r.last_failed_at().duration_since(r.first_failed_at()).unwrap();
    assert_eq!(span, Duration::from_millis(600), "3 failures, 300 ms apart");
    assert_eq!(report.stage("store").unwrap().retries, 2);
}

#[tokio::test(start_paused = true)]
async fn any_futures_sink_of_records_is_a_store() {
    use futures::StreamExt;

    let (tx, rx) = futures::channel::mpsc::unbounded();
    let report = Pipeline::from_iter(0..4u32)
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Disk) })
        .dead_letter(sink::from_futures(tx))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let items: Vec<u32> = rx.map(DeadLetter::into_item).collect().await;
    assert_eq!(items, [1, 3]);
    assert_eq!(report.dead_lettered(), 2);
}
