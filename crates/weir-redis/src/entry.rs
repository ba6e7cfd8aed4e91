//! A stream entry as the source gives it, and reading entries out of
//! Redis replies.

use std::fmt;

use bytes::Bytes;
use redis::Value;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::error::RedisError;

/// One entry of a Redis stream: its id and its fields, in the order they
/// were added, as bytes (a field may hold a binary frame).
///
/// # Examples
///
/// ```
/// use weir_redis::Entry;
///
/// let entry = Entry::new("1-0", [("device", "7"), ("frame", "\u{1}\u{2}")]);
/// assert_eq!(entry.id(), "1-0");
/// assert_eq!(entry.field("device").map(|v| &v[..]), Some(&b"7"[..]));
/// assert_eq!(entry.field("missing"), None);
/// assert_eq!(entry.deliveries(), 1);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    id: Bytes,
    fields: Vec<(Bytes, Bytes)>,
    deliveries: u64,
}

impl Entry {
    /// An entry with these fields, delivered once (for tests and replays).
    pub fn new<N, V>(id: impl Into<String>, fields: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let fields = fields
            .into_iter()
            .map(|(n, v)| (Bytes::copy_from_slice(n.as_ref()), Bytes::copy_from_slice(v.as_ref())))
            .collect();
        Self { id: Bytes::from(id.into()), fields, deliveries: 1 }
    }

    /// The entry's id (`<milliseconds>-<sequence>`).
    pub fn id(&self) -> &str {
        // Ids come from Redis, which makes them ASCII.
        std::str::from_utf8(&self.id).unwrap_or("<not utf-8>")
    }

    /// The entry's fields, names and values, in the order they were added.
    pub fn fields(&self) -> &[(Bytes, Bytes)] {
        &self.fields
    }

    /// The value of the first field named `name`.
    pub fn field(&self, name: &str) -> Option<&Bytes> {
        self.fields.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| v)
    }

    /// Takes the value of the first field named `name` out of the entry,
    /// without copying it.
    pub fn take_field(&mut self, name: &str) -> Option<Bytes> {
        let at = self.fields.iter().position(|(n, _)| n == name.as_bytes())?;
        Some(self.fields.remove(at).1)
    }

    /// How many times the group has delivered this entry, this delivery
    /// included: 1 for an entry read for the first time, more for one read
    /// again after a restart or reclaimed from a consumer that stopped.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    pub(crate) fn id_bytes(&self) -> &Bytes {
        &self.id
    }

    pub(crate) fn set_deliveries(&mut self, deliveries: u64) {
        self.deliveries = deliveries;
    }

    /// The entry's fields, names and values, taken out of it.
    pub fn into_fields(self) -> Vec<(Bytes, Bytes)> {
        self.fields
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id())
            .field("fields", &Fields(&self.fields))
            .field("deliveries", &self.deliveries)
            .finish()
    }
}

/// Serialized as `{"id": "1-0", "deliveries": 1, "fields": {"name": "value"}}`,
/// for dead-letter records: a value that is not UTF-8 is written as an
/// array of its bytes.
impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entry = s.serialize_struct("Entry", 3)?;
        entry.serialize_field("id", self.id())?;
        entry.serialize_field("deliveries", &self.deliveries)?;
        entry.serialize_field("fields", &Fields(&self.fields))?;
        entry.end()
    }
}

/// Fields shown as text where they are text.
struct Fields<'a>(&'a [(Bytes, Bytes)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_key(&String::from_utf8_lossy(name))?;
            match std::str::from_utf8(value) {
                Ok(text) => map.serialize_value(text)?,
                Err(_) => map.serialize_value(&value[..])?,
            }
        }
        map.end()
    }
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))))
            .finish()
    }
}

/// A stream id's parts, `<ms>-<seq>` (or `<ms>`, sequence 0).
pub(crate) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// What one read returned: entries with their fields, and the ids of
/// entries still pending but deleted from the stream (trimmed), which
/// have nothing left to process.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) entries: Vec<Entry>,
    pub(crate) deleted: Vec<Bytes>,
}

/// Reads an XREADGROUP reply for one stream: nil (the block timed out) or
/// `[[stream, [[id, [field, value, …] | nil], …]]]` (RESP2) or a map of
/// stream to entries (RESP3).
pub(crate) fn read_group_reply(reply: Value) -> Result<Read, RedisError> {
    const CMD: &str = "XREADGROUP";
    let streams = match reply {
        Value::Nil => return Ok(Read::default()),
        Value::Array(streams) => streams.into_iter().map(|s| match s {
            Value::Array(mut pair) if pair.len() == 2 => Ok(pair.pop().expect("two")),
            other => Err(RedisError::reply(CMD, &other)),
        }),
        Value::Map(streams) => {
            return streams
                .into_iter()
                .next()
                .map_or(Ok(Read::default()), |(_, entries)| entries_of(CMD, entries));
        }
        other => return Err(RedisError::reply(CMD, &other)),
    };
    let mut read = Read::default();
    for entries in streams {
        let more = entries_of(CMD, entries?)?;
        read.entries.extend(more.entries);
        read.deleted.extend(more.deleted);
    }
    Ok(read)
}

/// Reads an XCLAIM reply: `[[id, [field, value, …] | nil], …]`.
pub(crate) fn claim_reply(reply: Value) -> Result<Read, RedisError> {
    entries_of("XCLAIM", reply)
}

/// Reads an XAUTOCLAIM reply (Redis 7): `[next-cursor, [entries], [deleted ids]]`.
pub(crate) fn autoclaim_reply(reply: Value) -> Result<(Bytes, Read), RedisError> {
    const CMD: &str = "XAUTOCLAIM";
    let Value::Array(parts) = reply else { return Err(RedisError::reply(CMD, &reply)) };
    let mut parts = parts.into_iter();
    let (Some(Value::BulkString(cursor)), Some(entries)) = (parts.next(), parts.next()) else {
        return Err(RedisError::Reply { command: CMD, reply: "a reply without a cursor and entries".into() });
    };
    let mut read = entries_of(CMD, entries)?;
    if let Some(Value::Array(deleted)) = parts.next() {
        for id in deleted {
            read.deleted.push(bulk(CMD, id)?);
        }
    }
    Ok((Bytes::from(cursor), read))
}

/// Reads the extended XPENDING reply: `[[id, consumer, idle-ms, deliveries], …]`,
/// as (id, deliveries).
pub(crate) fn pending_reply(reply: Value) -> Result<Vec<(Bytes, u64)>, RedisError> {
    const CMD: &str = "XPENDING";
    let Value::Array(rows) = reply else { return Err(RedisError::reply(CMD, &reply)) };
    rows.into_iter()
        .map(|row| match row {
            Value::Array(row) if row.len() == 4 => {
                let mut row = row.into_iter();
                let id = bulk(CMD, row.next().expect("four"))?;
                match row.nth(2) {
                    Some(Value::Int(n)) => Ok((id, u64::try_from(n).unwrap_or(0))),
                    Some(other) => Err(RedisError::reply(CMD, &other)),
                    None => unreachable!("four"),
                }
            }
            other => Err(RedisError::reply(CMD, &other)),
        })
        .collect()
}

fn entries_of(cmd: &'static str, entries: Value) -> Result<Read, RedisError> {
    let Value::Array(entries) = entries else { return Err(RedisError::reply(cmd, &entries)) };
    let mut read = Read { entries: Vec::with_capacity(entries.len()), deleted: Vec::new() };
    for entry in entries {
        let Value::Array(pair) = entry else { return Err(RedisError::reply(cmd, &entry)) };
        let mut pair = pair.into_iter();
        let (Some(id), Some(fields)) = (pair.next(), pair.next()) else {
            return Err(RedisError::Reply {
                command: cmd,
                reply: "an entry without an id and fields".into(),
            });
        };
        let id = bulk(cmd, id)?;
        let fields = match fields {
            Value::Nil => {
                read.deleted.push(id);
                continue;
            }
            Value::Array(flat) => pairs(cmd, flat)?,
            Value::Map(map) => map
                .into_iter()
                .map(|(n, v)| Ok((bulk(cmd, n)?, bulk(cmd, v)?)))
                .collect::<Result<_, RedisError>>()?,
            other => return Err(RedisError::reply(cmd, &other)),
        };
        read.entries.push(Entry { id, fields, deliveries: 1 });
    }
    Ok(read)
}

fn pairs(cmd: &'static str, flat: Vec<Value>) -> Result<Vec<(Bytes, Bytes)>, RedisError> {
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let Some(name) = flat.next() {
        let Some(value) = flat.next() else {
            return Err(RedisError::Reply { command: cmd, reply: "a field without a value".into() });
        };
        fields.push((bulk(cmd, name)?, bulk(cmd, value)?));
    }
    Ok(fields)
}

fn bulk(cmd: &'static str, value: Value) -> Result<Bytes, RedisError> {
    match value {
        Value::BulkString(bytes) => Ok(Bytes::from(bytes)),
        Value::SimpleString(text) => Ok(Bytes::from(text)),
        other => Err(RedisError::reply(cmd, &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_entries_and_deleted_ids_of_a_group_read() {
        let reply = Value::Array(vec![Value::Array(vec![
            b("s"),
            Value::Array(vec![
                Value::Array(vec![b("1-0"), Value::Array(vec![b("a"), b("1"), b("b"), b("2")])]),
                Value::Array(vec![b("2-0"), Value::Nil]),
            ]),
        ])]);
        let read = read_group_reply(reply).unwrap();
        assert_eq!(read.entries, [Entry::new("1-0", [("a", "1"), ("b", "2")])]);
        assert_eq!(read.deleted, [Bytes::from("2-0")]);
        assert!(read_group_reply(Value::Nil).unwrap().entries.is_empty());
    }

    #[test]
    fn reads_an_autoclaim_reply() {
        let reply = Value::Array(vec![
            b("5-0"),
            Value::Array(vec![Value::Array(vec![b("3-0"), Value::Array(vec![b("f"), b("x")])])]),
            Value::Array(vec![b("4-0")]),
        ]);
        let (cursor, read) = autoclaim_reply(reply).unwrap();
        assert_eq!(cursor, "5-0");
        assert_eq!(read.entries[0].id(), "3-0");
        assert_eq!(read.deleted, [Bytes::from("4-0")]);
    }

    #[test]
    fn odd_replies_are_typed_errors() {
        assert!(matches!(read_group_reply(Value::Int(3)), Err(RedisError::Reply { .. })));
        let odd =
            Value::Array(vec![Value::Array(vec![b("s"), Value::Array(vec![Value::Array(vec![b("1-0")])])])]);
        assert!(matches!(read_group_reply(odd), Err(RedisError::Reply { .. })));
        let row = Value::Array(vec![Value::Array(vec![b("1-0"), b("c"), Value::Int(5), Value::Int(3)])]);
        assert_eq!(pending_reply(row).unwrap(), [(Bytes::from("1-0"), 3)]);
    }

    proptest::proptest! {
        /// Whatever entries a read returns (binary fields, deleted
        /// entries among them), each comes out whole, in order.
        #[test]
        fn a_group_read_gives_back_every_entry_whole(
            entries in proptest::collection::vec(
                (0u64..1 << 40, 0u64..100, proptest::option::weighted(0.9, proptest::collection::vec(
                    (proptest::collection::vec(proptest::num::u8::ANY, 0..8),
                     proptest::collection::vec(proptest::num::u8::ANY, 0..64)), 1..5))),
                0..20),
        ) {
            let wire = |bytes: &[u8]| Value::BulkString(bytes.to_vec());
            let reply = Value::Array(vec![Value::Array(vec![b("s"), Value::Array(
                entries.iter().map(|(ms, seq, fields)| Value::Array(vec![
                    b(&format!("{ms}-{seq}")),
                    match fields {
                        Some(fields) => Value::Array(fields.iter().flat_map(|(n, v)| [wire(n), wire(v)]).collect()),
                        None => Value::Nil,
                    },
                ])).collect(),
            )])]);
            let read = read_group_reply(reply).unwrap();
            let expected: Vec<Entry> = entries.iter().filter_map(|(ms, seq, fields)| {
                fields.as_ref().map(|f| Entry::new(format!("{ms}-{seq}"), f.iter().map(|(n, v)| (n, v))))
            }).collect();
            let deleted: Vec<Bytes> = entries.iter().filter(|e| e.2.is_none())
                .map(|(ms, seq, _)| Bytes::from(format!("{ms}-{seq}"))).collect();
            proptest::prop_assert_eq!(read.entries, expected);
            proptest::prop_assert_eq!(read.deleted, deleted);
        }
    }

    #[test]
    fn serializes_text_as_text_and_binary_as_bytes() {
        let entry = Entry::new("1-0", [("t", &b"hi"[..]), ("b", &[0xff, 0][..])]);
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(json, r#"{"id":"1-0","deliveries":1,"fields":{"t":"hi","b":[255,0]}}"#);
    }
}
