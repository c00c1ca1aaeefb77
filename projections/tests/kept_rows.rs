//! The kept rows of the past cuts built off the query path (`journey_projections::kept_rows`,
//! issue 11), over a real ledger: a past `known_at` answered before they are ready (from views)
//! equals the one answered from them, and after events applied since they were built (new
//! persons, late entries, corrections and retractions of persons already built) a past cut from
//! the refreshed kept rows equals the reference: every view folded at the cut. After a restart
//! from a snapshot that holds them, the kept rows come from it (refreshed for the persons touched
//! since), and answer as before and as the fold; a snapshot whose kept rows are damaged is not
//! used. The steps of the live views (`kpi::steps`), kept off the query path the same way
//! (`kept_steps`), answer as the pass before they are served, once served, and after appends.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use journey_core::catalogue::{ErasureReason, Event, PersonalDataErased};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig, Proposed};
use journey_core::log::{EventLog, ExpectedRevision, SledLog, SledLogConfig};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_core::synth::{self, SynthConfig, SynthEvent};
use journey_projections::kpi::history::History;
use journey_projections::kpi::{catalogue, Dimension, KpiQuery, Suppression};
use journey_projections::runner::SNAPSHOT_FILE;
use journey_projections::snapshot::{self, SnapshotError};
use journey_projections::{KpiRequest, Projections, RunnerConfig, ViewSet};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn at(text: &str) -> DateTime<Utc> {
    date(text).and_hms_opt(12, 0, 0).expect("time").and_utc()
}

/// The ledger's now: after every generated transaction time.
fn now() -> DateTime<Utc> {
    date("2024-12-31")
        .and_hms_opt(23, 0, 0)
        .expect("time")
        .and_utc()
}

fn population(people: usize, seed: u64) -> SynthConfig {
    SynthConfig {
        people,
        seed,
        start: date("2015-01-01"),
        end: date("2024-12-31"),
    }
}

/// A ledger on a fresh store in `dir`, its clock at [`now`].
fn ledger(dir: &std::path::Path, seed: u64) -> (Arc<Ledger>, Arc<SledLog>) {
    let store = Store::open(dir, &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(seed);
    let keys =
        Arc::new(KeyStore::open(&store, SecretKey::from_bytes([5; 32]), &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Arc::new(Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        Arc::new(FixedClock::new(now())),
        Box::new(StdRng::seed_from_u64(seed + 1)),
        LedgerConfig::default(),
    ));
    (ledger, log)
}

/// Appends `events` through the ledger with their transaction times, each person's in one
/// append, in the generator's order.
async fn append(ledger: &Ledger, events: Vec<SynthEvent>) {
    let mut by_person: BTreeMap<PersonId, Vec<(Proposed, DateTime<Utc>)>> = BTreeMap::new();
    for event in events {
        let recorded_at = event.recorded_at.min(now());
        by_person
            .entry(event.person)
            .or_default()
            .push((event.proposed(), recorded_at));
    }
    for (person, events) in by_person {
        ledger
            .append_historical(person, ExpectedRevision::Any, events)
            .await
            .expect("append");
    }
}

/// A ledger in `dir` (seeded as the population) holding what `population` recorded by `split`,
/// and projections started over it and caught up; answers them with the events recorded after.
async fn started_over_what_was_recorded_by(
    dir: &std::path::Path,
    population: SynthConfig,
    split: DateTime<Utc>,
) -> (Arc<Ledger>, Arc<SledLog>, Projections, Vec<SynthEvent>) {
    let (ledger, log) = ledger(dir, population.seed);
    let (early, late): (Vec<SynthEvent>, Vec<SynthEvent>) = synth::generate(&population)
        .into_iter()
        .partition(|event| event.recorded_at <= split);
    append(&ledger, early).await;
    let projections =
        Projections::start(ledger.clone(), RunnerConfig::new(dir.join("projections")))
            .await
            .expect("start");
    projections.caught_up().await.expect("caught up");
    (ledger, log, projections, late)
}

/// Every indicator's request at `known_at`: each breakdown of up to two dimensions and two
/// reporting dates, suppressed and not.
fn requests(known_at: DateTime<Utc>) -> Vec<KpiRequest> {
    let mut requests = Vec::new();
    for definition in catalogue()
        .iter()
        .filter(|definition| !definition.person_level)
    {
        for by in support::leading_breakdowns(definition.disaggregations) {
            let by: Vec<Dimension> = by;
            for as_of in [date("2019-12-31"), date("2024-06-30")] {
                for suppression in [None, Some(Suppression { k: 3 })] {
                    requests.push(KpiRequest {
                        key: definition.key.to_owned(),
                        as_of,
                        known_at: Some(known_at),
                        by: by.clone(),
                        suppression,
                    });
                }
            }
        }
    }
    requests
}

/// The answer of `projections` to `request`, as JSON text.
fn answer(projections: &Projections, request: KpiRequest) -> String {
    match projections.kpi(request) {
        Ok(result) => serde_json::to_string(&result).expect("json"),
        Err(error) => format!("error: {error}"),
    }
}

/// The reference answer: `folded`, every person's view folded at the cut, then the indicator
/// over them.
fn reference(projections: &Projections, folded: &ViewSet, request: &KpiRequest) -> String {
    let query = KpiQuery {
        key: request.key.clone(),
        as_of: request.as_of,
        known_at: folded.known_at,
        by: request.by.clone(),
        suppression: request.suppression,
    };
    projections.read(|state| {
        match folded.compute(&query, &state.registers, &state.offers, &state.volunteers) {
            Ok(mut result) => {
                result.metadata.erased_persons = state.erased_persons();
                // As the projections report it: the live cut as the time it covers.
                result.known_at = folded.answer_known_at();
                serde_json::to_string(&result).expect("json")
            }
            Err(error) => format!("error: {error}"),
        }
    })
}

/// Asks every request of every cut of `cuts` from the kept rows and compares it with the
/// reference fold; returns how many were compared.
fn compare_with_the_fold(projections: &Projections, cuts: &[DateTime<Utc>]) -> usize {
    let mut compared = 0;
    for known_at in cuts {
        let folded = projections.read(|state| ViewSet::folded(state, *known_at));
        for request in requests(*known_at) {
            let label = format!(
                "{} by {:?} as of {}, known at {known_at}",
                request.key, request.by, request.as_of
            );
            assert!(projections.kept_rows().ready, "served from the kept rows");
            assert_eq!(
                answer(projections, request.clone()),
                reference(projections, &folded, &request),
                "{label}"
            );
            compared += 1;
        }
    }
    compared
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The cuts asked: between the first arrivals and the end, and one on a day of many entries.
fn cuts() -> [DateTime<Utc>; 3] {
    [
        at("2017-03-31"),
        at("2021-02-15"),
        now() - Duration::days(200),
    ]
}

#[test]
fn a_past_known_at_answered_before_the_kept_rows_are_ready_equals_the_one_answered_from_them() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, log) = ledger(dir.path(), 21);
        synth::seed(&ledger, &population(160, 21), |_| {})
            .await
            .expect("seed");

        // Without kept rows (as before they are ready): every past cut from views.
        let mut without = RunnerConfig::new(dir.path().join("without"));
        without.kept_rows = false;
        let from_views = Projections::start(ledger.clone(), without)
            .await
            .expect("start");
        from_views.caught_up().await.expect("caught up");
        assert!(!from_views.kept_rows().ready, "no kept rows to serve from");
        assert!(!from_views.status().await.expect("status").kept_rows_ready);

        let from_kept =
            Projections::start(ledger.clone(), RunnerConfig::new(dir.path().join("with")))
                .await
                .expect("start");
        from_kept.caught_up().await.expect("caught up");
        let status = support::kept_rows_ready(&from_kept).await;
        assert!(
            status.built && status.rows > 0,
            "kept rows built: {status:?}"
        );
        assert!(from_kept.status().await.expect("status").kept_rows_ready);
        assert_eq!(
            from_kept.read(|state| state.checkpoint),
            from_views.read(|state| state.checkpoint),
            "both at the log's head"
        );

        let mut compared = 0;
        for known_at in cuts() {
            for request in requests(known_at) {
                let label = format!(
                    "{} by {:?} as of {}, known at {known_at}",
                    request.key, request.by, request.as_of
                );
                assert_eq!(
                    answer(&from_kept, request.clone()),
                    answer(&from_views, request),
                    "{label}"
                );
                compared += 1;
            }
        }
        assert!(compared > 300, "the grid asked {compared} questions");
        from_kept.shutdown().await.expect("shutdown");
        from_views.shutdown().await.expect("shutdown");
        log.close().await.expect("close");
    });
}

#[test]
fn events_applied_after_the_kept_rows_were_built_then_a_past_cut_equals_the_reference_fold() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        // What was recorded by mid-2020 first; the kept rows are built over it.
        let split = at("2020-06-30");
        let (ledger, log, projections, late) =
            started_over_what_was_recorded_by(dir.path(), population(220, 33), split).await;
        let built = support::kept_rows_ready(&projections).await;
        let persons_before = projections.read(|state| state.journals.len());

        // Then, for one person in eight (fewer than a quarter: the kept rows are refreshed for
        // them, not built again), what was recorded since: later facts of persons already built
        // (late entries among them, corrections and retractions) and persons who came since.
        let (some, rest): (Vec<SynthEvent>, Vec<SynthEvent>) = late
            .into_iter()
            .partition(|event| event.person.0.as_u128() % 8 == 0);
        append(&ledger, some).await;
        projections.caught_up().await.expect("caught up");
        let refreshed = support::kept_rows_ready(&projections).await;
        assert!(
            refreshed.checkpoint > built.checkpoint && refreshed.built_in == built.built_in,
            "refreshed, not built again, for the events applied since: {built:?} then {refreshed:?}"
        );
        assert!(
            projections.read(|state| state.journals.len()) > persons_before,
            "persons came after the kept rows were built"
        );
        let mut cuts = cuts().to_vec();
        cuts.extend([split, split - Duration::days(30)]);
        let compared = compare_with_the_fold(&projections, &cuts);
        assert!(compared > 500, "the grid asked {compared} questions");

        // Then everything else: most persons change, so the kept rows are built again whole in
        // the background, and serve again once that build caught up.
        append(&ledger, rest).await;
        projections.caught_up().await.expect("caught up");
        let rebuilt = support::kept_rows_ready(&projections).await;
        assert!(
            rebuilt.checkpoint > refreshed.checkpoint,
            "{refreshed:?} then {rebuilt:?}"
        );
        compare_with_the_fold(&projections, &cuts[1..3]);
        projections.shutdown().await.expect("shutdown");
        log.close().await.expect("close");
    });
}

/// The requests of the indicators read off steps (`kpi::steps`) at the live cut.
fn step_requests() -> Vec<KpiRequest> {
    let mut requests = Vec::new();
    for (key, by) in [
        ("population_present", vec![Dimension::District]),
        ("employment_rate", vec![]),
        ("kita_rate", vec![Dimension::Sex]),
    ] {
        for as_of in [date("2019-12-31"), date("2020-03-31")] {
            requests.push(KpiRequest {
                key: key.to_owned(),
                as_of,
                known_at: None,
                by: by.clone(),
                suppression: None,
            });
        }
    }
    requests
}

/// Compares every step request's answer at the live cut with the reference (every view folded
/// live, the pass over them); `from_steps`: each is answered from the steps at the time. Which
/// path answers is asked of every request before any is answered, since an answer by the pass
/// wants the steps, which the background may then build before the next request.
fn compare_step_requests(projections: &Projections, from_steps: bool) {
    let folded = projections.read(|state| ViewSet::folded(state, journey_projections::LIVE));
    let paths: Vec<bool> = step_requests()
        .iter()
        .map(|request| projections.answers_from_steps(request))
        .collect();
    for (request, path) in step_requests().into_iter().zip(paths) {
        assert_eq!(
            path, from_steps,
            "{} by {:?} on {}",
            request.key, request.by, request.as_of
        );
        assert_eq!(
            answer(projections, request.clone()),
            reference(projections, &folded, &request),
            "{} by {:?} on {}",
            request.key,
            request.by,
            request.as_of
        );
    }
}

/// Given projections over a real ledger, when indicators read off steps are asked at the live
/// cut, then they are answered by the pass at once while their steps are built in the
/// background, from the steps once served (a bounded wait), and after events appended live
/// (persons arriving, late entries and corrections of persons already counted) from the steps
/// updated for those persons: every answer equal to the pass over every view folded live.
#[test]
fn the_live_steps_are_built_off_the_query_path_and_follow_live_appends() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let split = at("2020-06-30");
        let (ledger, log, projections, late) =
            started_over_what_was_recorded_by(dir.path(), population(200, 57), split).await;
        // No steps yet: the pass answers, and the steps are wanted.
        compare_step_requests(&projections, false);
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while !step_requests()
                .iter()
                .all(|request| projections.answers_from_steps(request))
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the steps are served within a minute");
        let held = projections.steps_held();
        assert!(held.held == 3 && held.heap_bytes > 0, "{held:?}");
        compare_step_requests(&projections, true);

        // One person in eight gets what was recorded since (late entries among it, corrections,
        // retractions, persons arriving): the steps are updated for them, not dropped.
        let (some, _): (Vec<SynthEvent>, Vec<SynthEvent>) = late
            .into_iter()
            .partition(|event| event.person.0.as_u128() % 8 == 0);
        assert!(!some.is_empty(), "events recorded after the split");
        append(&ledger, some).await;
        projections.caught_up().await.expect("caught up");
        compare_step_requests(&projections, true);
        projections.shutdown().await.expect("shutdown");
        log.close().await.expect("close");
    });
}

/// Every answer of every request at `cuts`, in order.
fn answers(projections: &Projections, cuts: &[DateTime<Utc>]) -> Vec<String> {
    cuts.iter()
        .flat_map(|known_at| requests(*known_at))
        .map(|request| answer(projections, request))
        .collect()
}

/// `path`'s snapshot with a byte of its sealed kept rows (its last frame) flipped, under a digest
/// that matches.
fn damage_the_kept_rows(path: &std::path::Path) {
    use sha2::{Digest, Sha256};
    let written = std::fs::read(path).expect("read");
    let mut body = written[..written.len() - 32].to_vec();
    let inside_kept_rows = body.len() - 40;
    body[inside_kept_rows] ^= 0x01;
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    std::fs::write(path, body).expect("write");
}

#[test]
fn after_a_restart_from_a_snapshot_the_kept_rows_come_from_it_and_answer_as_the_fold() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, log) = ledger(dir.path(), 45);
        let split = at("2020-06-30");
        let (early, late): (Vec<SynthEvent>, Vec<SynthEvent>) =
            synth::generate(&population(220, 45))
                .into_iter()
                .partition(|event| event.recorded_at <= split);
        append(&ledger, early).await;
        let config = || RunnerConfig::new(dir.path().join("projections"));
        let snapshot_path = dir.path().join("projections").join(SNAPSHOT_FILE);
        let mut cuts = cuts().to_vec();
        cuts.extend([split, split - Duration::days(30)]);

        // Given: kept rows built after a start without snapshot, and the snapshot written at
        // the shutdown, which holds them.
        let first = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        first.caught_up().await.expect("caught up");
        let built = support::kept_rows_ready(&first).await;
        assert!(!built.built_in.is_zero(), "built: {built:?}");
        let before = answers(&first, &cuts);
        first.shutdown().await.expect("shutdown");
        drop(first);
        let written = snapshot::load(&snapshot_path, ledger.keys())
            .expect("load")
            .expect("a snapshot");
        assert!(
            written.kept_rows.is_some(),
            "the snapshot holds the kept rows"
        );
        drop(written);

        // When: started again from it, nothing applied since. Then: the kept rows are the
        // snapshot's (not built again), and every answer is the one before and the fold's.
        let second = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        second.caught_up().await.expect("caught up");
        let loaded = support::kept_rows_ready(&second).await;
        assert!(loaded.built_in.is_zero(), "from the snapshot: {loaded:?}");
        assert_eq!((loaded.rows, loaded.versions), (built.rows, built.versions));
        assert!(
            answers(&second, &cuts) == before,
            "the answers before the restart"
        );
        assert!(compare_with_the_fold(&second, &cuts) > 500);
        second.shutdown().await.expect("shutdown");
        drop(second);

        // When: one person in eight is given what was recorded since while the projections were
        // stopped (late entries, corrections, retractions, new persons), then they start again.
        // Then: the snapshot's kept rows, the persons touched since refreshed, answer as the fold.
        let (some, _rest): (Vec<SynthEvent>, Vec<SynthEvent>) = late
            .into_iter()
            .partition(|event| event.person.0.as_u128() % 8 == 0);
        append(&ledger, some).await;
        let third = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        third.caught_up().await.expect("caught up");
        let refreshed = support::kept_rows_ready(&third).await;
        assert!(
            refreshed.built_in.is_zero() && refreshed.checkpoint > built.checkpoint,
            "the snapshot's, refreshed: {built:?} then {refreshed:?}"
        );
        assert!(
            refreshed.versions > built.versions,
            "{built:?} then {refreshed:?}"
        );
        compare_with_the_fold(&third, &cuts);
        let after = answers(&third, &cuts);
        third.shutdown().await.expect("shutdown");
        drop(third);

        // When: the snapshot's kept rows are damaged. Then: the snapshot is not used, the
        // projections are rebuilt from the log and their kept rows built again, and the answers
        // are the same.
        damage_the_kept_rows(&snapshot_path);
        assert!(matches!(
            snapshot::load(&snapshot_path, ledger.keys()),
            Err(SnapshotError::KeptRows { .. })
        ));
        let fourth = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        fourth.caught_up().await.expect("caught up");
        let rebuilt = support::kept_rows_ready(&fourth).await;
        assert!(!rebuilt.built_in.is_zero(), "built again: {rebuilt:?}");
        assert!(
            answers(&fourth, &cuts) == after,
            "the answers from the snapshot"
        );
        compare_with_the_fold(&fourth, &cuts[1..3]);
        fourth.shutdown().await.expect("shutdown");
        log.close().await.expect("close");
    });
}

/// Given a snapshot that holds the kept rows, when projections start from it and a past cut of
/// an indicator that reads no views is asked at once (after `settle_past_cut`, as the API asks
/// it), then the kept rows taken from the snapshot serve it: the wait ends with them served, not
/// built again, and the answer is the one before the restart.
#[test]
fn a_past_cut_asked_while_the_kept_rows_are_taken_from_the_snapshot_waits_for_them() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, log) = ledger(dir.path(), 46);
        append(&ledger, synth::generate(&population(220, 46))).await;
        let config = || RunnerConfig::new(dir.path().join("projections"));
        let cut = at("2020-06-30");
        let request = || KpiRequest {
            key: "employment_rate".to_owned(),
            as_of: date("2020-06-30"),
            known_at: Some(cut),
            by: vec![Dimension::District],
            suppression: None,
        };
        let first = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        first.caught_up().await.expect("caught up");
        support::kept_rows_ready(&first).await;
        let before = answer(&first, request());
        first.shutdown().await.expect("shutdown");
        drop(first);

        let second = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        second
            .settle_past_cut(
                "employment_rate",
                Some(cut),
                std::time::Duration::from_secs(120),
            )
            .await;
        let status = second.kept_rows();
        assert!(
            status.ready && status.built_in.is_zero(),
            "served from the snapshot when the wait ends: {status:?}"
        );
        assert_eq!(answer(&second, request()), before);
        second.shutdown().await.expect("shutdown");
        log.close().await.expect("close");
    });
}

/// The kept rows in the snapshot at `path`, read back and checked (`None`: it holds none).
fn kept_rows_in(path: &std::path::Path, ledger: &Ledger) -> Option<History> {
    snapshot::load(path, ledger.keys())
        .expect("load")
        .expect("a snapshot")
        .kept_rows
        .map(|bytes| bytes.decode().expect("they check"))
}

#[test]
fn after_an_erasure_no_snapshot_holds_the_erased_persons_kept_rows() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, log) = ledger(dir.path(), 46);
        append(&ledger, synth::generate(&population(60, 46))).await;
        let config = || RunnerConfig::new(dir.path().join("projections"));
        let snapshot_path = dir.path().join("projections").join(SNAPSHOT_FILE);

        // Given: running projections whose kept rows are ready and in a snapshot, and a person
        // who has rows in them.
        let projections = Projections::start(ledger.clone(), config())
            .await
            .expect("start");
        projections.caught_up().await.expect("caught up");
        let built = support::kept_rows_ready(&projections).await;
        projections.snapshot().await.expect("snapshot");
        let persons: Vec<PersonId> =
            projections.read(|state| state.journals.keys().copied().collect());
        let written = kept_rows_in(&snapshot_path, &ledger).expect("the kept rows");
        let erased = *persons
            .iter()
            .find(|person| written.holds_rows_of(**person))
            .expect("a person with kept rows");

        // When: the person is erased while they run.
        let erase = Proposed {
            event: Event::PersonalDataErased(PersonalDataErased {
                reason: ErasureReason::Art17Request,
            }),
            ..sample::counselling(uuid::Uuid::from_u128(77_777), date("2024-06-01"))
        };
        ledger
            .append(erased, ExpectedRevision::Any, vec![erase])
            .await
            .expect("erase");
        projections.caught_up().await.expect("caught up");

        // Then: a refresh replaces the person's versions but not their rows from before, so the
        // kept rows are built again (served anew; a bound on the wait, so that kept rows never
        // built again fail instead of hanging), and the snapshot written after holds nothing of
        // the person but the others' rows.
        for _ in 0..6_000 {
            if projections.kept_rows().served_at != built.served_at {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_ne!(
            projections.kept_rows().served_at,
            built.served_at,
            "built again after the erasure"
        );
        support::kept_rows_ready(&projections).await;
        projections.shutdown().await.expect("shutdown");
        drop(projections);
        let after = kept_rows_in(&snapshot_path, &ledger).expect("the kept rows built again");
        assert!(!after.holds_rows_of(erased));
        assert!(persons
            .iter()
            .filter(|person| **person != erased)
            .any(|person| after.holds_rows_of(*person)));
        log.close().await.expect("close");
    });
}

/// A rebuild swapped in while the upkeep of the kept rows runs (a step building or refreshing
/// them, or just ending) drops them; the upkeep builds them again for the new state without
/// waiting for another write. Where the swap falls against the upkeep differs from round to round
/// and is not forced: under load, the runner's no-rewrite test met the lost wake-up this guards
/// against (a hang in CI) in 8 runs of 15 before the fix, none in 15 after.
#[test]
fn kept_rows_dropped_by_a_rebuild_are_built_again_without_another_write() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, log) = ledger(dir.path(), 51);
        append(&ledger, synth::generate(&population(4, 51))).await;
        let config = || RunnerConfig::new(dir.path().join("projections"));
        for _ in 0..100 {
            // Given projections started (from the snapshot the round before wrote, kept rows and
            // all, after the first), whose upkeep runs,
            let projections = Projections::start(ledger.clone(), config())
                .await
                .expect("start");
            projections.caught_up().await.expect("caught up");
            // when a rebuild swaps in its state,
            projections.rebuild(|_| {}).await.expect("rebuild");
            // then the kept rows serve at its checkpoint.
            let rebuilt = support::kept_rows_ready(&projections).await;
            assert_eq!(
                rebuilt.checkpoint,
                projections.read(|state| state.checkpoint)
            );
            projections.shutdown().await.expect("shutdown");
        }
        log.close().await.expect("close");
    });
}
