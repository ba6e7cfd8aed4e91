//! A sink chosen at run time keeps every promise of the sink it boxes:
//! items come back with the error, errors keep their type for a downcast.

use std::convert::Infallible;

use weir_core::prelude::*;
use weir_core::sink::{self, Sink};
use weir_core::sink::{BoxSink, BoxSinkError};

#[derive(Debug, thiserror::Error)]
#[error("row {0} refused")]
struct Refused(u32);

/// Refuses row 2, giving it back.
struct Table;

impl Sink<u32> for Table {
    type Error = Refused;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Refused>> {
        if row == 2 { Err(SinkError::with_item(Refused(row), row)) } else { Ok(()) }
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

fn choose(flag: &str) -> BoxSink<u32> {
    match flag {
        "refusing" => BoxSink::new(Table),
        _ => BoxSink::new(sink::from_fn(|_: u32| async { Ok::<_, Infallible>(()) })),
    }
}

#[tokio::test]
async fn a_boxed_sink_gives_the_refused_item_back_with_its_own_error() {
    let err = Pipeline::from_iter(0..5u32).sink(choose("refusing")).await.unwrap_err();
    let RunError::Sink { error, item, report, .. } = err else { panic!("not a sink error: {err}") };
    let error = error.downcast::<BoxSinkError>().expect("the boxed sink's error");
    assert!(error.get_ref().is::<Refused>(), "{error}");
    assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|i| *i), Some(2), "the item came back");
    assert_eq!(report.delivered(), 2);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn the_other_choice_delivers_everything() {
    let report = Pipeline::from_iter(0..5u32).sink(choose("plain")).await.expect("runs");
    assert_eq!(report.delivered(), 5);
}
