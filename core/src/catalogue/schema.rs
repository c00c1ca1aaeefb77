//! JSON Schema of every event type and version, generated from the code into `schemas/events/`.

use schemars::{schema_for, Schema};

use super::legacy::{EmploymentStartedV1, PersonRegisteredV1};
use super::*;

/// One schema file: `<Type>.v<version>.schema.json`.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    pub file_name: String,
    pub schema: Schema,
}

macro_rules! current_schema {
    ($event_type:expr, $($variant:ident),+) => {
        match $event_type {
            $(EventType::$variant => schema_for!($variant),)+
        }
    };
}

fn current(event_type: EventType) -> Schema {
    current_schema!(
        event_type,
        PersonRegistered,
        ArrivalRecorded,
        AsylumApplicationFiled,
        AsylumDecisionIssued,
        ResidenceStatusChanged,
        ResidenceObligationSet,
        ResidenceObligationLifted,
        AddressChanged,
        MovedAway,
        CourseEntitlementIssued,
        CourseRegistered,
        CourseStarted,
        CourseCompleted,
        CourseLeftEarly,
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
        MeasureStarted,
        MeasureEnded,
        RecognitionApplied,
        RecognitionDecided,
        TrainingStarted,
        TrainingEnded,
        EmploymentStarted,
        EmploymentEnded,
        CounsellingContact,
        ReferralMade,
        MentorRequested,
        MentorAssigned,
        MentoringEnded,
        ChecklistItemCompleted,
        ConsentGiven,
        ConsentWithdrawn,
        EventCorrected,
        EventRetracted,
        PersonalDataErased
    )
}

fn legacy(event_type: EventType, version: u32) -> Option<Schema> {
    match (event_type, version) {
        (EventType::EmploymentStarted, 1) => Some(schema_for!(EmploymentStartedV1)),
        (EventType::PersonRegistered, 1) => Some(schema_for!(PersonRegisteredV1)),
        _ => None,
    }
}

/// Every schema file, for every type and every version, in a stable order.
pub fn all() -> Vec<SchemaFile> {
    let mut files = Vec::new();
    for event_type in EventType::ALL {
        let current_version = event_type.current_version();
        for version in 1..=current_version {
            let mut schema = if version == current_version {
                current(*event_type)
            } else {
                legacy(*event_type, version).unwrap_or_else(|| {
                    panic!("{event_type} v{version} has no legacy type to generate its schema from")
                })
            };
            schema.insert(
                "title".into(),
                format!("{} v{version}", event_type.name()).into(),
            );
            schema.insert(
                "$id".into(),
                format!("journey:event/{}/v{version}", event_type.name()).into(),
            );
            files.push(SchemaFile {
                file_name: format!("{}.v{version}.schema.json", event_type.name()),
                schema,
            });
        }
    }
    files
}

/// The text written to a schema file: pretty JSON with a trailing newline.
pub fn render(file: &SchemaFile) -> String {
    let mut text = serde_json::to_string_pretty(&file.schema).unwrap_or_default();
    text.push('\n');
    text
}
