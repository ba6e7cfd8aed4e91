//! Runs the subject under one case, counting for itself what the source
//! gave, what the sink took and which acknowledgements fired.

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};
use weir_core::{FallibleStage, Monitor, Stage, StageKind};

use super::case::{Case, End, cycled};
use crate::ack::AckLog;

/// The clock a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// Paused: timers fire as soon as nothing else can run (deterministic
    /// and fast). Only for subjects whose work is all on the runtime.
    Paused,
    /// The real clock, for subjects that wait on threads of their own (a
    /// database sink's writer thread), where a paused clock would jump
    /// ahead while they work.
    Real,
}

impl Clock {
    /// How long a run may take before it counts as hung: an hour of
    /// virtual time, or ten seconds of real time.
    pub(crate) fn limit(self) -> Duration {
        match self {
            Clock::Paused => Duration::from_secs(3600),
            Clock::Real => Duration::from_secs(10),
        }
    }
}

/// What is checked: a stage, a fallible stage, a pipeline segment or a
/// sink, and how it is plugged into the harness's pipeline.
pub(crate) trait Subject<T>: Send + 'static {
    /// `pipeline` then the subject, ending in `probe` (a stage) or in the
    /// subject itself (a sink).
    fn connect(self, pipeline: Pipeline<T>, probe: &Probe) -> Runnable;
    /// Whether it is followed by the harness's sink (whose stalls test
    /// backpressure).
    fn feeds_the_probe(&self) -> bool {
        true
    }
}

/// A stage under test.
pub(crate) struct AStage<S>(pub(crate) S);

impl<T: Send + 'static, S: Stage<T>> Subject<T> for AStage<S> {
    fn connect(self, pipeline: Pipeline<T>, probe: &Probe) -> Runnable {
        pipeline.stage(self.0).sink_named(SINK, probe.sink(None))
    }
}

/// Stages built by a function of the pipeline (weir's combinators).
pub(crate) struct ASegment<F>(pub(crate) F);

impl<T, O, F> Subject<T> for ASegment<F>
where
    T: Send + 'static,
    O: Send + 'static,
    F: FnOnce(Pipeline<T>) -> Pipeline<O> + Send + 'static,
{
    fn connect(self, pipeline: Pipeline<T>, probe: &Probe) -> Runnable {
        (self.0)(pipeline).sink_named(SINK, probe.sink(None))
    }
}

/// A fallible stage under test; its failures are discarded (counted and
/// acknowledged) by the harness.
pub(crate) struct AFallibleStage<S>(pub(crate) S);

impl<T: Send + 'static, S: FallibleStage<T>> Subject<T> for AFallibleStage<S> {
    fn connect(self, pipeline: Pipeline<T>, probe: &Probe) -> Runnable {
        pipeline.try_stage(self.0).discard_failures().sink_named(SINK, probe.sink(None))
    }
}

/// A sink under test.
pub(crate) struct ASink<S> {
    pub(crate) name: String,
    pub(crate) sink: S,
}

impl<T: Send + 'static, S: Sink<T>> Subject<T> for ASink<S> {
    fn connect(self, pipeline: Pipeline<T>, _: &Probe) -> Runnable {
        pipeline.sink_named(&self.name, self.sink)
    }

    fn feeds_the_probe(&self) -> bool {
        false
    }
}

/// The harness's sink: takes items with the case's delays, and stalls
/// for good after a number of them when the case says so (then every
/// send before the stall waits once too).
#[derive(Clone)]
pub(crate) struct Probe {
    /// The case's sink delays, cycled per send.
    delays_ms: Arc<Vec<u8>>,
    stall_after: Option<usize>,
    taken: Arc<AtomicUsize>,
    /// The source's acknowledgements, to tell whether an item's fired
    /// before the sink took it.
    acks: AckLog<usize>,
    /// Each traced item the sink took, and whether its acknowledgement
    /// had fired already.
    traced: Arc<Mutex<Vec<(usize, bool)>>>,
}

impl Probe {
    /// The sink; `trace`, when given, names the source item each item
    /// it takes came from.
    pub(crate) fn sink<O: Send + 'static>(&self, trace: Option<fn(&O) -> usize>) -> impl Sink<O> + use<O> {
        let probe = self.clone();
        sink::from_fn(move |item: O| {
            let traced = trace.map(|trace| trace(&item));
            let probe_after = probe.clone();
            let n = probe.taken.fetch_add(1, Ordering::SeqCst);
            let stall = probe.stall_after.is_some_and(|after| n >= after);
            let delay = cycled(&probe.delays_ms, n);
            let stalls = probe.stall_after.is_some();
            async move {
                if stall {
                    std::future::pending::<()>().await;
                }
                if stalls {
                    // Each send waits once, so the sink asks for one item
                    // at a time (as it does from a sink that waits): what
                    // the stage holds at the stall is its own doing, not
                    // a chunk the sink asked for.
                    tokio::task::yield_now().await;
                }
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                if let Some(i) = traced {
                    let early = probe_after.acks.fired().contains(&i);
                    probe_after.traced.lock().unwrap_or_else(|e| e.into_inner()).push((i, early));
                }
                Ok::<_, Infallible>(())
            }
        })
    }
}

/// How the run ended, as the harness saw it.
pub(crate) enum Ended {
    /// `join`, `shutdown` or `abort` returned.
    Returned(Result<Report, RunError>),
    /// The handle was dropped.
    Dropped,
    /// Nothing returned within the clock's [limit](Clock::limit).
    Hung {
        /// The live report at the limit.
        report: Report,
    },
}

/// What one run did, counted by the harness.
pub(crate) struct Observed {
    /// Items the source gave to the pipeline.
    pub(crate) given: usize,
    /// The acknowledgements that fired, by item index, in firing order.
    pub(crate) acked: Vec<usize>,
    pub(crate) ended: Ended,
    /// The items the subject's stages held after an hour of a stalled
    /// sink.
    pub(crate) held_while_stalled: Option<u64>,
    /// Tasks alive in the runtime once the run ended.
    pub(crate) tasks_left: usize,
    /// Each traced item the sink took, and whether its acknowledgement
    /// had fired before (empty unless the subject's output is traced).
    pub(crate) traced: Vec<(usize, bool)>,
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed").field("given", &self.given).field("acked", &self.acked.len()).finish()
    }
}

/// Runs `subject` under `case` on a fresh paused-clock runtime.
pub(crate) fn run_case<T, S>(case: &Case<T>, subject: S, clock: Clock) -> Result<Observed, BuildError>
where
    T: Clone + Send + 'static,
    S: Subject<T>,
{
    quiet_poison();
    // Every driver the build has (a sink may talk to a server).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(clock == Clock::Paused)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(run(case, subject, clock.limit()))
}

async fn run<T, S>(case: &Case<T>, subject: S, limit: Duration) -> Result<Observed, BuildError>
where
    T: Clone + Send + 'static,
    S: Subject<T>,
{
    let acks = AckLog::default();
    let given = Arc::new(AtomicUsize::new(0));
    let stalls = subject.feeds_the_probe();
    let stall_after = match case.ending {
        End::Stall { after } if stalls => Some(after),
        _ => None,
    };
    let probe = Probe {
        delays_ms: Arc::new(case.sink_delays_ms.clone()),
        stall_after,
        taken: Arc::default(),
        acks: acks.clone(),
        traced: Arc::default(),
    };
    let pipeline = source(case, &acks, &given);
    let pipeline = match case.ending {
        End::Panic { at_item } => poison(pipeline, at_item),
        _ => pipeline,
    };
    let runnable = match case.ending {
        End::Deadline { drain_ms, .. } => {
            subject.connect(pipeline, &probe).drain_timeout(Duration::from_millis(u64::from(drain_ms) + 1))
        }
        _ => subject.connect(pipeline, &probe),
    };
    if let End::DropRun { at_ms } = case.ending {
        // The run's own future, dropped while it runs (or, if it ended
        // first, what it returned, checked like any ending).
        let ended = match tokio::time::timeout(Duration::from_millis(at_ms.into()), runnable.run()).await {
            Ok(Err(RunError::Build(error))) => return Err(error),
            Ok(result) => Ended::Returned(result),
            Err(_) => Ended::Dropped,
        };
        return Ok(finish(ended, None, &given, &acks, &probe).await);
    }
    let handle = runnable.spawn()?;
    let monitor = handle.monitor();
    let mut held_while_stalled = None;
    let ended = match case.ending {
        End::Stall { .. } if !stalls => within_limit(handle.join(), &monitor, limit).await,
        End::Complete | End::Panic { .. } => within_limit(handle.join(), &monitor, limit).await,
        // With or without a drain deadline (set above).
        End::Shutdown { at_ms } | End::Deadline { at_ms, .. } => {
            tokio::time::sleep(Duration::from_millis(at_ms.into())).await;
            within_limit(handle.shutdown(), &monitor, limit).await
        }
        End::Abort { at_ms } => {
            tokio::time::sleep(Duration::from_millis(at_ms.into())).await;
            Ended::Returned(handle.abort().await)
        }
        End::Drop { at_ms } => {
            tokio::time::sleep(Duration::from_millis(at_ms.into())).await;
            drop(handle);
            Ended::Dropped
        }
        End::DropRun { .. } => unreachable!("run above, without a handle"),
        End::Stall { after } => {
            tokio::time::sleep(limit).await;
            // Only a sink that did stall (it got past `after` sends) tests
            // backpressure: fewer items, or a halt, end the run first.
            if probe.taken.load(Ordering::SeqCst) > after {
                held_while_stalled = Some(held(&handle.report()));
            }
            Ended::Returned(handle.abort().await)
        }
    };
    Ok(finish(ended, held_while_stalled, &given, &acks, &probe).await)
}

/// What the run did, once the tasks it aborted are gone.
async fn finish(
    ended: Ended,
    held_while_stalled: Option<u64>,
    given: &AtomicUsize,
    acks: &AckLog<usize>,
    probe: &Probe,
) -> Observed {
    // Aborted tasks go once the runtime has polled them.
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    let tasks_left = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    Observed {
        given: given.load(Ordering::SeqCst),
        acked: acks.fired(),
        ended,
        held_while_stalled,
        tasks_left,
        traced: probe.traced.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    }
}

/// What `ending` returned, or the live report if it did not return
/// within `limit` (the run is then dropped with the future).
async fn within_limit(
    ending: impl Future<Output = Result<Report, RunError>>,
    monitor: &Monitor,
    limit: Duration,
) -> Ended {
    match tokio::time::timeout(limit, ending).await {
        Ok(result) => Ended::Returned(result),
        Err(_) => Ended::Hung { report: monitor.report() },
    }
}

/// The source: the case's items, each with an acknowledgement that logs
/// its index, after the case's gaps.
fn source<T: Clone + Send + 'static>(
    case: &Case<T>,
    acks: &AckLog<usize>,
    given: &Arc<AtomicUsize>,
) -> Pipeline<T> {
    let items: Vec<(usize, T, u64)> =
        case.items.iter().cloned().enumerate().map(|(i, item)| (i, item, case.gap_ms(i))).collect();
    let (acks, given) = (acks.clone(), given.clone());
    let stream = futures::stream::iter(items).then(move |(i, item, gap)| {
        let ack = acks.ack(i);
        let given = given.clone();
        async move {
            if gap > 0 {
                tokio::time::sleep(Duration::from_millis(gap)).await;
            }
            given.fetch_add(1, Ordering::SeqCst);
            (item, ack)
        }
    });
    Pipeline::from_acked(stream)
}

/// A stage before the subject that panics on item `at_item`.
fn poison<T: Send + 'static>(pipeline: Pipeline<T>, at_item: usize) -> Pipeline<T> {
    let mut seen = 0;
    pipeline.map(POISON, move |item| {
        let this = seen;
        seen += 1;
        assert!(this != at_item, "{POISONED}{at_item} is poison");
        item
    })
}

/// The name of the stage that panics in a `Panic` case.
pub(crate) const POISON: &str = "conformance-poison";

/// How the poison's panic message starts.
pub(crate) const POISONED: &str = "conformance: item ";

/// Keeps the poison's deliberate panics out of the test output (every
/// other panic still goes to the hook that was installed before).
fn quiet_poison() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<String>().map(String::as_str);
            if !message.is_some_and(|m| m.starts_with(POISONED)) {
                previous(info);
            }
        }));
    });
}

/// The name of the harness's sink.
pub(crate) const SINK: &str = "conformance-sink";

/// The items held by the subject's stages: every stage between the
/// source and the sink but the harness's own.
pub(crate) fn held(report: &Report) -> u64 {
    report
        .stages()
        .iter()
        .filter(|stage| stage.kind == StageKind::Transform && stage.name != POISON)
        .map(|stage| stage.in_flight)
        .sum()
}

/// A sink made by a future, on the runtime of the case that uses it (a
/// sink that connects asynchronously: its connection belongs to the
/// runtime it was made on). The future runs at the first send or flush.
pub(crate) struct Made<F, S> {
    making: Option<std::pin::Pin<Box<F>>>,
    sink: Option<S>,
}

impl<F, S> Made<F, S> {
    pub(crate) fn new(future: F) -> Self {
        Self { making: Some(Box::pin(future)), sink: None }
    }
}

impl<F: Future<Output = S> + Send, S: Send> Made<F, S> {
    async fn get(&mut self) -> &mut S {
        if let Some(making) = self.making.take() {
            self.sink = Some(making.await);
        }
        self.sink.as_mut().expect("made at the first use")
    }
}

impl<T, F, S> Sink<T> for Made<F, S>
where
    T: Send + 'static,
    F: Future<Output = S> + Send + 'static,
    S: Sink<T>,
{
    type Error = S::Error;

    async fn send(&mut self, item: T) -> Result<(), weir_core::SinkError<T, S::Error>> {
        self.get().await.send(item).await
    }

    /// The sink's own, so that the suite checks a sink that takes runs of
    /// items the way the pipeline sends to it.
    async fn send_chunk(
        &mut self,
        items: &mut weir_core::sink::SendChunk<'_, T>,
    ) -> Result<(), weir_core::SinkError<T, S::Error>> {
        self.get().await.send_chunk(items).await
    }

    async fn flush(&mut self) -> Result<(), S::Error> {
        self.get().await.flush().await
    }

    fn last_attempt(&self) -> Option<&weir_core::Attempt> {
        self.sink.as_ref().and_then(Sink::last_attempt)
    }
}
