//! A decoded packet.

use serde::{Deserialize, Serialize};

use crate::readings::{Reading, Readings};
use crate::{MIN_FRAME_LEN, READING_LEN};

/// One telemetry packet: a device's numbered, timestamped readings.
///
/// Equal packets encode to equal frames, and `(device, sequence)`
/// identifies a packet: a store keyed on it absorbs a packet sent twice.
///
/// # Examples
///
/// ```
/// use weir_packet::{Packet, Reading};
///
/// let p = Packet::new(1, 9, 1_700_000_000_000, [Reading::new(0, 1.5)]);
/// assert_eq!((p.device(), p.sequence(), p.readings().len()), (1, 9, 1));
/// let json = serde_json::to_string(&p).unwrap();
/// assert_eq!(serde_json::from_str::<Packet>(&json).unwrap(), p);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    device: u32,
    sequence: u64,
    timestamp_ms: u64,
    readings: Readings,
}

impl Packet {
    /// A packet from `device`, number `sequence`, taken at `timestamp_ms`
    /// (milliseconds since the Unix epoch).
    pub fn new(
        device: u32,
        sequence: u64,
        timestamp_ms: u64,
        readings: impl IntoIterator<Item = Reading>,
    ) -> Self {
        Self { device, sequence, timestamp_ms, readings: readings.into_iter().collect() }
    }

    pub(crate) fn from_parts(device: u32, sequence: u64, timestamp_ms: u64, readings: Readings) -> Self {
        Self { device, sequence, timestamp_ms, readings }
    }

    /// The device's id.
    pub fn device(&self) -> u32 {
        self.device
    }

    /// The packet's number, per device.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When the readings were taken, in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// The readings.
    pub fn readings(&self) -> &Readings {
        &self.readings
    }

    /// The length of its frame in bytes.
    pub fn frame_len(&self) -> usize {
        MIN_FRAME_LEN + self.readings.len() * READING_LEN
    }
}
