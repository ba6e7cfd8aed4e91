//! A sink's failures routed with `sink_routing_failures` keep the class
//! the sink gave them.

use std::sync::{Arc, Mutex};

use weir_core::Sink;
use weir_core::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("row {0} is refused")]
struct Refused(u32);

/// Refuses odd rows: rows above 2 for good (permanent), row 1 for now.
struct Table;

impl Sink<u32> for Table {
    type Error = Refused;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Refused>> {
        match row {
            1 => Err(SinkError::with_item(Refused(row), row)),
            _ if row % 2 == 1 => {
                Err(SinkError::with_item(Refused(row), row).with_class(ErrorClass::Permanent))
            }
            _ => Ok(()),
        }
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_routed_sink_failure_keeps_the_class_the_sink_gave_it() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let route = weir_core::route::from_fn(move |failure: Failure<u32, Refused>, _| {
        log.lock().unwrap().push((*failure.item(), failure.class()));
        failure.settle(Settled::Discarded);
        std::future::ready(())
    });
    let report =
        Pipeline::from_iter(0..6u32).sink_routing_failures("table", Table, route).run().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, ErrorClass::Transient), (3, ErrorClass::Permanent), (5, ErrorClass::Permanent)]
    );
    assert_eq!((report.delivered(), report.discarded()), (3, 3));
    assert!(report.is_conserved(), "{report}");
}
