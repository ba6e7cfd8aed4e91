//! The ingest job's optional per-device per-minute aggregate table
//! (`ingest --aggregate`): the stored packets' readings, summed per device
//! per minute of the packets' own time, by a keyed window
//! ([`weir::shape::Window`]) in a pipeline of its own.
//!
//! The main pipeline hands each packet it is about to store to this one
//! through a bounded channel (a slow aggregate store slows the main
//! pipeline down; nothing grows). Windows are on event time (the packet's
//! timestamp) with a lateness of [`LATENESS`]; the watermark also moves
//! with the wall clock, so the last minutes come out when traffic stops.
//! A packet later than that is a counted failure of the window stage
//! (its count is in the aggregate run's report), not a silent loss. When
//! the main pipeline ends the channel closes and every open window is
//! stored.

use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use weir::Sink;
use weir::prelude::*;
use weir::shape::{Dedup, DedupExt, Window, WindowExt, Windowed};
use weir_packet::Packet;

/// How late (in event time) a packet may come and still count in its minute.
pub const LATENESS: Duration = Duration::from_secs(5);

/// One device's minute: how many packets and readings, and the readings'
/// sum, least and greatest value.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceMinute {
    /// The device.
    pub device: u32,
    /// The minute's start, in milliseconds since the Unix epoch.
    pub minute_ms: u64,
    /// Packets in the minute.
    pub packets: u64,
    /// Readings in them.
    pub readings: u64,
    /// The readings' sum.
    pub sum: f64,
    /// The least reading.
    pub min: f64,
    /// The greatest reading.
    pub max: f64,
}

/// The running fold of a minute's packets.
#[derive(Debug, Clone, Copy)]
pub struct Fold {
    packets: u64,
    readings: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Fold {
    fn default() -> Self {
        Self { packets: 0, readings: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Fold {
    fn add(&mut self, packet: &Packet) {
        self.packets += 1;
        for reading in packet.readings().iter() {
            let value = f64::from(reading.value);
            self.readings += 1;
            self.sum += value;
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
    }
}

impl From<Windowed<u32, Fold>> for DeviceMinute {
    fn from(w: Windowed<u32, Fold>) -> Self {
        let minute_ms = w.start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let Fold { packets, readings, sum, min, max } = w.value;
        // A minute of packets without readings has no least or greatest.
        let (min, max) = if readings == 0 { (0.0, 0.0) } else { (min, max) };
        Self { device: w.key, minute_ms, packets, readings, sum, min, max }
    }
}

/// The window: per device, one-minute tumbling, on the packets' time.
pub fn per_minute() -> Window<Packet, u32, Fold> {
    Window::by_key(Packet::device)
        .fold(Fold::default, Fold::add)
        .tumbling(Duration::from_secs(60))
        .event_time(|p: &Packet| UNIX_EPOCH + Duration::from_millis(p.timestamp_ms()), LATENESS)
}

/// The aggregate pipeline: packets from `packets` into per-minute rows,
/// stored in batches into `store`. A packet handed over twice (a batch
/// stored again after a failed flush, a retransmission the store counted
/// as a duplicate) counts once: a dedup on (device, sequence) within ten
/// minutes goes first. Late packets are counted failures.
pub fn pipeline<St>(packets: mpsc::Receiver<Packet>, store: St) -> Runnable
where
    St: Sink<Vec<DeviceMinute>>,
{
    let once = Dedup::by_key(|p: &Packet| (p.device(), p.sequence())).ttl(Duration::from_secs(600));
    Pipeline::new(ReceiverStream::new(packets))
        .dedup("once", once)
        .window("per-minute", per_minute())
        .discard_failures()
        .map("row", DeviceMinute::from)
        .batch("batch", 512, Duration::from_millis(100))
        .sink_named("store-minutes", store)
}

/// The main pipeline's store, handing the packets it stored on to the
/// aggregate pipeline: once their flush succeeded (so only what is
/// stored is aggregated), through a bounded channel.
pub struct Tee<Si> {
    inner: Si,
    stored: Vec<Packet>,
    to: mpsc::Sender<Packet>,
}

impl<Si> std::fmt::Debug for Tee<Si> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee").field("stored", &self.stored.len()).finish_non_exhaustive()
    }
}

impl<Si> Tee<Si> {
    /// `inner`, handing its stored packets to `to`.
    pub fn new(inner: Si, to: mpsc::Sender<Packet>) -> Self {
        Self { inner, stored: Vec::new(), to }
    }
}

impl<Si: Sink<Vec<Packet>>> Sink<Vec<Packet>> for Tee<Si> {
    type Error = Si::Error;

    async fn send(
        &mut self,
        batch: Vec<Packet>,
    ) -> Result<(), weir::sink::SinkError<Vec<Packet>, Si::Error>> {
        let copy = batch.clone(); // reference counts: packets share their bytes
        self.inner.send(batch).await?;
        self.stored.extend(copy);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Si::Error> {
        if let Err(error) = self.inner.flush().await {
            // Not stored: they come again, and are handed on then.
            self.stored.clear();
            return Err(error);
        }
        for packet in self.stored.drain(..) {
            if self.to.send(packet).await.is_err() {
                break; // the aggregate pipeline has ended
            }
        }
        Ok(())
    }

    fn last_attempt(&self) -> Option<&weir::Attempt> {
        self.inner.last_attempt()
    }

    fn validate(&self, stage: &str) -> Result<(), weir::BuildError> {
        self.inner.validate(stage)
    }

    fn observe(&self, metrics: &weir::StageMetrics) {
        self.inner.observe(metrics);
    }
}

impl weir_sqlite::SqliteRow for DeviceMinute {
    fn create_table_sql() -> &'static str {
        "CREATE TABLE IF NOT EXISTS device_minutes (
            device INTEGER NOT NULL,
            minute_ms INTEGER NOT NULL,
            packets INTEGER NOT NULL,
            readings INTEGER NOT NULL,
            sum REAL NOT NULL,
            min REAL NOT NULL,
            max REAL NOT NULL,
            PRIMARY KEY (device, minute_ms)
        ) WITHOUT ROWID"
    }

    fn insert_sql() -> &'static str {
        "INSERT INTO device_minutes (device, minute_ms, packets, readings, sum, min, max) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (device, minute_ms) DO NOTHING"
    }

    fn bind(
        &self,
        statement: &mut weir_sqlite::rusqlite::Statement<'_>,
    ) -> weir_sqlite::rusqlite::Result<()> {
        statement.raw_bind_parameter(1, self.device)?;
        statement.raw_bind_parameter(2, self.minute_ms.cast_signed())?;
        statement.raw_bind_parameter(3, self.packets.cast_signed())?;
        statement.raw_bind_parameter(4, self.readings.cast_signed())?;
        statement.raw_bind_parameter(5, self.sum)?;
        statement.raw_bind_parameter(6, self.min)?;
        statement.raw_bind_parameter(7, self.max)
    }
}

impl weir_postgres::PgRow for DeviceMinute {
    fn table() -> weir_postgres::Table {
        use weir_postgres::tokio_postgres::types::Type;
        weir_postgres::Table::new("device_minutes")
            .column("device", Type::INT8)
            .column("minute_ms", Type::INT8)
            .column("packets", Type::INT8)
            .column("readings", Type::INT8)
            .column("sum", Type::FLOAT8)
            .column("min", Type::FLOAT8)
            .column("max", Type::FLOAT8)
            .key(["device", "minute_ms"])
    }

    fn write(&self, row: &mut weir_postgres::RowWriter<'_>) -> Result<(), weir_postgres::EncodeError> {
        row.field(&i64::from(self.device))?;
        row.field(&self.minute_ms.cast_signed())?;
        row.field(&self.packets.cast_signed())?;
        row.field(&self.readings.cast_signed())?;
        row.field(&self.sum)?;
        row.field(&self.min)?;
        row.field(&self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_packet::Reading;

    #[tokio::test(start_paused = true)]
    async fn minutes_sum_their_packets_readings() {
        let minute = 1_700_000_040_000; // on the minute
        let packets = [
            Packet::new(1, 1, minute, [Reading::new(0, 1.0), Reading::new(1, 3.0)]),
            Packet::new(2, 1, minute + 10, [Reading::new(0, -2.0)]),
            Packet::new(1, 2, minute + 59_999, [Reading::new(0, 5.0)]),
            Packet::new(1, 3, minute + 60_000, []),
        ];
        let (tx, rx) = mpsc::channel(8);
        for p in packets {
            tx.send(p).await.unwrap();
        }
        drop(tx);
        let (sink, out) = weir::sink::collect();
        let report = pipeline(rx, sink).run().await.unwrap();
        let mut rows: Vec<DeviceMinute> = out.take().into_iter().flatten().collect();
        rows.sort_by_key(|r| (r.device, r.minute_ms));
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].device, rows[0].minute_ms, rows[0].packets, rows[0].readings), (1, minute, 2, 3));
        assert_eq!((rows[0].sum, rows[0].min, rows[0].max), (9.0, 1.0, 5.0));
        assert_eq!((rows[1].device, rows[1].packets, rows[1].min), (1, 1, 0.0), "no readings: no extremes");
        assert_eq!((rows[2].device, rows[2].sum), (2, -2.0));
        assert!(report.is_conserved(), "{report}");
    }
}
