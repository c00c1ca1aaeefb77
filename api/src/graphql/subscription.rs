//! Subscriptions (over WebSocket, graphql-transport-ws).

use std::sync::Arc;

use async_graphql::{Context, Result, Subscription as SubscriptionObject, ID};
use futures_util::stream::{self, Stream};
use journey_core::envelope::PersonId;
use journey_core::ledger::DecodedEvent;
use journey_core::log::{Position, RecordedEvent};
use journey_core::registers::Registers;
use journey_projections::kpi::{self, Contributions, KpiQuery, KpiResult as CoreKpiResult};
use journey_projections::ViewSet;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::enums::{Dimension, EventStatus};
use super::readmodels::{compute_kpi, kpi_error, kpi_query_text, suppression_for, KpiResult};
use super::scalars::Date;
use super::types::{statuses, TimelineEvent};
use super::{audit, outcome, parse_person, principal, state, RequestReason};
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::hub::HUB_BUFFER_EVENTS;
use crate::kpi_push::{PushDecision, PushGate};
use crate::state::AppState;
use crate::visibility::{self, Access, PersonFacts};

#[derive(Debug, Default)]
pub struct PersonSubscription;

#[SubscriptionObject]
impl PersonSubscription {
    /// The new events of one person, as they are recorded. Visibility is checked when the
    /// subscription starts and again before every event: when the caller loses access (for example
    /// because a consent is withdrawn), the subscription ends with a FORBIDDEN error. A coordinator
    /// receives mentoring events only. Every delivered event is audited.
    async fn person_events(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Result<TimelineEvent>>> {
        let state = state(ctx).clone();
        let principal = principal(ctx)?.clone();
        let reason = ctx
            .data_opt::<RequestReason>()
            .and_then(|reason| reason.0.clone());
        let person = parse_person(&id, "id")?;
        // Subscribe before reading the timeline, so that no event falls between the two.
        let receiver = state.hub.subscribe();
        let result = start(&state, &principal, person).await;
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "personEvents".into(),
                person: Some(person.to_string()),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        let timeline = result?;
        state.metrics.subscription_started();
        let watch = Watch {
            state,
            principal,
            reason,
            person,
            stream_name: person.stream_name(),
            next_revision: timeline
                .last()
                .map_or(0, |decoded| decoded.recorded.revision + 1),
            timeline,
            receiver,
            done: false,
        };
        Ok(stream::unfold(watch, |mut watch| async move {
            let item = watch.next().await?;
            Some((item.map_err(Into::into), watch))
        }))
    }
}

async fn start(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
) -> ApiResult<Vec<DecodedEvent>> {
    let timeline = state.timeline(person).await?;
    if timeline.is_empty() {
        return Err(ApiError::not_found(format!(
            "{person} is not in the ledger"
        )));
    }
    match visibility::access(principal, &PersonFacts::from_timeline(&timeline)) {
        Access::Denied(message) => Err(ApiError::forbidden(message)),
        _ => Ok(timeline),
    }
}

/// The state of one `personEvents` subscription.
struct Watch {
    state: AppState,
    principal: Principal,
    reason: Option<String>,
    person: PersonId,
    stream_name: String,
    /// The revision of the next event to deliver: earlier ones were in the initial timeline.
    next_revision: u64,
    timeline: Vec<DecodedEvent>,
    receiver: broadcast::Receiver<Arc<RecordedEvent>>,
    done: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.state.metrics.subscription_ended();
    }
}

impl Watch {
    /// The next item, or `None` when the subscription is over.
    async fn next(&mut self) -> Option<ApiResult<TimelineEvent>> {
        loop {
            if self.done {
                return None;
            }
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                () = self.state.shutting_down() => return None,
            };
            let recorded = match received {
                Ok(recorded) => recorded,
                Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.done = true;
                    return Some(Err(ApiError::limit(
                        "subscriptionBuffer",
                        format!(
                            "this subscription fell more than {HUB_BUFFER_EVENTS} events behind and missed {missed}; subscribe again and read the person first"
                        ),
                    )));
                }
            };
            if recorded.stream != self.stream_name || recorded.revision < self.next_revision {
                continue;
            }
            self.next_revision = recorded.revision + 1;
            let decoded = match self.state.ledger.decode(recorded.as_ref().clone()) {
                Ok(decoded) => decoded,
                Err(error) => {
                    self.done = true;
                    return Some(Err(ApiError::internal(&error)));
                }
            };
            self.timeline.push(decoded);
            let access =
                visibility::access(&self.principal, &PersonFacts::from_timeline(&self.timeline));
            let result = match &access {
                Access::Denied(message) => Err(ApiError::forbidden(format!(
                    "{message}; this subscription ends here"
                ))),
                Access::MentoringOnly
                    if !visibility::is_mentoring(
                        &self.timeline[self.timeline.len() - 1]
                            .recorded
                            .event
                            .event_type,
                    ) =>
                {
                    continue;
                }
                _ => Ok(()),
            };
            let audited = self.state.audit(AuditRecord {
                principal: Some(self.principal.clone()),
                operation: "personEvents.event".into(),
                person: Some(self.person.to_string()),
                reason: self.reason.clone(),
                outcome: outcome(&result),
                ..AuditRecord::default()
            });
            if let Err(error) = result.and(audited.map(|_| ())) {
                self.done = true;
                return Some(Err(error));
            }
            let statuses = statuses(&self.timeline);
            let last = &self.timeline[self.timeline.len() - 1];
            let status = statuses
                .get(&last.recorded.event.id)
                .copied()
                .unwrap_or(EventStatus::Effective);
            return Some(Ok(TimelineEvent::new(last, status)));
        }
    }
}

/// The `kpiChanged` subscription.
#[derive(Debug, Default)]
pub struct KpiSubscription;

#[SubscriptionObject]
impl KpiSubscription {
    /// The result of `kpi(key, asOf, by)` at once, then again when the projections applied new
    /// events and the result changed (a change of `knownAt` alone is no change), at most once per
    /// push interval (`journey serve --kpi-push-interval`, 60 s by default) and, where the answer
    /// is suppressed, only once at least k persons count differently in the table than at the
    /// last push, so that no push isolates a single person's events (a change no person explains,
    /// such as an offer's places, is pushed after the interval). Without `asOf`, each result
    /// is for the day it is computed. Suppressed like `kpi`; the start is audited. Ends when the
    /// server shuts down.
    async fn kpi_changed(
        &self,
        ctx: &Context<'_>,
        key: String,
        as_of: Option<Date>,
        by: Option<Vec<Dimension>>,
    ) -> Result<impl Stream<Item = Result<KpiResult>>> {
        let state = state(ctx).clone();
        let principal = principal(ctx)?.clone();
        let by = by.unwrap_or_default();
        let persons_min =
            suppression_for(&state, &principal).map_or(0, |suppression| suppression.k as usize);
        let mut watch = KpiWatch {
            gate: PushGate::new(state.limits.kpi_push_interval, persons_min),
            state,
            principal,
            key,
            as_of,
            by,
            changes: None,
            last: None,
            pending: None,
            done: false,
            started: false,
        };
        let first = watch.start();
        audit(
            ctx,
            AuditRecord {
                principal: Some(watch.principal.clone()),
                operation: "kpiChanged".into(),
                query: Some(kpi_query_text(&watch.key, watch.as_of, None, &watch.by)),
                outcome: outcome(&first),
                ..AuditRecord::default()
            },
        )?;
        first?;
        watch.state.metrics.subscription_started();
        watch.started = true;
        Ok(stream::unfold(watch, |mut watch| async move {
            let item = watch.next().await?;
            Some((item.map_err(Into::into), watch))
        }))
    }
}

/// How often a result is computed again when the projections applied a batch while it was
/// computed (so that it and the contributions counted against it come from the same views).
const CONSISTENT_ATTEMPTS: usize = 16;

/// The state of one `kpiChanged` subscription.
struct KpiWatch {
    state: AppState,
    principal: Principal,
    key: String,
    as_of: Option<Date>,
    by: Vec<Dimension>,
    /// `None` until [`KpiWatch::start`] subscribed.
    changes: Option<tokio::sync::watch::Receiver<Option<Position>>>,
    gate: PushGate,
    /// The last result delivered, and what each person contributed to it (counted only where
    /// the gate asks for persons).
    last: Option<(KpiResult, Option<Contributions>)>,
    /// A result to deliver before waiting for changes.
    pending: Option<KpiResult>,
    done: bool,
    /// Whether the metrics count it as a live subscription.
    started: bool,
}

impl Drop for KpiWatch {
    fn drop(&mut self) {
        // Counted only once it started (a refused start was never counted).
        if self.started {
            self.state.metrics.subscription_ended();
        }
    }
}

/// Whether two results differ in more than the time they were computed.
fn differs(last: Option<&KpiResult>, next: &KpiResult) -> bool {
    last.is_none_or(|last| {
        last.as_of != next.as_of
            || last.cells != next.cells
            || last.margins != next.margins
            || last.total != next.total
    })
}

/// A result with the views it was computed over.
struct Computed {
    result: KpiResult,
    core: Arc<CoreKpiResult>,
    views: Arc<ViewSet>,
    /// The registers of the same state, which name the districts of the table's cells.
    registers: Arc<Registers>,
}

impl KpiWatch {
    /// Subscribes to changes and computes the first result, which is pushed at once.
    fn start(&mut self) -> ApiResult<()> {
        // Subscribe before computing, so that no change falls between the two.
        let mut changes = self.state.projections()?.changes();
        changes.borrow_and_update();
        self.changes = Some(changes);
        let computed = self.compute()?.ok_or_else(|| {
            ApiError::limit(
                "kpiConsistentAttempts",
                format!(
                    "the projections applied new events during each of {CONSISTENT_ATTEMPTS} \
                     attempts to compute the first result; subscribe again"
                ),
            )
        })?;
        let contributions = self.contributions(&computed)?;
        self.gate.pushed(Instant::now());
        self.last = Some((computed.result.clone(), contributions));
        self.pending = Some(computed.result);
        Ok(())
    }

    /// The result now, with the views it was computed over; `None` when the projections applied a
    /// batch during every attempt (that batch wakes the subscription again).
    fn compute(&self) -> ApiResult<Option<Computed>> {
        let projections = self.state.projections()?;
        for _ in 0..CONSISTENT_ATTEMPTS {
            let views = projections.views(None);
            let registers = projections.read(|state| state.registers.clone());
            let core = compute_kpi(
                &self.state,
                &self.principal,
                &self.key,
                self.as_of,
                None,
                &self.by,
            )?;
            // The live views follow the checkpoint: the same checkpoint before and after means
            // the result was computed over `views`.
            if projections.views(None).checkpoint == views.checkpoint {
                return Ok(Some(Computed {
                    result: KpiResult::from_core(&core),
                    core,
                    views,
                    registers,
                }));
            }
        }
        Ok(None)
    }

    /// What each person contributes to `computed`'s table, where the gate counts persons.
    fn contributions(&self, computed: &Computed) -> ApiResult<Option<Contributions>> {
        if self.gate.persons_min() == 0 {
            return Ok(None);
        }
        let query = KpiQuery {
            key: computed.core.key.clone(),
            as_of: computed.core.as_of,
            known_at: computed.views.known_at,
            by: computed.core.by.clone(),
            suppression: None,
        };
        kpi::contributions(
            &query,
            &computed.views.views,
            &computed.views.households,
            &computed.registers,
        )
        .map(Some)
        .map_err(kpi_error)
    }

    async fn next(&mut self) -> Option<ApiResult<KpiResult>> {
        if let Some(first) = self.pending.take() {
            return Some(Ok(first));
        }
        let mut changed = true;
        loop {
            if self.done {
                return None;
            }
            if changed {
                let changes = self.changes.as_mut()?;
                tokio::select! {
                    result = changes.changed() => {
                        if result.is_err() {
                            return None;
                        }
                    }
                    () = self.state.shutting_down() => return None,
                }
                changes.borrow_and_update();
            }
            changed = true;
            let computed = match self.compute() {
                Ok(Some(computed)) => computed,
                Ok(None) => continue,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
            let (last_result, last_contributions) = match &self.last {
                Some((result, contributions)) => (Some(result), contributions.as_ref()),
                None => (None, None),
            };
            let mut counted = None;
            let decision = self.gate.decide(
                Instant::now(),
                differs(last_result, &computed.result),
                || match (self.contributions(&computed), last_contributions) {
                    (Ok(Some(now)), Some(before)) => {
                        let persons = now.persons_changed(before);
                        counted = Some(Ok(Some(now)));
                        persons
                    }
                    (result, _) => {
                        counted = Some(result);
                        0
                    }
                },
            );
            if let Some(Err(error)) = counted {
                self.done = true;
                return Some(Err(error));
            }
            match decision {
                PushDecision::Push => {
                    let contributions = match counted {
                        Some(Ok(contributions)) => contributions,
                        _ => match self.contributions(&computed) {
                            Ok(contributions) => contributions,
                            Err(error) => {
                                self.done = true;
                                return Some(Err(error));
                            }
                        },
                    };
                    self.gate.pushed(Instant::now());
                    self.last = Some((computed.result.clone(), contributions));
                    return Some(Ok(computed.result));
                }
                PushDecision::WaitUntil(ready_at) => {
                    // Coalesce: whatever is applied until then goes into one push.
                    tokio::select! {
                        () = tokio::time::sleep_until(ready_at) => {}
                        () = self.state.shutting_down() => return None,
                    }
                    // Compute again at once, whether or not more changes came.
                    changed = false;
                }
                PushDecision::Unchanged | PushDecision::TooFewPersons { .. } => {}
            }
        }
    }
}
