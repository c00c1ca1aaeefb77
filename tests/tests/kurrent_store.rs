//! `--store kurrentdb://…` on the commands that open the log, against a real log server
//! (`journey serve --grpc-listen`) over TLS: the same seeded population written to the embedded log
//! and to the log server answers the same, byte for byte.

use journey_tests::log_server::LogServer;
use journey_tests::{text, Scratch};

/// A writer's data directory with its log on `store`, and the same master key as every other.
struct Writer {
    scratch: Scratch,
    store: String,
}

impl Writer {
    fn new(store: &str) -> Writer {
        let scratch = Scratch::new();
        std::fs::create_dir_all(scratch.data_dir()).expect("data dir");
        std::fs::write(scratch.data_dir().join("master.key"), "2a".repeat(32)).expect("key");
        Writer {
            scratch,
            store: store.to_owned(),
        }
    }

    /// Runs `journey --store STORE ARGS`, which must succeed, and returns its standard output.
    fn run(&self, args: &[&str]) -> String {
        let output = self
            .scratch
            .command()
            .args(["--store", &self.store])
            .args(args)
            .output()
            .expect("run journey");
        assert!(
            output.status.success(),
            "journey {args:?} on {}: {}",
            self.store,
            text(&output.stderr)
        );
        text(&output.stdout)
    }
}

/// What `stats` counts, without the times and sizes.
fn event_counts(stats: &str) -> Vec<&str> {
    stats
        .lines()
        .filter(|line| {
            line.starts_with("events") || line.starts_with("streams") || line.starts_with("  ")
        })
        .collect()
}

#[test]
fn seed_kpi_stats_export_verify_and_rebuild_answer_on_the_kurrentdb_backend_as_on_sled() {
    let server = LogServer::start();
    let remote = Writer::new(&server.connection_string());
    let embedded = Writer::new("sled");
    let seed = [
        "seed",
        "--people",
        "12",
        "--seed",
        "7",
        "--end",
        "2025-06-30",
    ];
    assert_eq!(remote.run(&seed), embedded.run(&seed));

    for key in [
        "population_present",
        "course_waiting_days",
        "employment_rate",
    ] {
        let kpi = [
            "kpi",
            key,
            "--as-of",
            "2025-06-01",
            "--known-at",
            "2025-07-01T00:00:00Z",
            "--k",
            "1",
        ];
        assert_eq!(remote.run(&kpi), embedded.run(&kpi), "{key}");
    }
    assert_eq!(
        event_counts(&remote.run(&["stats"])),
        event_counts(&embedded.run(&["stats"]))
    );
    // The digest of a rebuild covers transaction times, which the seed takes from the clock for
    // organisational events: the persons and the lag are compared.
    let rebuild = |writer: &Writer| -> Vec<String> {
        writer
            .run(&["projections", "rebuild"])
            .lines()
            .filter(|line| line.starts_with("persons") || line.starts_with("lag"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(rebuild(&remote), rebuild(&embedded));
    let verified = remote.run(&["verify"]);
    assert!(verified.starts_with("ok:"), "{verified}");

    // Every person event the ledger wrote, as exported: the same on both logs, but for what is
    // random (event ids, and the hashes over sealed payloads under random data keys) and for the
    // order in which the seed's concurrent writers interleaved.
    let export = |writer: &Writer| -> Vec<String> {
        let mut events: Vec<String> = writer
            .run(&["export"])
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
            .filter(|event| {
                event["stream"]
                    .as_str()
                    .is_some_and(|stream| stream.starts_with("person-"))
            })
            .map(|mut event| {
                let fields = event.as_object_mut().expect("object");
                for random in ["position", "id", "hash", "prev_hash"] {
                    fields.remove(random);
                }
                event.to_string()
            })
            .collect();
        events.sort();
        events
    };
    assert_eq!(export(&remote), export(&embedded));
    // The writer's data directory holds its keys, but no event: the embedded log there is empty.
    let local = Writer {
        scratch: remote.scratch,
        store: "sled".to_owned(),
    };
    assert_eq!(local.run(&["export"]), "");
}

#[test]
fn a_store_that_is_neither_sled_nor_a_connection_string_is_refused_before_anything_is_written() {
    let scratch = Scratch::new();
    let output = scratch
        .command()
        .args([
            "--store",
            "postgres://admin:secret@db/journey",
            "seed",
            "--people",
            "1",
        ])
        .output()
        .expect("run journey");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("kurrentdb://"),
        "says what to write: {stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "no password in messages: {stderr}"
    );
    assert!(!scratch.data_dir().exists(), "nothing written");
}
