//! The payload (`data`) of every event type, current version. Older versions live in [`super::legacy`]
//! and are upcast on read.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::types::*;
use super::validate::{check, Check};

macro_rules! payload {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }
    };
}

payload!(
    /// A person enters the ledger. Names, birth date, phone and address go to the vault, never here.
    PersonRegistered {
        /// A year, or `unknown` (version 2; version 1 knew only years).
        birth_year: BirthYear,
        sex: Sex,
        /// ISO 3166-1 alpha-3, or `unknown`.
        nationality: String,
        /// ISO 639-1 codes.
        languages: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        household_id: Option<Uuid>,
    }
);

payload!(ArrivalRecorded {
    /// The date of entry into Germany, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry_date: Option<NaiveDate>,
    origin: Origin,
    accommodation: Accommodation,
    district: String,
});

payload!(AsylumApplicationFiled {});

payload!(
    /// The outcome of the asylum procedure. Never the grounds.
    AsylumDecisionIssued { outcome: AsylumOutcome }
);

payload!(ResidenceStatusChanged {
    status: ResidenceStatus,
    /// For example `§25(2)` or `§24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    legal_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<NaiveDate>,
    work_permitted: bool,
});

payload!(ResidenceObligationSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<NaiveDate>,
});

payload!(ResidenceObligationLifted {
    reason: ObligationLiftReason
});

payload!(AddressChanged {
    district: String,
    accommodation: Accommodation
});

payload!(MovedAway {
    destination: Destination
});

payload!(CourseEntitlementIssued {
    kind: EntitlementKind,
    issuer: EntitlementIssuer
});

payload!(CourseRegistered {
    course_id: String,
    course_type: CourseType,
    provider: String
});

payload!(CourseStarted { course_id: String });

payload!(CourseCompleted { course_id: String });

payload!(CourseLeftEarly {
    course_id: String,
    reason: LeaveReason
});

payload!(LanguageTestTaken {
    exam: Exam,
    level: Level,
    first_attempt: bool
});

payload!(OrientationTestTaken { passed: bool });

payload!(KitaPlaceRequested {});

payload!(KitaStarted {});

payload!(KitaEnded {});

payload!(SchoolEnrolled {
    school_type: SchoolType,
    language_class: bool
});

payload!(MovedToRegularClass {});

payload!(SchoolLeft {
    certificate: Certificate
});

payload!(BenefitsStarted { kind: BenefitKind });

payload!(BenefitsEnded { kind: BenefitKind });

payload!(CooperationPlanAgreed { agency: Agency });

payload!(MeasureStarted {
    measure_id: String,
    measure_type: MeasureType
});

payload!(MeasureEnded {
    measure_id: String,
    outcome: EndOutcome
});

payload!(RecognitionApplied {
    /// KldB 2010 occupation code (1 to 5 digits).
    occupation_code: String,
    regulated: bool,
});

payload!(RecognitionDecided {
    outcome: RecognitionOutcome
});

payload!(TrainingStarted {
    training_id: String,
    occupation_code: String
});

payload!(TrainingEnded {
    training_id: String,
    outcome: EndOutcome
});

payload!(
    /// Version 2: gains the optional `weekly_hours`. Version 1 is upcast with `weekly_hours` absent.
    EmploymentStarted {
        employment_id: String,
        kind: EmploymentKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        occupation_code: Option<String>,
        /// Agreed weekly working hours (1 to 80), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weekly_hours: Option<u8>,
    }
);

payload!(EmploymentEnded {
    employment_id: String
});

payload!(
    /// A counselling contact. No free text by design.
    CounsellingContact {
        agency: Agency,
        topic: Topic,
        /// The base the contact took place at (a neighbourhood base such as Start.Punkt.SZ), as a
        /// short code; absent for a contact at the agency's own office. Optional, so every contact
        /// recorded before bases existed reads unchanged and the type keeps version 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<String>,
    }
);

payload!(ReferralMade {
    to_agency: Agency,
    topic: Topic
});

payload!(
    /// The person asked for a mentor (or a caseworker or coordinator asked for them): the start of
    /// the wait that `MentorAssigned` ends, which the coordinator's open mentor requests list.
    MentorRequested {}
);

payload!(MentorAssigned {
    /// A pseudonymous volunteer id.
    mentor_id: String,
});

payload!(MentoringEnded { mentor_id: String });

payload!(ChecklistItemCompleted {
    item: ChecklistItem
});

payload!(ConsentGiven {
    consent_id: String,
    /// The agencies that may see the person under this consent.
    recipients: Vec<Agency>,
    purpose: String,
    form_version: String,
});

payload!(ConsentWithdrawn { consent_id: String });

payload!(
    /// What a corrected event should have said.
    Replacement {
        #[serde(rename = "type")]
        event_type: String,
        occurred_on: NaiveDate,
        data: serde_json::Value,
    }
);

payload!(EventCorrected {
    target_event_id: Uuid,
    replacement: Replacement,
    reason: String
});

payload!(EventRetracted {
    target_event_id: Uuid,
    reason: String
});

payload!(PersonalDataErased {
    reason: ErasureReason
});

/// Field-level checks that serde's types cannot express. Each returns the first problem found.
pub(crate) trait Validate {
    fn validate(&self) -> Result<(), Check> {
        Ok(())
    }
}

macro_rules! no_checks {
    ($($name:ident),*) => { $(impl Validate for $name {})* };
}

no_checks!(
    AsylumApplicationFiled,
    AsylumDecisionIssued,
    ResidenceObligationSet,
    ResidenceObligationLifted,
    MovedAway,
    CourseEntitlementIssued,
    LanguageTestTaken,
    OrientationTestTaken,
    KitaPlaceRequested,
    KitaStarted,
    KitaEnded,
    SchoolEnrolled,
    MovedToRegularClass,
    SchoolLeft,
    BenefitsStarted,
    BenefitsEnded,
    CooperationPlanAgreed,
    RecognitionDecided,
    ReferralMade,
    MentorRequested,
    ChecklistItemCompleted,
    PersonalDataErased
);

impl Validate for PersonRegistered {
    fn validate(&self) -> Result<(), Check> {
        if let BirthYear::Known(year) = self.birth_year {
            check::birth_year("birth_year", year)?;
        }
        check::nationality("nationality", &self.nationality)?;
        if self.languages.len() > 16 {
            return Err(Check::new("languages", "at most 16 languages"));
        }
        for (index, language) in self.languages.iter().enumerate() {
            check::language(&format!("languages[{index}]"), language)?;
        }
        Ok(())
    }
}

impl Validate for ArrivalRecorded {
    fn validate(&self) -> Result<(), Check> {
        check::label("district", &self.district)
    }
}

impl Validate for ResidenceStatusChanged {
    fn validate(&self) -> Result<(), Check> {
        if let Some(legal_basis) = &self.legal_basis {
            check::label("legal_basis", legal_basis)?;
        }
        Ok(())
    }
}

impl Validate for AddressChanged {
    fn validate(&self) -> Result<(), Check> {
        check::label("district", &self.district)
    }
}

impl Validate for CounsellingContact {
    fn validate(&self) -> Result<(), Check> {
        match &self.base {
            Some(base) => check::identifier("base", base),
            None => Ok(()),
        }
    }
}

impl Validate for CourseRegistered {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("course_id", &self.course_id)?;
        check::label("provider", &self.provider)
    }
}

impl Validate for CourseStarted {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("course_id", &self.course_id)
    }
}

impl Validate for CourseCompleted {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("course_id", &self.course_id)
    }
}

impl Validate for CourseLeftEarly {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("course_id", &self.course_id)
    }
}

impl Validate for MeasureStarted {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("measure_id", &self.measure_id)
    }
}

impl Validate for MeasureEnded {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("measure_id", &self.measure_id)
    }
}

impl Validate for RecognitionApplied {
    fn validate(&self) -> Result<(), Check> {
        check::occupation_code("occupation_code", &self.occupation_code)
    }
}

impl Validate for TrainingStarted {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("training_id", &self.training_id)?;
        check::occupation_code("occupation_code", &self.occupation_code)
    }
}

impl Validate for TrainingEnded {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("training_id", &self.training_id)
    }
}

impl Validate for EmploymentStarted {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("employment_id", &self.employment_id)?;
        if let Some(code) = &self.occupation_code {
            check::occupation_code("occupation_code", code)?;
        }
        if let Some(hours) = self.weekly_hours {
            if !(1..=80).contains(&hours) {
                return Err(Check::new("weekly_hours", "must be between 1 and 80"));
            }
        }
        Ok(())
    }
}

impl Validate for EmploymentEnded {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("employment_id", &self.employment_id)
    }
}

impl Validate for MentorAssigned {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("mentor_id", &self.mentor_id)
    }
}

impl Validate for MentoringEnded {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("mentor_id", &self.mentor_id)
    }
}

impl Validate for ConsentGiven {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("consent_id", &self.consent_id)?;
        if self.recipients.is_empty() {
            return Err(Check::new("recipients", "name at least one agency"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for recipient in &self.recipients {
            if !seen.insert(recipient) {
                return Err(Check::new(
                    "recipients",
                    format!("agency `{recipient}` is named twice"),
                ));
            }
        }
        check::label("purpose", &self.purpose)?;
        check::label("form_version", &self.form_version)
    }
}

impl Validate for ConsentWithdrawn {
    fn validate(&self) -> Result<(), Check> {
        check::identifier("consent_id", &self.consent_id)
    }
}

impl Validate for EventCorrected {
    fn validate(&self) -> Result<(), Check> {
        check::reason("reason", &self.reason)
    }
}

impl Validate for EventRetracted {
    fn validate(&self) -> Result<(), Check> {
        check::reason("reason", &self.reason)
    }
}
