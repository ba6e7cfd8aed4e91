//! The public types cross threads.

use weir_packet::Packet;
use weir_sqlite::{SqliteCounters, SqliteError, SqliteSink, SqliteSinkBuilder, Synchronous};

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn public_types_are_send_and_sync_where_it_matters() {
    send::<SqliteSink<Packet>>();
    send::<SqliteSinkBuilder<Packet>>();
    sync::<SqliteSinkBuilder<Packet>>();
    send::<SqliteError>();
    sync::<SqliteError>();
    send::<SqliteCounters>();
    sync::<SqliteCounters>();
    send::<Synchronous>();
}
