//! A rough timing of the pure computation: building person views and computing every aggregate
//! KPI over them, for a synthetic population with about 25 facts per person.
//!
//! Run with `cargo run --release -p journey-projections --example kpi_timing [PERSONS]` (default
//! 100,000). The population is crude on purpose (uniform choices, no calibration): the point is
//! the size and shape of the input, not its figures. The calibrated generator is `journey seed`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use journey_core::catalogue::*;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_projections::journal::{Fact, Journal};
use journey_projections::kpi::{
    catalogue, compute, resolve_dimensions, Dimension, KpiQuery, Suppression,
};
use journey_projections::view::{Households, PersonView};
use uuid::Uuid;

/// SplitMix64: a tiny deterministic generator, so every run times the same population.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const DISTRICTS: [&str; 8] = [
    "Lebenstedt",
    "Bad",
    "Thiede",
    "Fredenberg",
    "Gebhardshagen",
    "Ringelheim",
    "Lichtenberg",
    "Salder",
];
const NATIONALITIES: [&str; 6] = ["SYR", "AFG", "IRQ", "UKR", "ERI", "unknown"];

struct Builder {
    facts: Vec<Fact>,
    number: u64,
    actor: Actor,
}

impl Builder {
    fn push(&mut self, on: NaiveDate, event: impl Into<Event>) {
        let revision = self.facts.len() as u64;
        let recorded_at: DateTime<Utc> = on
            .checked_add_days(Days::new(1))
            .unwrap_or(on)
            .and_hms_opt(9, 0, 0)
            .unwrap_or_default()
            .and_utc();
        self.facts.push(
            Fact::new(
                journey_core::log::Position::from_raw(self.number * 64 + revision),
                revision,
                Uuid::from_u64_pair(self.number, revision),
                on,
                recorded_at,
                self.actor.clone(),
                event.into(),
            )
            .expect("a fact holds the example's revision and time"),
        );
    }
}

fn day(start: NaiveDate, days: u64) -> NaiveDate {
    start.checked_add_days(Days::new(days)).unwrap_or(start)
}

/// One person's journal: registration, arrival, asylum, residence, courses, tests, benefits,
/// counselling, measures, jobs, mentoring, and Kita or school for children; about 25 facts.
fn journal(number: u64, random: &mut Random, today: NaiveDate) -> Journal {
    let base = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default();
    let arrived_on = day(base, random.below(3400));
    let child = random.chance(30);
    let birth_year = if child {
        2008 + random.below(16) as i32
    } else {
        1960 + random.below(45) as i32
    };
    let mut person = Builder {
        facts: Vec::with_capacity(32),
        number,
        actor: Actor {
            id: format!("cw-{}", random.below(40)),
            agency: Some(Agency::ALL[random.below(8) as usize]),
            role: ActorRole::Caseworker,
        },
    };
    let mut at = arrived_on;
    let mut later = |random: &mut Random, max_days: u64| {
        at = day(at, 1 + random.below(max_days));
        at.min(today)
    };
    person.push(
        arrived_on,
        PersonRegistered {
            birth_year: BirthYear::Known(birth_year.min(arrived_on.year())),
            sex: Sex::ALL[random.below(4) as usize],
            nationality: NATIONALITIES[random.below(6) as usize].to_owned(),
            languages: vec!["ar".to_owned()],
            household_id: Some(Uuid::from_u64_pair(0, number / 3)),
        },
    );
    person.push(
        arrived_on,
        ArrivalRecorded {
            entry_date: None,
            origin: Origin::ReceptionCentre,
            accommodation: Accommodation::Shared,
            district: DISTRICTS[random.below(8) as usize].to_owned(),
        },
    );
    person.push(later(random, 20), AsylumApplicationFiled {});
    person.push(
        later(random, 60),
        ResidenceStatusChanged {
            status: ResidenceStatus::Gestattung,
            legal_basis: None,
            valid_until: None,
            work_permitted: false,
        },
    );
    person.push(
        later(random, 300),
        AsylumDecisionIssued {
            outcome: AsylumOutcome::ALL[random.below(6) as usize],
        },
    );
    person.push(
        later(random, 60),
        ResidenceStatusChanged {
            status: ResidenceStatus::Aufenthaltserlaubnis,
            legal_basis: Some("§25(2)".to_owned()),
            valid_until: None,
            work_permitted: true,
        },
    );
    person.push(
        later(random, 30),
        BenefitsStarted {
            kind: BenefitKind::Sgb2,
        },
    );
    person.push(
        later(random, 90),
        AddressChanged {
            district: DISTRICTS[random.below(8) as usize].to_owned(),
            accommodation: Accommodation::Flat,
        },
    );
    for item in [
        ChecklistItem::StartFolder,
        ChecklistItem::CompetenceAssessment,
    ] {
        person.push(later(random, 30), ChecklistItemCompleted { item });
    }
    for _ in 0..5 {
        person.push(
            later(random, 60),
            CounsellingContact {
                agency: Agency::Jobcenter,
                topic: Topic::Work,
                base: None,
            },
        );
    }
    if child {
        person.push(later(random, 60), KitaStarted {});
        person.push(later(random, 700), KitaEnded {});
        person.push(
            later(random, 60),
            SchoolEnrolled {
                school_type: SchoolType::Primary,
                language_class: true,
            },
        );
        person.push(later(random, 300), MovedToRegularClass {});
        person.push(
            later(random, 60),
            ChecklistItemCompleted {
                item: ChecklistItem::HealthCheck,
            },
        );
    } else {
        person.push(
            later(random, 60),
            CourseEntitlementIssued {
                kind: EntitlementKind::Entitlement,
                issuer: EntitlementIssuer::Bamf,
            },
        );
        let course_id = format!("IK-{number}");
        let course_type = if random.chance(50) {
            CourseType::Alpha
        } else {
            CourseType::General
        };
        person.push(
            later(random, 60),
            CourseRegistered {
                course_id: course_id.clone(),
                course_type,
                provider: "vhs".to_owned(),
            },
        );
        person.push(
            later(random, 90),
            CourseStarted {
                course_id: course_id.clone(),
            },
        );
        if random.chance(62) {
            person.push(
                later(random, 300),
                CourseCompleted {
                    course_id: course_id.clone(),
                },
            );
        } else {
            person.push(
                later(random, 200),
                CourseLeftEarly {
                    course_id: course_id.clone(),
                    reason: LeaveReason::Other,
                },
            );
        }
        person.push(
            later(random, 30),
            LanguageTestTaken {
                exam: Exam::Dtz,
                level: Level::ALL[random.below(3) as usize],
                first_attempt: true,
            },
        );
        person.push(
            later(random, 60),
            MeasureStarted {
                measure_id: format!("M-{number}"),
                measure_type: MeasureType::Activation,
            },
        );
        person.push(
            later(random, 120),
            MeasureEnded {
                measure_id: format!("M-{number}"),
                outcome: EndOutcome::Completed,
            },
        );
        person.push(
            later(random, 60),
            MentorAssigned {
                mentor_id: format!("V-{}", random.below(500)),
            },
        );
        if random.chance(50) {
            person.push(
                later(random, 300),
                EmploymentStarted {
                    employment_id: format!("E-{number}"),
                    kind: EmploymentKind::ALL[random.below(4) as usize],
                    occupation_code: None,
                    weekly_hours: None,
                },
            );
            person.push(
                later(random, 5),
                BenefitsEnded {
                    kind: BenefitKind::Sgb2,
                },
            );
        }
        if random.chance(20) {
            person.push(
                later(random, 60),
                RecognitionApplied {
                    occupation_code: "81302".to_owned(),
                    regulated: true,
                },
            );
            person.push(
                later(random, 200),
                RecognitionDecided {
                    outcome: RecognitionOutcome::ALL[random.below(4) as usize],
                },
            );
        }
    }
    if random.chance(10) {
        person.push(
            later(random, 400),
            MovedAway {
                destination: Destination::OtherMunicipality,
            },
        );
    }
    Journal {
        facts: person.facts,
        erased: false,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let persons: u64 = std::env::args()
        .nth(1)
        .and_then(|count| count.parse().ok())
        .unwrap_or(100_000);
    let today = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap_or_default();
    let known_at = today.and_hms_opt(23, 0, 0).unwrap_or_default().and_utc();
    let mut random = Random(42);
    let journals: Vec<(PersonId, Journal)> = (0..persons)
        .map(|number| {
            (
                PersonId(Uuid::from_u64_pair(1, number)),
                journal(number, &mut random, today),
            )
        })
        .collect();
    let facts: usize = journals
        .iter()
        .map(|(_, journal)| journal.facts.len())
        .sum();
    println!(
        "{persons} persons, {facts} facts ({:.1} per person)",
        facts as f64 / persons as f64
    );

    let started = Instant::now();
    let views: Vec<PersonView> = journals
        .iter()
        .filter_map(|(person, journal)| PersonView::build(*person, journal, known_at))
        .collect();
    let households = Households::from_views(&views);
    let build = started.elapsed();
    println!(
        "PersonView: {} bytes inline per person (plus its lists on the heap)",
        std::mem::size_of::<PersonView>()
    );
    println!(
        "build views and households: {:.1} ms ({:.2} µs per person, {} households)",
        build.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e6 / persons as f64,
        households.len()
    );

    let as_of_dates = [
        (
            "current",
            NaiveDate::from_ymd_opt(2025, 6, 30).unwrap_or_default(),
        ),
        (
            "past",
            NaiveDate::from_ymd_opt(2021, 12, 31).unwrap_or_default(),
        ),
    ];
    let layouts: [(&str, Vec<Dimension>); 3] = [
        ("total", vec![]),
        ("by district", vec![Dimension::District]),
        (
            "by district x sex",
            vec![Dimension::District, Dimension::Sex],
        ),
    ];
    println!("\nmedian of 7 runs, ms (suppression k = 3):");
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8}",
        "kpi", "current", "past", "district", "dist×sex"
    );
    for definition in catalogue().iter().filter(|d| !d.person_level) {
        let mut row = Vec::new();
        for (index, (_, as_of)) in as_of_dates.iter().enumerate() {
            let layout_range = if index == 0 { 0..3 } else { 0..1 };
            for (_, by) in &layouts[layout_range] {
                let query = KpiQuery {
                    key: definition.key.to_owned(),
                    as_of: *as_of,
                    known_at,
                    by: by.clone(),
                    suppression: Some(Suppression { k: 3 }),
                };
                // An indicator with an implicit dimension takes only one more.
                if resolve_dimensions(definition, by).is_err() {
                    row.push(f64::NAN);
                    continue;
                }
                let runs: Vec<Duration> = (0..7)
                    .map(|_| {
                        let started = Instant::now();
                        let result = compute(&query, &views, &households);
                        let elapsed = started.elapsed();
                        assert!(result.is_ok(), "{}", definition.key);
                        elapsed
                    })
                    .collect();
                row.push(median(runs).as_secs_f64() * 1e3);
            }
        }
        // Columns: current total, past total, current by district, current by district × sex.
        println!(
            "{:<34} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            definition.key, row[0], row[3], row[1], row[2]
        );
    }
}
