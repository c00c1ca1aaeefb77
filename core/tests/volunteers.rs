//! Volunteers over the real sled log: the rules of a volunteer stream as given/when/then cases (one
//! per rule at least, and a check that no rule lacks one), the link of an assignment to the
//! mentee's `MentorAssigned`, and the stream stored like an offer's: plain JSON, chained,
//! verified, idempotent on retry, refused appends writing nothing. Erasure is in
//! `tests/tests/erasure.rs` (raw bytes) and here (the state and the crash-safe intent).

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::catalogue::{Event, MentorAssigned};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::{Actor, PersonId};
use journey_core::keys::{KeyState, KeyStore};
use journey_core::ledger::{Ledger, LedgerConfig, LedgerError, Proposed};
use journey_core::log::{EventLog, ExpectedRevision, PayloadEncoding, SledLog, SledLogConfig};
use journey_core::registers::RegisterFile;
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_core::vault::volunteer::VolunteerData;
use journey_core::vault::{Vault, VaultError};
use journey_core::verify::{verify, VerifyOptions};
use journey_core::volunteers::{
    AppreciationKind, EndReason, MenteeAssigned, SupportKind, VolunteerAppreciated, VolunteerEnded,
    VolunteerEvent, VolunteerId, VolunteerProposal, VolunteerRecruited, VolunteerRule,
    VolunteerSupported, VolunteerTrained,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn coordinator() -> Actor {
    Actor {
        id: "co-1".into(),
        agency: None,
        role: journey_core::envelope::ActorRole::Coordinator,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<SledLog>,
    keys: Arc<KeyStore>,
    vault: Vault,
    ledger: Ledger,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(11);
    let keys =
        Arc::new(KeyStore::open(&store, SecretKey::from_bytes([7; 32]), &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let vault = Vault::open(&store).expect("vault");
    let ledger = Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys.clone(),
        Arc::new(FixedClock::at_date(date("2026-12-01"))),
        Box::new(StdRng::seed_from_u64(12)),
        LedgerConfig::default(),
    );
    ledger
        .import_register_file(&RegisterFile::salzgitter(), &Actor::system("test"))
        .await
        .expect("registers");
    Fixture {
        _dir: dir,
        log,
        keys,
        vault,
        ledger,
    }
}

/// The volunteer of case `n`, and the mentee whose `MentorAssigned` (event id `mentoring(n)`,
/// dated 2026-03-01) names `mentor`.
fn volunteer(n: u128) -> VolunteerId {
    VolunteerId(Uuid::from_u128(0x7000 + n))
}

fn mentee(n: u128) -> PersonId {
    PersonId(Uuid::from_u128(0x9000 + n))
}

fn mentoring(n: u128) -> Uuid {
    Uuid::from_u128(0x5000 + n)
}

async fn mentee_assigned_to(fixture: &Fixture, n: u128, mentor: &str) {
    let assigned = Proposed {
        id: mentoring(n),
        occurred_on: date("2026-03-01"),
        event: Event::MentorAssigned(MentorAssigned {
            mentor_id: mentor.to_owned(),
        }),
        actor: sample::caseworker(),
        correlation_id: None,
        causation_id: None,
    };
    fixture
        .ledger
        .append(
            mentee(n),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(Uuid::from_u128(0x6000 + 2 * n), date("2026-01-02")),
                sample::arrival(Uuid::from_u128(0x6001 + 2 * n), date("2026-01-03")),
                assigned,
            ],
        )
        .await
        .expect("the mentee's MentorAssigned is accepted");
}

fn recruited() -> VolunteerEvent {
    VolunteerEvent::Recruited(VolunteerRecruited {
        district: Some("Lebenstedt".into()),
    })
}

fn trained() -> VolunteerEvent {
    VolunteerEvent::Trained(VolunteerTrained {})
}

fn assigned(mentoring: Uuid) -> VolunteerEvent {
    VolunteerEvent::MenteeAssigned(MenteeAssigned { mentoring })
}

fn ended() -> VolunteerEvent {
    VolunteerEvent::Ended(VolunteerEnded {
        reason: EndReason::NoTime,
    })
}

fn proposal(n: u128, on: &str, event: VolunteerEvent) -> VolunteerProposal {
    VolunteerProposal {
        id: Uuid::from_u128(n),
        occurred_on: date(on),
        event,
    }
}

/// Who the case's mentee's `MentorAssigned` names.
#[derive(Clone, Copy)]
enum Mentee {
    None,
    /// Names this case's volunteer.
    OfThisVolunteer,
    /// Names another volunteer.
    OfAnother,
}

/// One case: what the stream holds (each event dated `given_on`), what is proposed, and the rule
/// that refuses it (`None`: accepted).
struct Case {
    name: &'static str,
    mentee: Mentee,
    given: Vec<VolunteerEvent>,
    when: fn(u128) -> VolunteerEvent,
    when_on: &'static str,
    then: Option<(VolunteerRule, Option<&'static str>)>,
}

const GIVEN_ON: &str = "2026-02-01";

fn cases() -> Vec<Case> {
    use VolunteerRule::*;
    vec![
        Case {
            name: "a recruitment starts the stream",
            mentee: Mentee::None,
            given: vec![],
            when: |_| recruited(),
            when_on: "2026-02-01",
            then: None,
        },
        Case {
            name: "a training before the recruitment",
            mentee: Mentee::None,
            given: vec![],
            when: |_| trained(),
            when_on: "2026-02-01",
            then: Some((StreamStartsWithRecruited, None)),
        },
        Case {
            name: "recruited twice",
            mentee: Mentee::None,
            given: vec![recruited()],
            when: |_| recruited(),
            when_on: "2026-02-02",
            then: Some((StreamStartsWithRecruited, None)),
        },
        Case {
            name: "a supervision recorded for tomorrow",
            mentee: Mentee::None,
            given: vec![recruited()],
            when: |_| {
                VolunteerEvent::Supported(VolunteerSupported {
                    kind: SupportKind::Supervision,
                })
            },
            when_on: "2026-12-02",
            then: Some((OccurredOnNotInFuture, Some("occurred_on"))),
        },
        Case {
            name: "a thank-you dated before the recruitment",
            mentee: Mentee::None,
            given: vec![recruited()],
            when: |_| {
                VolunteerEvent::Appreciated(VolunteerAppreciated {
                    kind: AppreciationKind::Event,
                })
            },
            when_on: "2026-01-31",
            then: Some((NotBeforeRecruitment, Some("occurred_on"))),
        },
        Case {
            name: "a training after the end",
            mentee: Mentee::None,
            given: vec![recruited(), ended()],
            when: |_| trained(),
            when_on: "2026-02-03",
            then: Some((EndedIsFinal, None)),
        },
        Case {
            name: "a mentee before the basic training",
            mentee: Mentee::OfThisVolunteer,
            given: vec![recruited()],
            when: |n| assigned(mentoring(n)),
            when_on: "2026-03-02",
            then: Some((AssignedOnlyWhenTrained, None)),
        },
        Case {
            name: "a mentee whose MentorAssigned names this volunteer",
            mentee: Mentee::OfThisVolunteer,
            given: vec![recruited(), trained()],
            when: |n| assigned(mentoring(n)),
            when_on: "2026-03-02",
            then: None,
        },
        Case {
            name: "a mentee whose MentorAssigned names another volunteer",
            mentee: Mentee::OfAnother,
            given: vec![recruited(), trained()],
            when: |n| assigned(mentoring(n)),
            when_on: "2026-03-02",
            then: Some((AssignmentLinksMentoring, Some("mentoring"))),
        },
        Case {
            name: "an assignment dated before the mentee's MentorAssigned",
            mentee: Mentee::OfThisVolunteer,
            given: vec![recruited(), trained()],
            when: |n| assigned(mentoring(n)),
            when_on: "2026-02-28",
            then: Some((AssignmentLinksMentoring, Some("mentoring"))),
        },
        Case {
            name: "an assignment naming no recorded event",
            mentee: Mentee::None,
            given: vec![recruited(), trained()],
            when: |n| assigned(mentoring(n)),
            when_on: "2026-03-02",
            then: Some((AssignmentLinksMentoring, Some("mentoring"))),
        },
        Case {
            name: "an assignment naming the mentee's registration",
            mentee: Mentee::OfThisVolunteer,
            given: vec![recruited(), trained()],
            when: |n| assigned(Uuid::from_u128(0x6000 + 2 * n)),
            when_on: "2026-03-02",
            then: Some((AssignmentLinksMentoring, Some("mentoring"))),
        },
    ]
}

#[tokio::test]
async fn every_volunteer_rule_has_a_case_and_every_case_decides_as_written() {
    for rule in VolunteerRule::ALL {
        assert!(
            cases()
                .iter()
                .any(|case| case.then.is_some_and(|(refused, _)| refused == rule)),
            "rule {} has no refusing case",
            rule.code()
        );
    }
    for (number, case) in cases().into_iter().enumerate() {
        let fixture = fixture().await;
        let n = number as u128 + 1;
        let who = volunteer(n);
        match case.mentee {
            Mentee::None => {}
            Mentee::OfThisVolunteer => mentee_assigned_to(&fixture, n, &who.stream_name()).await,
            Mentee::OfAnother => {
                mentee_assigned_to(&fixture, n, &volunteer(999).stream_name()).await
            }
        }
        // Given: the earlier events, each accepted.
        for (k, event) in case.given.iter().enumerate() {
            fixture
                .ledger
                .append_volunteer_events(
                    who,
                    vec![proposal(100 + k as u128, GIVEN_ON, event.clone())],
                    &coordinator(),
                )
                .await
                .unwrap_or_else(|error| panic!("{}: given event {k} refused: {error}", case.name));
        }
        let before = fixture.log.last_position().await.expect("head");
        // When: the proposed event.
        let outcome = fixture
            .ledger
            .append_volunteer_events(
                who,
                vec![proposal(999, case.when_on, (case.when)(n))],
                &coordinator(),
            )
            .await;
        // Then: accepted, or refused by the named rule on the named field with nothing written.
        match (outcome, case.then) {
            (Ok(receipt), None) => assert_eq!(
                receipt.stream_revision,
                case.given.len() as u64,
                "{}",
                case.name
            ),
            (Err(LedgerError::Volunteer(violation)), Some((rule, field))) => {
                assert_eq!(violation.rule, rule, "{}: {violation}", case.name);
                assert_eq!(violation.field.as_deref(), field, "{}", case.name);
                assert_eq!(violation.event_id, Uuid::from_u128(999), "{}", case.name);
                assert_eq!(
                    fixture.log.last_position().await.expect("head"),
                    before,
                    "{}: nothing written",
                    case.name
                );
            }
            (other, expected) => panic!("{}: expected {expected:?}, got {other:?}", case.name),
        }
    }
}

#[tokio::test]
async fn a_volunteer_stream_is_plain_json_chained_verified_and_idempotent() {
    let fixture = fixture().await;
    let who = volunteer(1);
    mentee_assigned_to(&fixture, 1, &who.stream_name()).await;
    let events = vec![
        proposal(1, "2026-02-01", recruited()),
        proposal(2, "2026-02-15", trained()),
        proposal(3, "2026-03-01", assigned(mentoring(1))),
    ];
    let first = fixture
        .ledger
        .append_volunteer_events(who, events.clone(), &coordinator())
        .await
        .expect("accepted");
    assert_eq!(first.stream_revision, 2);
    let again = fixture
        .ledger
        .append_volunteer_events(who, events, &coordinator())
        .await
        .expect("a retry");
    assert_eq!(again.already_recorded, 3);
    assert_eq!(again.first_position, None);
    let stored = fixture
        .ledger
        .read_whole_stream(&who.stream_name())
        .await
        .expect("stream");
    assert_eq!(stored.len(), 3);
    for recorded in &stored {
        assert_eq!(recorded.event.encoding, PayloadEncoding::Json);
        let text = String::from_utf8_lossy(&recorded.event.payload);
        assert!(
            !text.contains(&mentee(1).0.to_string()),
            "the register names the mentee's event, never the person: {text}"
        );
    }
    let (state, _) = fixture.ledger.read_volunteer(who).await.expect("state");
    assert_eq!(state.mentorings.len(), 1);
    assert!(state.active_on(date("2026-03-01")));
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify runs");
    assert!(report.first_problem.is_none(), "{:?}", report.first_problem);
}

#[tokio::test]
async fn an_unknown_district_is_refused_and_nothing_is_written() {
    let fixture = fixture().await;
    let error = fixture
        .ledger
        .append_volunteer_events(
            volunteer(1),
            vec![proposal(
                1,
                "2026-02-01",
                VolunteerEvent::Recruited(VolunteerRecruited {
                    district: Some("Lebenstet".into()),
                }),
            )],
            &coordinator(),
        )
        .await
        .expect_err("an unknown district");
    assert!(
        matches!(error, LedgerError::UnknownCode { .. }),
        "{error:?}"
    );
    assert!(fixture
        .ledger
        .read_whole_stream(&volunteer(1).stream_name())
        .await
        .expect("stream")
        .is_empty());
}

fn anna() -> VolunteerData {
    VolunteerData {
        given_names: "Annegret".into(),
        family_name: "Vogelsang".into(),
        phone: Some("+49 5341 123456".into()),
        email: Some("annegret@example.org".into()),
    }
}

#[tokio::test]
async fn personal_data_needs_a_recruited_volunteer_and_goes_with_the_erasure() {
    let fixture = fixture().await;
    let who = volunteer(1);
    let refused = fixture
        .ledger
        .put_volunteer_data(&fixture.vault, who, &anna())
        .await
        .expect_err("not in the register");
    assert!(matches!(refused, LedgerError::VolunteerNotFound(_)));
    fixture
        .ledger
        .append_volunteer_events(
            who,
            vec![proposal(1, "2026-02-01", recruited())],
            &coordinator(),
        )
        .await
        .expect("recruited");
    let mut bad = anna();
    bad.email = Some("annegret".into());
    match fixture
        .ledger
        .put_volunteer_data(&fixture.vault, who, &bad)
        .await
    {
        Err(LedgerError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("email")),
        other => panic!("expected an invalid email, got {other:?}"),
    }
    fixture
        .ledger
        .put_volunteer_data(&fixture.vault, who, &anna())
        .await
        .expect("stored");
    assert_eq!(
        fixture
            .vault
            .get_volunteer(&fixture.keys, who)
            .expect("read"),
        Some(anna())
    );

    fixture
        .ledger
        .erase_volunteer(who, date("2026-11-30"), &coordinator())
        .await
        .expect("erased");
    assert_eq!(
        fixture.keys.state(who.key_owner()).expect("key"),
        KeyState::Destroyed
    );
    assert!(matches!(
        fixture.vault.get_volunteer(&fixture.keys, who),
        Err(VaultError::Erased(_))
    ));
    assert!(fixture.keys.pending_erasures().expect("intents").is_empty());
    let (state, _) = fixture.ledger.read_volunteer(who).await.expect("state");
    assert!(state.erased);
    assert!(state.recruited.is_some(), "the pseudonymous facts stay");
    // A retry is idempotent; storing data again is refused.
    fixture
        .ledger
        .erase_volunteer(who, date("2026-12-01"), &coordinator())
        .await
        .expect("a retried erasure");
    assert!(fixture
        .ledger
        .put_volunteer_data(&fixture.vault, who, &anna())
        .await
        .is_err());
    let refused = fixture
        .ledger
        .erase_volunteer(volunteer(2), date("2026-11-30"), &coordinator())
        .await
        .expect_err("no such volunteer");
    assert!(matches!(refused, LedgerError::VolunteerNotFound(_)));
}

#[tokio::test]
async fn an_erasure_cut_off_after_the_event_is_finished_at_the_next_open() {
    let fixture = fixture().await;
    let who = volunteer(1);
    fixture
        .ledger
        .append_volunteer_events(
            who,
            vec![proposal(1, "2026-02-01", recruited())],
            &coordinator(),
        )
        .await
        .expect("recruited");
    fixture
        .ledger
        .put_volunteer_data(&fixture.vault, who, &anna())
        .await
        .expect("stored");
    // The state a crash between the durable `VolunteerErased` and the key's destruction leaves:
    // the intent, the event, the key.
    fixture.keys.begin_erasure(who.key_owner()).expect("intent");
    fixture
        .ledger
        .append_volunteer_events(
            who,
            vec![VolunteerProposal {
                id: journey_core::volunteers::erasure_event_id(who),
                occurred_on: date("2026-11-30"),
                event: VolunteerEvent::Erased(journey_core::volunteers::VolunteerErased {}),
            }],
            &coordinator(),
        )
        .await
        .expect("the erasure event");
    assert!(matches!(
        fixture.keys.state(who.key_owner()).expect("key"),
        KeyState::Present(_)
    ));
    let finished = fixture
        .ledger
        .finish_interrupted_erasures()
        .await
        .expect("recovery");
    assert_eq!(finished, vec![who.key_owner()]);
    assert_eq!(
        fixture.keys.state(who.key_owner()).expect("key"),
        KeyState::Destroyed
    );
    assert!(matches!(
        fixture.vault.get_volunteer(&fixture.keys, who),
        Err(VaultError::Erased(_))
    ));
}

#[tokio::test]
async fn the_synthetic_population_writes_a_register_its_rules_accept() {
    let fixture = fixture().await;
    let log = fixture.log.clone();
    let ledger = Arc::new(fixture.ledger);
    let config = journey_core::synth::SynthConfig {
        people: 300,
        seed: 7,
        start: date("2016-01-01"),
        end: date("2024-12-31"),
    };
    let seeded = journey_core::synth::seed(&ledger, &config, |_| {})
        .await
        .expect("the population and its register are accepted, links included");
    let streams = log.stream_names("volunteer-").await.expect("names");
    assert_eq!(streams.len(), seeded.volunteers);
    assert!(seeded.volunteers >= 5, "{seeded:?}");
    let (mut linked, mut ended, mut mentors, mut helpers) = (0, 0, 0, 0);
    for stream in &streams {
        let volunteer = VolunteerId::from_stream_name(stream).expect("a volunteer stream");
        let (state, _) = ledger.read_volunteer(volunteer).await.expect("read");
        // A mentor is trained before the first mentee; a helper has no mentee and no training.
        if state.mentorings.is_empty() {
            assert!(state.trained.is_none(), "{state:?}");
            helpers += 1;
        } else {
            assert!(state.trained.is_some(), "{state:?}");
            mentors += 1;
        }
        linked += state.mentorings.len();
        ended += usize::from(state.ended.is_some());
    }
    assert!(linked >= mentors, "every mentor has a mentee");
    assert!(
        helpers > 0 && helpers < mentors,
        "some mentors bring a helper: {helpers} helpers, {mentors} mentors"
    );
    assert!(
        ended > 0 && ended < seeded.volunteers,
        "some stop, some stay"
    );
    let again = journey_core::synth::seed(&ledger, &config, |_| {})
        .await
        .expect("again");
    assert_eq!((again.volunteers, again.written), (seeded.volunteers, 0));
}
