//! The fan-out stages, as weir-core `FallibleStage`s.

use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use weir_core::chunk::{ChunkStream, FallibleChunks, build_fallible_by_chunks};
use weir_core::{BuildError, EnvelopeStream, FallibleStage, FallibleStream, Operation, StageContext};

use crate::assemble::{Broadcast, Ordered, Unordered};
use crate::config::FanOut;
use crate::dispatch::Dispatch;
use crate::feeder::{KeyHash, Router};
use crate::hand::{Cloning, Handing, Lending};
use crate::launch::{Layout, launch};

/// Stage for [`FanOutExt::fan_out`](crate::FanOutExt::fan_out), for
/// code that handles stages as values (a stage crate wrapping a fan-out,
/// a list of stages built from a config) and plugs them in with
/// [`Pipeline::try_stage`](weir_core::Pipeline::try_stage).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_fanout::{FanOut, FanOutStage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let stage = FanOutStage::new("double", FanOut::workers(2), |x: u32| async move { Ok::<_, Infallible>(x * 2) });
/// let report = Pipeline::from_iter(0..4u32).try_stage(stage).discard_failures().sink(sink::drain()).await?;
/// assert_eq!(report.delivered(), 4);
/// # Ok(())
/// # }
/// ```
///
/// `H` says how each item is given to the operation: [`Cloning`] (built by
/// [`new`](Self::new)) or [`Lending`] (built by [`lending`](Self::lending)).
#[derive(Debug)]
pub struct FanOutStage<Op, H = Cloning> {
    name: String,
    config: FanOut,
    op: Op,
    hand: PhantomData<H>,
}

impl<Op> FanOutStage<Op> {
    /// Runs `op` on `config.worker_count()` workers, as
    /// [`fan_out`](crate::FanOutExt::fan_out) does.
    pub fn new(name: &str, config: FanOut, op: Op) -> Self {
        Self { name: name.to_owned(), config, op, hand: PhantomData }
    }
}

impl<Op> FanOutStage<Op, Lending> {
    /// Runs `op` on `config.worker_count()` workers, lending it each
    /// item, as [`fan_out_lent`](crate::FanOutExt::fan_out_lent) does.
    ///
    /// ```
    /// use weir_fanout::{FanOut, FanOutStage, Lent};
    ///
    /// let _ = FanOutStage::lending("length", FanOut::workers(2), |s: Lent<String>| async move {
    ///     Ok::<_, std::convert::Infallible>(s.len())
    /// });
    /// ```
    pub fn lending(name: &str, config: FanOut, op: Op) -> Self {
        Self { name: name.to_owned(), config, op, hand: PhantomData }
    }
}

impl<T, Op, H> FallibleStage<T> for FanOutStage<Op, H>
where
    T: Send + 'static,
    H: Handing<T>,
    Op: Operation<H::Input>,
    Op::Error: weir_core::StageError,
{
    type Output = Op::Output;
    type Error = Op::Error;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.config.validate(&self.name)?;
        self.op.validate(&self.name)
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> FallibleStream<Op::Output, T, Op::Error> {
        build_fallible_by_chunks(self, input, ctx)
    }

    fn build_chunks(
        self,
        input: ChunkStream<T>,
        ctx: StageContext,
    ) -> FallibleChunks<Op::Output, T, Op::Error> {
        let op = Arc::new(self.op);
        let ops = (0..self.config.worker_count()).map(|_| op.clone()).collect();
        launch_sized::<T, H, Op>(&self.config, ops, None, input, ctx)
    }
}

/// Stage for [`FanOutExt::fan_out_keyed`](crate::FanOutExt::fan_out_keyed);
/// see [`FanOutStage`] for when to build one yourself.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_fanout::{FanOut, KeyedStage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let by_device = KeyedStage::new("store", FanOut::workers(2), |r: &(u8, u32)| r.0, |r: (u8, u32)| async move {
///     Ok::<_, Infallible>(r.1)
/// });
/// let report = Pipeline::from_iter([(1, 10), (2, 20), (1, 11)]).try_stage(by_device).discard_failures().sink(sink::drain()).await?;
/// assert_eq!(report.delivered(), 3);
/// # Ok(())
/// # }
/// ```
///
/// `H` says how each item is given to the operation, as for
/// [`FanOutStage`].
pub struct KeyedStage<Op, F, H = Cloning> {
    name: String,
    config: FanOut,
    key: F,
    op: Op,
    hand: PhantomData<H>,
}

impl<Op, F> KeyedStage<Op, F> {
    /// Runs `op` on `config.worker_count()` workers, one item of each key
    /// `key` gives at a time, as
    /// [`fan_out_keyed`](crate::FanOutExt::fan_out_keyed) does.
    pub fn new(name: &str, config: FanOut, key: F, op: Op) -> Self {
        Self { name: name.to_owned(), config, key, op, hand: PhantomData }
    }
}

impl<Op, F> KeyedStage<Op, F, Lending> {
    /// Runs `op` on `config.worker_count()` workers, one item of each key
    /// at a time, lending it each item, as
    /// [`fan_out_keyed_lent`](crate::FanOutExt::fan_out_keyed_lent) does.
    ///
    /// ```
    /// use weir_fanout::{FanOut, KeyedStage, Lent};
    ///
    /// let _ = KeyedStage::lending("store", FanOut::workers(2), |s: &String| s.len(), |s: Lent<String>| async move {
    ///     Ok::<_, std::convert::Infallible>(s.len())
    /// });
    /// ```
    pub fn lending(name: &str, config: FanOut, key: F, op: Op) -> Self {
        Self { name: name.to_owned(), config, key, op, hand: PhantomData }
    }
}

impl<Op: std::fmt::Debug, F, H> std::fmt::Debug for KeyedStage<Op, F, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedStage")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T, Op, F, K, H> FallibleStage<T> for KeyedStage<Op, F, H>
where
    T: Send + 'static,
    H: Handing<T>,
    Op: Operation<H::Input>,
    Op::Error: weir_core::StageError,
    F: Fn(&T) -> K + Send + 'static,
    K: Hash,
{
    type Output = Op::Output;
    type Error = Op::Error;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.config.validate(&self.name)?;
        self.op.validate(&self.name)
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> FallibleStream<Op::Output, T, Op::Error> {
        build_fallible_by_chunks(self, input, ctx)
    }

    fn build_chunks(
        self,
        input: ChunkStream<T>,
        ctx: StageContext,
    ) -> FallibleChunks<Op::Output, T, Op::Error> {
        let key = self.key;
        let hash = Box::new(move |item: &T| {
            let mut hasher = rustc_hash::FxHasher::default();
            key(item).hash(&mut hasher);
            hasher.finish()
        });
        let op = Arc::new(self.op);
        let ops = (0..self.config.worker_count()).map(|_| op.clone()).collect();
        launch_sized::<T, H, Op>(&self.config, ops, Some(hash), input, ctx)
    }
}

/// Stage for [`FanOutExt::broadcast`](crate::FanOutExt::broadcast); see
/// [`FanOutStage`] for when to build one yourself.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_fanout::BroadcastStage;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let add = |n: u32| move |x: u32| async move { Ok::<_, Infallible>(x + n) };
/// let both = BroadcastStage::new("both", 8, vec![add(1), add(100)]);
/// let (collect, out) = sink::collect();
/// Pipeline::from_iter([1u32]).try_stage(both).discard_failures().sink(collect).await?;
/// assert_eq!(out.take(), [vec![2, 101]]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BroadcastStage<Op> {
    name: String,
    capacity: usize,
    consumers: Vec<Op>,
}

impl<Op> BroadcastStage<Op> {
    /// Gives every item to each of `consumers`, as
    /// [`broadcast`](crate::FanOutExt::broadcast) does.
    pub fn new(name: &str, capacity: usize, consumers: Vec<Op>) -> Self {
        Self { name: name.to_owned(), capacity, consumers }
    }
}

impl<T, Op> FallibleStage<T> for BroadcastStage<Op>
where
    T: Clone + Send + 'static,
    Op: Operation<T>,
    Op::Error: weir_core::StageError,
{
    type Output = Vec<Op::Output>;
    type Error = Op::Error;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.consumers.is_empty() {
            return Err(BuildError::Zero { stage: self.name.clone(), what: "the number of consumers" });
        }
        if self.capacity == 0 {
            return Err(BuildError::Zero { stage: self.name.clone(), what: "the capacity" });
        }
        crate::config::check_workers(&self.name, "consumers", self.consumers.len())?;
        crate::config::check_room(&self.name, self.capacity)?;
        self.consumers.iter().try_for_each(|op| op.validate(&self.name))
    }

    fn build(
        self,
        input: EnvelopeStream<T>,
        ctx: StageContext,
    ) -> FallibleStream<Vec<Op::Output>, T, Op::Error> {
        build_fallible_by_chunks(self, input, ctx)
    }

    fn build_chunks(
        self,
        input: ChunkStream<T>,
        ctx: StageContext,
    ) -> FallibleChunks<Vec<Op::Output>, T, Op::Error> {
        let lanes = self.consumers.len();
        let queues: Vec<_> = (0..lanes).map(|_| Arc::new(Dispatch::new(false))).collect();
        let layout = Layout {
            workers: self.consumers.into_iter().enumerate().map(|(lane, op)| (Arc::new(op), lane)).collect(),
            router: Router::Broadcast { queues: queues.clone(), copy: T::clone },
            queues,
            capacity: self.capacity,
            max_batch: (self.capacity / lanes).clamp(1, crate::config::MAX_BATCH),
        };
        launch::<T, Cloning, Op, _>(layout, input, ctx, Broadcast::new(lanes))
    }
}

/// Launches a worker for each of `ops` (its operation, given items as `H`
/// says) on one shared queue, sized by `config` (its room and batch size), keyed by `hash` when
/// given, with results in input order when `config` is ordered, else in
/// completion order.
pub(crate) fn launch_sized<T, H, Op>(
    config: &FanOut,
    ops: Vec<Arc<Op>>,
    hash: Option<KeyHash<T>>,
    input: ChunkStream<T>,
    ctx: StageContext,
) -> FallibleChunks<Op::Output, T, Op::Error>
where
    T: Send + 'static,
    H: Handing<T>,
    Op: Operation<H::Input>,
    Op::Error: weir_core::StageError,
{
    let queue = Arc::new(Dispatch::new(hash.is_some()));
    let layout = Layout {
        workers: ops.into_iter().map(|op| (op, 0)).collect(),
        queues: vec![queue.clone()],
        router: Router::Shared { queue, hash },
        capacity: config.room(),
        max_batch: config.max_batch(),
    };
    if config.is_ordered() {
        launch::<T, H, Op, _>(layout, input, ctx, Ordered::default())
    } else {
        launch::<T, H, Op, _>(layout, input, ctx, Unordered::default())
    }
}
