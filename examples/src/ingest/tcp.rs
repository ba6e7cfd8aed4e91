//! The ingest job's TCP intake: many connections sending length-prefixed
//! frames, merged into one weir source by a fair merge
//! ([`weir::shape::Merge`]).
//!
//! Each connection is read by a task of its own through tokio-util's
//! `LengthDelimitedCodec` (a `u32` big-endian length before each frame),
//! so that reading and framing run on every core, and hands runs of the
//! frames its socket buffer already holds (at most 64) to a channel of
//! two runs. The accept loop adds each connection's channel to the merge,
//! named by the client's host. The connections take turns: each turn
//! takes at most [`Intake::quantum`] frames, so a client sending flat out
//! cannot starve the others. When the pipeline is saturated a connection's
//! channel fills, its task stops reading its socket, the kernel's buffers
//! fill and TCP's flow control slows the client down. Per connection, at
//! most the run its task is reading, two runs in its channel and the run
//! the merge is giving out wait in between (at most 4 × 64 frames); size
//! `max_connections` with that in mind.
//!
//! A frame longer than the limit cannot be skipped safely (the stream
//! would lose its framing), so that connection yields an
//! [`IntakeError::Oversize`] (dead-lettered with the peer's address) and is
//! closed with a logged reason; the server and the other connections go
//! on. The accept loop is a task of the run: it stops when the server is
//! closed ([`Closer`]) or the run ends, and the run's report waits for it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use weir::shape::{Merge, SourceFailed, Sources};
use weir::{EnvelopeStream, Source, StageContext};

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
    /// The most frames a connection hands over per turn.
    pub quantum: usize,
}

impl Default for Intake {
    fn default() -> Self {
        Self { max_connections: 1024, max_frame: weir_packet::MAX_FRAME_LEN, quantum: 64 }
    }
}

/// A TCP server as a weir [`Source`]: the frames of every connection
/// `listener` accepts. Start a pipeline from it with
/// [`Pipeline::try_from_source`](weir::Pipeline::try_from_source): a
/// connection's error is a failure of that connection, named by its host.
pub fn listen(listener: TcpListener, intake: Intake) -> Listener {
    Listener { listener, intake, closed: CancellationToken::new() }
}

/// The source [`listen`] returns; see there.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    intake: Intake,
    closed: CancellationToken,
}

impl Listener {
    /// A handle that closes the server; see [`Closer`].
    pub fn closer(&self) -> Closer {
        Closer(self.closed.clone())
    }
}

/// Closes a [`Listener`]'s server from elsewhere (a Ctrl-C handler): it
/// stops accepting connections (the listening socket closes) and reading
/// sockets at once, and the source ends after the frames already read.
#[derive(Debug, Clone)]
pub struct Closer(CancellationToken);

impl Closer {
    /// Stops accepting and reading.
    pub fn close(&self) {
        self.0.cancel();
    }
}

impl Source for Listener {
    type Item = Result<Frame, SourceFailed<IntakeError>>;

    fn start(self, ctx: StageContext) -> EnvelopeStream<Self::Item> {
        let (merge, sources) = Merge::new();
        let Listener { listener, intake, closed } = self;
        tokio::spawn(ctx.track(accept(listener, intake, sources, closed, ctx.clone())));
        Source::start(merge.quantum(intake.quantum.max(1)), ctx)
    }
}

/// Frames a connection hands over at once: the ones its socket buffer
/// already holds, up to this many (one hand-off per run of frames, not
/// per frame).
const HAND_OFF: usize = 64;

/// A run of frames a connection's task hands over.
type Run = Vec<Result<Frame, IntakeError>>;

/// Accepts connections and adds each to the merge, until the server is
/// closed, the run is shutting down or the merge has ended; the listener
/// is dropped then. Each connection's task is a task of the run (`ctx`).
async fn accept(
    listener: TcpListener,
    intake: Intake,
    sources: Sources<Frame, IntakeError>,
    closed: CancellationToken,
    ctx: StageContext,
) {
    let slots = Arc::new(Semaphore::new(intake.max_connections.max(1)));
    let shutting_down = ctx.shutting_down();
    tokio::pin!(shutting_down);
    loop {
        let (socket, peer, slot) = tokio::select! {
            () = closed.cancelled() => return,
            () = &mut shutting_down => return,
            () = sources.closed() => return,
            accepted = accept_one(&listener, &slots) => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
        };
        let (tx, rx) = mpsc::channel::<Run>(2);
        let reading = read(socket, peer, intake.max_frame, tx);
        let task = tokio::spawn(ctx.track(closed.clone().run_until_cancelled_owned(reading)));
        // The task stops when the merge drops the stream (removed, or the
        // run ended); the connection's slot is free then.
        let stop = (AbortOnDropHandle::new(task), slot);
        let frames = ReceiverStream::new(rx).flat_map(move |run| {
            let _ = &stop;
            futures::stream::iter(run)
        });
        if sources.try_add(&peer.ip().to_string(), frames).is_err() {
            return;
        }
    }
}

/// The next connection, once a slot for it is free.
async fn accept_one(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
    let (socket, peer) = listener.accept().await?;
    Ok((socket, peer, slot))
}

/// Reads a connection's frames and hands them over in runs, until its
/// first error, its end, or the merge's end.
async fn read(socket: TcpStream, peer: SocketAddr, max_frame: usize, tx: mpsc::Sender<Run>) {
    let codec = LengthDelimitedCodec::builder().max_frame_length(max_frame).new_codec();
    let mut frames = FramedRead::new(socket, codec);
    while let Some(first) = frames.next().await {
        // This frame, and the ones already read after it.
        let mut run = Vec::with_capacity(HAND_OFF);
        let mut next = Some(first);
        while let Some(read) = next.take() {
            match read {
                Ok(bytes) => run.push(Ok(Frame { peer, bytes: bytes.freeze() })),
                Err(source) => {
                    let error = if source.kind() == std::io::ErrorKind::InvalidData {
                        IntakeError::Oversize { peer, max: max_frame }
                    } else {
                        IntakeError::Io { peer, source }
                    };
                    tracing::warn!(%error, "closing the connection");
                    run.push(Err(error));
                    let _ = tx.send(run).await;
                    return;
                }
            }
            if run.len() < HAND_OFF {
                next = frames.next().now_or_never().flatten();
            }
        }
        if tx.send(run).await.is_err() {
            return;
        }
    }
}
