//! Writing a JSON object with sorted keys straight into bytes, for the canonical forms that are
//! hashed (the ledger's canonical content, the chain's canonical envelope).
//!
//! Those forms were first defined as a `serde_json::Value` object serialized compactly, and
//! `serde_json`'s map sorts its keys (this workspace does not enable `preserve_order`). Building a
//! `Value` costs an allocation per key and per value on every event written and every event
//! verified; this writer produces the same bytes without it, as long as the caller gives the keys
//! in sorted order, which [`SortedObject::field`] checks in debug builds.

use serde::Serialize;

/// A JSON object being written; [`SortedObject::finish`] closes it.
#[derive(Debug)]
pub struct SortedObject {
    bytes: Vec<u8>,
    #[cfg(debug_assertions)]
    last_key: Option<&'static str>,
}

impl SortedObject {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
            #[cfg(debug_assertions)]
            last_key: None,
        }
    }

    /// Writes `"key":` followed by `value` as `serde_json` writes it compactly.
    pub fn field(&mut self, key: &'static str, value: &(impl Serialize + ?Sized)) -> &mut Self {
        self.key(key);
        let before = self.bytes.len();
        // Writing into a `Vec` cannot fail, and the values written here (strings, numbers, dates,
        // uuids, `Value`s) always serialize; `null` keeps the object well-formed if one did not.
        if serde_json::to_writer(&mut self.bytes, value).is_err() {
            self.bytes.truncate(before);
            self.bytes.extend_from_slice(b"null");
        }
        self
    }

    /// Writes `"key":` followed by `json`, which must be one compactly serialized JSON value.
    pub fn raw_field(&mut self, key: &'static str, json: &[u8]) -> &mut Self {
        self.key(key);
        self.bytes.extend_from_slice(json);
        self
    }

    /// The object's bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.bytes.is_empty() {
            self.bytes.push(b'{');
        }
        self.bytes.push(b'}');
        std::mem::take(&mut self.bytes)
    }

    fn key(&mut self, key: &'static str) {
        #[cfg(debug_assertions)]
        {
            debug_assert!(
                self.last_key.is_none_or(|last| last < key),
                "keys out of order: `{key}` after `{:?}`",
                self.last_key
            );
            self.last_key = Some(key);
        }
        self.bytes
            .extend_from_slice(if self.bytes.is_empty() { b"{" } else { b"," });
        // Keys are fixed names of the canonical forms; writing them through `serde_json` escapes
        // them like any other string.
        if serde_json::to_writer(&mut self.bytes, key).is_err() {
            self.bytes.extend_from_slice(b"\"\"");
        }
        self.bytes.push(b':');
    }
}

/// Serializes `value` to the bytes of `serde_json::to_vec(&serde_json::to_value(value))`: compact
/// JSON whose objects (structs, maps, variants) have their keys sorted, as `serde_json`'s map
/// sorts them, but without building the `Value` (an allocation per key and per value, on every
/// payload written). Shapes this writer does not take (floats, bytes, 128-bit integers, map keys
/// that are not strings) go through the `Value` as before, so the bytes never depend on which way
/// was taken; `None` when the `Value` does not serialize either.
pub fn to_vec_sorted<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(128);
    match value.serialize(SortedWriter { out: &mut bytes }) {
        Ok(()) => Some(bytes),
        Err(Unsupported) => serde_json::to_value(value)
            .ok()
            .and_then(|value| serde_json::to_vec(&value).ok()),
    }
}

/// A shape [`to_vec_sorted`] leaves to the `Value`, or an error of the value's own `Serialize`.
#[derive(Debug)]
struct Unsupported;

impl std::fmt::Display for Unsupported {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("left to serde_json's Value")
    }
}

impl std::error::Error for Unsupported {}

impl serde::ser::Error for Unsupported {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Unsupported
    }
}

/// Writes one value into `out`. Scalars go through `serde_json`'s writer, so that they are
/// formatted and escaped as the `Value` would be.
struct SortedWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl SortedWriter<'_> {
    fn scalar(self, value: &(impl Serialize + ?Sized)) -> Result<(), Unsupported> {
        serde_json::to_writer(self.out, value).map_err(|_| Unsupported)
    }

    /// Opens `{"variant":` around a variant's content.
    fn open_variant(out: &mut Vec<u8>, variant: &'static str) -> Result<(), Unsupported> {
        out.push(b'{');
        serde_json::to_writer(&mut *out, variant).map_err(|_| Unsupported)?;
        out.push(b':');
        Ok(())
    }
}

macro_rules! scalars {
    ($($method:ident: $type:ty),+ $(,)?) => {
        $(fn $method(self, value: $type) -> Result<(), Unsupported> {
            self.scalar(&value)
        })+
    };
}

macro_rules! unsupported {
    ($($method:ident: $type:ty),+ $(,)?) => {
        $(fn $method(self, _: $type) -> Result<(), Unsupported> {
            Err(Unsupported)
        })+
    };
}

impl<'a> serde::Serializer for SortedWriter<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = SortedArray<'a>;
    type SerializeTuple = SortedArray<'a>;
    type SerializeTupleStruct = SortedArray<'a>;
    type SerializeTupleVariant = SortedArray<'a>;
    type SerializeMap = SortedFields<'a>;
    type SerializeStruct = SortedFields<'a>;
    type SerializeStructVariant = SortedFields<'a>;

    scalars!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_char: char,
        serialize_str: &str,
    );
    unsupported!(
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_i128: i128,
        serialize_u128: u128,
        serialize_bytes: &[u8],
    );

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.scalar(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        Self::open_variant(self.out, variant)?;
        value.serialize(SortedWriter {
            out: &mut *self.out,
        })?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<SortedArray<'a>, Unsupported> {
        self.out.push(b'[');
        Ok(SortedArray {
            out: self.out,
            first: true,
            in_variant: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<SortedArray<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SortedArray<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<SortedArray<'a>, Unsupported> {
        Self::open_variant(self.out, variant)?;
        self.out.push(b'[');
        Ok(SortedArray {
            out: self.out,
            first: true,
            in_variant: true,
        })
    }

    fn serialize_map(self, _: Option<usize>) -> Result<SortedFields<'a>, Unsupported> {
        Ok(SortedFields::new(self.out, None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<SortedFields<'a>, Unsupported> {
        Ok(SortedFields::new(self.out, None))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<SortedFields<'a>, Unsupported> {
        Ok(SortedFields::new(self.out, Some(variant)))
    }
}

/// An array being written straight into the output.
struct SortedArray<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// Inside `{"variant":` (a tuple variant), which the end closes too.
    in_variant: bool,
}

impl SortedArray<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(SortedWriter {
            out: &mut *self.out,
        })
    }

    fn close(self) -> Result<(), Unsupported> {
        self.out.push(b']');
        if self.in_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl serde::ser::SerializeSeq for SortedArray<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl serde::ser::SerializeTuple for SortedArray<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl serde::ser::SerializeTupleStruct for SortedArray<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl serde::ser::SerializeTupleVariant for SortedArray<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

/// An object's fields, each value written into one scratch buffer as it comes, then written out
/// sorted by key when the object ends (a later field of the same key replaces an earlier one, as
/// in the `Value`'s map).
struct SortedFields<'a> {
    out: &'a mut Vec<u8>,
    variant: Option<&'static str>,
    values: Vec<u8>,
    /// Each field's key and the range of its value in `values`.
    fields: Vec<(std::borrow::Cow<'static, str>, std::ops::Range<usize>)>,
    /// The key of a map entry whose value is still to come.
    pending_key: Option<String>,
}

impl<'a> SortedFields<'a> {
    fn new(out: &'a mut Vec<u8>, variant: Option<&'static str>) -> Self {
        Self {
            out,
            variant,
            values: Vec::new(),
            fields: Vec::new(),
            pending_key: None,
        }
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: std::borrow::Cow<'static, str>,
        value: &T,
    ) -> Result<(), Unsupported> {
        let start = self.values.len();
        value.serialize(SortedWriter {
            out: &mut self.values,
        })?;
        self.fields.push((key, start..self.values.len()));
        Ok(())
    }

    fn close(mut self) -> Result<(), Unsupported> {
        if let Some(variant) = self.variant {
            SortedWriter::open_variant(self.out, variant)?;
        }
        // Stable, so that of equal keys the later field comes last and is the one kept.
        self.fields.sort_by(|(a, _), (b, _)| a.cmp(b));
        self.out.push(b'{');
        let mut first = true;
        for (index, (key, range)) in self.fields.iter().enumerate() {
            if self
                .fields
                .get(index + 1)
                .is_some_and(|(next, _)| next == key)
            {
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *self.out, key.as_ref()).map_err(|_| Unsupported)?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.values[range.clone()]);
        }
        self.out.push(b'}');
        if self.variant.is_some() {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl serde::ser::SerializeStruct for SortedFields<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(std::borrow::Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl serde::ser::SerializeStructVariant for SortedFields<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(std::borrow::Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl serde::ser::SerializeMap for SortedFields<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        // Only string keys (and unit variants, which are strings); the `Value` turns numbers and
        // booleans into strings, which is left to it.
        let mut bytes = Vec::new();
        key.serialize(SortedWriter { out: &mut bytes })?;
        let key: String = serde_json::from_slice(&bytes).map_err(|_| Unsupported)?;
        self.pending_key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let key = self.pending_key.take().ok_or(Unsupported)?;
        self.field(std::borrow::Cow::Owned(key), value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ".*".prop_map(Value::String),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_\"\\\\é]{0,6}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    const KEYS: [&str; 6] = ["a", "actor", "data", "id", "type", "version"];

    proptest! {
        #[test]
        fn the_bytes_are_those_of_the_value_object(
            values in prop::collection::vec(prop::option::of(value()), KEYS.len()),
            raw in any::<bool>(),
        ) {
            // Given some of the keys, in sorted order, with arbitrary JSON values
            let mut object = SortedObject::with_capacity(16);
            let mut reference = Map::new();
            for (key, value) in KEYS.iter().zip(&values) {
                let Some(value) = value else { continue };
                // When each is written as a value, or as JSON serialized beforehand
                if raw {
                    object.raw_field(key, &serde_json::to_vec(value).unwrap_or_default());
                } else {
                    object.field(key, value);
                }
                reference.insert((*key).to_owned(), value.clone());
            }
            // Then the bytes are the `Value` object's, serialized
            let expected = serde_json::to_vec(&Value::Object(reference)).unwrap_or_default();
            let written = object.finish();
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }

        #[test]
        fn a_value_written_sorted_is_the_value_serialized(value in value()) {
            // Given any JSON value without floats (objects with keys that need escaping)
            // When it is written by the sorting writer
            let written = to_vec_sorted(&value).expect("writes");
            // Then the bytes are serde_json's
            let expected = serde_json::to_vec(&value).expect("serializes");
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }

        #[test]
        fn every_serde_shape_is_written_as_through_the_value(
            shape in prop_oneof![
                Just(Shape::Unit),
                any::<i64>().prop_map(Shape::Newtype),
                (any::<u8>(), ".*").prop_map(|(n, text)| Shape::Tuple(n, text)),
                (any::<bool>(), prop::option::of(any::<i32>()))
                    .prop_map(|(zebra, apple)| Shape::Struct { zebra, apple }),
            ],
            record in (
                ".*",
                prop::option::of(any::<u16>()),
                prop::collection::btree_map("[a-z\"\\\u{1}é]{0,4}", any::<u32>(), 0..4),
                prop::collection::vec(any::<char>(), 0..3),
                prop::option::of(-1e6f64..1e6),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..3)),
                prop::option::of(0..=u128::from(u64::MAX)),
                prop::option::of(prop::collection::btree_map(any::<u8>(), any::<bool>(), 0..3)),
            ),
        ) {
            // Given a struct of unsorted fields holding every shape serde derives: unit, newtype,
            // tuple and struct variants, options skipped or not, maps of string keys, a flattened
            // map, chars, and the shapes left to the `Value` (floats, bytes, 128-bit integers,
            // maps of numeric keys)
            let (text, skipped, map, chars, float, bytes, wide, numeric_keys) = record;
            let record = Record {
                zulu: text,
                skipped,
                shape,
                map,
                alpha: Unit,
                chars,
                nested: Inner { b: 1, a: Wrapper(2) },
                extra: [("middle".to_owned(), 3u8)].into_iter().collect(),
                float,
                bytes: bytes.map(serde_bytes_like),
                wide,
                numeric_keys,
            };
            // When it is written by the sorting writer
            let written = to_vec_sorted(&record).expect("writes");
            // Then the bytes are those of its `Value`, serialized
            let value = serde_json::to_value(&record).expect("a value");
            let expected = serde_json::to_vec(&value).expect("serializes");
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
            // And so are those of the record without the shapes left to the `Value`, which the
            // sorting writer takes whole
            let plain = Record {
                float: None,
                bytes: None,
                wide: None,
                numeric_keys: None,
                ..record
            };
            let mut written = Vec::new();
            let taken = plain.serialize(SortedWriter { out: &mut written });
            prop_assert!(taken.is_ok(), "the sorting writer takes the plain record");
            let value = serde_json::to_value(&plain).expect("a value");
            let expected = serde_json::to_vec(&value).expect("serializes");
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }
    }

    #[derive(Debug, Clone, Serialize)]
    enum Shape {
        Unit,
        Newtype(i64),
        Tuple(u8, String),
        Struct { zebra: bool, apple: Option<i32> },
    }

    #[derive(Debug, Clone, Serialize)]
    struct Unit;

    #[derive(Debug, Clone, Serialize)]
    struct Wrapper(u64);

    #[derive(Debug, Clone, Serialize)]
    struct Inner {
        b: u8,
        a: Wrapper,
    }

    /// Bytes serialized as bytes (`serialize_bytes`), not as a sequence.
    #[derive(Debug, Clone)]
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    fn serde_bytes_like(bytes: Vec<u8>) -> Bytes {
        Bytes(bytes)
    }

    #[derive(Debug, Clone, Serialize)]
    struct Record {
        zulu: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u16>,
        shape: Shape,
        map: std::collections::BTreeMap<String, u32>,
        alpha: Unit,
        chars: Vec<char>,
        nested: Inner,
        #[serde(flatten)]
        extra: std::collections::BTreeMap<String, u8>,
        float: Option<f64>,
        bytes: Option<Bytes>,
        wide: Option<u128>,
        numeric_keys: Option<std::collections::BTreeMap<u8, bool>>,
    }
}
