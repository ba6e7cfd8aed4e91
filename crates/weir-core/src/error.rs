//! Errors returned when a pipeline is built or run.

use std::any::Any;
use std::fmt;

use crate::failure::ErasedFailure;
use crate::report::Report;

/// A type-erased error, used once: at the boundary where a run's sink or
/// dead-letter error is returned to the caller.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error a stage can keep with a failed item: any
/// `std::error::Error + Send + Sync + 'static`.
///
/// Every fallible stage requires its error to be one, where the error type
/// enters the pipeline ([`Pipeline::try_new`](crate::Pipeline::try_new),
/// [`try_map`](crate::Pipeline::try_map),
/// [`try_then`](crate::Pipeline::try_then), a
/// [`FallibleStage`](crate::FallibleStage) such as a fan-out, a
/// [`Sink`](crate::Sink)): a failure is dead-lettered, halted on (and
/// returned as a [`BoxError`] source) or reported with its error, so the
/// error must say what it is (`Display`), chain its causes (`source`) and
/// cross tasks. A `String` or a `&str` is not an error; give it a type:
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0}")]
/// struct ParseError(String);
/// ```
///
/// It is implemented for every such type; there is nothing to implement.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0} is odd")]
/// struct Odd(u32);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..4u32)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
///     .discard_failures()
///     .sink(sink::drain())
///     .run()
///     .await?;
/// assert_eq!(report.discarded(), 2);
/// # Ok(())
/// # }
/// ```
///
/// An error that is a bare `String` is refused where it is introduced, with
/// a message that says what to do, not later where failures are handled:
///
/// ```compile_fail,E0277
/// use weir_core::prelude::*;
///
/// let _ = Pipeline::from_iter(0..4u32)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(format!("{x} is odd")) });
/// // error[E0277]: `String` is not an error type a stage can keep with a failed item
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an error type a stage can keep with a failed item",
    label = "this error type does not implement `std::error::Error + Send + Sync + 'static`",
    note = "a failure is dead-lettered, halted on or reported with its error, so a stage's error must be a `std::error::Error + Send + Sync + 'static`",
    note = "derive one with thiserror (`#[derive(Debug, thiserror::Error)] #[error(\"...\")] struct MyError;`), or wrap a `String` in a small error type (`#[derive(Debug, thiserror::Error)] #[error(\"{{0}}\")] struct MyError(String);`)"
)]
pub trait StageError: std::error::Error + Send + Sync + 'static {}

impl<E: std::error::Error + Send + Sync + 'static> StageError for E {}

/// The pipeline's configuration is invalid; nothing was started.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = Pipeline::from_iter(0..3)
///     .map("a", |x| x)
///     .map("a", |x| x)
///     .sink(sink::drain())
///     .run()
///     .await
///     .unwrap_err();
/// assert!(matches!(err, RunError::Build(BuildError::DuplicateName { .. })));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A capacity, worker count or batch size is zero.
    #[error("stage `{stage}`: {what} is 0, which would stall the pipeline forever; set it to at least 1")]
    Zero {
        /// The stage.
        stage: String,
        /// Which setting.
        what: &'static str,
    },
    /// Two stages have the same name.
    #[error(
        "two stages are named `{name}`; give each stage its own name so that reports and dead letters can say where an item was"
    )]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A stage has an empty name.
    #[error("a stage has an empty name; name every stage (for example \"decode\" or \"store\")")]
    EmptyName,
    /// A stage-specific setting is invalid.
    #[error("stage `{stage}`: {message}")]
    Invalid {
        /// The stage.
        stage: String,
        /// What is wrong and what to change.
        message: String,
    },
}

impl BuildError {
    /// [`BuildError::Invalid`] for `stage`, its message the setting's own
    /// error (whose text says what to change): what a layer's `validate`
    /// returns after checking its settings.
    ///
    /// ```
    /// use weir_core::BuildError;
    ///
    /// let err = BuildError::invalid("store", "the pool size is zero: give at least 1");
    /// assert_eq!(err.to_string(), "stage `store`: the pool size is zero: give at least 1");
    /// ```
    pub fn invalid(stage: &str, error: impl std::fmt::Display) -> Self {
        BuildError::Invalid { stage: stage.to_owned(), message: error.to_string() }
    }
}

/// Why a run did not complete normally. Every variant that ran carries the
/// run's [`Report`], so no item is unaccounted for.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("disk full")]
/// struct DiskFull;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let full = sink::from_fn(|_: u32| async { Err::<(), _>(DiskFull) });
/// match Pipeline::from_iter(0..3u32).sink(full).run().await {
///     Err(RunError::Sink { stage, error, returned, report, .. }) => {
///         assert_eq!((stage.as_str(), error.to_string(), returned), ("sink", "disk full".to_owned(), 1));
///         assert!(report.is_conserved()); // the other items are counted as abandoned
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # }
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The pipeline's configuration is invalid; nothing ran.
    #[error("invalid pipeline: {0}")]
    Build(#[from] BuildError),
    /// A stage under `halt_on_error()` failed: intake stopped, in-flight
    /// items were drained, and the failures are returned here with their
    /// items (the first one first).
    #[error("pipeline halted: {}", .failures.first().map(ToString::to_string).unwrap_or_default())]
    Halted {
        /// The failures, in the order they happened.
        failures: Vec<ErasedFailure>,
        /// The run's report.
        report: Box<Report>,
    },
    /// A sink (or a dead-letter sink) failed for good: intake stopped and
    /// the items it could not store, with any halted failures, are counted
    /// as `returned`.
    #[error("stage `{stage}` failed: {error}; {returned} item(s) could not be stored")]
    Sink {
        /// The sink's stage name.
        stage: String,
        /// The sink's error.
        #[source]
        error: BoxError,
        /// The item the sink gave back, when it could (type-erased; downcast it).
        item: Option<Box<dyn Any + Send>>,
        /// How many source items are returned in this error: the ones the
        /// sink could not store and the `halted` failures' items. It equals
        /// the report's [`returned`](Report::returned).
        returned: u64,
        /// Failures a `halt_on_error()` stage returned before or while the
        /// sink failed (they are counted as returned too), first one first.
        halted: Vec<ErasedFailure>,
        /// The run's report.
        report: Box<Report>,
    },
    /// An inline stage (`map`, `filter`, `then`, `inspect`, a custom stage)
    /// panicked; the run was stopped. Fallible stages and fan-out turn
    /// panics into failures instead.
    #[error(
        "a stage panicked: {message}; use a fallible stage (try_map, try_then, fan_out) to isolate panics per item"
    )]
    Panicked {
        /// The panic message.
        message: String,
        /// The run's report.
        report: Box<Report>,
    },
}

impl RunError {
    /// The run's report, for every variant that ran.
    pub fn report(&self) -> Option<&Report> {
        match self {
            RunError::Build(_) => None,
            RunError::Halted { report, .. }
            | RunError::Sink { report, .. }
            | RunError::Panicked { report, .. } => Some(report),
        }
    }
}

impl fmt::Debug for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Build(e) => f.debug_tuple("Build").field(e).finish(),
            RunError::Halted { failures, .. } => {
                f.debug_struct("Halted").field("failures", failures).finish_non_exhaustive()
            }
            RunError::Sink { stage, error, returned, halted, .. } => f
                .debug_struct("Sink")
                .field("stage", stage)
                .field("error", error)
                .field("returned", returned)
                .field("halted", halted)
                .finish_non_exhaustive(),
            RunError::Panicked { message, .. } => {
                f.debug_struct("Panicked").field("message", message).finish_non_exhaustive()
            }
        }
    }
}
