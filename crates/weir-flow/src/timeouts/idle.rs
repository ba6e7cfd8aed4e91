//! The idle timeout: an event when no item came through for a while.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use weir_core::{BuildError, EnvelopeStream, Stage, StageContext};

/// An idle event: no item came through for `idle_for`; see
/// [`FlowTimeoutExt::on_idle`](super::FlowTimeoutExt::on_idle).
///
/// ```
/// use std::time::Duration;
/// use weir_flow::Idle;
///
/// let idle = Idle { idle_for: Duration::from_secs(30), events: 3 };
/// assert_eq!(idle.events, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    /// How long the stage has been waiting for its input's next item.
    pub idle_for: Duration,
    /// Idle events so far in the run, this one included.
    pub events: u64,
}

pub(crate) struct IdleStage<F> {
    pub(crate) name: String,
    pub(crate) after: Duration,
    pub(crate) on_idle: F,
}

impl<T, F> Stage<T> for IdleStage<F>
where
    T: Send + 'static,
    F: FnMut(Idle) + Send + 'static,
{
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.after.is_zero() {
            return Err(BuildError::Invalid {
                stage: self.name.clone(),
                message: "the idle timeout is zero, so every moment would be idle: give a positive duration"
                    .into(),
            });
        }
        Ok(())
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> EnvelopeStream<T> {
        let events = Arc::new(AtomicU64::new(0));
        let counted = events.clone();
        ctx.metrics().gauge("idle_events", move || counted.load(Ordering::Relaxed));
        let after = self.after;
        let state = (input, events, self.on_idle);
        futures::stream::unfold(state, move |(mut input, events, mut on_idle)| {
            async move {
                // Idle from when the stage asks its input, not from the
                // last item: time spent while downstream was busy (and did
                // not ask) is not the input's idleness.
                let since = Instant::now();
                let mut deadline = since + after;
                loop {
                    tokio::select! {
                        biased;
                        item = input.next() => {
                            return item.map(|item| (item, (input, events, on_idle)));
                        }
                        () = tokio::time::sleep_until(deadline) => {
                            let n = events.fetch_add(1, Ordering::Relaxed) + 1;
                            on_idle(Idle { idle_for: deadline - since, events: n });
                            // Missed periods (a clock jump) are skipped,
                            // not fired in a burst.
                            let now = Instant::now();
                            while deadline <= now {
                                deadline += after;
                            }
                        }
                    }
                }
            }
        })
        .boxed()
    }
}
