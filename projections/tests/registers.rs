//! Breakdowns through the registers, computed by hand: a rename and a merge on 2024-07-01, a stray
//! value mapped to a code, and one no register knows. As of a date, districts are named as the
//! register named them then; `current_district` names them as today's register does; `area` is
//! the district's parent. The recorded events never change.

mod support;

use journey_core::catalogue::Sex;
use journey_core::registers::{
    RegisterEntryAdded, RegisterEntryRetired, RegisterEvent, RegisterKind, RegisterValueMapped,
    Registers,
};
use journey_projections::kpi::{compute_with_registers, Dimension};
use support::*;

fn added(
    registers: &mut Registers,
    kind: RegisterKind,
    on: &str,
    code: &str,
    parent: Option<&str>,
) {
    let event = RegisterEvent::EntryAdded(RegisterEntryAdded {
        code: code.into(),
        name: None,
        parent: parent.map(Into::into),
    });
    registers.apply(kind, date(on), &event).expect("added");
}

fn retired(registers: &mut Registers, on: &str, code: &str, successor: &str) {
    let event = RegisterEvent::EntryRetired(RegisterEntryRetired {
        code: code.into(),
        successors: vec![successor.into()],
    });
    registers
        .apply(RegisterKind::Districts, date(on), &event)
        .expect("retired");
}

/// Areas Nord (A, B) and Süd (C, D); on 2024-07-01 B is renamed B2 and C and D merge into CD.
/// `SZ-A` was mapped to A by an administrator after `registers check`.
fn registers() -> Registers {
    let mut registers = Registers::default();
    added(
        &mut registers,
        RegisterKind::Areas,
        "2000-01-01",
        "Nord",
        None,
    );
    added(
        &mut registers,
        RegisterKind::Areas,
        "2000-01-01",
        "Süd",
        None,
    );
    for (district, area) in [("A", "Nord"), ("B", "Nord"), ("C", "Süd"), ("D", "Süd")] {
        added(
            &mut registers,
            RegisterKind::Districts,
            "2000-01-01",
            district,
            Some(area),
        );
    }
    added(
        &mut registers,
        RegisterKind::Districts,
        "2024-07-01",
        "B2",
        Some("Nord"),
    );
    added(
        &mut registers,
        RegisterKind::Districts,
        "2024-07-01",
        "CD",
        Some("Süd"),
    );
    retired(&mut registers, "2024-07-01", "B", "B2");
    retired(&mut registers, "2024-07-01", "C", "CD");
    retired(&mut registers, "2024-07-01", "D", "CD");
    registers
        .apply(
            RegisterKind::Districts,
            date("2025-01-15"),
            &RegisterEvent::ValueMapped(RegisterValueMapped {
                value: "SZ-A".into(),
                code: "A".into(),
                reason: "spelling of the 2016 import".into(),
            }),
        )
        .expect("mapped");
    registers
}

fn population() -> Vec<Person> {
    let person = |n, on, district| Person::with(n, 1990, Sex::Female, "SYR", on, district);
    vec![
        person(1, "2023-01-01", "A"),
        person(2, "2023-02-01", "B"),
        person(3, "2023-03-01", "B"),
        person(4, "2023-04-01", "C"),
        person(5, "2023-05-01", "D"),
        person(6, "2024-08-01", "B2"),
        person(7, "2024-09-01", "CD"),
        person(8, "2023-06-01", "Atlantis"),
        person(9, "2023-07-01", "SZ-A"),
    ]
}

fn present(as_of: &str, by: Dimension) -> String {
    let query = query("population_present", as_of, &[by]);
    let (views, households) = views(&population(), NOW);
    let result = compute_with_registers(&query, &views, &households, &registers())
        .expect("the query is valid");
    render(&result, &[])
}

#[test]
fn before_the_change_districts_are_those_valid_then() {
    check(
        &present("2024-05-01", Dimension::District),
        "district=A: persons=2 (2/- p2)
         district=Atlantis: persons=1 (1/- p1)
         district=B: persons=2 (2/- p2)
         district=C: persons=1 (1/- p1)
         district=D: persons=1 (1/- p1)
         total: persons=7 (7/- p7)",
    );
}

#[test]
fn after_the_change_renamed_and_merged_districts_count_under_their_successor() {
    check(
        &present("2024-12-31", Dimension::District),
        "district=A: persons=2 (2/- p2)
         district=Atlantis: persons=1 (1/- p1)
         district=B2: persons=3 (3/- p3)
         district=CD: persons=3 (3/- p3)
         total: persons=9 (9/- p9)",
    );
}

#[test]
fn by_current_districts_older_records_are_mapped_through_the_history() {
    check(
        &present("2024-05-01", Dimension::CurrentDistrict),
        "current_district=A: persons=2 (2/- p2)
         current_district=Atlantis: persons=1 (1/- p1)
         current_district=B2: persons=2 (2/- p2)
         current_district=CD: persons=2 (2/- p2)
         total: persons=7 (7/- p7)",
    );
}

#[test]
fn by_area_districts_roll_up_to_their_parent_and_unknown_ones_are_unknown() {
    check(
        &present("2024-05-01", Dimension::Area),
        "area=Nord: persons=4 (4/- p4)
         area=Süd: persons=2 (2/- p2)
         area=unknown: persons=1 (1/- p1)
         total: persons=7 (7/- p7)",
    );
    check(
        &present("2024-12-31", Dimension::Area),
        "area=Nord: persons=5 (5/- p5)
         area=Süd: persons=3 (3/- p3)
         area=unknown: persons=1 (1/- p1)
         total: persons=9 (9/- p9)",
    );
}

#[test]
fn without_registers_districts_stay_as_recorded() {
    let result = kpi(
        &population(),
        "population_present",
        "2024-12-31",
        &[Dimension::District],
    );
    check(
        &render(&result, &[]),
        "district=A: persons=1 (1/- p1)
         district=Atlantis: persons=1 (1/- p1)
         district=B: persons=2 (2/- p2)
         district=B2: persons=1 (1/- p1)
         district=C: persons=1 (1/- p1)
         district=CD: persons=1 (1/- p1)
         district=D: persons=1 (1/- p1)
         district=SZ-A: persons=1 (1/- p1)
         total: persons=9 (9/- p9)",
    );
}
