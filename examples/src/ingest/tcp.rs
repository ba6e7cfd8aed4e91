//! The ingest job's TCP intake: many connections sending length-prefixed
//! frames, merged into one weir source.
//!
//! Each connection is read by a task of its own through tokio-util's
//! `LengthDelimitedCodec` (a `u32` big-endian length before each frame),
//! and every frame goes into one bounded queue that the pipeline pulls
//! from. When the pipeline is saturated the queue fills, the connection
//! tasks wait to hand their next frame over and stop reading their
//! sockets: the kernel's buffers fill and TCP's flow control slows the
//! clients down. Nothing in between grows.
//!
//! A frame longer than the limit cannot be skipped safely (the stream
//! would lose its framing), so that connection yields an
//! [`IntakeError::Oversize`] (dead-lettered with the peer's address) and is
//! closed with a logged reason; the server and the other connections go
//! on. The source owns every task it starts: dropping it (the pipeline
//! ending) stops the accept loop and every connection.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// One frame as it arrived, with the connection it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// The client's address.
    pub peer: SocketAddr,
    /// The frame's bytes, without the length prefix.
    pub bytes: Bytes,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame").field("peer", &self.peer).field("len", &self.bytes.len()).finish()
    }
}

/// A connection that could not be read on; it is closed, the server goes on.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// A length prefix over the limit: the connection is closed.
    #[error(
        "connection {peer}: a frame longer than {max} bytes; connection closed (the client must send frames of at most {max} bytes)"
    )]
    Oversize {
        /// The client's address.
        peer: SocketAddr,
        /// The limit.
        max: usize,
    },
    /// The connection failed (reset, or ended inside a frame).
    #[error("connection {peer}: {source}; connection closed")]
    Io {
        /// The client's address.
        peer: SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Settings of the TCP intake.
#[derive(Debug, Clone, Copy)]
pub struct Intake {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// The longest frame accepted, in bytes.
    pub max_frame: usize,
    /// Frames waiting for the pipeline, all connections together.
    pub queue: usize,
}

impl Default for Intake {
    fn default() -> Self {
        Self { max_connections: 1024, max_frame: weir_packet::MAX_FRAME_LEN, queue: 1024 }
    }
}

/// Frames a connection hands over at once: the ones its socket buffer
/// already holds, up to this many (one hand-off per run of frames, not
/// per frame).
const HAND_OFF: usize = 64;

type Batch = Vec<Result<Frame, IntakeError>>;

/// The frames of every connection `listener` accepts, as one stream.
pub fn listen(listener: TcpListener, intake: Intake) -> FrameStream {
    // The queue holds hand-offs of at most HAND_OFF frames: `queue`
    // frames in all, whatever their grouping.
    let (tx, rx) = mpsc::channel(intake.queue.div_ceil(HAND_OFF).max(1));
    let closed = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(accept(listener, intake, tx, closed.clone()));
    FrameStream { frames: rx, current: Vec::new().into_iter(), closed, _tasks: tasks }
}

/// Closes a [`FrameStream`]'s server from elsewhere (a Ctrl-C handler):
/// it stops accepting connections and reading sockets at once, and the
/// stream ends after the frames already queued.
#[derive(Debug, Clone)]
pub struct Closer(CancellationToken);

impl Closer {
    /// Stops accepting and reading.
    pub fn close(&self) {
        self.0.cancel();
    }
}

/// The stream [`listen`] returns: owns the accept loop and the
/// connections' tasks.
#[derive(Debug)]
pub struct FrameStream {
    frames: mpsc::Receiver<Batch>,
    current: std::vec::IntoIter<Result<Frame, IntakeError>>,
    closed: CancellationToken,
    _tasks: JoinSet<()>,
}

impl FrameStream {
    /// A handle that closes the server; see [`Closer`].
    pub fn closer(&self) -> Closer {
        Closer(self.closed.clone())
    }
}

impl Stream for FrameStream {
    type Item = Result<Frame, IntakeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(frame) = self.current.next() {
                return Poll::Ready(Some(frame));
            }
            match self.frames.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.current = batch.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

async fn accept(listener: TcpListener, intake: Intake, tx: mpsc::Sender<Batch>, closed: CancellationToken) {
    let slots = Arc::new(Semaphore::new(intake.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (socket, peer) = tokio::select! {
            () = closed.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
        let (tx, closed) = (tx.clone(), closed.clone());
        connections.spawn(async move {
            tokio::select! {
                () = closed.cancelled() => {}
                () = read(socket, peer, intake.max_frame, tx) => {}
            }
            drop(slot);
        });
    }
}

async fn read(socket: TcpStream, peer: SocketAddr, max_frame: usize, tx: mpsc::Sender<Batch>) {
    let codec = LengthDelimitedCodec::builder().max_frame_length(max_frame).new_codec();
    let mut frames = FramedRead::new(socket, codec);
    while let Some(first) = frames.next().await {
        // This frame, and the ones already read after it.
        let mut batch = Vec::with_capacity(HAND_OFF);
        let mut next = Some(first);
        while let Some(read) = next.take() {
            match read {
                Ok(bytes) => batch.push(Ok(Frame { peer, bytes: bytes.freeze() })),
                Err(source) => {
                    let error = if source.kind() == std::io::ErrorKind::InvalidData {
                        IntakeError::Oversize { peer, max: max_frame }
                    } else {
                        IntakeError::Io { peer, source }
                    };
                    tracing::warn!(%error, "closing the connection");
                    batch.push(Err(error));
                    let _ = tx.send(batch).await;
                    return;
                }
            }
            if batch.len() < HAND_OFF {
                next = frames.next().now_or_never().flatten();
            }
        }
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}
