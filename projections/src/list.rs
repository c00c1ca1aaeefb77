//! The list type of a person view: a boxed slice that grows one place at a time.
//!
//! A view holds 32 lists, and most of them hold nothing or one or two entries (issue 11, plan
//! step 3). A `Vec` is 24 bytes inline (pointer, length and capacity) and grows by doubling, so the
//! views gave their spare places back after each fold (`shrink_to_fit`). A [`List`] is a
//! `Box<[T]>`: 16 bytes inline, no capacity to keep, and never any spare place, so a view needs
//! no fitting after it is built and a copy of it (a past cut's) is as small. An empty list
//! allocates nothing.
//!
//! [`List::push`] grows the allocation by exactly one place. That costs one reallocation a push
//! where a `Vec` amortizes them, but a view's lists stay short (a person has about 35 facts over
//! 18 filled lists), and a `Vec` had to be shrunk once per list after the fold anyway.
//!
//! A list derefs to a slice, so readers index, iterate and search it as they did the `Vec`; it is
//! serialized as the plain sequence, so nothing a view is serialized into changes, and its `Debug`
//! form is the slice's.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

/// A list of a view: exactly as long as it holds (see the module).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct List<T>(Box<[T]>);

impl<T> List<T> {
    /// The empty list (no allocation).
    pub fn new() -> Self {
        Self(Box::default())
    }

    /// Appends `value`, growing the allocation by exactly one place.
    pub fn push(&mut self, value: T) {
        let mut items = std::mem::take(&mut self.0).into_vec();
        items.reserve_exact(1);
        items.push(value);
        self.0 = items.into_boxed_slice();
    }

    /// The bytes the list's entries take on the heap (their inline bytes; what they own beyond
    /// that is not counted here).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[T]>(&self.0)
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Deref for List<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for List<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A list compares with arrays, slices and `Vec`s by its entries, as a `Vec` does, so code that
/// compared a view's lists with them reads the same.
macro_rules! equal_by_entries {
    ($([$($generics:tt)*] $other:ty),+ $(,)?) => {
        $(
            impl<T: PartialEq<U>, U, $($generics)*> PartialEq<$other> for List<T> {
                fn eq(&self, other: &$other) -> bool {
                    self.0[..] == other[..]
                }
            }
        )+
    };
}

equal_by_entries!(
    [const N: usize] [U; N],
    [const N: usize] &[U; N],
    [] [U],
    [] &[U],
    [] Vec<U>,
);

/// A `Vec` becomes a list without its spare capacity.
impl<T> From<Vec<T>> for List<T> {
    fn from(items: Vec<T>) -> Self {
        Self(items.into_boxed_slice())
    }
}

impl<T> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        Self::from(items.into_iter().collect::<Vec<T>>())
    }
}

impl<T> IntoIterator for List<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_vec().into_iter()
    }
}

impl<'a, T> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_list_is_a_boxed_slice_inline() {
        assert_eq!(std::mem::size_of::<List<u64>>(), 16);
        assert_eq!(std::mem::size_of::<Option<List<u64>>>(), 16);
    }

    proptest! {
        /// Pushing one value at a time gives the list a `Vec` would hold, with no spare place:
        /// its heap bytes are its length times the entry's size.
        #[test]
        fn pushing_keeps_the_entries_in_order_and_the_list_exact(
            values in proptest::collection::vec(any::<u32>(), 0..40)
        ) {
            let mut list = List::new();
            for value in &values {
                list.push(*value);
            }
            prop_assert_eq!(&list[..], &values[..]);
            prop_assert_eq!(list.heap_bytes(), values.len() * std::mem::size_of::<u32>());
            prop_assert_eq!(&list, &List::from(values.clone()));
            prop_assert_eq!(
                serde_json::to_string(&list).expect("serializes"),
                serde_json::to_string(&values).expect("serializes")
            );
            prop_assert_eq!(format!("{list:?}"), format!("{values:?}"));
            prop_assert_eq!(list.into_iter().collect::<Vec<_>>(), values);
        }
    }
}
