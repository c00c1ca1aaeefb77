//! `base_reach` (issue 14, the neighbourhood base Start.Punkt.SZ) computed by hand: of the persons
//! present on D, the share with a counselling contact at a base in the 12 months up to D, cut by
//! the district the person lives in on D, with disclosure control.

mod support;

use journey_core::catalogue::{Agency, CounsellingContact, Topic};
use journey_projections::kpi::{CountingUnit, Dimension};
use support::*;

const D: &str = "2024-12-31";

/// A counselling contact held by `agency` at the base Start.Punkt.SZ.
fn at_the_base(agency: Agency) -> CounsellingContact {
    CounsellingContact {
        agency,
        topic: Topic::Housing,
        base: Some("startpunkt-sz".into()),
    }
}

fn population() -> Vec<Person> {
    let mut reached = Person::arrived(1, 1990, "2023-06-01", "Lebenstedt");
    reached.on("2024-05-01", at_the_base(Agency::Awo));
    let mut a_year_and_a_day_ago = Person::arrived(2, 1990, "2023-06-01", "Lebenstedt");
    a_year_and_a_day_ago.on("2023-12-31", at_the_base(Agency::Diakonie)); // D minus 12 months: outside
    let mut at_the_office = Person::arrived(3, 1990, "2023-06-01", "Lebenstedt");
    at_the_office.on("2024-06-01", counselling(Agency::Sozialarbeit)); // no base
    let mut from_thiede = Person::arrived(4, 1990, "2023-06-01", "Thiede");
    from_thiede.on("2024-02-01", at_the_base(Agency::Drk)); // lives in Thiede: Thiede is reached
    let mut moved_away = Person::arrived(5, 1990, "2023-06-01", "Thiede");
    moved_away.on("2024-02-01", at_the_base(Agency::Caritas));
    moved_away.on("2024-10-01", support::moved_away()); // not present on D
    let mut after_d = Person::arrived(6, 1990, "2023-06-01", "Lebenstedt");
    after_d.on("2025-01-05", at_the_base(Agency::Wohnungsbau)); // after D
    let mut by_an_association = Person::arrived(7, 1990, "2023-06-01", "Lebenstedt");
    by_an_association.on("2024-11-01", at_the_base(Agency::Vereine));
    let never_counselled = Person::arrived(8, 1990, "2023-06-01", "Salder");
    let counselled_at_the_office = {
        let mut person = Person::arrived(9, 1990, "2023-06-01", "Salder");
        person.on("2024-03-01", counselling(Agency::Jobcenter));
        person
    };
    vec![
        reached,
        a_year_and_a_day_ago,
        at_the_office,
        from_thiede,
        moved_away,
        after_d,
        by_an_association,
        never_counselled,
        counselled_at_the_office,
    ]
}

#[test]
fn base_reach_is_the_share_of_present_persons_counselled_at_a_base_by_their_district() {
    // Lebenstedt: persons 1, 2, 3, 6, 7 present; 1 and 7 reached. Thiede: 4 present (5 moved
    // away), reached. Salder: 8 and 9 present, neither reached. Total: 3 of 8.
    let result = kpi(&population(), "base_reach", D, &[Dimension::District]);
    check(
        &render(&result, &[]),
        "district=Lebenstedt: rate=0.4 (2/5 p5)
         district=Salder: rate=0 (0/2 p2)
         district=Thiede: rate=1 (1/1 p1)
         total: rate=0.375 (3/8 p8)",
    );
    assert_eq!(result.counting_unit, CountingUnit::Persons);
}

#[test]
fn base_reach_is_suppressed_where_it_would_say_something_of_every_person() {
    // k = 2: Thiede has one person (primary), Salder's share is 0 of 2 (primary: it says of both
    // that they were not reached). The two suppressed cells close a cycle with the total, so
    // Lebenstedt (2 of 5, complement 3) and the total (3 of 8) stay published.
    let result = kpi_suppressed(&population(), "base_reach", D, &[Dimension::District], 2);
    check(
        &render(&result, &[]),
        "district=Lebenstedt: rate=0.4 (2/5 p5)
         district=Salder: rate=*
         district=Thiede: rate=*
         total: rate=0.375 (3/8 p8)",
    );
    // k = 3: Lebenstedt's numerator 2 is below k too, so every district is suppressed; the total
    // (3 of 8, complement 5) is published.
    let result = kpi_suppressed(&population(), "base_reach", D, &[Dimension::District], 3);
    check(
        &render(&result, &[]),
        "district=Lebenstedt: rate=*
         district=Salder: rate=*
         district=Thiede: rate=*
         total: rate=0.375 (3/8 p8)",
    );
}
