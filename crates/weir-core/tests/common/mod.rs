//! Helpers shared by the behaviour tests: a bounded, task-backed stage and
//! an in-memory acking source.
#![allow(dead_code, reason = "each test file uses a part of the helpers")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::task::JoinSet;
use weir_core::prelude::*;

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A stage that moves items to the next stage through a bounded channel of
/// `capacity`, fed by a task it spawns. The task is owned by the output
/// stream (a `JoinSet` inside it), as the `Stage` docs require. Items in the
/// channel are in flight in this stage.
pub(crate) struct Buffer {
    pub(crate) name: &'static str,
    pub(crate) capacity: usize,
    /// Counts the forwarding task's loop iterations (to prove it stopped).
    pub(crate) ticks: Arc<AtomicU64>,
}

impl Buffer {
    pub(crate) fn new(name: &'static str, capacity: usize) -> Self {
        Self { name, capacity, ticks: Arc::new(AtomicU64::new(0)) }
    }
}

impl<T: Send + 'static> Stage<T> for Buffer {
    type Output = T;

    fn name(&self) -> &str {
        self.name
    }

    fn build(self, mut input: EnvelopeStream<T>, _ctx: StageContext) -> EnvelopeStream<T> {
        let (tx, rx) = tokio::sync::mpsc::channel(self.capacity);
        let ticks = self.ticks;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            while let Some(env) = input.next().await {
                ticks.fetch_add(1, Ordering::SeqCst);
                if tx.send(env).await.is_err() {
                    break;
                }
            }
        });
        futures::stream::unfold((rx, tasks), |(mut rx, tasks)| async move {
            rx.recv().await.map(|env| (env, (rx, tasks)))
        })
        .boxed()
    }
}

/// Which acknowledgements fired, by item.
#[derive(Clone, Default)]
pub(crate) struct AckLog(Arc<Mutex<Vec<u64>>>);

impl AckLog {
    pub(crate) fn fired(&self) -> Vec<u64> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_unstable();
        v
    }

    pub(crate) fn ack(&self, item: u64) -> Ack {
        let log = self.0.clone();
        Ack::new(move || log.lock().unwrap().push(item))
    }
}

/// An in-memory acking source: each item carries an ack that records it.
pub(crate) fn acking<St>(items: St) -> (impl Stream<Item = (u64, Ack)> + Send + 'static, AckLog)
where
    St: Stream<Item = u64> + Send + 'static,
{
    let log = AckLog::default();
    let acks = log.clone();
    (items.map(move |i| (i, acks.ack(i))), log)
}

/// A simple error type for fallible stages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {0} is bad")]
pub(crate) struct Bad(pub u64);
