//! `registers`: the installation's reference data (districts with their areas, course providers), so
//! that a form can offer the codes the ledger accepts instead of free text. Reference data is about
//! the municipality, never about a person, so every signed-in role may read it and no read is
//! audited (like `kpiCatalogue`).

use async_graphql::{Context, Object, Result, SimpleObject};
use journey_core::registers::{self, RegisterKind};

use super::enums::RegisterKind as RegisterName;
use super::scalars::Date;
use super::{principal, state};
use crate::error::{from_ledger, FieldStyle};

/// One code of a register with the dates it is valid between.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct RegisterEntry {
    /// The value events carry.
    pub code: String,
    pub name: Option<String>,
    /// The code of the parent register's entry (a district's area).
    pub parent: Option<String>,
    /// The first day the code is valid.
    pub valid_from: Date,
    /// The first day the code is no longer valid; null while it is.
    pub valid_until: Option<Date>,
    /// The codes that took over when it was retired (a rename, a merge or a split).
    pub successors: Vec<String>,
}

/// A stray value recorded before the register knew it, mapped to a code.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct RegisterMapping {
    pub value: String,
    pub code: String,
}

/// One register.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct Register {
    pub kind: RegisterName,
    /// With `validOn`, the entries valid on that day; otherwise every entry ever added. By code.
    pub entries: Vec<RegisterEntry>,
    pub mappings: Vec<RegisterMapping>,
}

#[derive(Default, Debug)]
pub struct RegisterQuery;

#[Object]
impl RegisterQuery {
    /// The registers of this installation (an installation without registers answers empty
    /// registers, and then accepts any value). With `validOn`, only the codes valid that day: the
    /// values an event dated then may carry.
    async fn registers(
        &self,
        ctx: &Context<'_>,
        kind: Option<RegisterName>,
        valid_on: Option<Date>,
    ) -> Result<Vec<Register>> {
        principal(ctx)?;
        let folded = state(ctx)
            .ledger
            .registers()
            .await
            .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
        Ok(RegisterKind::ALL
            .into_iter()
            .filter(|candidate| kind.is_none_or(|kind| kind == RegisterName::from(*candidate)))
            .map(|candidate| register(candidate, folded.register(candidate), valid_on))
            .collect())
    }
}

fn register(kind: RegisterKind, folded: &registers::Register, valid_on: Option<Date>) -> Register {
    let entry = |entry: &registers::Entry| RegisterEntry {
        code: entry.code.clone(),
        name: entry.name.clone(),
        parent: entry.parent.clone(),
        valid_from: Date(entry.valid_from),
        valid_until: entry.valid_until.map(Date),
        successors: entry.successors.clone(),
    };
    let entries = match valid_on {
        Some(Date(on)) => folded.valid_on(on).map(entry).collect(),
        None => folded.entries().map(entry).collect(),
    };
    Register {
        kind: kind.into(),
        entries,
        mappings: folded
            .mappings()
            .map(|(value, code)| RegisterMapping {
                value: value.to_owned(),
                code: code.to_owned(),
            })
            .collect(),
    }
}
