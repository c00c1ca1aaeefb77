//! The projections over the real binary: killing a rebuild midway and running it again converges to
//! the same state as an uninterrupted run.

use std::time::Duration;

use journey_tests::{journey, text, uuid, Scratch};
use rand::{Rng, SeedableRng};

fn digest(output: &std::process::Output) -> String {
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("digest"))
        .map(|digest| digest.trim().to_owned())
        .unwrap_or_else(|| panic!("no digest in {stdout}"))
}

#[test]
fn a_rebuild_killed_midway_converges_when_run_again() {
    let seed: u64 = std::env::var("REBUILD_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("rebuild kill seed {seed} (rerun with REBUILD_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let scratch = Scratch::new();
    let mut lines = Vec::new();
    for person in 0..200u128 {
        lines.extend(journey(uuid(1_000_000 + person), person * 1_000, 60));
    }
    let file = scratch.write_ndjson("population.ndjson", &lines);
    let import = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(import.status.success(), "{}", text(&import.stderr));

    // The reference: projections built in one go.
    let reference = digest(&scratch.run(&["projections", "status"]));

    for round in 0..2 {
        let mut child = scratch
            .command()
            .args(["projections", "rebuild", "--snapshot-every", "1000"])
            .spawn()
            .expect("spawn rebuild");
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..1500)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let resumed = digest(&scratch.run(&["projections", "rebuild", "--snapshot-every", "1000"]));
        assert_eq!(resumed, reference, "round {round}: the rebuild converged");
        let status = digest(&scratch.run(&["projections", "status"]));
        assert_eq!(
            status, reference,
            "round {round}: a restart loads the same state"
        );
    }
}
