//! One consumer process of the Redis case (`weir-bench redis-consumer`):
//! weir's `RedisSource` pipeline or the hand-written XREADGROUP loop, each
//! decoding every frame into the same in-memory store.
//!
//! The protocol with the parent (`redis.rs`), on the child's standard
//! streams: the child sets up (runtime, and for the hand-written loop its
//! connection), prints `ready`, waits for a line on stdin (the start),
//! consumes until stdin closes (the parent has seen every entry
//! acknowledged), then prints `done <packets> <checksum> <cpu ticks>`.
//! [`Consumer`] is the parent's end of it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::sync::watch;
use weir::prelude::*;
use weir::redis::{Entry, RedisSource};
use weir::{Sink, SinkError};
use weir_packet::Packet;

use crate::procstat::cpu_ticks;
use crate::redis::Kind;

/// The field that holds a frame.
pub(crate) const FIELD: &str = "frame";

/// Entries asked for in one read, on both sides.
pub(crate) const READ_BATCH: usize = 500;

/// The "store" both sides write to: a count and a checksum of the decoded
/// packets, kept in memory (flushing it costs nothing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Store {
    packets: u64,
    checksum: u64,
}

impl Store {
    /// A store's totals, as a consumer printed them.
    pub(crate) fn from_parts(packets: u64, checksum: u64) -> Self {
        Self { packets, checksum }
    }

    /// Two stores' totals together.
    pub(crate) fn merge(self, other: Store) -> Self {
        Self { packets: self.packets + other.packets, checksum: self.checksum.wrapping_add(other.checksum) }
    }

    /// Stores one packet.
    pub(crate) fn add(&mut self, p: &Packet) {
        self.packets += 1;
        let readings = p.readings().iter().map(|r| u64::from(r.value.to_bits())).sum::<u64>();
        self.checksum =
            self.checksum.wrapping_add(u64::from(p.device()) ^ p.sequence()).wrapping_add(readings);
    }
}

/// The store as a weir sink of batches; it shares its totals with the
/// process, which prints them at the end.
#[derive(Debug, Clone, Default)]
struct StoreSink(Arc<Mutex<Store>>);

impl Sink<Vec<Packet>> for StoreSink {
    type Error = std::convert::Infallible;

    async fn send(&mut self, batch: Vec<Packet>) -> Result<(), SinkError<Vec<Packet>, Self::Error>> {
        let mut store = self.0.lock().expect("not poisoned");
        for p in &batch {
            store.add(p);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Where a consumer reads.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) stream: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
}

/// The subcommand: `redis-consumer weir|hand URL STREAM GROUP CONSUMER`.
pub(crate) fn main(args: &[String]) {
    let [kind, url, stream, group, consumer] = args else {
        eprintln!("usage: weir-bench redis-consumer weir|hand URL STREAM GROUP CONSUMER");
        std::process::exit(2);
    };
    let target =
        Target { url: url.clone(), stream: stream.clone(), group: group.clone(), consumer: consumer.clone() };
    // Like `#[tokio::main]`: a worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (stop_tx, stop) = watch::channel(false);
    let store = match kind.as_str() {
        "weir" => {
            ready_then_wait_for_start(stop_tx);
            runtime.block_on(weir(target, stop))
        }
        "hand" => {
            let conn = runtime.block_on(async {
                redis::Client::open(url.as_str())
                    .expect("a Redis URL")
                    .get_multiplexed_async_connection()
                    .await
                    .expect("connects")
            });
            ready_then_wait_for_start(stop_tx);
            runtime.block_on(hand_written(conn, target, stop))
        }
        other => panic!("no consumer {other:?}: weir or hand"),
    };
    drop(runtime);
    println!("done {} {} {}", store.packets, store.checksum, cpu_ticks("self"));
}

/// Says `ready`, blocks until the parent's start line, and then watches
/// stdin on a thread of its own: its end is the signal to stop.
fn ready_then_wait_for_start(stop: watch::Sender<bool>) {
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).expect("the start line");
    drop(stdin);
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = std::io::stdin().lock().read_until(b'\0', &mut rest);
        let _ = stop.send(true);
    });
}

/// weir: `RedisSource` → decode → `batch(500, 5 ms)` → the store, until
/// stopped; then a graceful shutdown (which waits for the last XACK).
async fn weir(t: Target, mut stop: watch::Receiver<bool>) -> Store {
    let source = RedisSource::new(t.url, t.stream, t.group, t.consumer)
        .batch(READ_BATCH)
        .block(Duration::from_millis(100));
    let sink = StoreSink::default();
    let store = sink.0.clone();
    let handle = Pipeline::from_source(source)
        // An entry without the field decodes an empty frame: a failure.
        .try_map("decode", |mut e: Entry| weir_packet::decode(e.take_field(FIELD).unwrap_or_default()))
        .discard_failures()
        .batch("batch", 500, Duration::from_millis(5))
        .sink(sink)
        .spawn()
        .expect("a valid pipeline");
    let _ = stop.wait_for(|s| *s).await;
    let report = handle.shutdown().await.expect("the run ends cleanly");
    let store = *store.lock().expect("not poisoned");
    assert!(report.is_conserved() && report.delivered() == store.packets, "{report}");
    store
}

/// The hand-written loop, as a tokio user writes it with the redis
/// crate's stream API: read up to 500 new entries (`XREADGROUP … COUNT
/// 500 BLOCK 100 STREAMS s >`), decode and store each, acknowledge the
/// batch (`XACK`), again, one request at a time on one multiplexed
/// connection.
async fn hand_written(
    mut conn: redis::aio::MultiplexedConnection,
    t: Target,
    stop: watch::Receiver<bool>,
) -> Store {
    let mut store = Store::default();
    let options = StreamReadOptions::default().group(&t.group, &t.consumer).count(READ_BATCH).block(100);
    let mut ids = Vec::with_capacity(READ_BATCH);
    while !*stop.borrow() {
        let reply: Option<StreamReadReply> =
            conn.xread_options(&[&t.stream], &[">"], &options).await.expect("XREADGROUP");
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for mut entry in key.ids {
                let frame = match entry.map.remove(FIELD) {
                    Some(redis::Value::BulkString(bytes)) => Bytes::from(bytes),
                    _ => Bytes::new(),
                };
                if let Ok(packet) = weir_packet::decode(frame) {
                    store.add(&packet);
                }
                ids.push(entry.id);
            }
        }
        if !ids.is_empty() {
            let _: usize = conn.xack(&t.stream, &t.group, &ids).await.expect("XACK");
            ids.clear();
        }
    }
    store
}

/// A consumer process and its standard streams.
pub(crate) struct Consumer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Consumer {
    /// Starts consumer `c<i>` of `kind`; it sets up and says `ready`.
    pub(crate) fn spawn(kind: Kind, url: &str, stream: &str, group: &str, i: usize) -> Self {
        let exe = std::env::current_exe().expect("this binary");
        let mut child = Command::new(exe)
            .args(["redis-consumer", kind.arg(), url, stream, group, &format!("c{i}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawns a consumer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Self { child, stdin, stdout }
    }

    /// The next line the consumer prints.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("reads the consumer");
        line
    }

    /// Waits for the line `what`.
    pub(crate) fn expect_line(&mut self, what: &str) {
        let line = self.line();
        assert_eq!(line.trim(), what, "the consumer said {line:?}");
    }

    /// Sends the start line.
    pub(crate) fn start(&mut self) {
        let stdin = self.stdin.as_mut().expect("open");
        stdin.write_all(b"go\n").and_then(|()| stdin.flush()).expect("starts the consumer");
    }

    /// Closes its stdin (stop) and reads its totals and CPU ticks.
    pub(crate) fn stop(mut self) -> (Store, u64) {
        drop(self.stdin.take());
        let line = self.line();
        let status = self.child.wait().expect("waits");
        assert!(status.success(), "the consumer failed: {status}");
        let parts: Vec<u64> = line
            .trim()
            .strip_prefix("done ")
            .expect("done …")
            .split(' ')
            .map(|x| x.parse().expect("n"))
            .collect();
        (Store::from_parts(parts[0], parts[1]), parts[2])
    }
}
