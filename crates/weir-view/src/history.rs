//! The ring buffer of samples: the last minutes of a run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::sample::Sample;

/// The samples of the last minutes, oldest first, shared between the
/// sampler that fills it and whoever looks (`weir top`, the metrics
/// endpoint, the HTML report). Cloning it shares it.
///
/// ```
/// use weir_view::History;
///
/// let history = History::new(300);
/// assert!(history.latest().is_none());
/// assert_eq!(history.snapshot().samples.len(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct History(Arc<Mutex<Snapshot>>);

/// What a [`History`] holds at one moment: what `weir top` reads, here
/// or over the metrics endpoint (as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// The samples kept, oldest first.
    pub samples: VecDeque<Sample>,
    /// How many samples are kept at most.
    pub keep: usize,
    /// How the run ended (`Completed`, `Drained`, …), once it has.
    pub ended: Option<String>,
}

impl History {
    /// An empty history that keeps the last `keep` samples.
    ///
    /// ```
    /// let history = weir_view::History::new(60);
    /// assert_eq!(history.snapshot().keep, 60);
    /// ```
    pub fn new(keep: usize) -> Self {
        Self(Arc::new(Mutex::new(Snapshot { samples: VecDeque::with_capacity(keep), keep, ended: None })))
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a sample, dropping the oldest when full; a history that
    /// [ended](Self::end) takes no more.
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_view::{History, Sample};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weir_core::RunError> {
    /// let report = Pipeline::from_iter(0..10_u64).sink(sink::drain()).run().await?;
    /// let history = History::new(2);
    /// for _ in 0..3 {
    ///     history.push(Sample::between(None, &report));
    /// }
    /// assert_eq!(history.snapshot().samples.len(), 2); // the oldest went
    /// history.end("Completed");
    /// history.push(Sample::between(None, &report));
    /// assert_eq!(history.snapshot().samples.len(), 2); // ended: refused
    /// assert_eq!(history.snapshot().ended.as_deref(), Some("Completed"));
    /// assert_eq!(history.latest().unwrap().conservation.delivered, 10);
    /// assert!(history.to_json().starts_with('{'));
    /// # Ok(())
    /// # }
    /// ```
    pub fn push(&self, sample: Sample) {
        let mut inner = self.lock();
        if inner.ended.is_some() {
            return;
        }
        if inner.samples.len() == inner.keep {
            inner.samples.pop_front();
        }
        inner.samples.push_back(sample);
    }

    /// Records how the run ended; later samples are refused.
    ///
    /// # Examples
    ///
    /// See [`push`](Self::push).
    pub fn end(&self, ending: impl Into<String>) {
        self.lock().ended = Some(ending.into());
    }

    /// The newest sample.
    ///
    /// # Examples
    ///
    /// See [`push`](Self::push).
    pub fn latest(&self) -> Option<Sample> {
        self.lock().samples.back().cloned()
    }

    /// A copy of everything it holds now.
    ///
    /// # Examples
    ///
    /// See [`push`](Self::push).
    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    /// The snapshot as JSON (what the metrics endpoint serves to
    /// `weir top`; [`Snapshot`] reads it back with `serde_json`).
    ///
    /// # Examples
    ///
    /// See [`push`](Self::push).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&*self.lock()).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
