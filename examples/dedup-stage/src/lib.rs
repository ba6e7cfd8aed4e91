//! An example stage crate for weir: [`Dedup`] drops an item whose key was
//! seen among the last `window` distinct keys (at-least-once sources
//! redeliver; this makes the duplicates visible and cheap to drop).
//!
//! It shows what a stage crate needs: a type implementing
//! [`weir_core::Stage`], that counts what it drops with
//! [`StageContext::filter`] (which also acknowledges the dropped item), and
//! memory bounded by its configuration, and a test that runs weir's
//! conformance suite on it (`tests/conformance.rs`, one line:
//! `weir_testkit::conformance::check(|| Dedup::by_key("dedup", 4, |x: &u64| *x))`).
//!
//! ```
//! use weir_core::prelude::*;
//! use weir_core::sink;
//! use weir_dedup::Dedup;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), RunError> {
//! let (sink, out) = sink::collect();
//! let report = Pipeline::from_iter([(1, 'a'), (2, 'b'), (1, 'a'), (3, 'c'), (2, 'b')])
//!     .stage(Dedup::by_key("dedup", 100, |reading: &(u32, char)| reading.0))
//!     .sink(sink)
//!     .run()
//!     .await?;
//! assert_eq!(out.take(), [(1, 'a'), (2, 'b'), (3, 'c')]);
//! assert_eq!(report.stage("dedup").unwrap().filtered, 2);
//! # Ok(())
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;

use futures::StreamExt;
use weir_core::{BuildError, EnvelopeStream, Stage, StageContext};

/// Drops items whose key was seen among the last `window` distinct keys.
pub struct Dedup<F> {
    name: String,
    window: usize,
    key: F,
}

impl<F> Dedup<F> {
    /// A dedup stage named `name` that remembers the last `window` keys
    /// given by `key`.
    ///
    /// # Errors
    ///
    /// A `window` of zero remembers nothing: the pipeline's build fails
    /// with [`BuildError::Zero`] (from `run()` or `spawn()`, before
    /// anything starts).
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_dedup::Dedup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Pipeline::from_iter([1, 2])
    ///     .stage(Dedup::by_key("dedup", 0, |x: &i32| *x))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, RunError::Build(BuildError::Zero { .. })), "{err}");
    /// # }
    /// ```
    pub fn by_key(name: &str, window: usize, key: F) -> Self {
        Self { name: name.to_owned(), window, key }
    }
}

impl<F> fmt::Debug for Dedup<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup")
            .field("name", &self.name)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// The last keys seen, oldest first, bounded by the window.
struct Seen<K> {
    order: VecDeque<K>,
    set: HashSet<K>,
    window: usize,
}

impl<K: Hash + Eq + Clone> Seen<K> {
    /// Records `key`; false if it was already among the last keys.
    fn insert(&mut self, key: K) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        if self.order.len() == self.window
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.set.insert(key);
        true
    }
}

impl<T, K, F> Stage<T> for Dedup<F>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    F: FnMut(&T) -> K + Send + 'static,
{
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.window == 0 {
            return Err(BuildError::Zero { stage: self.name.clone(), what: "the dedup window" });
        }
        Ok(())
    }

    fn build(mut self, input: EnvelopeStream<T>, ctx: StageContext) -> EnvelopeStream<T> {
        let mut seen = Seen { order: VecDeque::new(), set: HashSet::new(), window: self.window };
        input
            .filter_map(move |env| {
                let fresh = seen.insert((self.key)(env.item()));
                let out = if fresh {
                    Some(env)
                } else {
                    ctx.filter(env);
                    None
                };
                std::future::ready(out)
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;
    use std::collections::{HashSet, VecDeque};

    #[test]
    fn forgets_the_oldest_key_beyond_the_window() {
        let mut seen = Seen { order: VecDeque::new(), set: HashSet::new(), window: 2 };
        assert!(seen.insert(1));
        assert!(seen.insert(2));
        assert!(!seen.insert(1));
        assert!(seen.insert(3)); // forgets 1
        assert!(seen.insert(1));
        assert!(!seen.insert(3));
        assert_eq!(seen.set.len(), 2);
    }
}
