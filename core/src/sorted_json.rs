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
    }
}
