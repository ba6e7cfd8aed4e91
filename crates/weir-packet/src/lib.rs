//! The ingest job's frame format: a binary telemetry packet from a
//! device, with a checksum, and a decoder that says exactly what is wrong
//! with a frame it refuses.
//!
//! # Layout
//!
//! Every integer is big-endian. A frame is a header, a payload and a
//! CRC32:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 2 | magic, `b"WT"` ([`MAGIC`]) |
//! | 2 | 1 | version, 1 ([`VERSION`]) |
//! | 3 | 2 | payload length in bytes (`PAYLOAD_FIXED + 5 × readings`) |
//! | 5 | 4 | device id |
//! | 9 | 8 | sequence number (per device) |
//! | 17 | 8 | timestamp, milliseconds since the Unix epoch |
//! | 25 | 1 | number of readings, at most [`MAX_READINGS`] |
//! | 26 | 5 × n | readings: sensor id (1 byte), value (`f32`, finite) |
//! | 26 + 5n | 4 | CRC32 (IEEE) of every byte before it |
//!
//! On the wire (TCP, files) frames travel length-prefixed (a `u32`
//! big-endian length before each frame), as tokio-util's
//! `LengthDelimitedCodec` reads them; that prefix is not part of the frame.
//!
//! # Why a checksum and a length both
//!
//! The length lets a reader find the end of a frame and reject a short or
//! padded one before it looks inside; the checksum catches the corruption
//! a length cannot see (a flipped bit in a reading). The decoder checks the
//! cheap things first: size, magic, version, length, then the checksum,
//! then the fields' ranges.
//!
//! # Examples
//!
//! ```
//! use weir_packet::{Packet, Reading, decode};
//!
//! let packet = Packet::new(7, 42, 1_700_000_000_000, [Reading::new(1, 21.5), Reading::new(2, 0.25)]);
//! let frame = packet.encode();
//! assert_eq!(frame.len(), packet.frame_len());
//! let back = decode(frame)?;
//! assert_eq!(back, packet);
//! assert_eq!(back.readings().get(0), Some(Reading::new(1, 21.5)));
//! # Ok::<(), weir_packet::DecodeError>(())
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod decode;
mod encode;
mod error;
mod malformed;
mod packet;
mod readings;

pub use decode::decode;
pub use error::DecodeError;
pub use malformed::Malformation;
pub use packet::Packet;
pub use readings::{Reading, Readings};

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"WT";

/// The frame version this crate reads and writes.
pub const VERSION: u8 = 1;

/// The most readings one packet carries.
pub const MAX_READINGS: usize = 64;

/// Bytes before the payload: magic, version, payload length.
pub const HEADER_LEN: usize = 5;

/// Bytes of the payload before the readings: device, sequence, timestamp,
/// number of readings.
pub const PAYLOAD_FIXED: usize = 4 + 8 + 8 + 1;

/// Bytes of one reading: sensor id and value.
pub const READING_LEN: usize = 5;

/// Bytes of the checksum at the end.
pub const CRC_LEN: usize = 4;

/// The shortest frame: a packet without readings.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + PAYLOAD_FIXED + CRC_LEN;

/// The longest frame: a packet with [`MAX_READINGS`] readings.
pub const MAX_FRAME_LEN: usize = MIN_FRAME_LEN + MAX_READINGS * READING_LEN;
