//! A packet's readings, kept as the bytes of the frame they came in.

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::READING_LEN;

/// One sensor reading.
///
/// # Examples
///
/// ```
/// use weir_packet::Reading;
///
/// let r = Reading::new(3, -4.5);
/// assert_eq!((r.sensor, r.value), (3, -4.5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The sensor's id on its device.
    pub sensor: u8,
    /// The value; finite in any packet that decodes.
    pub value: f32,
}

impl Reading {
    /// A reading of `value` from `sensor`.
    pub fn new(sensor: u8, value: f32) -> Self {
        Self { sensor, value }
    }

    fn read(bytes: &[u8]) -> Self {
        let value = f32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Self { sensor: bytes[0], value }
    }

    pub(crate) fn write(&self, out: &mut BytesMut) {
        out.extend_from_slice(&[self.sensor]);
        out.extend_from_slice(&self.value.to_be_bytes());
    }
}

/// A packet's readings: a view into the frame's bytes (decoding copies
/// nothing and allocates nothing for them), read one by one on demand.
///
/// # Examples
///
/// ```
/// use weir_packet::{Reading, Readings};
///
/// let readings: Readings = [Reading::new(1, 2.0), Reading::new(2, 3.5)].into_iter().collect();
/// assert_eq!(readings.len(), 2);
/// assert_eq!(readings.iter().map(|r| r.value).sum::<f32>(), 5.5);
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Readings(Bytes);

impl Readings {
    /// Readings over `bytes`, which hold whole readings; checked by the
    /// decoder.
    pub(crate) fn from_bytes(bytes: Bytes) -> Self {
        debug_assert_eq!(bytes.len() % READING_LEN, 0);
        Self(bytes)
    }

    /// The number of readings.
    pub fn len(&self) -> usize {
        self.0.len() / READING_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The reading at `index`.
    pub fn get(&self, index: usize) -> Option<Reading> {
        let start = index.checked_mul(READING_LEN)?;
        self.0.get(start..start + READING_LEN).map(Reading::read)
    }

    /// The readings in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Reading> + '_ {
        self.0.chunks_exact(READING_LEN).map(Reading::read)
    }

    /// Their encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl FromIterator<Reading> for Readings {
    fn from_iter<I: IntoIterator<Item = Reading>>(iter: I) -> Self {
        let mut out = BytesMut::new();
        for reading in iter {
            reading.write(&mut out);
        }
        Self(out.freeze())
    }
}

impl fmt::Debug for Readings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Readings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Readings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Reading>::deserialize(deserializer)?.into_iter().collect())
    }
}
