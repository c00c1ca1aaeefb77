//! What each person contributes to an indicator's table, to tell how many persons two answers
//! differ by.
//!
//! Two tables of one query differ only through the persons whose contribution (their cell and
//! what they count in it) differs between the two cuts, or who count in one of them only. A push
//! of `kpiChanged` that differs from the last one by fewer than k such persons would let a
//! subscriber subtract the two and read those persons off the difference; the API counts them
//! with [`Contributions::persons_changed`] and holds such a push back (SECURITY.md).

use journey_core::envelope::PersonId;

/// Each counted person's contribution to one table, as a fingerprint, ordered by person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contributions {
    /// Ordered by person (the views are).
    pub(super) fingerprints: Vec<(PersonId, u64)>,
}

impl Contributions {
    /// How many persons count in the table.
    pub fn persons(&self) -> usize {
        self.fingerprints.len()
    }

    /// How many persons contribute differently to this table than to `earlier`: they joined or
    /// left the table's population, or moved to another cell, or count something else in it.
    pub fn persons_changed(&self, earlier: &Contributions) -> usize {
        let (mut mine, mut theirs) = (
            self.fingerprints.iter().peekable(),
            earlier.fingerprints.iter().peekable(),
        );
        let mut changed = 0;
        loop {
            match (mine.peek(), theirs.peek()) {
                (None, None) => return changed,
                (Some(_), None) => {
                    mine.next();
                    changed += 1;
                }
                (None, Some(_)) => {
                    theirs.next();
                    changed += 1;
                }
                (Some((person, now)), Some((other, before))) => {
                    if person < other {
                        mine.next();
                        changed += 1;
                    } else if other < person {
                        theirs.next();
                        changed += 1;
                    } else {
                        changed += usize::from(now != before);
                        mine.next();
                        theirs.next();
                    }
                }
            }
        }
    }
}
