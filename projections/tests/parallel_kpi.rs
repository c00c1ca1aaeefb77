//! The indicators computed on several threads (issue 11, the KPI target): the persons are cut into
//! shares, each share's table is computed on a thread of its own and the tables are merged. For
//! random populations, every indicator of the catalogue and every breakdown it allows, at random
//! reporting dates and with and without disclosure control, must answer byte for byte as on one
//! thread, however many shares the persons are cut into.

mod support;

use journey_core::registers::Registers;
use journey_projections::kpi::{catalogue, compute, compute_on, KpiQuery, Suppression};
use journey_projections::view::{Households, PersonView};
use proptest::prelude::*;
use support::{at, breakdowns, date, reference_views, NOW};

/// Every answer of the catalogue over `views` on `threads` threads, as JSON text, one a line.
fn answers(
    views: &[PersonView],
    households: &Households,
    as_of: chrono::NaiveDate,
    threads: usize,
) -> Vec<String> {
    let registers = Registers::default();
    let mut out = Vec::new();
    for definition in catalogue()
        .iter()
        .filter(|definition| !definition.person_level)
    {
        for by in breakdowns(definition.disaggregations) {
            for suppression in [None, Some(Suppression { k: 3 })] {
                let query = KpiQuery {
                    key: definition.key.to_owned(),
                    as_of,
                    known_at: at(NOW),
                    by: by.clone(),
                    suppression,
                };
                let answer = compute_on(&query, views, households, &registers, threads)
                    .map(|result| serde_json::to_string(&result).expect("json"))
                    .unwrap_or_else(|error| format!("error: {error}"));
                out.push(format!(
                    "{} by {by:?} {suppression:?}: {answer}",
                    definition.key
                ));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn every_indicator_and_breakdown_on_several_threads_equals_one_thread(
        people in 1usize..160,
        seed in 0u64..1_000_000,
        days in 0i64..3_650,
        threads in 2usize..7,
    ) {
        let journals = support::population(people, seed);
        let views = reference_views(&journals, at(NOW));
        let households = Households::from_views(&views);
        let as_of = date("2015-06-30") + chrono::Duration::days(days);

        let single = answers(&views, &households, as_of, 1);
        let shared = answers(&views, &households, as_of, threads);
        prop_assert_eq!(single.len(), shared.len());
        for (one, several) in single.iter().zip(&shared) {
            prop_assert_eq!(one, several, "{} persons on {} threads", views.len(), threads);
        }

        // One thread is the reference computation itself.
        let query = KpiQuery {
            key: "idle_days".to_owned(),
            as_of,
            known_at: at(NOW),
            by: vec![],
            suppression: None,
        };
        prop_assert_eq!(
            compute_on(&query, &views, &households, &Registers::default(), 1),
            compute(&query, &views, &households)
        );
    }
}
