//! The breaker as a layer on an operation.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use weir_core::{Attempt, BuildError, Classify, ErrorClass, Operation, StageMetrics, Verdict};
use weir_retry::{AllTransient, ByClassify, Classifier, ClassifyFn};

use super::Breaker;

/// Circuit breakers for operations; see [`BreakerExt::breaker`].
pub trait BreakerExt<In>: Operation<In> + Sized {
    /// Guards the operation with `breaker`: each call waits while the
    /// breaker is open (or half-open and not a probe), then runs, and its
    /// result is counted. A fan-out's workers then wait too, its queue
    /// fills, and it stops taking items: backpressure stops the source,
    /// and nothing is dropped. A retry layer inside (`op.retry(p)
    /// .breaker(b)`) or outside (`op.breaker(b).retry(p)`) keeps its
    /// decisions; its retries wait like any call, so none are made, and
    /// none taken from its budget, while the breaker is open. Put an
    /// attempt timeout inside the breaker (`op.timeout(d).breaker(b)`):
    /// outside, it would also time the wait.
    ///
    /// Every error counts as a failure by default; classify to count only
    /// transient ones ([`Breaking::classify`],
    /// [`Breaking::classify_by_trait`]).
    ///
    /// The breaker's state, the times it opened and closed, and the calls
    /// waiting are gauges in the stage's reports (`breaker_state`: 0
    /// closed, 1 half-open, 2 open; `breaker_opened`, `breaker_closed`,
    /// `breaker_waiting`); each change of state is traced.
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Breaker::validate`]) are a
    /// [`BuildError::Invalid`] naming the stage, from `run()` or
    /// `spawn()`, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::operation::call;
    /// use weir_flow::{Breaker, BreakerExt, BreakerState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = Breaker::new().min_calls(2).cool_down(Duration::from_secs(1));
    /// let store = |x: u32| async move { if x < 10 { Err("database down") } else { Ok(x) } };
    /// let guarded = store.breaker(breaker.clone());
    /// assert!(call(&guarded, 1).await.is_err());
    /// assert!(call(&guarded, 2).await.is_err());
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// // The next call waits out the cool-down, goes through as the probe,
    /// // and its success closes the breaker.
    /// let start = tokio::time::Instant::now();
    /// assert_eq!(call(&guarded, 10).await.unwrap(), 10);
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// # }
    /// ```
    fn breaker(self, breaker: Breaker) -> Breaking<Self> {
        Breaking { op: Arc::new(self), breaker, classifier: Arc::new(AllTransient) }
    }
}

impl<In, Op: Operation<In>> BreakerExt<In> for Op {}

/// An operation guarded by a [`Breaker`]; see [`BreakerExt::breaker`].
///
/// ```
/// use weir_flow::{Breaker, BreakerExt};
///
/// let guarded = (|x: u8| async move { Ok::<_, std::io::Error>(x) }).breaker(Breaker::new());
/// # let _ = guarded;
/// ```
pub struct Breaking<Op, K = AllTransient> {
    op: Arc<Op>,
    breaker: Breaker,
    classifier: Arc<K>,
}

impl<Op, K> Breaking<Op, K> {
    /// Counts an error as a failure only when `f` calls it
    /// [transient](ErrorClass::Transient).
    ///
    /// ```
    /// use weir_core::ErrorClass;
    /// use weir_flow::{Breaker, BreakerExt};
    ///
    /// let store = |x: u32| async move { if x == 0 { Err("bad row") } else { Ok(x) } };
    /// // A bad row says nothing about the database.
    /// let guarded = store.breaker(Breaker::new()).classify(|e: &&str| {
    ///     if *e == "bad row" { ErrorClass::Permanent } else { ErrorClass::Transient }
    /// });
    /// # let _ = guarded;
    /// ```
    pub fn classify<E, F>(self, f: F) -> Breaking<Op, ClassifyFn<F>>
    where
        F: Fn(&E) -> ErrorClass + Send + Sync + 'static,
    {
        Breaking { op: self.op, breaker: self.breaker, classifier: Arc::new(ClassifyFn::new(f)) }
    }

    /// Counts an error as a failure only when its own
    /// [`Classify`](weir_core::Classify) impl calls it transient.
    ///
    /// ```
    /// use weir_core::{Classify, ErrorClass};
    /// use weir_flow::{Breaker, BreakerExt};
    ///
    /// #[derive(Debug)]
    /// enum DbError { Down, BadRow }
    ///
    /// impl Classify for DbError {
    ///     fn class(&self) -> ErrorClass {
    ///         match self { DbError::Down => ErrorClass::Transient, DbError::BadRow => ErrorClass::Permanent }
    ///     }
    /// }
    ///
    /// let store = |x: u32| async move { if x == 0 { Err(DbError::BadRow) } else { Ok(x) } };
    /// let guarded = store.breaker(Breaker::new()).classify_by_trait::<DbError>();
    /// # let _ = (guarded, DbError::Down);
    /// ```
    pub fn classify_by_trait<E: Classify>(self) -> Breaking<Op, ByClassify> {
        Breaking { op: self.op, breaker: self.breaker, classifier: Arc::new(ByClassify) }
    }

    /// The breaker (a clone shares its state).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<In, Op, K> Operation<In> for Breaking<Op, K>
where
    In: Send + 'static,
    Op: Operation<In>,
    K: Classifier<Op::Error>,
{
    type Output = Op::Output;
    type Error = Op::Error;
    type Future = BoxFuture<'static, Result<Op::Output, Op::Error>>;

    fn apply(&self, input: In) -> Self::Future {
        let (op, shared, classifier) =
            (self.op.clone(), self.breaker.shared.clone(), self.classifier.clone());
        Box::pin(async move {
            let pass = shared.admit().await;
            let result = op.apply(input).await;
            let failed = matches!(&result, Err(e) if classifier.class(e) == ErrorClass::Transient);
            shared.record(pass, failed);
            result
        })
    }

    fn on_failure(&self, attempt: &mut Attempt, error: &Op::Error) -> Verdict {
        self.op.on_failure(attempt, error)
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.breaker.validate_for(stage)?;
        self.op.validate(stage)
    }

    fn observe(&self, metrics: &StageMetrics) {
        self.breaker.observe(metrics);
        self.op.observe(metrics);
    }
}

impl<Op, K> Clone for Breaking<Op, K> {
    fn clone(&self) -> Self {
        Self { op: self.op.clone(), breaker: self.breaker.clone(), classifier: self.classifier.clone() }
    }
}

impl<Op, K> fmt::Debug for Breaking<Op, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaking").field("breaker", &self.breaker).finish_non_exhaustive()
    }
}
