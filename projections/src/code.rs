//! Interned codes: the short strings a view repeats for many persons (district and nationality
//! codes, caseworker ids, counselling bases, legal bases, course ids and providers, occupation
//! codes, mentors, consent purposes) kept once per process. The ids that name one entry each
//! (employments, measures, trainings, consents) are not interned: see [`crate::id`].
//!
//! A view held each of them as its own `String` (24 bytes inline and a heap block each), and the
//! same few hundred values recur across a million views (issue 11, plan step 3). A [`Code`] is one
//! pointer to the one copy of its text: 8 bytes, `Option<Code>` too, and [`Code::as_str`] reads the
//! text without a lock. Equal texts give the same pointer, so comparing two codes compares two
//! pointers.
//!
//! The texts are never freed: a code may be read by any view of any cut for as long as the process
//! runs. What they hold is bounded by the distinct values the log holds (the journals' interner
//! keeps every distinct event, which carries these texts, anyway), and a value is added only once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One interned text (see the module). Serialized as the text itself.
///
/// `Clone`, not `Copy`: it stands where a `String` stood, and readers clone it as they did.
#[derive(Clone)]
pub struct Code(&'static String);

/// Every text interned so far, by its text. The value is a thin pointer (`&String`, 8 bytes) where
/// a `&str` would be a wide one (16).
type Texts = HashMap<&'static str, &'static String>;

fn texts() -> &'static RwLock<Texts> {
    static TEXTS: OnceLock<RwLock<Texts>> = OnceLock::new();
    TEXTS.get_or_init(|| RwLock::new(HashMap::new()))
}

impl Code {
    /// The code of `text`, interning it when it is new.
    pub fn new(text: &str) -> Self {
        let read = texts()
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = read.get(text) {
            return Code(known);
        }
        drop(read);
        let mut write = texts()
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another thread may have added it between the two locks.
        if let Some(known) = write.get(text) {
            return Code(known);
        }
        let leaked: &'static String = Box::leak(Box::new(text.to_owned()));
        write.insert(leaked.as_str(), leaked);
        Code(leaked)
    }

    /// The text.
    pub fn as_str(&self) -> &'static str {
        self.0.as_str()
    }
}

impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        // Interning makes equal texts one allocation.
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Code {}

impl std::hash::Hash for Code {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Code {
    /// By text, as the strings the codes replace were ordered.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}

impl std::ops::Deref for Code {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Code {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Code {
    fn from(text: &str) -> Self {
        Code::new(text)
    }
}

impl From<&String> for Code {
    fn from(text: &String) -> Self {
        Code::new(text)
    }
}

impl From<Code> for String {
    fn from(code: Code) -> Self {
        code.0.clone()
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Code {
    fn eq(&self, other: &String) -> bool {
        self.0 == other.as_str()
    }
}

impl PartialEq<Code> for str {
    fn eq(&self, other: &Code) -> bool {
        self == other.0
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.0
    }
}

impl PartialEq<Code> for String {
    fn eq(&self, other: &Code) -> bool {
        self.as_str() == other.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), formatter)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Code::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::Code;
    use proptest::prelude::*;

    /// A code is one thin pointer, and `None` costs nothing more (the layout this module is for).
    #[test]
    fn a_code_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Code>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<Code>>(),
            std::mem::size_of::<usize>()
        );
    }

    proptest! {
        /// Given any two texts, when both are interned, then each code reads back its text, the
        /// codes are equal exactly when the texts are, they order as the texts do, and a code
        /// survives a round trip through JSON as the plain string.
        #[test]
        fn a_code_is_its_text(left in ".{0,12}", right in prop_oneof![".{0,12}", Just(String::new())]) {
            let (left_code, right_code) = (Code::new(&left), Code::new(&right));
            prop_assert_eq!(left_code.as_str(), left.as_str());
            prop_assert_eq!(right_code.as_str(), right.as_str());
            prop_assert_eq!(left_code == right_code, left == right);
            prop_assert_eq!(left_code.cmp(&right_code), left.cmp(&right));
            prop_assert_eq!(&Code::new(&left.clone()), &left_code);
            let json = serde_json::to_string(&left_code).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&json, &serde_json::to_string(&left).map_err(|error| TestCaseError::fail(error.to_string()))?);
            let back: Code = serde_json::from_str(&json).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&back, &left_code);
        }
    }
}
