//! The two imports every user writes, `futures::prelude` and
//! `weir::prelude`, work together: no ambiguous name, both crates' traits
//! in scope.

use futures::prelude::*;
use weir::prelude::*;
use weir::sink;

/// A weir sink written by a user who imported both preludes.
struct Rows(Vec<u32>);

impl weir::Sink<u32> for Rows {
    type Error = std::convert::Infallible;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Self::Error>> {
        self.0.push(row);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[tokio::test]
async fn both_preludes_together() {
    // futures' names: stream, StreamExt, SinkExt.
    let (mut tx, rx) = futures::channel::mpsc::channel::<u32>(8);
    tx.send(1).await.expect("room");
    tx.send(2).await.expect("room");
    drop(tx);
    // weir's names: Pipeline, the sink module, the Sink trait's methods.
    let (collect, out) = sink::collect();
    let report = Pipeline::from(rx.chain(stream::iter([3]))).map("double", |x| x * 2).sink(collect).await;
    assert_eq!(report.expect("runs").delivered(), 3);
    assert_eq!(out.take(), [2, 4, 6]);
    let mut rows = Rows(Vec::new());
    weir::Sink::send(&mut rows, 7).await.expect("stored");
    assert_eq!(rows.0, [7]);
}
