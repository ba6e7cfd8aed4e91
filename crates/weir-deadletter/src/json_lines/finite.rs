//! Finds a NaN or infinite float in a value before it is written as JSON.
//!
//! JSON has no number for NaN or ±∞, and serde_json writes them as `null`
//! without an error: the record is written, but an `f64` field does not
//! read back ("invalid type: null, expected f64") and an `Option<f64>`
//! reads back as `None`. This serializer walks the value without writing
//! anything and stops at the first such float, with the path to it.

use std::fmt::{self, Display};

use serde::Serialize;
use serde::ser;

/// The path (such as `item.readings[2]`) and value of the first NaN or
/// infinite float in `value`, if it has one.
pub(crate) fn non_finite<T: Serialize + ?Sized>(value: &T) -> Option<(String, f64)> {
    let mut checker = Checker { path: String::new() };
    match value.serialize(&mut checker) {
        Err(Stop::NonFinite(value)) => Some((checker.path, value)),
        // Another error is the `Serialize` implementation's own: serde_json
        // reports it when the record is serialized.
        Ok(()) | Err(Stop::Other) => None,
    }
}

struct Checker {
    /// Where the walk is; left pointing at the float when it stops.
    path: String,
}

#[derive(Debug)]
enum Stop {
    NonFinite(f64),
    Other,
}

impl Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::NonFinite(v) => write!(f, "non-finite float {v}"),
            Stop::Other => f.write_str("the value cannot be serialized"),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: Display>(_: T) -> Self {
        Stop::Other
    }
}

impl Checker {
    /// Serializes `value` at `path` + `segment`; the path is restored unless
    /// the walk stops inside.
    fn at<T: Serialize + ?Sized>(&mut self, segment: fmt::Arguments<'_>, value: &T) -> Result<(), Stop> {
        let len = self.path.len();
        fmt::Write::write_fmt(&mut self.path, segment).map_err(|_| Stop::Other)?;
        value.serialize(&mut *self)?;
        self.path.truncate(len);
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Stop> {
        if self.path.is_empty() {
            self.at(format_args!("{name}"), value)
        } else {
            self.at(format_args!(".{name}"), value)
        }
    }

    fn float(v: f64) -> Result<(), Stop> {
        if v.is_finite() { Ok(()) } else { Err(Stop::NonFinite(v)) }
    }
}

/// The state of a sequence, tuple, map or struct being walked.
struct Compound<'a> {
    checker: &'a mut Checker,
    index: usize,
    /// The path segment of the map key being walked.
    key: String,
    /// For an enum variant: the length of the path before it.
    outer: Option<usize>,
}

impl<'a> Compound<'a> {
    fn new(checker: &'a mut Checker) -> Self {
        Self { checker, index: 0, key: String::new(), outer: None }
    }

    /// Enters an enum variant (`.Variant`) for the variant's fields.
    fn variant(checker: &'a mut Checker, variant: &str) -> Self {
        let outer = checker.path.len();
        checker.path.push('.');
        checker.path.push_str(variant);
        Self { outer: Some(outer), ..Self::new(checker) }
    }

    /// Leaves the compound (and its variant, if it is one).
    fn leave(self) -> Result<(), Stop> {
        if let Some(outer) = self.outer {
            self.checker.path.truncate(outer);
        }
        Ok(())
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let index = self.index;
        self.index += 1;
        self.checker.at(format_args!("[{index}]"), value)
    }
}

impl<'a> ser::Serializer for &'a mut Checker {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, _: bool) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        Checker::float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        Checker::float(v)
    }
    fn serialize_char(self, _: char) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(variant, value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(Compound::variant(self, name))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(Compound::variant(self, name))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        // The key as JSON shows it (`"name"`, `3`); an unprintable key is
        // serde_json's error to report.
        self.key = serde_json::to_string(key).unwrap_or_else(|_| "?".to_owned());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let key = std::mem::take(&mut self.key);
        self.checker.at(format_args!("[{key}]"), value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Stop> {
        self.checker.field(name, value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Stop> {
        self.checker.field(name, value)
    }
    fn end(self) -> Result<(), Stop> {
        self.leave()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::non_finite;

    #[derive(Serialize)]
    struct Reading {
        sensor: String,
        values: Vec<f64>,
        spare: Option<f32>,
        tags: BTreeMap<String, f64>,
        kind: Kind,
    }

    #[derive(Serialize)]
    enum Kind {
        Plain,
        Scaled(f64),
        Pair(u8, f64),
        Range { low: f64, high: f64 },
    }

    fn reading() -> Reading {
        Reading {
            sensor: "t1".into(),
            values: vec![1.0, -0.0, f64::MAX],
            spare: Some(f32::MIN_POSITIVE),
            tags: BTreeMap::from([("a".into(), 1.5)]),
            kind: Kind::Plain,
        }
    }

    #[test]
    fn finite_values_pass() {
        assert_eq!(non_finite(&reading()), None);
        assert_eq!(non_finite(&(1u128, -3i128, 'x', "s", [0u8; 3], ())), None);
    }

    #[test]
    fn the_first_non_finite_float_is_found_with_its_path() {
        let mut r = reading();
        r.values[2] = f64::NAN;
        let (path, value) = non_finite(&r).unwrap();
        assert_eq!(path, "values[2]");
        assert!(value.is_nan());

        let mut r = reading();
        r.spare = Some(f32::INFINITY);
        assert_eq!(non_finite(&r), Some(("spare".to_owned(), f64::INFINITY)));

        let mut r = reading();
        r.tags.insert("b".into(), f64::NEG_INFINITY);
        assert_eq!(non_finite(&r), Some((r#"tags["b"]"#.to_owned(), f64::NEG_INFINITY)));
    }

    #[test]
    fn variants_are_part_of_the_path() {
        let at = |kind| non_finite(&Reading { kind, ..reading() }).map(|(path, _)| path);
        assert_eq!(at(Kind::Scaled(f64::NAN)).as_deref(), Some("kind.Scaled"));
        assert_eq!(at(Kind::Pair(1, f64::NAN)).as_deref(), Some("kind.Pair[1]"));
        assert_eq!(at(Kind::Range { low: 0.0, high: f64::NAN }).as_deref(), Some("kind.Range.high"));
        // Leaving a variant restores the path for what follows.
        let tuple = (Kind::Range { low: 0.0, high: 1.0 }, vec![f64::NAN]);
        assert_eq!(non_finite(&tuple).map(|(p, _)| p).as_deref(), Some("[1][0]"));
    }
}
