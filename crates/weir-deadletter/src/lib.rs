//! Dead letters for weir pipelines: failures kept whole, routed, stored and replayable.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]
