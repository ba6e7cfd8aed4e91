//! Why a frame does not decode.

/// What is wrong with a frame, found in this order: size, magic, version,
/// length, checksum, then the fields' ranges. Each message names the
/// problem and what the frame held, for the dead-letter record.
///
/// # Examples
///
/// ```
/// use weir_packet::{DecodeError, decode};
///
/// let err = decode(bytes::Bytes::from_static(b"WT\x01")).unwrap_err();
/// assert!(matches!(err, DecodeError::Truncated { len: 3, .. }));
/// assert_eq!(err.reason(), "truncated");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the smallest frame, or than its header says.
    #[error("truncated frame: {len} bytes, a frame needs at least {needed}")]
    Truncated {
        /// The frame's length.
        len: usize,
        /// The least it needs.
        needed: usize,
    },
    /// The first two bytes are not [`MAGIC`](crate::MAGIC).
    #[error("bad magic {found:02x?}: not a weir telemetry frame (expected \"WT\")")]
    BadMagic {
        /// What the frame starts with.
        found: [u8; 2],
    },
    /// A version this crate does not read.
    #[error("unsupported frame version {version}: this decoder reads version {}", crate::VERSION)]
    UnsupportedVersion {
        /// The frame's version.
        version: u8,
    },
    /// The frame's size disagrees with its payload length or reading count.
    #[error("length mismatch: the header says a {declared}-byte payload, the frame holds {actual}")]
    LengthMismatch {
        /// What the header (or the reading count) says.
        declared: usize,
        /// What the frame holds.
        actual: usize,
    },
    /// The CRC32 does not match the bytes: the frame was corrupted.
    #[error("checksum mismatch: the frame says {expected:#010x}, its bytes give {computed:#010x}")]
    ChecksumMismatch {
        /// The CRC the frame carries.
        expected: u32,
        /// The CRC of its bytes.
        computed: u32,
    },
    /// A field holds a value out of its range.
    #[error("out-of-range {field}: {value}")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// Its value, printed.
        value: String,
    },
}

impl DecodeError {
    /// A short, stable name of the kind of problem (`"truncated"`,
    /// `"bad-magic"`, …), for counting dead letters by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadMagic { .. } => "bad-magic",
            DecodeError::UnsupportedVersion { .. } => "unsupported-version",
            DecodeError::LengthMismatch { .. } => "length-mismatch",
            DecodeError::ChecksumMismatch { .. } => "checksum-mismatch",
            DecodeError::OutOfRange { .. } => "out-of-range",
        }
    }
}
