//! A past `known_at` served from the kept rows (`KeptCut`, issue 11) against the reference (each
//! person's view built at the cut with `PersonView::build`, the definition), as `grid.rs` checks
//! the views: on a seeded population whose kept rows were built before some persons changed or
//! came and then refreshed for them, every indicator the kept rows answer, every breakdown it
//! allows, at a grid of `as_of` dates and past cuts, gives the same answer.

mod support;

use std::collections::BTreeSet;

use journey_core::envelope::PersonId;
use journey_core::registers::Registers;
use journey_core::synth::SynthConfig;
use journey_projections::kpi::history::History;
use journey_projections::kpi::{catalogue, compute, KpiQuery};
use journey_projections::offers::Offers;
use journey_projections::view::Households;
use journey_projections::volunteers::Volunteers;
use journey_projections::{KeptCut, State};
use support::{at, breakdowns, date, reference_views};

/// Enough persons that the kept rows are built in several shards (from 2,048).
const PEOPLE: usize = 2_200;

#[test]
fn a_past_cut_from_refreshed_kept_rows_answers_every_indicator_it_serves_as_the_reference_does() {
    let config = SynthConfig {
        people: PEOPLE,
        seed: 11,
        start: date("2015-01-01"),
        end: date("2024-12-31"),
    };
    let after = support::synthetic_journals(&config);
    // Before: every tenth person knew only what was recorded by mid-2020 (their later facts,
    // late entries among them, arrive afterwards), and every thirty-seventh had not come yet.
    let recorded_by = at("2020-06-30");
    let mut before = after.clone();
    let mut dirty = BTreeSet::<PersonId>::new();
    for (index, person) in after.keys().enumerate() {
        if index % 37 == 1 {
            before.remove(person);
            dirty.insert(*person);
        } else if index % 10 == 0 {
            let journal = before.get_mut(person).expect("a journal");
            journal
                .facts
                .retain(|fact| fact.recorded_at.time() <= recorded_by);
            dirty.insert(*person);
        }
    }
    let before = State::from_journals(before, None, None);
    let mut history = History::of_journals(&before.store, &before.journals);
    let state = State::from_journals(after, None, None);
    history.refresh(&state.store, &state.journals, &dirty);

    let as_ofs = [date("2019-06-30"), date("2024-12-31")];
    let mut compared = 0;
    for known_at in [at("2018-01-01"), at("2022-07-01")] {
        let cut = KeptCut::of_history(&state, &history, known_at);
        let reference = reference_views(&state.journals, known_at);
        assert!(!reference.is_empty(), "the cut {known_at} holds persons");
        let households = Households::from_views(&reference);
        for definition in catalogue()
            .iter()
            .filter(|definition| !definition.person_level && KeptCut::answers(definition.key))
        {
            for by in breakdowns(definition.disaggregations) {
                for as_of in as_ofs {
                    let query = KpiQuery {
                        key: definition.key.to_owned(),
                        as_of,
                        known_at,
                        by: by.clone(),
                        suppression: None,
                    };
                    let expected = compute(&query, &reference, &households);
                    let answered = cut.compute(
                        &query,
                        &Registers::default(),
                        &Offers::default(),
                        &Volunteers::default(),
                    );
                    assert_eq!(
                        format!("{answered:?}"),
                        format!("{expected:?}"),
                        "{} by {by:?} as of {as_of}, known at {known_at}",
                        definition.key
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100, "the grid asked {compared} questions");
}
