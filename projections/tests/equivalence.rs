//! Rebuild equivalence and reproducibility: for random seeded populations written through the ledger,
//! a full rebuild gives byte-identical answers for every indicator and read model, and answers for
//! past cuts are the same every time they are asked.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::{EventLog, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use journey_core::synth::{self, SynthConfig};
use journey_projections::kpi::{catalogue, Dimension, Suppression};
use journey_projections::models;
use journey_projections::{KpiRequest, Projections, RunnerConfig};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// Every answer the projections give for the cuts asked, as JSON text.
fn answers(projections: &Projections, cuts: &[(NaiveDate, Option<DateTime<Utc>>)]) -> String {
    let mut out = String::new();
    for (as_of, known_at) in cuts {
        for definition in catalogue()
            .iter()
            .filter(|definition| !definition.person_level)
        {
            for by in support::leading_breakdowns(definition.disaggregations) {
                let by: Vec<Dimension> = by;
                for suppression in [None, Some(Suppression { k: 3 })] {
                    let result = projections.kpi(KpiRequest {
                        key: definition.key.to_owned(),
                        as_of: *as_of,
                        known_at: *known_at,
                        by: by.clone(),
                        suppression,
                    });
                    let mut text = match result {
                        Ok(mut result) => {
                            if known_at.is_none() {
                                // "Now" moves; everything else must not.
                                result.known_at = DateTime::<Utc>::MIN_UTC;
                            }
                            serde_json::to_string(&result).expect("json")
                        }
                        Err(error) => format!("error: {error}"),
                    };
                    text.push('\n');
                    out.push_str(&text);
                }
            }
        }
        let views = projections.views(*known_at);
        for view in &views.views {
            out.push_str(
                &serde_json::to_string(&models::person_status(view, *as_of)).expect("json"),
            );
        }
        out.push_str(
            &serde_json::to_string(&models::caseloads(&views.views, *as_of)).expect("json"),
        );
        out.push_str(
            &serde_json::to_string(&models::course_waiting_list(&views.views, *as_of))
                .expect("json"),
        );
        out.push_str(
            &serde_json::to_string(&models::idle_list(
                &views.views,
                &views.households,
                *as_of,
                30,
            ))
            .expect("json"),
        );
    }
    out
}

fn run(seed: u64, people: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let mut rng = StdRng::seed_from_u64(seed);
        let keys = Arc::new(
            KeyStore::open(&store, SecretKey::from_bytes([3; 32]), &mut rng).expect("keys"),
        );
        let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
        let now = date("2024-12-31")
            .and_hms_opt(20, 0, 0)
            .expect("time")
            .and_utc();
        let ledger = Arc::new(Ledger::new(
            log.clone() as Arc<dyn EventLog>,
            keys,
            Arc::new(FixedClock::new(now)),
            Box::new(StdRng::seed_from_u64(seed + 1)),
            LedgerConfig::default(),
        ));
        let config = SynthConfig {
            people,
            seed,
            start: date("2015-01-01"),
            end: date("2024-12-31"),
        };
        synth::seed(&ledger, &config, |_| {}).await.expect("seed");
        let mut runner = RunnerConfig::new(dir.path().join("projections"));
        runner.rebuild_page_events = 512;
        let projections = Projections::start(ledger.clone(), runner)
            .await
            .expect("start");
        projections.caught_up().await.expect("caught up");
        let cuts = [
            (date("2024-12-31"), None),
            (date("2021-06-30"), None),
            (
                date("2020-12-31"),
                Some(
                    date("2021-03-31")
                        .and_hms_opt(12, 0, 0)
                        .expect("time")
                        .and_utc(),
                ),
            ),
            (date("2023-12-31"), Some(now - Duration::days(200))),
        ];
        let live = answers(&projections, &cuts);
        assert_eq!(
            live,
            answers(&projections, &cuts),
            "the same questions twice, the same bytes"
        );
        projections.rebuild(|_| {}).await.expect("rebuild");
        assert_eq!(
            live,
            answers(&projections, &cuts),
            "a rebuild answers byte for byte the same"
        );
        projections.shutdown().await.expect("shutdown");
        let restarted = Projections::start(
            ledger.clone(),
            RunnerConfig::new(dir.path().join("projections")),
        )
        .await
        .expect("restart");
        restarted.caught_up().await.expect("caught up");
        assert_eq!(
            live,
            answers(&restarted, &cuts),
            "a restart from the snapshot answers the same"
        );
        restarted.shutdown().await.expect("shutdown");
        log.close().await.expect("close");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn rebuilds_and_restarts_give_identical_answers(seed in 0u64..1_000_000) {
        run(seed, 150);
    }
}
