//! A conformance suite for stage crates: one call from a stage's own
//! tests runs it under generated schedules and checks the promises every
//! weir stage makes, naming the broken one with a minimal failing case.
//!
//! Each case feeds the stage from an acking source with generated gaps,
//! into a sink with generated delays, on a paused clock (deterministic
//! and fast), and ends the run one way: completion, `shutdown()` (with
//! time to drain, or a drain deadline of a few milliseconds that expires)
//! or `abort()` at a random moment, the handle or the run's own future
//! dropped, the sink stalled for an hour, or a panic in a stage before
//! it. The harness counts for
//! itself what the source gave, which acknowledgements fired and how many
//! tasks the runtime still has, and checks each [`Promise`]:
//!
//! | promise | what is checked |
//! |---|---|
//! | [`Conservation`](Promise::Conservation) | the report's conservation line holds (after completion and `shutdown()`, with nothing in flight), and its source count is what the source gave; given a [`Model`], each category is the model's (exactly after completion, at most after other endings) |
//! | [`Acknowledgement`](Promise::Acknowledgement) | acknowledgements fire once each, and as many as items finished (delivered, filtered, discarded, dead-lettered): more would be acknowledgements for items in flight or abandoned, fewer lost ones (counted; matched item by item against a traced [`Model`] by [`check_bytes_modelled`]) |
//! | [`Backpressure`](Promise::Backpressure) | with the sink stalled for an hour, the stage holds at most its bound |
//! | [`Drain`](Promise::Drain) | completion and `shutdown()` leave nothing in flight, and the run ends |
//! | [`NoLeakedTask`](Promise::NoLeakedTask) | the runtime has no task left once the run ended, however it ended |
//! | [`PanicContainment`](Promise::PanicContainment) | a panic in another stage ends the run with that panic, every item accounted for |
//!
//! # Examples
//!
//! One line from a stage crate's tests ([`check`] takes `u64` items; the
//! builders take any item type):
//!
//! ```
//! use weir_core::{EnvelopeStream, Stage, StageContext};
//!
//! /// A stage that passes items on.
//! struct Pass;
//!
//! impl Stage<u64> for Pass {
//!     type Output = u64;
//!     fn name(&self) -> &str { "pass" }
//!     fn build(self, input: EnvelopeStream<u64>, _: StageContext) -> EnvelopeStream<u64> { input }
//! }
//!
//! weir_testkit::conformance::check(|| Pass);
//! ```
//!
//! A stage that holds items by design declares how many, and the result
//! says how often each promise was checked:
//!
//! ```
//! use weir_core::Pipeline;
//! use weir_testkit::conformance::{self, Promise};
//!
//! let passed = conformance::segment("buffer", |p: Pipeline<char>| p.buffer("buffer", 8))
//!     .bound(9)
//!     .cases(64)
//!     .run()
//!     .unwrap();
//! assert!(passed.checked(Promise::Backpressure) > 0);
//! ```
//!
//! A broken promise is an error (or, from [`Suite::assert`], a panic)
//! that names it, says what the harness saw and shows the minimal case:
//!
//! ```
//! use futures::StreamExt;
//! use weir_core::{EnvelopeStream, Stage, StageContext};
//! use weir_testkit::conformance::{self, Promise};
//!
//! /// Drops odd items without counting them.
//! struct Lossy;
//!
//! impl Stage<u64> for Lossy {
//!     type Output = u64;
//!     fn name(&self) -> &str { "lossy" }
//!     fn build(self, input: EnvelopeStream<u64>, _: StageContext) -> EnvelopeStream<u64> {
//!         input.filter(|env| std::future::ready(env.item() % 2 == 0)).boxed()
//!     }
//! }
//!
//! let broken = conformance::stage(|| Lossy).items(0..10u64).cases(64).run().unwrap_err();
//! assert_eq!(broken.promise(), Some(Promise::Conservation));
//! assert!(broken.to_string().starts_with("`lossy` breaks its promise of conservation"), "{broken}");
//! ```
//!
//! # Built-in stages
//!
//! The suite runs on the stages weir ships, in the test named beside
//! each; every one passes every promise that applies to it, and each
//! test also checks that every promise was reached:
//!
//! | stage | bound while stalled | where |
//! |---|---|---|
//! | `map`, `filter`, `inspect`, `then` | 0 | `weir-testkit/tests/conformance.rs` |
//! | `try_map`, `try_map_ref`, `try_then` (failures discarded), `try_map` with `halt_on_error` (the run ends with its failure returned) | 0 | same |
//! | `batch` of `n` | `n - 1` | same |
//! | `buffer` of capacity `n` | `n + 1` (the queue, and one item waiting for room) | same |
//! | fan-out: unordered, ordered, keyed, one operation per worker, lent (slow items, errors, panics) | capacity + workers | `weir-fanout/tests/conformance.rs` |
//! | broadcast | capacity | same |
//! | fan-out with a retry layer | capacity + workers | same |
//! | dead letters (a slow store on its own task) | `max_batch` (failures wait for their group) | `weir-deadletter/tests/conformance.rs` |
//! | `Dedup` (`examples/dedup-stage`) | 0 | `examples/dedup-stage/tests/conformance.rs` |
//! | flow control (`weir-flow`): a fan-out whose operation has a circuit breaker (it opens, cools down, probes) or an adaptive limit; `throttle` and `rate_limit` (per key, by cost); `on_idle` and `complete_within` | capacity + workers for the fan-outs, 0 for the others | `weir-flow/tests/conformance.rs` |
//! | sinks: `collect`, `drain`, `from_fn`, a retrying `FlakySink`, a `FlakySink` behind a breaker and retries, a sink under an adaptive limit | (no downstream: not checked) | `weir-testkit/tests/conformance.rs`, `weir-fanout/tests/conformance.rs`, `weir-flow/tests/conformance.rs` |
//! | the SQLite sink (batches of packets, repeats absorbed; on the [real clock](Suite::real_clock): its writer is a thread) | (no downstream: not checked) | `weir-sqlite/tests/conformance.rs` |
//! | the Redis XADD sink (a real redis-server for the suite; real clock) | (no downstream: not checked) | `weir-redis/tests/conformance.rs` |
//! | the PostgreSQL sink (a real server for the suite; made on each case's runtime with [`sink_async_over`]; real clock) | (no downstream: not checked) | `weir-postgres/tests/conformance.rs` |
//!
//! The suite found one broken promise among them: the PostgreSQL sink's
//! connection task was detached, and outlived a run that was aborted or
//! dropped until the server noticed; the sink now owns it. Not run
//! through the suite: the Redis source (a source, not a stage); its own
//! tests check acknowledgements, restarts and several consumers against
//! a real server.

mod case;
mod harness;
mod model;
mod promises;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use weir_core::sink::Sink;
use weir_core::{BuildError, FallibleStage, Pipeline, Stage};

use case::Case;
use harness::{AFallibleStage, ASegment, ASink, AStage, Clock, Observed, run_case};
pub use model::{Fate, ITEM_STRIDE, Model, check_bytes_modelled};
pub use promises::Promise;

/// Checks a stage over `u64` items (from a small range, so that keys
/// repeat) with the default settings: bound 0, 256 cases (or
/// `PROPTEST_CASES`).
///
/// # Panics
///
/// When the stage breaks a promise (the message names it and shows the
/// minimal case) or does not build.
///
/// # Examples
///
/// ```
/// use weir_core::{EnvelopeStream, Stage, StageContext};
///
/// struct Pass;
///
/// impl Stage<u64> for Pass {
///     type Output = u64;
///     fn name(&self) -> &str { "pass" }
///     fn build(self, input: EnvelopeStream<u64>, _: StageContext) -> EnvelopeStream<u64> { input }
/// }
///
/// weir_testkit::conformance::check(|| Pass);
/// ```
#[track_caller]
pub fn check<S, F>(make: F)
where
    F: Fn() -> S + 'static,
    S: Stage<u64>,
{
    stage(make).items(0..16u64).assert();
}

/// A suite for the stage `make` builds (a fresh one per case), over
/// items of any type (`any::<T>()` unless [`items`](Suite::items) says).
/// `make` is also called once at once, for the stage's name: it must
/// not need a runtime (make a stage that connects at its first item).
///
/// ```
/// use weir_core::{EnvelopeStream, Stage, StageContext};
/// use weir_testkit::conformance;
///
/// /// Passes items of any type on.
/// struct Pass;
///
/// impl<T: Send + 'static> Stage<T> for Pass {
///     type Output = T;
///     fn name(&self) -> &str { "pass" }
///     fn build(self, input: EnvelopeStream<T>, _: StageContext) -> EnvelopeStream<T> { input }
/// }
///
/// let passed = conformance::stage::<String, _, _>(|| Pass).cases(32).assert();
/// // One case of each of the 8 endings, then 32 random ones.
/// assert_eq!(passed.cases(), 8 + 32);
/// ```
pub fn stage<T, S, F>(make: F) -> Suite<T>
where
    T: Arbitrary + Clone + fmt::Debug + Send + 'static,
    F: Fn() -> S + 'static,
    S: Stage<T>,
{
    Suite::new(
        make().name().to_owned(),
        move |case, clock| run_case(case, AStage(make()), clock),
        any::<T>().boxed(),
    )
}

/// A suite for the fallible stage `make` builds; the harness discards
/// its failures (counted and acknowledged).
///
/// ```
/// use weir_testkit::conformance;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("odd")]
/// struct Odd;
///
/// // A fan-out is a fallible stage: its failures keep their items.
/// let make = || weir_fanout::FanOutStage::new("even", weir_fanout::FanOut::workers(2).capacity(4), |x: u32| async move {
///     if x.is_multiple_of(2) { Ok(x) } else { Err(Odd) }
/// });
/// conformance::fallible_stage(make).bound(6).cases(32).assert();
/// ```
pub fn fallible_stage<T, S, F>(make: F) -> Suite<T>
where
    T: Arbitrary + Clone + fmt::Debug + Send + 'static,
    F: Fn() -> S + 'static,
    S: FallibleStage<T>,
{
    Suite::new(
        make().name().to_owned(),
        move |case, clock| run_case(case, AFallibleStage(make()), clock),
        any::<T>().boxed(),
    )
}

/// A suite for the stages `build` adds to a pipeline: weir's own
/// combinators (`map`, `batch`, `buffer`, a fan-out, ...) or any chain of
/// them; `name` names them in messages. A fallible segment handles its
/// failures itself (`discard_failures()`, a dead-letter route).
///
/// ```
/// use weir_core::Pipeline;
/// use weir_testkit::conformance;
///
/// conformance::segment("batch", |p: Pipeline<u32>| p.batch("batch", 4, std::time::Duration::from_secs(1)))
///     .bound(3)
///     .cases(32)
///     .assert();
/// ```
pub fn segment<T, O, F>(name: &str, build: F) -> Suite<T>
where
    T: Arbitrary + Clone + fmt::Debug + Send + 'static,
    O: Send + 'static,
    F: Fn(Pipeline<T>) -> Pipeline<O> + Clone + Send + 'static,
{
    Suite::new(
        name.to_owned(),
        move |case, clock| run_case(case, ASegment(build.clone()), clock),
        any::<T>().boxed(),
    )
}

/// A suite for the sink `make` builds, run as the stage named `name`.
/// Backpressure is not checked (nothing is downstream of a sink).
///
/// ```
/// use weir_core::sink;
/// use weir_testkit::conformance;
///
/// conformance::sink::<u8, _, _>("collect", || sink::collect().0).cases(32).assert();
/// ```
pub fn sink<T, S, F>(name: &str, make: F) -> Suite<T>
where
    T: Arbitrary + Clone + fmt::Debug + Send + 'static,
    F: Fn() -> S + 'static,
    S: Sink<T>,
{
    sink_over(name, any::<T>(), make)
}

/// Runs the stages `build` adds under one case decoded from `bytes` (a
/// fuzzer's input) and checks every promise it exercises, with `bound`
/// the most items the stages may hold while the sink is stalled. To also
/// check the run's exact outcome, item by item, see
/// [`check_bytes_modelled`] (which `fuzz/fuzz_targets/composed_endings.rs`
/// uses).
///
/// # Errors
///
/// [`Broken`], as from [`Suite::run`], with the decoded case (not
/// shrunk: the fuzzer minimizes its input instead).
///
/// # Examples
///
/// ```
/// use weir_core::Pipeline;
///
/// let case = [3u8, 10, 20, 30]; // three items, then zeros: complete
/// let promises = weir_testkit::conformance::check_bytes(&case, 0, |p: Pipeline<u32>| p.map("m", |x| x + 1)).unwrap();
/// assert!(!promises.is_empty());
/// ```
pub fn check_bytes<O, F>(bytes: &[u8], bound: u64, build: F) -> Result<Vec<Promise>, Broken>
where
    O: Send + 'static,
    F: FnOnce(Pipeline<u32>) -> Pipeline<O> + Send + 'static,
{
    let case = Case::from_bytes(&mut bytes.iter().copied(), 24);
    judge("the stages", &case, run_case(&case, ASegment(build), Clock::Paused), bound, None)
}

/// What one run of `case` (`observed`) says of `subject`'s promises:
/// those checked, or the one it broke, or why it did not build.
fn judge<T: fmt::Debug>(
    subject: &str,
    case: &Case<T>,
    observed: Result<Observed, BuildError>,
    bound: u64,
    model: Option<&Model>,
) -> Result<Vec<Promise>, Broken> {
    let observed =
        observed.map_err(|error| Broken::Build { subject: subject.to_owned(), error: error.to_string() })?;
    promises::verify(case, &observed, subject, bound, model).map_err(|(promise, detail)| Broken::Promise {
        subject: subject.to_owned(),
        promise,
        detail,
        case: format!("{case:#?}"),
    })
}

/// [`sink`], over items drawn from `items`: for item types that are not
/// `Arbitrary` (a database row, a batch of them).
///
/// ```
/// use weir_core::sink;
/// use weir_testkit::conformance;
///
/// // Batches of one to three words.
/// let batches = proptest::collection::vec("[a-z]{1,8}", 1..4);
/// conformance::sink_over("store", batches, || sink::collect::<Vec<String>>().0).cases(32).assert();
/// ```
pub fn sink_over<T, S, F>(name: &str, items: impl Strategy<Value = T> + 'static, make: F) -> Suite<T>
where
    T: Clone + fmt::Debug + Send + 'static,
    F: Fn() -> S + 'static,
    S: Sink<T>,
{
    let owned = name.to_owned();
    let runner =
        move |case: &Case<T>, clock| run_case(case, ASink { name: owned.clone(), sink: make() }, clock);
    Suite { promises: &SINK_PROMISES, ..Suite::new(name.to_owned(), runner, items.boxed()) }
}

/// [`sink_over`], for a sink made by a future (one that connects
/// asynchronously): the future is made by `make` and runs on each case's
/// own runtime, at the first send, so that the sink's connection belongs
/// to the runtime that uses it. Use it with [`Suite::real_clock`] when
/// the sink talks to a server. Such a sink's own `validate` is not
/// called (it does not exist before its first send).
///
/// ```
/// use weir_core::sink;
/// use weir_testkit::conformance;
///
/// let connect = || async { sink::collect::<u16>().0 }; // a connection, in real use
/// conformance::sink_async_over("store", 0..100u16, connect).cases(16).assert();
/// ```
pub fn sink_async_over<T, S, F, Fut>(
    name: &str,
    items: impl Strategy<Value = T> + 'static,
    make: F,
) -> Suite<T>
where
    T: Clone + fmt::Debug + Send + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = S> + Send + 'static,
    S: Sink<T>,
{
    sink_over(name, items, move || harness::Made::new(make()))
}

type Runner<T> = Box<dyn Fn(&Case<T>, Clock) -> Result<Observed, BuildError>>;

/// The settings of one conformance run; see the [module docs](self).
#[must_use = "a suite checks nothing until `run()` or `assert()`"]
pub struct Suite<T> {
    name: String,
    runner: Runner<T>,
    items: BoxedStrategy<T>,
    max_items: usize,
    bound: u64,
    cases: Option<u32>,
    clock: Clock,
    /// What the subject promises (a sink: all but backpressure).
    promises: &'static [Promise],
}

impl<T> fmt::Debug for Suite<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("name", &self.name)
            .field("max_items", &self.max_items)
            .field("bound", &self.bound)
            .field("cases", &self.cases)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + fmt::Debug + Send + 'static> Suite<T> {
    fn new(
        name: String,
        runner: impl Fn(&Case<T>, Clock) -> Result<Observed, BuildError> + 'static,
        items: BoxedStrategy<T>,
    ) -> Self {
        Self {
            name,
            runner: Box::new(runner),
            items,
            max_items: 24,
            bound: 0,
            cases: None,
            clock: Clock::Paused,
            promises: &Promise::ALL,
        }
    }

    /// Items from `strategy` (default: `any::<T>()`).
    pub fn items(mut self, strategy: impl Strategy<Value = T> + 'static) -> Self {
        self.items = strategy.boxed();
        self
    }

    /// At most `n` items per case (default 24).
    pub fn max_items(mut self, n: usize) -> Self {
        self.max_items = n;
        self
    }

    /// The most items the stage may hold while its downstream is stalled,
    /// counted in source items, as the report counts (default 0: a stage
    /// that passes items on holds none once it has handed them on). A
    /// buffer or a batch declares its size; a stage after a batch counts
    /// each batch as the items in it.
    pub fn bound(mut self, n: u64) -> Self {
        self.bound = n;
        self
    }

    /// Runs each case on the real clock instead of a paused one, for a
    /// subject that waits on threads of its own (a database sink's writer
    /// thread): a paused clock jumps ahead while nothing on the runtime
    /// can run, which would make its work look hung. Slower: waits are
    /// real, and a run counts as hung after ten seconds, not an hour.
    ///
    /// ```
    /// use weir_core::sink;
    /// use weir_testkit::conformance;
    ///
    /// conformance::sink::<u8, _, _>("collect", || sink::collect().0).real_clock().cases(8).assert();
    /// ```
    pub fn real_clock(mut self) -> Self {
        self.clock = Clock::Real;
        self
    }

    /// Runs `n` random cases (default: proptest's, 256 or
    /// `PROPTEST_CASES`), after the one case of each ending every suite
    /// runs first (so that few cases still reach every promise).
    pub fn cases(mut self, n: u32) -> Self {
        self.cases = Some(n);
        self
    }

    /// Runs the cases; shrinks a failing one to a minimal case.
    ///
    /// # Errors
    ///
    /// [`Broken`] naming the broken promise, what the harness saw, and the
    /// minimal case; or the stage's [`BuildError`] if it does not build.
    pub fn run(self) -> Result<Passed, Broken> {
        let defaults = Config::default();
        let config =
            Config { cases: self.cases.unwrap_or(defaults.cases), failure_persistence: None, ..defaults };
        let mut runner = TestRunner::new(config);
        let cases = case::cases(self.items.clone(), self.max_items);
        let passed = RefCell::new(Passed { cases: 0, checked: BTreeMap::new(), promises: self.promises });
        let count = |checked: Vec<Promise>| {
            let mut passed = passed.borrow_mut();
            passed.cases += 1;
            for promise in checked {
                *passed.checked.entry(promise).or_default() += 1;
            }
        };
        // One case of each ending first (items from a fixed seed), so that
        // every promise is reached however few random cases follow.
        for case in self.each_ending(&cases) {
            match self.verify(&case) {
                Ok(checked) => count(checked),
                Err(broken) => return Err(self.minimize(case, broken)),
            }
        }
        // The last failure proptest saw: its minimal case's, on a clock
        // that does not repeat runs exactly (the real one).
        let last = RefCell::new(None);
        let outcome = runner.run(&cases, |case| {
            let checked = self.verify(&case).map_err(|broken| {
                let message = broken.to_string();
                *last.borrow_mut() = Some(broken);
                TestCaseError::fail(message)
            })?;
            count(checked);
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(passed.into_inner()),
            Err(TestError::Fail(reason, found)) => match last.into_inner() {
                Some(seen) => Err(self.minimize(found, seen)),
                // The case panicked (in `make`, say): proptest's reason says how.
                None => Err(Broken::Promise {
                    subject: self.name.clone(),
                    promise: Promise::PanicContainment,
                    detail: format!("a case panicked: {reason}"),
                    case: format!("{found:#?}"),
                }),
            },
            Err(TestError::Abort(why)) => panic!("the conformance run of `{}` was aborted: {why}", self.name),
        }
    }

    /// Runs the cases and panics with the broken promise, if any.
    ///
    /// # Panics
    ///
    /// When a promise breaks; the message is [`Broken`]'s.
    #[track_caller]
    pub fn assert(self) -> Passed {
        match self.run() {
            Ok(passed) => passed,
            Err(broken) => panic!("{broken}"),
        }
    }

    /// Proptest shrinks each part of a case in turn, so a case whose
    /// ending shrank last may keep items it no longer needs: drop every
    /// item, gap and delay that the same broken promise does not need.
    /// `seen` is the failure proptest saw last.
    fn minimize(&self, mut case: Case<T>, seen: Broken) -> Broken {
        // On the real clock a case may not fail again: then what was seen
        // is the answer.
        let Err(mut broken) = self.verify(&case) else { return seen };
        let still = |candidate: &Case<T>, promise: Option<Promise>| match self.verify(candidate) {
            Err(again) if again.promise() == promise => Some(again),
            _ => None,
        };
        let mut i = case.items.len();
        while i > 0 {
            i -= 1;
            let mut candidate = case.clone();
            candidate.items.remove(i);
            if let Some(again) = still(&candidate, broken.promise()) {
                (case, broken) = (candidate, again);
            }
        }
        for clear in [|c: &mut Case<T>| c.source_gaps_ms.clear(), |c: &mut Case<T>| c.sink_delays_ms.clear()]
        {
            let mut candidate = case.clone();
            clear(&mut candidate);
            if let Some(again) = still(&candidate, broken.promise()) {
                (case, broken) = (candidate, again);
            }
        }
        broken
    }

    /// A case for each kind of ending, with items (when the strategy
    /// gives any) drawn from a fixed seed.
    fn each_ending(&self, cases: &impl Strategy<Value = Case<T>>) -> Vec<Case<T>> {
        let mut seeded = TestRunner::deterministic();
        let mut draw = || cases.new_tree(&mut seeded).expect("the case strategy draws").current();
        let base = (0..64).map(|_| draw()).find(|case| !case.items.is_empty()).unwrap_or_else(&mut draw);
        case::End::each().into_iter().map(|ending| Case { ending, ..base.clone() }).collect()
    }

    fn verify(&self, case: &Case<T>) -> Result<Vec<Promise>, Broken> {
        judge(&self.name, case, (self.runner)(case, self.clock), self.bound, None)
    }
}

/// A conformance run that passed: how many cases, and how often each
/// promise was checked.
///
/// ```
/// use weir_core::Pipeline;
/// use weir_testkit::conformance::{self, Promise};
///
/// let passed = conformance::segment("map", |p: Pipeline<u8>| p.map("map", |x| x / 2)).cases(16).assert();
/// assert_eq!(passed.cases(), 8 + 16);
/// assert!(passed.checked(Promise::Conservation) > 0);
/// ```
#[derive(Debug, Clone)]
pub struct Passed {
    cases: u32,
    checked: BTreeMap<Promise, u32>,
    /// The promises the subject makes: every one for a stage, all but
    /// backpressure for a sink.
    promises: &'static [Promise],
}

impl Passed {
    /// The cases run.
    pub fn cases(&self) -> u32 {
        self.cases
    }

    /// How many cases checked `promise` (a promise no case reached was not
    /// tested: raise the case count).
    pub fn checked(&self, promise: Promise) -> u32 {
        self.checked.get(&promise).copied().unwrap_or(0)
    }

    /// The promises the subject makes that no case checked: a test that
    /// asserts this is empty cannot pass without testing each one.
    ///
    /// ```
    /// use weir_core::sink;
    /// use weir_testkit::conformance;
    ///
    /// // A sink makes every promise but backpressure (nothing is downstream).
    /// let passed = conformance::sink::<u8, _, _>("collect", || sink::collect().0).assert();
    /// assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
    /// ```
    pub fn unreached(&self) -> Vec<Promise> {
        self.promises.iter().copied().filter(|promise| self.checked(*promise) == 0).collect()
    }
}

/// What a sink promises: all but backpressure.
const SINK_PROMISES: [Promise; 5] = [
    Promise::Drain,
    Promise::PanicContainment,
    Promise::Conservation,
    Promise::Acknowledgement,
    Promise::NoLeakedTask,
];

/// Why a stage failed the suite.
///
/// ```
/// use weir_core::{EnvelopeStream, Stage, StageContext};
/// use weir_testkit::conformance::{self, Broken};
///
/// struct Invalid;
///
/// impl Stage<u8> for Invalid {
///     type Output = u8;
///     fn name(&self) -> &str { "invalid" }
///     fn validate(&self) -> Result<(), weir_core::BuildError> {
///         Err(weir_core::BuildError::Zero { stage: "invalid".into(), what: "the window" })
///     }
///     fn build(self, input: EnvelopeStream<u8>, _: StageContext) -> EnvelopeStream<u8> { input }
/// }
///
/// let broken = conformance::stage(|| Invalid).cases(4).run().unwrap_err();
/// assert!(matches!(broken, Broken::Build { .. }));
/// assert_eq!(broken.promise(), None);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Broken {
    /// The stage broke a promise.
    #[error("`{subject}` breaks its promise of {promise}: {detail}\nminimal case: {case}")]
    Promise {
        /// The stage's name.
        subject: String,
        /// The promise it broke.
        promise: Promise,
        /// What the harness saw.
        detail: String,
        /// The minimal case that shows it.
        case: String,
    },
    /// The stage did not build; give the suite a valid configuration.
    #[error("`{subject}` does not build, so nothing was checked: {error}")]
    Build {
        /// The stage's name.
        subject: String,
        /// The build error's message.
        error: String,
    },
}

impl Broken {
    /// The promise broken, if a promise was.
    pub fn promise(&self) -> Option<Promise> {
        match self {
            Broken::Promise { promise, .. } => Some(*promise),
            Broken::Build { .. } => None,
        }
    }
}
