//! The XADD sink: [`RedisSink`].

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use weir_core::{BuildError, ErrorClass, Sink, SinkError};
use weir_retry::RetryPolicy;

use crate::counters::{Counts, RedisCounters};
use crate::error::RedisError;
use crate::link::{Link, Request};
use crate::source::{default_reconnect, validate_link};

/// The fields of one entry, as a [`RedisSink`]'s encoding function writes
/// them.
///
/// # Examples
///
/// ```
/// use weir_redis::Fields;
///
/// fn encode(reading: &(u32, f64), fields: &mut Fields<'_>) {
///     fields.field("device", reading.0.to_string()).field("value", reading.1.to_string());
/// }
/// ```
pub struct Fields<'a> {
    cmd: &'a mut redis::Cmd,
    written: usize,
}

impl Fields<'_> {
    /// Adds a field (name and value, as bytes: a value may be binary).
    pub fn field(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.cmd.arg(name.as_ref()).arg(value.as_ref());
        self.written += 1;
        self
    }
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fields").field("written", &self.written).finish_non_exhaustive()
    }
}

/// Adds each item to a Redis stream (`XADD`), its fields written by a
/// function of yours.
///
/// `send` only queues the command; [`flush`](Sink::flush) sends every
/// queued XADD in one pipeline and returns once Redis has replied to all
/// of them, so an item is acknowledged upstream only when it is in the
/// stream. A flush that fails keeps the queued commands and sends them
/// again on the next flush, on a new connection (the
/// [reconnect policy](Self::reconnect) backs off between attempts); an
/// XADD whose reply was lost with a connection may then be added twice
/// (at-least-once, like every weir store). With
/// [`max_len`](Self::max_len) every XADD trims the stream to about that
/// many entries (`MAXLEN ~`).
///
/// # Errors
///
/// An item whose function writes no field is given back with a
/// [`RedisError::NoFields`] error, [`Permanent`](ErrorClass::Permanent).
///
/// # Examples
///
/// ```no_run
/// use weir_core::prelude::*;
/// use weir_redis::RedisSink;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sink = RedisSink::new("redis://127.0.0.1:6379/", "numbers", |n: &u32, fields| {
///     fields.field("n", n.to_string());
/// })
/// .max_len(1_000_000);
/// let report = Pipeline::from_iter(0..1000u32).sink(sink).run().await?;
/// assert_eq!(report.delivered(), 1000);
/// # Ok(())
/// # }
/// ```
pub struct RedisSink<T, F> {
    url: String,
    stream: String,
    max_len: Option<u64>,
    reconnect: RetryPolicy,
    encode: F,
    link: Option<Link>,
    pipe: redis::Pipeline,
    queued: usize,
    counters: RedisCounters,
    _items: PhantomData<fn(&T)>,
}

impl<T, F> RedisSink<T, F>
where
    F: Fn(&T, &mut Fields<'_>),
{
    /// A sink that adds items to `stream` on the server at `url`; nothing
    /// connects until the first flush.
    pub fn new(url: impl Into<String>, stream: impl Into<String>, encode: F) -> Self {
        Self {
            url: url.into(),
            stream: stream.into(),
            max_len: None,
            reconnect: default_reconnect(),
            encode,
            link: None,
            pipe: redis::pipe(),
            queued: 0,
            counters: RedisCounters::default(),
            _items: PhantomData,
        }
    }

    /// Trims the stream to about `entries` entries on every XADD
    /// (`MAXLEN ~ entries`): Redis trims whole nodes, so the stream may
    /// hold a few more.
    pub fn max_len(mut self, entries: u64) -> Self {
        self.max_len = Some(entries);
        self
    }

    /// How reconnections back off and when they give up (default:
    /// exponential from 50 ms, capped at 2 s, for 5 minutes).
    pub fn reconnect(mut self, policy: RetryPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// The sink's live counts ([`added`](RedisCounters::added),
    /// [`reconnects`](RedisCounters::reconnects)).
    pub fn counters(&self) -> RedisCounters {
        self.counters.clone()
    }
}

impl<T, F> Sink<T> for RedisSink<T, F>
where
    T: Send + 'static,
    F: Fn(&T, &mut Fields<'_>) + Send + 'static,
{
    type Error = RedisError;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, RedisError>> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream);
        if let Some(max_len) = self.max_len {
            cmd.arg("MAXLEN").arg("~").arg(max_len);
        }
        cmd.arg("*");
        let mut fields = Fields { cmd: &mut cmd, written: 0 };
        (self.encode)(&item, &mut fields);
        if fields.written == 0 {
            return Err(SinkError::with_item(RedisError::NoFields, item).with_class(ErrorClass::Permanent));
        }
        self.pipe.add_command(cmd);
        self.queued += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), RedisError> {
        if self.queued == 0 {
            return Ok(());
        }
        let link = self.link.get_or_insert_with(|| {
            let client = redis::Client::open(self.url.as_str()).expect("checked by validate");
            Link::new(
                client,
                self.url.clone(),
                self.reconnect.clone(),
                Duration::from_secs(10),
                self.counters.0.clone(),
            )
        });
        link.query("XADD", Request::Pipe(&self.pipe)).await?;
        Counts::add(&self.counters.0.added, self.queued);
        self.pipe.clear();
        self.queued = 0;
        Ok(())
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        if self.stream.is_empty() {
            return Err(BuildError::Invalid {
                stage: stage.to_owned(),
                message: "the stream name is empty".into(),
            });
        }
        validate_link(stage, &self.url, &self.reconnect)
    }
}

impl<T, F> fmt::Debug for RedisSink<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSink")
            .field("url", &self.url)
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}
