//! Bounded work-sharing fan-out for weir pipelines.
//!
//! A fan-out stage runs an [`Operation`] on N worker tasks that share one
//! bounded queue, the heart of the producer/consumer pattern, without its
//! usual failure modes:
//!
//! - **No sentinels.** Workers stop when the input ends and the queue is
//!   empty; none is left waiting.
//! - **Bounded.** The stage holds at most `capacity` items plus one in each
//!   worker's hands (queued, being processed, parked for a retry, or
//!   waiting for downstream). When it is full it stops pulling from
//!   upstream, so a slow sink slows the source; nothing grows.
//! - **No starvation.** Workers are tasks: operations progress while the
//!   consumer downstream is busy (unlike `buffer_unordered` inside a loop,
//!   futures-rs #2387).
//! - **Isolation.** An `Err` or a panic fails that item only, keeping the
//!   item; the worker goes on with the next one.
//! - **Retries don't hold a worker.** An item waiting for its backoff is
//!   parked on a timer; its worker serves other items meanwhile.
//! - **Work sharing.** An item never waits in one worker's hands while
//!   another worker is idle: a worker that meets a slow item gives the
//!   items it holds back to the queue before it waits, from the first item
//!   on, and an item whose retry delay is over goes to whichever worker is
//!   free first.
//! - **Fast.** Hand-offs between tasks move every ready item at once when
//!   the queue is hot and every worker busy, and one item when it is cold.
//!
//! Four modes, all on [`FanOutExt`]:
//!
//! | mode | order of output | who slows down under backpressure |
//! |---|---|---|
//! | [`fan_out`](FanOutExt::fan_out) (unordered, default) | completion order | the source, when `capacity` items plus one per worker are inside |
//! | [`fan_out`](FanOutExt::fan_out) with [`FanOut::ordered`] | input order | same; a slow item also holds back finished items behind it |
//! | [`fan_out_keyed`](FanOutExt::fan_out_keyed) | per-key input order | same; the items of a busy key wait for it, other keys go on |
//! | [`broadcast`](FanOutExt::broadcast) | input order | the slowest consumer sets the rate |
//!
//! [`fan_out_with`](FanOutExt::fan_out_with) is `fan_out` with one
//! operation per worker: per-worker state without sharing, and an
//! operation's `Drop` that runs when its worker stops.
//!
//! Each mode gives each attempt a clone of the item and keeps the
//! original for a retry or a failure (`T: Clone`). Every mode but
//! broadcast has a `_lent` form ([`fan_out_lent`](FanOutExt::fan_out_lent),
//! [`fan_out_keyed_lent`](FanOutExt::fan_out_keyed_lent),
//! [`fan_out_with_lent`](FanOutExt::fan_out_with_lent)) lends the item
//! itself to each attempt as a [`Lent`] and has it back afterwards, also
//! when the attempt fails or panics: no clone, no `T: Clone`.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod assemble;
mod config;
mod dispatch;
mod fan_out_with;
mod feeder;
mod hand;
mod job;
mod launch;
mod lent;
mod output;
mod park;
mod stage;
mod sync;
mod worker;

use std::hash::Hash;

pub use config::FanOut;
pub use fan_out_with::FanOutWithStage;
pub use hand::{Cloning, Handing, Lending};
pub use lent::Lent;
pub use stage::{BroadcastStage, FanOutStage, KeyedStage};
use weir_core::{Fallible, Operation, Pipeline, StageError};

/// Fan-out stages for [`Pipeline`]s.
pub trait FanOutExt<T>: Sized {
    /// Runs `op` on `config.worker_count()` workers sharing one bounded
    /// queue of `config.capacity_items()` items.
    ///
    /// Output is in completion order, or input order with
    /// [`FanOut::ordered`]. An `Err` (after the retries the operation asks
    /// for, parked without holding a worker) or a panic becomes a
    /// [`Failure`](weir_core::Failure) that keeps the item, so the result
    /// must say what happens to failures. Failures need the item after the
    /// operation took it, so each attempt gets a clone (`T: Clone`; cheap
    /// with `Arc` or `Bytes`). [`fan_out_lent`](Self::fan_out_lent) lends
    /// the item instead: no clone and no `T: Clone`.
    ///
    /// The operation's error must be an error type
    /// ([`StageError`]: `std::error::Error + Send +
    /// Sync + 'static`), since failures are dead-lettered, halted on or
    /// reported with it. A bare `String` is refused here, where the error
    /// type comes in, with a message that says to give it a type:
    ///
    /// ```compile_fail,E0277
    /// use weir_core::prelude::*;
    /// use weir_fanout::{FanOut, FanOutExt};
    ///
    /// let lookup = |id: u32| async move { if id > 0 { Ok(id) } else { Err(String::from("no such id")) } };
    /// let _ = Pipeline::from_iter(0..3u32).fan_out("lookup", FanOut::workers(2), lookup);
    /// // error[E0277]: `String` is not an error type a stage can keep with a failed item
    /// ```
    ///
    /// # Backpressure
    ///
    /// When `capacity` items plus one per worker are inside the stage
    /// (queued, in workers' hands, parked for a retry, or waiting for
    /// downstream) it stops pulling from upstream: the source waits,
    /// nothing grows.
    ///
    /// # Errors
    ///
    /// Zero workers or zero capacity make the run fail with
    /// [`BuildError::Zero`](weir_core::BuildError::Zero) before anything
    /// starts; more than [`FanOut::MAX_WORKERS`] workers, or a capacity
    /// beyond what a stage can count, with
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid), and so
    /// does an operation whose own
    /// [`validate`](weir_core::Operation::validate) refuses its settings
    /// (a zero `timeout`, or a retry layer whose policy is invalid, for
    /// instance).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// let started = tokio::time::Instant::now();
    /// let report = Pipeline::from_iter(0..6u64)
    ///     .fan_out("slow-double", FanOut::workers(3).capacity(6).ordered(), |x: u64| async move {
    ///         tokio::time::sleep(Duration::from_millis(100)).await;
    ///         Ok::<_, Infallible>(x * 2)
    ///     })
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .run()
    ///     .await?;
    /// assert_eq!(out.take(), [0, 2, 4, 6, 8, 10]); // input order
    /// assert_eq!(started.elapsed(), Duration::from_millis(200)); // 3 at a time
    /// assert_eq!(report.delivered(), 6);
    /// # Ok(())
    /// # }
    /// ```
    fn fan_out<Op>(self, name: &str, config: FanOut, op: Op) -> Fallible<Op::Output, T, Op::Error>
    where
        T: Clone,
        Op: Operation<T>,
        Op::Error: StageError;

    /// Like [`fan_out`](Self::fan_out), but each worker owns an operation
    /// of its own, made by `make(worker)` for workers `0..n` when the run
    /// starts (instead of one operation shared by every worker).
    ///
    /// A worker's operation holds per-worker state (a connection, a
    /// buffer, a counter) without sharing it, and the worker drops it when
    /// it ends, on its own task: when the input has ended and the queue is
    /// empty (an idle worker at once, a busy one after its last item), or
    /// when the run is aborted. So the operation's `Drop` says when its
    /// worker really stops. Backpressure, ordering, retries and failures
    /// are as for [`fan_out`](Self::fan_out).
    ///
    /// # Errors
    ///
    /// As for [`fan_out`](Self::fan_out), except that the operations are
    /// made when the run starts, after the pipeline was checked: their own
    /// [`validate`](weir_core::Operation::validate) is not called. Check
    /// what `make` puts in them beforehand (a retry policy with
    /// `RetryPolicy::validate`, for instance), or use
    /// [`fan_out`](Self::fan_out) when one operation can serve every
    /// worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt};
    ///
    /// /// A worker's operation: tags items with its worker, and records
    /// /// when the worker stops.
    /// struct Tag {
    ///     worker: usize,
    ///     stopped: Arc<Mutex<Vec<(usize, Duration)>>>,
    ///     start: tokio::time::Instant,
    /// }
    ///
    /// impl Operation<u64> for Tag {
    ///     type Output = (usize, u64);
    ///     type Error = Infallible;
    ///     type Future = futures::future::BoxFuture<'static, Result<(usize, u64), Infallible>>;
    ///
    ///     fn apply(&self, item: u64) -> Self::Future {
    ///         let worker = self.worker;
    ///         Box::pin(async move {
    ///             tokio::time::sleep(Duration::from_secs(item)).await;
    ///             Ok((worker, item))
    ///         })
    ///     }
    /// }
    ///
    /// impl Drop for Tag {
    ///     fn drop(&mut self) {
    ///         self.stopped.lock().unwrap().push((self.worker, self.start.elapsed()));
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let (stopped, start) = (Arc::new(Mutex::new(Vec::new())), tokio::time::Instant::now());
    /// let record = stopped.clone();
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter([5u64])
    ///     .fan_out_with("tag", FanOut::workers(2), move |worker| Tag { worker, stopped: record.clone(), start })
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .run()
    ///     .await?;
    /// assert_eq!(out.take(), [(0, 5)]);
    /// // Worker 1 had nothing to do: it stopped when the input ended;
    /// // worker 0 stopped after its item, 5 s later.
    /// let secs = |d: Duration| d.as_secs();
    /// let stopped: Vec<_> = stopped.lock().unwrap().iter().map(|&(w, at)| (w, secs(at))).collect();
    /// assert_eq!(stopped, [(1, 0), (0, 5)]);
    /// # Ok(())
    /// # }
    /// ```
    fn fan_out_with<Op, M>(self, name: &str, config: FanOut, make: M) -> Fallible<Op::Output, T, Op::Error>
    where
        T: Clone,
        M: FnMut(usize) -> Op + Send + 'static,
        Op: Operation<T>,
        Op::Error: StageError;

    /// Like [`fan_out`](Self::fan_out), but items with equal keys are
    /// processed one at a time, in input order (like Broadway's
    /// `partition_by`, without pinning a key to a worker): while an item of
    /// a key is in a worker's hands or waits for a retry, later items of
    /// that key wait behind it, and any idle worker takes the next item of
    /// any other key. Output interleaves keys in completion order, or keeps
    /// input order with [`FanOut::ordered`]. A key that is much busier than
    /// the others runs no faster than one worker. Keys are told apart by a
    /// 64-bit hash: two keys whose hashes collide (vanishingly rare) also
    /// wait for each other.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter((0..12u32).map(|i| (i % 3, i)))
    ///     .fan_out_keyed("per-device", FanOut::workers(2), |(device, _): &(u32, u32)| *device, |p: (u32, u32)| async move {
    ///         Ok::<_, Infallible>(p)
    ///     })
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .run()
    ///     .await?;
    /// let out = out.take();
    /// for device in 0..3 {
    ///     let seqs: Vec<u32> = out.iter().filter(|(d, _)| *d == device).map(|(_, s)| *s).collect();
    ///     assert!(seqs.windows(2).all(|w| w[0] < w[1]), "per-key order holds");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn fan_out_keyed<Op, F, K>(
        self,
        name: &str,
        config: FanOut,
        key: F,
        op: Op,
    ) -> Fallible<Op::Output, T, Op::Error>
    where
        T: Clone,
        Op: Operation<T>,
        Op::Error: StageError,
        F: Fn(&T) -> K + Send + 'static,
        K: Hash;

    /// Every consumer receives every item (to send each item to several
    /// places); the output is each item's results, one per consumer in
    /// consumer order, in input order. An item fails if any consumer fails
    /// it. The slowest consumer bounds the rate: the others wait once
    /// `capacity` items are inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::FanOutExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// let consumer = |factor: u32| move |x: u32| async move { Ok::<_, Infallible>(x * factor) };
    /// Pipeline::from_iter(1..=3u32)
    ///     .broadcast("copies", 8, vec![consumer(1), consumer(10)])
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .run()
    ///     .await?;
    /// assert_eq!(out.take(), [vec![1, 10], vec![2, 20], vec![3, 30]]);
    /// # Ok(())
    /// # }
    /// ```
    fn broadcast<Op>(
        self,
        name: &str,
        capacity: usize,
        consumers: Vec<Op>,
    ) -> Fallible<Vec<Op::Output>, T, Op::Error>
    where
        T: Clone,
        Op: Operation<T>,
        Op::Error: StageError;

    /// [`fan_out`](Self::fan_out) without a clone: each attempt borrows
    /// the item through a [`Lent`], which brings it back to the worker
    /// when the attempt ends (completes, fails or panics). No `T: Clone`,
    /// even with a retry layer: every attempt borrows the same item, and
    /// a failure keeps it.
    ///
    /// Use it for items that are not `Clone`, or whose clone allocates
    /// (owned buffers, strings, maps). Lending is not free: the item
    /// goes to the attempt and back through a lock the worker owns, which
    /// costs about as much as a small allocation. For items whose clone is
    /// a reference count or a few words (`Bytes`, `Arc`, numbers),
    /// [`fan_out`](Self::fan_out) is faster (BENCHMARKS.md measures both).
    /// Output order, backpressure, retries and failures are as for
    /// [`fan_out`](Self::fan_out). The operation normally lets go of the
    /// `Lent` when its future completes (the future owns it); after a
    /// failure, one kept longer holds its worker until it is dropped, and
    /// one carried in the error holds it for ever (see [`Lent`]).
    ///
    /// # Errors
    ///
    /// As for [`fan_out`](Self::fan_out).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt, Lent};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("empty frame")]
    /// struct Empty;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// // `Vec<u8>` frames, never cloned: the operation reads each one.
    /// let checksum = |frame: Lent<Vec<u8>>| async move {
    ///     if frame.is_empty() { return Err(Empty) }
    ///     Ok(frame.iter().map(|&b| u32::from(b)).sum::<u32>())
    /// };
    /// let (sink, out) = sink::collect();
    /// let report = Pipeline::from_iter([vec![1u8, 2], vec![], vec![3]])
    ///     .fan_out_lent("checksum", FanOut::workers(2).ordered(), checksum)
    ///     .inspect_failures(|f| assert!(f.item().is_empty(), "the failure keeps its frame"))
    ///     .discard_failures()
    ///     .sink(sink)
    ///     .await?;
    /// assert_eq!(out.take(), [3, 3]);
    /// assert_eq!(report.delivered(), 2);
    /// assert_eq!(report.discarded(), 1);
    /// # Ok(())
    /// # }
    /// ```
    fn fan_out_lent<Op>(self, name: &str, config: FanOut, op: Op) -> Fallible<Op::Output, T, Op::Error>
    where
        Op: Operation<Lent<T>>,
        Op::Error: StageError;

    /// [`fan_out_keyed`](Self::fan_out_keyed) without a clone: each
    /// attempt borrows the item through a [`Lent`], as in
    /// [`fan_out_lent`](Self::fan_out_lent).
    ///
    /// # Errors
    ///
    /// As for [`fan_out_keyed`](Self::fan_out_keyed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt, Lent};
    ///
    /// struct Reading { device: u32, value: u32 } // not Clone
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter((0..6u32).map(|i| Reading { device: i % 2, value: i }))
    ///     .fan_out_keyed_lent("per-device", FanOut::workers(2), |r: &Reading| r.device, |r: Lent<Reading>| async move {
    ///         Ok::<_, Infallible>((r.device, r.value))
    ///     })
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .await?;
    /// let out = out.take();
    /// for device in 0..2 {
    ///     let values: Vec<u32> = out.iter().filter(|(d, _)| *d == device).map(|(_, v)| *v).collect();
    ///     assert!(values.windows(2).all(|w| w[0] < w[1]), "per-key order holds");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn fan_out_keyed_lent<Op, F, K>(
        self,
        name: &str,
        config: FanOut,
        key: F,
        op: Op,
    ) -> Fallible<Op::Output, T, Op::Error>
    where
        Op: Operation<Lent<T>>,
        Op::Error: StageError,
        F: Fn(&T) -> K + Send + 'static,
        K: Hash;

    /// [`fan_out_with`](Self::fan_out_with) without a clone: each
    /// worker's operation borrows each item through a [`Lent`], as in
    /// [`fan_out_lent`](Self::fan_out_lent).
    ///
    /// # Errors
    ///
    /// As for [`fan_out_with`](Self::fan_out_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt, Lent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (sink, out) = sink::collect();
    /// Pipeline::from_iter([String::from("a"), String::from("bc")])
    ///     .fan_out_with_lent("len", FanOut::workers(2).ordered(), |worker| {
    ///         move |s: Lent<String>| async move { Ok::<_, Infallible>((s.len(), worker < 2)) }
    ///     })
    ///     .halt_on_error()
    ///     .sink(sink)
    ///     .await?;
    /// assert_eq!(out.take(), [(1, true), (2, true)]);
    /// # Ok(())
    /// # }
    /// ```
    fn fan_out_with_lent<Op, M>(
        self,
        name: &str,
        config: FanOut,
        make: M,
    ) -> Fallible<Op::Output, T, Op::Error>
    where
        M: FnMut(usize) -> Op + Send + 'static,
        Op: Operation<Lent<T>>,
        Op::Error: StageError;
}

impl<T: Send + 'static> FanOutExt<T> for Pipeline<T> {
    fn fan_out<Op>(self, name: &str, config: FanOut, op: Op) -> Fallible<Op::Output, T, Op::Error>
    where
        T: Clone,
        Op: Operation<T>,
        Op::Error: StageError,
    {
        self.try_stage(FanOutStage::new(name, config, op))
    }

    fn fan_out_with<Op, M>(self, name: &str, config: FanOut, make: M) -> Fallible<Op::Output, T, Op::Error>
    where
        T: Clone,
        M: FnMut(usize) -> Op + Send + 'static,
        Op: Operation<T>,
        Op::Error: StageError,
    {
        self.try_stage(FanOutWithStage::<M, Cloning>::new(name, config, make))
    }

    fn fan_out_keyed<Op, F, K>(
        self,
        name: &str,
        config: FanOut,
        key: F,
        op: Op,
    ) -> Fallible<Op::Output, T, Op::Error>
    where
        T: Clone,
        Op: Operation<T>,
        Op::Error: StageError,
        F: Fn(&T) -> K + Send + 'static,
        K: Hash,
    {
        self.try_stage(KeyedStage::new(name, config, key, op))
    }

    fn broadcast<Op>(
        self,
        name: &str,
        capacity: usize,
        consumers: Vec<Op>,
    ) -> Fallible<Vec<Op::Output>, T, Op::Error>
    where
        T: Clone,
        Op: Operation<T>,
        Op::Error: StageError,
    {
        self.try_stage(BroadcastStage::new(name, capacity, consumers))
    }

    fn fan_out_lent<Op>(self, name: &str, config: FanOut, op: Op) -> Fallible<Op::Output, T, Op::Error>
    where
        Op: Operation<Lent<T>>,
        Op::Error: StageError,
    {
        self.try_stage(FanOutStage::lending(name, config, op))
    }

    fn fan_out_keyed_lent<Op, F, K>(
        self,
        name: &str,
        config: FanOut,
        key: F,
        op: Op,
    ) -> Fallible<Op::Output, T, Op::Error>
    where
        Op: Operation<Lent<T>>,
        Op::Error: StageError,
        F: Fn(&T) -> K + Send + 'static,
        K: Hash,
    {
        self.try_stage(KeyedStage::lending(name, config, key, op))
    }

    fn fan_out_with_lent<Op, M>(
        self,
        name: &str,
        config: FanOut,
        make: M,
    ) -> Fallible<Op::Output, T, Op::Error>
    where
        M: FnMut(usize) -> Op + Send + 'static,
        Op: Operation<Lent<T>>,
        Op::Error: StageError,
    {
        self.try_stage(FanOutWithStage::<M, Lending>::new(name, config, make))
    }
}
