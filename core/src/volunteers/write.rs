//! Volunteers in the ledger: reading a volunteer's state, appending their events through the
//! organisational path ([`crate::organisational`]), and erasing their personal data.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use uuid::Uuid;

use super::events::{decode_volunteer_event, VolunteerErased, VolunteerEvent, VolunteerId};
use super::rules::{decide, MentoringLink, Proposal, VolunteerState};
use crate::catalogue::EventType;
use crate::envelope::{Actor, PersonId};
use crate::fault::{self, FaultPoint};
use crate::ledger::{Ledger, LedgerError};
use crate::log::Position;
use crate::organisational::{OrganisationalEvent, Recorded};
use crate::registers::RegisterKind;

/// A volunteer event proposed for appending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolunteerProposal {
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    pub event: VolunteerEvent,
}

/// What a volunteer append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolunteerReceipt {
    pub volunteer: VolunteerId,
    /// The stream's revision after the append.
    pub stream_revision: u64,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    /// How many proposed events were already recorded with the same content (a retry).
    pub already_recorded: usize,
}

impl VolunteerProposal {
    fn organisational(&self, volunteer: VolunteerId) -> OrganisationalEvent {
        let event_type = self.event.event_type();
        OrganisationalEvent {
            id: self.id,
            stream: volunteer.stream_name(),
            event_type: event_type.name(),
            version: event_type.current_version(),
            occurred_on: self.occurred_on,
            data: self.event.to_data(),
        }
    }
}

/// The id of a volunteer's erasure event: derived from the volunteer, so a retried erasure finds
/// it already recorded instead of erasing twice.
pub fn erasure_event_id(volunteer: VolunteerId) -> Uuid {
    Uuid::new_v5(&volunteer.0, b"journey/volunteer_erased")
}

impl Ledger {
    /// The volunteer as their stream holds them, with the stream's last revision (`None`: no such
    /// volunteer).
    pub async fn read_volunteer(
        &self,
        volunteer: VolunteerId,
    ) -> Result<(VolunteerState, Option<u64>), LedgerError> {
        let mut state = VolunteerState::default();
        let mut revision = None;
        for recorded in self.read_whole_stream(&volunteer.stream_name()).await? {
            let position = recorded.position;
            revision = Some(recorded.revision);
            let occurred_on = recorded.event.occurred_on;
            let decoded = self.decode(recorded)?;
            let event = decode_volunteer_event(
                &decoded.recorded.event.event_type,
                decoded.recorded.event.version,
                decoded.data.unwrap_or_default(),
            )
            .map_err(|reason| LedgerError::Corrupt { position, reason })?;
            state.apply(occurred_on, &event);
        }
        Ok((state, revision))
    }

    /// What the event `id` is, as [`MentoringLink`] tells the rules.
    async fn mentoring_link(&self, id: Uuid) -> Result<MentoringLink, LedgerError> {
        let Some(recorded) = self.log().find_event_in_any_stream(id).await? else {
            return Ok(MentoringLink::Missing);
        };
        if PersonId::from_stream_name(&recorded.stream).is_err()
            || recorded.event.event_type != EventType::MentorAssigned.name()
        {
            return Ok(MentoringLink::Other {
                event_type: recorded.event.event_type.clone(),
                stream: recorded.stream.clone(),
            });
        }
        let on = recorded.event.occurred_on;
        let decoded = self.decode(recorded)?;
        Ok(match decoded.event {
            Some(crate::catalogue::Event::MentorAssigned(assigned)) => {
                MentoringLink::MentorAssigned {
                    mentor: assigned.mentor_id,
                    on,
                }
            }
            _ => MentoringLink::Erased,
        })
    }

    /// Appends events to one volunteer's stream after checking them against its rules
    /// ([`decide`]), each `MenteeAssigned` against the mentee's `MentorAssigned` it names, and
    /// the district against the districts register on the recruitment date. On a refusal nothing
    /// is written. An id already recorded in this stream with the same content is skipped (a
    /// retry); with other content, or in another stream, it is a conflict.
    pub async fn append_volunteer_events(
        &self,
        volunteer: VolunteerId,
        proposals: Vec<VolunteerProposal>,
        actor: &Actor,
    ) -> Result<VolunteerReceipt, LedgerError> {
        crate::ledger::check_batch_ids(
            &proposals
                .iter()
                .map(|proposal| proposal.id)
                .collect::<Vec<_>>(),
        )?;
        // One volunteer append at a time: the check and the append see the same stream.
        let _writer = self.volunteer_writer().lock().await;
        self.append_volunteer_locked(volunteer, &proposals, actor)
            .await
    }

    async fn append_volunteer_locked(
        &self,
        volunteer: VolunteerId,
        proposals: &[VolunteerProposal],
        actor: &Actor,
    ) -> Result<VolunteerReceipt, LedgerError> {
        let (state, head_revision) = self.read_volunteer(volunteer).await?;
        let mut fresh = Vec::with_capacity(proposals.len());
        let mut already_recorded = 0;
        for (index, proposal) in proposals.iter().enumerate() {
            match self
                .organisational_recorded(index, &proposal.organisational(volunteer))
                .await?
            {
                Recorded::Same => already_recorded += 1,
                Recorded::No => fresh.push((index, proposal)),
            }
        }
        if fresh.is_empty() {
            return Ok(VolunteerReceipt {
                volunteer,
                stream_revision: head_revision.unwrap_or_default(),
                first_position: None,
                last_position: None,
                already_recorded,
            });
        }
        let mut links = BTreeMap::new();
        for (_, proposal) in &fresh {
            if let VolunteerEvent::MenteeAssigned(assigned) = &proposal.event {
                links.insert(
                    assigned.mentoring,
                    self.mentoring_link(assigned.mentoring).await?,
                );
            }
        }
        let checked: Vec<Proposal<'_>> = fresh
            .iter()
            .map(|(_, proposal)| Proposal {
                id: proposal.id,
                occurred_on: proposal.occurred_on,
                event: &proposal.event,
            })
            .collect();
        let today = self.clock().now().date_naive();
        decide(volunteer, &state, &checked, &links, today).map_err(|mut violation| {
            violation.index = fresh[violation.index].0;
            LedgerError::Volunteer(violation)
        })?;
        for (index, proposal) in &fresh {
            if let VolunteerEvent::Recruited(recruited) = &proposal.event {
                if let Some(district) = &recruited.district {
                    self.registers()
                        .await?
                        .check_value(
                            RegisterKind::Districts,
                            "district",
                            district,
                            proposal.occurred_on,
                        )
                        .map_err(|unknown| LedgerError::UnknownCode {
                            index: *index,
                            event_id: Some(proposal.id),
                            unknown,
                        })?;
                }
            }
        }
        let stream = volunteer.stream_name();
        let head = self.organisational_head(&stream).await?;
        let events: Vec<OrganisationalEvent> = fresh
            .iter()
            .map(|(_, proposal)| proposal.organisational(volunteer))
            .collect();
        let (first, last) = self
            .append_organisational_stream(&stream, head, &events, actor)
            .await?;
        Ok(VolunteerReceipt {
            volunteer,
            stream_revision: head.map_or(0, |(revision, _)| revision + 1) + events.len() as u64 - 1,
            first_position: Some(first),
            last_position: Some(last),
            already_recorded,
        })
    }

    /// Erases a volunteer's personal data the way a person's is erased: the erasure intent is made
    /// durable, `VolunteerErased` is appended to their stream, and then their data key is
    /// destroyed with the epoch rotation, which removes their vault entry and writes the erasure
    /// register. A crash anywhere in between is finished at the next open
    /// ([`Ledger::finish_interrupted_erasures`] looks at volunteer streams too). Idempotent: a
    /// retry finishes what the first attempt left. The pseudonymous facts of the stream stay.
    pub async fn erase_volunteer(
        &self,
        volunteer: VolunteerId,
        occurred_on: NaiveDate,
        actor: &Actor,
    ) -> Result<VolunteerReceipt, LedgerError> {
        let _writer = self.volunteer_writer().lock().await;
        let (state, _) = self.read_volunteer(volunteer).await?;
        if state.recruited.is_none() {
            return Err(LedgerError::VolunteerNotFound(volunteer));
        }
        let owner = volunteer.key_owner();
        if state.erased {
            // A retry: the first attempt may have stopped before the key was destroyed.
            self.finish_key_erasure(owner)?;
            let (_, revision) = self.read_volunteer(volunteer).await?;
            return Ok(VolunteerReceipt {
                volunteer,
                stream_revision: revision.unwrap_or_default(),
                first_position: None,
                last_position: None,
                already_recorded: 1,
            });
        }
        // The intent is durable before the event, so whatever stops us between the event and the
        // key's destruction, the next open finds the erasure and finishes it.
        self.keys().begin_erasure(owner)?;
        let proposal = VolunteerProposal {
            id: erasure_event_id(volunteer),
            occurred_on,
            event: VolunteerEvent::Erased(VolunteerErased {}),
        };
        let receipt = match self
            .append_volunteer_locked(volunteer, std::slice::from_ref(&proposal), actor)
            .await
        {
            Ok(receipt) => receipt,
            Err(error) => {
                // Refused or failed before the log took it: there is nothing to finish. (A failure
                // the log cannot tell apart leaves the intent to the next open, which looks.)
                if !matches!(error, LedgerError::Log(_)) {
                    self.keys().abandon_erasure(owner)?;
                }
                return Err(error);
            }
        };
        fault::hit(FaultPoint::AbortAfterErasureAppend);
        // Crypto-shredding: the erasure is durable, so the key that opens the vault entry goes.
        self.finish_key_erasure(owner)?;
        Ok(receipt)
    }
}
