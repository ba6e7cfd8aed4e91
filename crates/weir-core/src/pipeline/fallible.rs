//! A pipeline whose items may have failed: it must say what happens to
//! failures before it can reach a sink.

use std::future::Future;

use super::Pipeline;
use crate::chunk::{ChunkStream, FallibleChunks};
use crate::control::RunControl;
use crate::failure::{Failure, Settled};
use crate::plan::{Assembly, Plan};
use crate::route::{FailureRoute, Routed};
use crate::stage::inline::Inline;

type Build<T, I, E> = Box<dyn FnOnce(&mut Assembly) -> FallibleChunks<T, I, E> + Send>;

/// A pipeline after a fallible stage: successes of type `T`, failures
/// that keep items of type `I` with errors of type `E`.
///
/// It has no `sink` method: first decide what happens to failures, with
/// one of
///
/// - `dead_letter(sink)` (from the `weir-deadletter` crate): store them,
///   whole, and go on;
/// - [`halt_on_error`](Fallible::halt_on_error): stop intake at the first
///   failure, drain, and return the failures in the run's error;
/// - [`discard_failures`](Fallible::discard_failures): drop them, counted
///   in the report as discarded;
/// - [`route_failures`](Fallible::route_failures): a handler of your own.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("not a number: {0:?}")]
/// struct NotANumber(String);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let parse = |s: String| s.parse::<u32>().map_err(|_| NotANumber(s));
/// let err = Pipeline::from_iter(["1", "x", "3"].map(String::from))
///     .try_map("parse", parse)
///     .halt_on_error()
///     .sink(sink::drain())
///     .run()
///     .await
///     .unwrap_err();
/// let RunError::Halted { failures, report } = err else { panic!() };
/// assert_eq!(failures[0].stage(), "parse");
/// assert_eq!(failures.into_iter().next().unwrap().into_item::<String>().unwrap(), "x");
/// assert!(report.is_conserved());
/// # }
/// ```
#[must_use = "a pipeline does nothing until its failures are handled and it is connected to a sink"]
pub struct Fallible<T, I, E> {
    pub(crate) build: Build<T, I, E>,
    pub(crate) plan: Plan,
}

impl<T, I, E> std::fmt::Debug for Fallible<T, I, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fallible").field("plan", &self.plan).finish_non_exhaustive()
    }
}

impl<T, I, E> Fallible<T, I, E>
where
    T: Send + 'static,
    I: Send + 'static,
    E: Send + 'static,
{
    /// Sends every failure to `route`, an async handler that must settle it
    /// ([`Failure::settle`]) or end the run with [`RunControl::fail`];
    /// successes go on. Failures are handled one at a time, in the order
    /// they come.
    pub fn route_failures<F, Fut>(self, route: F) -> Pipeline<T>
    where
        F: FnMut(Failure<I, E>, RunControl) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.route_failures_with(crate::route::from_fn(route))
    }

    /// Sends every failure to a [`FailureRoute`], which is also told when
    /// the input ends (to flush and sync what it stored). The route's
    /// [`validate`](FailureRoute::validate) error, if any, is returned by
    /// `run()` or `spawn()` before anything starts.
    pub fn route_failures_with<R>(self, route: R) -> Pipeline<T>
    where
        R: FailureRoute<I, E>,
    {
        self.routed(route, usize::MAX)
    }

    /// Sends failures to `route`, pulling at most `pull` outcomes at a time.
    fn routed<R>(mut self, route: R, pull: usize) -> Pipeline<T>
    where
        R: FailureRoute<I, E>,
    {
        self.plan.check(route.validate());
        let upstream = self.build;
        let build = Box::new(move |asm: &mut Assembly| {
            let control = RunControl(asm.shared.clone());
            Box::pin(Routed::new(upstream(asm), route, control, pull)) as ChunkStream<T>
        });
        Pipeline { build, plan: self.plan }
    }

    /// Drops failures, counting them as discarded in the report (and
    /// acknowledging their items: discarding is their final outcome).
    pub fn discard_failures(self) -> Pipeline<T>
    where
        E: crate::StageError,
    {
        self.route_failures(|failure, _| {
            tracing::debug!(stage = failure.stage(), cause = %failure.cause(), "failure discarded");
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
    }

    /// Stops the run at the first failure: intake stops, in-flight items
    /// drain through the rest of the pipeline, and the run returns
    /// [`RunError::Halted`](crate::RunError::Halted) with every failure and
    /// its item. Failed items are not acknowledged.
    ///
    /// Intake stops right at the failure: the stages before a halt pass
    /// their items one at a time, not in chunks, so that no item after the
    /// failed one is taken from the source (stages that queue items, such
    /// as [`buffer`](Pipeline::buffer) or a fan-out, still drain what they
    /// had taken). The stages after it work in chunks.
    pub fn halt_on_error(self) -> Pipeline<T>
    where
        E: crate::StageError,
    {
        let halt = crate::route::from_fn(|failure: Failure<I, E>, control: RunControl| {
            failure.origin().metrics().record_returned(failure.count());
            control.halt(failure.erase());
            std::future::ready(())
        });
        self.routed(halt, 1)
    }

    /// Looks at each failure as it passes.
    pub fn inspect_failures<F>(self, mut f: F) -> Fallible<T, I, E>
    where
        F: FnMut(&Failure<I, E>) + Send + 'static,
    {
        let upstream = self.build;
        let build: Build<T, I, E> = Box::new(move |asm: &mut Assembly| {
            Box::pin(Inline::new(upstream(asm), move |chunk: std::vec::Drain<'_, _>, out: &mut Vec<_>| {
                out.extend(chunk.inspect(|outcome: &Result<_, Failure<I, E>>| {
                    if let Err(failure) = outcome {
                        f(failure);
                    }
                }));
            })) as FallibleChunks<T, I, E>
        });
        Fallible { build, plan: self.plan }
    }
}
