//! Offers over the real sled log: the rules of an offer stream as given/when/then cases (one per
//! rule at least, and a check that no rule lacks one), the district and provider checked against
//! the registers valid in the offer's month, and the stream stored like a register's: plain JSON,
//! chained, verified, no data key, idempotent on retry, refused appends writing nothing.

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::Actor;
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig, LedgerError};
use journey_core::log::{EventLog, PayloadEncoding, SledLog, SledLogConfig};
use journey_core::offers::{
    CapacityChanged, CapacityOffered, CapacityWithdrawn, OfferEvent, OfferId, OfferKind,
    OfferProposal, OfferRule, WithdrawalReason,
};
use journey_core::registers::{RegisterFile, RegisterKind};
use journey_core::store::{Store, StoreConfig};
use journey_core::verify::{verify, VerifyOptions};
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
    ledger: Ledger,
}

async fn fixture(with_registers: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(11);
    let keys =
        Arc::new(KeyStore::open(&store, SecretKey::from_bytes([7; 32]), &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        Arc::new(FixedClock::at_date(date("2026-12-01"))),
        Box::new(StdRng::seed_from_u64(12)),
        LedgerConfig::default(),
    );
    if with_registers {
        ledger
            .import_register_file(&RegisterFile::salzgitter(), &Actor::system("test"))
            .await
            .expect("registers");
    }
    Fixture {
        _dir: dir,
        log,
        ledger,
    }
}

fn offered(
    kind: OfferKind,
    district: Option<&str>,
    provider: Option<&str>,
    quantity: u32,
) -> OfferEvent {
    OfferEvent::Offered(CapacityOffered {
        kind,
        month: "2026-09".parse().expect("month"),
        district: district.map(str::to_owned),
        provider: provider.map(str::to_owned),
        quantity,
    })
}

fn kita(quantity: u32) -> OfferEvent {
    offered(OfferKind::KitaPlaces, Some("Lebenstedt"), None, quantity)
}

fn changed(quantity: u32) -> OfferEvent {
    OfferEvent::Changed(CapacityChanged { quantity })
}

fn withdrawn() -> OfferEvent {
    OfferEvent::Withdrawn(CapacityWithdrawn {
        reason: WithdrawalReason::Cancelled,
    })
}

fn proposal(n: u128, on: &str, event: OfferEvent) -> OfferProposal {
    OfferProposal {
        id: Uuid::from_u128(n),
        occurred_on: date(on),
        event,
    }
}

/// One case: what the stream holds, what is proposed, and the rule that refuses it (`None`: accepted).
struct Case {
    name: &'static str,
    given: Vec<OfferEvent>,
    when: OfferEvent,
    when_on: &'static str,
    then: Option<(OfferRule, Option<&'static str>)>,
}

fn cases() -> Vec<Case> {
    use OfferRule::*;
    vec![
        Case {
            name: "an offer starts its stream",
            given: vec![],
            when: kita(10),
            when_on: "2026-08-01",
            then: None,
        },
        Case {
            name: "a change before the offer",
            given: vec![],
            when: changed(4),
            when_on: "2026-08-01",
            then: Some((StreamStartsWithOffer, None)),
        },
        Case {
            name: "a withdrawal before the offer",
            given: vec![],
            when: withdrawn(),
            when_on: "2026-08-01",
            then: Some((StreamStartsWithOffer, None)),
        },
        Case {
            name: "a second offer in one stream",
            given: vec![kita(10)],
            when: kita(5),
            when_on: "2026-08-02",
            then: Some((StreamStartsWithOffer, None)),
        },
        Case {
            name: "a change after the offer",
            given: vec![kita(10)],
            when: changed(12),
            when_on: "2026-08-02",
            then: None,
        },
        Case {
            name: "a change after the withdrawal",
            given: vec![kita(10), withdrawn()],
            when: changed(3),
            when_on: "2026-08-03",
            then: Some((WithdrawnIsFinal, None)),
        },
        Case {
            name: "withdrawing twice",
            given: vec![kita(10), withdrawn()],
            when: withdrawn(),
            when_on: "2026-08-03",
            then: Some((WithdrawnIsFinal, None)),
        },
        Case {
            name: "an offer recorded tomorrow",
            given: vec![],
            when: kita(10),
            when_on: "2026-12-02",
            then: Some((OccurredOnNotInFuture, Some("occurred_on"))),
        },
        Case {
            name: "course places without a provider",
            given: vec![],
            when: offered(OfferKind::CoursePlaces, Some("Lebenstedt"), None, 20),
            when_on: "2026-08-01",
            then: Some((FieldsOfKind, Some("provider"))),
        },
        Case {
            name: "course places at a provider",
            given: vec![],
            when: offered(OfferKind::CoursePlaces, None, Some("VHS Salzgitter"), 20),
            when_on: "2026-08-01",
            then: None,
        },
        Case {
            name: "Kita places without a district",
            given: vec![],
            when: offered(OfferKind::KitaPlaces, None, None, 8),
            when_on: "2026-08-01",
            then: Some((FieldsOfKind, Some("district"))),
        },
        Case {
            name: "Kita places with a provider",
            given: vec![],
            when: offered(
                OfferKind::KitaPlaces,
                Some("Lebenstedt"),
                Some("VHS Salzgitter"),
                8,
            ),
            when_on: "2026-08-01",
            then: Some((FieldsOfKind, Some("provider"))),
        },
        Case {
            name: "counselling hours without a district",
            given: vec![],
            when: offered(
                OfferKind::CounsellingHours,
                None,
                Some("AWO Bildungszentrum"),
                40,
            ),
            when_on: "2026-08-01",
            then: Some((FieldsOfKind, Some("district"))),
        },
        Case {
            name: "an offer of nothing",
            given: vec![],
            when: kita(0),
            when_on: "2026-08-01",
            then: Some((QuantityInRange, Some("quantity"))),
        },
        Case {
            name: "a change to far too many",
            given: vec![kita(10)],
            when: changed(100_001),
            when_on: "2026-08-02",
            then: Some((QuantityInRange, Some("quantity"))),
        },
    ]
}

#[tokio::test]
async fn every_offer_rule_has_a_case_and_every_case_decides_as_written() {
    for rule in OfferRule::ALL {
        assert!(
            cases()
                .iter()
                .any(|case| case.then.is_some_and(|(refused, _)| refused == rule)),
            "rule {} has no refusing case",
            rule.code()
        );
    }
    for (number, case) in cases().into_iter().enumerate() {
        let fixture = fixture(true).await;
        let offer = OfferId(Uuid::from_u128(number as u128 + 1));
        // Given: the earlier events, each accepted.
        for (n, event) in case.given.iter().enumerate() {
            fixture
                .ledger
                .append_offer_events(
                    offer,
                    vec![proposal(100 + n as u128, "2026-08-01", event.clone())],
                    &coordinator(),
                )
                .await
                .unwrap_or_else(|error| panic!("{}: given event {n} refused: {error}", case.name));
        }
        let before = fixture.log.last_position().await.expect("head");
        // When: the proposed event.
        let outcome = fixture
            .ledger
            .append_offer_events(
                offer,
                vec![proposal(999, case.when_on, case.when)],
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
            (Err(LedgerError::Offer(violation)), Some((rule, field))) => {
                assert_eq!(violation.rule, rule, "{}", case.name);
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
async fn an_unknown_district_or_provider_is_refused_with_suggestions_and_nothing_is_written() {
    let fixture = fixture(true).await;
    let before = fixture.log.last_position().await.expect("head");
    let error = fixture
        .ledger
        .append_offer_events(
            OfferId(Uuid::from_u128(1)),
            vec![proposal(
                1,
                "2026-08-01",
                offered(OfferKind::KitaPlaces, Some("Lebenstet"), None, 8),
            )],
            &coordinator(),
        )
        .await
        .expect_err("an unknown district");
    match error {
        LedgerError::UnknownCode { unknown, index, .. } => {
            assert_eq!(index, 0);
            assert_eq!(unknown.register, RegisterKind::Districts);
            assert_eq!(unknown.field, "district");
            assert_eq!(
                unknown.on,
                date("2026-09-01"),
                "checked on the month's first day"
            );
            assert_eq!(
                unknown.suggestions.first().map(String::as_str),
                Some("Lebenstedt")
            );
        }
        other => panic!("expected an unknown code, got {other:?}"),
    }
    let error = fixture
        .ledger
        .append_offer_events(
            OfferId(Uuid::from_u128(2)),
            vec![proposal(
                2,
                "2026-08-01",
                offered(OfferKind::CoursePlaces, None, Some("VHS Salzgiter"), 20),
            )],
            &coordinator(),
        )
        .await
        .expect_err("an unknown provider");
    assert!(
        matches!(&error, LedgerError::UnknownCode { unknown, .. } if unknown.register == RegisterKind::Providers),
        "{error:?}"
    );
    assert_eq!(fixture.log.last_position().await.expect("head"), before);
}

#[tokio::test]
async fn an_offer_stream_is_plain_chained_keyless_idempotent_and_verifies() {
    let fixture = fixture(true).await;
    let offer = OfferId(Uuid::from_u128(5));
    let events = vec![
        proposal(1, "2026-08-01", kita(10)),
        proposal(2, "2026-08-15", changed(12)),
    ];
    let receipt = fixture
        .ledger
        .append_offer_events(offer, events.clone(), &coordinator())
        .await
        .expect("accepted");
    assert_eq!((receipt.stream_revision, receipt.already_recorded), (1, 0));
    // A retry of the same events writes nothing and says so.
    let retry = fixture
        .ledger
        .append_offer_events(offer, events, &coordinator())
        .await
        .expect("a retry");
    assert_eq!((retry.already_recorded, retry.first_position), (2, None));
    // The same id with other content is a conflict.
    let conflict = fixture
        .ledger
        .append_offer_events(
            offer,
            vec![proposal(2, "2026-08-15", changed(13))],
            &coordinator(),
        )
        .await
        .expect_err("other content");
    assert!(
        matches!(conflict, LedgerError::IdConflict { .. }),
        "{conflict:?}"
    );

    let stored = fixture
        .ledger
        .read_whole_stream(&offer.stream_name())
        .await
        .expect("read");
    assert_eq!(stored.len(), 2);
    for recorded in &stored {
        assert_eq!(
            recorded.event.encoding,
            PayloadEncoding::Json,
            "reference data is not sealed"
        );
        let decoded = fixture.ledger.decode(recorded.clone()).expect("decodes");
        assert!(decoded.event.is_none(), "an offer event is no person event");
        assert!(decoded.data.is_some());
    }
    assert_eq!(stored[1].event.prev_hash, stored[0].event.hash, "chained");
    // The log lists the offer streams by their prefix, and no register or person stream with them.
    assert_eq!(
        fixture.log.stream_names("offer-").await.expect("names"),
        vec![offer.stream_name()]
    );
    let (state, revision) = fixture.ledger.read_offer(offer).await.expect("state");
    assert_eq!((state.quantity, revision), (12, Some(1)));
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify runs");
    assert!(report.first_problem.is_none(), "{:?}", report.first_problem);
}

#[tokio::test]
async fn without_registers_any_well_formed_district_is_accepted() {
    let fixture = fixture(false).await;
    fixture
        .ledger
        .append_offer_events(
            OfferId(Uuid::from_u128(1)),
            vec![proposal(
                1,
                "2026-08-01",
                offered(OfferKind::KitaPlaces, Some("Anywhere"), None, 3),
            )],
            &coordinator(),
        )
        .await
        .expect("an installation without registers constrains nothing");
}

#[tokio::test]
async fn the_synthetic_population_offers_kita_and_course_places_by_district_into_the_coming_year() {
    let fixture = fixture(true).await;
    let ledger = Arc::new(fixture.ledger);
    let config = journey_core::synth::SynthConfig {
        people: 300,
        seed: 7,
        start: date("2016-01-01"),
        end: date("2024-12-31"),
    };
    let seeded = journey_core::synth::seed(&ledger, &config, |_| {})
        .await
        .expect("the population and its offers are accepted, districts and providers included");
    let streams = fixture.log.stream_names("offer-").await.expect("names");
    assert_eq!(streams.len(), seeded.offers);
    let mut kinds = std::collections::BTreeSet::new();
    let mut months_ahead = std::collections::BTreeSet::new();
    for stream in &streams {
        let offer = OfferId::from_stream_name(stream).expect("an offer stream");
        let (state, _) = ledger.read_offer(offer).await.expect("read");
        let offered = state.offered.expect("offered");
        assert!(state.quantity >= 1);
        assert!(offered.district.is_some(), "{offered:?}");
        kinds.insert(offered.kind.as_str());
        if offered.month > journey_core::offers::Month::of(config.end) {
            months_ahead.insert(offered.month);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["course_places", "kita_places"]
    );
    assert_eq!(
        months_ahead.len(),
        12,
        "offers for each of the 12 months after the end"
    );
    // Seeding again finds every offer recorded.
    let again = journey_core::synth::seed(&ledger, &config, |_| {})
        .await
        .expect("again");
    assert_eq!((again.offers, again.written), (seeded.offers, 0));
    assert_eq!(
        again.already, seeded.written,
        "every event and offer found recorded"
    );
}
