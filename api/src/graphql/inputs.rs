//! The inputs of the mutations: one input object per caseworker action of the catalogue.
//!
//! Each input carries the envelope (`personId`, `eventId`, `occurredOn`, `expectedRevision`,
//! correlation and causation ids) and the payload's fields as typed GraphQL fields. The payload is
//! turned into its wire JSON ([`RecordInput::data`]) and decoded by `journey_core::catalogue::decode`,
//! the same path an import takes, so every field check lives in core and names the field.

use async_graphql::{InputObject, Json, ID};
use journey_core::catalogue::EventType as CoreEventType;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::enums::*;
use super::scalars::{BirthYear, Date};

/// A value as it appears in an event's wire JSON; `None` leaves the field out.
pub trait WireValue {
    fn wire(&self) -> Option<Value>;
}

impl WireValue for String {
    fn wire(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }
}

impl WireValue for bool {
    fn wire(&self) -> Option<Value> {
        Some(Value::Bool(*self))
    }
}

impl WireValue for i32 {
    fn wire(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
}

impl WireValue for BirthYear {
    fn wire(&self) -> Option<Value> {
        serde_json::to_value(self.0).ok()
    }
}

impl WireValue for Date {
    fn wire(&self) -> Option<Value> {
        Some(Value::String(self.0.format("%Y-%m-%d").to_string()))
    }
}

impl WireValue for Uuid {
    fn wire(&self) -> Option<Value> {
        Some(Value::String(self.to_string()))
    }
}

impl<T: WireValue> WireValue for Option<T> {
    fn wire(&self) -> Option<Value> {
        self.as_ref().and_then(WireValue::wire)
    }
}

impl<T: WireValue> WireValue for Vec<T> {
    fn wire(&self) -> Option<Value> {
        Some(Value::Array(
            self.iter().filter_map(WireValue::wire).collect(),
        ))
    }
}

/// The envelope of a proposed event, as the client gave it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub person_id: Option<ID>,
    pub event_id: Uuid,
    pub occurred_on: Date,
    pub expected_revision: Option<u64>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

/// Implemented by every mutation input.
pub trait RecordInput {
    const TYPE: CoreEventType;
    fn envelope(&self) -> Envelope;
    /// The payload in wire form (snake_case field names, enumerations as wire strings).
    fn data(&self) -> Value;
}

macro_rules! event_input {
    ($(#[$meta:meta])* $input:ident => $event_type:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(InputObject, Debug, Clone)]
        pub struct $input {
            /// The person: `person-<uuid>` or the bare uuid.
            pub person_id: ID,
            /// A new uuid for this event, chosen by the client. Sending the same id with the same content
            /// again (a retry) returns the original receipt with `alreadyRecorded: true`.
            pub event_id: Uuid,
            /// The business date the event happened on (not in the future).
            pub occurred_on: Date,
            /// When given, the event is recorded only if the person's stream is at exactly this revision;
            /// otherwise the error is CONFLICT with `currentRevision`.
            pub expected_revision: Option<u64>,
            pub correlation_id: Option<Uuid>,
            pub causation_id: Option<Uuid>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl RecordInput for $input {
            const TYPE: CoreEventType = CoreEventType::$event_type;

            fn envelope(&self) -> Envelope {
                Envelope {
                    person_id: Some(self.person_id.clone()),
                    event_id: self.event_id,
                    occurred_on: self.occurred_on,
                    expected_revision: self.expected_revision,
                    correlation_id: self.correlation_id,
                    causation_id: self.causation_id,
                }
            }

            #[allow(unused_mut)]
            fn data(&self) -> Value {
                let mut fields = Map::new();
                $(
                    if let Some(value) = WireValue::wire(&self.$field) {
                        fields.insert(stringify!($field).to_owned(), value);
                    }
                )*
                Value::Object(fields)
            }
        }
    };
}

/// Direct identifiers of a person, stored only in the encrypted personal-data vault.
#[derive(InputObject, Debug, Clone)]
pub struct PersonalDataInput {
    pub given_names: String,
    pub family_name: String,
    pub birth_date: Option<Date>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// Registers a person: the first event of their stream.
#[derive(InputObject, Debug, Clone)]
pub struct RegisterPersonInput {
    /// The new person's id; when left out it is derived from `eventId`, so a retry registers the same
    /// person.
    pub person_id: Option<ID>,
    /// A new uuid for this event (the idempotency key).
    pub event_id: Uuid,
    pub occurred_on: Date,
    /// Defaults to "the stream must not exist yet".
    pub expected_revision: Option<u64>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// A year such as 1990, or "unknown" when no registry knows it.
    pub birth_year: BirthYear,
    pub sex: Sex,
    /// ISO 3166-1 alpha-3 (`SYR`), or `unknown`.
    pub nationality: String,
    /// ISO 639-1 codes (`ar`, `ku`).
    pub languages: Vec<String>,
    pub household_id: Option<Uuid>,
    /// Names, birth date, phone and address: sealed into the vault, never into an event.
    pub personal_data: Option<PersonalDataInput>,
}

impl RecordInput for RegisterPersonInput {
    const TYPE: CoreEventType = CoreEventType::PersonRegistered;

    fn envelope(&self) -> Envelope {
        Envelope {
            person_id: self.person_id.clone(),
            event_id: self.event_id,
            occurred_on: self.occurred_on,
            expected_revision: self.expected_revision,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        }
    }

    fn data(&self) -> Value {
        let mut fields = Map::new();
        let entries: [(&str, Option<Value>); 5] = [
            ("birth_year", self.birth_year.wire()),
            ("sex", self.sex.wire()),
            ("nationality", self.nationality.wire()),
            ("languages", self.languages.wire()),
            ("household_id", self.household_id.wire()),
        ];
        for (name, value) in entries {
            if let Some(value) = value {
                fields.insert(name.to_owned(), value);
            }
        }
        Value::Object(fields)
    }
}

/// What a corrected event should have said.
#[derive(InputObject, Debug, Clone)]
pub struct ReplacementInput {
    /// The type of the corrected event (a correction cannot change it into a governance event).
    #[graphql(name = "type")]
    pub event_type: EventType,
    pub occurred_on: Date,
    /// The replacement payload in wire form (snake_case fields), at the type's current version.
    pub data: Json<Value>,
}

impl WireValue for ReplacementInput {
    fn wire(&self) -> Option<Value> {
        let mut fields = Map::new();
        fields.insert(
            "type".into(),
            Value::String(self.event_type.core().name().to_owned()),
        );
        fields.insert("occurred_on".into(), self.occurred_on.wire()?);
        fields.insert("data".into(), self.data.0.clone());
        Some(Value::Object(fields))
    }
}

event_input!(RecordArrivalInput => ArrivalRecorded {
    /// The date of entry into Germany, when known.
    entry_date: Option<Date>,
    origin: Origin,
    accommodation: Accommodation,
    district: String,
});
event_input!(FileAsylumApplicationInput => AsylumApplicationFiled {});
event_input!(RecordAsylumDecisionInput => AsylumDecisionIssued { outcome: AsylumOutcome });
event_input!(ChangeResidenceStatusInput => ResidenceStatusChanged {
    status: ResidenceStatus,
    /// For example `§25(2)` or `§24`.
    legal_basis: Option<String>,
    valid_until: Option<Date>,
    work_permitted: bool,
});
event_input!(SetResidenceObligationInput => ResidenceObligationSet { until: Option<Date> });
event_input!(LiftResidenceObligationInput => ResidenceObligationLifted { reason: ObligationLiftReason });
event_input!(ChangeAddressInput => AddressChanged { district: String, accommodation: Accommodation });
event_input!(RecordMoveAwayInput => MovedAway { destination: Destination });
event_input!(IssueCourseEntitlementInput => CourseEntitlementIssued { kind: EntitlementKind, issuer: EntitlementIssuer });
event_input!(RegisterForCourseInput => CourseRegistered { course_id: String, course_type: CourseType, provider: String });
event_input!(StartCourseInput => CourseStarted { course_id: String });
event_input!(CompleteCourseInput => CourseCompleted { course_id: String });
event_input!(LeaveCourseEarlyInput => CourseLeftEarly { course_id: String, reason: LeaveReason });
event_input!(RecordLanguageTestInput => LanguageTestTaken { exam: Exam, level: Level, first_attempt: bool });
event_input!(RecordOrientationTestInput => OrientationTestTaken { passed: bool });
event_input!(RequestKitaPlaceInput => KitaPlaceRequested {});
event_input!(StartKitaInput => KitaStarted {});
event_input!(EndKitaInput => KitaEnded {});
event_input!(EnrolInSchoolInput => SchoolEnrolled { school_type: SchoolType, language_class: bool });
event_input!(MoveToRegularClassInput => MovedToRegularClass {});
event_input!(LeaveSchoolInput => SchoolLeft { certificate: Certificate });
event_input!(StartBenefitsInput => BenefitsStarted { kind: BenefitKind });
event_input!(EndBenefitsInput => BenefitsEnded { kind: BenefitKind });
event_input!(AgreeCooperationPlanInput => CooperationPlanAgreed { agency: Agency });
event_input!(StartMeasureInput => MeasureStarted { measure_id: String, measure_type: MeasureType });
event_input!(EndMeasureInput => MeasureEnded { measure_id: String, outcome: EndOutcome });
event_input!(ApplyForRecognitionInput => RecognitionApplied {
    /// KldB 2010 occupation code, 1 to 5 digits.
    occupation_code: String,
    regulated: bool,
});
event_input!(DecideRecognitionInput => RecognitionDecided { outcome: RecognitionOutcome });
event_input!(StartTrainingInput => TrainingStarted { training_id: String, occupation_code: String });
event_input!(EndTrainingInput => TrainingEnded { training_id: String, outcome: EndOutcome });
event_input!(StartEmploymentInput => EmploymentStarted {
    employment_id: String,
    kind: EmploymentKind,
    occupation_code: Option<String>,
    /// Agreed weekly hours, 1 to 80.
    weekly_hours: Option<i32>,
});
event_input!(EndEmploymentInput => EmploymentEnded { employment_id: String });
event_input!(RecordCounsellingContactInput => CounsellingContact {
    agency: Agency,
    topic: Topic,
    /// The base the contact took place at (for example `startpunkt-sz`, the neighbourhood base
    /// Start.Punkt.SZ); leave it out for a contact at the agency's own office.
    base: Option<String>,
});
event_input!(MakeReferralInput => ReferralMade { to_agency: Agency, topic: Topic });
event_input!(RequestMentorInput => MentorRequested {});
event_input!(AssignMentorInput => MentorAssigned {
    /// The pseudonymous volunteer id: `volunteer-<uuid>` for a volunteer of the register.
    mentor_id: String,
});
event_input!(EndMentoringInput => MentoringEnded { mentor_id: String });
event_input!(CompleteChecklistItemInput => ChecklistItemCompleted { item: ChecklistItem });
event_input!(GiveConsentInput => ConsentGiven {
    consent_id: String,
    /// The agencies that may see the person under this consent.
    recipients: Vec<Agency>,
    purpose: String,
    form_version: String,
});
event_input!(WithdrawConsentInput => ConsentWithdrawn { consent_id: String });
event_input!(CorrectEventInput => EventCorrected {
    target_event_id: Uuid,
    replacement: ReplacementInput,
    reason: String,
});
event_input!(RetractEventInput => EventRetracted { target_event_id: Uuid, reason: String });
event_input!(ErasePersonInput => PersonalDataErased { reason: ErasureReason });

/// One event of an `appendEvents` batch, in wire form.
#[derive(InputObject, Debug, Clone)]
pub struct EventInput {
    pub event_id: Uuid,
    #[graphql(name = "type")]
    pub event_type: EventType,
    /// The payload's version; defaults to the type's current version. Older versions are upcast.
    pub version: Option<u32>,
    pub occurred_on: Date,
    /// The payload in wire form (snake_case fields, enumerations as lower-case strings).
    pub data: Json<Value>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}
