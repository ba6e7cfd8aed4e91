//! The TCP intake: N loopback connections send length-prefixed telemetry
//! frames; the ingest job's intake (`examples::ingest::tcp::listen` into
//! a weir pipeline that decodes and checks every frame, into a discarding
//! store) against the anchors' hand-written tokio server
//! (`shared/anchors/tcp`: a task per connection, `LengthDelimitedCodec`,
//! the same decode), client and server on the same machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BufMut;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use weir::prelude::*;
use weir::sink;
use weir_packet::{Packet, Reading};

use crate::table::{Row, Table};

/// Frames per pre-encoded block, sent repeatedly by each client.
const BLOCK: u64 = 1024;

/// One block of length-prefixed frames: 4 readings each (50 bytes).
fn block() -> Arc<Vec<u8>> {
    let mut out = bytes::BytesMut::new();
    for i in 0..BLOCK {
        let packet =
            Packet::new(i as u32 % 100, i, 1_700_000_000_000 + i, (0..4).map(|s| Reading::new(s, i as f32)));
        let frame = packet.encode();
        out.put_u32(frame.len() as u32);
        out.put_slice(&frame);
    }
    Arc::new(out.to_vec())
}

/// Connects `connections` clients that each send `per` frames.
async fn clients(addr: std::net::SocketAddr, connections: u64, per: u64, block: Arc<Vec<u8>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let block = block.clone();
        tasks.spawn(async move {
            let mut socket = TcpStream::connect(addr).await.expect("connects");
            for _ in 0..per / BLOCK {
                socket.write_all(&block).await.expect("writes");
            }
            socket.shutdown().await.expect("shuts down");
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// The hand-written server: frames/s.
pub(crate) fn hand_written(connections: u64, frames: u64) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        let per = frames / connections;
        let start = Instant::now();
        let server = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            for _ in 0..connections {
                let (socket, _) = listener.accept().await.expect("accepts");
                conns.spawn(async move {
                    let mut frames = FramedRead::new(socket, LengthDelimitedCodec::new());
                    let (mut good, mut bad) = (0u64, 0u64);
                    while let Some(frame) = frames.next().await {
                        match weir_packet::decode(frame.expect("reads").freeze()) {
                            Ok(_) => good += 1,
                            Err(_) => bad += 1,
                        }
                    }
                    good + bad
                });
            }
            let mut n = 0;
            while let Some(count) = conns.join_next().await {
                n += count.expect("joins");
            }
            n
        });
        clients(addr, connections, per, block()).await;
        let n = server.await.expect("serves");
        assert_eq!(n, per / BLOCK * BLOCK * connections);
        n as f64 / start.elapsed().as_secs_f64()
    })
}

/// The ingest job's intake in a weir pipeline: frames/s.
pub(crate) fn weir(connections: u64, frames: u64) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        let per = frames / connections;
        let expected = per / BLOCK * BLOCK * connections;
        let intake = examples::ingest::tcp::Intake::default();
        let start = Instant::now();
        let handle = Pipeline::try_from_source("read", examples::ingest::tcp::listen(listener, intake))
            .discard_failures()
            .try_map("decode", |frame: examples::ingest::tcp::Frame| weir_packet::decode(frame.bytes.clone()))
            .discard_failures()
            .sink(sink::drain())
            .spawn()
            .expect("valid");
        let monitor = handle.monitor();
        clients(addr, connections, per, block()).await;
        while monitor.report().delivered() < expected {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let elapsed = start.elapsed();
        let report = handle.shutdown().await.expect("drains");
        assert!(report.is_conserved() && report.delivered() == expected, "{report}");
        expected as f64 / elapsed.as_secs_f64()
    })
}

/// The table: best of `runs` for each, 8 connections.
pub(crate) fn bench(quick: bool) {
    let (frames, runs) = if quick { (800_000, 2) } else { (4_000_000, 5) };
    let connections = 8;
    let best = |f: &dyn Fn() -> f64| (0..runs).map(|_| f()).fold(0.0, f64::max);
    let case = format!("TCP intake, {connections} loopback connections, {frames} frames of 50 bytes");
    let baseline = best(&|| hand_written(connections, frames));
    let weir = best(&|| weir(connections, frames));
    let mut table = Table::default();
    table.push(Row::baseline(&case, "hand-written tokio server (anchors/tcp), decode each frame", baseline));
    let ratio = weir / baseline;
    table.push(
        Row::measured(&case, "weir: listen (fair merge) -> try_from_source -> decode -> drain", weir)
            .vs("hand-written", baseline)
            .target(">= 0.5x hand-written", ratio >= 0.5),
    );
    print!("{table}");
}
