//! Offers in the ledger: reading an offer's state and appending its events through the plain path
//! the registers use ([`crate::plain`]).

use chrono::NaiveDate;
use uuid::Uuid;

use super::events::{decode_offer_event, OfferEvent, OfferId};
use super::rules::{decide, OfferState, Proposal};
use crate::envelope::Actor;
use crate::ledger::{Ledger, LedgerError};
use crate::log::Position;
use crate::organisational::{OrganisationalEvent, Recorded};
use crate::registers::RegisterKind;

/// An offer event proposed for appending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferProposal {
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    pub event: OfferEvent,
}

/// What an offer append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferReceipt {
    pub offer: OfferId,
    /// The stream's revision after the append.
    pub stream_revision: u64,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    /// How many proposed events were already recorded with the same content (a retry).
    pub already_recorded: usize,
}

impl OfferProposal {
    fn organisational(&self, offer: OfferId) -> OrganisationalEvent {
        let event_type = self.event.event_type();
        OrganisationalEvent {
            id: self.id,
            stream: offer.stream_name(),
            event_type: event_type.name(),
            version: event_type.current_version(),
            occurred_on: self.occurred_on,
            data: self.event.to_data(),
        }
    }
}

impl Ledger {
    /// The offer as its stream holds it, with the stream's last revision (`None`: no such offer).
    pub async fn read_offer(
        &self,
        offer: OfferId,
    ) -> Result<(OfferState, Option<u64>), LedgerError> {
        let mut state = OfferState::default();
        let mut revision = None;
        for recorded in self.read_whole_stream(&offer.stream_name()).await? {
            let position = recorded.position;
            revision = Some(recorded.revision);
            let decoded = self.decode(recorded)?;
            let event = decode_offer_event(
                &decoded.recorded.event.event_type,
                decoded.recorded.event.version,
                decoded.data.unwrap_or_default(),
            )
            .map_err(|reason| LedgerError::Corrupt { position, reason })?;
            state.apply(&event);
        }
        Ok((state, revision))
    }

    /// Appends events to one offer's stream after checking them against its rules and the
    /// district and provider against the registers valid on the first day of the offer's month.
    /// On a refusal nothing is written. An id already recorded in this stream with the same
    /// content is skipped (a retry); with other content, or in another stream, it is a conflict.
    pub async fn append_offer_events(
        &self,
        offer: OfferId,
        proposals: Vec<OfferProposal>,
        actor: &Actor,
    ) -> Result<OfferReceipt, LedgerError> {
        crate::ledger::check_batch_ids(
            &proposals
                .iter()
                .map(|proposal| proposal.id)
                .collect::<Vec<_>>(),
        )?;
        // One offer append at a time: the check and the append see the same stream.
        let _writer = self.offer_writer().lock().await;
        let (state, head_revision) = self.read_offer(offer).await?;
        let mut fresh = Vec::with_capacity(proposals.len());
        let mut already_recorded = 0;
        for (index, proposal) in proposals.iter().enumerate() {
            match self
                .organisational_recorded(index, &proposal.organisational(offer))
                .await?
            {
                Recorded::Same => already_recorded += 1,
                Recorded::No => fresh.push((index, proposal)),
            }
        }
        let stream = offer.stream_name();
        if fresh.is_empty() {
            return Ok(OfferReceipt {
                offer,
                stream_revision: head_revision.unwrap_or_default(),
                first_position: None,
                last_position: None,
                already_recorded,
            });
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
        let after = decide(&state, &checked, today).map_err(|mut violation| {
            violation.index = fresh[violation.index].0;
            LedgerError::Offer(violation)
        })?;
        if let Some(offered) = &after.offered {
            let registers = self.registers().await?;
            let on = offered.month.first_day();
            let index = fresh[0].0;
            for (register, field, value) in [
                (RegisterKind::Districts, "district", &offered.district),
                (RegisterKind::Providers, "provider", &offered.provider),
            ] {
                if let Some(value) = value {
                    registers
                        .check_value(register, field, value, on)
                        .map_err(|unknown| LedgerError::UnknownCode {
                            index,
                            event_id: Some(fresh[0].1.id),
                            unknown,
                        })?;
                }
            }
        }
        let head = self.organisational_head(&stream).await?;
        let events: Vec<OrganisationalEvent> = fresh
            .iter()
            .map(|(_, proposal)| proposal.organisational(offer))
            .collect();
        let (first, last) = self
            .append_organisational_stream(&stream, head, &events, actor)
            .await?;
        Ok(OfferReceipt {
            offer,
            stream_revision: head.map_or(0, |(revision, _)| revision + 1) + events.len() as u64 - 1,
            first_position: Some(first),
            last_position: Some(last),
            already_recorded,
        })
    }
}
