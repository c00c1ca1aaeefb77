//! `journey keys rotate-master | rotate-epoch`: key rotation on a stopped server's data directory;
//! `journey keys pseudonym-key`: the analysts' pseudonym key for read replicas.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use journey_core::crypto::SecretKey;
use journey_core::keys::{self, MasterKeySource};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::context::{derive_pseudonym_key, CliError, Context, Options};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seals the epoch key under a new master key (crash-safe); afterwards only the new key opens
    /// the data directory. The analysts' pseudonyms change with the master key.
    RotateMaster {
        /// The new master key (64 hex digits). When the file does not exist, a new key is generated
        /// into it (mode 0600) first.
        #[arg(long)]
        new_master_key_file: PathBuf,
    },
    /// Generates a new epoch key and re-wraps every person's data key under it (as every erasure
    /// does); the old epoch key file is deleted.
    RotateEpoch,
    /// Writes the key of the analysts' pseudonyms (derived from the master key; it opens no data)
    /// into a new file (mode 0600), for read replicas: `serve --replica-of … --pseudonym-key-file
    /// FILE` gives their analysts the writer's pseudonyms. Works while the server runs.
    PseudonymKey {
        /// The file to create; an existing file is not replaced.
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn run(options: &Options, command: KeysCommand) -> Result<ExitCode, CliError> {
    let mut rng = StdRng::from_entropy();
    match command {
        KeysCommand::RotateMaster {
            new_master_key_file,
        } => {
            // The current key: a configured one, or the file generated into the data directory.
            let generated_in_data_dir = options.master_key_file.is_none()
                && std::env::var_os("JOURNEY_MASTER_KEY").is_none();
            let data_dir_key = options.data_dir.join(keys::MASTER_KEY_FILE);
            if generated_in_data_dir && !data_dir_key.exists() {
                return Err(format!(
                    "no master key: give the current one with --master-key-file or JOURNEY_MASTER_KEY ({} does not exist)",
                    data_dir_key.display()
                )
                .into());
            }
            if generated_in_data_dir
                && std::fs::canonicalize(&new_master_key_file).ok()
                    == std::fs::canonicalize(&data_dir_key).ok()
            {
                return Err("--new-master-key-file must not be the data directory's master.key; give a file elsewhere".into());
            }
            // Opening refuses while a server runs on the data directory, and checks the current key.
            let context = Context::open(options).await?;
            let new = if new_master_key_file.exists() {
                keys::load_master_key(
                    &MasterKeySource::File(new_master_key_file.clone()),
                    &options.data_dir,
                    &mut rng,
                )?
                .0
            } else {
                let key = SecretKey::generate(&mut rng);
                keys::write_master_key_file(&new_master_key_file, &key, false)?;
                println!(
                    "generated a new master key into {} (mode 0600); keep a copy in a safe place",
                    new_master_key_file.display()
                );
                key
            };
            let keys_store = context.ledger.keys().clone();
            let epoch = keys_store.epoch_number();
            keys_store.rotate_master(&new, &mut rng)?;
            context.close().await?;
            println!(
                "ok: the epoch key (epoch {epoch}) and the check value are sealed with the new master key; the old master key no longer opens {}",
                options.data_dir.display()
            );
            if generated_in_data_dir {
                keys::write_master_key_file(&data_dir_key, &new, true)?;
                println!(
                    "replaced {} with the new key (the data directory's own key file is used when none is configured)",
                    data_dir_key.display()
                );
            } else {
                println!(
                    "from now on start journey with --master-key-file {} (or JOURNEY_MASTER_KEY set to its contents)",
                    new_master_key_file.display()
                );
            }
            println!("note: the analysts' pseudonyms (events feed) are derived from the master key and change with it");
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::RotateEpoch => {
            let context = Context::open(options).await?;
            let keys_store = context.ledger.keys().clone();
            let before = keys_store.epoch_number();
            keys_store.rotate_epoch(&mut rng)?;
            let after = keys_store.epoch_number();
            context.close().await?;
            println!("ok: epoch {before} -> {after}; every data key is re-wrapped under the new epoch key and epoch-{before}.key is deleted");
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::PseudonymKey { out } => {
            let source = options.master_key_source();
            let data_dir_key = options.data_dir.join(keys::MASTER_KEY_FILE);
            // Loading from the data directory would generate a key there; a pseudonym key of a
            // key nobody uses would give a replica pseudonyms nobody else has.
            if matches!(source, MasterKeySource::DataDir) && !data_dir_key.exists() {
                return Err(format!(
                    "no master key: {} does not exist; give the writer's data directory (--data-dir) or its key (--master-key-file, JOURNEY_MASTER_KEY)",
                    data_dir_key.display()
                )
                .into());
            }
            let (master, _) = keys::load_master_key(&source, &options.data_dir, &mut rng)?;
            let pseudonym_key = SecretKey::from_bytes(derive_pseudonym_key(master.as_bytes()));
            keys::write_master_key_file(&out, &pseudonym_key, false).map_err(|error| {
                format!(
                    "--out {}: {error} (the file must not exist yet)",
                    out.display()
                )
            })?;
            println!(
                "wrote the analysts' pseudonym key to {} (mode 0600); start each read replica with --pseudonym-key-file {}",
                out.display(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
