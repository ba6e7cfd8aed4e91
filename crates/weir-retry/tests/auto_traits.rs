//! The public types are Send + Sync, so they cross worker tasks.

use weir_retry::{
    AllTransient, AttemptError, AttemptFuture, ByClassify, ClassifyFn, InvalidPolicy, Retry, RetryBudget,
    RetryError, RetryPolicy, RetrySink, Timeout,
};

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

type Op = fn(u32) -> std::future::Ready<Result<u32, String>>;
type Classifier = ClassifyFn<fn(&String) -> weir_core::ErrorClass>;

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<RetryPolicy>();
    send_sync::<RetryError<std::io::Error>>();
    send_sync::<RetryBudget>();
    send_sync::<Retry<Op>>();
    send_sync::<Retry<Op, ByClassify>>();
    send_sync::<Retry<Op, Classifier>>();
    send_sync::<RetrySink<weir_core::sink::Drain, Classifier>>();
    send_sync::<Retry<Timeout<Op>, AllTransient>>();
    send_sync::<AttemptFuture<std::future::Ready<Result<u32, String>>>>();
    send_sync::<AttemptError<String>>();
    send_sync::<InvalidPolicy>();
    unpin::<RetryPolicy>();
    unpin::<Retry<Timeout<Op>, AllTransient>>();
}
