//! The runner keeps its journals with every event and actor interned (issue 11, plan step 1): each
//! distinct event is held once by the state's `Interner` and the facts name it by a symbol. These
//! properties check that this form changes no answer and keeps nothing of an erased person:
//! - every interned fact resolves to the event and actor it was made from;
//! - the views folded from interned journals equal those folded from the same journals with their
//!   events inline (the form `grid.rs`, `past_cut.rs` and the reference folds use), live and at past
//!   cuts, for synthetic populations with corrections and retractions;
//! - releasing the facts of erased persons leaves exactly the distinct events and actors of the
//!   others, so an erased person's events do not stay behind their symbols.

mod support;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use journey_projections::journal::{Interner, Store};
use journey_projections::{State, ViewSet, LIVE};
use proptest::prelude::*;

fn instant(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(seconds, 0).expect("in range")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn interned_journals_fold_to_the_same_views_as_inline_ones(
        people in 1usize..30,
        seed in any::<u64>(),
        cuts in prop::collection::vec(1_420_070_400i64..1_735_689_600, 1..4),
    ) {
        let journals = support::population(people, seed);
        let interned = State::interned(journals.clone(), None, None);
        // Every fact resolves to what it was made from.
        for (person, journal) in &journals {
            let kept = &interned.journals[person];
            prop_assert_eq!(kept.facts.len(), journal.facts.len());
            for (fact, original) in kept.facts.iter().zip(&journal.facts) {
                prop_assert_eq!(interned.store.event(&fact.event), &original.event);
                prop_assert_eq!(interned.store.actor(&fact.actor), &original.actor);
                prop_assert_eq!(
                    (fact.position, fact.revision, fact.id, fact.occurred_on, fact.recorded_at),
                    (original.position, original.revision, original.id, original.occurred_on, original.recorded_at)
                );
            }
        }
        let inline = State::from_journals(journals, None, None);
        let mut all_cuts: Vec<DateTime<Utc>> = cuts.into_iter().map(instant).collect();
        all_cuts.push(LIVE);
        for cut in all_cuts {
            let expected = ViewSet::for_state(&inline, cut);
            let served = ViewSet::for_state(&interned, cut);
            prop_assert!(served.views == expected.views, "the views at {} differ", cut);
        }
    }

    #[test]
    fn releasing_erased_persons_keeps_exactly_the_others_events(
        people in 1usize..30,
        seed in any::<u64>(),
        erased in prop::collection::vec(any::<bool>(), 30),
    ) {
        let journals = support::population(people, seed);
        let mut interner = Interner::default();
        let mut kept = Vec::new();
        for (index, journal) in journals.values().enumerate() {
            let facts: Vec<_> = journal
                .facts
                .iter()
                .map(|fact| interner.intern_fact(fact.clone()))
                .collect();
            kept.push((erased[index % erased.len()], journal, facts));
        }
        for (is_erased, _, facts) in &kept {
            if *is_erased {
                for fact in facts {
                    interner.release(fact);
                }
            }
        }
        let remaining = kept.iter().filter(|(is_erased, _, _)| !is_erased);
        let mut events = HashSet::new();
        let mut actors = HashSet::new();
        for (_, journal, facts) in remaining {
            for (fact, original) in facts.iter().zip(&journal.facts) {
                prop_assert_eq!(interner.event(&fact.event), &original.event);
                prop_assert_eq!(interner.actor(&fact.actor), &original.actor);
                events.insert(original.event.clone());
                actors.insert(original.actor.clone());
            }
        }
        prop_assert_eq!(interner.len(), (events.len(), actors.len()));
        if events.is_empty() {
            prop_assert!(interner.is_empty());
        }
    }
}

/// The interner's own structure costs little beside the values it holds (issue 11): its index
/// holds a 4-byte symbol and a control byte a value, and each slot a pointer and a count, where an
/// index keyed by the value held a second pointer and the value an `Arc`'s two counters (about 70
/// bytes a value at this size). A value dropped and interned again takes its old slot back.
#[test]
fn the_interners_tables_take_under_40_bytes_a_distinct_value() {
    use journey_core::envelope::Actor;
    let mut interner = Interner::default();
    let symbols: Vec<_> = (0..10_000)
        .map(|n| interner.intern_actor(&Actor::system(&format!("actor-{n}"))))
        .collect();
    assert_eq!(interner.len(), (0, 10_000));
    let bytes = interner.table_bytes();
    assert!(bytes < 40 * 10_000, "{bytes} bytes for 10,000 values");

    // The same value again is the same symbol, and resolves to the value.
    let again = interner.intern_actor(&Actor::system("actor-17"));
    assert_eq!(again, symbols[17]);
    assert_eq!(interner.actor(&again), &Actor::system("actor-17"));
    assert_eq!(
        interner.table_bytes(),
        bytes,
        "nothing grows for a held value"
    );
}
