//! A state built from loaded journals (a snapshot's, whose facts hold decoded events) keeps its
//! interned facts in lists of their own size. Collecting the interned facts from the inline ones
//! into a `Vec` reuses the inline list's allocation, which is several times larger: measured with
//! `journey bench projections`, the journals loaded from a snapshot held twice the live bytes of
//! the same journals folded from the log (docs/bench.md, "Live bytes by part").

mod support;

use journey_projections::State;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn interned_journals_hold_no_room_left_over_from_the_inline_ones(
        people in 1usize..30,
        seed in any::<u64>(),
    ) {
        // Given journals with their events inline, as a snapshot load gives them,
        let journals = support::population(people, seed);

        // when the state interns them,
        let state = State::interned(journals.clone(), None, None);

        // then every person's facts are kept in a list of exactly their number.
        for (person, journal) in &state.journals {
            prop_assert_eq!(journal.facts.len(), journals[person].facts.len());
            prop_assert_eq!(journal.facts.capacity(), journal.facts.len(), "{}", person);
        }
    }
}
