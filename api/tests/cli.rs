//! The CLI's own surface: help, argument errors and the data directory lock. (Being an integration
//! test of `journey-api` also makes `cargo test --workspace` build the `journey` binary that the
//! end-to-end tests in `tests/` run.)

use std::process::Command;

fn journey() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_journey"));
    command
        .env_remove("JOURNEY_MASTER_KEY")
        .env("RUST_LOG", "error");
    command
}

#[test]
fn help_lists_the_commands() {
    let output = journey().arg("--help").output().expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "import", "export", "show", "verify", "stats", "bench", "serve", "token",
    ] {
        assert!(help.contains(command), "help lists `{command}`: {help}");
    }
}

#[test]
fn a_bad_person_id_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = journey()
        .args([
            "--data-dir",
            dir.path().to_str().expect("path"),
            "show",
            "not-a-person",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("person-<uuid>"), "{stderr}");
}

#[test]
fn a_second_process_on_the_same_data_directory_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("path");
    let mut holder = journey()
        .args([
            "--data-dir",
            data_dir,
            "debug",
            "append-loop",
            "--persons",
            "1",
            "--writers",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the holder has acknowledged an append, so it holds the store.
    let mut stdout = std::io::BufReader::new(holder.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("first ack");
    assert!(first.starts_with("ack "), "{first}");
    let output = journey()
        .args(["--data-dir", data_dir, "stats"])
        .output()
        .expect("run");
    holder.kill().expect("kill");
    holder.wait().expect("reap");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
}

#[test]
fn token_commands_create_list_and_revoke_and_explain_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("path");
    let run = |args: &[&str]| {
        journey()
            .args(["--data-dir", data_dir, "token"])
            .args(args)
            .output()
            .expect("run")
    };
    let output = run(&["create", "--role", "caseworker"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--agency"), "{stderr}");

    let output = run(&[
        "create",
        "--role",
        "caseworker",
        "--agency",
        "jobcenter",
        "--name",
        "cw-1",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let token = stdout.split_whitespace().last().expect("token");
    assert!(token.starts_with("jrn_") && token.len() == 68, "{stdout}");
    let stored = std::fs::read_to_string(dir.path().join("tokens.json")).expect("tokens.json");
    assert!(!stored.contains(token), "only the hash is stored");

    let list = run(&["list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("cw-1") && listed.contains("jobcenter"),
        "{listed}"
    );
    assert!(!listed.contains(token));

    assert!(run(&["revoke", "cw-1"]).status.success());
    let listed = String::from_utf8_lossy(&run(&["list"]).stdout).into_owned();
    assert!(listed.contains("revoked"), "{listed}");
    let again = run(&["revoke", "cw-1"]);
    assert!(!again.status.success());
    let output = run(&["create", "--role", "janitor"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("caseworker, coordinator"));
}

#[test]
fn a_zero_or_nonsensical_kpi_push_interval_is_refused_before_anything_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    for value in ["0", "0s", "25h", "soon", "-1"] {
        // Given `journey serve` with a bad push interval, when it starts, then it exits with a
        // usage error naming the flag and what to give instead, and writes nothing.
        let output = journey()
            .args([
                "--data-dir",
                data_dir.to_str().expect("path"),
                "serve",
                "--listen",
                "127.0.0.1:0",
                &format!("--kpi-push-interval={value}"),
            ])
            .output()
            .expect("run");
        assert!(!output.status.success(), "{value}: accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--kpi-push-interval"), "{value}: {stderr}");
        assert!(stderr.contains("from 1s to 24h"), "{value}: {stderr}");
        assert!(
            !data_dir.exists(),
            "{value}: the data directory was created"
        );
    }
}

#[test]
fn a_parquet_export_without_a_file_is_refused_before_anything_is_opened_or_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    for args in [
        vec!["export", "--format", "parquet"],
        vec!["kpi", "population_present", "--format", "parquet"],
    ] {
        let output = journey()
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&args)
            .output()
            .expect("run");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--out FILE"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(!data_dir.exists(), "{args:?}: no data directory created");
    }
}
