//! `journey registers check`: every value of a coded field in the log that no register knows.
//!
//! A value is known when it is a code of its register (at any time: old records keep the codes
//! valid when they were written) or a stray value mapped to a code. What is left are typos and
//! spellings from before the register, which an administrator maps (`RegisterValueMapped`, through
//! the register file or `journey registers map`); the recorded events themselves are never edited.

use std::collections::BTreeMap;

use super::events::RegisterKind;
use super::state::{coded_values, Registers, SUGGESTIONS_MAX};
use super::suggest::closest;
use crate::catalogue::{self, Event};
use crate::envelope::PersonId;
use crate::ledger::{Ledger, LedgerError};
use crate::log::{AllFrom, Direction};

/// Events read per page.
const PAGE_EVENTS: usize = 4096;

/// A value in the log that no register knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayValue {
    pub register: RegisterKind,
    pub value: String,
    /// How many recorded events carry it (a correction's replacement counts as one).
    pub events: u64,
    /// The closest codes of the register, valid today.
    pub suggestions: Vec<String>,
}

/// The stray values of `events` (decoded person events), by register and value.
pub fn stray_values<'a>(
    registers: &Registers,
    events: impl IntoIterator<Item = &'a Event>,
    today: chrono::NaiveDate,
) -> Vec<StrayValue> {
    let mut counts: BTreeMap<(RegisterKind, String), u64> = BTreeMap::new();
    let mut count = |register: RegisterKind, value: &str| {
        if !registers.register(register).knows(value) {
            *counts.entry((register, value.to_owned())).or_default() += 1;
        }
    };
    for event in events {
        for coded in coded_values(event) {
            count(coded.register, coded.value);
        }
        if let Event::EventCorrected(correction) = event {
            if let Ok(replacement) = catalogue::decode_replacement(&correction.replacement) {
                for coded in coded_values(&replacement) {
                    count(coded.register, coded.value);
                }
            }
        }
    }
    counts
        .into_iter()
        .map(|((register, value), events)| {
            let valid = registers
                .register(register)
                .valid_on(today)
                .map(|entry| entry.code.as_str());
            StrayValue {
                suggestions: closest(&value, valid, SUGGESTIONS_MAX),
                register,
                value,
                events,
            }
        })
        .collect()
}

impl Ledger {
    /// Reads the whole log and returns the values of coded fields that no register knows.
    /// Erased persons' events cannot be read and are not counted.
    pub async fn stray_register_values(&self) -> Result<Vec<StrayValue>, LedgerError> {
        let registers = self.registers().await?;
        let mut events = Vec::new();
        let mut from = AllFrom::Start;
        loop {
            let page = self
                .log()
                .read_all(from, Direction::Forwards, PAGE_EVENTS)
                .await?;
            let done = page.len() < PAGE_EVENTS;
            for recorded in page {
                from = AllFrom::Excluding(recorded.position);
                if PersonId::from_stream_name(&recorded.stream).is_err() {
                    continue;
                }
                if let Some(event) = self.decode(recorded)?.event {
                    if !coded_values(&event).is_empty() || matches!(event, Event::EventCorrected(_))
                    {
                        events.push(event);
                    }
                }
            }
            if done {
                break;
            }
        }
        Ok(stray_values(
            &registers,
            &events,
            self.clock().now().date_naive(),
        ))
    }
}
