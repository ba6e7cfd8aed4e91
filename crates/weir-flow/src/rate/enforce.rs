//! The enforcing stage: items without room fail.

use std::hash::Hash;
use std::time::Duration;

use futures::StreamExt;
use weir_core::{
    BuildError, Cause, Classify, EnvelopeStream, ErrorClass, FallibleStage, FallibleStream, StageContext,
};

use super::Limit;
use super::gcra::Refusal;

/// Why [`rate_limit`](super::RateLimitExt::rate_limit) refused an item.
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Classify, ErrorClass};
/// use weir_flow::RateLimited;
///
/// let refused = RateLimited::Exceeded { retry_after: Duration::from_millis(250) };
/// assert_eq!(refused.to_string(), "rate limit exceeded for its key: room again in 250ms");
/// assert_eq!(refused.class(), ErrorClass::Transient);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimited {
    /// Its key had no room; it would have after `retry_after`.
    #[error("rate limit exceeded for its key: room again in {retry_after:?}")]
    Exceeded {
        /// When its key has room again.
        retry_after: Duration,
    },
    /// It costs more than a burst, so it could never pass.
    #[error(
        "the item costs {cost} units, more than a burst of {burst}: it could never pass; raise the burst"
    )]
    TooCostly {
        /// What it costs.
        cost: u32,
        /// The key's burst.
        burst: u32,
    },
    /// The rate [`Limit::quota`](super::Limit::quota) gave its key cannot
    /// work (a zero count, period or burst).
    #[error(
        "the quota given for the item's key is invalid ({reason}): fix the function given to Limit::quota"
    )]
    InvalidQuota {
        /// What is wrong with the rate.
        reason: super::InvalidRate,
    },
}

impl Classify for RateLimited {
    fn class(&self) -> ErrorClass {
        match self {
            RateLimited::Exceeded { .. } => ErrorClass::Transient,
            RateLimited::TooCostly { .. } | RateLimited::InvalidQuota { .. } => ErrorClass::Permanent,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            RateLimited::Exceeded { retry_after } => Some(*retry_after),
            RateLimited::TooCostly { .. } | RateLimited::InvalidQuota { .. } => None,
        }
    }
}

/// See [`RateLimitExt::rate_limit`](super::RateLimitExt::rate_limit).
pub(crate) struct Enforce<T, K> {
    pub(crate) name: String,
    pub(crate) limit: Limit<T, K>,
}

impl<T, K> FallibleStage<T> for Enforce<T, K>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Output = T;
    type Error = RateLimited;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.limit.validate(&self.name)
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> FallibleStream<T, T, RateLimited> {
        let limit = self.limit;
        let counts = limit.observe(ctx.metrics(), false);
        input
            .map(move |envelope| {
                let (key, cost) = limit.assess(envelope.item());
                let now = tokio::time::Instant::now();
                let refused = match limit.keys.take(&key, cost, false, || limit.rate_of(&key), now) {
                    Ok(()) => return Ok(envelope),
                    Err(Refusal::Wait(retry_after)) => RateLimited::Exceeded { retry_after },
                    Err(Refusal::Never { cost, burst }) => RateLimited::TooCostly { cost, burst },
                    Err(Refusal::Invalid(reason)) => RateLimited::InvalidQuota { reason },
                };
                limit.keys.limited(&key);
                counts.limited();
                let class = refused.class();
                Err(ctx.failure(envelope, Cause::Error(refused), class, 1))
            })
            .boxed()
    }
}
