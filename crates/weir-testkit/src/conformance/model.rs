//! An exact model of one run, item by item: what must become of each
//! source item, checked against the report's categories and, when the
//! outputs name their items, against each delivery and acknowledgement.

use std::collections::HashSet;

use weir_core::{Pipeline, Report, Runnable};

use super::case::{Case, End};
use super::harness::{Clock, Probe, SINK, Subject, run_case};
use super::promises::Breach;
use super::{Broken, Promise, judge};

/// The distance between the values of consecutive source items in
/// [`check_bytes_modelled`]: item `i` is `i · 2520` plus its byte, so
/// that `x % m` is the byte's for every `m` up to 10 (2520 is their least
/// common multiple), and an output that added less than `2520 − 255` to
/// its item still names it (`output / ITEM_STRIDE`).
///
/// ```
/// use weir_testkit::conformance::ITEM_STRIDE;
///
/// let (index, byte) = (3u32, 200u32);
/// let item = index * ITEM_STRIDE + byte;
/// assert_eq!(item % 9, byte % 9);
/// assert_eq!((item + 1_000) / ITEM_STRIDE, index);
/// ```
pub const ITEM_STRIDE: u32 = 2520;

/// What becomes of one source item, in a [`Model`].
///
/// ```
/// use weir_testkit::conformance::Fate;
///
/// assert_ne!(Fate::Delivered, Fate::Filtered);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fate {
    /// The sink takes it (or the output it is part of).
    Delivered,
    /// A filter drops it.
    Filtered,
    /// It fails, and its failure is discarded.
    Discarded,
    /// It fails, and a dead-letter store keeps it.
    DeadLettered,
}

/// What must become of each source item of a case, for
/// [`check_bytes_modelled`].
///
/// After completion the report must count exactly the model's items in
/// each category (delivered, filtered, discarded, dead-lettered; none
/// returned); after any other ending, no category may count more than
/// the model has in it. A [traced](Model::traced) model is also checked
/// item by item: each item the sink takes must be one the model
/// delivers, taken once, and acknowledged only after the sink took it;
/// an item the model delivers is acknowledged only if the sink took it,
/// and, after completion or `shutdown()`, always if it did.
///
/// ```
/// use weir_testkit::conformance::{Fate, Model};
///
/// let model = Model::new([Fate::Delivered, Fate::Filtered]).traced();
/// assert_eq!(model.count(Fate::Delivered), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    fates: Vec<Fate>,
    traced: bool,
}

impl Model {
    /// The fate of each source item, in source order.
    pub fn new(fates: impl IntoIterator<Item = Fate>) -> Self {
        Self { fates: fates.into_iter().collect(), traced: false }
    }

    /// Each output the sink takes names its source item: its value divided
    /// by [`ITEM_STRIDE`] is the item's index (true while no stage merges
    /// items or adds `2520 − 255` or more to one).
    pub fn traced(mut self) -> Self {
        self.traced = true;
        self
    }

    /// How many items the model gives `fate`.
    pub fn count(&self, fate: Fate) -> u64 {
        self.fates.iter().filter(|f| **f == fate).count() as u64
    }
}

/// Runs the stages `build` adds under one case decoded from `bytes`, as
/// [`check_bytes`](super::check_bytes) does, and also checks the run
/// against the exact outcome `model` gives for the case's items (`None`
/// when the outcome cannot be told from the items alone: promises only).
/// Item `i` is `i · ITEM_STRIDE` plus its byte.
///
/// # Errors
///
/// [`Broken`]: a promise broken, or the run's outcome not the model's
/// (a category off, named as a breach of conservation; an
/// acknowledgement for the wrong item, of acknowledgement pass-through).
///
/// # Examples
///
/// ```
/// use weir_core::Pipeline;
/// use weir_testkit::conformance::{self, Fate, Model};
///
/// let case = [4u8, 1, 2, 3, 4]; // four items, then zeros: complete
/// let odd = |x: &u32| x % 2 == 1;
/// let model = |items: &[u32]| {
///     Some(Model::new(items.iter().map(|x| if odd(x) { Fate::Delivered } else { Fate::Filtered })).traced())
/// };
/// conformance::check_bytes_modelled(&case, 0, move |p: Pipeline<u32>| p.filter("odd", odd), model).unwrap();
///
/// // A model that is wrong about one item is a broken promise.
/// let wrong = |items: &[u32]| Some(Model::new(items.iter().map(|_| Fate::Delivered)));
/// let broken = conformance::check_bytes_modelled(&case, 0, move |p: Pipeline<u32>| p.filter("odd", odd), wrong);
/// assert!(broken.unwrap_err().to_string().contains("the model has 4 item(s) delivered"));
/// ```
pub fn check_bytes_modelled<F, M>(
    bytes: &[u8],
    bound: u64,
    build: F,
    model: M,
) -> Result<Vec<Promise>, Broken>
where
    F: FnOnce(Pipeline<u32>) -> Pipeline<u32> + Send + 'static,
    M: FnOnce(&[u32]) -> Option<Model>,
{
    let mut case = Case::from_bytes(&mut bytes.iter().copied(), 24);
    for (i, item) in case.items.iter_mut().enumerate() {
        *item += i as u32 * ITEM_STRIDE;
    }
    let model = model(&case.items);
    let traced = model.as_ref().is_some_and(|m| m.traced);
    let observed = run_case(&case, Traced { build, traced }, Clock::Paused);
    judge("the stages", &case, observed, bound, model.as_ref())
}

/// The stages under test, into the harness's sink, which names the item
/// each output came from when the model is traced.
struct Traced<F> {
    build: F,
    traced: bool,
}

impl<F> Subject<u32> for Traced<F>
where
    F: FnOnce(Pipeline<u32>) -> Pipeline<u32> + Send + 'static,
{
    fn connect(self, pipeline: Pipeline<u32>, probe: &Probe) -> Runnable {
        let trace: Option<fn(&u32) -> usize> = self.traced.then_some(|x| (x / ITEM_STRIDE) as usize);
        (self.build)(pipeline).sink_named(SINK, probe.sink(trace))
    }
}

/// Checks a run against `model`: the categories of `report` (when the
/// run returned one), and, when traced, each delivery and each
/// acknowledgement (`acked`, by item index; `taken`, each item the sink
/// took and whether its acknowledgement had fired before).
pub(crate) fn against<T>(
    case: &Case<T>,
    model: &Model,
    report: Option<&Report>,
    acked: &[usize],
    taken: &[(usize, bool)],
) -> Result<(), Breach> {
    if let Some(report) = report {
        categories(case, model, report)?;
    }
    if !model.traced {
        return Ok(());
    }
    let mut delivered = HashSet::new();
    for &(i, early) in taken {
        let fate = model.fates.get(i);
        if fate != Some(&Fate::Delivered) {
            return Err((
                Promise::Conservation,
                format!("item {i} reached the sink, but the model says {fate:?}: it should never get there"),
            ));
        }
        if !delivered.insert(i) {
            return Err((Promise::Conservation, format!("item {i} reached the sink twice")));
        }
        if early {
            return Err((
                Promise::Acknowledgement,
                format!("item {i}'s acknowledgement fired before the sink took it"),
            ));
        }
    }
    let acked: HashSet<usize> = acked.iter().copied().collect();
    if let Some(i) =
        acked.iter().find(|i| model.fates.get(**i) == Some(&Fate::Delivered) && !delivered.contains(i))
    {
        return Err((
            Promise::Acknowledgement,
            format!(
                "item {i}'s acknowledgement fired, but the sink never took it ({:?}): an acknowledgement for \
                 an item not finished",
                case.ending
            ),
        ));
    }
    let drained = report.is_some() && matches!(case.ending, End::Complete | End::Shutdown { .. });
    if let Some(i) = delivered.iter().find(|i| drained && !acked.contains(i)) {
        return Err((
            Promise::Acknowledgement,
            format!("item {i} was delivered, yet its acknowledgement never fired ({:?})", case.ending),
        ));
    }
    Ok(())
}

/// Each category of `report` against the model's: equal after
/// completion, at most the model's after any other ending.
fn categories<T>(case: &Case<T>, model: &Model, report: &Report) -> Result<(), Breach> {
    let complete = case.ending == End::Complete;
    let counted = [
        (Fate::Delivered, "delivered", report.delivered()),
        (Fate::Filtered, "filtered", report.filtered()),
        (Fate::Discarded, "discarded", report.discarded()),
        (Fate::DeadLettered, "dead-lettered", report.dead_lettered()),
    ];
    for (fate, name, counted) in counted {
        let expected = model.count(fate);
        if counted > expected || (complete && counted != expected) {
            return Err((
                Promise::Conservation,
                format!(
                    "the model has {expected} item(s) {name}, the report counts {counted} ({:?})\n{report}",
                    case.ending
                ),
            ));
        }
    }
    if report.returned() > 0 {
        return Err((
            Promise::Conservation,
            format!("the model returns no item, the report counts {} returned\n{report}", report.returned()),
        ));
    }
    Ok(())
}
