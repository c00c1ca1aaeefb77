//! Bearer tokens and roles.
//!
//! Tokens live in `<data-dir>/tokens.json`, not in the sled store: sled admits one process at a
//! time, and `journey token create` must work while `journey serve` holds the store. The file holds
//! only SHA-256 hashes of the tokens. Writers replace it atomically (temporary file, fsync, rename,
//! fsync of the directory) under a lock file, so a reader sees the old or the new file, never a
//! mix, and two token commands at once do not lose each other's change. The server re-reads the
//! file when its identity (inode, size, modification time) changes, so a new or revoked token takes
//! effect with the next request.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use journey_core::catalogue::Agency;
use journey_core::envelope::{Actor, ActorRole};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The token file in the data directory.
pub const TOKENS_FILE: &str = "tokens.json";
const LOCK_FILE: &str = "tokens.json.lock";
/// Every token starts with this, so that a leaked token is recognisable (and scannable) as ours.
pub const TOKEN_PREFIX: &str = "jrn_";
/// Random bytes per token.
pub const TOKEN_BYTES: usize = 32;
const FILE_FORMAT_V1: u32 = 1;
/// A lock file older than this was left by a crashed token command and is taken over.
const LOCK_STALE_AFTER: Duration = Duration::from_secs(30);
const LOCK_WAIT_MAX: Duration = Duration::from_secs(10);
const NAME_LEN_MAX: usize = 64;

/// What a token may do. See README.md (the API section) for the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Records events for the persons their agency works with; requires an agency.
    Caseworker,
    /// Volunteer coordination: sees and records mentoring facts only.
    Coordinator,
    /// Pseudonymised events (and later aggregates); no person-level data.
    Analyst,
    /// Reads the audit log.
    Auditor,
    /// Everything.
    Admin,
    /// The plain streams of the KurrentDB protocol (read, append, delete), for a system that mirrors
    /// or feeds them; nothing of the persons or the audit log.
    Replication,
    /// A read replica of this node (`journey serve --replica-of`): over the KurrentDB protocol it
    /// reads person, register, offer and volunteer events with their payloads opened, as an admin
    /// reads them, to build its own projections; never vault data, plain streams or the audit log,
    /// nothing in GraphQL, and it appends nothing.
    Replica,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Caseworker,
        Role::Coordinator,
        Role::Analyst,
        Role::Auditor,
        Role::Admin,
        Role::Replication,
        Role::Replica,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Caseworker => "caseworker",
            Role::Coordinator => "coordinator",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Replication => "replication",
            Role::Replica => "replica",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL
            .iter()
            .copied()
            .find(|role| role.as_str() == value)
    }

    pub fn actor_role(&self) -> ActorRole {
        match self {
            Role::Caseworker => ActorRole::Caseworker,
            Role::Coordinator => ActorRole::Coordinator,
            Role::Analyst => ActorRole::Analyst,
            Role::Auditor => ActorRole::Auditor,
            Role::Admin => ActorRole::Admin,
            // A replication feed writes as a system tool does: no person acts.
            Role::Replication | Role::Replica => ActorRole::System,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| {
            format!(
                "unknown role `{s}`; roles: {}",
                Role::ALL
                    .iter()
                    .map(Role::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

/// One token as stored: never the token itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<Agency>,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    pub fn principal(&self) -> Principal {
        Principal {
            token_id: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            agency: self.agency,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    format: u32,
    tokens: Vec<TokenRecord>,
}

/// Who is calling: the identity behind a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub name: Option<String>,
    pub role: Role,
    pub agency: Option<Agency>,
}

impl Principal {
    /// The name if the token has one, else its id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.token_id)
    }

    /// The actor recorded on events this principal appends.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.display_name().to_owned(),
            agency: self.agency,
            role: self.role.actor_role(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a caseworker token needs an agency: add --agency (one of {0})")]
    AgencyRequired(String),
    #[error("role `{0}` is not scoped to an agency: leave out --agency")]
    AgencyNotAllowed(Role),
    #[error("token name `{0}` is not allowed: use 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `tok-`")]
    BadName(String),
    #[error("a token named `{0}` already exists; revoke it first or choose another name")]
    NameTaken(String),
    #[error("no token has the id or name `{0}` (see `journey token list`)")]
    NotFound(String),
    #[error("the token `{0}` is already revoked")]
    AlreadyRevoked(String),
    #[error("the token file {path} is damaged: {message}")]
    Damaged { path: PathBuf, message: String },
    #[error("another token command holds {path}; if none runs, remove that file")]
    Locked { path: PathBuf },
    #[error("token file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The SHA-256 of a presented token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn read_file(path: &Path) -> Result<TokenFile, TokenError> {
    match fs::read(path) {
        Ok(bytes) => {
            let file: TokenFile =
                serde_json::from_slice(&bytes).map_err(|error| TokenError::Damaged {
                    path: path.to_owned(),
                    message: error.to_string(),
                })?;
            if file.format != FILE_FORMAT_V1 {
                return Err(TokenError::Damaged {
                    path: path.to_owned(),
                    message: format!("unknown format {}", file.format),
                });
            }
            Ok(file)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile {
            format: FILE_FORMAT_V1,
            tokens: Vec::new(),
        }),
        Err(error) => Err(io_error(path)(error)),
    }
}

/// Writes `file` to `path` atomically: a reader sees the old or the new content, never a mix.
fn write_file(path: &Path, file: &TokenFile) -> Result<(), TokenError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temporary = dir.join(format!(".{TOKENS_FILE}.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(file).map_err(|error| TokenError::Damaged {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options.open(&temporary).map_err(io_error(&temporary))?;
        out.write_all(&bytes).map_err(io_error(&temporary))?;
        out.write_all(b"\n").map_err(io_error(&temporary))?;
        out.sync_all().map_err(io_error(&temporary))?;
    }
    fs::rename(&temporary, path).map_err(io_error(path))?;
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))?;
    Ok(())
}

/// Holds `tokens.json.lock` while a token command changes the file.
struct FileLock {
    path: PathBuf,
}

impl FileLock {
    fn acquire(data_dir: &Path) -> Result<Self, TokenError> {
        let path = data_dir.join(LOCK_FILE);
        let started = SystemTime::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Self { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|metadata| metadata.modified())
                        .ok()
                        .and_then(|modified| modified.elapsed().ok())
                        .is_some_and(|age| age > LOCK_STALE_AFTER);
                    if stale {
                        // Left by a token command that died; nothing else holds it this long.
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed().unwrap_or_default() > LOCK_WAIT_MAX {
                        return Err(TokenError::Locked { path });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => return Err(io_error(&path)(error)),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn check_name(name: &str) -> Result<(), TokenError> {
    let valid = !name.is_empty()
        && name.len() <= NAME_LEN_MAX
        && !name.starts_with("tok-")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(TokenError::BadName(name.to_owned()))
    }
}

/// A token just created: the stored record and the token itself, which is shown once.
#[derive(Debug)]
pub struct NewToken {
    pub record: TokenRecord,
    pub token: String,
}

/// Creates a token in `data_dir`.
pub fn create_token(
    data_dir: &Path,
    role: Role,
    agency: Option<Agency>,
    name: Option<String>,
    now: DateTime<Utc>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<NewToken, TokenError> {
    match (role, agency) {
        (Role::Caseworker, None) => {
            return Err(TokenError::AgencyRequired(
                Agency::ALL
                    .iter()
                    .map(Agency::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
        (Role::Caseworker | Role::Coordinator, _) | (_, None) => {}
        (role, Some(_)) => return Err(TokenError::AgencyNotAllowed(role)),
    }
    if let Some(name) = &name {
        check_name(name)?;
    }
    fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
    let _lock = FileLock::acquire(data_dir)?;
    let path = data_dir.join(TOKENS_FILE);
    let mut file = read_file(&path)?;
    if let Some(name) = &name {
        if file
            .tokens
            .iter()
            .any(|token| token.revoked_at.is_none() && token.name.as_deref() == Some(name))
        {
            return Err(TokenError::NameTaken(name.clone()));
        }
    }
    let mut secret = [0u8; TOKEN_BYTES];
    rng.fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let mut id_bytes = [0u8; 6];
    rng.fill_bytes(&mut id_bytes);
    let record = TokenRecord {
        id: format!("tok-{}", hex::encode(id_bytes)),
        name,
        role,
        agency,
        sha256: hex::encode(token_hash(&token)),
        created_at: now,
        revoked_at: None,
    };
    file.tokens.push(record.clone());
    write_file(&path, &file)?;
    Ok(NewToken { record, token })
}

/// Revokes the token with this id or (active) name.
pub fn revoke_token(
    data_dir: &Path,
    id_or_name: &str,
    now: DateTime<Utc>,
) -> Result<TokenRecord, TokenError> {
    let _lock = FileLock::acquire(data_dir)?;
    let path = data_dir.join(TOKENS_FILE);
    let mut file = read_file(&path)?;
    let by_id = file.tokens.iter().position(|token| token.id == id_or_name);
    let by_name = || {
        file.tokens.iter().position(|token| {
            token.revoked_at.is_none() && token.name.as_deref() == Some(id_or_name)
        })
    };
    let index = by_id
        .or_else(by_name)
        .ok_or_else(|| TokenError::NotFound(id_or_name.to_owned()))?;
    let record = &mut file.tokens[index];
    if record.revoked_at.is_some() {
        return Err(TokenError::AlreadyRevoked(id_or_name.to_owned()));
    }
    record.revoked_at = Some(now);
    let record = record.clone();
    write_file(&path, &file)?;
    Ok(record)
}

/// Every token ever created in `data_dir`, revoked ones included.
pub fn list_tokens(data_dir: &Path) -> Result<Vec<TokenRecord>, TokenError> {
    Ok(read_file(&data_dir.join(TOKENS_FILE))?.tokens)
}

/// What identifies one version of the token file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let metadata = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        inode,
        len: metadata.len(),
        modified: metadata.modified().ok(),
    })
}

/// Why a presented token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    #[error("this token is not valid (unknown or revoked)")]
    Unknown,
}

/// The server's view of the token file, re-read when the file changes.
#[derive(Debug)]
pub struct TokenCache {
    path: PathBuf,
    state: RwLock<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    stamp: Option<FileStamp>,
    by_hash: HashMap<[u8; 32], Principal>,
}

impl TokenCache {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(TOKENS_FILE),
            state: RwLock::new(CacheState::default()),
        }
    }

    fn refresh(&self) {
        let current = stamp(&self.path);
        let unchanged = {
            let state = self
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.stamp == current && current.is_some()
        };
        if unchanged {
            return;
        }
        match read_file(&self.path) {
            Ok(file) => {
                let by_hash = file
                    .tokens
                    .iter()
                    .filter(|token| token.revoked_at.is_none())
                    .filter_map(|token| {
                        let bytes: [u8; 32] = hex::decode(&token.sha256).ok()?.try_into().ok()?;
                        Some((bytes, token.principal()))
                    })
                    .collect();
                let mut state = self
                    .state
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                state.stamp = current;
                state.by_hash = by_hash;
            }
            Err(error) => {
                // Keep the last good view rather than lock everybody out on a damaged file.
                tracing::error!(%error, "cannot read the token file; keeping the tokens loaded before");
            }
        }
    }

    /// The principal of an `Authorization` header value.
    pub fn authenticate_header(&self, header: &str) -> Result<Principal, AuthError> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::Malformed)?;
        self.authenticate(token)
    }

    /// The principal of a presented token.
    pub fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(AuthError::Unknown);
        }
        self.refresh();
        let hash = token_hash(token);
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .by_hash
            .get(&hash)
            .cloned()
            .ok_or(AuthError::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_revocation_takes_effect_on_the_next_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(1);
        let now = Utc::now();
        let cache = TokenCache::new(dir.path());
        let created = create_token(
            dir.path(),
            Role::Caseworker,
            Some(Agency::Jobcenter),
            Some("cw-17".into()),
            now,
            &mut rng,
        )
        .expect("create");
        assert!(created.token.starts_with(TOKEN_PREFIX));
        assert_eq!(created.token.len(), TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
        let stored = fs::read_to_string(dir.path().join(TOKENS_FILE)).expect("file");
        assert!(!stored.contains(&created.token[TOKEN_PREFIX.len()..]));
        assert!(stored.contains(&hex::encode(token_hash(&created.token))));

        let principal = cache
            .authenticate_header(&format!("Bearer {}", created.token))
            .expect("valid");
        assert_eq!(principal.role, Role::Caseworker);
        assert_eq!(principal.agency, Some(Agency::Jobcenter));
        assert_eq!(principal.display_name(), "cw-17");

        assert!(matches!(
            create_token(
                dir.path(),
                Role::Analyst,
                None,
                Some("cw-17".into()),
                now,
                &mut rng
            ),
            Err(TokenError::NameTaken(_))
        ));
        revoke_token(dir.path(), "cw-17", now).expect("revoke");
        assert_eq!(cache.authenticate(&created.token), Err(AuthError::Unknown));
        assert!(matches!(
            revoke_token(dir.path(), &created.record.id, now),
            Err(TokenError::AlreadyRevoked(_))
        ));
        assert_eq!(list_tokens(dir.path()).expect("list").len(), 1);
    }

    #[test]
    fn roles_and_agencies_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(2);
        let now = Utc::now();
        assert!(matches!(
            create_token(dir.path(), Role::Caseworker, None, None, now, &mut rng),
            Err(TokenError::AgencyRequired(_))
        ));
        assert!(matches!(
            create_token(
                dir.path(),
                Role::Analyst,
                Some(Agency::Kommune),
                None,
                now,
                &mut rng
            ),
            Err(TokenError::AgencyNotAllowed(Role::Analyst))
        ));
        assert!(matches!(
            create_token(
                dir.path(),
                Role::Admin,
                None,
                Some("tok-1".into()),
                now,
                &mut rng
            ),
            Err(TokenError::BadName(_))
        ));
        let cache = TokenCache::new(dir.path());
        assert_eq!(
            cache.authenticate_header("Basic abc"),
            Err(AuthError::Malformed)
        );
        assert_eq!(cache.authenticate("jrn_00"), Err(AuthError::Unknown));
    }
}
