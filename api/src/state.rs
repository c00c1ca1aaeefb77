//! The state shared by every request: the ledger and its store, tokens, audit, vault, limits and
//! metrics.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use journey_core::envelope::PersonId;
use journey_core::ledger::{DecodedEvent, Ledger};
use journey_core::log::{EventLog, SledLog};
use journey_core::store::Store;
use journey_core::vault::Vault;
use journey_projections::kpi::Suppression;
use journey_projections::Projections;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;

use crate::audit::{AuditEntry, AuditLog, AuditRecord, Written};
use crate::auth::TokenCache;
use crate::config::Limits;
use crate::context::{CliError, Context};
use crate::error::{ApiError, ApiResult};
use crate::hub::EventHub;
use crate::metrics::Metrics;
use crate::pseudonym::Pseudonymizer;
use crate::rate_limit::RateLimiter;
use crate::visibility::PersonFacts;

/// Cheap to clone: one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub struct Inner {
    pub ledger: Arc<Ledger>,
    pub log: Arc<dyn EventLog>,
    /// The same log as the embedded backend, which backups copy entry by entry; `None` when the
    /// log is in a KurrentDB server.
    pub sled_log: Option<Arc<SledLog>>,
    /// The last backup and the lock that runs one at a time.
    pub backups: crate::backup::online::BackupStatus,
    pub store: Store,
    pub data_dir: PathBuf,
    pub tokens: TokenCache,
    pub audit: AuditLog,
    pub vault: Vault,
    pub pseudonyms: Pseudonymizer,
    pub limits: Limits,
    pub rate: RateLimiter,
    pub metrics: Metrics,
    pub hub: EventHub,
    /// Randomness for sealing vault entries.
    pub rng: Mutex<StdRng>,
    shutdown: watch::Sender<bool>,
    /// The read models and indicators; `None` when the state was built without them (then the
    /// read-model queries answer that they are unavailable).
    pub projections: Option<Projections>,
    /// Small-cell suppression for the indicators shown to roles that may not see every person.
    pub suppression: Suppression,
    /// Visibility facts folded from each person's stream in the log, by person and the revision
    /// they were folded through (see [`FactsCache`]).
    pub person_facts: FactsCache,
    /// The demo tokens of a server started with `--demo` (the start page offers them); unset
    /// otherwise.
    pub demo_tokens: std::sync::OnceLock<Vec<crate::demo::DemoToken>>,
    /// Set when this node is a read replica (`journey serve --replica-of`): its writer and how far
    /// it follows it. Every mutation is then refused (`graphql::read_replica`).
    pub replica: std::sync::OnceLock<Arc<crate::replica::ReplicaStatus>>,
}

/// The visibility facts of persons as of a stream revision. The facts through revision `n` depend
/// on the person's events 0..=n only, which never change, so an entry for the same revision is
/// always right; a read at a later revision folds again and replaces it.
#[derive(Debug, Default)]
pub struct FactsCache {
    entries: Mutex<std::collections::HashMap<PersonId, (u64, PersonFacts)>>,
}

impl FactsCache {
    /// How many persons are kept; past that the cache starts over (a person's facts are a few
    /// hundred bytes, so this bounds it to some megabytes).
    const CAPACITY: usize = 50_000;

    /// The facts of `person` through `revision`, folded by `fold` unless they are cached.
    pub fn get_or_fold(
        &self,
        person: PersonId,
        revision: u64,
        fold: impl FnOnce() -> PersonFacts,
    ) -> PersonFacts {
        if let Some(facts) = self.get(person, revision) {
            return facts;
        }
        let facts = fold();
        self.insert(person, revision, facts.clone());
        facts
    }

    /// The cached facts of `person` through `revision`, if those are the ones kept.
    pub fn get(&self, person: PersonId, revision: u64) -> Option<PersonFacts> {
        match self.lock().get(&person) {
            Some((cached, facts)) if *cached == revision => Some(facts.clone()),
            _ => None,
        }
    }

    /// Keeps `facts` as the facts of `person` through `revision` (folded by the caller, which may
    /// have had to read the log for them).
    pub fn insert(&self, person: PersonId, revision: u64, facts: PersonFacts) {
        let mut entries = self.lock();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(person, (revision, facts));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<PersonId, (u64, PersonFacts)>> {
        // A panic while holding the lock cannot leave an entry half-written (inserts are whole).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// The state over an opened data directory.
    pub async fn new(context: &Context, limits: Limits) -> Result<Self, CliError> {
        Self::build(context, limits, None, Suppression::default()).await
    }

    /// The state over an opened data directory, answering read-model queries from `projections`
    /// and suppressing indicator cells about fewer than `suppression.k` persons.
    pub async fn with_projections(
        context: &Context,
        limits: Limits,
        projections: Projections,
        suppression: Suppression,
    ) -> Result<Self, CliError> {
        Self::build(context, limits, Some(projections), suppression).await
    }

    async fn build(
        context: &Context,
        limits: Limits,
        projections: Option<Projections>,
        suppression: Suppression,
    ) -> Result<Self, CliError> {
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let log = context.log.clone();
        let hub = EventHub::start(log.clone(), shutdown_receiver).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                ledger: context.ledger.clone(),
                log,
                sled_log: context.sled_log.clone(),
                backups: Default::default(),
                store: context.store.clone(),
                data_dir: context.data_dir.clone(),
                tokens: TokenCache::new(&context.data_dir),
                audit: AuditLog::open(&context.store)?,
                vault: Vault::open(&context.store)?,
                pseudonyms: Pseudonymizer::new(context.pseudonym_key),
                rate: RateLimiter::new(limits.rate_per_second, limits.rate_burst),
                limits,
                metrics: Metrics::default(),
                hub,
                rng: Mutex::new(StdRng::from_entropy()),
                shutdown,
                projections,
                suppression,
                person_facts: FactsCache::default(),
                demo_tokens: std::sync::OnceLock::new(),
                replica: std::sync::OnceLock::new(),
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Tells live subscriptions and the event hub to stop.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once shutdown has begun.
    pub async fn shutting_down(&self) {
        let mut receiver = self.shutdown.subscribe();
        // An error means the sender is gone, which also means the server is going away.
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }

    /// Appends an audit entry; an audit log that cannot be written fails the request, because an
    /// unaudited read of personal data must not happen.
    pub fn audit(&self, record: AuditRecord) -> ApiResult<AuditEntry> {
        self.audit_written(record).map(|written| written.entry)
    }

    /// [`AppState::audit`], with the ticket that makes the entry durable
    /// ([`crate::audit::AuditLog::flush_through`]).
    pub fn audit_written(&self, record: AuditRecord) -> ApiResult<Written> {
        let written = self
            .audit
            .write(record, self.ledger.clock().now())
            .map_err(|error| ApiError::internal(&error))?;
        self.metrics.audit_entry();
        Ok(written)
    }

    /// The projections, or an error saying the server runs without them.
    pub fn projections(&self) -> ApiResult<&Projections> {
        self.projections
            .as_ref()
            .ok_or_else(|| ApiError::internal(&"the server runs without projections"))
    }

    /// A person's whole decoded timeline.
    pub async fn timeline(&self, person: PersonId) -> ApiResult<Vec<DecodedEvent>> {
        self.ledger
            .read_person(person)
            .await
            .map_err(|error| ApiError::internal(&error))
    }
}

#[cfg(test)]
mod facts_cache_tests {
    use super::*;
    use journey_core::catalogue::Agency;

    fn facts(agency: Agency) -> PersonFacts {
        PersonFacts {
            exists: true,
            works_with: [agency].into(),
            ..PersonFacts::default()
        }
    }

    #[test]
    fn a_cached_revision_is_not_folded_again_and_a_new_revision_is() {
        let cache = FactsCache::default();
        let person = PersonId(uuid::Uuid::from_u128(7));
        let first = cache.get_or_fold(person, 3, || facts(Agency::Jobcenter));
        assert_eq!(first, facts(Agency::Jobcenter));
        let again = cache.get_or_fold(person, 3, || panic!("revision 3 is cached"));
        assert_eq!(again, first);
        // A later revision (say, a consent recorded since) is folded, not served from the cache.
        let later = cache.get_or_fold(person, 4, || facts(Agency::Jugendamt));
        assert_eq!(later, facts(Agency::Jugendamt));
        let other = PersonId(uuid::Uuid::from_u128(8));
        let folded = cache.get_or_fold(other, 3, || facts(Agency::Kommune));
        assert_eq!(folded, facts(Agency::Kommune));
    }

    #[test]
    fn facts_folded_from_the_log_are_served_for_their_revision_only() {
        let cache = FactsCache::default();
        let person = PersonId(uuid::Uuid::from_u128(9));
        assert_eq!(cache.get(person, 2), None);
        cache.insert(person, 2, facts(Agency::Caritas));
        assert_eq!(cache.get(person, 2), Some(facts(Agency::Caritas)));
        // A read at another revision (later or earlier) must fold again.
        assert_eq!(cache.get(person, 3), None);
        assert_eq!(cache.get(person, 1), None);
    }
}
