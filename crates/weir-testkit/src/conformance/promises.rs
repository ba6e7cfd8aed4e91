//! The promises, checked against what one run did.

use std::collections::HashSet;
use std::fmt;

use weir_core::{Ending, Report, RunError};

use super::case::{Case, End};
use super::harness::{Ended, Observed, POISON, POISONED, held};
use super::model::{self, Model};

/// A promise every stage (or sink) makes to the pipeline it runs in.
///
/// ```
/// use weir_testkit::conformance::Promise;
///
/// assert_eq!(Promise::Acknowledgement.to_string(), "acknowledgement pass-through");
/// assert_eq!(Promise::ALL.len(), 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Promise {
    /// Every item in comes out, is filtered with a count, or fails with
    /// its item: the report's conservation line holds (with nothing in
    /// flight after completion or `shutdown()`) and counts what the source
    /// gave. Given a [`Model`](super::Model), each category (delivered,
    /// filtered, discarded, dead-lettered) is also the model's.
    Conservation,
    /// Acknowledgements fire once each, as many as items finished: more
    /// would be for items in flight or abandoned, fewer would be lost (the
    /// harness counts them; given a traced [`Model`](super::Model), it
    /// also matches them item by item with what the sink took).
    Acknowledgement,
    /// While downstream is stalled, the stage holds no more items than
    /// its documented bound.
    Backpressure,
    /// When its input ends, or on `shutdown()`, the items in flight
    /// finish and the run ends.
    Drain,
    /// No task the stage spawned outlives the run (counted by the
    /// runtime, not by drop guards).
    NoLeakedTask,
    /// A panic elsewhere in the pipeline ends the run with that panic,
    /// every item accounted for.
    PanicContainment,
}

impl Promise {
    /// Every promise, in the order they are checked.
    pub const ALL: [Promise; 6] = [
        Promise::Drain,
        Promise::PanicContainment,
        Promise::Conservation,
        Promise::Acknowledgement,
        Promise::Backpressure,
        Promise::NoLeakedTask,
    ];
}

impl fmt::Display for Promise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Promise::Conservation => "conservation",
            Promise::Acknowledgement => "acknowledgement pass-through",
            Promise::Backpressure => "backpressure",
            Promise::Drain => "drain",
            Promise::NoLeakedTask => "no leaked task",
            Promise::PanicContainment => "panic containment",
        })
    }
}

/// A broken promise: which, and what the harness saw.
pub(crate) type Breach = (Promise, String);

/// Checks what `observed` says against every promise `case` exercises;
/// returns the promises checked.
pub(crate) fn verify<T>(
    case: &Case<T>,
    observed: &Observed,
    name: &str,
    bound: u64,
    model: Option<&Model>,
) -> Result<Vec<Promise>, Breach> {
    let mut checked = Vec::new();
    let result = match &observed.ended {
        Ended::Hung { report } => {
            let held = held(report);
            return Err((
                Promise::Drain,
                format!(
                    "the run did not end within an hour of virtual time (ten seconds on the real clock) ({:?}); \
                     `{name}` holds {held} item(s)",
                    case.ending
                ),
            ));
        }
        Ended::Dropped => None,
        Ended::Returned(result) => Some(result),
    };
    let report = if let Some(result) = result {
        checked.push(Promise::Drain);
        // A sink that fails for good aborts the run: what was in flight is
        // abandoned (and counted so), not drained.
        let sink_failed = matches!(result, Err(RunError::Sink { .. }));
        let report = contained(case, result, &mut checked)?;
        conserved(case, observed, report, &mut checked)?;
        if !sink_failed {
            drained(case, report)?;
        }
        acknowledged(case, observed, report, &mut checked)?;
        Some(report)
    } else {
        checked.push(Promise::Acknowledgement);
        once_each(&observed.acked)?;
        None
    };
    if let Some(model) = model {
        model::against(case, model, report, &observed.acked, &observed.traced)?;
    }
    if let Some(held) = observed.held_while_stalled {
        checked.push(Promise::Backpressure);
        if held > bound {
            return Err((
                Promise::Backpressure,
                format!(
                    "`{name}` held {held} item(s) after its downstream stalled for an hour, more than its bound of \
                     {bound}: it pulls items nobody downstream asked for (if holding more is documented, declare \
                     it with `.bound(n)`)"
                ),
            ));
        }
    }
    checked.push(Promise::NoLeakedTask);
    if observed.tasks_left > 0 {
        return Err((
            Promise::NoLeakedTask,
            format!(
                "{} task(s) still alive after the run ended ({:?}): a task the stage spawned outlives it; own \
                 what you spawn (a JoinSet or an abort-on-drop handle dropped with the stage's stream)",
                observed.tasks_left, case.ending
            ),
        ));
    }
    Ok(checked)
}

/// The run's report; a `Panic` case must end with the poison's panic.
fn contained<'a, T>(
    case: &Case<T>,
    result: &'a Result<Report, RunError>,
    checked: &mut Vec<Promise>,
) -> Result<&'a Report, Breach> {
    let poisoned = match case.ending {
        End::Panic { at_item } if at_item < case.items.len() => Some(at_item),
        _ => None,
    };
    match (result, poisoned) {
        (Ok(report), None) => Ok(report),
        // A stage that halts (or a sink that fails for good) ends the run
        // with its failures returned: the report must still add up, and
        // the returned items must not be acknowledged.
        (Err(RunError::Halted { report, .. } | RunError::Sink { report, .. }), None) => Ok(report),
        // A halt may stop intake before the poison item comes.
        (Err(RunError::Halted { report, .. } | RunError::Sink { report, .. }), Some(at_item))
            if report.stage(POISON).is_some_and(|poison| poison.received <= at_item as u64) =>
        {
            Ok(report)
        }
        (Err(RunError::Panicked { message, report }), Some(at_item))
            if message.contains(&format!("{POISONED}{at_item} is poison")) =>
        {
            checked.push(Promise::PanicContainment);
            Ok(report)
        }
        (Ok(report), Some(at_item)) => Err((
            Promise::PanicContainment,
            format!(
                "stage `{POISON}` panicked on item {at_item}, yet the run ended as {:?} with no error: the \
                 panic was swallowed\n{report}",
                report.ending()
            ),
        )),
        (Err(error), _) => {
            let promise = if poisoned.is_some() { Promise::PanicContainment } else { Promise::Drain };
            Err((promise, format!("the run failed: {error}")))
        }
    }
}

fn conserved<T>(
    case: &Case<T>,
    observed: &Observed,
    report: &Report,
    checked: &mut Vec<Promise>,
) -> Result<(), Breach> {
    checked.push(Promise::Conservation);
    if !report.is_conserved() {
        return Err((
            Promise::Conservation,
            format!("the report does not account for every item ({:?})\n{report}", case.ending),
        ));
    }
    if report.source_items() != observed.given as u64 {
        return Err((
            Promise::Conservation,
            format!(
                "the source gave {} item(s), the report counts {}\n{report}",
                observed.given,
                report.source_items()
            ),
        ));
    }
    Ok(())
}

/// After completion or `shutdown()`, nothing is left in flight.
fn drained<T>(case: &Case<T>, report: &Report) -> Result<(), Breach> {
    let drains = matches!(case.ending, End::Complete | End::Shutdown { .. });
    if drains && (report.abandoned() > 0 || report.in_flight() > 0 || report.ending() == Ending::Aborted) {
        return Err((
            Promise::Drain,
            format!(
                "{:?} left {} item(s) abandoned and {} in flight; every item in flight must finish\n{report}",
                case.ending,
                report.abandoned(),
                report.in_flight()
            ),
        ));
    }
    Ok(())
}

fn acknowledged<T>(
    case: &Case<T>,
    observed: &Observed,
    report: &Report,
    checked: &mut Vec<Promise>,
) -> Result<(), Breach> {
    checked.push(Promise::Acknowledgement);
    once_each(&observed.acked)?;
    let finished = report.delivered() + report.filtered() + report.discarded() + report.dead_lettered();
    let fired = observed.acked.len() as u64;
    if fired > finished {
        return Err((
            Promise::Acknowledgement,
            format!(
                "{fired} acknowledgement(s) fired but only {finished} item(s) finished ({:?}): {} fired for items \
                 not finished (in flight or abandoned)\n{report}",
                case.ending,
                fired - finished
            ),
        ));
    }
    if fired < finished {
        return Err((
            Promise::Acknowledgement,
            format!(
                "{finished} item(s) finished but only {fired} acknowledgement(s) fired ({:?}): an envelope's \
                 acknowledgements were dropped\n{report}",
                case.ending
            ),
        ));
    }
    Ok(())
}

fn once_each(acked: &[usize]) -> Result<(), Breach> {
    let mut seen = HashSet::new();
    match acked.iter().find(|i| !seen.insert(**i)) {
        Some(i) => Err((Promise::Acknowledgement, format!("item {i}'s acknowledgement fired twice"))),
        None => Ok(()),
    }
}
