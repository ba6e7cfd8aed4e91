//! Hand-written tokio baselines of one bounded fan-out stage, as a good
//! engineer writes them (the definitions of `../shared/anchors/`): one
//! producer task, a bounded queue, N worker tasks, results collected.

use futures::StreamExt;

use crate::work::Work;

/// async-channel queue + N tasks + an mpsc back, one item per message.
pub(crate) async fn mpmc(items: u64, workers: usize, cap: usize, work: Work) -> u64 {
    let (tx, rx) = async_channel::bounded::<u64>(cap);
    let (otx, mut orx) = tokio::sync::mpsc::channel::<u64>(cap);
    let producer = tokio::spawn(async move {
        for i in 0..items {
            tx.send(i).await.expect("workers alive");
        }
    });
    for _ in 0..workers {
        let rx = rx.clone();
        let otx = otx.clone();
        tokio::spawn(async move {
            while let Ok(i) = rx.recv().await {
                otx.send(work.run(i)).await.expect("collector alive");
            }
        });
    }
    drop(otx);
    let mut acc = 0u64;
    while let Some(v) = orx.recv().await {
        acc ^= v;
    }
    producer.await.expect("producer");
    acc
}

/// As [`mpmc`], items moved in `Vec` batches of up to `batch`; the queue
/// holds at most `cap / batch` batches (about `cap` items).
pub(crate) async fn mpmc_batched(items: u64, workers: usize, cap: usize, batch: usize, work: Work) -> u64 {
    let slots = (cap / batch).max(1);
    let (tx, rx) = async_channel::bounded::<Vec<u64>>(slots);
    let (otx, mut orx) = tokio::sync::mpsc::channel::<Vec<u64>>(slots);
    let producer = tokio::spawn(async move {
        let mut i = 0;
        while i < items {
            let end = (i + batch as u64).min(items);
            tx.send((i..end).collect()).await.expect("workers alive");
            i = end;
        }
    });
    for _ in 0..workers {
        let rx = rx.clone();
        let otx = otx.clone();
        tokio::spawn(async move {
            while let Ok(mut b) = rx.recv().await {
                for v in b.iter_mut() {
                    *v = work.run(*v);
                }
                otx.send(b).await.expect("collector alive");
            }
        });
    }
    drop(otx);
    let mut acc = 0u64;
    while let Some(b) = orx.recv().await {
        for v in b {
            acc ^= v;
        }
    }
    producer.await.expect("producer");
    acc
}

/// futures `buffer_unordered(N)` in one task (no parallelism).
pub(crate) async fn buffer_unordered(items: u64, workers: usize, work: Work) -> u64 {
    futures::stream::iter(0..items)
        .map(|i| async move { work.run(i) })
        .buffer_unordered(workers)
        .fold(0u64, |a, v| async move { a ^ v })
        .await
}
