//! The read models on small explicit populations: given these events, the answer is exactly this.

mod support;

use journey_core::catalogue::{
    Agency, AsylumOutcome, CourseType, EmploymentKind, Exam, Level, ResidenceStatus, Sex,
};
use journey_core::envelope::PersonId;
use journey_projections::models::{
    caseloads, course_waiting_list, idle_list, is_idle_more_than, people, person_status,
    OpenActivity, PeopleFilter,
};
use journey_projections::view::{ActivityKind, CourseStatus, ProtectionStatus, Stage};
use support::*;

fn id(number: u128) -> PersonId {
    Person::new(number).id
}

#[test]
fn person_status_as_of_two_dates() {
    let mut person = Person::new(1);
    person.by(caseworker("cw-a1", Agency::Auslaenderbehoerde));
    person.on("2015-01-01", registration(1990, Sex::Female, "SYR", None));
    person.on("2023-01-01", arrival("north"));
    person.on("2023-01-05", asylum_filed());
    person.on("2023-08-01", decided(AsylumOutcome::Subsidiary4));
    person.on(
        "2023-09-01",
        residence(ResidenceStatus::Aufenthaltserlaubnis, None),
    );
    person.by(caseworker("cw-j1", Agency::Jobcenter));
    person.on("2023-10-01", entitled());
    person.on("2023-11-01", course_registered("IK-1", CourseType::General));
    person.on("2024-01-08", course_started("IK-1"));
    person.on("2024-09-01", test_taken(Exam::Dtz, Level::B1, true));
    person.on("2024-09-15", course_completed("IK-1"));
    person.on("2024-10-01", measure("M-1"));
    person.on("2024-11-01", job("E-1", EmploymentKind::Marginal));
    let view = person.view(NOW).expect("registered");

    let status = person_status(&view, date("2024-12-31"));
    assert!(status.present);
    assert_eq!(status.stage, Stage::MeasureOrTraining);
    assert_eq!(
        status.open_activities,
        [
            OpenActivity {
                since: date("2024-10-01"),
                kind: ActivityKind::Measure,
                id: Some("M-1".to_owned()),
                detail: Some("activation".to_owned()),
            },
            OpenActivity {
                since: date("2024-11-01"),
                kind: ActivityKind::Employment,
                id: Some("E-1".to_owned()),
                detail: Some("marginal".to_owned()),
            },
        ]
    );
    assert_eq!(status.course_status, CourseStatus::Completed);
    assert_eq!(
        status.residence_status,
        Some(ResidenceStatus::Aufenthaltserlaubnis)
    );
    assert_eq!(
        status.protection_status,
        Some(ProtectionStatus::SubsidiaryProtection)
    );
    assert_eq!(status.district.as_deref(), Some("north"));
    assert_eq!(
        status.agencies,
        [Agency::Auslaenderbehoerde, Agency::Jobcenter]
    );

    let earlier = person_status(&view, date("2024-06-01"));
    assert_eq!(earlier.stage, Stage::Course);
    assert_eq!(earlier.course_status, CourseStatus::InCourse);
    assert_eq!(
        earlier.open_activities,
        [OpenActivity {
            since: date("2024-01-08"),
            kind: ActivityKind::Course,
            id: Some("IK-1".to_owned()),
            detail: Some("general".to_owned()),
        }]
    );

    let before_arrival = person_status(&view, date("2022-12-31"));
    assert!(!before_arrival.present);
    assert_eq!(before_arrival.stage, Stage::Registered);
    assert_eq!(before_arrival.protection_status, None);
    assert_eq!(before_arrival.district, None);
    assert_eq!(before_arrival.agencies, [Agency::Auslaenderbehoerde]);
}

/// Three persons known to agencies through different caseworkers; one has moved away.
fn caseload_population() -> Vec<Person> {
    let mut first = Person::new(1);
    first.by(caseworker("cw-a1", Agency::Auslaenderbehoerde));
    first.on("2015-01-01", registration(1990, Sex::Male, "SYR", None));
    first.on("2023-01-01", arrival("north"));
    first.by(caseworker("cw-j1", Agency::Jobcenter));
    first.on("2023-02-01", entitled());
    first.on("2024-03-01", referral(Agency::Sozialarbeit));

    let mut second = Person::new(2);
    second.by(caseworker("cw-j2", Agency::Jobcenter));
    second.on("2015-01-01", registration(1990, Sex::Female, "AFG", None));
    second.on("2023-06-01", arrival("south"));
    // Recorded later than D's reporting date in valid time: not involved on D.
    second.by(caseworker("cw-b1", Agency::Bildungsbuero));
    second.on("2025-01-10", counselling(Agency::Bildungsbuero));

    let mut third = Person::new(3);
    third.by(caseworker("cw-j1", Agency::Jobcenter));
    third.on("2015-01-01", registration(1990, Sex::Male, "IRQ", None));
    third.on("2023-01-01", arrival("north"));
    third.on("2024-06-01", moved_away());
    vec![first, second, third]
}

#[test]
fn caseloads_per_agency_and_caseworker_cover_persons_present_on_d() {
    let (views, _) = views(&caseload_population(), NOW);
    let loads = caseloads(&views, date("2024-12-31"));
    let summary: Vec<String> = loads
        .iter()
        .map(|load| {
            let persons: Vec<String> = load
                .persons
                .iter()
                .map(|person| person.0.as_u128().to_string())
                .collect();
            let caseworkers: Vec<String> = load
                .caseworkers
                .iter()
                .map(|caseworker| {
                    let persons: Vec<String> = caseworker
                        .persons
                        .iter()
                        .map(|person| person.0.as_u128().to_string())
                        .collect();
                    format!("{}[{}]", caseworker.caseworker_id, persons.join(","))
                })
                .collect();
            format!(
                "{}: [{}] {}",
                load.agency,
                persons.join(","),
                caseworkers.join(" ")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "auslaenderbehoerde: [1] cw-a1[1]",
            "jobcenter: [1,2] cw-j1[1] cw-j2[2]",
            "sozialarbeit: [1] ",
        ]
    );
}

#[test]
fn the_course_waiting_list_is_longest_first_and_counts_later_starts_as_waiting() {
    let mut first = Person::arrived(1, 1990, "2023-01-01", "north");
    first.on("2024-10-01", course_registered("IK-1", CourseType::General));
    let mut second = Person::arrived(2, 1990, "2023-06-01", "south");
    second.on("2024-11-15", course_registered("IK-2", CourseType::Alpha));
    second.on("2025-01-10", course_started("IK-2"));
    second.on("2024-10-01", course_registered("JOB-1", CourseType::JobB1));
    let mut moved = Person::arrived(3, 1990, "2023-01-01", "north");
    moved.on("2024-05-01", course_registered("IK-3", CourseType::General));
    moved.on("2024-06-01", moved_away());
    let mut started = Person::arrived(4, 1990, "2023-01-01", "north");
    started.on("2024-05-01", course_registered("IK-4", CourseType::General));
    started.on("2024-06-01", course_started("IK-4"));
    // The move away ended the registration: back again, the person waits for nothing until they
    // register anew.
    let mut returned = Person::arrived(5, 1990, "2023-01-01", "north");
    returned.on("2024-03-01", course_registered("IK-5", CourseType::General));
    returned.on("2024-04-01", moved_away());
    returned.on("2024-08-01", arrival("north"));
    let (views, _) = views(&[first, second, moved, started, returned], NOW);

    let list = course_waiting_list(&views, date("2024-12-31"));
    let summary: Vec<(u128, &str, i64)> = list
        .iter()
        .map(|entry| {
            (
                entry.person.0.as_u128(),
                entry.course_id.as_str(),
                entry.days_waiting,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(1, "IK-1", 91), (2, "JOB-1", 91), (2, "IK-2", 46)]
    );
    assert_eq!(list[2].district.as_deref(), Some("south"));
}

#[test]
fn the_idle_list_is_longest_first_and_strictly_above_n_days() {
    let (views, households) = views(&idle_population(), NOW);
    let as_of = date("2024-12-31");
    let summary = |min_days| {
        idle_list(&views, &households, as_of, min_days)
            .iter()
            .map(|entry| (entry.person.0.as_u128(), entry.idle_days))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(90), [(1, 365), (11, 121), (2, 91)]);
    assert_eq!(summary(91), [(1, 365), (11, 121)]);
    assert_eq!(
        summary(0),
        [(1, 365), (11, 121), (2, 91), (6, 30)],
        "idle for 0 days (a job ending on D) is not more than 0"
    );

    let list = idle_list(&views, &households, as_of, 100);
    assert_eq!(list[1].idle_since, date("2024-09-01"));
    assert_eq!(list[1].last_activity, Some(ActivityKind::Employment));
    assert_eq!(list[0].last_activity, None);
    assert_eq!(list[0].stage, Stage::Arrival);
}

/// Person 2 is idle exactly 91 days on D: the boundary of "idle more than N days".
#[test]
fn the_idle_list_and_the_people_filter_draw_the_idle_boundary_alike() {
    let (views, households) = views(&idle_population(), NOW);
    let as_of = date("2024-12-31");
    let exactly = idle_list(&views, &households, as_of, 0)
        .into_iter()
        .find(|entry| entry.person == id(2))
        .expect("person 2 is idle")
        .idle_days;
    assert_eq!(exactly, 91);
    let in_list = |days: u32| {
        idle_list(&views, &households, as_of, days)
            .iter()
            .any(|entry| entry.person == id(2))
    };
    let in_filter = |days: u32| {
        let filter = PeopleFilter {
            min_idle_days: Some(days),
            ..PeopleFilter::default()
        };
        let found = people(&views, &households, as_of, &filter).any(|view| view.person == id(2));
        found
    };
    for days in [89, 90, 91, 92] {
        assert_eq!(
            (in_list(days), in_filter(days)),
            (days < 91, days < 91),
            "idle 91 days, asked for more than {days}"
        );
    }
    assert!(is_idle_more_than(91, 90) && !is_idle_more_than(91, 91));
}

#[test]
fn the_people_filter_combines_its_conditions() {
    let mut population = idle_population();
    population[0].on("2024-03-01", entitled());
    population[1].by(caseworker("cw-b1", Agency::Bildungsbuero));
    population[1].on("2024-11-01", counselling(Agency::Bildungsbuero));
    let (views, households) = views(&population, NOW);
    let as_of = date("2024-12-31");
    let matching = |filter: &PeopleFilter| {
        people(&views, &households, as_of, filter)
            .map(|view| view.person.0.as_u128())
            .collect::<Vec<_>>()
    };

    assert_eq!(
        matching(&PeopleFilter::default()),
        [1, 2, 3, 4, 5, 6, 7, 8, 10, 11],
        "present only, by default"
    );
    assert_eq!(
        matching(&PeopleFilter {
            include_absent: true,
            ..PeopleFilter::default()
        })
        .len(),
        11
    );
    assert_eq!(
        matching(&PeopleFilter {
            district: Some("south".to_owned()),
            ..PeopleFilter::default()
        }),
        [4, 5, 6, 7, 11]
    );
    assert_eq!(
        matching(&PeopleFilter {
            stage: Some(Stage::Entitlement),
            ..PeopleFilter::default()
        }),
        [1]
    );
    assert_eq!(
        matching(&PeopleFilter {
            agency: Some(Agency::Bildungsbuero),
            ..PeopleFilter::default()
        }),
        [2]
    );
    assert_eq!(
        matching(&PeopleFilter {
            min_idle_days: Some(90),
            ..PeopleFilter::default()
        }),
        [1, 2, 11],
        "more than 90 days"
    );
    assert_eq!(
        matching(&PeopleFilter {
            course_status: Some(CourseStatus::Completed),
            district: Some("north".to_owned()),
            ..PeopleFilter::default()
        }),
        [2]
    );
    let after = id(4);
    let page: Vec<u128> = people(&views, &households, as_of, &PeopleFilter::default())
        .skip_while(|view| view.person <= after)
        .take(2)
        .map(|view| view.person.0.as_u128())
        .collect();
    assert_eq!(page, [5, 6]);
}

/// DOMAIN.md section 4 for the lists: a correction recorded on 2025-02-01 about events of 2024
/// changes the `as_of 2024-12-31` lists only for cuts at or after 2025-02-01.
#[test]
fn a_correction_recorded_later_changes_the_lists_only_for_later_cuts() {
    let mut waiting = Person::arrived(1, 1990, "2024-01-10", "north");
    let registered = waiting.on("2024-03-01", course_registered("IK-1", CourseType::General));
    waiting.correct(
        "2025-02-01T08:00:00Z",
        registered,
        "2024-05-01",
        course_registered("IK-1", CourseType::General),
    );
    let mut idle = Person::arrived(2, 1990, "2024-01-10", "north");
    let arrived = idle.journal.facts[1].id;
    idle.correct(
        "2025-02-01T08:00:00Z",
        arrived,
        "2025-01-15",
        arrival("north"),
    );
    let population = [waiting, idle];
    let as_of = date("2024-12-31");
    let lists = |known_at: &str| {
        let (views, households) = views(&population, known_at);
        (
            caseloads(&views, as_of),
            course_waiting_list(&views, as_of),
            idle_list(&views, &households, as_of, 90),
        )
    };

    let (loads, waiting_list, idle) = lists("2025-01-31T23:59:59Z");
    assert_eq!(loads[0].persons, [id(1), id(2)]);
    assert_eq!(waiting_list[0].days_waiting, 305);
    assert_eq!(
        idle.iter().map(|entry| entry.person).collect::<Vec<_>>(),
        [id(1), id(2)]
    );
    assert_eq!(lists("2024-12-31"), lists("2025-01-31T23:59:59Z"));

    let (loads, waiting_list, idle) = lists("2025-02-01T08:00:00Z");
    assert_eq!(loads[0].persons, [id(1)], "person 2 arrived after D");
    assert_eq!(waiting_list[0].days_waiting, 244);
    assert_eq!(
        idle.iter().map(|entry| entry.person).collect::<Vec<_>>(),
        [id(1)]
    );
}
