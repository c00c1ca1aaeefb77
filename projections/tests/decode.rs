//! Decoding a page of the log on several threads, several pages ahead of the one applied, or the
//! whole log read and decoded ahead page by page, gives what decoding it event by event gives, in
//! log order, on a real store with sealed person events, register and offer events.

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::keys::KeyStore;
use journey_core::ledger::DecodedEvent;
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::RecordedEvent;
use journey_core::log::{AllFrom, Direction, EventLog, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use journey_core::synth::{self, SynthConfig};
use journey_projections::decode::{decode_page, DecodeAhead, LogPages};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

struct Seeded {
    _dir: tempfile::TempDir,
    log: Arc<SledLog>,
    ledger: Arc<Ledger>,
    /// The whole log as recorded.
    page: Vec<RecordedEvent>,
    /// The whole log decoded event by event.
    one_by_one: Vec<DecodedEvent>,
}

/// A real store seeded with 20 persons, their registers and offers.
async fn seeded() -> Seeded {
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
    let one_by_one: Vec<_> = page
        .iter()
        .cloned()
        .map(|recorded| ledger.decode(recorded).expect("decode"))
        .collect();
    Seeded {
        _dir: dir,
        log,
        ledger,
        page,
        one_by_one,
    }
}

#[tokio::test]
async fn a_page_decoded_on_several_threads_equals_the_page_decoded_event_by_event() {
    let seeded = seeded().await;
    assert!(seeded.page.len() > 200, "a page long enough to be split");

    for threads in [1, 2, 3, 7] {
        let decoded =
            decode_page(&seeded.ledger, seeded.page.clone(), threads).expect("decode page");
        assert!(
            decoded == seeded.one_by_one,
            "{threads} thread(s) give the events decoded one by one, in log order"
        );
    }
    seeded.log.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_decoded_ahead_come_back_in_the_order_pushed_whatever_their_length_and_depth() {
    let seeded = seeded().await;
    // Below and above the length decoded on the calling thread (64), and one page of all.
    for page_events in [1, 50, 64, 300, seeded.page.len()] {
        for depth in [1, 2, 3] {
            let mut decoding = DecodeAhead::with_depth(seeded.ledger.clone(), depth);
            let mut decoded = Vec::new();
            for chunk in seeded.page.chunks(page_events) {
                if !decoding.has_room() {
                    decoded.extend(decoding.next().await.expect("a page").expect("decoded"));
                }
                decoding.push(chunk.to_vec());
            }
            while let Some(next) = decoding.next().await {
                decoded.extend(next.expect("decoded"));
            }
            assert!(decoding.is_empty());
            assert!(
                decoded == seeded.one_by_one,
                "pages of {page_events} events, {depth} ahead, give the log decoded event by event"
            );
        }
    }
    seeded.log.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_read_and_decoded_ahead_is_the_log_after_the_checkpoint_decoded_event_by_event() {
    let seeded = seeded().await;
    let middle = seeded.page.len() / 2;
    // From the start, from the middle and after the last event (nothing to read).
    for (checkpoint, expected) in [
        (None, &seeded.one_by_one[..]),
        (
            Some(seeded.page[middle].position),
            &seeded.one_by_one[middle + 1..],
        ),
        (
            Some(seeded.page[seeded.page.len() - 1].position),
            &seeded.one_by_one[..0],
        ),
    ] {
        for page_events in [1, 7, 100, 4096] {
            let mut pages = LogPages::after(seeded.ledger.clone(), checkpoint, page_events);
            let mut decoded = Vec::new();
            while let Some(next) = pages.next().await {
                let next = next.expect("read and decoded");
                assert!(
                    !next.is_empty() && next.len() <= page_events,
                    "pages hold 1 to {page_events} events"
                );
                decoded.extend(next);
            }
            assert!(
                decoded == expected,
                "pages of {page_events} after {checkpoint:?} give the rest of the log decoded \
                 event by event"
            );
        }
    }
    seeded.log.close().await.expect("close");
}
