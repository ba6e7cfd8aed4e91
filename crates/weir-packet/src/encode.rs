//! Packet → frame.

use bytes::{BufMut, Bytes, BytesMut};

use crate::packet::Packet;
use crate::{MAGIC, PAYLOAD_FIXED, VERSION};

impl Packet {
    /// Its frame. A packet made with more than
    /// [`MAX_READINGS`](crate::MAX_READINGS) readings, or a non-finite
    /// value, encodes all the same (so tests can make bad frames); the
    /// decoder refuses it with [`OutOfRange`](crate::DecodeError::OutOfRange).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::{MIN_FRAME_LEN, Packet};
    ///
    /// let frame = Packet::new(1, 2, 3, []).encode();
    /// assert_eq!(frame.len(), MIN_FRAME_LEN);
    /// assert_eq!(&frame[..2], b"WT");
    /// ```
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.frame_len());
        self.encode_into(&mut out);
        out.freeze()
    }

    /// Appends its frame to `out` (to build a buffer of many frames
    /// without an allocation each).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_packet::Packet;
    ///
    /// let mut out = bytes::BytesMut::new();
    /// Packet::new(1, 1, 0, []).encode_into(&mut out);
    /// Packet::new(1, 2, 0, []).encode_into(&mut out);
    /// assert_eq!(out.len(), 2 * weir_packet::MIN_FRAME_LEN);
    /// ```
    pub fn encode_into(&self, out: &mut BytesMut) {
        let start = out.len();
        let readings = self.readings().as_bytes();
        let payload_len = PAYLOAD_FIXED + readings.len();
        out.reserve(self.frame_len());
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        // A payload over u16::MAX only comes from a packet far over
        // MAX_READINGS; it saturates, and the decoder refuses the frame.
        out.put_u16(u16::try_from(payload_len).unwrap_or(u16::MAX));
        out.put_u32(self.device());
        out.put_u64(self.sequence());
        out.put_u64(self.timestamp_ms());
        out.put_u8(u8::try_from(self.readings().len()).unwrap_or(u8::MAX));
        out.put_slice(readings);
        let crc = crc32fast::hash(&out[start..]);
        out.put_u32(crc);
    }
}
