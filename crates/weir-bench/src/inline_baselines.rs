//! The hand-written versions of the inline rows (issue 12), as a good
//! engineer writes them without weir: futures combinators, plain loops
//! that keep their failures aside, and async-channel batches between
//! tasks.

use std::future::ready;

use bytes::Bytes;
use futures::StreamExt;
use weir_packet::{DecodeError, Packet};

use crate::inline_items::{Unlucky, checked, failures, keep, key, work};
use crate::work::Work;

/// Items per message on the queue to the workers.
const BATCH: usize = 64;

/// Items the queue to the workers holds (as the fan-out's cap 1024).
const CAPACITY: usize = 1024;

/// Items per batch the collector hands to its sink.
const SINK_BATCH: usize = 100;

/// map → filter → fold with futures' stream combinators, on one task.
pub(crate) async fn map_filter(items: u64) -> u64 {
    futures::stream::iter(0..items)
        .map(|i| Work::Trivial.run(i))
        .filter(|v| ready(keep(v)))
        .fold(0u64, |a, v| ready(a.wrapping_add(v)))
        .await
}

/// A loop over the items; failures kept aside in a `Vec` with their item.
pub(crate) async fn try_map(items: u64) -> u64 {
    let mut dead: Vec<(u64, Unlucky)> = Vec::new();
    let mut acc = 0u64;
    for i in 0..items {
        match checked(i) {
            Ok(v) => acc = acc.wrapping_add(v),
            Err(e) => dead.push((i, e)),
        }
    }
    assert_eq!(dead.len() as u64, failures(items));
    acc
}

/// A loop decoding each frame; bad frames kept aside in a `Vec` with
/// their error (the frame is cloned for `decode`, which takes it).
pub(crate) async fn decode(frames: impl Iterator<Item = Bytes>, items: u64) -> u64 {
    let mut dead: Vec<(Bytes, DecodeError)> = Vec::new();
    let mut acc = 0u64;
    for frame in frames {
        match weir_packet::decode(frame.clone()) {
            Ok(p) => acc = acc.wrapping_add(key(&p)),
            Err(e) => dead.push((frame, e)),
        }
    }
    assert_eq!(dead.len() as u64, failures(items));
    acc
}

/// A producer task decoding frames (bad ones kept aside) into `Vec`s of
/// 64 packets on a bounded async-channel (1024 items), 3 worker tasks, an
/// mpsc back to a collector task that cuts batches of 100 for its sink.
pub(crate) async fn decode_fan_out(frames: impl Iterator<Item = Bytes> + Send + 'static, items: u64) -> u64 {
    let slots = CAPACITY / BATCH;
    let (tx, rx) = async_channel::bounded::<Vec<Packet>>(slots);
    let (otx, mut orx) = tokio::sync::mpsc::channel::<Vec<u64>>(slots);
    let producer = tokio::spawn(async move {
        let mut dead: Vec<(Bytes, DecodeError)> = Vec::new();
        let mut batch = Vec::with_capacity(BATCH);
        for frame in frames {
            match weir_packet::decode(frame.clone()) {
                Ok(p) => batch.push(p),
                Err(e) => dead.push((frame, e)),
            }
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                tx.send(full).await.expect("workers alive");
            }
        }
        if !batch.is_empty() {
            tx.send(batch).await.expect("workers alive");
        }
        dead.len() as u64
    });
    for _ in 0..3 {
        let rx = rx.clone();
        let otx = otx.clone();
        tokio::spawn(async move {
            while let Ok(packets) = rx.recv().await {
                let out: Vec<u64> = packets.iter().map(work).collect();
                otx.send(out).await.expect("collector alive");
            }
        });
    }
    drop(otx);
    let collector = tokio::spawn(async move {
        let mut acc = 0u64;
        let mut batch = Vec::with_capacity(SINK_BATCH);
        let mut store = |batch: &mut Vec<u64>| {
            acc = batch.drain(..).fold(acc, u64::wrapping_add);
        };
        while let Some(out) = orx.recv().await {
            for v in out {
                batch.push(v);
                if batch.len() == SINK_BATCH {
                    store(&mut batch);
                }
            }
        }
        store(&mut batch);
        acc
    });
    let dead = producer.await.expect("producer");
    assert_eq!(dead, failures(items));
    collector.await.expect("collector")
}
