//! The fan-out's public types can cross threads.

use std::convert::Infallible;
use std::future::Ready;

use weir_fanout::{BroadcastStage, FanOut, FanOutStage, FanOutWithStage, KeyedStage, Lending, Lent};

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
    send::<FanOutStage<Op, Lending>>();
    sync::<FanOutStage<Op, Lending>>();
    send::<KeyedStage<Op, Key, Lending>>();
    send::<FanOutWithStage<Make, Lending>>();
    // A lent item crosses threads with its attempt's future.
    send::<Lent<String>>();
    sync::<Lent<String>>();
    unpin::<Lent<String>>();
}
