//! Test support for weir: proptest strategies, fault-injecting operations and sinks, conservation models.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]
