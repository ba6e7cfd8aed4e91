//! A source that is made again, after a backoff, when it fails or ends.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;
use weir_core::{
    Ack, Attempt, BuildError, Envelope, EnvelopeStream, ErrorClass, RunControl, Source, StageContext, Verdict,
};
use weir_retry::RetryPolicy;

/// A source made by a factory, and made again when it fails (an `Err`
/// item, or a factory that fails to make it) or ends: Akka's
/// `RestartSource.withBackoff` for weir. Plug it in with
/// [`Pipeline::from_source`](weir_core::Pipeline::from_source).
///
/// Between incarnations it waits as its [`RetryPolicy`] says (by default
/// exponential from 100 ms, capped at 30 s, with full jitter, without
/// end). The backoff starts over only after an incarnation stayed up
/// for [`healthy_after`](Self::healthy_after) (10 s by default): a
/// source that takes a while to fail each time still backs off (the
/// fault of akka-core#30310). When the policy gives up, the run fails
/// with [`SourceGaveUp`] once its items drain. Items keep their
/// acknowledgements ([`acked`](Self::acked)), whichever incarnation gave
/// them. Restarts are traced and counted: `source_restarts` in the source
/// stage's reports.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_flow::RestartSource;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("connection reset")]
/// struct Reset;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// // Each connection gives three readings, then drops; the fourth never connects.
/// let connections = Arc::new(AtomicU32::new(0));
/// let source = RestartSource::new(move || {
///     let n = connections.fetch_add(1, Ordering::SeqCst);
///     async move {
///         if n == 3 {
///             return Err(Reset);
///         }
///         let readings = (0..3).map(move |i| if i < 2 { Ok(n * 10 + i) } else { Err(Reset) });
///         Ok(futures::stream::iter(readings))
///     }
/// })
/// .backoff(weir_retry::RetryPolicy::constant(std::time::Duration::from_millis(100)).max_attempts(4));
/// let (rows, stored) = sink::collect();
/// let err = Pipeline::from_source(source).sink(rows).run().await.unwrap_err();
/// assert_eq!(stored.take(), [0, 1, 10, 11, 20, 21]);
/// assert!(err.to_string().contains("gave up after 4 incarnations"), "{err}");
/// # Ok(())
/// # }
/// ```
pub struct RestartSource<F, I, T> {
    factory: F,
    into: fn(I) -> Envelope<T>,
    policy: RetryPolicy,
    healthy_after: Duration,
    restart_on_end: bool,
}

/// The run's error when a [`RestartSource`] gave up.
///
/// ```
/// use weir_flow::SourceGaveUp;
///
/// let gave_up = SourceGaveUp { incarnations: 3, last: "connection refused".into() };
/// assert_eq!(gave_up.to_string(), "the source gave up after 3 incarnations; the last ended with: connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the source gave up after {incarnations} incarnations; the last ended with: {last}")]
pub struct SourceGaveUp {
    /// How many times it was made.
    pub incarnations: u64,
    /// How the last one ended.
    pub last: String,
}

impl<F, T> RestartSource<F, T, T> {
    /// A source of the items of the streams `factory` makes (`Ok` items;
    /// an `Err` ends the incarnation).
    pub fn new<Fut, St, E>(factory: F) -> Self
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<St, E>>,
        St: Stream<Item = Result<T, E>>,
    {
        Self::with_into(factory, Envelope::new)
    }
}

impl<F, T> RestartSource<F, (T, Ack), T> {
    /// A source of items with acknowledgements, as
    /// [`Pipeline::from_acked`](weir_core::Pipeline::from_acked) takes.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir_core::prelude::*;
    /// use weir_core::{Ack, sink};
    /// use weir_flow::RestartSource;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// // A queue's messages, each acknowledged once stored.
    /// let acked = Arc::new(Mutex::new(Vec::new()));
    /// let log = acked.clone();
    /// let source = RestartSource::acked(move || {
    ///     let log = log.clone();
    ///     let messages = (0..3u32).map(move |m| {
    ///         let log = log.clone();
    ///         Ok::<_, std::io::Error>((m, Ack::new(move || log.lock().unwrap().push(m))))
    ///     });
    ///     std::future::ready(Ok::<_, std::io::Error>(futures::stream::iter(messages)))
    /// })
    /// .end_when_done();
    /// let report = Pipeline::from_source(source).sink(sink::drain()).run().await?;
    /// assert_eq!(report.delivered(), 3);
    /// assert_eq!(*acked.lock().unwrap(), [0, 1, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acked<Fut, St, E>(factory: F) -> Self
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<St, E>>,
        St: Stream<Item = Result<(T, Ack), E>>,
    {
        Self::with_into(factory, |(item, ack)| Envelope::with_ack(item, ack))
    }
}

impl<F, I, T> RestartSource<F, I, T> {
    fn with_into(factory: F, into: fn(I) -> Envelope<T>) -> Self {
        let policy = RetryPolicy::exponential(Duration::from_millis(100))
            .cap(Duration::from_secs(30))
            .jitter(weir_retry::Jitter::Full)
            .max_attempts(u32::MAX);
        Self { factory, into, policy, healthy_after: Duration::from_secs(10), restart_on_end: true }
    }

    /// The backoff between incarnations, and when to give up.
    pub fn backoff(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long an incarnation must stay up for the backoff to start over
    /// (10 s by default).
    pub fn healthy_after(mut self, period: Duration) -> Self {
        self.healthy_after = period;
        self
    }

    /// Ends the run when an incarnation ends without an error, instead of
    /// making another (for a source that may finish).
    pub fn end_when_done(mut self) -> Self {
        self.restart_on_end = false;
        self
    }
}

impl<F, I, T> fmt::Debug for RestartSource<F, I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartSource")
            .field("policy", &self.policy)
            .field("healthy_after", &self.healthy_after)
            .field("restart_on_end", &self.restart_on_end)
            .finish_non_exhaustive()
    }
}

/// The restarting stream's state between items.
struct Running<F, St, I, T> {
    factory: F,
    into: fn(I) -> Envelope<T>,
    policy: RetryPolicy,
    healthy_after: Duration,
    restart_on_end: bool,
    current: Option<std::pin::Pin<Box<St>>>,
    started: Instant,
    attempt: Attempt,
    incarnations: u64,
    restarts: Arc<AtomicU64>,
    control: RunControl,
}

impl<F, Fut, St, E, I, T> Source for RestartSource<F, I, T>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<St, E>> + Send + 'static,
    St: Stream<Item = Result<I, E>> + Send + 'static,
    E: fmt::Display,
    I: Send + 'static,
    T: Send + 'static,
{
    type Item = T;

    fn validate(&self) -> Result<(), BuildError> {
        self.policy.validate().map_err(|e| BuildError::invalid("source", e))
    }

    fn start(self, ctx: StageContext) -> EnvelopeStream<T> {
        let restarts = Arc::new(AtomicU64::new(0));
        let counted = restarts.clone();
        ctx.metrics().gauge("source_restarts", move || counted.load(Ordering::Relaxed));
        let running = Running {
            factory: self.factory,
            into: self.into,
            policy: self.policy,
            healthy_after: self.healthy_after,
            restart_on_end: self.restart_on_end,
            current: None,
            started: Instant::now(),
            attempt: Attempt::first(),
            incarnations: 0,
            restarts,
            control: ctx.control(),
        };
        futures::stream::unfold(running, |mut running| async move {
            let envelope = running.next().await?;
            Some((envelope, running))
        })
        .boxed()
    }
}

impl<F, Fut, St, E, I, T> Running<F, St, I, T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<St, E>>,
    St: Stream<Item = Result<I, E>>,
    E: fmt::Display,
{
    /// The next item, making incarnations as needed; `None` when the
    /// source ends (done, or gave up).
    async fn next(&mut self) -> Option<Envelope<T>> {
        loop {
            // An incarnation that ran long enough resets the backoff; a
            // factory that failed (however long it took) never does.
            let (ended, healthy) = match &mut self.current {
                Some(stream) => match stream.next().await {
                    Some(Ok(item)) => return Some((self.into)(item)),
                    Some(Err(e)) => (e.to_string(), self.started.elapsed() >= self.healthy_after),
                    None if self.restart_on_end => {
                        ("it ended".to_owned(), self.started.elapsed() >= self.healthy_after)
                    }
                    None => return None,
                },
                None => {
                    self.incarnations += 1;
                    match (self.factory)().await {
                        Ok(stream) => {
                            self.started = Instant::now();
                            self.current = Some(Box::pin(stream));
                            continue;
                        }
                        Err(e) => (format!("it could not be made: {e}"), false),
                    }
                }
            };
            self.current = None;
            if healthy {
                self.attempt = Attempt::first();
            }
            match self.policy.decide(&mut self.attempt, ErrorClass::Transient, None) {
                Verdict::Retry(delay) => {
                    tracing::warn!(incarnation = self.incarnations, ?delay, "source restarts: {ended}");
                    self.restarts.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    self.attempt.next();
                }
                _ => {
                    tracing::error!(incarnations = self.incarnations, "source gave up: {ended}");
                    let gave_up = SourceGaveUp { incarnations: self.incarnations, last: ended };
                    self.control.fail_run("source", gave_up);
                    return None;
                }
            }
        }
    }
}
