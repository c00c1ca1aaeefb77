//! The projections as the runner builds them (views built on every core, from journals kept by the
//! runner) against the reference (each person's view built one after the other with
//! `PersonView::build`, the definition): on a seeded population, every indicator of the catalogue,
//! every breakdown it allows (total, each one-way table, its first two-way table), at a grid of
//! `as_of` dates and `known_at` cuts, must give the same answer.
//!
//! This is the check issue 11 asks of any new form of the projections: the reference side stays,
//! the other side is whatever the runner serves.

mod support;

use journey_core::synth::SynthConfig;
use journey_projections::kpi::{catalogue, compute, KpiQuery};
use journey_projections::view::Households;
use journey_projections::{State, ViewSet, LIVE};
use support::{at, breakdowns, date, reference_views};

/// Enough persons that the runner builds views on several threads (it does so from 2,048).
const PEOPLE: usize = 2_200;

#[test]
fn the_served_projections_answer_every_indicator_breakdown_and_cut_as_the_reference_does() {
    let config = SynthConfig {
        people: PEOPLE,
        seed: 11,
        start: date("2015-01-01"),
        end: date("2024-12-31"),
    };
    let state = State::from_journals(support::synthetic_journals(&config), None, None);
    let as_ofs = [date("2019-06-30"), date("2024-12-31")];
    let known_ats = [at("2018-01-01"), at("2022-07-01"), LIVE];
    let mut compared = 0usize;
    for known_at in known_ats {
        let served = ViewSet::for_state(&state, known_at);
        let reference = reference_views(&state.journals, known_at);
        assert!(
            !reference.is_empty(),
            "the cut {known_at} holds persons, so the grid compares something"
        );
        assert!(
            served.views == reference,
            "the views at {known_at} differ from the reference"
        );
        let reference_households = Households::from_views(&reference);
        for definition in catalogue()
            .iter()
            .filter(|definition| !definition.person_level)
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
                    let expected = compute(&query, &reference, &reference_households);
                    let answered = compute(&query, &served.views, &served.households);
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
