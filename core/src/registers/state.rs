//! The registers as folded from their streams, and the check of a person event's coded fields.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;

use super::events::{RegisterEvent, RegisterKind};
use super::suggest::closest;
use crate::catalogue::{self, Event};

/// How many closest known values an error offers.
pub(crate) const SUGGESTIONS_MAX: usize = 3;
/// The longest code or mapped value, in characters (the catalogue's label limit).
const CODE_LEN_MAX: usize = 120;
/// How many successor links a resolution follows at most (a register's history is short; the
/// limit only guards against a cycle, which [`Registers::apply`] already refuses).
const SUCCESSION_STEPS_MAX: usize = 64;

/// One code of a register, with the dates it is valid between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub code: String,
    pub name: Option<String>,
    pub parent: Option<String>,
    /// The first day the code is valid.
    pub valid_from: NaiveDate,
    /// The first day the code is no longer valid; `None` while it is.
    pub valid_until: Option<NaiveDate>,
    /// The codes that took over when it was retired.
    pub successors: Vec<String>,
}

impl Entry {
    pub fn valid_on(&self, on: NaiveDate) -> bool {
        self.valid_from <= on && self.valid_until.is_none_or(|until| on < until)
    }
}

/// One register: its entries by code and the stray values mapped to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Register {
    entries: BTreeMap<String, Entry>,
    mappings: BTreeMap<String, String>,
}

impl Register {
    /// A register without codes constrains nothing (see the module documentation).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entry(&self, code: &str) -> Option<&Entry> {
        self.entries.get(code)
    }

    /// Every entry ever added, by code.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entries valid on `on`, by code.
    pub fn valid_on(&self, on: NaiveDate) -> impl Iterator<Item = &Entry> {
        self.entries
            .values()
            .filter(move |entry| entry.valid_on(on))
    }

    /// The code a stray value was mapped to.
    pub fn mapping(&self, value: &str) -> Option<&str> {
        self.mappings.get(value).map(String::as_str)
    }

    pub fn mappings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.mappings
            .iter()
            .map(|(value, code)| (value.as_str(), code.as_str()))
    }

    /// Whether a recorded value is known: a code ever in the register, or a mapped stray value.
    pub fn knows(&self, value: &str) -> bool {
        self.entries.contains_key(value) || self.mappings.contains_key(value)
    }

    /// The code a recorded value stands for on `on`: a mapped stray value becomes its code, and a
    /// code retired by `on` becomes its successor while there is exactly one (a rename or a merge);
    /// a split code stays itself, since its records cannot be divided among the successors.
    /// `on = None` follows the history to the end: today's codes. `None` for an unknown value.
    pub fn resolve(&self, value: &str, on: Option<NaiveDate>) -> Option<&str> {
        let mut code = self.mappings.get(value).map(String::as_str).or_else(|| {
            self.entries
                .get_key_value(value)
                .map(|(code, _)| code.as_str())
        })?;
        for _ in 0..SUCCESSION_STEPS_MAX {
            let entry = self.entries.get(code)?;
            let retired = match (entry.valid_until, on) {
                (Some(until), Some(on)) => until <= on,
                (Some(_), None) => true,
                (None, _) => false,
            };
            match entry.successors.as_slice() {
                [successor] if retired => code = successor,
                _ => return Some(code),
            }
        }
        Some(code)
    }

    /// The parent code of a code.
    pub fn parent(&self, code: &str) -> Option<&str> {
        self.entries.get(code)?.parent.as_deref()
    }
}

/// Every register of an installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registers {
    registers: BTreeMap<RegisterKind, Register>,
}

/// A register event that does not fit the register it is appended to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("register `{register}`, `{code}`: {message}")]
pub struct RegisterError {
    pub register: RegisterKind,
    pub code: String,
    pub message: String,
}

/// A coded field of a person event whose value the register does not know on the event's date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCode {
    /// The field's path in the event's data, for example `district` or `replacement.data.district`.
    pub field: String,
    pub register: RegisterKind,
    pub value: String,
    /// The date the value was checked for.
    pub on: NaiveDate,
    /// When the value is a code that was valid at another time: from when until when.
    pub valid: Option<(NaiveDate, Option<NaiveDate>)>,
    /// The closest codes valid on `on`, closest first.
    pub suggestions: Vec<String>,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.valid {
            Some((from, Some(until))) => write!(
                f,
                "`{}` is in the register of {} only from {from} to the day before {until}, not on {}",
                self.value, self.register, self.on
            )?,
            Some((from, None)) => write!(
                f,
                "`{}` is in the register of {} only from {from}, not on {}",
                self.value, self.register, self.on
            )?,
            None => write!(
                f,
                "`{}` is not in the register of {}",
                self.value, self.register
            )?,
        }
        if self.suggestions.is_empty() {
            write!(
                f,
                "; the register has no {} valid on {}",
                self.register, self.on
            )
        } else {
            let list: Vec<String> = self.suggestions.iter().map(|s| format!("`{s}`")).collect();
            write!(f, "; did you mean {}?", list.join(", "))
        }
    }
}

/// A coded field of a person event: which field, which register, which value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodedValue<'a> {
    pub field: &'static str,
    pub register: RegisterKind,
    pub value: &'a str,
}

/// The coded fields of an event. This is the one list of which catalogue field takes its values
/// from which register; course and measure ids stay free (they name one course run, not a code).
pub fn coded_values(event: &Event) -> Vec<CodedValue<'_>> {
    match event {
        Event::ArrivalRecorded(arrival) => vec![CodedValue {
            field: "district",
            register: RegisterKind::Districts,
            value: &arrival.district,
        }],
        Event::AddressChanged(address) => vec![CodedValue {
            field: "district",
            register: RegisterKind::Districts,
            value: &address.district,
        }],
        Event::CourseRegistered(course) => vec![CodedValue {
            field: "provider",
            register: RegisterKind::Providers,
            value: &course.provider,
        }],
        _ => Vec::new(),
    }
}

fn check_code(register: RegisterKind, field: &str, value: &str) -> Result<(), RegisterError> {
    let error = |message: String| RegisterError {
        register,
        code: value.to_owned(),
        message: format!("{field} {message}"),
    };
    if value.trim().is_empty() {
        return Err(error("must not be empty".into()));
    }
    if value.trim() != value {
        return Err(error("must not start or end with spaces".into()));
    }
    if value.chars().count() > CODE_LEN_MAX {
        return Err(error(format!("must be at most {CODE_LEN_MAX} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(error("must not contain control characters".into()));
    }
    Ok(())
}

impl Registers {
    /// The register of `kind` (empty when nothing was imported).
    pub fn register(&self, kind: RegisterKind) -> &Register {
        static EMPTY: std::sync::OnceLock<Register> = std::sync::OnceLock::new();
        self.registers
            .get(&kind)
            .unwrap_or_else(|| EMPTY.get_or_init(Register::default))
    }

    /// Whether no register holds any code.
    pub fn is_empty(&self) -> bool {
        self.registers.values().all(Register::is_empty)
    }

    /// Applies a register event dated `on`, or says why it does not fit. Nothing changes on error.
    pub fn apply(
        &mut self,
        kind: RegisterKind,
        on: NaiveDate,
        event: &RegisterEvent,
    ) -> Result<(), RegisterError> {
        let parent_register = kind.parent().map(|parent| self.register(parent));
        // Changed on a copy that replaces the register only when the event fits.
        let mut updated = self.register(kind).clone();
        let register = &mut updated;
        let refuse = |code: &str, message: String| RegisterError {
            register: kind,
            code: code.to_owned(),
            message,
        };
        match event {
            RegisterEvent::EntryAdded(added) => {
                check_code(kind, "code", &added.code)?;
                if let Some(name) = &added.name {
                    check_code(kind, "name", name)?;
                }
                if register.entries.contains_key(&added.code) {
                    return Err(refuse(
                        &added.code,
                        "is already in the register; a code is added once (retire it and add a new code to change it)".into(),
                    ));
                }
                if register.mappings.contains_key(&added.code) {
                    return Err(refuse(
                        &added.code,
                        "is mapped as a stray value; a mapped value cannot become a code".into(),
                    ));
                }
                match (&parent_register, &added.parent) {
                    (None, Some(_)) => {
                        return Err(refuse(
                            &added.code,
                            format!(
                                "the register of {kind} has no parent register; remove `parent`"
                            ),
                        ))
                    }
                    (Some(_), None) => {
                        return Err(refuse(
                            &added.code,
                            format!(
                                "needs a `parent` from the register of {}",
                                kind.parent().map_or("", |p| p.as_str())
                            ),
                        ))
                    }
                    (Some(parents), Some(parent)) => {
                        if !parents
                            .entry(parent)
                            .is_some_and(|entry| entry.valid_on(on))
                        {
                            let known = parents.valid_on(on).map(|entry| entry.code.as_str());
                            return Err(refuse(
                                &added.code,
                                format!(
                                    "parent `{parent}` is not valid on {on} in the register of {}; closest: {}",
                                    kind.parent().map_or("", |p| p.as_str()),
                                    closest(parent, known, SUGGESTIONS_MAX).join(", ")
                                ),
                            ));
                        }
                    }
                    (None, None) => {}
                }
                register.entries.insert(
                    added.code.clone(),
                    Entry {
                        code: added.code.clone(),
                        name: added.name.clone(),
                        parent: added.parent.clone(),
                        valid_from: on,
                        valid_until: None,
                        successors: Vec::new(),
                    },
                );
            }
            RegisterEvent::EntryRetired(retired) => {
                let Some(entry) = register.entries.get(&retired.code) else {
                    return Err(refuse(&retired.code, "is not in the register".into()));
                };
                if let Some(until) = entry.valid_until {
                    return Err(refuse(
                        &retired.code,
                        format!("was already retired on {until}"),
                    ));
                }
                if on <= entry.valid_from {
                    return Err(refuse(
                        &retired.code,
                        format!(
                            "is valid from {}; it can only be retired after that",
                            entry.valid_from
                        ),
                    ));
                }
                for successor in &retired.successors {
                    if successor == &retired.code {
                        return Err(refuse(&retired.code, "cannot succeed itself".into()));
                    }
                    if !register
                        .entries
                        .get(successor)
                        .is_some_and(|entry| entry.valid_on(on))
                    {
                        return Err(refuse(
                            &retired.code,
                            format!("successor `{successor}` is not in the register on {on}; add it first"),
                        ));
                    }
                }
                if let Some(entry) = register.entries.get_mut(&retired.code) {
                    entry.valid_until = Some(on);
                    entry.successors = retired.successors.clone();
                }
            }
            RegisterEvent::ValueMapped(mapped) => {
                check_code(kind, "value", &mapped.value)?;
                if register.entries.contains_key(&mapped.value) {
                    return Err(refuse(
                        &mapped.value,
                        "is a code of the register; only values it does not know are mapped".into(),
                    ));
                }
                if let Some(code) = register.mappings.get(&mapped.value) {
                    return Err(refuse(
                        &mapped.value,
                        format!("is already mapped to `{code}`"),
                    ));
                }
                if !register.entries.contains_key(&mapped.code) {
                    let known = register.entries.keys().map(String::as_str);
                    return Err(refuse(
                        &mapped.value,
                        format!(
                            "is mapped to `{}`, which is not in the register; closest: {}",
                            mapped.code,
                            closest(&mapped.code, known, SUGGESTIONS_MAX).join(", ")
                        ),
                    ));
                }
                register
                    .mappings
                    .insert(mapped.value.clone(), mapped.code.clone());
            }
        }
        self.registers.insert(kind, updated);
        Ok(())
    }

    /// Checks one coded value against its register on `on`.
    pub fn check_value(
        &self,
        register: RegisterKind,
        field: &str,
        value: &str,
        on: NaiveDate,
    ) -> Result<(), UnknownCode> {
        let codes = self.register(register);
        if codes.is_empty() {
            return Ok(());
        }
        let entry = codes.entry(value);
        if entry.is_some_and(|entry| entry.valid_on(on)) {
            return Ok(());
        }
        // A retired code's successors, and a stray value's mapped code, come first.
        let mut suggestions: Vec<String> = Vec::new();
        let resolved = codes.resolve(value, Some(on));
        if let Some(entry) = entry {
            suggestions.extend(
                entry
                    .successors
                    .iter()
                    .filter(|code| codes.entry(code).is_some_and(|e| e.valid_on(on)))
                    .cloned(),
            );
        }
        if let Some(code) = resolved.filter(|code| *code != value) {
            if codes.entry(code).is_some_and(|e| e.valid_on(on))
                && !suggestions.iter().any(|s| s == code)
            {
                suggestions.insert(0, code.to_owned());
            }
        }
        let valid = codes.valid_on(on).map(|entry| entry.code.as_str());
        for candidate in closest(value, valid, SUGGESTIONS_MAX) {
            if suggestions.len() >= SUGGESTIONS_MAX {
                break;
            }
            if !suggestions.contains(&candidate) {
                suggestions.push(candidate);
            }
        }
        suggestions.truncate(SUGGESTIONS_MAX);
        Err(UnknownCode {
            field: field.to_owned(),
            register,
            value: value.to_owned(),
            on,
            valid: entry.map(|entry| (entry.valid_from, entry.valid_until)),
            suggestions,
        })
    }

    /// Checks every coded field of a person event dated `on` (a correction's replacement on its
    /// own date).
    pub fn check_event(&self, event: &Event, on: NaiveDate) -> Result<(), UnknownCode> {
        for coded in coded_values(event) {
            self.check_value(coded.register, coded.field, coded.value, on)?;
        }
        if let Event::EventCorrected(correction) = event {
            // The replacement was checked by `catalogue::decode`; one that does not decode has
            // nothing coded to check here.
            if let Ok(replacement) = catalogue::decode_replacement(&correction.replacement) {
                for coded in coded_values(&replacement) {
                    self.check_value(
                        coded.register,
                        &format!("replacement.data.{}", coded.field),
                        coded.value,
                        correction.replacement.occurred_on,
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::events::{RegisterEntryAdded, RegisterEntryRetired, RegisterValueMapped};

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn add(
        registers: &mut Registers,
        kind: RegisterKind,
        on: &str,
        code: &str,
        parent: Option<&str>,
    ) {
        registers
            .apply(
                kind,
                date(on),
                &RegisterEvent::EntryAdded(RegisterEntryAdded {
                    code: code.into(),
                    name: None,
                    parent: parent.map(Into::into),
                }),
            )
            .expect("added");
    }

    fn retire(registers: &mut Registers, on: &str, code: &str, successors: &[&str]) {
        registers
            .apply(
                RegisterKind::Districts,
                date(on),
                &RegisterEvent::EntryRetired(RegisterEntryRetired {
                    code: code.into(),
                    successors: successors.iter().map(|s| (*s).into()).collect(),
                }),
            )
            .expect("retired");
    }

    fn sample() -> Registers {
        let mut registers = Registers::default();
        add(
            &mut registers,
            RegisterKind::Areas,
            "1972-01-01",
            "Nord",
            None,
        );
        add(
            &mut registers,
            RegisterKind::Districts,
            "1974-03-01",
            "Lebenstedt",
            Some("Nord"),
        );
        add(
            &mut registers,
            RegisterKind::Districts,
            "1974-03-01",
            "Salder",
            Some("Nord"),
        );
        add(
            &mut registers,
            RegisterKind::Districts,
            "1974-03-01",
            "Alt",
            Some("Nord"),
        );
        add(
            &mut registers,
            RegisterKind::Districts,
            "2025-01-01",
            "Neu",
            Some("Nord"),
        );
        retire(&mut registers, "2025-01-01", "Alt", &["Neu"]);
        registers
    }

    #[test]
    fn a_code_is_valid_from_its_start_to_the_day_before_its_retirement() {
        let registers = sample();
        let check = |value: &str, on: &str| {
            registers.check_value(RegisterKind::Districts, "district", value, date(on))
        };
        assert!(check("Alt", "2024-12-31").is_ok());
        assert!(check("Neu", "2025-01-01").is_ok());
        let late = check("Alt", "2025-01-01").unwrap_err();
        assert_eq!(
            late.valid,
            Some((date("1974-03-01"), Some(date("2025-01-01"))))
        );
        assert_eq!(late.suggestions[0], "Neu", "the successor comes first");
        let early = check("Neu", "2024-12-31").unwrap_err();
        assert_eq!(early.valid, Some((date("2025-01-01"), None)));
    }

    #[test]
    fn an_unknown_value_is_refused_with_the_closest_codes_valid_then() {
        let error = sample()
            .check_value(
                RegisterKind::Districts,
                "district",
                "lebenstedt",
                date("2024-05-01"),
            )
            .unwrap_err();
        assert_eq!(error.suggestions[0], "Lebenstedt");
        assert!(
            !error.suggestions.contains(&"Neu".to_owned()),
            "Neu is not valid yet"
        );
        assert!(
            error.to_string().contains("did you mean `Lebenstedt`"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_register_constrains_nothing() {
        let registers = sample();
        assert!(registers
            .check_value(
                RegisterKind::Providers,
                "provider",
                "Anyone",
                date("2024-01-01")
            )
            .is_ok());
    }

    #[test]
    fn resolution_follows_renames_up_to_the_date_asked_or_to_today() {
        let registers = sample();
        let districts = registers.register(RegisterKind::Districts);
        assert_eq!(
            districts.resolve("Alt", Some(date("2024-06-01"))),
            Some("Alt")
        );
        assert_eq!(
            districts.resolve("Alt", Some(date("2025-06-01"))),
            Some("Neu")
        );
        assert_eq!(districts.resolve("Alt", None), Some("Neu"));
        assert_eq!(districts.resolve("Atlantis", None), None);
    }

    #[test]
    fn a_split_district_keeps_its_code_since_its_records_cannot_be_divided() {
        let mut registers = sample();
        add(
            &mut registers,
            RegisterKind::Districts,
            "2026-01-01",
            "Salder-Ost",
            Some("Nord"),
        );
        add(
            &mut registers,
            RegisterKind::Districts,
            "2026-01-01",
            "Salder-West",
            Some("Nord"),
        );
        retire(
            &mut registers,
            "2026-01-01",
            "Salder",
            &["Salder-Ost", "Salder-West"],
        );
        let districts = registers.register(RegisterKind::Districts);
        assert_eq!(districts.resolve("Salder", None), Some("Salder"));
        let refused = registers
            .check_value(
                RegisterKind::Districts,
                "district",
                "Salder",
                date("2026-02-01"),
            )
            .unwrap_err();
        assert_eq!(refused.suggestions[..2], ["Salder-Ost", "Salder-West"]);
    }

    #[test]
    fn a_stray_value_mapped_resolves_to_its_code_and_is_suggested_first() {
        let mut registers = sample();
        registers
            .apply(
                RegisterKind::Districts,
                date("2026-01-01"),
                &RegisterEvent::ValueMapped(RegisterValueMapped {
                    value: "SZ-Leb.".into(),
                    code: "Lebenstedt".into(),
                    reason: "old import".into(),
                }),
            )
            .expect("mapped");
        let districts = registers.register(RegisterKind::Districts);
        assert_eq!(districts.resolve("SZ-Leb.", None), Some("Lebenstedt"));
        let error = registers
            .check_value(
                RegisterKind::Districts,
                "district",
                "SZ-Leb.",
                date("2026-02-01"),
            )
            .unwrap_err();
        assert_eq!(error.suggestions[0], "Lebenstedt");
    }

    #[test]
    fn events_that_do_not_fit_are_refused_and_change_nothing() {
        let mut registers = sample();
        let before = registers.clone();
        let cases = [
            (
                RegisterKind::Districts,
                RegisterEvent::EntryAdded(RegisterEntryAdded {
                    code: "Salder".into(),
                    name: None,
                    parent: Some("Nord".into()),
                }),
                "already in the register",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::EntryAdded(RegisterEntryAdded {
                    code: "Gitter".into(),
                    name: None,
                    parent: Some("Sued".into()),
                }),
                "parent `Sued`",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::EntryAdded(RegisterEntryAdded {
                    code: "Gitter".into(),
                    name: None,
                    parent: None,
                }),
                "needs a `parent`",
            ),
            (
                RegisterKind::Providers,
                RegisterEvent::EntryAdded(RegisterEntryAdded {
                    code: "VHS".into(),
                    name: None,
                    parent: Some("Nord".into()),
                }),
                "no parent register",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::EntryAdded(RegisterEntryAdded {
                    code: " Gitter".into(),
                    name: None,
                    parent: Some("Nord".into()),
                }),
                "spaces",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::EntryRetired(RegisterEntryRetired {
                    code: "Alt".into(),
                    successors: vec![],
                }),
                "already retired",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::EntryRetired(RegisterEntryRetired {
                    code: "Salder".into(),
                    successors: vec!["Atlantis".into()],
                }),
                "successor `Atlantis`",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::ValueMapped(RegisterValueMapped {
                    value: "Salder".into(),
                    code: "Lebenstedt".into(),
                    reason: "x".into(),
                }),
                "is a code",
            ),
            (
                RegisterKind::Districts,
                RegisterEvent::ValueMapped(RegisterValueMapped {
                    value: "Saldr".into(),
                    code: "Atlantis".into(),
                    reason: "x".into(),
                }),
                "not in the register",
            ),
        ];
        for (kind, event, expected) in cases {
            let error = registers
                .apply(kind, date("2026-01-01"), &event)
                .unwrap_err();
            assert!(
                error.to_string().contains(expected),
                "{error} should say {expected}"
            );
            assert_eq!(registers, before);
        }
    }
}
