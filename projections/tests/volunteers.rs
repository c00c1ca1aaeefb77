//! The volunteer indicators and the coordinator's open mentor requests on a small explicit
//! population and register, computed by hand: given these events, the table is exactly this,
//! without and with disclosure control. D is 2024-12-15.

mod support;

use journey_core::catalogue::MentorRequested;
use journey_core::registers::Registers;
use journey_core::volunteers::{
    EndReason, VolunteerEnded, VolunteerEvent, VolunteerId, VolunteerRecruited, VolunteerTrained,
};
use journey_projections::kpi::{compute_with_organisational, KpiResult, Suppression};
use journey_projections::offers::Offers;
use journey_projections::volunteers::{open_mentor_requests, VolunteerFact, Volunteers};
use support::*;
use uuid::Uuid;

const D: &str = "2024-12-15";

fn volunteer(n: u128) -> VolunteerId {
    VolunteerId(Uuid::from_u128(0xB000 + n))
}

fn mentor_of(n: u128) -> String {
    volunteer(n).stream_name()
}

/// The register: V1 north, recruited 2023-01-10, trained, active. V2 north, recruited 2024-03-01,
/// not trained, active. V3 south, recruited 2023-05-01, trained, ended 2023-09-01. V4 south,
/// recruited 2024-05-01, trained, active. V5 without a district, recruited after D. V6 north,
/// recruited 2023-03-01, ended 2024-06-01. V7 north, recruited 2024-01-15, ended 2024-04-01.
fn register() -> Volunteers {
    let mut volunteers = Volunteers::default();
    let mut add = |n: u128, on: &str, event: VolunteerEvent| {
        volunteers.push(
            volunteer(n),
            VolunteerFact {
                occurred_on: date(on),
                recorded_at: at(&format!("{on}T12:00:00Z")),
                event,
            },
        );
    };
    let recruited = |district: Option<&str>| {
        VolunteerEvent::Recruited(VolunteerRecruited {
            district: district.map(str::to_owned),
        })
    };
    let trained = || VolunteerEvent::Trained(VolunteerTrained {});
    let ended = || {
        VolunteerEvent::Ended(VolunteerEnded {
            reason: EndReason::NoTime,
        })
    };
    add(1, "2023-01-10", recruited(Some("north")));
    add(1, "2023-02-01", trained());
    add(2, "2024-03-01", recruited(Some("north")));
    add(3, "2023-05-01", recruited(Some("south")));
    add(3, "2023-06-01", trained());
    add(3, "2023-09-01", ended());
    add(4, "2024-05-01", recruited(Some("south")));
    add(4, "2024-05-20", trained());
    add(5, "2024-12-20", recruited(None));
    add(6, "2023-03-01", recruited(Some("north")));
    add(6, "2024-06-01", ended());
    add(7, "2024-01-15", recruited(Some("north")));
    add(7, "2024-04-01", ended());
    volunteers
}

fn requested() -> MentorRequested {
    MentorRequested {}
}

/// The persons: requests, assignments and ends of mentoring.
fn population() -> Vec<Person> {
    // P1: asked 2024-01-10, V1 assigned 2024-02-01 (22 days), active on D.
    let mut p1 = Person::arrived(1, 1990, "2023-12-01", "north");
    p1.on("2024-01-10", requested());
    p1.on("2024-02-01", mentor(&mentor_of(1)));
    // P2: asked 2024-02-01, V1 assigned 2024-03-01 (29 days), ended 2024-10-01, asked again
    // 2024-10-15: open on D.
    let mut p2 = Person::arrived(2, 1990, "2023-12-01", "north");
    p2.on("2024-02-01", requested());
    p2.on("2024-03-01", mentor(&mentor_of(1)));
    p2.on("2024-10-01", mentoring_ended(&mentor_of(1)));
    p2.on("2024-10-15", requested());
    // P3: asked 2024-04-01 and again 2024-05-01, V4 assigned 2024-06-01 (61 days from the first).
    let mut p3 = Person::arrived(3, 1990, "2023-12-01", "south");
    p3.on("2024-04-01", requested());
    p3.on("2024-05-01", requested());
    p3.on("2024-06-01", mentor(&mentor_of(4)));
    // P4: asked 2023-06-01, V3 assigned 2023-07-01: outside the 12 months; V3 has ended, so the
    // mentoring still open in P4's stream does not count for mentees per volunteer.
    let mut p4 = Person::arrived(4, 1990, "2023-01-01", "south");
    p4.on("2023-06-01", requested());
    p4.on("2023-07-01", mentor(&mentor_of(3)));
    // P5: a mentor id from before the register: no volunteer of it.
    let mut p5 = Person::arrived(5, 1990, "2023-12-01", "north");
    p5.on("2024-02-01", mentor("vol-12"));
    // P6: V1 assigned without a request: no wait.
    let mut p6 = Person::arrived(6, 1990, "2023-12-01", "north");
    p6.on("2024-04-01", mentor(&mentor_of(1)));
    // P7: asked 2023-11-01 (before the 12 months), V2 assigned 2024-04-01 (152 days, counted:
    // the assignment is in the 12 months).
    let mut p7 = Person::arrived(7, 1990, "2023-10-01", "north");
    p7.on("2023-11-01", requested());
    p7.on("2024-04-01", mentor(&mentor_of(2)));
    // P8 and P9: open requests. P10: asked, then moved away: not listed.
    let mut p8 = Person::arrived(8, 1990, "2024-01-01", "north");
    p8.on("2024-11-01", requested());
    let mut p9 = Person::arrived(9, 1990, "2024-01-01", "south");
    p9.on("2024-12-01", requested());
    let mut p10 = Person::arrived(10, 1990, "2024-01-01", "south");
    p10.on("2024-05-01", requested());
    p10.on("2024-08-01", moved_away());
    vec![p1, p2, p3, p4, p5, p6, p7, p8, p9, p10]
}

fn compute(key: &str, k: Option<u32>) -> KpiResult {
    let mut query = query(key, D, &[]);
    query.suppression = k.map(|k| Suppression { k });
    let (views, households) = views(&population(), &query.known_at.to_rfc3339());
    compute_with_organisational(
        &query,
        &views,
        &households,
        &Registers::default(),
        &Offers::default(),
        &register(),
    )
    .expect("the query is valid")
}

#[test]
fn active_volunteers_count_the_register_on_d_by_district() {
    check(
        &render(&compute("active_volunteers", None), &[]),
        "district=north: volunteers=2 (2/- p2) share_trained=0.5 (1/2 p2)
         district=south: volunteers=1 (1/- p1) share_trained=1 (1/1 p1)
         total: volunteers=3 (3/- p3) share_trained=0.6667 (2/3 p3)",
    );
}

#[test]
fn mentees_per_volunteer_counts_active_mentorings_of_active_volunteers() {
    // North: V1 mentors P1 and P6 (P2 ended), V2 mentors P7; south: V4 mentors P3 (V3 ended, so
    // P4 does not count); P5's mentor is no volunteer of the register.
    check(
        &render(&compute("mentees_per_volunteer", None), &[]),
        "district=north: volunteers=2 (2/- p2) mentees=3 (3/- p3) mentees_per_volunteer=1.5 (3/2 p2)
         district=south: volunteers=1 (1/- p1) mentees=1 (1/- p1) mentees_per_volunteer=1 (1/1 p1)
         total: volunteers=3 (3/- p3) mentees=4 (4/- p4) mentees_per_volunteer=1.3333 (4/3 p3)",
    );
}

#[test]
fn mentor_request_days_are_the_waits_answered_in_the_12_months() {
    // Waits 22 (P1), 29 (P2), 61 (P3, from the first of two requests), 152 (P7): median
    // (29 + 61) / 2 = 45; 75th percentile at rank 1 + 0.75 * 3 = 3.25: 61 + 0.25 * 91 = 83.75.
    check(
        &render(&compute("mentor_request_days", None), &[]),
        "total: median_days=45 (-/4 p4) p75_days=83.75 (-/4 p4)",
    );
}

#[test]
fn volunteer_retention_follows_recruitment_cohorts() {
    // 6 months (recruited 2023-06-16 to 2024-06-15): V2 stayed, V7 ended after 2.5 months (north),
    // V4 stayed (south). 12 months (recruited 2022-12-16 to 2023-12-15): V1 stayed, V6 ended after
    // 15 months (north), V3 ended after 4 months (south).
    check(
        &render(&compute("volunteer_retention", None), &[]),
        "district=north: retained_6_months=0.5 (1/2 p2) retained_12_months=1 (2/2 p2)
         district=south: retained_6_months=1 (1/1 p1) retained_12_months=0 (0/1 p1)
         total: retained_6_months=0.6667 (2/3 p3) retained_12_months=0.6667 (2/3 p3)",
    );
}

#[test]
fn disclosure_control_hides_small_counts_of_volunteers_and_mentees() {
    for key in [
        "active_volunteers",
        "mentees_per_volunteer",
        "volunteer_retention",
        "mentor_request_days",
    ] {
        let text = render(&compute(key, Some(3)), &[]);
        for line in text.lines() {
            for measure in line.split(": ").nth(1).unwrap_or_default().split(") ") {
                if let Some(persons) = measure.split(" p").nth(1) {
                    let persons: u64 = persons.trim_end_matches(')').parse().expect("a count");
                    assert!(persons == 0 || persons >= 3, "{key}: {measure} in {line}");
                }
            }
        }
    }
    // Both districts are below 3, so neither is published; the total's share is withheld too,
    // since its complement (one untrained volunteer) is below 3 and would single them out.
    check(
        &render(&compute("active_volunteers", Some(3)), &[]),
        "district=north: volunteers=* share_trained=*
         district=south: volunteers=* share_trained=*
         total: volunteers=3 (3/- p3) share_trained=*",
    );
}

#[test]
fn the_coordinator_sees_open_requests_oldest_first() {
    let (views, _) = views(&population(), NOW);
    let open: Vec<(u128, String, i64, Option<String>)> = open_mentor_requests(&views, date(D))
        .into_iter()
        .map(|request| {
            (
                request.person.0.as_u128(),
                request.requested_on.to_string(),
                request.waiting_days,
                request.district,
            )
        })
        .collect();
    assert_eq!(
        open,
        vec![
            (2, "2024-10-15".to_owned(), 61, Some("north".to_owned())),
            (8, "2024-11-01".to_owned(), 44, Some("north".to_owned())),
            (9, "2024-12-01".to_owned(), 14, Some("south".to_owned())),
        ]
    );
    // Before P2's mentoring ended, P2 did not wait.
    assert!(open_mentor_requests(&views, date("2024-09-30"))
        .iter()
        .all(|request| request.person != Person::new(2).id));
}
