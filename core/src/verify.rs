//! `journey verify`: checks the whole log — the stream chains, the global chain where the backend
//! keeps one, increasing positions, gap-free revisions, and that every event decrypts and decodes —
//! and names the first position where something is wrong.

use std::collections::HashMap;

use crate::catalogue::EventType;
use crate::chain;
use crate::envelope::PersonId;
use crate::keys::KeyState;
use crate::ledger::{Ledger, LedgerError};
use crate::log::{AllFrom, Direction, LogError, Position};

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub streams: u64,
    /// Events of erased persons: chained and checked, but no longer decryptable by design.
    pub erased_events: u64,
    /// The first problem, if any; verification stops there.
    pub first_problem: Option<VerifyProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    pub position: Position,
    pub stream: Option<String>,
    pub revision: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "position {}", self.position)?;
        if let (Some(stream), Some(revision)) = (&self.stream, self.revision) {
            write!(f, " ({stream} revision {revision})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Options of a verification run.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Check the global chain too when the backend keeps one ([`crate::log::EventLog::keeps_global_chain`]).
    pub global_chain: bool,
    /// Events read per page.
    pub page_events: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            global_chain: true,
            page_events: 4096,
        }
    }
}

/// Verifies the ledger's log from its first event to its head. `progress` is called with the number of events
/// checked so far after every page.
pub async fn verify(
    ledger: &Ledger,
    options: VerifyOptions,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, LedgerError> {
    let log = ledger.log();
    let Some(head) = log.last_position().await? else {
        return Ok(VerifyReport::default());
    };
    let global_chain = options.global_chain && log.keeps_global_chain();
    let mut report = VerifyReport::default();
    let mut streams: HashMap<String, (u64, [u8; 32])> = HashMap::new();
    let mut global_prev = chain::GENESIS;
    let mut last: Option<Position> = None;
    while last.is_none_or(|last| last < head) {
        let from = AllFrom::after(last);
        let page = match log
            .read_all(from, Direction::Forwards, options.page_events)
            .await
        {
            Ok(page) => page,
            Err(LogError::Corrupt { position, reason }) => {
                report.first_problem = Some(VerifyProblem {
                    position,
                    stream: None,
                    revision: None,
                    reason,
                });
                return Ok(report);
            }
            Err(error) => return Err(error.into()),
        };
        if page.is_empty() {
            let position = last.unwrap_or_default();
            report.first_problem = Some(VerifyProblem {
                position,
                stream: None,
                revision: None,
                reason: format!("the log ends after position {position} but its head says {head}"),
            });
            return Ok(report);
        }
        for recorded in page {
            let problem = |reason: String| VerifyProblem {
                position: recorded.position,
                stream: Some(recorded.stream.clone()),
                revision: Some(recorded.revision),
                reason,
            };
            if last.is_some_and(|last| recorded.position <= last) {
                report.first_problem = Some(problem(
                    "positions do not increase: the log returned an event out of order".into(),
                ));
                return Ok(report);
            }
            let (expected_revision, expected_prev) = match streams.get(&recorded.stream) {
                Some((revision, hash)) => (revision + 1, *hash),
                None => (0, chain::GENESIS),
            };
            let event = &recorded.event;
            if recorded.revision != expected_revision {
                report.first_problem = Some(problem(format!(
                    "expected revision {expected_revision}: revisions have a gap"
                )));
                return Ok(report);
            }
            if event.prev_hash != expected_prev {
                report.first_problem = Some(problem(
                    "prev_hash does not match the previous event of the stream".into(),
                ));
                return Ok(report);
            }
            if chain::stream_hash(&event.prev_hash, &recorded.stream, recorded.revision, event)
                != event.hash
            {
                report.first_problem = Some(problem(
                    "stream hash does not match the envelope and payload: the event was altered"
                        .into(),
                ));
                return Ok(report);
            }
            if global_chain {
                let Some(link) = recorded.global_link else {
                    report.first_problem = Some(problem(
                        "the event has no link in the global chain the log keeps".into(),
                    ));
                    return Ok(report);
                };
                if link.prev_hash != global_prev {
                    report.first_problem = Some(problem(
                        "global prev hash does not match the previous event".into(),
                    ));
                    return Ok(report);
                }
                if chain::global_hash(&global_prev, recorded.position.raw(), &event.hash)
                    != link.hash
                {
                    report.first_problem = Some(problem(
                        "global hash does not match: the log was altered".into(),
                    ));
                    return Ok(report);
                }
                global_prev = link.hash;
            }
            streams.insert(recorded.stream.clone(), (recorded.revision, event.hash));
            let plain = crate::plain::is_plain(&recorded.stream);
            if event.event_type == EventType::PersonalDataErased.name() && !plain {
                let person = PersonId::from_stream_name(&recorded.stream).map_err(|error| {
                    LedgerError::Corrupt {
                        position: recorded.position,
                        reason: error.to_string(),
                    }
                })?;
                if let KeyState::Present(_) = ledger.keys().state(person)? {
                    report.first_problem = Some(problem(
                        "the person was erased here, but their data key still exists: the erasure \
                         was cut off; opening the data directory with journey finishes it"
                            .into(),
                    ));
                    return Ok(report);
                }
            }
            match ledger.decode(recorded.clone()) {
                Ok(decoded) if decoded.data.is_none() && !plain => report.erased_events += 1,
                Ok(_) => {}
                Err(LedgerError::Corrupt { reason, .. }) => {
                    report.first_problem = Some(problem(reason));
                    return Ok(report);
                }
                Err(error) => return Err(error),
            }
            report.events += 1;
            last = Some(recorded.position);
        }
        progress(report.events);
    }
    report.streams = streams.len() as u64;
    Ok(report)
}
