//! Frame → packet.

use bytes::Bytes;

use crate::error::DecodeError;
use crate::packet::Packet;
use crate::readings::Readings;
use crate::{CRC_LEN, HEADER_LEN, MAGIC, MAX_READINGS, MIN_FRAME_LEN, PAYLOAD_FIXED, READING_LEN, VERSION};

/// Decodes one frame (without its length prefix). The readings stay in
/// `frame`'s buffer: nothing is copied.
///
/// # Errors
///
/// A [`DecodeError`] naming the first thing wrong, checked in this order:
/// size, magic, version, payload length, checksum, reading count and
/// values (each finite).
///
/// # Examples
///
/// ```
/// use weir_packet::{DecodeError, Packet, Reading, decode};
///
/// let frame = Packet::new(1, 1, 0, [Reading::new(0, 1.0)]).encode();
/// let mut corrupted = frame.to_vec();
/// corrupted[27] ^= 0x40; // flip a bit of the reading
/// let err = decode(corrupted.into()).unwrap_err();
/// assert!(matches!(err, DecodeError::ChecksumMismatch { .. }));
/// ```
pub fn decode(frame: Bytes) -> Result<Packet, DecodeError> {
    let len = frame.len();
    if len < MIN_FRAME_LEN {
        // A frame this short still tells bad magic from a short read.
        if len >= 2 && frame[..2] != MAGIC {
            return Err(DecodeError::BadMagic { found: [frame[0], frame[1]] });
        }
        return Err(DecodeError::Truncated { len, needed: MIN_FRAME_LEN });
    }
    if frame[..2] != MAGIC {
        return Err(DecodeError::BadMagic { found: [frame[0], frame[1]] });
    }
    if frame[2] != VERSION {
        return Err(DecodeError::UnsupportedVersion { version: frame[2] });
    }
    let declared = usize::from(u16::from_be_bytes([frame[3], frame[4]]));
    let actual = len - HEADER_LEN - CRC_LEN;
    if declared > actual {
        return Err(DecodeError::Truncated { len, needed: HEADER_LEN + declared + CRC_LEN });
    }
    if declared != actual {
        return Err(DecodeError::LengthMismatch { declared, actual });
    }
    let body = len - CRC_LEN;
    let expected = u32::from_be_bytes([frame[body], frame[body + 1], frame[body + 2], frame[body + 3]]);
    let computed = crc32fast::hash(&frame[..body]);
    if expected != computed {
        return Err(DecodeError::ChecksumMismatch { expected, computed });
    }
    let p = HEADER_LEN;
    let device = u32::from_be_bytes(frame[p..p + 4].try_into().expect("4 bytes"));
    let sequence = u64::from_be_bytes(frame[p + 4..p + 12].try_into().expect("8 bytes"));
    let timestamp_ms = u64::from_be_bytes(frame[p + 12..p + 20].try_into().expect("8 bytes"));
    let count = usize::from(frame[p + 20]);
    if count > MAX_READINGS {
        return Err(DecodeError::OutOfRange {
            field: "reading count",
            value: format!("{count} (at most {MAX_READINGS})"),
        });
    }
    let readings_len = actual - PAYLOAD_FIXED;
    if readings_len != count * READING_LEN {
        return Err(DecodeError::LengthMismatch { declared: PAYLOAD_FIXED + count * READING_LEN, actual });
    }
    let start = p + PAYLOAD_FIXED;
    let readings = Readings::from_bytes(frame.slice(start..start + readings_len));
    if let Some((index, reading)) = readings.iter().enumerate().find(|(_, r)| !r.value.is_finite()) {
        return Err(DecodeError::OutOfRange {
            field: "reading value",
            value: format!("{} (reading {index}, sensor {})", reading.value, reading.sensor),
        });
    }
    Ok(Packet::from_parts(device, sequence, timestamp_ms, readings))
}
