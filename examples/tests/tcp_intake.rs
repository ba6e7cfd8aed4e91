//! The ingest job's TCP intake, over real loopback connections: a client
//! sends good, malformed and oversize frames on several connections; every
//! good frame arrives once, each malformed one is dead-lettered with its
//! reason and peer, each oversize one closes its connection only, and the
//! server goes on serving.

use std::collections::BTreeMap;
use std::time::Duration;

use examples::ingest::generator::{Generator, Kind};
use examples::ingest::send::{Traffic, send};
use examples::ingest::tcp::{Frame, Intake, listen};
use weir::prelude::*;
use weir::sink;

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_malformed_and_oversize_frames_over_several_connections() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (intake_dead, intake_errors) = sink::collect();
    let (decode_dead, bad_frames) = sink::collect();
    let (store, packets) = sink::collect();
    let handle =
        Pipeline::try_from_source("read", listen(listener, Intake { quantum: 8, ..Intake::default() }))
            .dead_letter(intake_dead)
            .try_map("decode", |frame: Frame| weir_packet::decode(frame.bytes.clone()))
            .dead_letter(decode_dead)
            .sink(store)
            .spawn()
            .expect("valid");

    let frames = Generator { packets: 20_000, devices: 50, malformed: 0.05, duplicates: 0.0, seed: 11 };
    let sent = send(addr, Traffic { frames, connections: 4, rate: None, oversize: 2 }).await.expect("sent");
    let malformed: u64 = sent.frames.malformed.values().sum();
    wait_until("every frame", || {
        packets.len() as u64 == sent.frames.good
            && bad_frames.len() as u64 == malformed
            && intake_errors.len() == 2
    })
    .await;

    // The server still serves after the oversize frames closed their connections.
    let more = Generator { packets: 500, seed: 12, ..frames };
    let again =
        send(addr, Traffic { frames: more, connections: 2, rate: None, oversize: 0 }).await.expect("sent");
    let expected = sent.frames.good + again.frames.good;
    wait_until("the second client's frames", || packets.len() as u64 == expected).await;

    let report = handle.shutdown().await.expect("drains");
    assert!(report.is_conserved(), "{report}");
    assert_eq!(report.delivered(), expected);
    // The fair merge counts by host: every client here is 127.0.0.1.
    let source = report.stage("source").expect("source stage");
    let all_malformed = malformed + again.frames.malformed.values().sum::<u64>();
    assert_eq!(source.gauge("source_items:127.0.0.1"), Some(expected + all_malformed));
    assert_eq!(source.gauge("source_errors:127.0.0.1"), Some(2), "the two oversize frames");
    let added = source.gauge("sources_added").expect("gauge");
    assert!(added >= 6, "one source per connection, {added}");
    assert_eq!(source.gauge("sources_ended"), Some(added), "every client closed its connection");
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for record in bad_frames.take() {
        assert!(record.item().peer.ip().is_loopback(), "the record keeps the peer's address");
        let reason = weir_packet::decode(record.item().bytes.clone()).unwrap_err().reason().to_owned();
        *by_reason.entry(reason).or_default() += 1;
    }
    let mut all_sent: BTreeMap<String, u64> = BTreeMap::new();
    for (reason, n) in sent.frames.malformed.iter().chain(&again.frames.malformed) {
        *all_sent.entry((*reason).to_owned()).or_default() += n;
    }
    assert_eq!(by_reason, all_sent, "each malformed frame dead-lettered with its reason");
    let oversize = intake_errors.take();
    assert_eq!(oversize.len(), 2);
    for record in &oversize {
        assert!(record.error().contains("a frame longer than"), "{}", record.error());
        assert_eq!(record.stage(), "read");
    }
    // Every good frame arrived once: the stored packets are the good frames
    // both clients sent, each once.
    let good = |plan: Generator| plan.frames().filter(|g| g.kind == Kind::Good).map(|g| g.frame);
    let mut expected_frames: Vec<_> = good(frames).chain(good(more)).collect();
    let mut stored: Vec<_> = packets.take().iter().map(weir_packet::Packet::encode).collect();
    expected_frames.sort();
    stored.sort();
    assert!(stored == expected_frames, "the good frames, each once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_stops_accepting_and_reading_at_once_not_when_the_drain_ends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (reached, mut in_sink) = tokio::sync::mpsc::unbounded_channel();
    // A sink that holds its first item for 3 s: the drain takes that long.
    let slow = sink::from_fn(move |_: Frame| {
        let reached = reached.clone();
        async move {
            let _ = reached.send(());
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, std::convert::Infallible>(())
        }
    });
    let frames = listen(listener, Intake::default());
    let closer = frames.closer();
    let handle =
        Pipeline::try_from_source("read", frames).discard_failures().sink(slow).spawn().expect("valid");
    let frames = Generator { packets: 1, devices: 1, malformed: 0.0, duplicates: 0.0, seed: 1 };
    send(addr, Traffic { frames, connections: 1, rate: None, oversize: 0 }).await.expect("sent");
    in_sink.recv().await.expect("the frame reached the sink");
    closer.close();
    handle.signals().shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the listener closed when the shutdown began, while the drain still runs");
    let report = handle.join().await.expect("drains");
    assert_eq!((report.delivered(), report.ending()), (1, Ending::Drained));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_flat_out_does_not_hold_up_another() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::AsyncWriteExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let plan = Generator { packets: 1, devices: 1, malformed: 0.0, duplicates: 0.0, seed: 3 };
    let frame = plan.frames().next().expect("a frame").frame;
    let mut prefixed = (frame.len() as u32).to_be_bytes().to_vec();
    prefixed.extend_from_slice(&frame);

    let hot = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let hot_port = hot.local_addr().expect("address").port();
    // The sink notes when each frame of the slow client arrives.
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let sink = sink::from_fn(move |frame: Frame| {
        if frame.peer.port() != hot_port {
            let _ = arrived.send(tokio::time::Instant::now());
        }
        std::future::ready(Ok::<_, std::convert::Infallible>(()))
    });
    let handle = Pipeline::try_from_source("read", listen(listener, Intake::default()))
        .discard_failures()
        .sink(sink)
        .spawn()
        .expect("valid");

    // The hot client writes as fast as the server takes frames, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let block: Vec<u8> = prefixed.repeat(4096);
    let hot_client = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut hot = hot;
            while !stop.load(Ordering::Relaxed) {
                hot.write_all(&block).await.expect("writes");
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await; // the server is saturated

    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let mut longest = Duration::ZERO;
    for _ in 0..20 {
        let sent = tokio::time::Instant::now();
        slow.write_all(&prefixed).await.expect("writes");
        let at = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
            .await
            .expect("arrives")
            .expect("open");
        longest = longest.max(at - sent);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!hot_client.is_finished(), "the hot client was sending the whole time");
    stop.store(true, Ordering::Relaxed);
    hot_client.await.expect("the hot client stops");
    drop(slow);
    let report = handle.shutdown().await.expect("drains");
    assert!(report.is_conserved(), "{report}");
    // A turn of the hot connection (64 frames) and the pipeline's run
    // ahead of the slow frame, not the hot client's backlog.
    assert!(longest < Duration::from_millis(250), "a slow client's frame waited {longest:?}");
}
