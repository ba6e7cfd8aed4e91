//! The `send` client: real TCP traffic for the ingest server, with a
//! record of what it sent so that a test (or a person) can reconcile
//! both sides.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::generator::{Generator, Tally};

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    /// The frames, spread round-robin over the connections.
    pub frames: Generator,
    /// Connections to open.
    pub connections: usize,
    /// Frames per second over all connections; `None` = as fast as the
    /// server takes them.
    pub rate: Option<f64>,
    /// Extra connections that each send one frame whose length prefix is
    /// over the server's limit (the server closes them, and goes on).
    pub oversize: u64,
}

/// What was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// The generated frames, by kind.
    pub frames: Tally,
    /// Oversize frames, one per connection.
    pub oversize: u64,
}

/// Frames written per socket write.
const CHUNK: usize = 256;

/// Sends `traffic` to `addr` and reports what it sent.
///
/// # Errors
///
/// A connection that fails (refused, reset) ends the send with its error.
pub async fn send(addr: SocketAddr, traffic: Traffic) -> std::io::Result<Sent> {
    let connections = traffic.connections.max(1);
    let mut lanes: Vec<Vec<bytes::Bytes>> = vec![Vec::new(); connections];
    let mut sent = Sent::default();
    for (i, generated) in traffic.frames.frames().enumerate() {
        sent.frames.count(generated.kind);
        lanes[i % connections].push(generated.frame);
    }
    let pause =
        traffic.rate.map(|rate| Duration::from_secs_f64(CHUNK as f64 * connections as f64 / rate.max(1e-9)));
    let mut tasks = tokio::task::JoinSet::new();
    for frames in lanes {
        tasks.spawn(async move {
            let mut socket = TcpStream::connect(addr).await?;
            for chunk in frames.chunks(CHUNK) {
                let mut out = BytesMut::with_capacity(chunk.iter().map(|f| f.len() + 4).sum());
                for frame in chunk {
                    out.put_u32(u32::try_from(frame.len()).expect("a frame fits a u32 length"));
                    out.put_slice(frame);
                }
                socket.write_all(&out).await?;
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
            }
            socket.shutdown().await
        });
    }
    for _ in 0..traffic.oversize {
        tasks.spawn(async move {
            let mut socket = TcpStream::connect(addr).await?;
            // A length far over any limit; the server stops reading here.
            socket.write_all(&u32::MAX.to_be_bytes()).await?;
            socket.write_all(&[0; 64]).await?;
            socket.shutdown().await
        });
    }
    sent.oversize = traffic.oversize;
    while let Some(done) = tasks.join_next().await {
        done.map_err(std::io::Error::other)??;
    }
    Ok(sent)
}
