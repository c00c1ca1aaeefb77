//! GraphQL enums for the catalogue's enumerations, so that an unknown value is rejected by
//! GraphQL validation before any resolver runs. Each mirrors the core enum of the same name value
//! for value (the conversions are generated, so adding a core value without adding it here fails to
//! compile). GraphQL names are the wire values in upper case (`SOCIAL_INSURANCE_FULL`).

use async_graphql::Enum;
use journey_core::catalogue;
use journey_core::envelope;
use journey_core::offers;
use journey_core::registers;
use journey_core::volunteers;
use journey_projections::{kpi, view};
use serde_json::Value;

use super::inputs::WireValue;

macro_rules! mirror_enum {
    ($(#[$meta:meta])* $module:ident :: $name:ident { $($variant:ident $(= $graphql:literal)?),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[graphql(name = $graphql)])? $variant,)+
        }

        impl From<$name> for $module::$name {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $module::$name::$variant,)+
                }
            }
        }

        impl From<$module::$name> for $name {
            fn from(value: $module::$name) -> Self {
                match value {
                    $($module::$name::$variant => $name::$variant,)+
                }
            }
        }
    };
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident $(= $graphql:literal)?),+ $(,)? }) => {
        mirror_enum!($(#[$meta])* catalogue::$name { $($variant $(= $graphql)?),+ });

        impl WireValue for $name {
            fn wire(&self) -> Option<Value> {
                Some(Value::String(catalogue::$name::from(*self).as_str().to_owned()))
            }
        }

        #[cfg(test)]
        impl $name {
            /// Checks that every GraphQL name is the wire value in upper case.
            fn check_names() {
                for item in <$name as async_graphql::resolver_utils::EnumType>::items() {
                    let wire = catalogue::$name::from(item.value).as_str().to_uppercase();
                    assert_eq!(item.name, wire, "{}", stringify!($name));
                }
            }
        }
    };
}

wire_enum!(
    /// The agencies of the prevention chain.
    Agency { Kommune, Auslaenderbehoerde, Jobcenter, Arbeitsagentur, Bildungsbuero, Jugendamt, Sozialarbeit, Ehrenamt, Wohnungsbau, Caritas, Diakonie, Drk, Awo, Vereine }
);
wire_enum!(Sex {
    Female,
    Male,
    Diverse,
    Unknown
});
wire_enum!(Origin {
    ReceptionCentre,
    OtherMunicipality,
    Abroad,
    Unknown
});
wire_enum!(Accommodation {
    Shared,
    Flat,
    Other
});
wire_enum!(AsylumOutcome { AsylumArt16a = "ASYLUM_ART16A", Refugee3, Subsidiary4, DeportationBan, Rejected, Dublin });
wire_enum!(ResidenceStatus {
    Gestattung,
    Duldung,
    Aufenthaltserlaubnis,
    Niederlassungserlaubnis,
    Eingebuergert,
    Other
});
wire_enum!(ObligationLiftReason {
    Employment,
    Training,
    Family,
    Expired,
    Other
});
wire_enum!(Destination {
    OtherMunicipality,
    Abroad,
    Unknown
});
wire_enum!(EntitlementKind {
    Entitlement,
    Obligation
});
wire_enum!(EntitlementIssuer {
    Bamf,
    Auslaenderbehoerde,
    Jobcenter,
    Asylblg
});
wire_enum!(CourseType {
    General,
    Alpha,
    Youth,
    Parents,
    Women,
    Intensive,
    SecondScript,
    JobB1,
    JobB2,
    JobC1
});
wire_enum!(LeaveReason {
    Employment,
    Moved,
    Illness,
    Childcare,
    Other,
    Unknown
});
wire_enum!(Exam {
    Dtz,
    Dtb,
    Telc,
    Goethe,
    Other
});
wire_enum!(Level {
    BelowA2,
    A2,
    B1,
    B2,
    C1,
    C2
});
wire_enum!(SchoolType {
    Primary,
    Secondary,
    Vocational,
    Other
});
wire_enum!(Certificate {
    None,
    Hauptschule,
    Realschule,
    Abitur,
    Unknown
});
wire_enum!(BenefitKind { Asylblg, Sgb2 = "SGB2", Sgb3 = "SGB3" });
wire_enum!(MeasureType {
    Activation,
    Qualification,
    Internship,
    Coaching,
    Other
});
wire_enum!(EndOutcome { Completed, Aborted });
wire_enum!(RecognitionOutcome {
    Full,
    Partial,
    CompensationMeasure,
    Negative
});
wire_enum!(EmploymentKind {
    SocialInsuranceFull,
    SocialInsurancePart,
    Marginal,
    SelfEmployed
});
wire_enum!(Topic {
    Language,
    Work,
    Housing,
    Health,
    Education,
    Legal,
    Family,
    Other
});
wire_enum!(ChecklistItem {
    StartFolder,
    CompetenceAssessment,
    HealthCheck,
    Vaccination,
    StartCourse,
    Other
});
wire_enum!(ErasureReason { Art17Request = "ART17_REQUEST", RetentionExpired });

mirror_enum!(
    /// A register of coded values: `AREAS` (Salzgitter's Ortschaften), `DISTRICTS` (the districts a
    /// person lives in, each naming its area as parent), `PROVIDERS` (course providers).
    registers::RegisterKind { Areas, Districts, Providers }
);

mirror_enum!(
    /// What an offer makes available.
    offers::OfferKind { CoursePlaces, KitaPlaces, CounsellingHours }
);

mirror_enum!(
    /// Why an offer was withdrawn.
    offers::WithdrawalReason { Cancelled, RecordedInError, Other }
);

mirror_enum!(
    /// How full-time staff supported a volunteer.
    volunteers::SupportKind { Supervision, Training }
);

mirror_enum!(
    /// How a volunteer's work was recognised.
    volunteers::AppreciationKind { Certificate, Event, VolunteerCard, Other }
);

/// Why a volunteer stopped (`EndReason` of `journey_core::volunteers`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolunteerEndReason {
    NoTime,
    MovedAway,
    Overburdened,
    Other,
}

impl From<VolunteerEndReason> for volunteers::EndReason {
    fn from(value: VolunteerEndReason) -> Self {
        match value {
            VolunteerEndReason::NoTime => volunteers::EndReason::NoTime,
            VolunteerEndReason::MovedAway => volunteers::EndReason::MovedAway,
            VolunteerEndReason::Overburdened => volunteers::EndReason::Overburdened,
            VolunteerEndReason::Other => volunteers::EndReason::Other,
        }
    }
}

mirror_enum!(
    /// The role an event's actor acted in.
    envelope::ActorRole { Caseworker, Coordinator, Analyst, Auditor, Admin, System }
);

mirror_enum!(
    /// A stage of the prevention chain (see `schemas/kpis.json`, `chain_funnel`): the furthest
    /// stage reached by the reporting date.
    view::Stage { Registered, Arrival, Entitlement, Course, B1, MeasureOrTraining, Employment }
);

mirror_enum!(
    /// Where a person stands with language courses: the state of their latest registration.
    view::CourseStatus { None, Waiting, InCourse, Completed, LeftEarly, MovedAway }
);

mirror_enum!(
    /// The person's protection or residence situation (the `protection_status` dimension).
    view::ProtectionStatus {
        InProcedure,
        Refugee,
        SubsidiaryProtection,
        DeportationBan,
        TemporaryProtection,
        Rejected,
        Tolerated,
        OtherPermit,
        Settled,
        Naturalised,
        Other
    }
);

mirror_enum!(
    /// A kind of activity that makes a person active on a day.
    view::ActivityKind { Course, Measure, Training, Employment, School, Kita }
);

mirror_enum!(
    /// A disaggregation of an indicator.
    kpi::Dimension { District, Sex, AgeBand, Nationality, ArrivalCohort, YearsSinceArrival, YearsSinceEntry, ProtectionStatus, Area, CurrentDistrict }
);

mirror_enum!(
    /// What an indicator counts.
    kpi::CountingUnit { Persons, Events, Volunteers }
);

/// An event type of the catalogue; the values are the wire names (`CourseStarted`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(rename_items = "PascalCase")]
pub enum EventType {
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
    PersonalDataErased,
}

impl EventType {
    /// The catalogue's type of the same name.
    pub fn core(&self) -> catalogue::EventType {
        // Both enums list the same names; the test below checks that every one maps.
        let name = format!("{self:?}");
        catalogue::EventType::from_name(&name)
            .unwrap_or_else(|| unreachable!("EventType {name} mirrors the catalogue"))
    }
}

/// The role of a token.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Caseworker,
    Coordinator,
    Analyst,
    Auditor,
    Admin,
    Replication,
    Replica,
}

impl From<crate::auth::Role> for Role {
    fn from(role: crate::auth::Role) -> Self {
        match role {
            crate::auth::Role::Caseworker => Role::Caseworker,
            crate::auth::Role::Coordinator => Role::Coordinator,
            crate::auth::Role::Analyst => Role::Analyst,
            crate::auth::Role::Auditor => Role::Auditor,
            crate::auth::Role::Admin => Role::Admin,
            crate::auth::Role::Replication => Role::Replication,
            crate::auth::Role::Replica => Role::Replica,
        }
    }
}

/// How an event of a timeline stands after corrections and retractions.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// In force as recorded.
    Effective,
    /// Replaced by a later `EventCorrected`; the replacement is in force.
    Corrected,
    /// Withdrawn by a later `EventRetracted`.
    Retracted,
    /// A consent, correction, retraction or erasure: about the record, not the journey.
    Governance,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_names_are_the_wire_values_in_upper_case() {
        Agency::check_names();
        Sex::check_names();
        Origin::check_names();
        Accommodation::check_names();
        AsylumOutcome::check_names();
        ResidenceStatus::check_names();
        ObligationLiftReason::check_names();
        Destination::check_names();
        EntitlementKind::check_names();
        EntitlementIssuer::check_names();
        CourseType::check_names();
        LeaveReason::check_names();
        Exam::check_names();
        Level::check_names();
        SchoolType::check_names();
        Certificate::check_names();
        BenefitKind::check_names();
        MeasureType::check_names();
        EndOutcome::check_names();
        RecognitionOutcome::check_names();
        EmploymentKind::check_names();
        Topic::check_names();
        ChecklistItem::check_names();
        ErasureReason::check_names();
    }

    #[test]
    fn every_catalogue_event_type_is_mirrored() {
        let items = <EventType as async_graphql::resolver_utils::EnumType>::items();
        assert_eq!(items.len(), catalogue::EventType::ALL.len());
        for item in items {
            assert_eq!(item.name, item.value.core().name());
        }
    }
}
