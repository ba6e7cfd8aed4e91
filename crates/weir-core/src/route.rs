//! Failure routes: what a [`Fallible`](crate::Fallible) pipeline (or a sink
//! that gives items back) does with its failures.

use std::collections::VecDeque;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::chunk::Chunks;
use crate::control::RunControl;
use crate::envelope::Envelope;
use crate::failure::Failure;

/// Where failures go: a dead-letter store, a halt, a counter.
///
/// `route` is called for each failure, in order, and its future runs to
/// completion before the next item passes; it must settle the failure
/// ([`Failure::settle`]) or end the run with [`RunControl::fail`].
/// `finish` is called once when the input has ended, to flush and sync
/// whatever the route buffered. Successes pass through without cost.
///
/// # Examples
///
/// ```
/// use std::future::{Ready, ready};
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_core::FailureRoute;
///
/// /// Counts failures and discards them.
/// struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);
///
/// impl<I: Send + 'static, E: Send + 'static> FailureRoute<I, E> for Count {
///     type Future = Ready<()>;
///     type Finish = Ready<()>;
///     fn route(&mut self, failure: Failure<I, E>, _: &RunControl) -> Ready<()> {
///         self.0.fetch_add(failure.count(), std::sync::atomic::Ordering::SeqCst);
///         failure.settle(Settled::Discarded);
///         ready(())
///     }
///     fn finish(self, _: &RunControl) -> Ready<()> {
///         ready(())
///     }
/// }
///
/// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
/// Pipeline::from_iter(0..10)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
///     .route_failures_with(Count(n.clone()))
///     .sink(sink::drain())
///     .run()
///     .await?;
/// assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 5);
/// # Ok(())
/// # }
/// ```
pub trait FailureRoute<I, E>: Send + 'static {
    /// What `route` returns.
    type Future: Future<Output = ()> + Send + 'static;
    /// What `finish` returns.
    type Finish: Future<Output = ()> + Send + 'static;

    /// Checks the route's configuration when the pipeline is built, like
    /// [`FallibleStage::validate`](crate::FallibleStage::validate): an
    /// error is returned by `run()` or `spawn()` before anything starts.
    /// The default accepts any configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::{Ready, ready};
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_core::FailureRoute;
    ///
    /// /// Discards failures, in groups of `self.0` (which must not be 0).
    /// struct Groups(usize);
    ///
    /// impl<I: Send + 'static, E: Send + 'static> FailureRoute<I, E> for Groups {
    ///     type Future = Ready<()>;
    ///     type Finish = Ready<()>;
    ///     fn validate(&self) -> Result<(), BuildError> {
    ///         if self.0 == 0 {
    ///             return Err(BuildError::Zero { stage: "groups".to_owned(), what: "the group size" });
    ///         }
    ///         Ok(())
    ///     }
    ///     fn route(&mut self, failure: Failure<I, E>, _: &RunControl) -> Ready<()> {
    ///         failure.settle(Settled::Discarded);
    ///         ready(())
    ///     }
    ///     fn finish(self, _: &RunControl) -> Ready<()> {
    ///         ready(())
    ///     }
    /// }
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Pipeline::from_iter(0..4)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .route_failures_with(Groups(0))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, RunError::Build(BuildError::Zero { what: "the group size", .. })));
    /// # }
    /// ```
    fn validate(&self) -> Result<(), crate::BuildError> {
        Ok(())
    }

    /// Handles one failure.
    fn route(&mut self, failure: Failure<I, E>, control: &RunControl) -> Self::Future;

    /// Called once after the last failure, when the input ended.
    fn finish(self, control: &RunControl) -> Self::Finish;

    /// Called when the pipeline has nothing ready for the route after it
    /// routed failures: a route that holds failures, to hand them on in
    /// groups (a dead-letter route wakes its writer once per group, not
    /// once per failure), hands them on now and returns the future that
    /// does it. The default holds nothing and returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::{Ready, ready};
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_core::FailureRoute;
    ///
    /// /// Discards failures in groups, when nothing else is ready.
    /// struct Grouped(Vec<Failure<u32, Odd>>, std::sync::Arc<std::sync::Mutex<Vec<usize>>>);
    ///
    /// impl FailureRoute<u32, Odd> for Grouped {
    ///     type Future = Ready<()>;
    ///     type Finish = Ready<()>;
    ///     fn route(&mut self, failure: Failure<u32, Odd>, _: &RunControl) -> Ready<()> {
    ///         self.0.push(failure);
    ///         ready(())
    ///     }
    ///     fn on_idle(&mut self, control: &RunControl) -> Option<Ready<()>> {
    ///         self.1.lock().unwrap().push(self.0.len());
    ///         self.0.drain(..).for_each(|f| { f.settle(Settled::Discarded); });
    ///         Some(ready(()))
    ///     }
    ///     fn finish(mut self, control: &RunControl) -> Ready<()> {
    ///         self.on_idle(control);
    ///         ready(())
    ///     }
    /// }
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] pub struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let groups = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let report = Pipeline::from_iter(0..10u32)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .route_failures_with(Grouped(Vec::new(), groups.clone()))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.discarded(), 5);
    /// // All ten items were ready at once: one group, handed on at the end.
    /// assert_eq!(*groups.lock().unwrap(), [5]);
    /// # Ok(())
    /// # }
    /// ```
    fn on_idle(&mut self, control: &RunControl) -> Option<Self::Future> {
        let _ = control;
        None
    }
}

/// A route made of an async closure that receives each failure and the
/// run's control; see [`Fallible::route_failures`](crate::Fallible::route_failures)
/// and [`Pipeline::sink_routing_failures`](crate::Pipeline::sink_routing_failures).
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..4)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
///     .route_failures_with(weir_core::route::from_fn(|failure: Failure<i32, Odd>, _| {
///         failure.settle(Settled::Discarded);
///         std::future::ready(())
///     }))
///     .sink(sink::drain())
///     .run()
///     .await?;
/// assert_eq!(report.discarded(), 2);
/// # Ok(())
/// # }
/// ```
pub fn from_fn<F>(f: F) -> FromFn<F> {
    FromFn(f)
}

/// A route made of a closure; see [`from_fn`].
pub struct FromFn<F>(F);

impl<F> std::fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromFn").finish_non_exhaustive()
    }
}

impl<I, E, F, Fut> FailureRoute<I, E> for FromFn<F>
where
    F: FnMut(Failure<I, E>, RunControl) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    type Future = Fut;
    type Finish = Ready<()>;

    fn route(&mut self, failure: Failure<I, E>, control: &RunControl) -> Fut {
        (self.0)(failure, control.clone())
    }

    fn finish(self, _control: &RunControl) -> Ready<()> {
        std::future::ready(())
    }
}

pin_project! {
    /// Chunks for [`Fallible::route_failures_with`](crate::Fallible::route_failures_with):
    /// successes go on, failures are routed, in the order they come.
    #[must_use = "chunks do nothing unless polled"]
    pub(crate) struct Routed<C, T, I, E, R, Fut, Fin> {
        input: C,
        // Outcomes pulled and not handled yet, in order.
        inbox: VecDeque<Result<Envelope<T>, Failure<I, E>>>,
        route: Option<R>,
        control: RunControl,
        // The most outcomes pulled at a time.
        pull: usize,
        // Whether failures were routed since the route was last told the
        // input is idle.
        routed: bool,
        #[pin]
        routing: Option<Fut>,
        #[pin]
        finishing: Option<Fin>,
        done: bool,
    }
}

impl<C, T, I, E, R, Fut, Fin> Routed<C, T, I, E, R, Fut, Fin> {
    pub(crate) fn new(input: C, route: R, control: RunControl, pull: usize) -> Self {
        Self {
            input,
            inbox: VecDeque::new(),
            route: Some(route),
            control,
            pull,
            routed: false,
            routing: None,
            finishing: None,
            done: false,
        }
    }
}

impl<C, T, I, E, R> Chunks for Routed<C, T, I, E, R, R::Future, R::Finish>
where
    C: Chunks<Item = Result<Envelope<T>, Failure<I, E>>> + Unpin,
    R: FailureRoute<I, E>,
{
    type Item = Envelope<T>;

    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<Envelope<T>>,
    ) -> Poll<bool> {
        let mut this = self.project();
        let before = out.len();
        loop {
            if *this.done {
                return Poll::Ready(false);
            }
            if let Some(fut) = this.routing.as_mut().as_pin_mut() {
                ready!(fut.poll(cx));
                this.routing.set(None);
            }
            if let Some(fut) = this.finishing.as_mut().as_pin_mut() {
                ready!(fut.poll(cx));
                this.finishing.set(None);
                *this.done = true;
                continue;
            }
            // Successes before a failure go on before it is routed, as
            // they would item by item.
            while !this.inbox.is_empty() && out.len() - before < want.max(1) {
                // The run of successes before the next failure, in one move.
                let successes = this.inbox.iter().position(Result::is_err).unwrap_or(this.inbox.len());
                if successes > 0 {
                    let n = successes.min(want.max(1) - (out.len() - before));
                    out.extend(this.inbox.drain(..n).map(|outcome| match outcome {
                        Ok(env) => env,
                        Err(_) => unreachable!("counted: a success"),
                    }));
                    continue;
                }
                if out.len() > before {
                    return Poll::Ready(true);
                }
                let Some(Err(failure)) = this.inbox.pop_front() else { unreachable!("counted: a failure") };
                let route = this.route.as_mut().expect("the route is kept until the input ends");
                this.routing.set(Some(route.route(failure, this.control)));
                *this.routed = true;
                break;
            }
            if this.routing.is_some() {
                continue;
            }
            if out.len() > before {
                return Poll::Ready(true);
            }
            // The emptied queue's buffer is lent to upstream: no copy, no allocation.
            let mut pulled = Vec::from(std::mem::take(this.inbox));
            let polled = Pin::new(&mut *this.input).poll_chunk(cx, want.min(*this.pull), &mut pulled);
            if !pulled.iter().any(Result::is_err) {
                // No failure in the chunk (the common case): straight on,
                // from the `Vec`, which drains cheaper than the queue (the
                // loop above would move the same items; this saves about 30
                // instructions per item on a fan-out).
                out.extend(pulled.drain(..).map(|outcome| match outcome {
                    Ok(env) => env,
                    Err(_) => unreachable!("checked: no failure"),
                }));
            }
            *this.inbox = VecDeque::from(pulled);
            let polled = match polled {
                Poll::Pending if *this.routed => {
                    *this.routed = false;
                    let route = this.route.as_mut().expect("the route is kept until the input ends");
                    if let Some(handing_on) = route.on_idle(this.control) {
                        this.routing.set(Some(handing_on));
                    }
                    continue;
                }
                polled => ready!(polled),
            };
            match polled {
                true if out.len() > before => return Poll::Ready(true),
                true => {}
                false => {
                    let route = this.route.take().expect("the input ends once");
                    this.finishing.set(Some(route.finish(this.control)));
                }
            }
        }
    }
}
