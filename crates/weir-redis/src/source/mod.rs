//! The consumer-group source: [`RedisSource`].

mod acker;
mod lease;
mod reader;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rustc_hash::FxHashSet;
use tokio_util::sync::CancellationToken;
use weir_core::{BuildError, EnvelopeStream, Source, StageContext};
use weir_retry::RetryPolicy;

use crate::counters::RedisCounters;
use crate::entry::Entry;
use crate::link::Link;

/// Where a consumer group that does not exist yet starts reading.
///
/// # Examples
///
/// ```
/// use weir_redis::{RedisSource, StartId};
///
/// let source = RedisSource::new("redis://127.0.0.1/", "packets", "ingest", "a").start_id(StartId::New);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartId {
    /// Every entry already in the stream (`0`).
    #[default]
    Beginning,
    /// Only entries added from now on (`$`).
    New,
    /// Entries after this id.
    After(String),
}

impl StartId {
    fn as_arg(&self) -> &str {
        match self {
            StartId::Beginning => "0",
            StartId::New => "$",
            StartId::After(id) => id,
        }
    }
}

/// The source's settings, shared by its tasks.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) stream: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
    pub(crate) start: StartId,
    pub(crate) batch: usize,
    pub(crate) block: Duration,
    pub(crate) claim_idle: Duration,
    pub(crate) claim_every: Duration,
    pub(crate) max_deliveries: u64,
    pub(crate) dead_letter_stream: String,
    pub(crate) prefetch: usize,
    pub(crate) ack_batch: usize,
    pub(crate) reconnect: RetryPolicy,
}

/// A member of a Redis Streams consumer group, as a weir [`Source`]:
/// many processes on many hosts share a stream's entries, and each entry
/// is acknowledged (`XACK`) only once its outcome is durable.
///
/// Start a pipeline from it with
/// [`Pipeline::from_source`](weir_core::Pipeline::from_source). Its items
/// are [`Entry`]s; decode them with the pipeline's own fallible stages
/// (`try_map`), so that a malformed entry is a failure like any other:
/// dead-lettered with its reason, then acknowledged.
///
/// # What it does
///
/// - **Group.** Creates the stream and the group if they are missing
///   (`XGROUP CREATE … MKSTREAM`), reading from [`start_id`](Self::start_id).
/// - **Own pending entries first.** On start, it reads again the entries
///   the group delivered to this consumer name and that were never
///   acknowledged (a previous run crashed or was killed): a restarted
///   consumer finishes its own work first. It does so again after a
///   reconnection, since a reply lost with a connection leaves entries
///   pending on this consumer that it never saw.
/// - **Reads in batches** (`XREADGROUP … COUNT batch BLOCK block`) on a
///   task of its own, [`prefetch`](Self::prefetch) batches ahead of the
///   pipeline: a pipeline that slows down stops the reads (backpressure),
///   never the other way round.
/// - **Acknowledges in batches**, on another task, each entry once the
///   sink flushed it or the dead-letter sink stored it (weir's end-to-end
///   acknowledgements), so that a crash before that means the entry is
///   delivered again (at-least-once). An entry filtered on purpose is
///   acknowledged too.
/// - **Reclaims** entries that other consumers took and left idle longer
///   than [`claim_idle`](Self::claim_idle) (a consumer that crashed or
///   was killed), every [`claim_every`](Self::claim_every)
///   (`XAUTOCLAIM`).
/// - **Poison entries.** An entry delivered more than
///   [`max_deliveries`](Self::max_deliveries) times (every consumer that
///   took it died before its outcome was durable) is not handed to the
///   pipeline again: it is added to the [dead-letter
///   stream](Self::dead_letter_stream) with its fields and its context
///   (stream, group, id, deliveries, the last consumer, the reason), and
///   acknowledged, in one transaction.
/// - **Reconnects** with the [reconnect policy](Self::reconnect)'s
///   backoff when a connection fails, on the reading and the
///   acknowledging side alike; an acknowledgement is sent again until it
///   is confirmed (XACK is idempotent), and an entry is never
///   acknowledged before its outcome is durable. When the policy gives
///   up, the run ends with [`RedisError::GaveUp`](crate::RedisError).
///   Acknowledgements keep trying for at most 10 seconds of an outage
///   (then the entries stay pending, are counted in
///   [`ack_failures`](RedisCounters::ack_failures) and are delivered
///   again later), so a run that ends while Redis is unreachable (abort,
///   a drain deadline) returns within seconds.
/// - **Graceful shutdown** stops reading at once, lets the pipeline drain,
///   acknowledges what was stored, and leaves the entries it read but did
///   not finish pending, for another consumer (after `claim_idle`) or for
///   this consumer name's next start. The run returns only once the last
///   acknowledgement is confirmed.
///
/// # Choosing `claim_idle`
///
/// Redis knows an entry is abandoned only by its idle time. While an
/// entry is in this consumer's hands (read ahead, in the pipeline, its
/// acknowledgement on its way) the source keeps it fresh (`XCLAIM …
/// JUSTID` every third of `claim_idle`, which neither counts as a
/// delivery nor lets another consumer take it). So `claim_idle` is how
/// long a consumer may stop responding (a pause, a lost network) before
/// its entries go to the others: long enough to ride out a pause, short
/// enough that a dead consumer's entries are not stuck for long. An
/// entry taken over from a consumer that was only slow is stored twice. The store must absorb duplicates
/// anyway (at-least-once); weir's SQLite and PostgreSQL sinks do.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetter, DeadLetterExt};
/// use weir_redis::{Entry, RedisSource};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("entry has no `n` field")]
/// struct NoNumber;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let source = RedisSource::new("redis://127.0.0.1:6379/", "numbers", "sum", "host-a")
///     .claim_idle(Duration::from_secs(60))
///     .max_deliveries(5);
/// // Malformed entries keep their fields in their dead letters, then are acknowledged.
/// let (dead, _records) = sink::collect::<DeadLetter<Entry>>();
/// let handle = Pipeline::from_source(source)
///     .try_map("decode", |e: Entry| e.field("n").map(|n| n.len()).ok_or(NoNumber))
///     .dead_letter(dead)
///     .batch("batch", 500, Duration::from_millis(20))
///     .sink(sink::drain())
///     .spawn()?;
/// tokio::signal::ctrl_c().await?;
/// let report = handle.shutdown().await?; // drains, acknowledges, returns
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisSource {
    config: Config,
    counters: RedisCounters,
}

impl RedisSource {
    /// A member named `consumer` of the consumer group `group` of the
    /// stream `stream` on the Redis server at `url`
    /// (`redis://host:port/db`). Nothing connects until the run starts.
    /// Each process (or host) that shares the work needs a consumer name
    /// of its own that stays the same across its restarts, so that it
    /// finds its own pending entries again.
    pub fn new(
        url: impl Into<String>,
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> Self {
        let stream = stream.into();
        let config = Config {
            url: url.into(),
            dead_letter_stream: format!("{stream}:dead"),
            stream,
            group: group.into(),
            consumer: consumer.into(),
            start: StartId::default(),
            batch: 500,
            block: Duration::from_secs(1),
            claim_idle: Duration::from_secs(30),
            claim_every: Duration::from_secs(5),
            max_deliveries: 5,
            prefetch: 4,
            ack_batch: 4096,
            reconnect: default_reconnect(),
        };
        Self { config, counters: RedisCounters::default() }
    }

    /// Where a group created by this source starts (default:
    /// [`StartId::Beginning`]). Ignored when the group exists.
    pub fn start_id(mut self, start: StartId) -> Self {
        self.config.start = start;
        self
    }

    /// Entries asked for in one read (default 500).
    pub fn batch(mut self, entries: usize) -> Self {
        self.config.batch = entries;
        self
    }

    /// The longest one read waits for new entries (default 1 s). Shutdown
    /// does not wait for it.
    pub fn block(mut self, block: Duration) -> Self {
        self.config.block = block;
        self
    }

    /// How long an entry stays pending on another consumer, untouched,
    /// before this one takes it over (default 30 s); see the type's docs.
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.config.claim_idle = idle;
        self
    }

    /// How often to look for entries to reclaim (default 5 s).
    pub fn claim_every(mut self, every: Duration) -> Self {
        self.config.claim_every = every;
        self
    }

    /// Deliveries after which an entry goes to the dead-letter stream
    /// instead of the pipeline (default 5).
    pub fn max_deliveries(mut self, deliveries: u64) -> Self {
        self.config.max_deliveries = deliveries;
        self
    }

    /// The stream poison entries go to (default `<stream>:dead`).
    pub fn dead_letter_stream(mut self, stream: impl Into<String>) -> Self {
        self.config.dead_letter_stream = stream.into();
        self
    }

    /// Batches read ahead of the pipeline (default 4).
    pub fn prefetch(mut self, batches: usize) -> Self {
        self.config.prefetch = batches;
        self
    }

    /// How reconnections back off and when they give up (default:
    /// exponential from 50 ms, capped at 2 s, for 5 minutes).
    pub fn reconnect(mut self, policy: RetryPolicy) -> Self {
        self.config.reconnect = policy;
        self
    }

    /// The source's live counts.
    pub fn counters(&self) -> RedisCounters {
        self.counters.clone()
    }

    fn link(&self, response_timeout: Duration, policy: RetryPolicy) -> Link {
        let client = redis::Client::open(self.config.url.as_str()).expect("checked by validate");
        Link::new(client, self.config.url.clone(), policy, response_timeout, self.counters.0.clone())
    }
}

/// Reconnect for up to 5 minutes, backing off to 2 s.
pub(crate) fn default_reconnect() -> RetryPolicy {
    RetryPolicy::exponential(Duration::from_millis(50))
        .cap(Duration::from_secs(2))
        .max_attempts(u32::MAX)
        .max_elapsed(Duration::from_secs(300))
}

/// Checks a Redis URL and a reconnect policy, for a source or a sink.
pub(crate) fn validate_link(stage: &str, url: &str, policy: &RetryPolicy) -> Result<(), BuildError> {
    let invalid = |message: String| BuildError::Invalid { stage: stage.to_owned(), message };
    if let Err(error) = redis::Client::open(url) {
        return Err(invalid(format!("{url:?} is not a Redis URL ({error}); write redis://host:port/db")));
    }
    policy.validate().map_err(|error| invalid(format!("the reconnect policy: {error}")))
}

impl Source for RedisSource {
    type Item = Entry;

    fn validate(&self) -> Result<(), BuildError> {
        let c = &self.config;
        let stage = "source";
        let zero = |what| Err(BuildError::Zero { stage: stage.to_owned(), what });
        let invalid = |message: String| Err(BuildError::Invalid { stage: stage.to_owned(), message });
        validate_link(stage, &c.url, &c.reconnect)?;
        for (what, name) in [("stream", &c.stream), ("group", &c.group), ("consumer", &c.consumer)] {
            if name.is_empty() {
                return invalid(format!("the {what} name is empty; name it"));
            }
        }
        if c.dead_letter_stream == c.stream {
            return invalid("the dead-letter stream is the stream itself; name another one".into());
        }
        if let StartId::After(id) = &c.start
            && crate::entry::parse_id(id).is_none()
        {
            return invalid(format!(
                "the start id {id:?} is not a stream id; write <milliseconds>-<sequence>, e.g. 1700000000000-0"
            ));
        }
        match () {
            _ if c.batch == 0 => zero("the read batch"),
            _ if c.batch > 1_000_000 || c.prefetch > 1_000_000 => {
                invalid("the read batch and the prefetch are at most 1,000,000".into())
            }
            _ if c.prefetch == 0 => zero("the prefetch"),
            _ if c.max_deliveries == 0 => zero("max_deliveries"),
            _ if c.block.is_zero() => zero("the block time (Redis would block forever)"),
            _ if c.claim_idle.is_zero() => zero("claim_idle (every pending entry would be taken over)"),
            _ if c.claim_every.is_zero() => zero("claim_every"),
            _ if c.block > Duration::from_secs(3600) || c.claim_idle > Duration::from_secs(86_400 * 365) => {
                invalid("block is at most an hour and claim_idle at most a year".into())
            }
            _ => Ok(()),
        }
    }

    fn start(self, ctx: StageContext) -> EnvelopeStream<Entry> {
        let in_flight: InFlight = Arc::default();
        let stop = CancellationToken::new();
        let (batches_tx, batches) = tokio::sync::mpsc::channel(self.config.prefetch);
        let (settle_tx, settled) = tokio::sync::mpsc::unbounded_channel();
        let config = Arc::new(self.config.clone());
        let reader = reader::Reader {
            link: self.link(self.config.block + Duration::from_secs(5), self.config.reconnect.clone()),
            config: config.clone(),
            out: batches_tx,
            in_flight: in_flight.clone(),
            counts: self.counters.0.clone(),
            stop: stop.clone(),
            ctx: ctx.clone(),
            next_keepalive: tokio::time::Instant::now(),
        };
        tokio::spawn(ctx.track(reader.run()));
        let patience = match self.config.reconnect.get_max_elapsed() {
            Some(max) if max <= acker::ACK_PATIENCE => self.config.reconnect.clone(),
            _ => self.config.reconnect.clone().max_elapsed(acker::ACK_PATIENCE),
        };
        let acker = acker::Acker {
            link: self.link(Duration::from_secs(5), patience),
            degraded: false,
            config,
            settled,
            in_flight,
            counts: self.counters.0.clone(),
        };
        tokio::spawn(ctx.track(acker.run()));
        lease::Leased::new(batches, settle_tx, stop.drop_guard()).boxed()
    }
}

/// The ids this source handed to the pipeline and has not yet
/// acknowledged or released: a read of this consumer's own pending
/// entries skips them.
pub(crate) type InFlight = Arc<Mutex<FxHashSet<Bytes>>>;

use futures::StreamExt as _;
