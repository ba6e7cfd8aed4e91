//! Auto traits of the public types: a pipeline can be built on one task and
//! run or awaited on another.

use weir_core::prelude::*;
use weir_core::{Acks, BuildError, ErasedFailure, Meta, StageReport, sink};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_sync_unpin_where_it_matters() {
    send::<Pipeline<u32>>();
    send::<Fallible<u32, u32, std::io::Error>>();
    send::<Runnable>();
    send::<PipelineHandle>();
    unpin::<PipelineHandle>();
    send::<Ack>();
    send::<Acks>();
    send::<Envelope<u32>>();
    send::<Meta>();
    send::<Failure<u32, std::io::Error>>();
    send::<ErasedFailure>();
    send::<RunError>();
    send::<StageContext>();
    sync::<StageContext>();
    sync::<RunControl>();
    send::<RunControl>();

    // Reports and build errors are plain data.
    send::<Report>();
    sync::<Report>();
    unpin::<Report>();
    send::<StageReport>();
    sync::<StageReport>();
    send::<BuildError>();
    sync::<BuildError>();

    // Sinks made by the adapters.
    send::<sink::Collector<u32>>();
    send::<sink::Collected<u32>>();
    sync::<sink::Collected<u32>>();
    send::<sink::Drain>();

    // The futures that run a pipeline can be spawned.
    fn send_future<F: std::future::Future + Send>(_: F) {}
    send_future(Pipeline::from_iter(0..1).sink(sink::drain()).run());
    send_future(Pipeline::from_iter(0..1).sink(sink::drain()).run_until(std::future::pending()));
}

#[test]
fn errors_are_std_errors_that_can_cross_threads() {
    fn error<E: std::error::Error + Send + 'static>() {}
    error::<RunError>();
    error::<BuildError>();
    error::<ErasedFailure>();
    error::<SinkError<u32, std::io::Error>>();
}
