//! The registers in the ledger: loading them from their streams, appending register events, and
//! checking person events' coded fields on the write path.
//!
//! The ledger keeps one folded [`Registers`] in memory, loaded from the register streams on first
//! use and replaced after every register append. Register appends are serialized by one lock, and
//! each carries the exact revision its stream had when the events were checked, so a register
//! written by another process in between is detected by the log, never overwritten.

use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use uuid::Uuid;

use super::events::{decode_register_event, RegisterEvent, RegisterKind};
use super::file::RegisterFile;
use super::state::Registers;
use crate::envelope::Actor;
use crate::ledger::{Ledger, LedgerError, Proposed};
use crate::log::Position;
use crate::organisational::{OrganisationalEvent, Recorded};

/// The ledger's copy of the registers.
#[derive(Debug, Default)]
pub struct RegisterCache {
    folded: RwLock<Option<Arc<Registers>>>,
    /// Held while register events are checked and appended.
    writer: tokio::sync::Mutex<()>,
}

impl RegisterCache {
    fn get(&self) -> Option<Arc<Registers>> {
        self.folded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set(&self, registers: Option<Arc<Registers>>) {
        *self
            .folded
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = registers;
    }

    /// Forgets the folded registers (they are loaded from the log again on next use).
    pub fn forget(&self) {
        self.set(None);
    }
}

/// A register event proposed for appending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterProposal {
    pub id: Uuid,
    pub register: RegisterKind,
    /// The date the change takes effect.
    pub occurred_on: NaiveDate,
    pub event: RegisterEvent,
}

/// What a register append wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterReceipt {
    /// The events written, by register, in order.
    pub written: Vec<RegisterProposal>,
    /// How many proposed events were already recorded with the same content (a retried import).
    pub already_recorded: usize,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
}

impl RegisterProposal {
    fn organisational(&self) -> OrganisationalEvent {
        let event_type = self.event.event_type();
        OrganisationalEvent {
            id: self.id,
            stream: self.register.stream_name(),
            event_type: event_type.name(),
            version: event_type.current_version(),
            occurred_on: self.occurred_on,
            data: self.event.to_data(),
        }
    }
}

impl Ledger {
    /// The registers as recorded, loaded from their streams on first use.
    pub async fn registers(&self) -> Result<Arc<Registers>, LedgerError> {
        if let Some(registers) = self.register_cache().get() {
            return Ok(registers);
        }
        let loaded = Arc::new(self.load_registers().await?);
        self.register_cache().set(Some(loaded.clone()));
        Ok(loaded)
    }

    async fn load_registers(&self) -> Result<Registers, LedgerError> {
        let mut registers = Registers::default();
        for kind in RegisterKind::ALL {
            for recorded in self.read_whole_stream(&kind.stream_name()).await? {
                let position = recorded.position;
                let occurred_on = recorded.event.occurred_on;
                let decoded = self.decode(recorded)?;
                let event = decode_register_event(
                    &decoded.recorded.event.event_type,
                    decoded.recorded.event.version,
                    decoded.data.unwrap_or_default(),
                )
                .map_err(|reason| LedgerError::Corrupt { position, reason })?;
                registers
                    .apply(kind, occurred_on, &event)
                    .map_err(|error| LedgerError::Corrupt {
                        position,
                        reason: error.to_string(),
                    })?;
            }
        }
        Ok(registers)
    }

    /// Checks every coded field of the proposed events against the registers valid on each event's
    /// date. `fresh` pairs each event with its index in the caller's batch.
    pub(crate) async fn check_codes(
        &self,
        fresh: &[(usize, &Proposed)],
    ) -> Result<(), LedgerError> {
        let registers = self.registers().await?;
        if registers.is_empty() {
            return Ok(());
        }
        for (index, proposed) in fresh {
            registers
                .check_event(&proposed.event, proposed.occurred_on)
                .map_err(|unknown| LedgerError::UnknownCode {
                    index: *index,
                    event_id: Some(proposed.id),
                    unknown,
                })?;
        }
        Ok(())
    }

    /// Appends register events (each with its date) to their registers' streams, in order, after
    /// checking that each fits the registers as they would be after the ones before. On a refusal
    /// nothing is written. Events of several registers are written one register stream at a time.
    ///
    /// An id already recorded in the same register stream with the same content is skipped (a
    /// retried import); with other content, or in another stream, it is a conflict.
    pub async fn append_register_events(
        &self,
        proposals: Vec<RegisterProposal>,
        actor: &Actor,
    ) -> Result<RegisterReceipt, LedgerError> {
        let _writer = self.register_cache().writer.lock().await;
        // Read from the log, not the cache, so the check sees what the log holds now.
        self.register_cache().forget();
        let current = self.registers().await?;
        let mut folded = (*current).clone();
        let mut receipt = RegisterReceipt::default();
        let mut fresh = Vec::with_capacity(proposals.len());
        for (index, proposal) in proposals.into_iter().enumerate() {
            if self
                .organisational_recorded(index, &proposal.organisational())
                .await?
                == Recorded::Same
            {
                receipt.already_recorded += 1;
                continue;
            }
            folded
                .apply(proposal.register, proposal.occurred_on, &proposal.event)
                .map_err(|error| LedgerError::Register { index, error })?;
            fresh.push(proposal);
        }
        for kind in RegisterKind::ALL {
            let batch: Vec<&RegisterProposal> = fresh
                .iter()
                .filter(|proposal| proposal.register == kind)
                .collect();
            for chunk in batch.chunks(crate::log::APPEND_EVENTS_MAX) {
                let (first, last) = self.append_register_stream(kind, chunk, actor).await?;
                receipt.first_position.get_or_insert(first);
                receipt.last_position = Some(last);
            }
        }
        receipt.written = fresh;
        self.register_cache().set(Some(Arc::new(folded)));
        Ok(receipt)
    }

    async fn append_register_stream(
        &self,
        kind: RegisterKind,
        proposals: &[&RegisterProposal],
        actor: &Actor,
    ) -> Result<(Position, Position), LedgerError> {
        let stream = kind.stream_name();
        let head = self.organisational_head(&stream).await?;
        let events: Vec<OrganisationalEvent> = proposals
            .iter()
            .map(|proposal| proposal.organisational())
            .collect();
        self.append_organisational_stream(&stream, head, &events, actor)
            .await
    }

    /// Imports a register file: appends the events that bring the recorded registers to what the
    /// file says (none when they already agree). Refused files write nothing.
    pub async fn import_register_file(
        &self,
        file: &RegisterFile,
        actor: &Actor,
    ) -> Result<RegisterReceipt, LedgerError> {
        let current = {
            let _writer = self.register_cache().writer.lock().await;
            self.register_cache().forget();
            self.registers().await?
        };
        let today = self.clock().now().date_naive();
        let changes = file
            .changes(&current, today)
            .map_err(LedgerError::RegisterFile)?;
        if changes.is_empty() {
            return Ok(RegisterReceipt::default());
        }
        let proposals = changes
            .into_iter()
            .map(|(register, occurred_on, event)| RegisterProposal {
                id: self.new_event_id(),
                register,
                occurred_on,
                event,
            })
            .collect();
        self.append_register_events(proposals, actor).await
    }
}
