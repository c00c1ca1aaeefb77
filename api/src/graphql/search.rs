//! `findPersons`: a person found by name, birth date or pseudonym, for the roles that may.
//!
//! Names and birth dates are matched through the vault's blind index
//! ([`journey_core::vault::index`]): the query's name parts are normalised and hashed like the
//! stored ones, so no name is ever compared, logged or audited in clear. Pseudonyms are the
//! analysts' (`p-…`, [`crate::pseudonym`]), matched against every person the projections hold.
//!
//! Who finds whom: caseworkers the persons they may read (`visibility::access`, the same decision
//! as `person`), admins everyone, analysts by pseudonym only and without the person (they learn
//! that the pseudonym belongs to a person in the ledger, nothing more); coordinators and auditors
//! nobody. Every call is audited with the criteria it used (never their values, which would put a
//! name into the unencrypted audit log) and the persons it answered with.

use std::collections::BTreeSet;

use async_graphql::{Context, Object, Result, SimpleObject};
use journey_core::envelope::PersonId;
use journey_core::vault::{index, NameQuery, FIELD_LEN_MAX};

use super::scalars::Date;
use super::types::{PageInfo, Person};
use super::{audit, outcome, page_size, principal, state};
use crate::audit::AuditRecord;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

#[derive(Debug, Default)]
pub struct SearchQuery;

/// One person found.
#[derive(SimpleObject, Debug)]
pub struct PersonMatch {
    /// The person's analyst pseudonym.
    pub pseudonym: String,
    /// The person as the caller may see them; null for analysts, who find pseudonyms only.
    pub person: Option<Person>,
}

#[derive(SimpleObject, Debug)]
pub struct PersonMatchEdge {
    pub cursor: String,
    pub node: PersonMatch,
}

#[derive(SimpleObject, Debug)]
pub struct PersonMatchConnection {
    pub edges: Vec<PersonMatchEdge>,
    pub page_info: PageInfo,
}

/// What a search asks for.
#[derive(Debug)]
struct Criteria {
    names: NameQuery,
    pseudonym: Option<String>,
}

impl Criteria {
    /// The criteria's names, for the audit log (never their values).
    fn describe(&self) -> String {
        let mut used = Vec::new();
        if self.names.name.is_some() {
            used.push("name");
        }
        if self.names.birth_date.is_some() {
            used.push("birthDate");
        }
        if self.pseudonym.is_some() {
            used.push("pseudonym");
        }
        used.join(", ")
    }
}

#[Object]
impl SearchQuery {
    /// Persons found by every criterion given: `name` (every part of it is one of the person's
    /// name parts, in any order, case or umlaut spelling: "mueller amina" finds Amina Müller),
    /// `birthDate`, `pseudonym` (an analyst pseudonym, `p-…`). Caseworkers find the persons they
    /// may read, admins everyone, analysts by pseudonym only (and get the pseudonym back, never the
    /// person). In person-id order; every call is audited.
    async fn find_persons(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        birth_date: Option<Date>,
        pseudonym: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PersonMatchConnection> {
        let principal = principal(ctx)?;
        let criteria = Criteria {
            names: NameQuery {
                name,
                birth_date: birth_date.map(|date| date.0),
            },
            pseudonym,
        };
        let result = find(state(ctx), principal, &criteria, first, after.as_deref()).await;
        let found = match &result {
            Ok(connection) => connection
                .edges
                .iter()
                .map(|edge| edge.cursor.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            Err(_) => String::new(),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "findPersons".into(),
                query: Some(format!("by {}; found [{found}]", criteria.describe())),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }
}

/// Refuses what the caller may not ask and criteria that cannot be searched, naming the argument.
fn check(principal: &Principal, criteria: &Criteria) -> ApiResult<()> {
    match principal.role {
        Role::Caseworker | Role::Admin => {}
        Role::Analyst => {
            if criteria.names.name.is_some() || criteria.names.birth_date.is_some() {
                return Err(ApiError::forbidden(
                    "analysts find persons by pseudonym only, never by name or birth date",
                ));
            }
        }
        Role::Coordinator | Role::Auditor | Role::Replication | Role::Replica => {
            return Err(ApiError::forbidden(
                "finding persons is for caseworkers, analysts (by pseudonym) and admins",
            ))
        }
    }
    if criteria.names.name.is_none()
        && criteria.names.birth_date.is_none()
        && criteria.pseudonym.is_none()
    {
        return Err(ApiError::validation(
            "name",
            "give a name, a birthDate or a pseudonym to search for",
        ));
    }
    if let Some(name) = &criteria.names.name {
        let length = name.chars().count();
        if length > FIELD_LEN_MAX {
            return Err(ApiError::validation(
                "name",
                format!("must be at most {FIELD_LEN_MAX} characters, is {length}"),
            ));
        }
        let parts = index::name_parts(name).len();
        if parts == 0 {
            return Err(ApiError::validation(
                "name",
                "must contain at least one letter or digit",
            ));
        }
        if parts > index::QUERY_PARTS_MAX {
            return Err(ApiError::validation(
                "name",
                format!(
                    "must have at most {} name parts, has {parts}",
                    index::QUERY_PARTS_MAX
                ),
            ));
        }
    }
    if let Some(pseudonym) = &criteria.pseudonym {
        let well_formed = pseudonym
            .strip_prefix("p-")
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
        if !well_formed {
            return Err(ApiError::validation(
                "pseudonym",
                format!("`{pseudonym}` is not a person pseudonym: they look like `p-` followed by hex digits"),
            ));
        }
    }
    Ok(())
}

async fn find(
    state: &AppState,
    principal: &Principal,
    criteria: &Criteria,
    first: Option<i32>,
    after: Option<&str>,
) -> ApiResult<PersonMatchConnection> {
    check(principal, criteria)?;
    let size = page_size(first, &state.limits)?;
    let after = after
        .map(|cursor| {
            cursor.parse::<PersonId>().map_err(|_| {
                ApiError::validation(
                    "after",
                    format!(
                        "`{cursor}` is not a cursor: pass the `endCursor` of the previous page"
                    ),
                )
            })
        })
        .transpose()?;
    let mut candidates: Option<BTreeSet<PersonId>> = None;
    if criteria.names.name.is_some() || criteria.names.birth_date.is_some() {
        let found = state
            .vault
            .find(state.ledger.keys(), &criteria.names)
            .map_err(|error| ApiError::internal(&error))?;
        candidates = Some(found.into_iter().collect());
    }
    if let Some(pseudonym) = &criteria.pseudonym {
        let found = by_pseudonym(state, pseudonym)?;
        candidates = Some(match candidates {
            None => found,
            Some(before) => before.intersection(&found).copied().collect(),
        });
    }
    let mut edges = Vec::new();
    let mut has_next_page = false;
    for person in candidates.unwrap_or_default() {
        if after.is_some_and(|after| person.0 <= after.0) {
            continue;
        }
        let Some(node) = visible_match(state, principal, person).await? else {
            continue;
        };
        if edges.len() == size {
            has_next_page = true;
            break;
        }
        edges.push(PersonMatchEdge {
            cursor: person.to_string(),
            node,
        });
    }
    Ok(PersonMatchConnection {
        page_info: PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
    })
}

/// The persons the projections hold (erased ones left out) whose pseudonym is `pseudonym`.
fn by_pseudonym(state: &AppState, pseudonym: &str) -> ApiResult<BTreeSet<PersonId>> {
    let Some(projections) = state.projections.as_ref() else {
        return Err(ApiError::validation(
            "pseudonym",
            "a pseudonym is found among the persons of the projections, which this server does not run: search by name or birthDate",
        ));
    };
    Ok(projections.read(|projected| {
        projected
            .journals
            .iter()
            .filter(|(_, journal)| !journal.erased)
            .map(|(person, _)| *person)
            .filter(|person| state.pseudonyms.person(person) == pseudonym)
            .collect()
    }))
}

/// The match of `person` as `principal` may see it, or `None` when they may not see the person
/// at all (or the person is not in the ledger, or erased).
async fn visible_match(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
) -> ApiResult<Option<PersonMatch>> {
    let pseudonym = state.pseudonyms.person(&person);
    if principal.role == Role::Analyst {
        return Ok(Some(PersonMatch {
            pseudonym,
            person: None,
        }));
    }
    match super::query::read_person(state, principal, person, None).await {
        Ok(found) if found.erased => Ok(None),
        Ok(found) => Ok(Some(PersonMatch {
            pseudonym,
            person: Some(found),
        })),
        Err(error) if matches!(error.code, Code::Forbidden | Code::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}
