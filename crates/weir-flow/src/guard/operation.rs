//! A guard as a layer on an operation.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use weir_core::{Attempt, BuildError, Classify, ErrorClass, Operation, StageMetrics, Verdict};
use weir_retry::{AllTransient, ByClassify, Classifier, ClassifyFn};

use super::Guard;

/// An operation whose calls go through a [`Guard`]: made by
/// [`BreakerExt::breaker`](crate::BreakerExt::breaker) or
/// [`AdaptiveExt::adaptive`](crate::AdaptiveExt::adaptive).
///
/// ```
/// use weir_flow::{Adaptive, AdaptiveExt, Breaker, BreakerExt};
///
/// let store = |x: u8| async move { Ok::<_, std::io::Error>(x) };
/// let guarded = store.adaptive(Adaptive::new()).breaker(Breaker::new());
/// # let _ = guarded;
/// ```
pub struct Guarded<Op, G, K = AllTransient> {
    op: Arc<Op>,
    guard: G,
    classifier: Arc<K>,
}

impl<Op, G> Guarded<Op, G> {
    pub(crate) fn new(op: Op, guard: G) -> Self {
        Self { op: Arc::new(op), guard, classifier: Arc::new(AllTransient) }
    }
}

impl<Op, G, K> Guarded<Op, G, K> {
    /// Counts an error as a failure (an overload) only when `f` calls it
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
    pub fn classify<E, F>(self, f: F) -> Guarded<Op, G, ClassifyFn<F>>
    where
        F: Fn(&E) -> ErrorClass + Send + Sync + 'static,
    {
        Guarded { op: self.op, guard: self.guard, classifier: Arc::new(ClassifyFn::new(f)) }
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
    pub fn classify_by_trait<E: Classify>(self) -> Guarded<Op, G, ByClassify> {
        Guarded { op: self.op, guard: self.guard, classifier: Arc::new(ByClassify) }
    }

    /// The guard (a clone shares its state).
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

impl<In, Op, G, K> Operation<In> for Guarded<Op, G, K>
where
    In: Send + 'static,
    Op: Operation<In>,
    G: Guard,
    K: Classifier<Op::Error>,
{
    type Output = Op::Output;
    type Error = Op::Error;
    type Future = BoxFuture<'static, Result<Op::Output, Op::Error>>;

    fn apply(&self, input: In) -> Self::Future {
        let (op, guard, classifier) = (self.op.clone(), self.guard.clone(), self.classifier.clone());
        Box::pin(async move {
            let failed = |result: &Result<Op::Output, Op::Error>| matches!(result, Err(e) if classifier.class(e) == ErrorClass::Transient);
            guard.guard(move || op.apply(input), failed).await
        })
    }

    fn on_failure(&self, attempt: &mut Attempt, error: &Op::Error) -> Verdict {
        self.op.on_failure(attempt, error)
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.guard.validate_for(stage)?;
        self.op.validate(stage)
    }

    fn observe(&self, metrics: &StageMetrics) {
        self.guard.observe(metrics);
        self.op.observe(metrics);
    }
}

impl<Op, G: Clone, K> Clone for Guarded<Op, G, K> {
    fn clone(&self) -> Self {
        Self { op: self.op.clone(), guard: self.guard.clone(), classifier: self.classifier.clone() }
    }
}

impl<Op, G: fmt::Debug, K> fmt::Debug for Guarded<Op, G, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded").field("guard", &self.guard).finish_non_exhaustive()
    }
}
