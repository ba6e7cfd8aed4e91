//! The completion timeout: the run ends when its items have not all come
//! through in time.

use std::time::Duration;

use futures::StreamExt;
use weir_core::{BuildError, EnvelopeStream, Stage, StageContext};

/// The run's error when a
/// [`complete_within`](super::FlowTimeoutExt::complete_within) limit
/// passed.
///
/// ```
/// use std::time::Duration;
/// use weir_flow::CompletionTimedOut;
///
/// let late = CompletionTimedOut { stage: "nightly".into(), limit: Duration::from_secs(3600) };
/// assert_eq!(
///     late.to_string(),
///     "`nightly` did not complete within 3600s: intake stopped and the items in flight were drained \
///      (the report counts any the drain deadline abandoned); raise the limit or speed up the run"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{stage}` did not complete within {limit:?}: intake stopped and the items in flight were drained \
     (the report counts any the drain deadline abandoned); raise the limit or speed up the run"
)]
pub struct CompletionTimedOut {
    /// The stage that timed out.
    pub stage: String,
    /// Its limit.
    pub limit: Duration,
}

pub(crate) struct Completion {
    pub(crate) name: String,
    pub(crate) limit: Duration,
}

impl<T: Send + 'static> Stage<T> for Completion {
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.limit.is_zero() {
            return Err(BuildError::Invalid {
                stage: self.name.clone(),
                message: "the completion timeout is zero, so no run could complete: give a positive duration"
                    .into(),
            });
        }
        Ok(())
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> EnvelopeStream<T> {
        let deadline = tokio::time::Instant::now() + self.limit;
        let control = ctx.control();
        let late = CompletionTimedOut { stage: self.name, limit: self.limit };
        let state = (input, Some(late));
        futures::stream::unfold(state, move |(mut input, mut late)| {
            let control = control.clone();
            async move {
                loop {
                    if late.is_none() {
                        // Timed out already: the rest drains.
                        return input.next().await.map(|item| (item, (input, late)));
                    }
                    // The deadline first: an input that always has an
                    // item ready must not keep the limit from firing.
                    tokio::select! {
                        biased;
                        () = tokio::time::sleep_until(deadline) => {
                            if let Some(late) = late.take() {
                                tracing::warn!("{late}");
                                control.fail_run(&late.stage.clone(), late);
                            }
                        }
                        item = input.next() => return item.map(|item| (item, (input, late))),
                    }
                }
            }
        })
        .boxed()
    }
}
