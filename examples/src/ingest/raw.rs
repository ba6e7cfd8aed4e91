//! A frame as the ingest job received it, before decoding: what a
//! malformed frame's dead letter keeps, and what `replay` feeds back.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Where a frame came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The built-in generator's `n`-th frame.
    Generated(u64),
    /// A TCP client.
    Peer(SocketAddr),
    /// The `n`-th frame of a file.
    File(u64),
    /// An entry of a Redis stream, by id.
    Redis(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Generated(n) => write!(f, "generated frame {n}"),
            Origin::Peer(peer) => write!(f, "peer {peer}"),
            Origin::File(n) => write!(f, "file frame {n}"),
            Origin::Redis(id) => write!(f, "Redis entry {id}"),
        }
    }
}

/// A frame's bytes and where they came from. In a dead-letter file the
/// bytes are written in hex, so that a malformed frame can be read,
/// fixed and replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raw {
    /// Where it came from.
    pub origin: Origin,
    /// The frame, without its length prefix.
    #[serde(with = "hex")]
    pub bytes: Bytes,
}

mod hex {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes.iter() {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        s.serialize_str(&out)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(D::Error::custom("hex bytes of odd length"));
        }
        let digit = |c: u8| -> Result<u8, D::Error> {
            (c as char)
                .to_digit(16)
                .map(|d| d as u8)
                .ok_or_else(|| D::Error::custom(format!("not a hex digit: {:?}", c as char)))
        };
        text.as_bytes()
            .chunks(2)
            .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
            .collect::<Result<Vec<u8>, _>>()
            .map(Bytes::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_frame_round_trips_through_json_with_its_origin() {
        let raw = Raw {
            origin: Origin::Peer("127.0.0.1:9000".parse().unwrap()),
            bytes: Bytes::from_static(b"\x00\xffWT"),
        };
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(json, r#"{"origin":{"peer":"127.0.0.1:9000"},"bytes":"00ff5754"}"#);
        assert_eq!(serde_json::from_str::<Raw>(&json).unwrap(), raw);
        assert!(serde_json::from_str::<Raw>(r#"{"origin":{"file":1},"bytes":"0g"}"#).is_err());
    }
}
