//! `journey keys rotate-master` and `rotate-epoch` over the real binary: after a master-key rotation
//! the old key no longer opens the data directory and the new one does, every event still decrypts
//! (`journey verify`, `journey export`), the vault entries still read; the data directory's own
//! generated key file is replaced; the commands refuse while a server runs.

use std::path::Path;

use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::{KeyStore, MasterKeySource};
use journey_core::store::{Store, StoreConfig};
use journey_core::vault::{PersonalData, Vault};
use journey_tests::{line, text, uuid, Scratch, Server};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

fn import_population(scratch: &Scratch, key_args: &[&str]) {
    let mut lines = Vec::new();
    for person in 1..=5u128 {
        lines.push(line(
            uuid(person),
            uuid(100 + person),
            "PersonRegistered",
            "2020-01-10",
            json!({"birth_year": 1990, "sex": "female", "nationality": "SYR", "languages": ["ar"]}),
        ));
        lines.push(line(
            uuid(person),
            uuid(200 + person),
            "CounsellingContact",
            "2020-02-01",
            json!({"agency": "jobcenter", "topic": "language"}),
        ));
    }
    let file = scratch.write_ndjson("events.ndjson", &lines);
    let mut args = key_args.to_vec();
    args.extend(["import", file.to_str().expect("path")]);
    let output = scratch.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

fn key_file(path: &Path) -> SecretKey {
    let mut rng = StdRng::seed_from_u64(1);
    journey_core::keys::load_master_key(&MasterKeySource::File(path.to_owned()), path, &mut rng)
        .expect("key file")
        .0
}

fn personal_data(person: u128) -> PersonalData {
    PersonalData {
        given_names: format!("Given{person}"),
        family_name: "Rotationstest".into(),
        birth_date: None,
        phone: Some(format!("+49 5341 555 {person:04}")),
        address: None,
    }
}

/// Opens the store with `master` through the library; `Err` when the key store refuses it.
fn with_keys<T>(
    data_dir: &Path,
    master: &SecretKey,
    f: impl FnOnce(&Store, &KeyStore) -> T,
) -> Result<T, String> {
    let mut rng = StdRng::seed_from_u64(2);
    let store = Store::open(data_dir, &StoreConfig::default()).expect("store");
    let keys = KeyStore::open(&store, master.clone(), &mut rng).map_err(|e| e.to_string())?;
    let value = f(&store, &keys);
    store.flush().expect("flush");
    Ok(value)
}

fn verify(scratch: &Scratch, key_args: &[&str]) -> std::process::Output {
    let mut args = key_args.to_vec();
    args.push("verify");
    scratch.run(&args)
}

#[test]
fn rotating_the_master_key_keeps_every_event_and_vault_entry_and_retires_the_old_key() {
    let scratch = Scratch::new();
    let old_file = scratch.dir.path().join("old.key");
    let new_file = scratch.dir.path().join("new.key");
    let mut rng = StdRng::seed_from_u64(3);
    journey_core::keys::write_master_key_file(&old_file, &SecretKey::generate(&mut rng), false)
        .expect("old key");
    let old_args = ["--master-key-file", old_file.to_str().expect("path")];
    let new_args = ["--master-key-file", new_file.to_str().expect("path")];
    import_population(&scratch, &old_args);
    let old = key_file(&old_file);
    // Vault entries, written through the library as the API does.
    with_keys(&scratch.data_dir(), &old, |store, keys| {
        let vault = Vault::open(store).expect("vault");
        for person in 1..=5u128 {
            vault
                .put(
                    keys,
                    PersonId(uuid(person)),
                    &personal_data(person),
                    &mut rng,
                )
                .expect("put");
        }
    })
    .expect("old key opens");
    let exported_before = {
        let mut args = old_args.to_vec();
        args.extend(["export", "--format", "ndjson"]);
        let output = scratch.run(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };

    // Refused while a server runs on the data directory.
    let server = Server::start(&scratch, &old_args);
    let mut args = old_args.to_vec();
    args.extend([
        "keys",
        "rotate-master",
        "--new-master-key-file",
        new_file.to_str().expect("path"),
    ]);
    let output = scratch.run(&args);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("kill -TERM"),
        "{}",
        text(&output.stderr)
    );
    assert!(!new_file.exists(), "nothing generated while refused");
    let mut epoch_args = old_args.to_vec();
    epoch_args.extend(["keys", "rotate-epoch"]);
    assert!(!scratch.run(&epoch_args).status.success());
    assert_eq!(server.terminate().code(), Some(0));

    // The rotation generates the new key into the file it is given.
    let output = scratch.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("--master-key-file"),
        "{}",
        text(&output.stdout)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_file)
            .expect("new key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let new = key_file(&new_file);
    assert_ne!(new, old);

    // The old key no longer opens the store; the new one does, and everything decrypts.
    let output = verify(&scratch, &old_args);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("master key"),
        "{}",
        text(&output.stderr)
    );
    let error = with_keys(&scratch.data_dir(), &old, |_, _| ()).expect_err("old key refused");
    assert!(error.contains("master key"), "{error}");
    let output = verify(&scratch, &new_args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("ok: 10 events"),
        "{}",
        text(&output.stdout)
    );
    let mut args = new_args.to_vec();
    args.extend(["export", "--format", "ndjson"]);
    let output = scratch.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), exported_before);
    with_keys(&scratch.data_dir(), &new, |store, keys| {
        let vault = Vault::open(store).expect("vault");
        for person in 1..=5u128 {
            let entry = vault.get(keys, PersonId(uuid(person))).expect("get");
            assert_eq!(entry, Some(personal_data(person)));
        }
    })
    .expect("new key opens");
    // One epoch file, sealed with the new key; no leftovers of the rotation.
    let files: Vec<String> = std::fs::read_dir(scratch.data_dir().join("keys"))
        .expect("keys dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    assert_eq!(files, vec!["epoch-1.key".to_owned()]);

    // An epoch rotation under the new key: epoch 2, everything still decrypts.
    let mut args = new_args.to_vec();
    args.extend(["keys", "rotate-epoch"]);
    let output = scratch.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("epoch 1 -> 2"),
        "{}",
        text(&output.stdout)
    );
    let files: Vec<String> = std::fs::read_dir(scratch.data_dir().join("keys"))
        .expect("keys dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    assert_eq!(files, vec!["epoch-2.key".to_owned()]);
    assert!(verify(&scratch, &new_args).status.success());
    with_keys(&scratch.data_dir(), &new, |store, keys| {
        let vault = Vault::open(store).expect("vault");
        assert_eq!(
            vault.get(keys, PersonId(uuid(3))).expect("get"),
            Some(personal_data(3))
        );
    })
    .expect("new key opens");

    // Rotating to the key in force is refused.
    let mut args = new_args.to_vec();
    args.extend([
        "keys",
        "rotate-master",
        "--new-master-key-file",
        new_file.to_str().expect("path"),
    ]);
    let output = scratch.run(&args);
    assert!(!output.status.success());
    assert!(verify(&scratch, &new_args).status.success());
}

#[test]
fn rotating_the_generated_master_key_replaces_the_data_directorys_key_file() {
    let scratch = Scratch::new();
    import_population(&scratch, &[]);
    let data_dir_key = scratch.data_dir().join("master.key");
    let old = key_file(&data_dir_key);
    let new_file = scratch.dir.path().join("elsewhere.key");
    let output = scratch.run(&[
        "keys",
        "rotate-master",
        "--new-master-key-file",
        new_file.to_str().expect("path"),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let new = key_file(&new_file);
    assert_eq!(key_file(&data_dir_key), new, "master.key holds the new key");
    assert!(verify(&scratch, &[]).status.success());
    assert!(with_keys(&scratch.data_dir(), &old, |_, _| ()).is_err());
    assert!(with_keys(&scratch.data_dir(), &new, |_, _| ()).is_ok());
}
