//! The role and scope matrix (SECURITY.md, "who may see what"): one row per field of `type Query`,
//! `type Mutation` and `type Subscription` (a field of the schema without a row fails
//! `every_schema_field_has_a_row`), one column per principal, and in every cell what that principal
//! gets. Queries and mutations go through `app()` with `oneshot`, subscriptions through the
//! schema's `execute_stream` (what the WebSocket route runs); every cell of an audited field is
//! also looked up in the audit store (operation, token, outcome).
//!
//! The scenario ([`World::subject`]): a person registered by a jobcenter caseworker (the owning
//! agency) with personal data, an active consent naming the Jugendamt and a withdrawn consent
//! naming Sozialarbeit, and a mentor assigned by a coordinator of the Ehrenamt. The
//! Ausländerbehörde, the Jugendamt, Sozialarbeit and the Ehrenamt's caseworkers never record an
//! event for the person and no event names them (a recorded event, a cooperation plan, a
//! counselling contact or a referral makes an agency one that works with the person, see
//! `visibility.rs`), so their columns stay what they say: stranger, consent holder, former consent
//! holder, and the coordinator's agency. The mutations' own `giveConsent` names Kommune, the
//! referral Bildungsbüro, the cooperation plan and the counselling contact the jobcenter.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::{id, Harness};
use uuid::Uuid;

/// The principals, in column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    /// No token.
    Anonymous,
    /// A caseworker of the owning agency (jobcenter).
    Owner,
    /// A caseworker of an agency that does not work with the person and holds no consent.
    Stranger,
    /// A caseworker of an agency named by an active consent (Jugendamt).
    ConsentHolder,
    /// A caseworker of an agency whose consent was withdrawn (Sozialarbeit).
    Withdrawn,
    /// A coordinator (of the Ehrenamt).
    Coordinator,
    /// A caseworker of the coordinator's agency, which never worked with the person: the mentoring
    /// a coordinator records must not open the person to them.
    CoordinatorAgency,
    Analyst,
    Auditor,
    Admin,
    /// The replication role: plain streams over the KurrentDB protocol, nothing in GraphQL.
    Replication,
}

use Col::*;

const COLUMNS: [Col; 11] = [
    Anonymous,
    Owner,
    Stranger,
    ConsentHolder,
    Withdrawn,
    Coordinator,
    CoordinatorAgency,
    Analyst,
    Auditor,
    Admin,
    Replication,
];

/// What one principal gets from one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// `extensions.code` UNAUTHENTICATED, no data, nothing written.
    Unauth,
    /// `extensions.code` FORBIDDEN, no data, nothing written.
    Forbidden,
    /// Allowed; nothing person-level in the answer.
    Allowed,
    /// The whole person: timeline, consents, personal data, status (`personEvents`: every new event).
    Full,
    /// That the person exists and their mentoring events; consents, personal data and status
    /// refused (`personEvents`: the mentoring events only).
    Mentoring,
    /// A person-level list that shows the subject.
    Listed,
    /// The same list without the subject.
    Unlisted,
    /// Keyed pseudonyms, no person id, no personal field, no free text.
    Pseudonymised,
    /// An indicator with small-cell suppression: a suppressed figure is null, never a number.
    Suppressed,
    /// An indicator without suppression (admins only).
    Unsuppressed,
    /// A mutation that passes role and visibility checks. The performer of the row writes; every
    /// other such column is probed with a stale `expectedRevision`, which the ledger refuses with
    /// CONFLICT after the authorization passed, so nothing is written.
    Writes,
    /// `registerPerson` for a person who is registered already: authorized, refused with CONFLICT.
    Conflict,
}

use Expect::*;

/// What a row runs.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// A query; `$id` (when declared) is the subject.
    Query(&'static str),
    /// A typed mutation: its input type, business date and fields (JSON; `@field` stands for the
    /// event id recorded by that earlier row). `by` performs it after every other column was tried.
    Record {
        input: &'static str,
        on: &'static str,
        data: &'static str,
        by: Option<Col>,
        new_person: bool,
    },
    /// `appendEvents` with these events (wire form; event ids are added), performed by `by`.
    Batch { events: &'static str, by: Col },
    /// A subscription; `$id` is the subject.
    Subscribe(&'static str),
    /// An offer mutation (`input` is its input type) with these fields (JSON; `@offer` stands for
    /// the offer `recordOffer` created), performed by `by`; every other authorized column sends
    /// `probe` instead, which the offer rules refuse after the role check, so nothing is written.
    Offer {
        input: &'static str,
        data: &'static str,
        probe: &'static str,
        by: Col,
    },
    /// A volunteer mutation, run like an offer's (`@volunteer` stands for the volunteer
    /// `recruitVolunteer` created, `@Mutation.x` for the event id row `Mutation.x` recorded); the
    /// probe of the other authorized columns is refused by the volunteer rules.
    Volunteer {
        input: &'static str,
        data: &'static str,
        probe: &'static str,
        by: Col,
    },
}

/// The kind of organisational stream a row writes: what its receipt calls the id, and the prefix.
#[derive(Clone, Copy, Debug)]
enum Org {
    Offer,
    Volunteer,
}

impl Org {
    fn id_field(self) -> &'static str {
        match self {
            Org::Offer => "offerId",
            Org::Volunteer => "volunteerId",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            Org::Offer => "@offer",
            Org::Volunteer => "@volunteer",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Org::Offer => "offer-",
            Org::Volunteer => "volunteer-",
        }
    }
}

struct Row {
    /// `Type.field` as in the schema.
    field: &'static str,
    op: Op,
    /// Whether every call with a token leaves an audit entry (operation = the field's name).
    audited: bool,
    cells: [Expect; 11],
}

const fn query(field: &'static str, doc: &'static str, cells: [Expect; 11]) -> Row {
    Row {
        field,
        op: Op::Query(doc),
        audited: true,
        cells,
    }
}

const fn unaudited(field: &'static str, doc: &'static str, cells: [Expect; 11]) -> Row {
    Row {
        field,
        op: Op::Query(doc),
        audited: false,
        cells,
    }
}

const fn record(
    field: &'static str,
    input: &'static str,
    on: &'static str,
    data: &'static str,
    by: Col,
    cells: [Expect; 11],
) -> Row {
    Row {
        field,
        op: Op::Record {
            input,
            on,
            data,
            by: Some(by),
            new_person: false,
        },
        audited: true,
        cells,
    }
}

const fn subscribe(field: &'static str, doc: &'static str, cells: [Expect; 11]) -> Row {
    Row {
        field,
        op: Op::Subscribe(doc),
        audited: true,
        cells,
    }
}

// Columns: anonymous, owner, stranger, consent holder, withdrawn, coordinator, coordinator's
// agency, analyst, auditor, admin, replication.

/// A caseworker mutation: the agencies that see the person (and admins).
#[rustfmt::skip]
const WRITE: [Expect; 11] = [Unauth, Writes, Forbidden, Writes, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Writes, Forbidden];
/// `assignMentor`, `endMentoring`: coordinators too.
#[rustfmt::skip]
const MENTORING: [Expect; 11] = [Unauth, Writes, Forbidden, Writes, Forbidden, Writes, Forbidden, Forbidden, Forbidden, Writes, Forbidden];
/// `erasePerson`: a consent does not suffice.
#[rustfmt::skip]
const ERASE: [Expect; 11] = [Unauth, Writes, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Writes, Forbidden];
/// Offers (organisational capacity): coordinators and admins.
#[rustfmt::skip]
const OFFERS: [Expect; 11] = [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Writes, Forbidden, Forbidden, Forbidden, Writes, Forbidden];
/// The volunteer register and the open mentor requests: coordinators and admins.
#[rustfmt::skip]
const VOLUNTEERS: [Expect; 11] = [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Writes, Forbidden, Forbidden, Forbidden, Writes, Forbidden];
/// The volunteer the query world's subject scenario recruits (`World::subject`).
const WORLD_VOLUNTEER: &str = "volunteer-00000000-0000-4000-8000-00000000beef";
/// Indicators: suppressed for every role but admins.
#[rustfmt::skip]
const INDICATOR: [Expect; 11] = [Unauth, Suppressed, Suppressed, Suppressed, Suppressed, Suppressed, Suppressed, Suppressed, Suppressed, Unsuppressed, Suppressed];

const PERSON: &str = "query($id: ID!) { person(id: $id) { id revision erased timeline { type } consents { consentId active } personalData { givenNames familyName phone address } status(asOf: \"2024-06-01\") { stage district } } }";
/// The figures of an indicator answer (`kpi`, `chainFunnel`, `kpiChanged`).
macro_rules! kpi_fields {
    () => {
        "suppressionK cells { value numerator denominator suppressed measures { value numerator denominator persons suppressed } } margins { value numerator denominator suppressed measures { value numerator denominator persons suppressed } } total { value numerator denominator suppressed measures { value numerator denominator persons suppressed } }"
    };
}

/// The matrix. Mutations run in this order on one person (a journey the rules accept).
#[rustfmt::skip]
static ROWS: &[Row] = &[
    // ---- Query ----
    unaudited("Query.me", "{ me { name role agency } }", [Allowed; 11]),
    query(
        "Query.person",
        PERSON,
        [Unauth, Full, Forbidden, Full, Forbidden, Mentoring, Forbidden, Forbidden, Forbidden, Full, Forbidden],
    ),
    query(
        "Query.events",
        "{ events(first: 1000) { edges { node { person type actor { pseudonym agency role } data } } } }",
        [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Pseudonymised, Forbidden, Pseudonymised, Forbidden],
    ),
    query(
        "Query.auditLog",
        "{ auditLog(first: 5) { edges { node { seq operation } } } }",
        [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Allowed, Allowed, Forbidden],
    ),
    query(
        "Query.people",
        "{ people(filter: {includeAbsent: true}, first: 1000) { edges { node { id status { stage district } } } } }",
        [Unauth, Listed, Unlisted, Listed, Unlisted, Forbidden, Unlisted, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.caseload",
        "{ caseload(asOf: \"2024-06-01\") { agency personCount persons caseworkers { caseworkerId persons } } }",
        // A consent lets an agency see the person, not work with them.
        [Unauth, Listed, Unlisted, Unlisted, Unlisted, Forbidden, Unlisted, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.acceptedNext",
        "query($id: ID!) { acceptedNext(personId: $id) { personId revision eventTypes } }",
        // What is open tells about the person: whom `person` shows whole.
        [Unauth, Listed, Forbidden, Listed, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.courseWaitingList",
        "{ courseWaitingList(asOf: \"2024-06-01\") { personId courseId provider } }",
        [Unauth, Listed, Unlisted, Listed, Unlisted, Forbidden, Unlisted, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.idleList",
        "{ idleList(minDays: 30, asOf: \"2024-06-01\") { personId idleDays district } }",
        // For the agencies involved with the person: a consent does not suffice.
        [Unauth, Listed, Unlisted, Unlisted, Unlisted, Forbidden, Unlisted, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.promisingApplicants",
        "{ promisingApplicants(asOf: \"2024-06-01\", first: 100) { knownAt edges { node { personId waitingDays facts { b1Level } } } } }",
        // The joint case management's: the jobcenter (owner) sees the person; every other agency
        // is refused, consent or not (the arbeitsagentur under consent: api/tests/promising.rs).
        [Unauth, Listed, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.checklistOverdue",
        "{ checklistOverdue(asOf: \"2023-03-01\", first: 100) { knownAt edges { node { personId overdue { step daysOverdue } } } } }",
        // Arrived 2023-01-10 without a start folder (due after 4 weeks): visible as the other lists.
        [Unauth, Listed, Unlisted, Listed, Unlisted, Forbidden, Unlisted, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.kpi",
        concat!("{ kpi(key: \"population_present\", asOf: \"2024-06-01\", by: [DISTRICT]) { ", kpi_fields!(), " } }"),
        INDICATOR,
    ),
    query(
        "Query.findPersons",
        "{ findPersons(name: \"haddad-testfall AMINA\", birthDate: \"1990-04-01\") { edges { node { pseudonym person { id } } } } }",
        // Whom `person` shows; analysts by pseudonym only, so a name is refused.
        [Unauth, Listed, Unlisted, Listed, Unlisted, Forbidden, Unlisted, Forbidden, Forbidden, Listed, Forbidden],
    ),
    unaudited(
        "Query.kpiCatalogue",
        "{ kpiCatalogue { key personLevel } }",
        [Unauth, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed],
    ),
    unaudited(
        "Query.registers",
        "{ registers(validOn: \"2024-06-01\") { kind entries { code parent validFrom } } }",
        [Unauth, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed],
    ),
    unaudited(
        "Query.offers",
        "{ offers(month: \"2024-09\", asOf: \"2024-06-01\") { asOf offers { offerId kind month district quantity } } }",
        [Unauth, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed, Allowed],
    ),
    query(
        "Query.volunteers",
        "{ volunteers(asOf: \"2024-06-01\") { asOf volunteers { volunteerId district active } } }",
        [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Allowed, Forbidden, Forbidden, Forbidden, Allowed, Forbidden],
    ),
    query(
        "Query.volunteer",
        "{ volunteer(id: \"volunteer-00000000-0000-4000-8000-00000000beef\") { volunteerId recruitedOn personalData { givenNames } } }",
        [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Allowed, Forbidden, Forbidden, Forbidden, Allowed, Forbidden],
    ),
    query(
        "Query.openMentorRequests",
        "{ openMentorRequests(asOf: \"2024-06-15\", first: 100) { knownAt edges { node { personId requestedOn waitingDays district } } } }",
        // The subject asked on 2024-06-01 and got a mentor on 2024-07-01: waiting on 2024-06-15.
        // Coordinators see every person's mentoring facts, so the list is theirs (and admins').
        [Unauth, Forbidden, Forbidden, Forbidden, Forbidden, Listed, Forbidden, Forbidden, Forbidden, Listed, Forbidden],
    ),
    query(
        "Query.kpi",
        concat!("{ kpi(key: \"active_volunteers\", asOf: \"2024-06-01\") { ", kpi_fields!(), " } }"),
        INDICATOR,
    ),
    query(
        "Query.chainFunnel",
        concat!("{ chainFunnel(asOf: \"2024-06-01\") { ", kpi_fields!(), " } }"),
        INDICATOR,
    ),
    // ---- Mutation ----
    // A new person: every caseworker may register one (there is no owner yet).
    Row {
        field: "Mutation.registerPerson",
        op: Op::Record {
            input: "RegisterPersonInput",
            on: "2023-01-10",
            data: r#"{"birthYear": 1988, "sex": "MALE", "nationality": "AFG", "languages": ["fa"], "personalData": {"givenNames": "Neu", "familyName": "Angelegt"}}"#,
            by: Some(Owner),
            new_person: true,
        },
        audited: true,
        cells: [Unauth, Writes, Writes, Writes, Writes, Forbidden, Writes, Forbidden, Forbidden, Writes, Forbidden],
    },
    // The subject again: who sees them is refused as a duplicate, the others are refused.
    Row {
        field: "Mutation.registerPerson",
        op: Op::Record {
            input: "RegisterPersonInput",
            on: "2023-01-10",
            data: r#"{"birthYear": 1988, "sex": "MALE", "nationality": "AFG", "languages": ["fa"], "personalData": {"givenNames": "Neu", "familyName": "Angelegt"}}"#,
            by: None,
            new_person: false,
        },
        audited: true,
        cells: [Unauth, Conflict, Forbidden, Conflict, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Conflict, Forbidden],
    },
    record("Mutation.recordArrival", "RecordArrivalInput", "2023-01-10", r#"{"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Lebenstedt", "entryDate": "2022-12-01"}"#, Owner, WRITE),
    record("Mutation.fileAsylumApplication", "FileAsylumApplicationInput", "2023-01-12", "{}", Owner, WRITE),
    record("Mutation.recordAsylumDecision", "RecordAsylumDecisionInput", "2023-06-01", r#"{"outcome": "REFUGEE_3"}"#, Admin, WRITE),
    record("Mutation.changeResidenceStatus", "ChangeResidenceStatusInput", "2023-06-10", r#"{"status": "AUFENTHALTSERLAUBNIS", "legalBasis": "§25(2)", "validUntil": "2026-06-10", "workPermitted": true}"#, Owner, WRITE),
    record("Mutation.setResidenceObligation", "SetResidenceObligationInput", "2023-06-10", r#"{"until": "2026-06-10"}"#, Owner, WRITE),
    record("Mutation.changeAddress", "ChangeAddressInput", "2023-07-01", r#"{"district": "Bad", "accommodation": "FLAT"}"#, Owner, WRITE),
    record("Mutation.issueCourseEntitlement", "IssueCourseEntitlementInput", "2023-06-15", r#"{"kind": "ENTITLEMENT", "issuer": "BAMF"}"#, Owner, WRITE),
    record("Mutation.registerForCourse", "RegisterForCourseInput", "2023-07-01", r#"{"courseId": "IK-1", "courseType": "GENERAL", "provider": "VHS"}"#, Owner, WRITE),
    record("Mutation.startCourse", "StartCourseInput", "2023-08-01", r#"{"courseId": "IK-1"}"#, Admin, WRITE),
    record("Mutation.completeCourse", "CompleteCourseInput", "2024-02-01", r#"{"courseId": "IK-1"}"#, Owner, WRITE),
    // A second course, registered and started in one batch, for `leaveCourseEarly`.
    Row {
        field: "Mutation.appendEvents",
        op: Op::Batch {
            events: r#"[{"type": "CourseRegistered", "occurredOn": "2024-02-10", "data": {"course_id": "BSK-2", "course_type": "job_b2", "provider": "VHS"}}, {"type": "CourseStarted", "occurredOn": "2024-03-01", "data": {"course_id": "BSK-2"}}]"#,
            by: Owner,
        },
        audited: true,
        cells: WRITE,
    },
    record("Mutation.leaveCourseEarly", "LeaveCourseEarlyInput", "2024-04-01", r#"{"courseId": "BSK-2", "reason": "EMPLOYMENT"}"#, Owner, WRITE),
    record("Mutation.recordLanguageTest", "RecordLanguageTestInput", "2024-02-05", r#"{"exam": "DTZ", "level": "B1", "firstAttempt": true}"#, Owner, WRITE),
    record("Mutation.recordOrientationTest", "RecordOrientationTestInput", "2024-02-06", r#"{"passed": true}"#, Owner, WRITE),
    record("Mutation.requestKitaPlace", "RequestKitaPlaceInput", "2023-07-01", "{}", Owner, WRITE),
    record("Mutation.startKita", "StartKitaInput", "2023-09-01", "{}", Owner, WRITE),
    record("Mutation.endKita", "EndKitaInput", "2024-07-31", "{}", Owner, WRITE),
    record("Mutation.enrolInSchool", "EnrolInSchoolInput", "2023-08-15", r#"{"schoolType": "VOCATIONAL", "languageClass": true}"#, Owner, WRITE),
    record("Mutation.moveToRegularClass", "MoveToRegularClassInput", "2024-01-15", "{}", Owner, WRITE),
    record("Mutation.leaveSchool", "LeaveSchoolInput", "2024-07-01", r#"{"certificate": "NONE"}"#, Owner, WRITE),
    record("Mutation.startBenefits", "StartBenefitsInput", "2023-06-15", r#"{"kind": "SGB2"}"#, Owner, WRITE),
    record("Mutation.endBenefits", "EndBenefitsInput", "2024-05-01", r#"{"kind": "SGB2"}"#, Owner, WRITE),
    record("Mutation.agreeCooperationPlan", "AgreeCooperationPlanInput", "2023-07-01", r#"{"agency": "JOBCENTER"}"#, Owner, WRITE),
    record("Mutation.startMeasure", "StartMeasureInput", "2024-01-01", r#"{"measureId": "M-1", "measureType": "ACTIVATION"}"#, Owner, WRITE),
    record("Mutation.endMeasure", "EndMeasureInput", "2024-03-01", r#"{"measureId": "M-1", "outcome": "COMPLETED"}"#, Owner, WRITE),
    record("Mutation.applyForRecognition", "ApplyForRecognitionInput", "2024-01-10", r#"{"occupationCode": "26212", "regulated": true}"#, Owner, WRITE),
    record("Mutation.decideRecognition", "DecideRecognitionInput", "2024-04-10", r#"{"outcome": "FULL"}"#, Admin, WRITE),
    record("Mutation.startTraining", "StartTrainingInput", "2024-05-01", r#"{"trainingId": "T-1", "occupationCode": "26212"}"#, Owner, WRITE),
    record("Mutation.endTraining", "EndTrainingInput", "2024-06-01", r#"{"trainingId": "T-1", "outcome": "ABORTED"}"#, Owner, WRITE),
    record("Mutation.liftResidenceObligation", "LiftResidenceObligationInput", "2024-04-16", r#"{"reason": "EMPLOYMENT"}"#, Owner, WRITE),
    record("Mutation.startEmployment", "StartEmploymentInput", "2024-04-15", r#"{"employmentId": "E-1", "kind": "SOCIAL_INSURANCE_FULL", "occupationCode": "26212", "weeklyHours": 38}"#, Owner, WRITE),
    record("Mutation.endEmployment", "EndEmploymentInput", "2024-09-30", r#"{"employmentId": "E-1"}"#, Owner, WRITE),
    record("Mutation.recordCounsellingContact", "RecordCounsellingContactInput", "2024-01-05", r#"{"agency": "JOBCENTER", "topic": "WORK"}"#, Owner, WRITE),
    record("Mutation.makeReferral", "MakeReferralInput", "2024-01-05", r#"{"toAgency": "BILDUNGSBUERO", "topic": "LANGUAGE"}"#, Owner, WRITE),
    // The volunteer register: recruited and trained before the mentee's MentorAssigned names them.
    Row {
        field: "Mutation.recruitVolunteer",
        op: Op::Volunteer { input: "RecruitVolunteerInput", data: r#"{"occurredOn": "2023-05-02", "district": "Lebenstedt", "personalData": {"givenNames": "Ehren", "familyName": "Amtlich", "email": "ehren@example.org"}}"#, probe: r#"{"occurredOn": "2099-05-02", "district": "Lebenstedt"}"#, by: Coordinator },
        audited: true,
        cells: VOLUNTEERS,
    },
    Row {
        field: "Mutation.trainVolunteer",
        op: Op::Volunteer { input: "VolunteerDateInput", data: r#"{"volunteerId": "@volunteer", "occurredOn": "2023-06-01"}"#, probe: r#"{"volunteerId": "@volunteer", "occurredOn": "2099-06-01"}"#, by: Admin },
        audited: true,
        cells: VOLUNTEERS,
    },
    record("Mutation.requestMentor", "RequestMentorInput", "2023-07-01", "{}", Coordinator, MENTORING),
    record("Mutation.assignMentor", "AssignMentorInput", "2023-08-01", r#"{"mentorId": "@volunteer"}"#, Coordinator, MENTORING),
    Row {
        field: "Mutation.assignMentee",
        op: Op::Volunteer { input: "AssignMenteeInput", data: r#"{"volunteerId": "@volunteer", "occurredOn": "2023-08-01", "mentoring": "@Mutation.assignMentor"}"#, probe: r#"{"volunteerId": "@volunteer", "occurredOn": "2023-08-01", "mentoring": "@Mutation.requestMentor"}"#, by: Coordinator },
        audited: true,
        cells: VOLUNTEERS,
    },
    Row {
        field: "Mutation.supportVolunteer",
        op: Op::Volunteer { input: "SupportVolunteerInput", data: r#"{"volunteerId": "@volunteer", "occurredOn": "2023-09-01", "kind": "SUPERVISION"}"#, probe: r#"{"volunteerId": "@volunteer", "occurredOn": "2099-09-01", "kind": "SUPERVISION"}"#, by: Coordinator },
        audited: true,
        cells: VOLUNTEERS,
    },
    Row {
        field: "Mutation.appreciateVolunteer",
        op: Op::Volunteer { input: "AppreciateVolunteerInput", data: r#"{"volunteerId": "@volunteer", "occurredOn": "2023-12-01", "kind": "VOLUNTEER_CARD"}"#, probe: r#"{"volunteerId": "@volunteer", "occurredOn": "2023-01-01", "kind": "EVENT"}"#, by: Admin },
        audited: true,
        cells: VOLUNTEERS,
    },
    record("Mutation.endMentoring", "EndMentoringInput", "2024-08-01", r#"{"mentorId": "@volunteer"}"#, Admin, MENTORING),
    Row {
        field: "Mutation.endVolunteer",
        op: Op::Volunteer { input: "EndVolunteerInput", data: r#"{"volunteerId": "@volunteer", "occurredOn": "2024-08-02", "reason": "NO_TIME"}"#, probe: r#"{"volunteerId": "@volunteer", "occurredOn": "2099-08-02", "reason": "NO_TIME"}"#, by: Coordinator },
        audited: true,
        cells: VOLUNTEERS,
    },
    Row {
        field: "Mutation.eraseVolunteer",
        op: Op::Volunteer { input: "EraseVolunteerInput", data: r#"{"volunteerId": "@volunteer", "occurredOn": "2024-08-03"}"#, probe: r#"{"volunteerId": "@volunteer", "occurredOn": "2099-08-03"}"#, by: Admin },
        audited: true,
        cells: VOLUNTEERS,
    },
    record("Mutation.completeChecklistItem", "CompleteChecklistItemInput", "2023-01-15", r#"{"item": "START_FOLDER"}"#, Owner, WRITE),
    record("Mutation.giveConsent", "GiveConsentInput", "2024-01-01", r#"{"consentId": "c-row", "recipients": ["KOMMUNE"], "purpose": "Wohnungssuche", "formVersion": "2024-1"}"#, Owner, WRITE),
    record("Mutation.withdrawConsent", "WithdrawConsentInput", "2024-06-01", r#"{"consentId": "c-row"}"#, Owner, WRITE),
    record("Mutation.correctEvent", "CorrectEventInput", "2024-10-01", r#"{"targetEventId": "@Mutation.changeAddress", "replacement": {"type": "AddressChanged", "occurredOn": "2023-07-02", "data": {"district": "Thiede", "accommodation": "flat"}}, "reason": "wrong district"}"#, Admin, WRITE),
    record("Mutation.retractEvent", "RetractEventInput", "2024-10-01", r#"{"targetEventId": "@Mutation.completeChecklistItem", "reason": "entered twice"}"#, Owner, WRITE),
    record("Mutation.recordMoveAway", "RecordMoveAwayInput", "2024-10-02", r#"{"destination": "ABROAD"}"#, Owner, WRITE),
    record("Mutation.erasePerson", "ErasePersonInput", "2024-10-03", r#"{"reason": "ART17_REQUEST"}"#, Owner, ERASE),
    // Offers: streams of their own, no person.
    Row {
        field: "Mutation.recordOffer",
        op: Op::Offer { input: "RecordOfferInput", data: r#"{"occurredOn": "2024-05-02", "kind": "KITA_PLACES", "month": "2024-09", "district": "Lebenstedt", "quantity": 12}"#, probe: r#"{"occurredOn": "2024-05-02", "kind": "KITA_PLACES", "month": "2024-09", "district": "Lebenstedt", "quantity": 0}"#, by: Coordinator },
        audited: true,
        cells: OFFERS,
    },
    Row {
        field: "Mutation.changeOffer",
        op: Op::Offer { input: "ChangeOfferInput", data: r#"{"offerId": "@offer", "occurredOn": "2024-05-20", "quantity": 14}"#, probe: r#"{"offerId": "@offer", "occurredOn": "2024-05-20", "quantity": 100001}"#, by: Admin },
        audited: true,
        cells: OFFERS,
    },
    Row {
        field: "Mutation.withdrawOffer",
        op: Op::Offer { input: "WithdrawOfferInput", data: r#"{"offerId": "@offer", "occurredOn": "2024-06-01", "reason": "CANCELLED"}"#, probe: r#"{"offerId": "@offer", "occurredOn": "2099-06-01", "reason": "CANCELLED"}"#, by: Coordinator },
        audited: true,
        cells: OFFERS,
    },
    // ---- Subscription ----
    subscribe(
        "Subscription.personEvents",
        "subscription($id: ID!) { personEvents(id: $id) { type data } }",
        [Unauth, Full, Forbidden, Full, Forbidden, Mentoring, Forbidden, Forbidden, Forbidden, Full, Forbidden],
    ),
    subscribe(
        "Subscription.kpiChanged",
        concat!("subscription { kpiChanged(key: \"population_present\", asOf: \"2024-06-01\", by: [DISTRICT]) { ", kpi_fields!(), " } }"),
        INDICATOR,
    ),
];

/// What only `Full` cells may show: the subject's personal data and the consent's free text.
const SECRETS: [&str; 5] = [
    "Amina",
    "Haddad",
    "5341 555",
    "Berliner Str",
    "Familienhilfe",
];
const PURPOSE: &str = "Familienhilfe für Frau Haddad";

// ---------------------------------------------------------------------------------------------
// The coverage check.

/// The fields of `type NAME { ... }` in an SDL text.
fn fields_of(sdl: &str, type_name: &str) -> Vec<String> {
    let header = format!("type {type_name} {{");
    let mut fields = Vec::new();
    let mut inside = false;
    let mut in_doc = false;
    for line in sdl.lines() {
        let trimmed = line.trim();
        if !inside {
            inside = trimmed == header;
            continue;
        }
        if trimmed == "}" {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix("\"\"\"") {
            // A one-line description opens and closes on the same line.
            if !(rest.len() >= 3 && rest.ends_with("\"\"\"")) {
                in_doc = !in_doc;
            }
            continue;
        }
        if in_doc || trimmed.is_empty() || trimmed.starts_with('"') {
            continue;
        }
        let name: String = trimmed
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            fields.push(format!("{type_name}.{name}"));
        }
    }
    assert!(inside, "no `{header}` in the SDL");
    fields
}

#[test]
fn every_schema_field_has_a_row() {
    let checked_in = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/graphql/schema.graphql"),
    )
    .expect("schemas/graphql/schema.graphql");
    let rows: BTreeSet<String> = ROWS.iter().map(|row| row.field.to_owned()).collect();
    for sdl in [checked_in, journey_api::graphql::sdl()] {
        let schema: BTreeSet<String> = ["Query", "Mutation", "Subscription"]
            .iter()
            .flat_map(|type_name| fields_of(&sdl, type_name))
            .collect();
        assert!(
            schema.len() > 50,
            "the SDL parser found too little: {schema:?}"
        );
        let missing: Vec<&String> = schema.difference(&rows).collect();
        assert!(
            missing.is_empty(),
            "schema fields without a row in the role matrix (api/tests/roles.rs): {missing:?}"
        );
        let stale: Vec<&String> = rows.difference(&schema).collect();
        assert!(
            stale.is_empty(),
            "rows for fields the schema does not have: {stale:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The world.

struct World {
    h: Harness,
    /// Per column: the token, and the name the audit log records.
    tokens: Vec<Option<(String, String)>>,
}

impl World {
    async fn new() -> Self {
        let h = Harness::with_projections().await;
        let mut tokens = Vec::new();
        for col in COLUMNS {
            let (role, agency, name) = match col {
                Anonymous => {
                    tokens.push(None);
                    continue;
                }
                Owner => (Role::Caseworker, Some(Agency::Jobcenter), "cw-jobcenter"),
                Stranger => (
                    Role::Caseworker,
                    Some(Agency::Auslaenderbehoerde),
                    "cw-auslaenderbehoerde",
                ),
                ConsentHolder => (Role::Caseworker, Some(Agency::Jugendamt), "cw-jugendamt"),
                Withdrawn => (
                    Role::Caseworker,
                    Some(Agency::Sozialarbeit),
                    "cw-sozialarbeit",
                ),
                Coordinator => (Role::Coordinator, Some(Agency::Ehrenamt), "coordinator"),
                CoordinatorAgency => (Role::Caseworker, Some(Agency::Ehrenamt), "cw-ehrenamt"),
                Analyst => (Role::Analyst, None, "analyst"),
                Auditor => (Role::Auditor, None, "auditor"),
                Admin => (Role::Admin, None, "admin"),
                Replication => (Role::Replication, None, "replication"),
            };
            tokens.push(Some((h.token(role, agency, name), name.to_owned())));
        }
        Self { h, tokens }
    }

    fn index(col: Col) -> usize {
        COLUMNS.iter().position(|c| *c == col).expect("a column")
    }

    fn token(&self, col: Col) -> Option<&str> {
        self.tokens[Self::index(col)]
            .as_ref()
            .map(|(token, _)| token.as_str())
    }

    fn name(&self, col: Col) -> Option<&str> {
        self.tokens[Self::index(col)]
            .as_ref()
            .map(|(_, name)| name.as_str())
    }

    async fn record(
        &self,
        col: Col,
        field: &str,
        input: &str,
        person: &str,
        on: &str,
        data: Value,
    ) {
        self.h
            .record(
                self.token(col).expect("token"),
                field,
                input,
                Harness::input(person, on, data),
            )
            .await;
    }

    /// The scenario of the module comment: registered by the owner with personal data, an active
    /// consent for the Jugendamt, a withdrawn one for Sozialarbeit. With `history`, also an
    /// arrival, a course registration still waiting on 2024-06-01 and a mentor assigned by the
    /// coordinator.
    async fn subject(&self, history: bool) -> String {
        let person = self
            .h
            .register(self.token(Owner).expect("owner"), Uuid::new_v4())
            .await;
        let consent = |id: &str, agency: &str| json!({"consentId": id, "recipients": [agency], "purpose": PURPOSE, "formVersion": "1"});
        #[rustfmt::skip]
        let mut steps = vec![
            (Owner, "giveConsent", "GiveConsentInput", "2023-01-11", consent("c-jugendamt", "JUGENDAMT")),
            (Owner, "giveConsent", "GiveConsentInput", "2023-01-11", consent("c-sozialarbeit", "SOZIALARBEIT")),
            (Owner, "withdrawConsent", "WithdrawConsentInput", "2023-01-12", json!({"consentId": "c-sozialarbeit"})),
        ];
        if history {
            #[rustfmt::skip]
            steps.extend([
                (Owner, "recordArrival", "RecordArrivalInput", "2023-01-10", json!({"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Lebenstedt"})),
                (Owner, "registerForCourse", "RegisterForCourseInput", "2024-03-01", json!({"courseId": "IK-7", "courseType": "GENERAL", "provider": "VHS"})),
                // B1 while idle since arrival: a promising applicant from 2023-05-02 on.
                (Owner, "recordLanguageTest", "RecordLanguageTestInput", "2023-05-02", json!({"exam": "DTZ", "level": "B1", "firstAttempt": true})),
                (Coordinator, "requestMentor", "RequestMentorInput", "2024-06-01", json!({})),
                (Coordinator, "assignMentor", "AssignMentorInput", "2024-07-01", json!({"mentorId": "vol-1"})),
            ]);
        }
        for (col, field, input, on, data) in steps {
            self.record(col, field, input, &person, on, data).await;
        }
        if history {
            // The register's one volunteer, for `volunteer` and `volunteers`.
            self.h
                .ok(
                    self.token(Coordinator).expect("coordinator"),
                    "mutation($input: RecruitVolunteerInput!) { recruitVolunteer(input: $input) { volunteerId } }",
                    json!({"input": {"eventId": Uuid::new_v4(), "volunteerId": WORLD_VOLUNTEER, "occurredOn": "2024-01-02", "district": "Lebenstedt", "personalData": {"givenNames": "Welt", "familyName": "Freiwillig"}}}),
                )
                .await;
        }
        person
    }

    /// The number of events in the person's stream.
    async fn events_of(&self, person: &str) -> usize {
        let person = person.parse().expect("person id");
        self.h.state.timeline(person).await.expect("timeline").len()
    }

    async fn post(&self, col: Col, doc: &str, variables: Value) -> Value {
        self.h.post(self.token(col), doc, variables).await.1
    }

    /// The sequence number of the last audit entry.
    fn audit_mark(&self) -> Option<u64> {
        let mut last = None;
        loop {
            let page = self.h.state.audit.read(last, 1000).expect("audit");
            match page.last() {
                Some(entry) => last = Some(entry.seq),
                None => return last,
            }
        }
    }

    /// Asserts that an entry after `mark` records `operation` by the column's token with `outcome`.
    fn audited(&self, context: &str, mark: Option<u64>, col: Col, operation: &str, outcome: &str) {
        let name = self.name(col).expect("a token");
        let entries = self.h.state.audit.read(mark, 1000).expect("audit");
        assert!(
            entries.iter().any(|entry| entry.operation == operation
                && entry.token_name.as_deref() == Some(name)
                && entry.outcome == outcome),
            "{context}: no audit entry ({operation}, {name}, {outcome}) in {:?}",
            entries
                .iter()
                .map(|entry| (&entry.operation, &entry.token_name, &entry.outcome))
                .collect::<Vec<_>>()
        );
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("(no error)")
}

fn assert_no_secrets(context: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{context}: `{secret}` leaked: {text}"
        );
    }
}

fn assert_no_errors(context: &str, body: &Value) {
    assert!(
        body.get("errors").is_none(),
        "{context}: unexpected errors: {body}"
    );
}

/// A refusal: the code, and no data at all.
fn assert_refused(context: &str, body: &Value, expected: &str) {
    assert_eq!(code(body), expected, "{context}: {body}");
    let data = &body["data"];
    assert!(
        data.is_null()
            || data
                .as_object()
                .is_some_and(|fields| fields.values().all(Value::is_null)),
        "{context}: data beside the refusal: {body}"
    );
}

/// Every figure of an indicator answer: the cells, margins and total, and their measures.
fn figures(result: &Value) -> Vec<&Value> {
    let mut cells: Vec<&Value> = Vec::new();
    for part in ["cells", "margins"] {
        cells.extend(result[part].as_array().into_iter().flatten());
    }
    cells.push(&result["total"]);
    let mut figures = Vec::new();
    for cell in cells {
        figures.push(cell);
        figures.extend(cell["measures"].as_array().into_iter().flatten());
    }
    figures
}

fn assert_indicator(context: &str, result: &Value, suppressed: bool) {
    let figures = figures(result);
    assert!(!figures.is_empty(), "{context}: no figures: {result}");
    if suppressed {
        assert_eq!(result["suppressionK"], 3, "{context}: {result}");
        assert!(
            figures.iter().any(|figure| figure["suppressed"] == true),
            "{context}: a table about one person has nothing suppressed: {result}"
        );
        for figure in figures.iter().filter(|figure| figure["suppressed"] == true) {
            for key in ["value", "numerator", "denominator", "persons"] {
                assert!(
                    figure.get(key).is_none_or(Value::is_null),
                    "{context}: a suppressed figure carries `{key}`: {figure}"
                );
            }
        }
    } else {
        assert!(result["suppressionK"].is_null(), "{context}: {result}");
        assert!(
            figures.iter().all(|figure| figure["suppressed"] == false),
            "{context}: {result}"
        );
        assert!(
            figures.iter().any(|figure| figure["value"].is_number()),
            "{context}: no figure: {result}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

#[tokio::test]
async fn every_query_answers_each_principal_as_the_matrix_says() {
    let w = World::new().await;
    let subject = w.subject(true).await;
    let uuid = subject.trim_start_matches("person-").to_owned();
    let events = w.events_of(&subject).await;
    w.h.caught_up().await;
    for row in ROWS {
        let Op::Query(doc) = row.op else { continue };
        let field = row.field.trim_start_matches("Query.");
        let variables = if doc.contains("$id") {
            json!({"id": subject})
        } else {
            json!({})
        };
        for (col, expect) in COLUMNS.into_iter().zip(row.cells) {
            let context = format!("{} × {col:?} (expected {expect:?})", row.field);
            let mark = w.audit_mark();
            let body = w.post(col, doc, variables.clone()).await;
            let text = body.to_string();
            if expect != Full {
                assert_no_secrets(&context, &text);
            }
            let data = &body["data"][field];
            match expect {
                Unauth => assert_refused(&context, &body, "UNAUTHENTICATED"),
                Forbidden => {
                    assert_refused(&context, &body, "FORBIDDEN");
                    assert!(!text.contains(&uuid), "{context}: {text}");
                }
                Allowed => {
                    assert_no_errors(&context, &body);
                    if field == "me" {
                        assert_eq!(data["name"].as_str(), w.name(col), "{context}");
                    } else {
                        assert!(!data.is_null(), "{context}: {body}");
                    }
                }
                Full => {
                    assert_no_errors(&context, &body);
                    let person = data;
                    assert_eq!(person["personalData"]["givenNames"], "Amina", "{context}");
                    assert_eq!(person["personalData"]["phone"], "+49 5341 555 0199");
                    assert_eq!(
                        person["consents"],
                        json!([{"consentId": "c-jugendamt", "active": true}, {"consentId": "c-sozialarbeit", "active": false}]),
                        "{context}"
                    );
                    assert_eq!(
                        person["timeline"].as_array().map(Vec::len),
                        Some(events),
                        "{context}: every event"
                    );
                    assert_eq!(person["revision"], events - 1, "{context}");
                    assert_eq!(person["status"]["district"], "Lebenstedt", "{context}");
                }
                Mentoring => {
                    // Asked for everything: each person-level part is refused.
                    let codes: BTreeSet<&str> = body["errors"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|error| error["extensions"]["code"].as_str())
                        .collect();
                    assert_eq!(codes, BTreeSet::from(["FORBIDDEN"]), "{context}: {body}");
                    // Asked for what a coordinator sees: existence and the mentoring events.
                    let body = w
                        .post(col, "query($id: ID!) { person(id: $id) { id revision erased timeline { type data } } }", variables.clone())
                        .await;
                    assert_no_errors(&context, &body);
                    assert_eq!(
                        body["data"]["person"],
                        json!({"id": subject, "revision": null, "erased": false, "timeline": [{"type": "MentorRequested", "data": {}}, {"type": "MentorAssigned", "data": {"mentor_id": "vol-1"}}]}),
                        "{context}"
                    );
                    w.audited(&context, mark, col, "person.personalData", "FORBIDDEN");
                    w.audited(&context, mark, col, "person.status", "FORBIDDEN");
                }
                Listed | Unlisted => {
                    assert_no_errors(&context, &body);
                    assert!(!data.is_null(), "{context}: {body}");
                    assert_eq!(
                        data.to_string().contains(&uuid),
                        expect == Listed,
                        "{context}: {body}"
                    );
                }
                Pseudonymised => {
                    assert_no_errors(&context, &body);
                    let nodes: Vec<&Value> = data["edges"]
                        .as_array()
                        .expect("edges")
                        .iter()
                        .map(|edge| &edge["node"])
                        .collect();
                    assert!(nodes.len() >= events, "{context}: {body}");
                    for node in &nodes {
                        assert!(
                            node["person"].as_str().is_some_and(|p| p.starts_with("p-")),
                            "{context}: {node}"
                        );
                        assert!(
                            node["actor"]["pseudonym"]
                                .as_str()
                                .is_some_and(|p| p.starts_with("a-")),
                            "{context}: {node}"
                        );
                    }
                    for secret in [
                        uuid.as_str(),
                        "cw-jobcenter",
                        "coordinator",
                        "vol-1",
                        "c-jugendamt",
                    ] {
                        assert!(
                            !text.contains(secret),
                            "{context}: `{secret}` leaked: {text}"
                        );
                    }
                }
                Suppressed | Unsuppressed => {
                    assert_no_errors(&context, &body);
                    assert_indicator(&context, data, expect == Suppressed);
                }
                Writes | Conflict => unreachable!("{context}: not a query expectation"),
            }
            if row.audited && col != Anonymous {
                let outcome = match expect {
                    Forbidden => "FORBIDDEN",
                    _ => "ok",
                };
                w.audited(&context, mark, col, field, outcome);
            }
            if col == Anonymous {
                assert_eq!(
                    w.audit_mark(),
                    mark,
                    "{context}: nothing to audit without a principal"
                );
            }
        }
    }

    // The auditors' view of the same: a few cells through `auditLog`, the chain intact.
    let data = w
        .h
        .ok(
            w.token(Auditor).expect("auditor"),
            "{ auditLog(first: 1000) { edges { node { tokenName role agency operation personId outcome hashValid } } } }",
            json!({}),
        )
        .await;
    let entries: Vec<&Value> = data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"])
        .collect();
    assert!(entries.iter().all(|entry| entry["hashValid"] == true));
    for (operation, name, outcome) in [
        ("person", "cw-jugendamt", "ok"),
        ("person", "cw-sozialarbeit", "FORBIDDEN"),
        ("person", "cw-ehrenamt", "FORBIDDEN"),
        ("person.personalData", "coordinator", "FORBIDDEN"),
        ("events", "analyst", "ok"),
        ("people", "analyst", "FORBIDDEN"),
        ("idleList", "cw-jugendamt", "ok"),
        ("kpi", "auditor", "ok"),
    ] {
        assert!(
            entries.iter().any(|entry| entry["operation"] == operation
                && entry["tokenName"] == name
                && entry["outcome"] == outcome),
            "auditLog lacks ({operation}, {name}, {outcome})"
        );
    }
    let read = entries
        .iter()
        .find(|entry| entry["operation"] == "person" && entry["tokenName"] == "cw-jugendamt")
        .expect("the consent holder's read");
    assert_eq!(read["personId"], subject.as_str());
    assert_eq!(read["role"], "caseworker");
    assert_eq!(read["agency"], "jugendamt");
}

// ---------------------------------------------------------------------------------------------
// Mutations.

#[tokio::test]
async fn every_mutation_is_refused_or_written_as_the_matrix_says() {
    let w = World::new().await;
    let subject = w.subject(false).await;
    // The event id each row's performer recorded, for corrections and retractions.
    let mut recorded: HashMap<&str, String> = HashMap::new();
    let mut offer: Option<String> = None;
    let mut volunteer: Option<String> = None;
    for row in ROWS {
        match row.op {
            Op::Offer {
                input,
                data,
                probe,
                by,
            } => {
                let (input, fields) = (input, [data, probe]);
                org_row(
                    &w,
                    row,
                    Org::Offer,
                    input,
                    fields,
                    by,
                    &recorded,
                    &mut offer,
                )
                .await;
                continue;
            }
            Op::Volunteer {
                input,
                data,
                probe,
                by,
            } => {
                let (input, fields) = (input, [data, probe]);
                org_row(
                    &w,
                    row,
                    Org::Volunteer,
                    input,
                    fields,
                    by,
                    &recorded,
                    &mut volunteer,
                )
                .await;
                if let Some(stream) = &volunteer {
                    recorded.insert("volunteer", stream.clone());
                }
                continue;
            }
            _ => {}
        }
        let (by, new_person) = match row.op {
            Op::Record { by, new_person, .. } => (by, new_person),
            Op::Batch { by, .. } => (Some(by), false),
            _ => continue,
        };
        let field = row.field.trim_start_matches("Mutation.");
        // Builds the mutation for `person`, with `expected` as expectedRevision.
        let request = |person: &str, expected: Option<usize>| -> (String, Value) {
            match row.op {
                Op::Record {
                    input, on, data, ..
                } => {
                    let mut data = data.to_owned();
                    // Longest names first, so `@Mutation.x` is never cut short by `@Mutation`.
                    let mut names: Vec<_> = recorded.iter().collect();
                    names.sort_by_key(|(field, _)| std::cmp::Reverse(field.len()));
                    for (field, event) in names {
                        data = data.replace(&format!("@{field}"), event);
                    }
                    let mut input_value =
                        Harness::input(person, on, serde_json::from_str(&data).expect("row JSON"));
                    if let Some(expected) = expected {
                        input_value["expectedRevision"] = json!(expected);
                    }
                    (
                        format!("mutation($input: {input}!) {{ {field}(input: $input) {{ personId eventId revision }} }}"),
                        json!({"input": input_value}),
                    )
                }
                Op::Batch { events, .. } => {
                    let mut events: Vec<Value> = serde_json::from_str(events).expect("row JSON");
                    for event in &mut events {
                        event["eventId"] = json!(id());
                    }
                    (
                        "mutation($person: ID!, $expected: Int, $events: [EventInput!]!) { appendEvents(personId: $person, expectedRevision: $expected, events: $events) { personId revision written } }".to_owned(),
                        json!({"person": person, "expected": expected, "events": events}),
                    )
                }
                _ => unreachable!(),
            }
        };
        let target = |fresh: bool| {
            if fresh {
                format!("person-{}", Uuid::new_v4())
            } else {
                subject.clone()
            }
        };
        for (col, expect) in COLUMNS.into_iter().zip(row.cells) {
            if Some(col) == by {
                continue;
            }
            let context = format!("{} × {col:?} (expected {expect:?})", row.field);
            let person = target(new_person);
            let before = w.events_of(&person).await;
            let mark = w.audit_mark();
            let (expected_code, stale) = match expect {
                Unauth => ("UNAUTHENTICATED", None),
                Forbidden => ("FORBIDDEN", None),
                // Past the gates; a revision that cannot match stops the write.
                Writes => ("CONFLICT", Some(before + 7)),
                Conflict => ("CONFLICT", None),
                other => unreachable!("{context}: {other:?} is not a mutation expectation"),
            };
            let (doc, variables) = request(&person, stale);
            let body = w.post(col, &doc, variables).await;
            assert_refused(&context, &body, expected_code);
            assert_no_secrets(&context, &body.to_string());
            assert_eq!(
                w.events_of(&person).await,
                before,
                "{context}: nothing written"
            );
            if col == Anonymous {
                assert_eq!(w.audit_mark(), mark, "{context}: nothing to audit");
            } else {
                w.audited(&context, mark, col, field, expected_code);
            }
        }
        // The performer moves the journey on.
        let Some(by) = by else { continue };
        let context = format!("{} × {by:?} (performs)", row.field);
        assert_eq!(row.cells[World::index(by)], Writes, "{context}");
        let person = target(new_person);
        let before = w.events_of(&person).await;
        let mark = w.audit_mark();
        let (doc, variables) = request(&person, None);
        let event_id = variables["input"]["eventId"].as_str().map(str::to_owned);
        let body = w.post(by, &doc, variables).await;
        assert_no_errors(&context, &body);
        let written = match row.op {
            Op::Batch { events, .. } => serde_json::from_str::<Vec<Value>>(events)
                .expect("row JSON")
                .len(),
            _ => 1,
        };
        assert_eq!(
            body["data"][field]["revision"],
            before + written - 1,
            "{context}: {body}"
        );
        assert_eq!(w.events_of(&person).await, before + written, "{context}");
        w.audited(&context, mark, by, field, "ok");
        if let Some(event_id) = event_id {
            recorded.insert(row.field, event_id);
        }
    }
    // The last row erased the subject.
    let data =
        w.h.ok(
            w.token(Admin).expect("admin"),
            "query($id: ID!) { person(id: $id) { erased personalData { givenNames } } }",
            json!({"id": subject}),
        )
        .await;
    assert_eq!(
        data["person"],
        json!({"erased": true, "personalData": null})
    );
}

/// One organisational row of the mutation matrix (an offer's or a volunteer's): refusals write
/// nothing and are audited; authorized columns other than the performer send the probe, which the
/// stream's rules refuse (RULE_VIOLATION); the performer writes to the stream.
#[allow(clippy::too_many_arguments)]
async fn org_row(
    w: &World,
    row: &Row,
    org: Org,
    input: &str,
    [data, probe]: [&str; 2],
    by: Col,
    recorded: &HashMap<&str, String>,
    stream: &mut Option<String>,
) {
    let field = row.field.trim_start_matches("Mutation.");
    let id_field = org.id_field();
    let request = |fields: &str, stream: &Option<String>| -> (String, Value) {
        let mut fields = fields.replace(
            org.placeholder(),
            stream.as_deref().unwrap_or("(no stream yet)"),
        );
        for (name, event) in recorded {
            fields = fields.replace(&format!("@{name}"), event);
        }
        let mut value: Value = serde_json::from_str(&fields).expect("row JSON");
        if input != "EraseVolunteerInput" {
            value["eventId"] = json!(id());
        }
        (
            format!("mutation($input: {input}!) {{ {field}(input: $input) {{ {id_field} eventId revision alreadyRecorded }} }}"),
            json!({"input": value}),
        )
    };
    let stream_events = |stream: &Option<String>| {
        let stream = stream.clone();
        async move {
            match stream {
                Some(stream) => {
                    w.h.state
                        .ledger
                        .read_whole_stream(&stream)
                        .await
                        .expect("read")
                        .len()
                }
                None => 0,
            }
        }
    };
    for (col, expect) in COLUMNS.into_iter().zip(row.cells) {
        if col == by {
            continue;
        }
        let context = format!("{} × {col:?} (expected {expect:?})", row.field);
        let head = w.h.state.log.last_position().await.expect("head");
        let mark = w.audit_mark();
        let (expected_code, fields) = match expect {
            Unauth => ("UNAUTHENTICATED", data),
            Forbidden => ("FORBIDDEN", data),
            Writes => ("RULE_VIOLATION", probe),
            other => unreachable!("{context}: {other:?} is not an organisational expectation"),
        };
        let (doc, variables) = request(fields, stream);
        let body = w.post(col, &doc, variables).await;
        assert_refused(&context, &body, expected_code);
        assert_eq!(
            w.h.state.log.last_position().await.expect("head"),
            head,
            "{context}: nothing written"
        );
        if col == Anonymous {
            assert_eq!(w.audit_mark(), mark, "{context}: nothing to audit");
        } else {
            w.audited(&context, mark, col, field, expected_code);
        }
    }
    let context = format!("{} × {by:?} (performs)", row.field);
    assert_eq!(row.cells[World::index(by)], Writes, "{context}");
    let before = stream_events(stream).await;
    let mark = w.audit_mark();
    let (doc, variables) = request(data, stream);
    let body = w.post(by, &doc, variables).await;
    assert_no_errors(&context, &body);
    let written = &body["data"][field];
    let id = written[id_field].as_str().expect("a stream id").to_owned();
    assert!(id.starts_with(org.prefix()), "{context}: {body}");
    *stream = Some(id);
    assert_eq!(written["revision"], before, "{context}: {body}");
    assert_eq!(stream_events(stream).await, before + 1, "{context}");
    w.audited(&context, mark, by, field, "ok");
}

// ---------------------------------------------------------------------------------------------
// Subscriptions.

type Responses = tokio::sync::mpsc::Receiver<async_graphql::Response>;

/// Polls a subscription in its own task (it starts when first polled, as the WebSocket route does).
fn spawn_stream(
    mut stream: futures_util::stream::BoxStream<'static, async_graphql::Response>,
) -> Responses {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if sender.send(item).await.is_err() {
                break;
            }
        }
    });
    receiver
}

async fn next_response(context: &str, stream: &mut Responses) -> Value {
    let response = tokio::time::timeout(Duration::from_secs(5), stream.recv())
        .await
        .unwrap_or_else(|_| panic!("{context}: nothing within 5 s"))
        .unwrap_or_else(|| panic!("{context}: the stream ended"));
    serde_json::to_value(&response).expect("response JSON")
}

#[tokio::test]
async fn every_subscription_starts_and_delivers_as_the_matrix_says() {
    let w = World::new().await;
    let subject = w.subject(true).await;
    w.h.caught_up().await;
    let schema = journey_api::graphql::build(w.h.state.clone());
    for row in ROWS {
        let Op::Subscribe(doc) = row.op else { continue };
        let field = row.field.trim_start_matches("Subscription.");
        let mark = w.audit_mark();
        let mut streams = Vec::new();
        for (col, expect) in COLUMNS.into_iter().zip(row.cells) {
            let mut request = async_graphql::Request::new(doc)
                .variables(async_graphql::Variables::from_json(json!({"id": subject})));
            if let Some(token) = w.token(col) {
                request = request.data(w.h.state.tokens.authenticate(token).expect("principal"));
            }
            streams.push((col, expect, spawn_stream(schema.execute_stream(request))));
        }
        // Each start is judged (and audited) before anything is recorded.
        let mut open = Vec::new();
        for (col, expect, mut stream) in streams {
            let context = format!("{} × {col:?} (expected {expect:?})", row.field);
            match expect {
                Unauth | Forbidden => {
                    let body = next_response(&context, &mut stream).await;
                    let code = if expect == Unauth {
                        "UNAUTHENTICATED"
                    } else {
                        "FORBIDDEN"
                    };
                    assert_refused(&context, &body, code);
                    assert_no_secrets(&context, &body.to_string());
                    if col != Anonymous {
                        w.audited(&context, mark, col, field, "FORBIDDEN");
                    }
                }
                Suppressed | Unsuppressed => {
                    let body = next_response(&context, &mut stream).await;
                    assert_no_errors(&context, &body);
                    assert_indicator(&context, &body["data"][field], expect == Suppressed);
                    w.audited(&context, mark, col, field, "ok");
                }
                Full | Mentoring => {
                    let name = w.name(col).expect("token");
                    let started = support::eventually(|| {
                        w.h.state
                            .audit
                            .read(mark, 1000)
                            .expect("audit")
                            .iter()
                            .any(|entry| {
                                entry.operation == field
                                    && entry.token_name.as_deref() == Some(name)
                            })
                    })
                    .await;
                    assert!(started, "{context}: the subscription did not start");
                    w.audited(&context, mark, col, field, "ok");
                    open.push((col, expect, stream));
                }
                other => unreachable!("{context}: {other:?} is not a subscription expectation"),
            }
        }
        if open.is_empty() {
            continue;
        }
        // Something for everyone who may see the person, then a mentoring event.
        let mark = w.audit_mark();
        w.record(
            Owner,
            "completeChecklistItem",
            "CompleteChecklistItemInput",
            &subject,
            "2024-07-02",
            json!({"item": "HEALTH_CHECK"}),
        )
        .await;
        w.record(
            Coordinator,
            "endMentoring",
            "EndMentoringInput",
            &subject,
            "2024-08-01",
            json!({"mentorId": "vol-1"}),
        )
        .await;
        for (col, expect, mut stream) in open {
            let context = format!("{} × {col:?} (expected {expect:?})", row.field);
            let body = next_response(&context, &mut stream).await;
            assert_no_errors(&context, &body);
            let first = &body["data"][field];
            if expect == Full {
                assert_eq!(first["type"], "ChecklistItemCompleted", "{context}: {body}");
                let body = next_response(&context, &mut stream).await;
                assert_eq!(
                    body["data"][field]["type"], "MentoringEnded",
                    "{context}: {body}"
                );
            } else {
                assert_eq!(
                    first["type"], "MentoringEnded",
                    "{context}: the checklist item is skipped: {body}"
                );
                assert_no_secrets(&context, &body.to_string());
            }
            w.audited(&context, mark, col, "personEvents.event", "ok");
        }
    }
}
