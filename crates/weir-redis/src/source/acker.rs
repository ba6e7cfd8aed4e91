//! The acknowledging task: XACKs entries in batches once their outcome is
//! durable, and forgets those the pipeline released.

use std::sync::Arc;

use bytes::Bytes;
use redis::Value;
use tokio::sync::mpsc;

use super::lease::Settled;
use super::reader::xack;
use super::{Config, InFlight};
use crate::counters::Counts;
use crate::link::{Link, Request};

/// The longest an acknowledgement keeps trying while Redis is
/// unreachable (within the reconnect policy's own limits): past it, the
/// entries stay pending (delivered again later) and the acknowledger
/// tries each later batch once until Redis answers again, so that a run
/// ending during an outage (abort, a drain deadline) waits seconds, not
/// the reconnect policy's minutes.
pub(crate) const ACK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) struct Acker {
    pub(crate) link: Link,
    /// The last acknowledgement gave up: try once, without backing off.
    pub(crate) degraded: bool,
    pub(crate) config: Arc<Config>,
    pub(crate) settled: mpsc::UnboundedReceiver<Settled>,
    pub(crate) in_flight: InFlight,
    pub(crate) counts: Arc<Counts>,
}

impl Acker {
    /// Runs until every lease has been settled and the source's stream is
    /// gone: the run waits for it, so its last XACK is confirmed before
    /// the run's report is taken.
    pub(crate) async fn run(mut self) {
        let mut settled = Vec::new();
        let mut done = Vec::new();
        let mut released = Vec::new();
        while self.settled.recv_many(&mut settled, self.config.ack_batch).await > 0 {
            for s in settled.drain(..) {
                match s {
                    Settled::Done(id) => done.push(id),
                    Settled::Released(id) => released.push(id),
                }
            }
            if !done.is_empty() {
                self.ack(&done).await;
            }
            // Only now, so that a read of this consumer's own pending
            // entries cannot hand them out again while the XACK is on
            // its way.
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            for id in done.drain(..).chain(released.drain(..)) {
                in_flight.remove(&id);
            }
        }
    }

    async fn ack(&mut self, ids: &[Bytes]) {
        let cmd = xack(&self.config, ids);
        let sent = if self.degraded {
            self.link.query_once("XACK", Request::Cmd(&cmd)).await
        } else {
            self.link.query("XACK", Request::Cmd(&cmd)).await
        };
        self.degraded = sent.is_err();
        match sent {
            Ok(Value::Int(acked)) => Counts::add(&self.counts.acked, usize::try_from(acked).unwrap_or(0)),
            Ok(other) => tracing::warn!(reply = ?other, "unexpected XACK reply"),
            Err(error) => {
                tracing::error!(
                    entries = ids.len(),
                    error = %error,
                    "could not acknowledge entries whose outcome is durable; they stay pending and will be \
                     delivered again (the store absorbs the duplicates)"
                );
                Counts::add(&self.counts.ack_failures, ids.len());
            }
        }
    }
}
