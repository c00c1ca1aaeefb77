//! Enumerations shared by the event payloads (DOMAIN.md section 3). All are lower-case snake_case on
//! the wire; `unknown` is a value of its own and never the same as "none".

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in catalogue order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// Parses the wire form.
            pub fn parse(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// The agencies of the prevention chain.
    Agency {
        Kommune => "kommune",
        Auslaenderbehoerde => "auslaenderbehoerde",
        Jobcenter => "jobcenter",
        Arbeitsagentur => "arbeitsagentur",
        Bildungsbuero => "bildungsbuero",
        Jugendamt => "jugendamt",
        Sozialarbeit => "sozialarbeit",
        Ehrenamt => "ehrenamt",
        // The partners of the neighbourhood base Start.Punkt.SZ (DOMAIN.md): the housing company,
        // the welfare organisations and non-profit associations, with caseworkers of their own.
        Wohnungsbau => "wohnungsbau",
        Caritas => "caritas",
        Diakonie => "diakonie",
        Drk => "drk",
        Awo => "awo",
        Vereine => "vereine",
    }
);

wire_enum!(Sex { Female => "female", Male => "male", Diverse => "diverse", Unknown => "unknown" });

wire_enum!(Origin {
    ReceptionCentre => "reception_centre",
    OtherMunicipality => "other_municipality",
    Abroad => "abroad",
    Unknown => "unknown",
});

wire_enum!(Accommodation { Shared => "shared", Flat => "flat", Other => "other" });

wire_enum!(AsylumOutcome {
    AsylumArt16a => "asylum_art16a",
    Refugee3 => "refugee_3",
    Subsidiary4 => "subsidiary_4",
    DeportationBan => "deportation_ban",
    Rejected => "rejected",
    Dublin => "dublin",
});

wire_enum!(ResidenceStatus {
    Gestattung => "gestattung",
    Duldung => "duldung",
    Aufenthaltserlaubnis => "aufenthaltserlaubnis",
    Niederlassungserlaubnis => "niederlassungserlaubnis",
    Eingebuergert => "eingebuergert",
    Other => "other",
});

wire_enum!(ObligationLiftReason {
    Employment => "employment",
    Training => "training",
    Family => "family",
    Expired => "expired",
    Other => "other",
});

wire_enum!(Destination { OtherMunicipality => "other_municipality", Abroad => "abroad", Unknown => "unknown" });

wire_enum!(EntitlementKind { Entitlement => "entitlement", Obligation => "obligation" });

wire_enum!(EntitlementIssuer {
    Bamf => "bamf",
    Auslaenderbehoerde => "auslaenderbehoerde",
    Jobcenter => "jobcenter",
    Asylblg => "asylblg",
});

wire_enum!(CourseType {
    General => "general",
    Alpha => "alpha",
    Youth => "youth",
    Parents => "parents",
    Women => "women",
    Intensive => "intensive",
    SecondScript => "second_script",
    JobB1 => "job_b1",
    JobB2 => "job_b2",
    JobC1 => "job_c1",
});

impl CourseType {
    /// Integration courses (BAMF *Integrationskurs*) as opposed to job-related language courses (DeuFöV).
    pub fn is_integration_course(&self) -> bool {
        !matches!(
            self,
            CourseType::JobB1 | CourseType::JobB2 | CourseType::JobC1
        )
    }
}

wire_enum!(LeaveReason {
    Employment => "employment",
    Moved => "moved",
    Illness => "illness",
    Childcare => "childcare",
    Other => "other",
    Unknown => "unknown",
});

wire_enum!(Exam { Dtz => "dtz", Dtb => "dtb", Telc => "telc", Goethe => "goethe", Other => "other" });

wire_enum!(Level { BelowA2 => "below_a2", A2 => "a2", B1 => "b1", B2 => "b2", C1 => "c1", C2 => "c2" });

wire_enum!(SchoolType { Primary => "primary", Secondary => "secondary", Vocational => "vocational", Other => "other" });

wire_enum!(Certificate {
    None => "none",
    Hauptschule => "hauptschule",
    Realschule => "realschule",
    Abitur => "abitur",
    Unknown => "unknown",
});

wire_enum!(BenefitKind { Asylblg => "asylblg", Sgb2 => "sgb2", Sgb3 => "sgb3" });

wire_enum!(MeasureType {
    Activation => "activation",
    Qualification => "qualification",
    Internship => "internship",
    Coaching => "coaching",
    Other => "other",
});

wire_enum!(EndOutcome { Completed => "completed", Aborted => "aborted" });

wire_enum!(RecognitionOutcome {
    Full => "full",
    Partial => "partial",
    CompensationMeasure => "compensation_measure",
    Negative => "negative",
});

wire_enum!(EmploymentKind {
    SocialInsuranceFull => "social_insurance_full",
    SocialInsurancePart => "social_insurance_part",
    Marginal => "marginal",
    SelfEmployed => "self_employed",
});

wire_enum!(Topic {
    Language => "language",
    Work => "work",
    Housing => "housing",
    Health => "health",
    Education => "education",
    Legal => "legal",
    Family => "family",
    Other => "other",
});

wire_enum!(ChecklistItem {
    StartFolder => "start_folder",
    CompetenceAssessment => "competence_assessment",
    HealthCheck => "health_check",
    Vaccination => "vaccination",
    StartCourse => "start_course",
    Other => "other",
});

wire_enum!(ErasureReason { Art17Request => "art17_request", RetentionExpired => "retention_expired" });

/// A birth year as registered: a year, or `unknown`. Unknown birth dates are common among refugees;
/// registries then enter 1 January of a guessed year, or nothing at all. The ledger records the
/// second case as `unknown` rather than guessing a year, and indicators that depend on age leave
/// such persons out (and say how many).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BirthYear {
    Known(i32),
    Unknown,
}

impl BirthYear {
    /// The year, when known.
    pub fn year(&self) -> Option<i32> {
        match self {
            BirthYear::Known(year) => Some(*year),
            BirthYear::Unknown => None,
        }
    }
}

impl From<i32> for BirthYear {
    fn from(year: i32) -> Self {
        BirthYear::Known(year)
    }
}

impl std::fmt::Display for BirthYear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BirthYear::Known(year) => write!(f, "{year}"),
            BirthYear::Unknown => f.write_str("unknown"),
        }
    }
}

/// On the wire a known year is a JSON integer and an unknown one the string `unknown`.
impl Serialize for BirthYear {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BirthYear::Known(year) => serializer.serialize_i32(*year),
            BirthYear::Unknown => serializer.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for BirthYear {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = BirthYear;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a year such as 1990, or the string `unknown`")
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<BirthYear, E> {
                i32::try_from(value).map(BirthYear::Known).map_err(|_| {
                    E::custom(format!(
                        "{value} is not a year; give a year such as 1990, or `unknown`"
                    ))
                })
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<BirthYear, E> {
                i64::try_from(value)
                    .map_err(|_| E::custom(format!("{value} is not a year")))
                    .and_then(|value| self.visit_i64(value))
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<BirthYear, E> {
                if value == "unknown" {
                    Ok(BirthYear::Unknown)
                } else {
                    Err(E::custom(format!(
                        "`{value}` is neither a year nor `unknown`; give a year such as 1990 as a number, or `unknown`"
                    )))
                }
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for BirthYear {
    fn schema_name() -> Cow<'static, str> {
        "BirthYear".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A year of birth (1900 to 2100), or `unknown` when no registry knows it.",
            "oneOf": [
                {"type": "integer", "format": "int32"},
                {"type": "string", "const": "unknown"}
            ]
        })
    }
}
