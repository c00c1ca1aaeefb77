//! The event envelope (DOMAIN.md section 2): who recorded what, when, in which stream.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::Agency;
use crate::log::LogActor;

/// The prefix of every person stream: `person-<uuid>`.
pub const PERSON_STREAM_PREFIX: &str = "person-";

/// The identity of a person: the stream `person-<uuid>` holds that person's events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct PersonId(pub Uuid);

impl PersonId {
    pub fn stream_name(&self) -> String {
        format!("{PERSON_STREAM_PREFIX}{}", self.0)
    }

    /// Parses a stream name `person-<uuid>`.
    pub fn from_stream_name(stream: &str) -> Result<Self, InvalidStreamName> {
        let rest = stream
            .strip_prefix(PERSON_STREAM_PREFIX)
            .ok_or_else(|| InvalidStreamName(stream.to_owned()))?;
        Uuid::parse_str(rest)
            .map(PersonId)
            .map_err(|_| InvalidStreamName(stream.to_owned()))
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PERSON_STREAM_PREFIX}{}", self.0)
    }
}

impl FromStr for PersonId {
    type Err = InvalidStreamName;

    /// Accepts both `person-<uuid>` and a bare `<uuid>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with(PERSON_STREAM_PREFIX) {
            Self::from_stream_name(s)
        } else {
            Uuid::parse_str(s)
                .map(PersonId)
                .map_err(|_| InvalidStreamName(s.to_owned()))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a person stream: expected `person-<uuid>`")]
pub struct InvalidStreamName(pub String);

/// The role an actor acted in when recording an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorRole {
    Caseworker,
    Coordinator,
    Analyst,
    Auditor,
    Admin,
    /// The ledger itself or one of its tools (import, seed, retention).
    System,
}

/// Who recorded an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// A pseudonymous id of the person acting (for example `cw-17`).
    pub id: String,
    /// The agency the actor acted for; absent for system actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<Agency>,
    pub role: ActorRole,
}

impl Actor {
    pub fn system(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            agency: None,
            role: ActorRole::System,
        }
    }

    /// The actor as the log stores it: the agency's wire name, so that reordering the catalogue
    /// cannot change stored meaning, and the role's stable code.
    pub fn to_log(&self) -> LogActor {
        LogActor {
            id: self.id.clone(),
            agency: self.agency.map(|agency| agency.as_str().to_owned()),
            role: self.role.code(),
        }
    }

    /// The actor the log stored, refused when its agency or role is unknown to this build (a log
    /// written by a newer journey, or damaged).
    pub fn from_log(stored: &LogActor) -> Result<Self, UnknownActor> {
        let agency = match &stored.agency {
            None => None,
            Some(name) => {
                Some(Agency::parse(name).ok_or_else(|| UnknownActor::Agency(name.clone()))?)
            }
        };
        let role = ActorRole::from_code(stored.role).ok_or(UnknownActor::Role(stored.role))?;
        Ok(Self {
            id: stored.id.clone(),
            agency,
            role,
        })
    }
}

/// A stored actor this build cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownActor {
    #[error("the stored actor names an unknown agency `{0}`")]
    Agency(String),
    #[error("the stored actor has an unknown role code {0}")]
    Role(u8),
}

impl ActorRole {
    /// The role's code in the log's records. Stable: a stored code never changes meaning.
    pub fn code(self) -> u8 {
        match self {
            ActorRole::Caseworker => 0,
            ActorRole::Coordinator => 1,
            ActorRole::Analyst => 2,
            ActorRole::Auditor => 3,
            ActorRole::Admin => 4,
            ActorRole::System => 5,
        }
    }

    /// The role with this code, `None` for a code this build does not know.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => ActorRole::Caseworker,
            1 => ActorRole::Coordinator,
            2 => ActorRole::Analyst,
            3 => ActorRole::Auditor,
            4 => ActorRole::Admin,
            5 => ActorRole::System,
            _ => return None,
        })
    }
}
