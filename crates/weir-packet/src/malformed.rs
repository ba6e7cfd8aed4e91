//! Frames that are wrong on purpose, one way each, for generators and
//! tests: every [`DecodeError`](crate::DecodeError) the decoder names can
//! be made from a good packet.

use bytes::{Bytes, BytesMut};

use crate::packet::Packet;
use crate::readings::Reading;
use crate::{HEADER_LEN, MAX_READINGS};

/// One way to break a frame; [`Malformation::ALL`] lists them all.
///
/// # Examples
///
/// ```
/// use weir_packet::{Malformation, Packet, decode};
///
/// let good = Packet::new(1, 2, 3, []);
/// for kind in Malformation::ALL {
///     let err = decode(kind.frame(&good)).unwrap_err();
///     assert_eq!(err.reason(), kind.reason());
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformation {
    /// The frame cut short.
    Truncated,
    /// Other bytes than `WT` first.
    BadMagic,
    /// A version from the future.
    UnsupportedVersion,
    /// A byte of padding that the payload length does not count.
    LengthMismatch,
    /// One bit flipped after the checksum was taken.
    ChecksumMismatch,
    /// A reading whose value is not a number.
    OutOfRange,
}

impl Malformation {
    /// Every kind, in the decoder's order of checks.
    pub const ALL: [Malformation; 6] = [
        Malformation::Truncated,
        Malformation::BadMagic,
        Malformation::UnsupportedVersion,
        Malformation::LengthMismatch,
        Malformation::ChecksumMismatch,
        Malformation::OutOfRange,
    ];

    /// The [`DecodeError::reason`](crate::DecodeError::reason) its frame
    /// decodes to.
    pub fn reason(self) -> &'static str {
        match self {
            Malformation::Truncated => "truncated",
            Malformation::BadMagic => "bad-magic",
            Malformation::UnsupportedVersion => "unsupported-version",
            Malformation::LengthMismatch => "length-mismatch",
            Malformation::ChecksumMismatch => "checksum-mismatch",
            Malformation::OutOfRange => "out-of-range",
        }
    }

    /// `packet`'s frame, broken this way (checksums fixed up where the
    /// break is not the checksum, so that the decoder reaches it).
    pub fn frame(self, packet: &Packet) -> Bytes {
        let good = packet.encode();
        let mut bytes = BytesMut::from(&good[..]);
        match self {
            Malformation::Truncated => {
                bytes.truncate(good.len() / 2);
                return bytes.freeze();
            }
            Malformation::BadMagic => bytes[..2].copy_from_slice(b"XX"),
            Malformation::UnsupportedVersion => bytes[2] = crate::VERSION.wrapping_add(1),
            Malformation::LengthMismatch => {
                // One byte of padding the header does not count.
                let crc_at = bytes.len() - crate::CRC_LEN;
                let crc: [u8; 4] = bytes[crc_at..].try_into().expect("4 bytes");
                bytes.truncate(crc_at);
                bytes.extend_from_slice(&[0]);
                bytes.extend_from_slice(&crc);
            }
            Malformation::ChecksumMismatch => {
                bytes[HEADER_LEN] ^= 0x01;
                return bytes.freeze();
            }
            Malformation::OutOfRange => {
                let mut readings: Vec<Reading> = packet.readings().iter().collect();
                readings.truncate(MAX_READINGS - 1);
                readings.push(Reading::new(0, f32::NAN));
                let bad = Packet::new(packet.device(), packet.sequence(), packet.timestamp_ms(), readings);
                return bad.encode();
            }
        }
        refresh_crc(&mut bytes);
        bytes.freeze()
    }
}

/// Recomputes the checksum of a frame whose bytes were changed.
fn refresh_crc(bytes: &mut BytesMut) {
    let body = bytes.len() - crate::CRC_LEN;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_be_bytes());
}
