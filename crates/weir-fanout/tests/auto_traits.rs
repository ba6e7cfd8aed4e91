//! The fan-out's public types can cross threads.

use std::convert::Infallible;
use std::future::Ready;

use weir_fanout::{BroadcastStage, FanOut, FanOutStage, FanOutWithStage, KeyedStage};

type Op = fn(u32) -> Ready<Result<u32, Infallible>>;
type Key = fn(&u32) -> u32;
type Make = fn(usize) -> Op;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    send::<FanOut>();
    sync::<FanOut>();
    unpin::<FanOut>();
    send::<FanOutStage<Op>>();
    sync::<FanOutStage<Op>>();
    send::<KeyedStage<Op, Key>>();
    send::<BroadcastStage<Op>>();
    send::<FanOutWithStage<Make>>();
    sync::<FanOutWithStage<Make>>();
}
