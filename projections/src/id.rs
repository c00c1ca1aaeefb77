//! The ids a view keeps that name one entry each (an employment, a measure, a training, a
//! consent): unlike the codes of [`crate::code`], each is its own text, so interning them would
//! only add a table entry per id. An [`Id`] owns its text as a boxed `str`: 16 bytes inline where a
//! `String` took 24 (no capacity to keep, the text is never changed), and it reads like the
//! `String` it replaces (`as_str`, deref to `str`, comparison with text, serialized as the text).

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// One entry's id (see the module).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(Box<str>);

impl Id {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Id {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_id_is_a_boxed_str_inline() {
        assert_eq!(std::mem::size_of::<Id>(), 16);
    }

    proptest! {
        /// An id reads, compares, orders, prints and serializes as the `String` it stands for.
        #[test]
        fn an_id_is_its_text(left in ".{0,12}", right in ".{0,12}") {
            let (id, other) = (Id::from(left.as_str()), Id::from(right.as_str()));
            prop_assert_eq!(id.as_str(), left.as_str());
            prop_assert!(id == left);
            prop_assert_eq!(id == other, left == right);
            prop_assert_eq!(id.cmp(&other), left.cmp(&right));
            prop_assert_eq!(format!("{id:?}"), format!("{left:?}"));
            prop_assert_eq!(id.to_string(), left.clone());
            prop_assert_eq!(
                serde_json::to_string(&id).expect("serializes"),
                serde_json::to_string(&left).expect("serializes")
            );
            let back: Id = serde_json::from_str(&serde_json::to_string(&left).expect("serializes"))
                .expect("deserializes");
            prop_assert_eq!(back, id);
        }
    }
}
