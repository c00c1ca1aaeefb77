//! Calibration: the synthetic population's indicators, computed by the real KPI engine, land near the
//! published figures of DOMAIN.md section 7.

use std::collections::HashMap;

use chrono::NaiveDate;
use journey_core::synth::{generate, SynthConfig};
use journey_projections::journal::{Fact, Journals};
use journey_projections::kpi::{compute, Dimension, KpiQuery, KpiResult};
use journey_projections::view::{Households, PersonView};
use journey_projections::LIVE;

const PEOPLE: usize = 24_000;

fn journals(config: &SynthConfig) -> Journals {
    let mut journals = Journals::new();
    let mut revisions: HashMap<_, u64> = HashMap::new();
    for (position, event) in generate(config).into_iter().enumerate() {
        let revision = revisions.entry(event.person).or_default();
        journals.entry(event.person).or_default().facts.push(Fact {
            position: position as u64,
            revision: *revision,
            id: event.id,
            occurred_on: event.occurred_on,
            recorded_at: event.recorded_at,
            actor: event.actor,
            event: event.event,
        });
        *revision += 1;
    }
    journals
}

fn measure(result: &KpiResult, cell: Option<&str>, name: &str) -> f64 {
    let cell = match cell {
        None => &result.total,
        Some(value) => result
            .cells
            .iter()
            .find(|cell| {
                cell.dimensions
                    .first()
                    .is_some_and(|dimension| dimension.value == value)
            })
            .unwrap_or_else(|| panic!("no cell {value} in {}", result.key)),
    };
    cell.measures
        .iter()
        .find(|measure| measure.name == name)
        .and_then(|measure| measure.value)
        .unwrap_or_else(|| panic!("no value for {name} in {}", result.key))
}

#[test]
fn the_synthetic_population_matches_the_published_figures() {
    let as_of = NaiveDate::from_ymd_opt(2022, 12, 31).expect("date");
    let config = SynthConfig {
        people: PEOPLE,
        seed: 2022,
        start: NaiveDate::from_ymd_opt(2015, 1, 1).expect("date"),
        end: as_of,
    };
    let journals = journals(&config);
    let views: Vec<PersonView> = journals
        .iter()
        .filter_map(|(person, journal)| PersonView::build(*person, journal, LIVE))
        .collect();
    let households = Households::from_views(&views);
    let kpi = |key: &str, by: Vec<Dimension>| {
        let query = KpiQuery {
            key: key.to_owned(),
            as_of,
            known_at: LIVE,
            by,
            suppression: None,
        };
        compute(&query, &views, &households).expect("computes")
    };
    let mut report = Vec::new();
    let mut check = |label: &str, measured: f64, low: f64, high: f64| {
        report.push(format!("{label}: {measured:.1} (accepted {low}..{high})"));
        (low..=high).contains(&measured)
    };

    let curve = kpi("employment_by_years_since_arrival", vec![]);
    let mut ok = true;
    // Reference curve (IAB): about 7–10% after 1 year, 31% after 3, 49% after 5, 62–63% after 7; ±6 points.
    for (year, reference) in [("1", 8.5), ("3", 31.0), ("5", 49.0), ("7", 62.5)] {
        let measured = 100.0 * measure(&curve, Some(year), "rate");
        ok &= check(
            &format!("employment after {year} years"),
            measured,
            reference - 6.0,
            reference + 6.0,
        );
    }
    let dtz = kpi("dtz_b1_rate", vec![]);
    let first_b1 = measure(&dtz, None, "first_attempt_share_b1_or_better");
    ok &= check(
        "DTZ B1 share, first attempts (%)",
        100.0 * first_b1,
        48.7 - 6.0,
        48.7 + 6.0,
    );
    let completion = kpi("course_completion_rate", vec![]);
    let completed = measure(&completion, None, "share_completed");
    ok &= check(
        "course completion (%)",
        100.0 * completed,
        62.0 - 6.0,
        62.0 + 6.0,
    );
    let waiting = kpi("course_waiting_days", vec![]);
    // Bundesrechnungshof / BAMF: median waiting time of about 5 to 12 weeks.
    ok &= check(
        "median waiting days",
        measure(&waiting, None, "median_days"),
        35.0,
        84.0,
    );
    eprintln!("{}", report.join("\n"));
    assert!(ok, "calibration off:\n{}", report.join("\n"));
}

/// Disclosure control at a realistic size: the default k = 3 hides few figures of the common
/// two-way tables of `population_present`. Prints the counts (`--nocapture`).
#[test]
fn suppression_leaves_realistic_tables_mostly_published() {
    use journey_projections::kpi::Suppression;

    let as_of = NaiveDate::from_ymd_opt(2022, 12, 31).expect("date");
    let config = SynthConfig {
        people: PEOPLE,
        seed: 2022,
        start: NaiveDate::from_ymd_opt(2015, 1, 1).expect("date"),
        end: as_of,
    };
    let journals = journals(&config);
    let views: Vec<PersonView> = journals
        .iter()
        .filter_map(|(person, journal)| PersonView::build(*person, journal, LIVE))
        .collect();
    let households = Households::from_views(&views);
    let kpi = |by: Vec<Dimension>, suppression: Option<Suppression>| {
        let query = KpiQuery {
            key: "population_present".to_owned(),
            as_of,
            known_at: LIVE,
            by,
            suppression,
        };
        compute(&query, &views, &households).expect("computes")
    };
    for (by, most_hidden) in [
        (vec![Dimension::District, Dimension::Sex], 0.10),
        (vec![Dimension::Nationality, Dimension::ArrivalCohort], 0.10),
        (vec![Dimension::Nationality, Dimension::AgeBand], 0.10),
        (
            vec![Dimension::District, Dimension::YearsSinceArrival],
            0.10,
        ),
        (vec![Dimension::ProtectionStatus, Dimension::AgeBand], 0.10),
    ] {
        let open = kpi(by.clone(), None);
        let suppressed = kpi(by.clone(), Some(Suppression::default()));
        let count = |cells: &[journey_projections::kpi::Cell]| {
            let nonzero = cells
                .iter()
                .filter(|cell| cell.measures[0].persons.unwrap_or(0) > 0)
                .count();
            let hidden = cells
                .iter()
                .filter(|cell| cell.measures[0].suppressed)
                .count();
            (nonzero, hidden)
        };
        let primary = open
            .cells
            .iter()
            .filter(|cell| (1..3).contains(&cell.measures[0].persons.unwrap_or(0)))
            .count();
        let (inner, hidden) = count(&suppressed.cells);
        let (margins, hidden_margins) = count(&suppressed.margins);
        let persons_hidden: u64 = open
            .cells
            .iter()
            .filter(|cell| {
                suppressed.cells.iter().any(|other| {
                    other.dimensions == cell.dimensions && other.measures[0].suppressed
                })
            })
            .map(|cell| cell.measures[0].persons.unwrap_or(0))
            .sum();
        let nonzero = count(&open.cells).0;
        eprintln!(
            "population_present by {by:?}: {} inner cells listed ({nonzero} with persons, {primary} below k), \
             {hidden} suppressed ({persons_hidden} persons), {hidden_margins} of {margins} margins suppressed",
            suppressed.cells.len(),
        );
        let _ = inner;
        assert!(
            (persons_hidden as f64)
                < most_hidden * open.total.measures[0].persons.unwrap_or(0) as f64,
            "too much suppressed by {by:?}"
        );
    }
}
