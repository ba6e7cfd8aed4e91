//! The shaping stage: items wait for room, in order.

use std::hash::Hash;

use futures::StreamExt;
use weir_core::{BuildError, EnvelopeStream, Stage, StageContext};

use super::gcra::Refusal;
use super::{Limit, RateLimited};

/// See [`RateLimitExt::throttle`](super::RateLimitExt::throttle).
pub(crate) struct Throttle<T, K> {
    pub(crate) name: String,
    pub(crate) limit: Limit<T, K>,
}

impl<T, K> Stage<T> for Throttle<T, K>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.limit.validate(&self.name)
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> EnvelopeStream<T> {
        let limit = self.limit;
        let counts = limit.observe(ctx.metrics(), true);
        let (control, name): (_, std::sync::Arc<str>) = (ctx.control(), self.name.into());
        input
            .then(move |envelope| {
                let (limit, counts) = (limit.clone(), counts.clone());
                let (control, name) = (control.clone(), name.clone());
                async move {
                    let (key, cost) = limit.assess(envelope.item());
                    let start = tokio::time::Instant::now();
                    loop {
                        let now = tokio::time::Instant::now();
                        match limit.keys.take(&key, cost, true, || limit.rate_of(&key), now) {
                            Ok(()) => break,
                            Err(Refusal::Wait(wait)) => tokio::time::sleep(wait).await,
                            Err(Refusal::Never { .. }) => unreachable!("a clamped cost always fits"),
                            Err(Refusal::Invalid(reason)) => {
                                // Not unlimited: the run ends with what to fix.
                                control.fail_run(&name, RateLimited::InvalidQuota { reason });
                                break;
                            }
                        }
                    }
                    let waited = start.elapsed();
                    if !waited.is_zero() {
                        limit.keys.waited(&key);
                        counts.waited(waited);
                    }
                    envelope
                }
            })
            .boxed()
    }
}
