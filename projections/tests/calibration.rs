//! Calibration: the synthetic population's indicators, computed by the real KPI engine, land near the
//! published figures of DOMAIN.md section 7.

mod support;

use chrono::NaiveDate;
use journey_core::synth::SynthConfig;
use journey_projections::kpi::{compute, Cell, Dimension, KpiQuery, KpiResult};
use journey_projections::view::{Households, PersonView};
use journey_projections::LIVE;

/// The size of each seed's population in the calibration test. The employment curve is checked
/// at ±3 points, so the sampling error of each checked year must stay well inside that. On
/// 2022-12-31 each checked cohort of entry holds about this share of the persons as working-age
/// persons present: year 1 5.2%, year 3 5.2%, year 5 6.8%, year 7 14.6%. At 80,000 persons that
/// is about 4,100, 4,150, 5,400 and 11,700 persons, and the binomial standard error
/// sqrt(p(1 − p)/n) at the published rates is 0.44 points (p = 8.5%), 0.72 (31%), 0.68 (49%) and
/// 0.45 (62.5%). The five seeds spread by no more than that (standard deviations 0.4, 0.7, 0.3
/// and 0.5 points), although household members share an arrival, a route and a nationality. The
/// generator lands on average +1.1, −0.1, −1.2 and +0.4 points from the published figures, so the
/// narrowest margin is year 5: 1.8 points, 2.6 standard errors, about a half percent chance per
/// seed that a harmless change of the generator's random draws fails it; every other year keeps
/// more than three standard errors. At 24,000 persons (the size used before) every error would be
/// 1.8 times larger, and year 5 would fail by chance about one seed in fifteen. The five seeds take
/// about 190 seconds of CPU in a debug build (under three minutes on two cores, at most 1.5 GB);
/// the harness runs them on parallel threads.
const PEOPLE: usize = 80_000;

/// The population of the disclosure-control check, whose tables need no more.
const SUPPRESSION_PEOPLE: usize = 24_000;

/// The seeds the calibration is checked on. 2022 is the one the generator's parameters were fitted
/// on; the others were never looked at while fitting, so they show whether the fit holds for the
/// population rather than for one draw of it.
const SEEDS: [u64; 5] = [2022, 7, 1_234, 31_337, 900_001];

/// The published employment curve (DOMAIN.md section 7, IAB / IAB-BAMF-SOEP 2016–2025), which
/// counts from the entry into Germany: about 7–10% after 1 year, 31% after 3, 49% after 5 and
/// 62–63% after 7; the middle of each range is the reference.
const EMPLOYMENT_BY_YEARS_SINCE_ENTRY: [(&str, f64); 4] =
    [("1", 8.5), ("3", 31.0), ("5", 49.0), ("7", 62.5)];

/// How far a point of the employment curve may lie from the published figure, in percentage
/// points. The sampling error this allows for is worked out at [`PEOPLE`].
const EMPLOYMENT_TOLERANCE_POINTS: f64 = 3.0;

/// How far the other published figures may lie from theirs, in percentage points: the published
/// values are national (DTZ, completion) while the population is one city's, so they are checked
/// as before, at a wider tolerance.
const OTHER_TOLERANCE_POINTS: f64 = 6.0;

/// Checks one seed's population on 2022-12-31 against every published figure; returns the report.
fn calibration_report(seed: u64) -> (bool, String) {
    let as_of = NaiveDate::from_ymd_opt(2022, 12, 31).expect("date");
    let config = SynthConfig {
        people: PEOPLE,
        seed,
        start: NaiveDate::from_ymd_opt(2015, 1, 1).expect("date"),
        end: as_of,
    };
    let journals = support::synthetic_journals(&config);
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
    let mut report = vec![format!("seed {seed}, {PEOPLE} persons, on {as_of}")];
    let mut ok = true;
    let mut check = |label: &str, measured: f64, low: f64, high: f64| {
        let within = (low..=high).contains(&measured);
        report.push(format!(
            "{label}: {measured:.1} (accepted {low:.1}..{high:.1}){}",
            if within { "" } else { "  <-- off" }
        ));
        ok &= within;
    };

    let curve = kpi("employment_by_years_since_entry", vec![]);
    for (year, reference) in EMPLOYMENT_BY_YEARS_SINCE_ENTRY {
        let cell = cell(&curve, year);
        let rate = measure_of(cell, "rate");
        let persons = cell
            .measure("rate")
            .and_then(|measure| measure.denominator)
            .unwrap_or(0);
        check(
            &format!("employment {year} years after entry ({persons} persons)"),
            100.0 * rate,
            reference - EMPLOYMENT_TOLERANCE_POINTS,
            reference + EMPLOYMENT_TOLERANCE_POINTS,
        );
    }
    let dtz = kpi("dtz_b1_rate", vec![]);
    check(
        "DTZ B1 share, first attempts (%)",
        100.0 * measure_of(&dtz.total, "first_attempt_share_b1_or_better"),
        48.7 - OTHER_TOLERANCE_POINTS,
        48.7 + OTHER_TOLERANCE_POINTS,
    );
    // Issue 14: DTZ results by the course a test ends, BAMF 2018 (general ≈61%, literacy ≈17%).
    let by_course = kpi("dtz_by_course_type", vec![]);
    check(
        "DTZ B1 share after general courses, first attempts (%)",
        100.0 * measure_of(&by_course.total, "general_first_attempt_share_b1_or_better"),
        61.0 - OTHER_TOLERANCE_POINTS,
        61.0 + OTHER_TOLERANCE_POINTS,
    );
    check(
        "DTZ B1 share after literacy courses, first attempts (%)",
        100.0 * measure_of(&by_course.total, "alpha_first_attempt_share_b1_or_better"),
        17.0 - OTHER_TOLERANCE_POINTS,
        17.0 + OTHER_TOLERANCE_POINTS,
    );
    let completion = kpi("course_completion_rate", vec![]);
    check(
        "course completion (%)",
        100.0 * measure_of(&completion.total, "share_completed"),
        62.0 - OTHER_TOLERANCE_POINTS,
        62.0 + OTHER_TOLERANCE_POINTS,
    );
    // Bundesrechnungshof / BAMF: median waiting time of about 5 to 12 weeks.
    let waiting = kpi("course_waiting_days", vec![]);
    check(
        "median waiting days",
        measure_of(&waiting.total, "median_days"),
        35.0,
        84.0,
    );
    report.push(format!(
        "persons of the curve counted from arrival for want of an entry date: {}",
        curve.metadata.entry_date_fallbacks.unwrap_or(0)
    ));
    (ok, report.join("\n"))
}

fn cell<'a>(result: &'a KpiResult, value: &str) -> &'a Cell {
    result
        .cells
        .iter()
        .find(|cell| {
            cell.dimensions
                .first()
                .is_some_and(|dimension| dimension.value == value)
        })
        .unwrap_or_else(|| panic!("no cell {value} in {}", result.key))
}

fn measure_of(cell: &Cell, name: &str) -> f64 {
    cell.measure(name)
        .and_then(|measure| measure.value)
        .unwrap_or_else(|| panic!("no value for {name}"))
}

/// One test per seed, so that the test harness runs the seeds in parallel.
macro_rules! calibrated_on_seed {
    ($($name:ident => $index:expr),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (ok, report) = calibration_report(SEEDS[$index]);
                eprintln!("{report}");
                assert!(ok, "calibration off:\n{report}");
            }
        )+
    };
}

calibrated_on_seed!(
    the_population_matches_the_published_figures_seed_0 => 0,
    the_population_matches_the_published_figures_seed_1 => 1,
    the_population_matches_the_published_figures_seed_2 => 2,
    the_population_matches_the_published_figures_seed_3 => 3,
    the_population_matches_the_published_figures_seed_4 => 4,
);

/// Disclosure control at a realistic size: the default k = 3 hides few figures of the common
/// two-way tables of `population_present`. Prints the counts (`--nocapture`).
#[test]
fn suppression_leaves_realistic_tables_mostly_published() {
    use journey_projections::kpi::Suppression;

    let as_of = NaiveDate::from_ymd_opt(2022, 12, 31).expect("date");
    let config = SynthConfig {
        people: SUPPRESSION_PEOPLE,
        seed: 2022,
        start: NaiveDate::from_ymd_opt(2015, 1, 1).expect("date"),
        end: as_of,
    };
    let journals = support::synthetic_journals(&config);
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
