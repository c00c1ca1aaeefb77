//! The register file a municipality edits: the whole of its registers in one JSON document
//! (schema: `schemas/registers.schema.json`). Importing it appends to the ledger only what differs
//! from the registers already there, as dated events, so the file can be edited and imported again
//! and again; what it may not do is rewrite history (see [`RegisterFile::changes`]).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::events::{
    RegisterEntryAdded, RegisterEntryRetired, RegisterEvent, RegisterKind, RegisterValueMapped,
};
use super::state::{RegisterError, Registers};

/// Salzgitter's registers, shipped as the default and as the example of the format.
pub const SALZGITTER_JSON: &str = include_str!("../../registers/salzgitter.json");

/// The register file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFile {
    /// The JSON Schema the file follows, for editors; ignored on import.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Where the codes come from (a statute, an official list, a web page and its date).
    pub source: String,
    /// The areas districts belong to (Salzgitter: its seven Ortschaften).
    #[serde(default)]
    pub areas: Vec<EntrySpec>,
    /// The districts (Salzgitter: its 31 Stadtteile); each names its area as `parent`.
    #[serde(default)]
    pub districts: Vec<EntrySpec>,
    /// The course providers (`CourseRegistered.provider`).
    #[serde(default)]
    pub providers: Vec<EntrySpec>,
    /// Values found in recorded events that stand for a code (see `journey registers check`).
    #[serde(default)]
    pub mappings: Vec<MappingSpec>,
}

/// One code and the dates it is valid between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    /// The value recorded in events, exactly as written.
    pub code: String,
    /// A longer display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Districts only: the code of the area the district belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The first day the code is valid.
    pub valid_from: NaiveDate,
    /// The first day the code is no longer valid (a rename, merge or split takes effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
    /// With `valid_until`: the codes that take over (one for a rename or merge, several for a split).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successors: Vec<String>,
}

/// A stray value mapped to a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    pub register: RegisterKind,
    pub value: String,
    pub code: String,
    pub reason: String,
}

/// Why a register file cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterFileError {
    #[error("the register file is not valid: {0}")]
    Parse(String),
    #[error("{path}: {message}")]
    Entry { path: String, message: String },
}

impl RegisterFile {
    /// Parses a register file, naming the field of the first problem.
    pub fn parse(text: &str) -> Result<RegisterFile, RegisterFileError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            RegisterFileError::Parse(format!("at `{}`: {}", error.path(), error.inner()))
        })
    }

    /// Salzgitter's registers.
    pub fn salzgitter() -> RegisterFile {
        // The shipped file is checked by a test; it parses.
        Self::parse(SALZGITTER_JSON)
            .unwrap_or_else(|error| panic!("shipped register file: {error}"))
    }

    pub fn entries(&self, kind: RegisterKind) -> &[EntrySpec] {
        match kind {
            RegisterKind::Areas => &self.areas,
            RegisterKind::Districts => &self.districts,
            RegisterKind::Providers => &self.providers,
        }
    }

    /// The events that bring `current` to what this file says, in the order they must be written:
    /// per register (parents first) the additions, then the retirements, then the mappings. Each
    /// is checked by folding it onto a copy of `current`, so an accepted list applies cleanly.
    ///
    /// Refused: an entry of the ledger missing from the file (codes are never removed; retire them
    /// with `valid_until`), an entry whose `valid_from`, `parent` or `name` differs from the ledger's
    /// (a code's history is not rewritten; retire it and add a new code), a retirement that differs
    /// from the one recorded, a code twice in one register, and everything [`Registers::apply`]
    /// refuses.
    /// Mappings are dated `today`: they hold for every record whatever its date, and the date says
    /// when the decision was taken.
    pub fn changes(
        &self,
        current: &Registers,
        today: NaiveDate,
    ) -> Result<Vec<(RegisterKind, NaiveDate, RegisterEvent)>, RegisterFileError> {
        let mut folded = current.clone();
        let mut changes = Vec::new();
        for kind in RegisterKind::ALL {
            let specs = self.entries(kind);
            let path = |index: usize| format!("{kind}[{index}]");
            let mut seen = BTreeSet::new();
            for (index, spec) in specs.iter().enumerate() {
                if !seen.insert(spec.code.as_str()) {
                    return Err(RegisterFileError::Entry {
                        path: path(index),
                        message: format!("`{}` is listed twice", spec.code),
                    });
                }
                if spec.valid_until.is_none() && !spec.successors.is_empty() {
                    return Err(RegisterFileError::Entry {
                        path: path(index),
                        message: "`successors` need a `valid_until`".into(),
                    });
                }
            }
            let register = current.register(kind);
            if let Some(missing) = register
                .entries()
                .find(|entry| !seen.contains(entry.code.as_str()))
            {
                return Err(RegisterFileError::Entry {
                    path: kind.to_string(),
                    message: format!(
                        "`{}` is in the ledger's register but not in the file; codes are never removed: \
                         keep it and give it a `valid_until` (and `successors`) to retire it",
                        missing.code
                    ),
                });
            }
            let mut retirements = Vec::new();
            for (index, spec) in specs.iter().enumerate() {
                let fail = |message: String| RegisterFileError::Entry {
                    path: path(index),
                    message,
                };
                match register.entry(&spec.code) {
                    None => {
                        let event = RegisterEvent::EntryAdded(RegisterEntryAdded {
                            code: spec.code.clone(),
                            name: spec.name.clone(),
                            parent: spec.parent.clone(),
                        });
                        apply(&mut folded, kind, spec.valid_from, event, &mut changes)
                            .map_err(|error| fail(error.message))?;
                        if let Some(until) = spec.valid_until {
                            retirements.push((index, spec, until));
                        }
                    }
                    Some(entry) => {
                        if entry.valid_from != spec.valid_from
                            || entry.parent != spec.parent
                            || entry.name != spec.name
                        {
                            return Err(fail(format!(
                                "`{}` is in the ledger valid from {} with parent {:?} and name {:?}; \
                                 a code's start, parent and name are not rewritten: retire it and add a new code",
                                spec.code, entry.valid_from, entry.parent, entry.name
                            )));
                        }
                        match (entry.valid_until, spec.valid_until) {
                            (None, None) => {}
                            (None, Some(until)) => retirements.push((index, spec, until)),
                            (Some(recorded), Some(until))
                                if recorded == until && entry.successors == spec.successors => {}
                            (Some(recorded), _) => {
                                return Err(fail(format!(
                                    "`{}` was retired on {recorded} with successors {:?}; a retirement is not rewritten",
                                    spec.code, entry.successors
                                )))
                            }
                        }
                    }
                }
            }
            for (index, spec, until) in retirements {
                let event = RegisterEvent::EntryRetired(RegisterEntryRetired {
                    code: spec.code.clone(),
                    successors: spec.successors.clone(),
                });
                apply(&mut folded, kind, until, event, &mut changes).map_err(|error| {
                    RegisterFileError::Entry {
                        path: path(index),
                        message: error.message,
                    }
                })?;
            }
        }
        for (index, mapping) in self.mappings.iter().enumerate() {
            let path = format!("mappings[{index}]");
            match current.register(mapping.register).mapping(&mapping.value) {
                Some(code) if code == mapping.code => continue,
                Some(code) => {
                    return Err(RegisterFileError::Entry {
                        path,
                        message: format!(
                            "`{}` is already mapped to `{code}`; a mapping is not rewritten",
                            mapping.value
                        ),
                    })
                }
                None => {}
            }
            let event = RegisterEvent::ValueMapped(RegisterValueMapped {
                value: mapping.value.clone(),
                code: mapping.code.clone(),
                reason: mapping.reason.clone(),
            });
            apply(&mut folded, mapping.register, today, event, &mut changes).map_err(|error| {
                RegisterFileError::Entry {
                    path,
                    message: error.message,
                }
            })?;
        }
        for kind in RegisterKind::ALL {
            if let Some((value, code)) = current.register(kind).mappings().find(|(value, _)| {
                !self
                    .mappings
                    .iter()
                    .any(|m| m.register == kind && m.value == *value)
            }) {
                return Err(RegisterFileError::Entry {
                    path: "mappings".into(),
                    message: format!(
                        "the ledger maps `{value}` to `{code}` in {kind}, the file does not; mappings are never removed"
                    ),
                });
            }
        }
        Ok(changes)
    }
}

fn apply(
    folded: &mut Registers,
    kind: RegisterKind,
    on: NaiveDate,
    event: RegisterEvent,
    changes: &mut Vec<(RegisterKind, NaiveDate, RegisterEvent)>,
) -> Result<(), RegisterError> {
    folded.apply(kind, on, &event)?;
    changes.push((kind, on, event));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn import(registers: &mut Registers, file: &RegisterFile) -> usize {
        let changes = file
            .changes(registers, date("2026-12-01"))
            .expect("changes");
        for (kind, on, event) in &changes {
            registers.apply(*kind, *on, event).expect("applies");
        }
        changes.len()
    }

    #[test]
    fn the_shipped_file_holds_salzgitters_seven_areas_and_thirty_one_districts() {
        let file = RegisterFile::salzgitter();
        assert_eq!(file.areas.len(), 7);
        assert_eq!(file.districts.len(), 31);
        let mut registers = Registers::default();
        assert_eq!(import(&mut registers, &file), 7 + 31 + file.providers.len());
        let districts = registers.register(RegisterKind::Districts);
        assert_eq!(districts.parent("Lebenstedt"), Some("Nord"));
        assert_eq!(districts.parent("Salzgitter-Bad"), Some("Süd"));
        assert_eq!(districts.parent("Thiede"), Some("Nordost"));
    }

    #[test]
    fn importing_the_same_file_again_changes_nothing() {
        let file = RegisterFile::salzgitter();
        let mut registers = Registers::default();
        import(&mut registers, &file);
        assert_eq!(import(&mut registers, &file), 0);
    }

    #[test]
    fn a_rename_in_the_file_becomes_a_retirement_and_an_addition() {
        let mut file = RegisterFile::salzgitter();
        let mut registers = Registers::default();
        import(&mut registers, &file);
        let bad = file
            .districts
            .iter_mut()
            .find(|spec| spec.code == "Salzgitter-Bad")
            .expect("in the file");
        bad.valid_until = Some(date("2027-01-01"));
        bad.successors = vec!["Bad Salzgitter".into()];
        file.districts.push(EntrySpec {
            code: "Bad Salzgitter".into(),
            name: None,
            parent: Some("Süd".into()),
            valid_from: date("2027-01-01"),
            valid_until: None,
            successors: Vec::new(),
        });
        let changes = file
            .changes(&registers, date("2026-12-01"))
            .expect("changes");
        let kinds: Vec<_> = changes
            .iter()
            .map(|(_, on, e)| (e.event_type().name(), *on))
            .collect();
        assert_eq!(
            kinds,
            [
                ("RegisterEntryAdded", date("2027-01-01")),
                ("RegisterEntryRetired", date("2027-01-01"))
            ]
        );
    }

    #[test]
    fn a_file_that_would_rewrite_history_is_refused() {
        let file = RegisterFile::salzgitter();
        let mut registers = Registers::default();
        import(&mut registers, &file);

        let mut removed = file.clone();
        removed.districts.retain(|spec| spec.code != "Thiede");
        let error = removed.changes(&registers, date("2026-12-01")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`Thiede` is in the ledger's register but not in the file"),
            "{error}"
        );

        let mut moved = file.clone();
        moved.districts[0].parent = Some("Ost".into());
        let error = moved.changes(&registers, date("2026-12-01")).unwrap_err();
        assert!(error.to_string().starts_with("districts[0]:"), "{error}");

        let mut twice = file.clone();
        twice.providers.push(twice.providers[0].clone());
        let error = twice.changes(&registers, date("2026-12-01")).unwrap_err();
        assert!(error.to_string().contains("listed twice"), "{error}");
    }

    #[test]
    fn a_malformed_file_names_the_field() {
        let error = RegisterFile::parse(
            r#"{"source": "x", "districts": [{"code": "A", "valid_from": "soon"}]}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("districts[0].valid_from"),
            "{error}"
        );
    }
}
