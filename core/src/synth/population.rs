//! Who arrives when: arrival cohorts, nationalities, household compositions, districts.
//!
//! These tables describe the population rather than calibrate an indicator, so most weights are
//! rough readings of the German asylum statistics and are marked as such.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::Rng;

use crate::catalogue::{AsylumOutcome, Sex};

use super::random::{chance, day_between, new_year, pick, standard_normal};

/// Relative weight of each calendar year of arrival. Assumption shaped like Germany's history of
/// asylum first applications plus the arrivals from Ukraine from 2022, compressed: most persons
/// arrive in 2015–2016. Years outside the table (before 2015 or after 2025) get
/// `OTHER_YEAR_COHORT_WEIGHT`.
const COHORT_WEIGHTS: [(i32, f64); 11] = [
    (2015, 24.0),
    (2016, 20.0),
    (2017, 9.0),
    (2018, 7.0),
    (2019, 7.0),
    (2020, 6.0),
    (2021, 7.0),
    (2022, 10.0),
    (2023, 7.0),
    (2024, 5.0),
    (2025, 4.0),
];
const OTHER_YEAR_COHORT_WEIGHT: f64 = 3.0;

/// The day Russia's full-scale invasion of Ukraine began; arrivals under §24 come after it.
pub(super) fn temporary_protection_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 2, 24).unwrap_or(NaiveDate::MIN)
}

/// Share of households arriving under temporary protection (§24) among those arriving in a year
/// from 2022. Assumption, shaped like Lower Saxony's intake.
fn temporary_protection_share(year: i32) -> f64 {
    match year {
        ..=2021 => 0.0,
        2022 => 0.65,
        2023 => 0.45,
        _ => 0.30,
    }
}

/// The day of a household's (first member's) arrival: a year by cohort weight, then a uniform day
/// of that year inside `start..=end`.
pub(super) fn arrival_day(rng: &mut StdRng, start: NaiveDate, end: NaiveDate) -> NaiveDate {
    let years: Vec<(i32, f64)> = (start.year()..=end.year())
        .map(|year| {
            let weight = COHORT_WEIGHTS
                .iter()
                .find(|(cohort, _)| *cohort == year)
                .map_or(OTHER_YEAR_COHORT_WEIGHT, |(_, weight)| *weight);
            // A year only partly inside the window weighs by the part inside.
            let first = new_year(year).max(start);
            let last = new_year(year + 1).pred_opt().unwrap_or(end).min(end);
            let covered = ((last - first).num_days() + 1) as f64 / 365.25;
            (year, weight * covered.clamp(0.0, 1.0))
        })
        .collect();
    let year = *pick(rng, &years);
    let first = new_year(year).max(start);
    let last = new_year(year + 1).pred_opt().unwrap_or(end).min(end);
    day_between(rng, first, last)
}

/// How the household came: through the asylum procedure or under temporary protection (§24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Asylum,
    TemporaryProtection,
}

/// Asylum or temporary protection: only arrivals from 24 February 2022 can be Ukrainians under §24.
pub(super) fn route(rng: &mut StdRng, arrival: NaiveDate) -> Route {
    if arrival >= temporary_protection_from()
        && chance(rng, temporary_protection_share(arrival.year()))
    {
        Route::TemporaryProtection
    } else {
        Route::Asylum
    }
}

/// A nationality with what the generator needs to know about it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Nationality {
    /// ISO 3166-1 alpha-3, or `unknown`.
    pub(super) code: &'static str,
    /// First languages (ISO 639-1), one is drawn; the weights are rough.
    pub(super) languages: &'static [(&'static str, f64)],
    /// How much more (or less) often than average its nationals start with a literacy course.
    /// Assumption: the cohort-weighted mean is about 1, so that the overall share is the §7 50%.
    pub(super) literacy_factor: f64,
    /// Share of adults with a foreign vocational or academic qualification worth recognising.
    pub(super) qualified_share: f64,
    /// Whether the asylum procedure counted as one with good prospects to stay (course access
    /// during the procedure, 2015–2019).
    pub(super) good_prospects: bool,
    /// Asylum decision outcomes: rough readings of BAMF decision statistics 2016–2023.
    pub(super) outcomes: &'static [(AsylumOutcome, f64)],
}

use AsylumOutcome::{AsylumArt16a, DeportationBan, Dublin, Refugee3, Rejected, Subsidiary4};

const SYRIA: Nationality = Nationality {
    code: "SYR",
    languages: &[("ar", 0.85), ("ku", 0.15)],
    literacy_factor: 0.9,
    qualified_share: 0.22,
    good_prospects: true,
    outcomes: &[
        (AsylumArt16a, 0.01),
        (Refugee3, 0.55),
        (Subsidiary4, 0.42),
        (DeportationBan, 0.005),
        (Rejected, 0.005),
        (Dublin, 0.01),
    ],
};
const AFGHANISTAN: Nationality = Nationality {
    code: "AFG",
    languages: &[("fa", 0.7), ("ps", 0.3)],
    literacy_factor: 1.4,
    qualified_share: 0.08,
    good_prospects: false,
    outcomes: &[
        (AsylumArt16a, 0.005),
        (Refugee3, 0.2),
        (Subsidiary4, 0.06),
        (DeportationBan, 0.3),
        (Rejected, 0.38),
        (Dublin, 0.055),
    ],
};
const IRAQ: Nationality = Nationality {
    code: "IRQ",
    languages: &[("ar", 0.6), ("ku", 0.4)],
    literacy_factor: 1.1,
    qualified_share: 0.15,
    good_prospects: true,
    outcomes: &[
        (AsylumArt16a, 0.005),
        (Refugee3, 0.45),
        (Subsidiary4, 0.15),
        (DeportationBan, 0.03),
        (Rejected, 0.32),
        (Dublin, 0.045),
    ],
};
const ERITREA: Nationality = Nationality {
    code: "ERI",
    languages: &[("ti", 1.0)],
    literacy_factor: 1.5,
    qualified_share: 0.05,
    good_prospects: true,
    outcomes: &[
        (AsylumArt16a, 0.01),
        (Refugee3, 0.75),
        (Subsidiary4, 0.2),
        (DeportationBan, 0.01),
        (Rejected, 0.01),
        (Dublin, 0.02),
    ],
};
const IRAN: Nationality = Nationality {
    code: "IRN",
    languages: &[("fa", 1.0)],
    literacy_factor: 0.6,
    qualified_share: 0.3,
    good_prospects: true,
    outcomes: &[
        (AsylumArt16a, 0.01),
        (Refugee3, 0.4),
        (Subsidiary4, 0.02),
        (DeportationBan, 0.02),
        (Rejected, 0.5),
        (Dublin, 0.05),
    ],
};
const SOMALIA: Nationality = Nationality {
    code: "SOM",
    languages: &[("so", 1.0)],
    literacy_factor: 1.6,
    qualified_share: 0.04,
    good_prospects: true,
    outcomes: &[
        (AsylumArt16a, 0.005),
        (Refugee3, 0.3),
        (Subsidiary4, 0.3),
        (DeportationBan, 0.15),
        (Rejected, 0.2),
        (Dublin, 0.045),
    ],
};
const TURKEY: Nationality = Nationality {
    code: "TUR",
    languages: &[("tr", 0.7), ("ku", 0.3)],
    literacy_factor: 0.7,
    qualified_share: 0.2,
    good_prospects: false,
    outcomes: &[
        (AsylumArt16a, 0.01),
        (Refugee3, 0.45),
        (Subsidiary4, 0.01),
        (DeportationBan, 0.01),
        (Rejected, 0.5),
        (Dublin, 0.02),
    ],
};
const ALBANIA: Nationality = Nationality {
    code: "ALB",
    languages: &[("sq", 1.0)],
    literacy_factor: 0.5,
    qualified_share: 0.1,
    good_prospects: false,
    outcomes: &[
        (Refugee3, 0.005),
        (Subsidiary4, 0.005),
        (DeportationBan, 0.01),
        (Rejected, 0.95),
        (Dublin, 0.03),
    ],
};
const GEORGIA: Nationality = Nationality {
    code: "GEO",
    languages: &[("ka", 1.0)],
    literacy_factor: 0.3,
    qualified_share: 0.15,
    good_prospects: false,
    outcomes: &[
        (Refugee3, 0.005),
        (Subsidiary4, 0.005),
        (DeportationBan, 0.02),
        (Rejected, 0.94),
        (Dublin, 0.03),
    ],
};
const NIGERIA: Nationality = Nationality {
    code: "NGA",
    languages: &[("en", 0.7), ("yo", 0.15), ("ha", 0.15)],
    literacy_factor: 0.6,
    qualified_share: 0.08,
    good_prospects: false,
    outcomes: &[
        (Refugee3, 0.08),
        (Subsidiary4, 0.05),
        (DeportationBan, 0.1),
        (Rejected, 0.7),
        (Dublin, 0.07),
    ],
};
/// Stateless persons and those whose nationality is unclear.
const UNKNOWN: Nationality = Nationality {
    code: "unknown",
    languages: &[("ar", 0.6), ("ku", 0.4)],
    literacy_factor: 1.0,
    qualified_share: 0.1,
    good_prospects: false,
    outcomes: &[
        (Refugee3, 0.4),
        (Subsidiary4, 0.2),
        (DeportationBan, 0.05),
        (Rejected, 0.3),
        (Dublin, 0.05),
    ],
};
/// Ukrainians come under §24 and never file for asylum, so they have no outcome table. Their
/// language is written in Cyrillic: some start with a second-script course instead of a literacy
/// course, which is why their literacy factor is zero.
pub(super) const UKRAINE: Nationality = Nationality {
    code: "UKR",
    languages: &[("uk", 0.6), ("ru", 0.4)],
    literacy_factor: 0.0,
    qualified_share: 0.35,
    good_prospects: true,
    outcomes: &[(Refugee3, 1.0)],
};

/// Nationality mix of asylum households by year of arrival. Rough readings of BAMF first
/// applications: Syria, Afghanistan and Iraq dominate 2015–2016; Turkey grows from 2017; from
/// 2022 the asylum route is mostly Syria, Afghanistan and Turkey.
fn asylum_nationalities(year: i32) -> &'static [(Nationality, f64)] {
    const EARLY: &[(Nationality, f64)] = &[
        (SYRIA, 45.0),
        (AFGHANISTAN, 14.0),
        (IRAQ, 14.0),
        (ERITREA, 5.0),
        (IRAN, 5.0),
        (SOMALIA, 3.0),
        (ALBANIA, 6.0),
        (NIGERIA, 2.0),
        (TURKEY, 1.0),
        (GEORGIA, 1.0),
        (UNKNOWN, 1.0),
    ];
    const MIDDLE: &[(Nationality, f64)] = &[
        (SYRIA, 35.0),
        (AFGHANISTAN, 15.0),
        (IRAQ, 14.0),
        (TURKEY, 10.0),
        (ERITREA, 5.0),
        (IRAN, 6.0),
        (SOMALIA, 4.0),
        (NIGERIA, 5.0),
        (GEORGIA, 4.0),
        (ALBANIA, 2.0),
        (UNKNOWN, 1.0),
    ];
    const LATE: &[(Nationality, f64)] = &[
        (SYRIA, 40.0),
        (AFGHANISTAN, 25.0),
        (TURKEY, 20.0),
        (IRAQ, 8.0),
        (IRAN, 4.0),
        (GEORGIA, 3.0),
    ];
    match year {
        ..=2016 => EARLY,
        2017..=2021 => MIDDLE,
        _ => LATE,
    }
}

/// The household's nationality, from the mix of its route and year of arrival.
pub(super) fn nationality(rng: &mut StdRng, route: Route, arrival: NaiveDate) -> Nationality {
    match route {
        Route::TemporaryProtection => UKRAINE,
        Route::Asylum => *pick(rng, asylum_nationalities(arrival.year())),
    }
}

/// Districts of Salzgitter (codes of the shipped district register, `core/registers/salzgitter.json`),
/// weighted roughly by where refugees found housing: most in Lebenstedt (Fredenberg, where many
/// recognised Syrian families live and the Start.Punkt.SZ social-work base is, belongs to it) and
/// Salzgitter-Bad. The weights are an assumption; `core/tests/synth.rs` checks that every code is
/// in the register.
pub(super) const DISTRICTS: &[(&str, f64)] = &[
    ("Lebenstedt", 44.0),
    ("Salzgitter-Bad", 16.0),
    ("Thiede", 10.0),
    ("Gebhardshagen", 7.0),
    ("Salder", 6.0),
    ("Lichtenberg", 5.0),
    ("Hallendorf", 5.0),
    ("Watenstedt", 4.0),
    ("Ringelheim", 3.0),
];

/// A district, weighted by where refugees found housing.
pub(super) fn district(rng: &mut StdRng) -> &'static str {
    let district: &&'static str = pick(rng, DISTRICTS);
    district
}

/// A member of a household as composed on arrival.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) sex: Sex,
    pub(super) birth_year: i32,
    /// An adult of the household (parent, partner, single adult); children are not, even when
    /// they are older than 18 later.
    pub(super) adult: bool,
    /// Arrival of this member; later than the household's first arrival for family reunification.
    pub(super) arrival: NaiveDate,
    /// Joined through family reunification (a residence permit for family reasons, no asylum).
    pub(super) reunified: bool,
}

/// Household compositions. Weights are assumptions: asylum households are often young single men,
/// and among adults of the asylum cohorts about two thirds are men (see
/// `calibration::ASYLUM_WORKING_AGE_MALE_SHARE_BY_ENTRY`); §24 households are mostly mothers with children,
/// because men of military age could not leave Ukraine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Composition {
    SingleMan,
    SingleWoman,
    Couple,
    CoupleWithChildren,
    MotherWithChildren,
    MotherChildrenGrandmother,
    OlderCouple,
    UnaccompaniedMinor,
}

const ASYLUM_COMPOSITIONS: &[(Composition, f64)] = &[
    (Composition::SingleMan, 52.0),
    (Composition::SingleWoman, 5.0),
    (Composition::Couple, 8.0),
    (Composition::CoupleWithChildren, 25.0),
    (Composition::MotherWithChildren, 6.0),
    (Composition::UnaccompaniedMinor, 4.0),
];

const TEMPORARY_PROTECTION_COMPOSITIONS: &[(Composition, f64)] = &[
    (Composition::MotherWithChildren, 42.0),
    (Composition::SingleWoman, 20.0),
    (Composition::OlderCouple, 10.0),
    (Composition::MotherChildrenGrandmother, 10.0),
    (Composition::SingleMan, 9.0),
    (Composition::CoupleWithChildren, 9.0),
];

/// Number of children in a family with children. Assumption.
const CHILDREN_COUNT: &[(usize, f64)] = &[(1, 30.0), (2, 34.0), (3, 20.0), (4, 11.0), (5, 5.0)];

/// Share of asylum families (arriving before 2019) where one parent came first and the others
/// followed through family reunification, and how long that took. Assumption.
const REUNIFICATION_SHARE: f64 = 0.3;
const REUNIFICATION_DAYS: (i64, i64) = (270, 900);

/// An age in years drawn around `mean` with spread `spread`, clamped to `low..=high`.
fn age(rng: &mut StdRng, mean: f64, spread: f64, low: i32, high: i32) -> i32 {
    ((mean + spread * standard_normal(rng)).round() as i32).clamp(low, high)
}

/// The members of a household arriving on `arrival` (followers through family reunification
/// later, but never after `end`).
pub(super) fn compose(
    rng: &mut StdRng,
    route: Route,
    arrival: NaiveDate,
    end: NaiveDate,
) -> Vec<Member> {
    let table = match route {
        Route::Asylum => ASYLUM_COMPOSITIONS,
        Route::TemporaryProtection => TEMPORARY_PROTECTION_COMPOSITIONS,
    };
    let composition = *pick(rng, table);
    let year = arrival.year();
    let member = |sex: Sex, age_on_arrival: i32, adult: bool| Member {
        sex,
        birth_year: year - age_on_arrival,
        adult,
        arrival,
        reunified: false,
    };
    let mut members = Vec::new();
    let mut mother_age = None;
    match composition {
        Composition::SingleMan => {
            members.push(member(Sex::Male, age(rng, 27.0, 7.0, 18, 60), true))
        }
        Composition::SingleWoman => {
            members.push(member(Sex::Female, age(rng, 30.0, 9.0, 18, 64), true))
        }
        Composition::Couple => {
            let man = age(rng, 30.0, 7.0, 19, 62);
            members.push(member(Sex::Male, man, true));
            members.push(member(
                Sex::Female,
                (man - rng.gen_range(0..6)).max(18),
                true,
            ));
        }
        Composition::CoupleWithChildren => {
            let man = age(rng, 36.0, 7.0, 21, 60);
            let woman = (man - rng.gen_range(0..7)).max(20);
            members.push(member(Sex::Male, man, true));
            members.push(member(Sex::Female, woman, true));
            mother_age = Some(woman);
        }
        Composition::MotherWithChildren => {
            let woman = age(rng, 34.0, 7.0, 20, 55);
            members.push(member(Sex::Female, woman, true));
            mother_age = Some(woman);
        }
        Composition::MotherChildrenGrandmother => {
            let woman = age(rng, 36.0, 6.0, 22, 50);
            members.push(member(Sex::Female, woman, true));
            members.push(member(
                Sex::Female,
                (woman + 20 + rng.gen_range(0..10)).min(85),
                true,
            ));
            mother_age = Some(woman);
        }
        Composition::OlderCouple => {
            let man = age(rng, 62.0, 6.0, 50, 80);
            members.push(member(Sex::Male, man, true));
            members.push(member(Sex::Female, man - rng.gen_range(0..5), true));
        }
        Composition::UnaccompaniedMinor => {
            let sex = if chance(rng, 0.9) {
                Sex::Male
            } else {
                Sex::Female
            };
            members.push(member(sex, rng.gen_range(14..=17), false));
        }
    }
    if let Some(mother_age) = mother_age {
        let count = *pick(rng, CHILDREN_COUNT);
        let oldest_possible = (mother_age - 17).clamp(0, 17);
        for _ in 0..count {
            let sex = if chance(rng, 0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            members.push(member(sex, rng.gen_range(0..=oldest_possible), false));
        }
    }
    // Family reunification: the father comes first, the others follow.
    if route == Route::Asylum
        && composition == Composition::CoupleWithChildren
        && year < 2019
        && chance(rng, REUNIFICATION_SHARE)
    {
        let follow = super::random::add_days(
            arrival,
            rng.gen_range(REUNIFICATION_DAYS.0..=REUNIFICATION_DAYS.1),
        );
        if follow <= end {
            for follower in members.iter_mut().skip(1) {
                follower.arrival = follow;
                follower.reunified = true;
            }
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// The literacy factors are meant to average about 1 over the early cohorts, so that the §7
    /// 50% literacy share holds.
    #[test]
    fn literacy_factors_average_about_one_in_the_early_cohorts() {
        let table = asylum_nationalities(2015);
        let total: f64 = table.iter().map(|(_, weight)| weight).sum();
        let mean: f64 = table
            .iter()
            .map(|(nationality, weight)| nationality.literacy_factor * weight)
            .sum::<f64>()
            / total;
        assert!((mean - 1.0).abs() < 0.1, "{mean}");
    }

    #[test]
    fn arrivals_stay_inside_the_window() {
        let mut rng = StdRng::seed_from_u64(5);
        let start = NaiveDate::from_ymd_opt(2015, 3, 1).expect("date");
        let end = NaiveDate::from_ymd_opt(2016, 6, 30).expect("date");
        for _ in 0..2_000 {
            let day = arrival_day(&mut rng, start, end);
            assert!(start <= day && day <= end, "{day}");
        }
    }
}
