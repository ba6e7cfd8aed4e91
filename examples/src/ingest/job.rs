//! The ingest pipeline, in weir's own words: read → decode → validate →
//! enrich on N workers → batch → store, with every failure dead-lettered.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::future::Ready;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::{Serialize, Serializer};
use tokio::time::Instant;
use weir::Sink;
use weir::deadletter::{DeadLetter, DeadLetterExt, DeadLetterOptions, SinkDeadLetterExt};
use weir::fanout::{FanOut, FanOutExt};
use weir::flow::{Adaptive, AdaptiveExt, Guarded};
use weir::prelude::*;
use weir_packet::{DecodeError, Packet};

use super::generator::Generator;
use super::raw::{Origin, Raw};
use super::tcp::{Closer, Intake, IntakeError, Listener, listen};
use weir::deadletter::ReplayError;
use weir_redis::{Entry, RedisSource};

/// A frame as it arrived, with when (for the end-to-end latency).
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The frame and where it came from.
    pub raw: Raw,
    /// When it arrived.
    pub at: Instant,
}

impl Serialize for Arrival {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

/// A decoded packet with the frame it came from.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The frame, kept for its dead letter.
    pub arrival: Arrival,
    /// The packet.
    pub packet: Packet,
}

impl Serialize for Decoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.arrival.serialize(s)
    }
}

/// Why the source could not give a frame.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A TCP connection failed or sent an oversize frame.
    #[error(transparent)]
    Tcp(#[from] IntakeError),
    /// The frames file could not be read.
    #[error("frames file: {0}")]
    File(#[from] std::io::Error),
    /// A line of a dead-letter file being replayed is not a frame's record.
    #[error("replay: {0}")]
    Replay(#[from] weir::deadletter::BadLine),
    /// A Redis stream entry without the frame field.
    #[error("Redis entry {id} has no `{FRAME_FIELD}` field; write frames with `ingest load`")]
    NoFrame {
        /// The entry's id.
        id: String,
    },
}

/// The field of a Redis stream entry that holds a frame.
pub const FRAME_FIELD: &str = "frame";

/// A Redis stream entry's frame, as it arrived.
///
/// # Errors
///
/// [`ReadError::NoFrame`] for an entry without the frame field.
pub fn entry_frame(mut entry: Entry) -> Result<Arrival, ReadError> {
    let bytes =
        entry.take_field(FRAME_FIELD).ok_or_else(|| ReadError::NoFrame { id: entry.id().to_owned() })?;
    let origin = Origin::Redis(entry.id().to_owned());
    Ok(Arrival { raw: Raw { origin, bytes }, at: Instant::now() })
}

/// A packet that decodes but cannot be stored as it is.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A timestamp before 2001 or more than a day ahead.
    #[error("timestamp {timestamp_ms} ms is out of range (2001 to a day from now); fix the device's clock")]
    Timestamp {
        /// The packet's timestamp.
        timestamp_ms: u64,
    },
}

/// What a dead letter of this job holds: one frame (read, decode,
/// validate, enrich) or a batch the store refused for good.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Replayed {
    One(Raw),
    Batch(Vec<Raw>),
}

/// Frames as they arrive, or why one could not be read.
pub type Frames = BoxStream<'static, Result<Arrival, ReadError>>;

/// Where frames come from.
#[derive(Debug)]
pub enum Source {
    /// The built-in generator.
    Generator(Generator),
    /// A TCP server.
    Listen(tokio::net::TcpListener, Intake),
    /// A file of length-prefixed frames.
    File(std::path::PathBuf),
    /// The frames of a dead-letter file written by an earlier run, to
    /// store them after a fix (a store that was down, a validation that
    /// was too strict). Frames that fail again are dead-lettered again.
    Replay(std::path::PathBuf),
    /// A member of a Redis Streams consumer group: entries are
    /// acknowledged once stored or dead-lettered.
    Redis(Box<RedisSource>),
}

impl Source {
    /// The frames, as results (the TCP server and Redis are started by
    /// [`pipeline`] as sources of their own).
    ///
    /// # Errors
    ///
    /// A dead-letter file to replay that cannot be opened.
    fn frames(self) -> Result<Frames, ReplayError> {
        let stream = match self {
            Source::Generator(plan) => futures::stream::iter(
                plan.frames().enumerate().map(move |(n, g)| Ok(arrive(Origin::Generated(n as u64), g.frame))),
            )
            .boxed(),
            // `pipeline` starts a Redis source itself, with its acknowledgements.
            Source::Listen(..) | Source::Redis(_) => unreachable!("started as sources by `pipeline`"),
            Source::File(path) => file_frames(path)
                .enumerate()
                .map(move |(n, frame)| {
                    frame.map(|bytes| arrive(Origin::File(n as u64), bytes)).map_err(ReadError::from)
                })
                .boxed(),
            Source::Replay(path) => weir::deadletter::replay::<Replayed>(path)
                .records()?
                .flat_map(move |record| {
                    let frames: Vec<Result<Arrival, ReadError>> = match record {
                        Ok(record) => match record.into_item() {
                            Replayed::One(raw) => vec![Ok(arrive(raw.origin, raw.bytes))],
                            Replayed::Batch(raws) => {
                                raws.into_iter().map(|raw| Ok(arrive(raw.origin, raw.bytes))).collect()
                            }
                        },
                        Err(bad) => vec![Err(ReadError::from(bad))],
                    };
                    futures::stream::iter(frames)
                })
                .boxed(),
        };
        Ok(stream)
    }
}

/// A frame arriving now.
fn arrive(origin: Origin, bytes: bytes::Bytes) -> Arrival {
    Arrival { raw: Raw { origin, bytes }, at: Instant::now() }
}

/// The TCP server's frames as the job's arrivals; a connection's error
/// keeps the connection's own message (it names the peer).
struct Arrivals(Listener);

impl weir::Source for Arrivals {
    type Item = Result<Arrival, ReadError>;

    fn start(self, ctx: StageContext) -> EnvelopeStream<Self::Item> {
        self.0
            .start(ctx)
            .map(|envelope| {
                envelope.map(|frame| match frame {
                    Ok(frame) => Ok(arrive(Origin::Peer(frame.peer), frame.bytes)),
                    Err(failed) => Err(ReadError::from(failed.error)),
                })
            })
            .boxed()
    }
}

/// The length-prefixed frames of a file, read lazily.
fn file_frames(path: std::path::PathBuf) -> impl Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures::stream::once(tokio::fs::File::open(path))
        .map(|file| match file {
            Ok(file) => tokio_util::codec::FramedRead::new(
                file,
                tokio_util::codec::LengthDelimitedCodec::builder()
                    .max_frame_length(weir_packet::MAX_FRAME_LEN)
                    .new_codec(),
            )
            .map(|frame| frame.map(bytes::BytesMut::freeze))
            .boxed(),
            Err(error) => futures::stream::once(async { Err(error) }).boxed(),
        })
        .flatten()
}

/// How the job runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Enrichment workers (with `adaptive`, the most that run at once).
    pub workers: usize,
    /// Whether the enrichment workers run under an adaptive concurrency
    /// limit (between 1 and `workers`), found from their round-trip time.
    pub adaptive: bool,
    /// Rows per store transaction.
    pub batch: usize,
    /// The longest a partial batch waits.
    pub batch_wait: Duration,
    /// How long a shutdown lets in-flight items drain.
    pub drain_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            workers: 4,
            adaptive: true,
            batch: 5_000,
            batch_wait: Duration::from_millis(50),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// What the job counts besides the report: malformed frames by reason,
/// and the end-to-end latency from arrival to commit.
#[derive(Debug, Clone)]
pub struct Tallies {
    /// Malformed frames by decoder reason.
    pub malformed: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    /// Microseconds from a frame's arrival to its row's commit.
    pub latency: Arc<Mutex<hdrhistogram::Histogram<u64>>>,
}

impl Default for Tallies {
    fn default() -> Self {
        Self::new()
    }
}

impl Tallies {
    /// Empty tallies.
    pub fn new() -> Self {
        // 1 µs to an hour, 3 significant digits; longer latencies count
        // as an hour (saturating_record clamps and never resizes).
        let histogram =
            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Self { malformed: Arc::default(), latency: Arc::new(Mutex::new(histogram)) }
    }
}

/// An enriched row on its way to the store.
#[derive(Debug, Clone)]
pub struct Row {
    /// The packet.
    pub packet: Packet,
    /// When its frame arrived.
    pub arrived: Instant,
    /// The frame, for its dead letter.
    pub raw: Raw,
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

/// Checks what decoding cannot: the timestamp's range.
fn validate(decoded: Decoded) -> Result<Decoded, Invalid> {
    const Y2001_MS: u64 = 978_307_200_000;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(u64::MAX, |d| d.as_millis() as u64);
    let timestamp_ms = decoded.packet.timestamp_ms();
    if timestamp_ms < Y2001_MS || timestamp_ms > now_ms.saturating_add(86_400_000) {
        return Err(Invalid::Timestamp { timestamp_ms });
    }
    Ok(decoded)
}

/// The whole job, connected to `store` (rows in batches) and `dead` (a
/// dead-letter sink for every failure: read errors, malformed and invalid
/// frames, batches the store refused for good), ready to run.
///
/// Returns the runnable job and, for a TCP source, the handle that closes
/// its server.
///
/// # Errors
///
/// A dead-letter file to replay that cannot be opened.
pub fn pipeline<St, D>(
    source: Source,
    settings: Settings,
    store: St,
    dead: D,
    tallies: &Tallies,
) -> Result<(Runnable, Option<Closer>), ReplayError>
where
    St: Sink<Vec<Packet>>,
    D: Sink<DeadLetter<()>>
        + Sink<DeadLetter<Entry>>
        + Sink<DeadLetter<Arrival>>
        + Sink<DeadLetter<Decoded>>
        + Sink<DeadLetter<Vec<Row>>>
        + Clone,
{
    let read_errors = || DeadLetterOptions::new().name("read-errors");
    let (read, closer) = match source {
        Source::Redis(redis) => (
            Pipeline::from_source(*redis)
                .try_map("read", entry_frame)
                .dead_letter_with(dead.clone(), read_errors()),
            None,
        ),
        Source::Listen(listener, intake) => {
            let server = listen(listener, intake);
            let closer = server.closer();
            let read = Pipeline::try_from_source("read", Arrivals(server));
            (read.dead_letter_with(dead.clone(), read_errors()), Some(closer))
        }
        source => {
            (Pipeline::try_new("read", source.frames()?).dead_letter_with(dead.clone(), read_errors()), None)
        }
    };
    Ok((process(read, settings, store, dead, tallies), closer))
}

/// Everything after the read: decode, validate, enrich, batch, store.
fn process<St, D>(
    read: Pipeline<Arrival>,
    settings: Settings,
    store: St,
    dead: D,
    tallies: &Tallies,
) -> Runnable
where
    St: Sink<Vec<Packet>>,
    D: Sink<DeadLetter<Arrival>> + Sink<DeadLetter<Decoded>> + Sink<DeadLetter<Vec<Row>>> + Clone,
{
    let malformed = tallies.malformed.clone();
    let options = |name: &str| DeadLetterOptions::new().name(name);
    read.try_map("decode", move |arrival: Arrival| {
        weir_packet::decode(arrival.raw.bytes.clone()).map(|packet| Decoded { arrival, packet }).inspect_err(
            |error: &DecodeError| {
                *malformed.lock().expect("not poisoned").entry(error.reason()).or_default() += 1
            },
        )
    })
    .dead_letter_with(dead.clone(), options("malformed"))
    .try_map("validate", validate)
    .dead_letter_with(dead.clone(), options("invalid"))
    .fan_out("enrich", FanOut::workers(settings.workers), Enrich::from(settings))
    .dead_letter_with(dead.clone(), options("enrich-failures"))
    .batch("batch", settings.batch, settings.batch_wait)
    .sink_dead_lettering_with(
        "store",
        Timed::new(store, tallies.latency.clone()),
        dead,
        options("store-failures"),
    )
    .drain_timeout(settings.drain_timeout)
}

/// Enrichment: a decoded packet becomes a row.
fn enrich(d: Decoded) -> Ready<Result<Row, Infallible>> {
    std::future::ready(Ok(Row { packet: d.packet, arrived: d.arrival.at, raw: d.arrival.raw }))
}

type EnrichFn = fn(Decoded) -> Ready<Result<Row, Infallible>>;

/// The enrichment workers' operation: under an adaptive limit (between 1
/// and the workers), or all of them at once.
enum Enrich {
    Adaptive(Guarded<EnrichFn, Adaptive>),
    Fixed,
}

impl From<Settings> for Enrich {
    fn from(settings: Settings) -> Self {
        if !settings.adaptive {
            return Enrich::Fixed;
        }
        let most = u32::try_from(settings.workers.max(1)).unwrap_or(u32::MAX);
        Enrich::Adaptive((enrich as EnrichFn).adaptive(Adaptive::new().bounds(1, most)))
    }
}

impl Operation<Decoded> for Enrich {
    type Output = Row;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Row, Infallible>>;

    fn apply(&self, decoded: Decoded) -> Self::Future {
        match self {
            Enrich::Adaptive(guarded) => guarded.apply(decoded),
            Enrich::Fixed => Box::pin(enrich(decoded)),
        }
    }

    fn validate(&self, stage: &str) -> Result<(), weir::BuildError> {
        match self {
            Enrich::Adaptive(guarded) => guarded.validate(stage),
            Enrich::Fixed => Ok(()),
        }
    }

    fn observe(&self, metrics: &weir::StageMetrics) {
        if let Enrich::Adaptive(guarded) = self {
            guarded.observe(metrics);
        }
    }
}

/// The store, timing each row from its frame's arrival to its commit.
struct Timed<St> {
    store: St,
    latency: Arc<Mutex<hdrhistogram::Histogram<u64>>>,
    /// Arrivals of the rows sent and not yet committed.
    pending: Vec<Instant>,
}

impl<St> Timed<St> {
    fn new(store: St, latency: Arc<Mutex<hdrhistogram::Histogram<u64>>>) -> Self {
        Self { store, latency, pending: Vec::new() }
    }
}

impl<St: Sink<Vec<Packet>>> Sink<Vec<Row>> for Timed<St> {
    type Error = St::Error;

    async fn send(&mut self, rows: Vec<Row>) -> Result<(), SinkError<Vec<Row>, St::Error>> {
        let (packets, rest): (Vec<Packet>, Vec<(Instant, Raw)>) =
            rows.into_iter().map(|r| (r.packet, (r.arrived, r.raw))).unzip();
        match self.store.send(packets).await {
            Ok(()) => {
                self.pending.extend(rest.iter().map(|(at, _)| *at));
                Ok(())
            }
            Err(error) => {
                // Give the rows back whole, as they came.
                let class = error.class();
                let (error, packets) = error.into_parts();
                Err(match packets {
                    Some(packets) => {
                        let rows = packets
                            .into_iter()
                            .zip(rest)
                            .map(|(packet, (arrived, raw))| Row { packet, arrived, raw })
                            .collect();
                        SinkError::with_item(error, rows).with_class(class)
                    }
                    None => SinkError::lost(error).with_class(class),
                })
            }
        }
    }

    async fn flush(&mut self) -> Result<(), St::Error> {
        self.store.flush().await?;
        let now = Instant::now();
        let mut latency = self.latency.lock().expect("not poisoned");
        for at in self.pending.drain(..) {
            latency.saturating_record(u64::try_from((now - at).as_micros()).unwrap_or(u64::MAX));
        }
        Ok(())
    }

    fn last_attempt(&self) -> Option<&weir::Attempt> {
        self.store.last_attempt()
    }

    fn validate(&self, stage: &str) -> Result<(), weir::BuildError> {
        self.store.validate(stage)
    }

    fn observe(&self, metrics: &weir::StageMetrics) {
        self.store.observe(metrics);
    }
}
