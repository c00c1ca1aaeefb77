//! Subscriptions (over WebSocket, graphql-transport-ws).

use std::sync::Arc;

use async_graphql::{Context, Result, Subscription as SubscriptionObject, ID};
use futures_util::stream::{self, Stream};
use journey_core::envelope::PersonId;
use journey_core::ledger::DecodedEvent;
use journey_core::log::RecordedEvent;
use tokio::sync::broadcast;

use super::enums::{Dimension, EventStatus};
use super::readmodels::{compute_kpi, kpi_query_text, KpiResult};
use super::scalars::Date;
use super::types::{statuses, TimelineEvent};
use super::{audit, outcome, parse_person, principal, state, RequestReason};
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::hub::HUB_BUFFER_EVENTS;
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
    /// The result of `kpi(key, asOf, by)` at once, then again each time the projections apply new
    /// events and the result changed (a change of `knownAt` alone is no change). Without `asOf`,
    /// each result is for the day it is computed. Suppressed like `kpi`; the start is audited.
    /// Ends when the server shuts down.
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
        let started = state.projections().map(|projections| {
            // Subscribe before computing, so that no change falls between the two.
            let mut changes = projections.changes();
            changes.borrow_and_update();
            changes
        });
        let first = started.and_then(|changes| {
            compute_kpi(&state, &principal, &key, as_of, None, &by)
                .map(|result| (changes, KpiResult::from_core(&result)))
        });
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "kpiChanged".into(),
                query: Some(kpi_query_text(&key, as_of, None, &by)),
                outcome: outcome(&first),
                ..AuditRecord::default()
            },
        )?;
        let (changes, first) = first?;
        state.metrics.subscription_started();
        let watch = KpiWatch {
            state,
            principal,
            key,
            as_of,
            by,
            changes,
            last: None,
            pending: Some(first),
            done: false,
        };
        Ok(stream::unfold(watch, |mut watch| async move {
            let item = watch.next().await?;
            Some((item.map_err(Into::into), watch))
        }))
    }
}

/// The state of one `kpiChanged` subscription.
struct KpiWatch {
    state: AppState,
    principal: Principal,
    key: String,
    as_of: Option<Date>,
    by: Vec<Dimension>,
    changes: tokio::sync::watch::Receiver<Option<u64>>,
    /// The last result delivered.
    last: Option<KpiResult>,
    /// A result to deliver before waiting for changes.
    pending: Option<KpiResult>,
    done: bool,
}

impl Drop for KpiWatch {
    fn drop(&mut self) {
        self.state.metrics.subscription_ended();
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

impl KpiWatch {
    async fn next(&mut self) -> Option<ApiResult<KpiResult>> {
        if let Some(first) = self.pending.take() {
            self.last = Some(first.clone());
            return Some(Ok(first));
        }
        loop {
            if self.done {
                return None;
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = self.state.shutting_down() => return None,
            }
            self.changes.borrow_and_update();
            let next = match compute_kpi(
                &self.state,
                &self.principal,
                &self.key,
                self.as_of,
                None,
                &self.by,
            ) {
                Ok(result) => KpiResult::from_core(&result),
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
            if differs(self.last.as_ref(), &next) {
                self.last = Some(next.clone());
                return Some(Ok(next));
            }
        }
    }
}
