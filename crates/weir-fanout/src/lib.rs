//! Bounded work-sharing fan-out for weir pipelines: unordered, ordered, keyed and broadcast.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]
