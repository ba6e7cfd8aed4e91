//! Backoff policies, retry budgets and a retry layer for weir operations that never blocks a worker.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]
