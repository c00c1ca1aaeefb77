//! Decoding a page of the log on several threads gives what decoding it event by event gives, in
//! log order, on a real store with sealed person events, register and offer events.

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::{AllFrom, Direction, EventLog, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use journey_core::synth::{self, SynthConfig};
use journey_projections::decode::decode_page;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

#[tokio::test]
async fn a_page_decoded_on_several_threads_equals_the_page_decoded_event_by_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(5);
    let keys =
        Arc::new(KeyStore::open(&store, SecretKey::from_bytes([5; 32]), &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let now = date("2024-12-31")
        .and_hms_opt(20, 0, 0)
        .expect("time")
        .and_utc();
    let ledger = Arc::new(Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        Arc::new(FixedClock::new(now)),
        Box::new(StdRng::seed_from_u64(6)),
        LedgerConfig::default(),
    ));
    let config = SynthConfig {
        people: 20,
        seed: 5,
        start: date("2015-01-01"),
        end: date("2024-12-31"),
    };
    synth::seed(&ledger, &config, |_| {}).await.expect("seed");
    let page = log
        .read_all(AllFrom::Start, Direction::Forwards, 100_000)
        .await
        .expect("page");
    assert!(page.len() > 200, "a page long enough to be split");

    let one_by_one: Vec<_> = page
        .iter()
        .cloned()
        .map(|recorded| ledger.decode(recorded).expect("decode"))
        .collect();
    for threads in [1, 2, 3, 7] {
        let decoded = decode_page(&ledger, page.clone(), threads).expect("decode page");
        assert!(
            decoded == one_by_one,
            "{threads} thread(s) give the events decoded one by one, in log order"
        );
    }
    log.close().await.expect("close");
}
