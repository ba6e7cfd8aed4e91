//! Routing: each item to one of several sinks, by predicate, exclusive,
//! with an explicit route for the items no predicate matches.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weir_core::sink::{BoxSink, BoxSinkError};
use weir_core::{Attempt, BuildError, ErrorClass, Sink, SinkError, StageMetrics};

type Predicate<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// One route: its name, what it takes, where to, and how many it took.
struct Route<T> {
    name: String,
    when: Predicate<T>,
    sink: BoxSink<T>,
    taken: Arc<AtomicU64>,
    /// Items sent since the last flush.
    unflushed: bool,
}

/// What happens to an item that no route's predicate matches.
enum Unmatched<T> {
    /// Not said yet: the pipeline refuses to build.
    Unsaid,
    /// It goes to this sink (Vector's `_unmatched`).
    To(Box<Route<T>>),
    /// It fails with [`RouteError::Unmatched`], the item given back (to be
    /// dead-lettered through the sink's failure route).
    Fails(Arc<AtomicU64>),
}

/// A sink that sends each item to one of several sinks: the first route
/// (in the order they were added) whose predicate matches it. Routes are
/// exclusive: an item goes to one route, never two. An item that matches
/// none goes where [`unmatched`](Router::unmatched) says, or fails with
/// [`RouteError::Unmatched`] after [`unmatched_fails`](Router::unmatched_fails);
/// a router that says neither is refused when the pipeline is built, so
/// no item is dropped for want of a route (vector#17040).
///
/// Each route's sink is flushed when the router is (those that took
/// items since the last flush), so the pipeline acknowledges items only
/// once every route holding some made them durable. If one route's flush
/// fails, every route is still flushed, and the run ends as for any sink
/// whose flush failed: the items since the last flush are counted as
/// returned and not acknowledged, those the other routes stored
/// included (a redelivery stores them again: make the sinks idempotent);
/// the first route's error ends the run, any other is logged.
/// A route's send
/// that fails gives the item back with a [`RouteError::Sink`] naming the
/// route, keeping its sink's error class. The reports carry each route's
/// count as the gauge `routed:NAME` (and `routed:unmatched`): the items
/// the route took (or, with `unmatched_fails`, failed), delivered once
/// flushed. The route sinks' own gauges (a breaker's) appear in the
/// router's stage under their own names: two routes with the same kind
/// of layer show the last one's.
///
/// Backpressure: the router sends one item at a time, so a route whose
/// sink waits holds up the others, and the pipeline behind them: the
/// router then holds the run of items it was handed (at most 256, and one
/// at a time from then on while sends wait), and intake stops. To let a slow
/// route fall behind by a bounded amount instead, route to a
/// `tokio::sync::mpsc::Sender` (a sink) read by a pipeline of its own:
/// the channel's capacity is then that route's bound. Items sent into a
/// channel count as delivered (and are acknowledged) once the channel
/// took them, not once the other pipeline stored them.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_shape::Router;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (alarms, alarmed) = sink::collect();
/// let (readings, read) = sink::collect();
/// let (others, other) = sink::collect();
/// let router = Router::new()
///     .route("alarms", |t: &i32| *t > 90, alarms)
///     .route("readings", |t: &i32| *t >= 0, readings)
///     .unmatched(others);
/// let report = Pipeline::from_iter([20, 95, -5, 40, 120]).sink_named("by kind", router).run().await?;
/// assert_eq!(alarmed.take(), [95, 120]);
/// assert_eq!(read.take(), [20, 40]);
/// assert_eq!(other.take(), [-5]);
/// let gauges = &report.stage("by kind").unwrap().gauges;
/// assert!(gauges.contains(&("routed:alarms".to_owned(), 2)));
/// assert!(gauges.contains(&("routed:unmatched".to_owned(), 1)));
/// # Ok(())
/// # }
/// ```
pub struct Router<T> {
    routes: Vec<Route<T>>,
    unmatched: Unmatched<T>,
    /// The route the latest send went to, for its sink's attempts.
    last: Option<usize>,
    /// After a flush: the most attempts a route's flush took.
    flushed: Option<Attempt>,
}

/// Why a [`Router`] gave an item back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The route's sink failed (its error, boxed, keeps its chain).
    #[error("route `{route}`: {source}")]
    Sink {
        /// The route's name.
        route: String,
        /// Its sink's error.
        #[source]
        source: BoxSinkError,
    },
    /// No route's predicate matched the item, and the router fails such
    /// items.
    #[error("the item matched no route: add a route that takes it, or send such items to `.unmatched(sink)`")]
    Unmatched,
}

impl<T: Send + 'static> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Router<T> {
    /// A router with no route yet.
    pub fn new() -> Self {
        Self { routes: Vec::new(), unmatched: Unmatched::Unsaid, last: None, flushed: None }
    }

    /// Adds a route: the items `when` matches (and no earlier route did)
    /// go to `sink`.
    pub fn route<Si: Sink<T>>(
        mut self,
        name: &str,
        when: impl Fn(&T) -> bool + Send + Sync + 'static,
        sink: Si,
    ) -> Self {
        self.routes.push(Route::new(name, Box::new(when), BoxSink::new(sink)));
        self
    }

    /// Sends the items no route matches to `sink`.
    pub fn unmatched<Si: Sink<T>>(mut self, sink: Si) -> Self {
        self.unmatched =
            Unmatched::To(Box::new(Route::new("unmatched", Box::new(|_| true), BoxSink::new(sink))));
        self
    }

    /// Fails the items no route matches with [`RouteError::Unmatched`]
    /// (permanent), giving each back: the sink's failure route
    /// (`sink_routing_failures`, dead letters) takes them, or the run
    /// ends with the first.
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_shape::{RouteError, Router};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (even, _) = sink::collect();
    /// let router = Router::new().route("even", |x: &u32| x.is_multiple_of(2), even).unmatched_fails();
    /// let err = Pipeline::from_iter([2, 4, 5]).sink(router).run().await.unwrap_err();
    /// let RunError::Sink { error, item, .. } = err else { panic!("{err}") };
    /// assert!(matches!(error.downcast_ref::<RouteError>(), Some(RouteError::Unmatched)));
    /// assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|i| *i), Some(5));
    /// # }
    /// ```
    pub fn unmatched_fails(mut self) -> Self {
        self.unmatched = Unmatched::Fails(Arc::default());
        self
    }

    fn pick(&mut self, item: &T) -> Option<usize> {
        self.routes.iter().position(|route| (route.when)(item))
    }

    fn route_mut(&mut self, index: usize) -> &mut Route<T> {
        match (&mut self.unmatched, index == self.routes.len()) {
            (Unmatched::To(route), true) => route,
            _ => &mut self.routes[index],
        }
    }
}

impl<T: Send + 'static> Route<T> {
    fn new(name: &str, when: Predicate<T>, sink: BoxSink<T>) -> Self {
        Self { name: name.to_owned(), when, sink, taken: Arc::default(), unflushed: false }
    }
}

impl<T: Send + 'static> Sink<T> for Router<T> {
    type Error = RouteError;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, RouteError>> {
        let index = match (self.pick(&item), &self.unmatched) {
            (Some(index), _) => index,
            (None, Unmatched::To(_)) => self.routes.len(),
            (None, Unmatched::Fails(count)) => {
                count.fetch_add(1, Ordering::Relaxed);
                self.last = None;
                self.flushed = None;
                return Err(
                    SinkError::with_item(RouteError::Unmatched, item).with_class(ErrorClass::Permanent)
                );
            }
            (None, Unmatched::Unsaid) => unreachable!("validate refuses a router without an unmatched route"),
        };
        self.last = Some(index);
        self.flushed = None;
        let route = self.route_mut(index);
        route.unflushed = true;
        match route.sink.send(item).await {
            Ok(()) => {
                route.taken.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => {
                let name = route.name.clone();
                Err(err.map_err(|source| RouteError::Sink { route: name, source }))
            }
        }
    }

    async fn flush(&mut self) -> Result<(), RouteError> {
        let mut first = None;
        let mut most: Option<Attempt> = None;
        let unmatched = match &mut self.unmatched {
            Unmatched::To(route) => Some(&mut **route),
            _ => None,
        };
        for route in self.routes.iter_mut().chain(unmatched) {
            if !std::mem::take(&mut route.unflushed) {
                continue;
            }
            // Every route is flushed, even after one failed: what the
            // others hold is made durable as far as it can be.
            let flushed = route.sink.flush().await;
            if let Some(attempt) = route.sink.last_attempt()
                && most.as_ref().is_none_or(|most| attempt.number() > most.number())
            {
                most = Some(attempt.clone());
            }
            if let Err(source) = flushed {
                route.unflushed = true;
                let error = RouteError::Sink { route: route.name.clone(), source };
                match &first {
                    None => first = Some(error),
                    // The run ends with the first; the others are logged.
                    Some(_) => tracing::error!(%error, "route flush failed too"),
                }
            }
        }
        // What the run reads after a flush is the flush's attempts.
        self.last = None;
        self.flushed = most;
        first.map_or(Ok(()), Err)
    }

    /// The attempts of the route the latest send went to, or after a
    /// flush, the most any route's flush took.
    fn last_attempt(&self) -> Option<&Attempt> {
        if self.flushed.is_some() {
            return self.flushed.as_ref();
        }
        let index = self.last?;
        match (&self.unmatched, index == self.routes.len()) {
            (Unmatched::To(route), true) => route.sink.last_attempt(),
            _ => self.routes.get(index)?.sink.last_attempt(),
        }
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        let invalid = |message: String| BuildError::Invalid { stage: stage.to_owned(), message };
        if self.routes.is_empty() {
            return Err(invalid(
                "the router has no route: add one with `.route(name, predicate, sink)`".into(),
            ));
        }
        if matches!(self.unmatched, Unmatched::Unsaid) {
            return Err(invalid(
                "the router does not say where items that match no route go: add `.unmatched(sink)`, or \
                 `.unmatched_fails()` to fail them (to dead letters)"
                    .into(),
            ));
        }
        for (i, route) in self.routes.iter().enumerate() {
            if route.name == "unmatched" || self.routes[..i].iter().any(|earlier| earlier.name == route.name)
            {
                return Err(invalid(format!(
                    "two routes are named `{}` (or a route is named `unmatched`): give each route a name of its own",
                    route.name
                )));
            }
            route.sink.validate(stage)?;
        }
        if let Unmatched::To(route) = &self.unmatched {
            route.sink.validate(stage)?;
        }
        Ok(())
    }

    fn observe(&self, metrics: &StageMetrics) {
        let unmatched = match &self.unmatched {
            Unmatched::To(route) => Some(route.taken.clone()),
            Unmatched::Fails(count) => Some(count.clone()),
            Unmatched::Unsaid => None,
        };
        let routes = self.routes.iter().map(|route| (route.name.as_str(), route.taken.clone()));
        for (name, taken) in routes.chain(unmatched.map(|taken| ("unmatched", taken))) {
            metrics.gauge(format!("routed:{name}"), move || taken.load(Ordering::Relaxed));
        }
        for route in &self.routes {
            route.sink.observe(metrics);
        }
        if let Unmatched::To(route) = &self.unmatched {
            route.sink.observe(metrics);
        }
    }
}

impl<T> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.routes.iter().map(|route| route.name.as_str()).collect();
        f.debug_struct("Router").field("routes", &names).finish_non_exhaustive()
    }
}
