//! `journey serve --demo`: a synthetic population in an empty store and one token per role.
//!
//! The demo tokens are kept in plain text in `<data-dir>/demo-tokens.json` (mode 0600), so that a
//! restart with `--demo` can print them again: `tokens.json` holds only hashes. They are demo
//! credentials for a synthetic population; a production data directory is never started with
//! `--demo`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::Utc;
use journey_core::catalogue::Agency;
use journey_core::envelope::Actor;
use journey_core::registers::RegisterFile;
use journey_core::synth::{self, SynthConfig};
use journey_projections::Projections;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use crate::auth::{self, Role};
use crate::context::{CliError, Context};

/// The seed of the demo population: the same store content on every machine.
pub const DEMO_SEED: u64 = 1;

/// The persons `--demo` seeds unless `--demo-people` says otherwise.
pub const DEMO_PEOPLE: usize = 5_000;

const DEMO_TOKENS_FILE: &str = "demo-tokens.json";

/// Settings of `--demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConfig {
    /// The persons seeded into an empty store.
    pub people: usize,
}

/// One demo token, named `demo-<role>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoToken {
    pub name: String,
    pub role: Role,
    pub agency: Option<Agency>,
    pub token: String,
}

/// The roles the demo creates tokens for, with the caseworker's agency.
pub const DEMO_ROLES: [(Role, Option<Agency>); 5] = [
    (Role::Caseworker, Some(Agency::Jobcenter)),
    (Role::Coordinator, None),
    (Role::Analyst, None),
    (Role::Auditor, None),
    (Role::Admin, None),
];

/// Seeds the demo population when the store is empty, waits for the projections to apply it, and
/// returns a token per role (created when missing or revoked).
pub async fn prepare(
    context: &Context,
    projections: &Projections,
    demo: &DemoConfig,
) -> Result<Vec<DemoToken>, CliError> {
    let empty = context.log.last_position().await?.is_none();
    if empty {
        // The demo is Salzgitter's: its registers come first, so every seeded district and
        // provider is checked against them like a caseworker's entry would be.
        let receipt = context
            .ledger
            .import_register_file(&RegisterFile::salzgitter(), &Actor::system("journey-demo"))
            .await?;
        println!(
            "journey serve --demo: imported Salzgitter's registers ({} events)",
            receipt.written.len()
        );
        let config = SynthConfig::new(demo.people, DEMO_SEED, context.ledger.clock().today());
        println!(
            "journey serve --demo: seeding {} synthetic persons (seed {DEMO_SEED})...",
            demo.people
        );
        let seeded = synth::seed(&context.ledger, &config, |_| {}).await?;
        println!(
            "journey serve --demo: seeded {} persons, {} events",
            seeded.persons, seeded.written
        );
    }
    projections.caught_up().await?;
    tokens(&context.data_dir)
}

fn tokens_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DEMO_TOKENS_FILE)
}

/// The demo tokens: those recorded in `demo-tokens.json` that are still live in `tokens.json`,
/// and new ones for the rest (a stale token of the same name is revoked first).
pub fn tokens(data_dir: &Path) -> Result<Vec<DemoToken>, CliError> {
    let path = tokens_path(data_dir);
    let mut known: BTreeMap<String, DemoToken> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Vec<DemoToken>>(&bytes)?
            .into_iter()
            .map(|token| (token.name.clone(), token))
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(error) => return Err(error.into()),
    };
    let live = auth::list_tokens(data_dir)?;
    let mut result = Vec::with_capacity(DEMO_ROLES.len());
    let mut changed = false;
    for (role, agency) in DEMO_ROLES {
        let name = format!("demo-{role}");
        let valid = known.get(&name).filter(|token| {
            let hash = hex::encode(auth::token_hash(&token.token));
            live.iter().any(|record| {
                record.sha256 == hash && record.revoked_at.is_none() && record.role == role
            })
        });
        if let Some(token) = valid {
            result.push(token.clone());
            continue;
        }
        if live
            .iter()
            .any(|record| record.name.as_deref() == Some(&name) && record.revoked_at.is_none())
        {
            auth::revoke_token(data_dir, &name, Utc::now())?;
        }
        let created = auth::create_token(
            data_dir,
            role,
            agency,
            Some(name.clone()),
            Utc::now(),
            &mut OsRng,
        )?;
        let token = DemoToken {
            name: name.clone(),
            role,
            agency,
            token: created.token,
        };
        known.insert(name, token.clone());
        result.push(token);
        changed = true;
    }
    if changed {
        let tokens: Vec<&DemoToken> = known.values().collect();
        write_private(&path, &serde_json::to_vec_pretty(&tokens)?)?;
    }
    Ok(result)
}

/// Writes a file readable by its owner only, replacing it atomically.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
}

/// Prints where to open the dashboard and GraphiQL and each demo token, one per line with the
/// token last.
pub fn print(address: &SocketAddr, tokens: &[DemoToken]) {
    println!();
    println!("Demo: open http://{address}/ in a browser (the dashboard offers these tokens),");
    println!("  or http://{address}/graphql (GraphiQL) and set the header");
    println!("  {{\"Authorization\": \"Bearer <token>\"}} with one of these tokens:");
    for token in tokens {
        let who = match token.agency {
            Some(agency) => format!("{} of {agency}", token.role),
            None => token.role.to_string(),
        };
        println!("  {:<17} {:<25} {}", token.name, who, token.token);
    }
    println!();
}
