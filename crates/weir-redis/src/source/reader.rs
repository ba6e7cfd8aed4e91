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

/// Adds an entry to the dead-letter stream (`KEYS[1]`), then acknowledges
/// it in the stream (`KEYS[2]`) for the group `ARGV[1]` (id `ARGV[2]`);
/// the fields follow. An error in the XADD ends the script first.
const DEAD_LETTER_SCRIPT: &str =
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))\nreturn redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])";

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
    /// When the entries in this consumer's hands are next kept fresh.
    pub(crate) next_keepalive: Instant,
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
            let error = match error {
                RedisError::Command { source, .. } if source.code() == Some("NOGROUP") => {
                    RedisError::GroupGone {
                        stream: self.config.stream.clone(),
                        group: self.config.group.clone(),
                        source,
                    }
                }
                error => error,
            };
            tracing::error!(error = %error, "the Redis source stopped reading");
            self.ctx.control().fail_run(self.ctx.name(), error);
        }
    }

    async fn read(&mut self) -> Stop {
        if let Err(stop) = self.until_stopped(Self::create_group).await {
            return stop;
        }
        // Own pending entries first: a restarted consumer finishes its own work.
        let mut own: Option<Bytes> = Some(Bytes::new());
        let mut claim_cursor = Bytes::from_static(SCAN_START.as_bytes());
        let mut next_claim = Instant::now();
        self.next_keepalive = Instant::now() + self.keepalive_every();
        loop {
            let generation = self.link.generation;
            if Instant::now() >= self.next_keepalive
                && let Err(stop) = self.until_stopped(Self::keep_alive).await
            {
                return stop;
            }
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
                let due = next_claim.min(self.next_keepalive);
                let wait = self.config.block.min(due - Instant::now()).max(Duration::from_millis(1));
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
                own = Some(Bytes::new());
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

    /// One page of this consumer's own pending entries after `cursor`
    /// (`XPENDING`, which counts no delivery), taken again with `XCLAIM`
    /// except those still in flight here (so their delivery counts do not
    /// grow while they are worked on); the next cursor is `None` when
    /// there are no more. Each entry's deliveries are the group's count.
    async fn read_own(&mut self, cursor: Bytes) -> Result<(Read, Option<Bytes>), RedisError> {
        let c = &self.config;
        let start = if cursor.is_empty() { "-".to_owned() } else { id_after(&cursor) };
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&c.stream).arg(&c.group).arg(start).arg("+").arg(c.batch).arg(&c.consumer);
        let rows = entry::pending_reply(self.link.query("XPENDING", Request::Cmd(&cmd)).await?)?;
        let Some((last, _)) = rows.last() else { return Ok((Read::default(), None)) };
        let next = Some(last.clone());
        let rows: Vec<(Bytes, u64)> = {
            let in_flight = self.in_flight.lock().expect("not poisoned");
            rows.into_iter().filter(|(id, _)| !in_flight.contains(id)).collect()
        };
        if rows.is_empty() {
            return Ok((Read::default(), next));
        }
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&c.stream).arg(&c.group).arg(&c.consumer).arg(0);
        for (id, _) in &rows {
            cmd.arg(&id[..]);
        }
        let mut read = entry::claim_reply(self.link.query("XCLAIM", Request::Cmd(&cmd)).await?)?;
        // XCLAIM counted this delivery; an id it did not return was deleted
        // from the stream (Redis 7 drops it from the pending list).
        let counts: rustc_hash::FxHashMap<Bytes, u64> = rows.into_iter().collect();
        for entry in &mut read.entries {
            entry.set_deliveries(counts.get(entry.id_bytes()).map_or(1, |n| n + 1));
        }
        // (Ids returned as deleted are counted when they are acknowledged.)
        let gone = counts.len().saturating_sub(read.entries.len() + read.deleted.len());
        Counts::add(&self.counts.trimmed, gone);
        Ok((read, next))
    }

    /// Keeps the entries in this consumer's hands fresh (`XCLAIM … JUSTID`,
    /// which counts no delivery), so that no consumer (this one included)
    /// takes them over while they are worked on.
    async fn keep_alive(&mut self) -> Result<(), RedisError> {
        self.next_keepalive = Instant::now() + self.keepalive_every();
        let ids: Vec<Bytes> = self.in_flight.lock().expect("not poisoned").iter().cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let c = &self.config;
        let mut pipe = redis::pipe();
        for chunk in ids.chunks(1000) {
            let cmd = pipe.cmd("XCLAIM").arg(&c.stream).arg(&c.group).arg(&c.consumer).arg(0);
            for id in chunk {
                cmd.arg(&id[..]);
            }
            cmd.arg("JUSTID").ignore();
        }
        self.link.query("XCLAIM JUSTID", Request::Pipe(&pipe)).await.map(drop)
    }

    /// How often entries in flight are kept fresh: three times per `claim_idle`.
    fn keepalive_every(&self) -> Duration {
        (self.config.claim_idle / 3).max(Duration::from_millis(1))
    }

    async fn read_new(&mut self, wait: Duration) -> Result<Read, RedisError> {
        let c = &self.config;
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&c.group).arg(&c.consumer).arg("COUNT").arg(c.batch);
        cmd.arg("BLOCK").arg(wait.as_millis() as u64).arg("STREAMS").arg(&c.stream).arg(">");
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
            if kind == Kind::Claimed {
                {
                    let in_flight = self.in_flight.lock().expect("not poisoned");
                    entries.retain(|e| !in_flight.contains(e.id_bytes()));
                }
                self.until_stopped(|me| me.count_deliveries(&mut entries)).await?;
            }
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
        // Entries not handed over stay pending on this consumer.
        match self.until_stopped(Self::room).await? {
            Some(room) => {
                room.send(entries);
                Ok(())
            }
            None => Err(Stop::Asked),
        }
    }

    /// Waits for room in the pipeline's queue (backpressure may take
    /// long), keeping the entries in hand fresh meanwhile; `None` when the
    /// pipeline dropped the source.
    async fn room(&mut self) -> Result<Option<mpsc::OwnedPermit<Vec<Entry>>>, RedisError> {
        let room = self.out.clone().reserve_owned();
        tokio::pin!(room);
        loop {
            tokio::select! {
                room = &mut room => return Ok(room.ok()),
                () = tokio::time::sleep_until(self.next_keepalive) => self.keep_alive().await?,
            }
        }
    }

    /// Sets each entry's delivery count, which the group keeps: one
    /// `XPENDING stream group id id 1` per entry, pipelined.
    async fn count_deliveries(&mut self, entries: &mut [Entry]) -> Result<(), RedisError> {
        if entries.is_empty() {
            return Ok(());
        }
        let c = &self.config;
        let mut pipe = redis::pipe();
        for entry in entries.iter() {
            let id = &entry.id_bytes()[..];
            pipe.cmd("XPENDING").arg(&c.stream).arg(&c.group).arg(id).arg(id).arg(1);
        }
        let Value::Array(replies) = self.link.query("XPENDING", Request::Pipe(&pipe)).await? else {
            return Err(RedisError::Reply { command: "XPENDING", reply: "not one reply per command".into() });
        };
        for (entry, reply) in entries.iter_mut().zip(replies) {
            if let Some((_, n)) = entry::pending_reply(reply)?.first() {
                entry.set_deliveries(*n);
            }
        }
        Ok(())
    }

    /// Moves poison entries to the dead-letter stream and acknowledges
    /// them: a script per entry that adds it to the dead-letter stream and
    /// acknowledges it only if that worked (a failing XADD stops the
    /// script before the XACK, so an entry is never acknowledged without
    /// its dead letter). A script sent again after a lost reply may add a
    /// second dead letter (at-least-once).
    async fn dead_letter(&mut self, poison: Vec<Entry>) -> Result<(), RedisError> {
        let c = &self.config;
        let mut pipe = redis::pipe();
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
            let eval =
                pipe.cmd("EVAL").arg(DEAD_LETTER_SCRIPT).arg(2).arg(&c.dead_letter_stream).arg(&c.stream);
            eval.arg(&c.group).arg(entry.id());
            for (name, value) in entry.fields() {
                eval.arg(&name[..]).arg(&value[..]);
            }
            eval.arg("weir.stream")
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
        }
        self.link.query("EVAL (XADD dead letter, XACK)", Request::Pipe(&pipe)).await?;
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

/// The smallest stream id after `id` (`ms-seq`): XPENDING takes no
/// exclusive ranges.
fn id_after(id: &[u8]) -> String {
    let (ms, seq) = std::str::from_utf8(id).ok().and_then(entry::parse_id).unwrap_or((0, 0));
    match seq.checked_add(1) {
        Some(seq) => format!("{ms}-{seq}"),
        None => format!("{}-0", ms.saturating_add(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::id_after;

    #[test]
    fn the_id_after_an_id_is_the_next_sequence_or_the_next_millisecond() {
        assert_eq!(id_after(b"10-2"), "10-3");
        assert_eq!(id_after(format!("10-{}", u64::MAX).as_bytes()), "11-0");
    }
}
