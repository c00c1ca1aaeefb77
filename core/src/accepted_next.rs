//! Which event types a person's stream would accept next, asked of the rules themselves.
//!
//! The rules know no list of "what may follow what": they check one proposed event against a state.
//! So this module does not keep such a list either (it would be a second source of truth that drifts
//! from [`rules::decide`]). Instead it builds, for every event type, the few candidate events that
//! the person's state makes meaningful, dated today (the latest date the rules allow, so every
//! "not before" rule is as permissive as it can be), and asks [`rules::decide`] about each one. A
//! type is accepted next when at least one of its candidates is accepted.
//!
//! The candidates differ only where the rules look at the payload: an end names each spell that is
//! open (a course, measure, training, employment, mentor, benefit kind, consent; a withdrawal also
//! names an unknown consent), a start names an id that is not open, benefits are tried for every kind, and a correction or retraction names the
//! latest event that may be corrected. Every other field gets a neutral value (`unknown` or `other`
//! where the catalogue has one), because no rule reads it.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::catalogue::*;
use crate::clock::Clock;
use crate::rules::{self, JourneyEvent, JourneyState};

/// The event types `state` would accept as its next event today, in catalogue order.
pub fn accepted_next(state: &JourneyState, clock: &dyn Clock) -> Vec<EventType> {
    let today = clock.today();
    EventType::ALL
        .iter()
        .copied()
        .filter(|event_type| {
            candidates(state, *event_type)
                .into_iter()
                .any(|event| accepted(state, today, event, clock))
        })
        .collect()
}

fn accepted(state: &JourneyState, today: NaiveDate, event: Event, clock: &dyn Clock) -> bool {
    // The candidate's id only has to differ from the recorded ones; the nil id never names an
    // event the ledger wrote, because the ledger gives every event a random (v4 or v7) id.
    let candidate = JourneyEvent::new(Uuid::nil(), today, event);
    rules::decide(state, std::slice::from_ref(&candidate), clock).is_ok()
}

/// An id for a new spell that is not among the open ones (so the start is not refused as already
/// open only because of the id this module happened to pick).
fn fresh_id<'a>(open: impl Iterator<Item = &'a String> + Clone) -> String {
    (1_u32..)
        .map(|n| format!("new-{n}"))
        .find(|id| !open.clone().any(|open_id| open_id == id))
        .unwrap_or_else(|| "new".to_owned())
}

/// The candidates of one event type for this state (see the module documentation).
fn candidates(state: &JourneyState, event_type: EventType) -> Vec<Event> {
    let open_courses = || state.open_courses().keys().cloned();
    match event_type {
        EventType::PersonRegistered => vec![PersonRegistered {
            birth_year: BirthYear::Unknown,
            sex: Sex::Unknown,
            nationality: "unknown".into(),
            languages: Vec::new(),
            household_id: None,
        }
        .into()],
        EventType::ArrivalRecorded => vec![ArrivalRecorded {
            entry_date: None,
            origin: Origin::Unknown,
            accommodation: Accommodation::Other,
            district: "unknown".into(),
        }
        .into()],
        EventType::AsylumApplicationFiled => vec![AsylumApplicationFiled {}.into()],
        EventType::AsylumDecisionIssued => vec![AsylumDecisionIssued {
            outcome: AsylumOutcome::Rejected,
        }
        .into()],
        EventType::ResidenceStatusChanged => vec![ResidenceStatusChanged {
            status: ResidenceStatus::Other,
            legal_basis: None,
            valid_until: None,
            work_permitted: false,
        }
        .into()],
        EventType::ResidenceObligationSet => vec![ResidenceObligationSet { until: None }.into()],
        EventType::ResidenceObligationLifted => vec![ResidenceObligationLifted {
            reason: ObligationLiftReason::Other,
        }
        .into()],
        EventType::AddressChanged => vec![AddressChanged {
            district: "unknown".into(),
            accommodation: Accommodation::Other,
        }
        .into()],
        EventType::MovedAway => vec![MovedAway {
            destination: Destination::Unknown,
        }
        .into()],
        EventType::CourseEntitlementIssued => vec![CourseEntitlementIssued {
            kind: EntitlementKind::Entitlement,
            issuer: EntitlementIssuer::Bamf,
        }
        .into()],
        EventType::CourseRegistered => vec![CourseRegistered {
            course_id: fresh_id(state.open_courses().keys()),
            course_type: CourseType::General,
            provider: "unknown".into(),
        }
        .into()],
        EventType::CourseStarted => open_courses()
            .map(|course_id| CourseStarted { course_id }.into())
            .collect(),
        EventType::CourseCompleted => open_courses()
            .map(|course_id| CourseCompleted { course_id }.into())
            .collect(),
        EventType::CourseLeftEarly => open_courses()
            .map(|course_id| {
                CourseLeftEarly {
                    course_id,
                    reason: LeaveReason::Unknown,
                }
                .into()
            })
            .collect(),
        EventType::LanguageTestTaken => vec![LanguageTestTaken {
            exam: Exam::Other,
            level: Level::BelowA2,
            first_attempt: true,
        }
        .into()],
        EventType::OrientationTestTaken => vec![OrientationTestTaken { passed: false }.into()],
        EventType::KitaPlaceRequested => vec![KitaPlaceRequested {}.into()],
        EventType::KitaStarted => vec![KitaStarted {}.into()],
        EventType::KitaEnded => vec![KitaEnded {}.into()],
        EventType::SchoolEnrolled => vec![SchoolEnrolled {
            school_type: SchoolType::Other,
            language_class: false,
        }
        .into()],
        EventType::MovedToRegularClass => vec![MovedToRegularClass {}.into()],
        EventType::SchoolLeft => vec![SchoolLeft {
            certificate: Certificate::Unknown,
        }
        .into()],
        EventType::BenefitsStarted => BenefitKind::ALL
            .iter()
            .map(|kind| BenefitsStarted { kind: *kind }.into())
            .collect(),
        EventType::BenefitsEnded => state
            .open_benefits()
            .keys()
            .map(|kind| BenefitsEnded { kind: *kind }.into())
            .collect(),
        EventType::CooperationPlanAgreed => vec![CooperationPlanAgreed {
            agency: Agency::Jobcenter,
        }
        .into()],
        EventType::MeasureStarted => vec![MeasureStarted {
            measure_id: fresh_id(state.open_measures().keys()),
            measure_type: MeasureType::Other,
        }
        .into()],
        EventType::MeasureEnded => state
            .open_measures()
            .keys()
            .map(|measure_id| {
                MeasureEnded {
                    measure_id: measure_id.clone(),
                    outcome: EndOutcome::Completed,
                }
                .into()
            })
            .collect(),
        EventType::RecognitionApplied => vec![RecognitionApplied {
            occupation_code: "unknown".into(),
            regulated: false,
        }
        .into()],
        EventType::RecognitionDecided => vec![RecognitionDecided {
            outcome: RecognitionOutcome::Negative,
        }
        .into()],
        EventType::TrainingStarted => vec![TrainingStarted {
            training_id: fresh_id(state.open_trainings().keys()),
            occupation_code: "unknown".into(),
        }
        .into()],
        EventType::TrainingEnded => state
            .open_trainings()
            .keys()
            .map(|training_id| {
                TrainingEnded {
                    training_id: training_id.clone(),
                    outcome: EndOutcome::Completed,
                }
                .into()
            })
            .collect(),
        EventType::EmploymentStarted => vec![EmploymentStarted {
            employment_id: fresh_id(state.open_employments().keys()),
            kind: EmploymentKind::Marginal,
            occupation_code: None,
            weekly_hours: None,
        }
        .into()],
        EventType::EmploymentEnded => state
            .open_employments()
            .keys()
            .map(|employment_id| {
                EmploymentEnded {
                    employment_id: employment_id.clone(),
                }
                .into()
            })
            .collect(),
        EventType::CounsellingContact => vec![CounsellingContact {
            agency: Agency::Sozialarbeit,
            topic: Topic::Other,
            base: None,
        }
        .into()],
        EventType::ReferralMade => vec![ReferralMade {
            to_agency: Agency::Jobcenter,
            topic: Topic::Other,
        }
        .into()],
        EventType::MentorRequested => vec![MentorRequested {}.into()],
        EventType::MentorAssigned => vec![MentorAssigned {
            mentor_id: fresh_id(state.active_mentors().keys()),
        }
        .into()],
        EventType::MentoringEnded => state
            .active_mentors()
            .keys()
            .map(|mentor_id| {
                MentoringEnded {
                    mentor_id: mentor_id.clone(),
                }
                .into()
            })
            .collect(),
        EventType::ChecklistItemCompleted => vec![ChecklistItemCompleted {
            item: ChecklistItem::Other,
        }
        .into()],
        EventType::ConsentGiven => vec![ConsentGiven {
            consent_id: fresh_id(state.consents().keys()),
            recipients: Vec::new(),
            purpose: "unknown".into(),
            form_version: "unknown".into(),
        }
        .into()],
        // Every active consent, and one the state does not know: after erasure the rules accept
        // any withdrawal, because nothing is left to check it against.
        EventType::ConsentWithdrawn => state
            .consents()
            .keys()
            .cloned()
            .chain([fresh_id(state.consents().keys())])
            .map(|consent_id| ConsentWithdrawn { consent_id }.into())
            .collect(),
        EventType::EventCorrected => latest_correctable(state)
            .map(|latest| {
                EventCorrected {
                    target_event_id: latest.id,
                    replacement: Replacement {
                        event_type: latest.event_type().name().to_owned(),
                        occurred_on: latest.occurred_on,
                        data: latest.event.to_data(),
                    },
                    reason: "unchanged".into(),
                }
                .into()
            })
            .into_iter()
            .collect(),
        EventType::EventRetracted => latest_correctable(state)
            .map(|latest| {
                EventRetracted {
                    target_event_id: latest.id,
                    reason: "retracted".into(),
                }
                .into()
            })
            .into_iter()
            .collect(),
        EventType::PersonalDataErased => vec![PersonalDataErased {
            reason: ErasureReason::Art17Request,
        }
        .into()],
    }
}

/// The latest event of the effective history that a correction or retraction may name: the
/// newest is the one least likely to break what follows it, since nothing does.
fn latest_correctable(state: &JourneyState) -> Option<&JourneyEvent> {
    state
        .effective_events()
        .into_iter()
        .rev()
        .find(|event| !event.event_type().is_governance())
}
