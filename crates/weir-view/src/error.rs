//! The errors of the sampler and the views.

/// A [`Sampler`](crate::Sampler) that cannot run as configured.
///
/// ```
/// use std::time::Duration;
/// use weir_view::{InvalidSampler, Sampler};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = weir_core::Pipeline::from_iter(0..1).sink(weir_core::sink::drain()).spawn()?;
/// let refused = Sampler::new().every(Duration::ZERO).start(handle.monitor());
/// assert!(matches!(refused, Err(InvalidSampler::ZeroInterval)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidSampler {
    /// `every(Duration::ZERO)`.
    #[error("a sampler cannot sample every 0 s: give it an interval such as 1 s")]
    ZeroInterval,
    /// `keep(0)`.
    #[error("a sampler that keeps no samples shows nothing: keep at least 1 (300 keeps five minutes at 1 s)")]
    NothingKept,
}

/// Why `weir top` could not read a pipeline in another process.
///
/// ```
/// use weir_view::AttachError;
/// use weir_view::top::Feed;
///
/// let refused = Feed::remote("ftp://10.0.0.5:9898");
/// assert!(matches!(refused, Err(AttachError::BadAddress(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The address is not `http://HOST:PORT[/path]`.
    #[error(
        "cannot attach to {0:?}: give the metrics endpoint as http://HOST:PORT (the ingest program's --metrics-addr)"
    )]
    BadAddress(String),
    /// Connecting or reading failed.
    #[error("cannot read {url}: {source}; is the program running with --metrics-addr on that address?")]
    Http {
        /// What was read.
        url: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The endpoint answered something that is not a weir history.
    #[error("{url} did not answer with a weir history ({source}); is it a weir program's metrics endpoint?")]
    NotAHistory {
        /// What was read.
        url: String,
        /// Why it is not one.
        #[source]
        source: serde_json::Error,
    },
}
