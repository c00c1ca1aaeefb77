//! Crash test over the real binary: a child appends in a loop and is killed with SIGKILL at a random
//! moment, several times. After each kill every acknowledged event is present, `journey verify`
//! passes, and appends go on.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use journey_tests::{text, Scratch};
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 4;

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let scratch = Scratch::new();
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut previous_total = 0;
    for round in 0..ROUNDS {
        let mut child = scratch
            .command()
            .args(["debug", "append-loop", "--persons", "6", "--writers", "12"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn append loop");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line
                    .strip_prefix("ack ")
                    .and_then(|rest| rest.split(' ').next())
                {
                    if sender.send(id.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        // Wait for the first acknowledgements, then kill at a random moment.
        let started = Instant::now();
        let mut round_acks = Vec::new();
        while round_acks.len() < 10 && started.elapsed() < Duration::from_secs(60) {
            if let Ok(id) = receiver.recv_timeout(Duration::from_millis(100)) {
                round_acks.push(id);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
                }
                panic!("append loop exited early with {status}: {stderr}");
            }
        }
        assert!(
            round_acks.len() >= 10,
            "round {round}: the append loop acknowledged nothing"
        );
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..800)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        round_acks.extend(receiver.try_iter());
        acknowledged.extend(round_acks);

        let verify = scratch.run(&["verify"]);
        assert!(
            verify.status.success(),
            "round {round}: verify after SIGKILL failed: {}{}",
            text(&verify.stdout),
            text(&verify.stderr)
        );
        let exported = scratch.export();
        let present: HashSet<String> = exported
            .iter()
            .map(|event| event["id"].as_str().expect("id").to_owned())
            .collect();
        let lost: Vec<_> = acknowledged.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged events lost: {lost:?}"
        );
        assert!(
            exported.len() > previous_total,
            "round {round}: appends went on after the restart"
        );
        previous_total = exported.len();
    }
}
