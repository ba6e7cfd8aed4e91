//! The reading task: own pending entries first, then new ones, with
//! reclaims from idle consumers in between; poison entries go to the
//! dead-letter stream.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use redis::{Cmd, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_core::StageContext;

use super::{Config, InFlight};
use crate::counters::Counts;
use crate::entry::{self, Entry, Read};
use crate::error::RedisError;
use crate::link::{Link, Request};

/// The cursor that starts a scan (XAUTOCLAIM) and that ends one.
const SCAN_START: &str = "0-0";

pub(crate) struct Reader {
    pub(crate) link: Link,
    pub(crate) config: Arc<Config>,
    pub(crate) out: mpsc::Sender<Vec<Entry>>,
    pub(crate) in_flight: InFlight,
    pub(crate) counts: Arc<Counts>,
    /// Cancelled when the source's stream is dropped.
    pub(crate) stop: CancellationToken,
    pub(crate) ctx: StageContext,
}

/// What a read was, for the counts and the delivery check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// New entries (`>`): delivered once.
    New,
    /// This consumer's own pending entries, read again.
    Own,
    /// Taken over from an idle consumer.
    Claimed,
}

/// Why reading stopped.
enum Stop {
    /// The pipeline stopped taking items, or dropped the source.
    Asked,
    Failed(RedisError),
}

impl From<RedisError> for Stop {
    fn from(error: RedisError) -> Self {
        Stop::Failed(error)
    }
}

impl Reader {
    /// Reads until the pipeline stops taking items; a Redis error that
    /// reconnecting cannot mend ends the run with it.
    pub(crate) async fn run(mut self) {
        if let Stop::Failed(error) = self.read().await {
            tracing::error!(error = %error, "the Redis source stopped reading");
            self.ctx.control().fail_run(self.ctx.name(), error);
        }
    }

    async fn read(&mut self) -> Stop {
        if let Err(stop) = self.until_stopped(Self::create_group).await {
            return stop;
        }
        // Own pending entries first: a restarted consumer finishes its own work.
        let mut own: Option<Bytes> = Some(Bytes::from_static(b"0"));
        let mut claim_cursor = Bytes::from_static(SCAN_START.as_bytes());
        let mut next_claim = Instant::now();
        loop {
            let generation = self.link.generation;
            let step = if let Some(cursor) = own.take() {
                self.until_stopped(|me| me.read_own(cursor)).await.map(|(read, next)| {
                    own = next;
                    (Kind::Own, read)
                })
            } else if Instant::now() >= next_claim {
                let cursor = claim_cursor.clone();
                self.until_stopped(|me| me.claim(cursor)).await.map(|(next, read)| {
                    if next == SCAN_START.as_bytes() {
                        next_claim = Instant::now() + self.config.claim_every;
                    }
                    claim_cursor = next;
                    (Kind::Claimed, read)
                })
            } else {
                let wait = self.config.block.min(next_claim - Instant::now()).max(Duration::from_millis(1));
                self.until_stopped(|me| me.read_new(wait)).await.map(|read| (Kind::New, read))
            };
            let (kind, read) = match step {
                Ok(step) => step,
                Err(stop) => return stop,
            };
            if generation > 0 && self.link.generation != generation {
                // A reply lost with the old connection may have delivered
                // entries to this consumer that it never saw: read its own
                // pending entries again (those in flight are skipped).
                own = Some(Bytes::from_static(b"0"));
            }
            if let Err(stop) = self.hand_over(kind, read).await {
                return stop;
            }
        }
    }

    /// Runs `step` until it ends or the pipeline stops taking items.
    async fn until_stopped<'a, T, F, Fut>(&'a mut self, step: F) -> Result<T, Stop>
    where
        F: FnOnce(&'a mut Self) -> Fut,
        Fut: Future<Output = Result<T, RedisError>> + 'a,
    {
        let stop = self.stop.clone();
        let shutdown = self.ctx.shutting_down();
        tokio::select! {
            biased;
            () = stop.cancelled() => Err(Stop::Asked),
            () = shutdown => Err(Stop::Asked),
            result = step(self) => result.map_err(Stop::Failed),
        }
    }

    async fn create_group(&mut self) -> Result<(), RedisError> {
        let c = &self.config;
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE").arg(&c.stream).arg(&c.group).arg(c.start.as_arg()).arg("MKSTREAM");
        match self.link.query("XGROUP CREATE", Request::Cmd(&cmd)).await {
            Ok(_) => Ok(()),
            Err(RedisError::Command { source, .. }) if source.code() == Some("BUSYGROUP") => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn read_group(&self, count: usize) -> Cmd {
        let c = &self.config;
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&c.group).arg(&c.consumer).arg("COUNT").arg(count);
        cmd
    }

    /// One page of this consumer's own pending entries after `cursor`;
    /// the next cursor is `None` when there are no more.
    async fn read_own(&mut self, cursor: Bytes) -> Result<(Read, Option<Bytes>), RedisError> {
        let mut cmd = self.read_group(self.config.batch);
        cmd.arg("STREAMS").arg(&self.config.stream).arg(&cursor[..]);
        let read = entry::read_group_reply(self.link.query("XREADGROUP", Request::Cmd(&cmd)).await?)?;
        let last = read.entries.iter().map(Entry::id_bytes).chain(&read.deleted).max_by(|a, b| cmp_ids(a, b));
        let next = last.cloned();
        Ok((read, next))
    }

    async fn read_new(&mut self, wait: Duration) -> Result<Read, RedisError> {
        let mut cmd = self.read_group(self.config.batch);
        cmd.arg("BLOCK").arg(wait.as_millis() as u64).arg("STREAMS").arg(&self.config.stream).arg(">");
        entry::read_group_reply(self.link.query("XREADGROUP", Request::Cmd(&cmd)).await?)
    }

    async fn claim(&mut self, cursor: Bytes) -> Result<(Bytes, Read), RedisError> {
        let c = &self.config;
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&c.stream)
            .arg(&c.group)
            .arg(&c.consumer)
            .arg(c.claim_idle.as_millis() as u64)
            .arg(&cursor[..])
            .arg("COUNT")
            .arg(c.batch);
        entry::autoclaim_reply(self.link.query("XAUTOCLAIM", Request::Cmd(&cmd)).await?)
    }

    /// Hands a read's entries to the pipeline: acknowledges the deleted
    /// ones, skips those already in flight, dead-letters the poison ones.
    async fn hand_over(&mut self, kind: Kind, read: Read) -> Result<(), Stop> {
        let Read { mut entries, deleted } = read;
        if !deleted.is_empty() {
            tracing::warn!(
                entries = deleted.len(),
                "pending entries were deleted from the stream before they were processed"
            );
            self.until_stopped(|me| me.ack(&deleted)).await?;
            Counts::add(&self.counts.trimmed, deleted.len());
        }
        if kind != Kind::New {
            {
                let in_flight = self.in_flight.lock().expect("not poisoned");
                entries.retain(|e| !in_flight.contains(e.id_bytes()));
            }
            if entries.is_empty() {
                return Ok(());
            }
            self.until_stopped(|me| me.count_deliveries(&mut entries)).await?;
            let max = self.config.max_deliveries;
            let (poison, good): (Vec<Entry>, Vec<Entry>) =
                entries.into_iter().partition(|e| e.deliveries() > max);
            entries = good;
            if !poison.is_empty() {
                self.until_stopped(|me| me.dead_letter(poison)).await?;
            }
        }
        let counter: &AtomicU64 = match kind {
            Kind::New => &self.counts.read,
            Kind::Own => &self.counts.redelivered,
            Kind::Claimed => &self.counts.reclaimed,
        };
        Counts::add(counter, entries.len());
        if entries.is_empty() {
            return Ok(());
        }
        self.in_flight.lock().expect("not poisoned").extend(entries.iter().map(|e| e.id_bytes().clone()));
        let stop = self.stop.clone();
        let shutdown = self.ctx.shutting_down();
        let sent = tokio::select! {
            biased;
            () = stop.cancelled() => false,
            () = shutdown => false,
            sent = self.out.send(entries) => sent.is_ok(),
        };
        // Entries not handed over stay pending on this consumer.
        if sent { Ok(()) } else { Err(Stop::Asked) }
    }

    /// Sets each entry's delivery count, which the group keeps
    /// (`XPENDING` over the entries' range, this consumer's only).
    async fn count_deliveries(&mut self, entries: &mut [Entry]) -> Result<(), RedisError> {
        let (Some(first), Some(last)) = (
            entries.iter().map(Entry::id_bytes).min_by(|a, b| cmp_ids(a, b)).cloned(),
            entries.iter().map(Entry::id_bytes).max_by(|a, b| cmp_ids(a, b)).cloned(),
        ) else {
            return Ok(());
        };
        let c = &self.config;
        // This consumer's in-flight entries may lie in the same range.
        let count = entries.len() + self.in_flight.lock().expect("not poisoned").len();
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&c.stream).arg(&c.group).arg(&first[..]).arg(&last[..]).arg(count).arg(&c.consumer);
        let counts: rustc_hash::FxHashMap<Bytes, u64> =
            entry::pending_reply(self.link.query("XPENDING", Request::Cmd(&cmd)).await?)?
                .into_iter()
                .collect();
        for entry in entries {
            if let Some(&n) = counts.get(entry.id_bytes()) {
                entry.set_deliveries(n);
            }
        }
        Ok(())
    }

    /// Moves poison entries to the dead-letter stream and acknowledges
    /// them, in one transaction (an entry is never both lost and kept).
    async fn dead_letter(&mut self, poison: Vec<Entry>) -> Result<(), RedisError> {
        let c = &self.config;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut ids = Vec::with_capacity(poison.len());
        for entry in &poison {
            let reason = format!(
                "delivered {} times, more than max_deliveries ({}): each consumer that took it stopped \
                 (crashed, was killed, or ended its run) before its outcome was durable",
                entry.deliveries(),
                c.max_deliveries
            );
            tracing::warn!(
                id = entry.id(),
                deliveries = entry.deliveries(),
                "poison entry moved to {}",
                c.dead_letter_stream
            );
            let xadd = pipe.cmd("XADD").arg(&c.dead_letter_stream).arg("*");
            for (name, value) in entry.fields() {
                xadd.arg(&name[..]).arg(&value[..]);
            }
            xadd.arg("weir.stream")
                .arg(&c.stream)
                .arg("weir.group")
                .arg(&c.group)
                .arg("weir.id")
                .arg(entry.id())
                .arg("weir.deliveries")
                .arg(entry.deliveries())
                .arg("weir.consumer")
                .arg(&c.consumer)
                .arg("weir.error")
                .arg(reason);
            ids.push(entry.id_bytes().clone());
        }
        let xack = pipe.cmd("XACK").arg(&c.stream).arg(&c.group);
        for id in &ids {
            xack.arg(&id[..]);
        }
        self.link.query("MULTI XADD XACK", Request::Pipe(&pipe)).await?;
        Counts::add(&self.counts.dead_lettered, poison.len());
        Ok(())
    }

    async fn ack(&mut self, ids: &[Bytes]) -> Result<(), RedisError> {
        let cmd = xack(&self.config, ids);
        self.link.query("XACK", Request::Cmd(&cmd)).await.map(|_: Value| ())
    }
}

/// `XACK stream group id…`.
pub(crate) fn xack(config: &Config, ids: &[Bytes]) -> Cmd {
    let mut cmd = redis::cmd("XACK");
    cmd.arg(&config.stream).arg(&config.group);
    for id in ids {
        cmd.arg(&id[..]);
    }
    cmd
}

/// Orders stream ids (`ms-seq`) as Redis does.
fn cmp_ids(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    fn parts(id: &[u8]) -> (u64, u64) {
        let text = std::str::from_utf8(id).unwrap_or("0-0");
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::cmp_ids;
    use std::cmp::Ordering;

    proptest::proptest! {
        /// Ids order as their (milliseconds, sequence) pairs do, not as text.
        #[test]
        fn ids_order_as_number_pairs(a in (0u64..1 << 50, 0u64..1000), b in (0u64..1 << 50, 0u64..1000)) {
            let text = |(ms, seq): (u64, u64)| format!("{ms}-{seq}");
            proptest::prop_assert_eq!(cmp_ids(text(a).as_bytes(), text(b).as_bytes()), a.cmp(&b));
        }
    }

    #[test]
    fn ids_order_by_time_then_sequence() {
        assert_eq!(cmp_ids(b"9-0", b"10-0"), Ordering::Less);
        assert_eq!(cmp_ids(b"10-2", b"10-11"), Ordering::Less);
        assert_eq!(cmp_ids(b"10-2", b"10-2"), Ordering::Equal);
    }
}
