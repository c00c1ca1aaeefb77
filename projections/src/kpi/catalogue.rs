//! The catalogue: every indicator of DOMAIN.md section 5 with its exact definition, unit,
//! counting unit, denominator, measures and allowed disaggregations.
//!
//! The text of each definition is the contract: where DOMAIN.md is silent, the decision is written
//! here (windows, which events pair, what counts as active). [`render`] writes the catalogue to
//! `schemas/kpis.json`; `projections/tests/schemas.rs` fails when the file drifts from the code.

use serde::Serialize;

use super::dimension::{Dimension, AGE_BANDS};
use super::KpiError;
use crate::view::{ProtectionStatus, Stage};

/// What an indicator counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountingUnit {
    Persons,
    Events,
    /// Volunteers of the register (`volunteer-<uuid>` streams), not the persons of the ledger.
    Volunteers,
}

/// One figure an indicator reports per cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeasureDefinition {
    pub name: &'static str,
    pub description: &'static str,
}

/// One indicator of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KpiDefinition {
    pub key: &'static str,
    pub title: &'static str,
    /// The exact definition, with every decision DOMAIN.md leaves open.
    pub definition: &'static str,
    pub unit: &'static str,
    pub counting_unit: CountingUnit,
    /// What the shares and durations are taken over.
    pub denominator: &'static str,
    /// The count disclosure control compares with k, per measure.
    pub disclosure_count: &'static str,
    pub measures: &'static [MeasureDefinition],
    /// The dimensions a query may name.
    pub disaggregations: &'static [Dimension],
    /// A dimension every result is broken down by, first.
    pub implicit_dimension: Option<Dimension>,
    /// Person-level lists are read models for caseworkers, never aggregates.
    pub person_level: bool,
}

const ALL_DIMENSIONS: &[Dimension] = &Dimension::ALL;

const fn measure(name: &'static str, description: &'static str) -> MeasureDefinition {
    MeasureDefinition { name, description }
}

const PERSONS_PRESENT: &str = "present on D: an ArrivalRecorded on or before D and no MovedAway after it on or before D; erased persons never count";
const IN_LAST_YEAR: &str = "in the 12 months up to D: after D minus 12 months and on or before D";
const INTEGRATION_COURSE: &str = "integration course: every course_type except job_b1, job_b2 and job_c1 (those are job-related DeuFöV courses)";
const ACTIVE: &str = "active on D: an open course (started, not completed or left), measure, training, employment of any kind, school enrolment or Kita place; a spell ending on D is no longer active on D";
const QUANTILES: &str = "medians and 75th percentiles interpolate linearly between closest ranks (the median of an even count is the mean of the middle two)";

static CATALOGUE: &[KpiDefinition] = &[
    KpiDefinition {
        key: "population_present",
        title: "Population present",
        definition: "Persons present on D. Present on D: an ArrivalRecorded on or before D and no MovedAway after it on or before D; a return (a new ArrivalRecorded) starts a new stay. Erased persons never count.",
        unit: "persons",
        counting_unit: CountingUnit::Persons,
        denominator: "none: a count of persons present on D",
        disclosure_count: "the count itself",
        measures: &[measure("persons", "persons present on D")],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "course_waiting_days",
        title: "Waiting time for an integration course (BAMF Wartezeit)",
        definition: "Days from CourseRegistered to CourseStarted of every integration course started in the 12 months up to D (after D minus 12 months, on or before D). Integration course: every course_type except job_b1, job_b2 and job_c1. A course registered again after it ended (a re-entry) counts again. Medians and 75th percentiles interpolate linearly between closest ranks. The distribution: the shares of those starts whose wait was 0 to 28, 29 to 56, 57 to 91 and more than 91 days (a histogram of the waiting days; the bands are decided together by disclosure control).",
        unit: "days",
        counting_unit: CountingUnit::Events,
        denominator: "integration course starts in the 12 months up to D",
        disclosure_count: "distinct persons with such a course start",
        measures: &[
            measure("median_days", "median days from registration to start"),
            measure("p75_days", "75th percentile of days from registration to start"),
            measure("share_waited_0_to_28_days", "share of the course starts after a wait of 0 to 28 days (up to 4 weeks)"),
            measure("share_waited_29_to_56_days", "share of the course starts after a wait of 29 to 56 days (5 to 8 weeks)"),
            measure("share_waited_57_to_91_days", "share of the course starts after a wait of 57 to 91 days (9 to 13 weeks)"),
            measure("share_waited_over_91_days", "share of the course starts after a wait of more than 91 days (more than 13 weeks)"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "course_access_days",
        title: "Access time to an integration course (BAMF Zugangszeit)",
        definition: "Days from a person's first CourseEntitlementIssued to their first CourseStarted of an integration course, for persons whose first integration course start lies in the 12 months up to D. Persons whose first entitlement is after that start (or who have none) are left out. Medians and 75th percentiles interpolate linearly between closest ranks.",
        unit: "days",
        counting_unit: CountingUnit::Persons,
        denominator: "persons whose first integration course start lies in the 12 months up to D, entitled by then",
        disclosure_count: "the persons behind the durations",
        measures: &[
            measure("median_days", "median days from first entitlement to first start"),
            measure("p75_days", "75th percentile of days from first entitlement to first start"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "course_participation_rate",
        title: "Integration course participation",
        definition: "Of persons present on D whose first CourseEntitlementIssued is on or before D minus 6 months, the share who started an integration course on or before D.",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "persons present on D with a first course entitlement at least 6 months before D",
        disclosure_count: "the denominator",
        measures: &[measure("rate", "share who started an integration course by D")],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "course_completion_rate",
        title: "Integration course completion",
        definition: "Of integration courses started 12 to 24 months before D (start after D minus 24 months and on or before D minus 12 months), the shares completed on or before D (CourseCompleted), left early on or before D (CourseLeftEarly), ended by the participant moving away on or before D (open on the date of a MovedAway, also when the person returned later), and still open on D. Each registration that started counts once; a re-entry is a course of its own.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "integration courses started 12 to 24 months before D",
        disclosure_count: "distinct persons with such a course",
        measures: &[
            measure("share_completed", "share completed by D"),
            measure("share_left_early", "share left early by D"),
            measure("share_moved_away", "share ended by moving away by D"),
            measure("share_open", "share still open on D"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "dtz_b1_rate",
        title: "DTZ results",
        definition: "Of LanguageTestTaken with exam dtz in the 12 months up to D, the shares at b1 or better, at a2 and below a2; reported for all results and for first attempts only (first_attempt true). Each result counts.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "DTZ results in the 12 months up to D (first attempts: those with first_attempt)",
        disclosure_count: "distinct persons with such a result (with a first attempt, for the first-attempt shares)",
        measures: &[
            measure("share_b1_or_better", "share of results at b1 or better"),
            measure("share_a2", "share of results at a2"),
            measure("share_below_a2", "share of results below a2"),
            measure("first_attempt_share_b1_or_better", "share of first attempts at b1 or better"),
            measure("first_attempt_share_a2", "share of first attempts at a2"),
            measure("first_attempt_share_below_a2", "share of first attempts below a2"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "employment_rate",
        title: "Employment rate",
        definition: "Of working-age persons (age 15 to 64 on D, age = year(D) - birth year) present on D, the share with an open employment of kind social_insurance_full, social_insurance_part or self_employed on D. Marginal jobs are reported separately: the share whose only open jobs on D are marginal, so both shares add up to the share with any job. Persons whose birth year is unknown are left out; the metadata counts them.",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "working-age persons present on D",
        disclosure_count: "the denominator",
        measures: &[
            measure("rate", "share employed (social insurance or self-employed) on D"),
            measure("marginal_only_rate", "share with only marginal jobs on D"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "employment_by_years_since_arrival",
        title: "Employment rate by years since arrival",
        definition: "employment_rate broken down by years_since_arrival (whole years from the first arrival to D; a year counts on its anniversary), for years 0 to 10: the cohort curve. Persons more than 10 whole years after their first arrival are outside this indicator, so its total covers years 0 to 10. years_since_arrival is always the first dimension; one more may be added (for example sex).",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "working-age persons present on D, 0 to 10 whole years after their first arrival",
        disclosure_count: "the denominator",
        measures: &[
            measure("rate", "share employed (social insurance or self-employed) on D"),
            measure("marginal_only_rate", "share with only marginal jobs on D"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: Some(Dimension::YearsSinceArrival),
        person_level: false,
    },
    KpiDefinition {
        key: "employment_by_years_since_entry",
        title: "Employment rate by years since entry into Germany",
        definition: "employment_rate broken down by years_since_entry (whole years from the entry into Germany to D; a year counts on its anniversary), for years 0 to 10: the cohort curve as the IAB and the IAB-BAMF-SOEP survey publish it, which counts from the entry into Germany rather than from the arrival in the municipality. The entry is the entry_date of the person's first ArrivalRecorded; where it is not recorded (or lies after that arrival) the first arrival stands in for it, and the answer's metadata counts those persons (entry_date_fallbacks). Persons more than 10 whole years after their entry are outside this indicator, so its total covers years 0 to 10. years_since_entry is always the first dimension; one more may be added (for example sex).",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "working-age persons present on D, 0 to 10 whole years after their entry into Germany",
        disclosure_count: "the denominator",
        measures: &[
            measure("rate", "share employed (social insurance or self-employed) on D"),
            measure("marginal_only_rate", "share with only marginal jobs on D"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: Some(Dimension::YearsSinceEntry),
        person_level: false,
    },
    KpiDefinition {
        key: "sgb2_integration_rate",
        title: "SGB II integration rate (K2-style)",
        definition: "Integrations in the 12 months up to D divided by the average number of persons with open sgb2 benefits at the 12 month-ends up to D (the last days of the 12 months ending on or before D: for D = 2024-12-31 they are 2024-01-31 to 2024-12-31, for D = 2024-12-15 they are 2023-12-31 to 2024-11-30). A person is in a month-end's stock when sgb2 benefits are open and the person is present on that day. An integration is the start of an employment of kind social_insurance_full, social_insurance_part or self_employed, or of a training, by a person with open sgb2 benefits on the start day or the day before; at most one per person per calendar month.",
        unit: "integrations per average recipient",
        counting_unit: CountingUnit::Events,
        denominator: "the sum of the 12 month-end stocks of sgb2 recipients (person-months); the rate is numerator / (denominator / 12)",
        disclosure_count: "distinct persons with an integration or in a month-end stock",
        measures: &[measure("rate", "integrations per average sgb2 recipient")],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "idle_days",
        title: "Idle time (Leerlauf)",
        definition: "For working-age persons present on D who have no active activity on D and no child under 3 in their household on D: days from the later of the end of their last activity and the start of their current stay (their arrival or return) to D. Active on D: an open course (started, not completed or left), measure, training, employment of any kind, school enrolment or Kita place; a spell ending on D is no longer active on D. A child under 3: another member of the same household (household_id), registered on or before D, aged 0 to 2 on D, who is present on D or has no arrival recorded at all (born here). Median, 75th percentile and the share above 90 days, all over these idle persons. Persons whose birth year is unknown are left out (the metadata counts those present on D), and a household member whose birth year is unknown is not taken for a child under 3.",
        unit: "days",
        counting_unit: CountingUnit::Persons,
        denominator: "idle working-age persons present on D without a child under 3 in the household",
        disclosure_count: "the denominator",
        measures: &[
            measure("median_days", "median idle days"),
            measure("p75_days", "75th percentile of idle days"),
            measure("share_over_90_days", "share idle more than 90 days"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "idle_list",
        title: "Idle list",
        definition: "The actionable list behind idle_days: persons idle (as in idle_days) more than N days on D, longest first, ties by person id. Like idle_days it leaves out persons whose birth year is unknown, since their working age cannot be told. Person-level, for caseworkers only: it is the idle_list read model, never an aggregate.",
        unit: "persons",
        counting_unit: CountingUnit::Persons,
        denominator: "none: a list of persons",
        disclosure_count: "not applicable: person-level data is never shown to roles that need disclosure control",
        measures: &[],
        disaggregations: &[],
        implicit_dimension: None,
        person_level: true,
    },
    KpiDefinition {
        key: "kita_rate",
        title: "Kita attendance",
        definition: "Of children aged 0 to 2 (rate_0_2) and of children aged 3 to 5 (rate_3_5) on D (age = year(D) - birth year) present on D, the share with an open Kita place on D (KitaStarted on or before D, no KitaEnded on or before D). Persons whose birth year is unknown are left out; the metadata counts those present on D.",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "children aged 0 to 2, and children aged 3 to 5, present on D",
        disclosure_count: "the denominator of each share",
        measures: &[
            measure("rate_0_2", "share of children aged 0 to 2 with a Kita place"),
            measure("rate_3_5", "share of children aged 3 to 5 with a Kita place"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "school_rate",
        title: "School attendance and language classes",
        definition: "Of children aged 6 to 15 on D present on D, the share enrolled in school on D (SchoolEnrolled on or before D, no SchoolLeft on or before D). And, over every MovedToRegularClass in the 12 months up to D from an enrolment with language_class (whether or not the pupil is still present), the median and 75th percentile of days from SchoolEnrolled to MovedToRegularClass. Persons whose birth year is unknown are left out of the enrolment share (the metadata counts those present on D), not of the durations.",
        unit: "share; days",
        counting_unit: CountingUnit::Persons,
        denominator: "children aged 6 to 15 present on D; for the durations, moves to a regular class in the 12 months up to D",
        disclosure_count: "the denominator of the share; the pupils behind the durations",
        measures: &[
            measure("rate", "share of children aged 6 to 15 enrolled in school"),
            measure("median_days_language_class_to_regular_class", "median days from enrolment in a language class to the move to a regular class"),
            measure("p75_days_language_class_to_regular_class", "75th percentile of days from enrolment in a language class to the move to a regular class"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "recognition_outcomes",
        title: "Recognition of foreign qualifications",
        definition: "Of RecognitionDecided in the 12 months up to D, the shares by outcome (full, partial, compensation_measure, negative), and the median and 75th percentile of days from RecognitionApplied to the decision. A decision names no occupation, so it closes the person's open application with the earliest date.",
        unit: "share; days",
        counting_unit: CountingUnit::Events,
        denominator: "recognition decisions in the 12 months up to D",
        disclosure_count: "distinct persons with such a decision",
        measures: &[
            measure("share_full", "share of decisions granting full recognition"),
            measure("share_partial", "share of decisions granting partial recognition"),
            measure("share_compensation_measure", "share of decisions requiring a compensation measure"),
            measure("share_negative", "share of negative decisions"),
            measure("median_days", "median days from application to decision"),
            measure("p75_days", "75th percentile of days from application to decision"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "mentoring_coverage",
        title: "Mentoring coverage",
        definition: "Of persons present on D, the share with an active mentor on D (MentorAssigned on or before D, no MentoringEnded for that mentor on or before D).",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "persons present on D",
        disclosure_count: "the denominator",
        measures: &[measure("rate", "share with an active mentor on D")],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "chain_funnel",
        title: "Prevention chain funnel",
        definition: "By arrival cohort (arrival_cohort, the year of the first arrival, always the first dimension): of persons whose first arrival is on or before D, whether present on D or not, the share who reached each stage on or before D: arrival (first ArrivalRecorded), entitlement (first CourseEntitlementIssued), course (first CourseStarted of any language course), b1 (first LanguageTestTaken of any exam at b1 or better), measure_or_training (first MeasureStarted or TrainingStarted), employment (first EmploymentStarted of kind social_insurance_full, social_insurance_part or self_employed). Stages need not be reached in order. Between consecutive stages: the median and 75th percentile of days, over persons who reached both by D with the later on or after the earlier.",
        unit: "share; days",
        counting_unit: CountingUnit::Persons,
        denominator: "persons whose first arrival is on or before D; for the durations, persons who reached both stages in order",
        disclosure_count: "the cohort for the shares; the persons behind each duration",
        measures: &[
            measure("reached_arrival", "share who arrived (all of the cohort)"),
            measure("reached_entitlement", "share with a course entitlement"),
            measure("reached_course", "share who started a language course"),
            measure("reached_b1", "share with a test result at b1 or better"),
            measure("reached_measure_or_training", "share who started a measure or training"),
            measure("reached_employment", "share who started a social-insurance or self-employed job"),
            measure("median_days_arrival_to_entitlement", "median days from arrival to entitlement"),
            measure("p75_days_arrival_to_entitlement", "75th percentile of days from arrival to entitlement"),
            measure("median_days_entitlement_to_course", "median days from entitlement to course start"),
            measure("p75_days_entitlement_to_course", "75th percentile of days from entitlement to course start"),
            measure("median_days_course_to_b1", "median days from course start to b1"),
            measure("p75_days_course_to_b1", "75th percentile of days from course start to b1"),
            measure("median_days_b1_to_measure_or_training", "median days from b1 to a measure or training"),
            measure("p75_days_b1_to_measure_or_training", "75th percentile of days from b1 to a measure or training"),
            measure("median_days_measure_or_training_to_employment", "median days from a measure or training to employment"),
            measure("p75_days_measure_or_training_to_employment", "75th percentile of days from a measure or training to employment"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: Some(Dimension::ArrivalCohort),
        person_level: false,
    },
    // Issue 14, joint case management of Jobcenter and Arbeitsagentur (projections/src/promising.rs).
    KpiDefinition {
        key: "promising_applicants",
        title: "Promising applicants (joint case management)",
        definition: "A promising applicant on a day is a person idle on that day (as in idle_days: working age, present, no active activity, so in particular no employment subject to social insurance nor any other job, and no child under 3 in the household) for more than N = 90 days, who is qualified on or before that day: a LanguageTestTaken of any exam at b1 or better, a RecognitionDecided full or partial, a TrainingEnded completed, or a MeasureEnded completed. A person enters the list on the first day of an idle spell on which this holds: the later of the spell's first day idle more than 90 days and the day the person first qualified (when an age or household condition fails on that day, the spell is left out). persons: promising applicants on D. share_placed_within_6_months: of persons who entered the list after D minus 18 months and on or before D minus 6 months (their first such entry, so six months have passed by D), the share who started an employment of kind social_insurance_full, social_insurance_part or self_employed on or after the entry and at most 6 months after it, whether or not still present on D. Both are cut by the person's dimension values on D. Persons whose birth year is unknown are left out; the metadata counts those present on D.",
        unit: "persons; share",
        counting_unit: CountingUnit::Persons,
        denominator: "none for the stock; for the share, persons who entered the list 6 to 18 months before D",
        disclosure_count: "the stock itself; the entrants behind the share",
        measures: &[
            measure("persons", "promising applicants on D"),
            measure("share_placed_within_6_months", "share of entrants 6 to 18 months before D placed in work within 6 months of entering"),
        ],
        disaggregations: &[Dimension::District, Dimension::Sex, Dimension::Nationality],
        implicit_dimension: None,
        person_level: false,
    },
    // Issue 14, education indicators from events already recorded
    // (projections/src/kpi/indicators/education.rs).
    KpiDefinition {
        key: "orientation_test_pass_rate",
        title: "Orientation course test (Leben in Deutschland) pass rate",
        definition: "Of OrientationTestTaken in the 12 months up to D, the share with passed true. Each result counts, repeated attempts included.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "orientation test results in the 12 months up to D",
        disclosure_count: "distinct persons with such a result",
        measures: &[measure("share_passed", "share of results passed")],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "school_leaving_certificates",
        title: "School-leaving certificates",
        definition: "Of SchoolLeft in the 12 months up to D, the shares by certificate: none, hauptschule, realschule, abitur, unknown. A school enrolment closed by moving away is no school leaving. Each leaving counts.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "school leavings in the 12 months up to D",
        disclosure_count: "distinct persons with such a leaving",
        measures: &[
            measure("share_none", "share leaving without a certificate"),
            measure("share_hauptschule", "share leaving with a Hauptschulabschluss"),
            measure("share_realschule", "share leaving with a Realschulabschluss"),
            measure("share_abitur", "share leaving with the Abitur"),
            measure("share_unknown", "share whose certificate is recorded as unknown"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "school_to_training_transition",
        title: "From the language class to training",
        definition: "Of persons whose first SchoolEnrolled with language_class true is on or before D, whether present on D or not, the share who by D (and not before that enrolment) reached each step: a MovedToRegularClass, a SchoolLeft, a SchoolLeft with a certificate other than none or unknown, a TrainingStarted. The steps need not come in order and overlap, so each share stands alone.",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "persons first enrolled in a language class on or before D",
        disclosure_count: "the denominator",
        measures: &[
            measure("reached_regular_class", "share who moved to a regular class"),
            measure("reached_school_leaving", "share who left school"),
            measure("reached_certificate", "share who left school with a certificate"),
            measure("reached_training", "share who started a training"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "training_outcomes",
        title: "Vocational training: completion and drop-out",
        definition: "Of trainings ended in the 12 months up to D, the shares ended by TrainingEnded completed, by TrainingEnded aborted (the drop-out), and by the trainee moving away while the training was open. Each training counts.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "trainings ended in the 12 months up to D",
        disclosure_count: "distinct persons with such a training",
        measures: &[
            measure("share_completed", "share completed"),
            measure("share_aborted", "share aborted (drop-out)"),
            measure("share_moved_away", "share ended by moving away"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "measure_outcomes",
        title: "Measures: outcomes",
        definition: "Of measures (MeasureStarted, any measure_type) ended in the 12 months up to D, the shares ended by MeasureEnded completed, by MeasureEnded aborted, and by the participant moving away while the measure was open. Each measure counts.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "measures ended in the 12 months up to D",
        disclosure_count: "distinct persons with such a measure",
        measures: &[
            measure("share_completed", "share completed"),
            measure("share_aborted", "share aborted"),
            measure("share_moved_away", "share ended by moving away"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "course_reentry",
        title: "Integration course re-entry after leaving early",
        definition: "Of integration courses left early (CourseLeftEarly with a reason other than moved) 12 to 24 months before D (after D minus 24 months, on or before D minus 12 months), the share after which the person registered for an integration course again (a re-entry: a CourseRegistered of an integration course after an integration course was left early) on or after the leaving day and on or before D, and the share after which such a re-entry also started by D. Each course left early counts, so a person who left twice counts twice.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "integration courses left early 12 to 24 months before D, not because of a move",
        disclosure_count: "distinct persons with such a course",
        measures: &[
            measure("share_registered_again", "share followed by a new registration by D"),
            measure("share_started_again", "share followed by a new course start by D"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "dtz_by_course_type",
        title: "DTZ results by course type (general against literacy courses)",
        definition: "Of LanguageTestTaken with exam dtz in the 12 months up to D, the share at b1 or better, by the course the test belongs to: the person's integration course with the latest CourseStarted on or before the test day (the event names no course, so the test is linked to the course it ends or the last one attended). general: that course is of course_type general; alpha: of course_type alpha; other: another integration course type, or no course started by then. For general and alpha also over first attempts only (first_attempt true). Each result counts.",
        unit: "share",
        counting_unit: CountingUnit::Events,
        denominator: "DTZ results in the 12 months up to D linked to a general course, to an alpha course, to another or none (first attempts: those with first_attempt)",
        disclosure_count: "distinct persons with such a result in the group of the share",
        measures: &[
            measure("general_share_b1_or_better", "share at b1 or better after a general course"),
            measure("alpha_share_b1_or_better", "share at b1 or better after a literacy (alpha) course"),
            measure("other_share_b1_or_better", "share at b1 or better after another course type or none"),
            measure("general_first_attempt_share_b1_or_better", "share of first attempts at b1 or better after a general course"),
            measure("alpha_first_attempt_share_b1_or_better", "share of first attempts at b1 or better after a literacy (alpha) course"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    // Issue 14, the municipal checklist (projections/src/checklist.rs).
    KpiDefinition {
        key: "checklist_completion",
        title: "Checklist for new arrivals: steps done within 4, 8 and 12 weeks",
        definition: "New arrivals: persons whose first ArrivalRecorded lies after D minus 12 months and at least 12 weeks before D, whether present on D or not. For each step of the checklist, of the new arrivals it is for, the share who did it within 4, 8 and 12 weeks (7 days a week) of their first arrival; a step done before the arrival counts as done within any window. The steps and the events that mark them done: start_folder, health_check, vaccination, competence_assessment and start_course by a ChecklistItemCompleted of that item; counselling by any CounsellingContact; course_entitlement by a CourseEntitlementIssued; german_lessons by a CourseRegistered of any language course; kita by a KitaPlaceRequested or KitaStarted; school by a SchoolEnrolled. Who each step is for, by age in the year of the first arrival (year of arrival minus birth year): start_folder, counselling, health_check and vaccination everyone; competence_assessment, course_entitlement, start_course and german_lessons aged 15 to 64; kita aged 0 to 5; school aged 6 to 14. A person whose birth year is unknown is counted for the steps for everyone only.",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "new arrivals the step is for: everyone, aged 15 to 64, aged 0 to 5, aged 6 to 14",
        disclosure_count: "the denominator of the step",
        measures: &[
            measure("start_folder_within_4_weeks", "share with start folder done within 4 weeks of arrival"),
            measure("start_folder_within_8_weeks", "share with start folder done within 8 weeks of arrival"),
            measure("start_folder_within_12_weeks", "share with start folder done within 12 weeks of arrival"),
            measure("counselling_within_4_weeks", "share with counselling done within 4 weeks of arrival"),
            measure("counselling_within_8_weeks", "share with counselling done within 8 weeks of arrival"),
            measure("counselling_within_12_weeks", "share with counselling done within 12 weeks of arrival"),
            measure("health_check_within_4_weeks", "share with health check done within 4 weeks of arrival"),
            measure("health_check_within_8_weeks", "share with health check done within 8 weeks of arrival"),
            measure("health_check_within_12_weeks", "share with health check done within 12 weeks of arrival"),
            measure("vaccination_within_4_weeks", "share with vaccination done within 4 weeks of arrival"),
            measure("vaccination_within_8_weeks", "share with vaccination done within 8 weeks of arrival"),
            measure("vaccination_within_12_weeks", "share with vaccination done within 12 weeks of arrival"),
            measure("competence_assessment_within_4_weeks", "share with competence assessment done within 4 weeks of arrival"),
            measure("competence_assessment_within_8_weeks", "share with competence assessment done within 8 weeks of arrival"),
            measure("competence_assessment_within_12_weeks", "share with competence assessment done within 12 weeks of arrival"),
            measure("course_entitlement_within_4_weeks", "share with course entitlement done within 4 weeks of arrival"),
            measure("course_entitlement_within_8_weeks", "share with course entitlement done within 8 weeks of arrival"),
            measure("course_entitlement_within_12_weeks", "share with course entitlement done within 12 weeks of arrival"),
            measure("start_course_within_4_weeks", "share with start course done within 4 weeks of arrival"),
            measure("start_course_within_8_weeks", "share with start course done within 8 weeks of arrival"),
            measure("start_course_within_12_weeks", "share with start course done within 12 weeks of arrival"),
            measure("german_lessons_within_4_weeks", "share with german lessons done within 4 weeks of arrival"),
            measure("german_lessons_within_8_weeks", "share with german lessons done within 8 weeks of arrival"),
            measure("german_lessons_within_12_weeks", "share with german lessons done within 12 weeks of arrival"),
            measure("kita_within_4_weeks", "share with kita done within 4 weeks of arrival"),
            measure("kita_within_8_weeks", "share with kita done within 8 weeks of arrival"),
            measure("kita_within_12_weeks", "share with kita done within 12 weeks of arrival"),
            measure("school_within_4_weeks", "share with school done within 4 weeks of arrival"),
            measure("school_within_8_weeks", "share with school done within 8 weeks of arrival"),
            measure("school_within_12_weeks", "share with school done within 12 weeks of arrival"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    // ---- Needs against capacity (offers) ----
    KpiDefinition {
        key: "unmet_demand",
        title: "Needs against capacity",
        definition: "By district (always the dimension, the only one): persons present on D who wait, against the places offered for D's month. Kita: persons whose latest KitaPlaceRequested on or before D was not followed by a KitaStarted on or before D and who have no open Kita place on D (kita_requests_open), against the Kita places of the offers (offer-<uuid> streams) of kind kita_places for D's month in that district in force on D (kita_places: CapacityOffered on or before D, the latest CapacityChanged on or before D, no withdrawal on or before D, none withdrawn as recorded_in_error; as recorded by known_at). Courses: persons with a CourseEntitlementIssued on or before D and no integration course registered on or before D (course_entitled_not_registered), and persons with an integration course registered on or before D, not started and not ended by D (course_registered_not_started), against the course places of the offers of kind course_places for D's month in the district the offer names (places offered without a district count under none). The places missing are max(0, persons waiting - places offered) per cell; a margin or the total sets all persons waiting against all places, so it is the shortfall if places could be shared across districts, and the sum of the districts' shortfalls can be larger. A person counts in the district they live in on D. Counselling hours are offers too, but no event records a need for them, so they do not count here.",
        unit: "persons; places",
        counting_unit: CountingUnit::Persons,
        denominator: "none: counts of persons waiting and of places offered",
        disclosure_count: "the persons waiting for each count; the places missing are decided together with the counts their demand adds up from (Kita: kita_requests_open; courses: course_entitled_not_registered and course_registered_not_started), all suppressed when any is, since with the places published a places-missing figure above 0 gives the demand away; places offered are about organisations and never suppressed for themselves",
        measures: &[
            measure("kita_requests_open", "persons with a Kita place requested and not started"),
            measure("kita_places", "Kita places offered for D's month"),
            measure("kita_places_missing", "max(0, kita_requests_open - kita_places)"),
            measure("course_entitled_not_registered", "persons entitled to an integration course and not registered for one"),
            measure("course_registered_not_started", "persons registered for an integration course that has not started"),
            measure("course_places", "integration course places offered for D's month"),
            measure("course_places_missing", "max(0, course_entitled_not_registered + course_registered_not_started - course_places)"),
        ],
        disaggregations: &[Dimension::District],
        implicit_dimension: Some(Dimension::District),
        person_level: false,
    },
    KpiDefinition {
        key: "demand_forecast",
        title: "Demand forecast for the next 12 months",
        definition: "By district (always the dimension, the only one): of the persons present on D, who will need a place in the 12 months after D, against the places offered for those months (the offers of the months after D's month up to 12 months after it, in force on D as recorded by known_at, as in unmet_demand, summed over the months: an offer counts the places taken up in its month). Kita: children aged 0 to 4 on D (age = year(D) - birth year) without an open Kita place on D, who are or become of Kita age (1 to 5) within the 12 months (kita_children), against kita_places. School: children aged 5 on D not enrolled on D, who reach school age within the 12 months (school_starters; no offer records school places). Courses: persons with a CourseEntitlementIssued on or before D who have not started an integration course by D (course_entitled_not_started), against course_places. The places missing are max(0, persons - places) per cell; a margin or the total sets all persons against all places. A forecast from the present population: arrivals after D are not foreseen. Persons whose birth year is unknown are not counted as children.",
        unit: "persons; places",
        counting_unit: CountingUnit::Persons,
        denominator: "none: counts of persons and of places offered",
        disclosure_count: "the persons of each count, and for the places missing the persons they are missing for; places offered are never suppressed for themselves",
        measures: &[
            measure("kita_children", "children aged 0 to 4 on D without a Kita place"),
            measure("kita_places", "Kita places offered for the 12 months after D's month"),
            measure("kita_places_missing", "max(0, kita_children - kita_places)"),
            measure("school_starters", "children aged 5 on D not in school"),
            measure("course_entitled_not_started", "persons entitled to an integration course who have not started one"),
            measure("course_places", "integration course places offered for the 12 months after D's month"),
            measure("course_places_missing", "max(0, course_entitled_not_started - course_places)"),
        ],
        disaggregations: &[Dimension::District],
        implicit_dimension: Some(Dimension::District),
        person_level: false,
    },
    KpiDefinition {
        key: "base_reach",
        title: "Reach of the neighbourhood bases (Start.Punkt.SZ)",
        definition: "Of persons present on D, the share with a CounsellingContact at a base (the contact names a base, such as startpunkt-sz for Start.Punkt.SZ, whichever agency held it) in the 12 months up to D. Cut by the person's dimensions on D: by district it says which districts the bases reach, by where the persons live on D, not where the base stands. A contact at an agency's own office (no base) does not count.",
        unit: "share",
        counting_unit: CountingUnit::Persons,
        denominator: "persons present on D",
        disclosure_count: "the denominator",
        measures: &[measure("rate", "share with a counselling contact at a base in the 12 months up to D")],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    // ---- end of needs against capacity ----
    // ---- Volunteers ----
    KpiDefinition {
        key: "active_volunteers",
        title: "Active volunteers",
        definition: "By district (always the dimension, the only one; the district a volunteer works in, VolunteerRecruited.district, none when not given): volunteers of the register (volunteer-<uuid> streams, as recorded by known_at) active on D: VolunteerRecruited on or before D and no VolunteerEnded on or before D. share_trained: of them, those with a VolunteerTrained on or before D. A volunteer whose personal data was erased (VolunteerErased) still counts: the register's facts are pseudonymous and stay.",
        unit: "volunteers; share",
        counting_unit: CountingUnit::Volunteers,
        denominator: "volunteers active on D",
        disclosure_count: "the volunteers counted",
        measures: &[
            measure("volunteers", "volunteers active on D"),
            measure("share_trained", "share of them trained by D"),
        ],
        disaggregations: &[Dimension::District],
        implicit_dimension: Some(Dimension::District),
        person_level: false,
    },
    KpiDefinition {
        key: "mentees_per_volunteer",
        title: "Mentees per volunteer",
        definition: "By the volunteer's district (always the dimension, the only one): the volunteers active on D (as in active_volunteers), the mentees with a mentoring active on D (a MentorAssigned on or before D, no MentoringEnded for that mentor on or before D, in a person's stream, not ended by a move away) whose mentor_id names one of those volunteers (volunteer-<uuid>), counted in that volunteer's district, and mentees / volunteers. A mentee of two volunteers counts for each. Mentors named by anything but a volunteer of the register (older free-text mentor ids) are not counted; mentoring_coverage counts them.",
        unit: "mentees per volunteer",
        counting_unit: CountingUnit::Volunteers,
        denominator: "volunteers active on D",
        disclosure_count: "volunteers for volunteers and the ratio; mentees for mentees",
        measures: &[
            measure("volunteers", "volunteers active on D"),
            measure("mentees", "mentees with an active mentoring by one of them on D"),
            measure("mentees_per_volunteer", "mentees / volunteers"),
        ],
        disaggregations: &[Dimension::District],
        implicit_dimension: Some(Dimension::District),
        person_level: false,
    },
    KpiDefinition {
        key: "mentor_request_days",
        title: "Time from a request for a mentor to an assignment",
        definition: "Days from a MentorRequested to the MentorAssigned that answers it, for every assignment in the 12 months up to D (after D minus 12 months, on or before D). A MentorAssigned answers the requests on or before it and after the person's previous MentorAssigned, and the wait counts from the earliest of them; an assignment with no such request (a mentor found without asking) is no wait. Requests still open on D are not waits yet: the coordinator's openMentorRequests lists them. Medians and 75th percentiles interpolate linearly between closest ranks.",
        unit: "days",
        counting_unit: CountingUnit::Events,
        denominator: "assignments answering a request in the 12 months up to D",
        disclosure_count: "distinct persons with such an assignment",
        measures: &[
            measure("median_days", "median days from request to assignment"),
            measure("p75_days", "75th percentile of days from request to assignment"),
        ],
        disaggregations: ALL_DIMENSIONS,
        implicit_dimension: None,
        person_level: false,
    },
    KpiDefinition {
        key: "volunteer_retention",
        title: "Volunteer retention after 6 and 12 months",
        definition: "By the volunteer's district (always the dimension, the only one): of the volunteers recruited in the 12 months up to D minus 6 months (VolunteerRecruited after D minus 18 months, on or before D minus 6 months), the share still active 6 months after their recruitment (no VolunteerEnded on or before recruitment plus 6 months); of those recruited in the 12 months up to D minus 12 months, the share still active 12 months after. Cohorts of recruitment, so every volunteer in a cohort has had the full 6 or 12 months by D. Erased volunteers count as their facts say.",
        unit: "share",
        counting_unit: CountingUnit::Volunteers,
        denominator: "volunteers of the recruitment cohort",
        disclosure_count: "the cohort",
        measures: &[
            measure("retained_6_months", "share still active 6 months after recruitment"),
            measure("retained_12_months", "share still active 12 months after recruitment"),
        ],
        disaggregations: &[Dimension::District],
        implicit_dimension: Some(Dimension::District),
        person_level: false,
    },
    // ---- end of volunteers ----
];

/// Every indicator, in catalogue order.
pub fn catalogue() -> &'static [KpiDefinition] {
    CATALOGUE
}

/// The definition of `key`, or an error listing the known keys.
pub fn definition(key: &str) -> Result<&'static KpiDefinition, KpiError> {
    CATALOGUE
        .iter()
        .find(|definition| definition.key == key)
        .ok_or_else(|| KpiError::UnknownKey {
            key: key.to_owned(),
            known: CATALOGUE.iter().map(|definition| definition.key).collect(),
        })
}

/// The catalogue as written to `schemas/kpis.json`: the common terms, the stages, the dimensions
/// with their fixed values, and every indicator. Pretty-printed, fields in declaration order, with
/// a final newline.
pub fn render() -> String {
    #[derive(Serialize)]
    struct Document {
        description: &'static str,
        terms: Vec<Term>,
        stages: Vec<&'static str>,
        dimensions: Vec<DimensionEntry>,
        kpis: Vec<Entry>,
    }
    /// An indicator with its German wording beside the English contract (see [`super::german`]).
    #[derive(Serialize)]
    struct Entry {
        #[serde(flatten)]
        definition: &'static KpiDefinition,
        title_de: &'static str,
        definition_de: &'static str,
        denominator_de: &'static str,
    }
    #[derive(Serialize)]
    struct Term {
        term: &'static str,
        meaning: &'static str,
    }
    #[derive(Serialize)]
    struct DimensionEntry {
        name: &'static str,
        description: &'static str,
        /// Empty when the values come from the data (districts, nationalities, years).
        values: Vec<&'static str>,
    }
    let term = |term, meaning| Term { term, meaning };
    let dimensions = Dimension::ALL
        .iter()
        .map(|dimension| {
            let (description, values): (&'static str, Vec<&'static str>) = match dimension {
                Dimension::District => (
                    "the district as of D (the last known one for a person who moved away), named as the district register named it on D (renamed or merged districts under their successor); none before any arrival",
                    Vec::new(),
                ),
                Dimension::Area => (
                    "the area (parent in the district register) of the district as of D; unknown for a district the register does not know; none before any arrival",
                    Vec::new(),
                ),
                Dimension::CurrentDistrict => (
                    "the district as of D named by today's district register (older records mapped through renames and merges); none before any arrival",
                    Vec::new(),
                ),
                Dimension::Sex => (
                    "as registered",
                    journey_core::catalogue::Sex::ALL.iter().map(|sex| sex.as_str()).collect(),
                ),
                Dimension::AgeBand => (
                    "age on D = year(D) - birth year; unknown when the birth year is registered as unknown",
                    AGE_BANDS.iter().map(|band| band.label).collect(),
                ),
                Dimension::Nationality => (
                    "as registered (ISO 3166-1 alpha-3), or unknown",
                    Vec::new(),
                ),
                Dimension::ArrivalCohort => (
                    "the year of the first arrival; none before any arrival",
                    Vec::new(),
                ),
                Dimension::YearsSinceArrival => (
                    "whole years from the first arrival to D (a year counts on its anniversary); none before any arrival",
                    Vec::new(),
                ),
                Dimension::YearsSinceEntry => (
                    "whole years from the entry into Germany (the entry_date of the first ArrivalRecorded) to D (a year counts on its anniversary), counted from the first arrival where no entry date is recorded or it lies after the arrival; none before any arrival",
                    Vec::new(),
                ),
                Dimension::ProtectionStatus => (
                    "the latest status-bearing event on or before D: AsylumApplicationFiled or ResidenceStatusChanged gestattung give in_procedure; AsylumDecisionIssued asylum_art16a or refugee_3 give refugee, subsidiary_4 subsidiary_protection, deportation_ban deportation_ban, rejected or dublin rejected; ResidenceStatusChanged duldung gives tolerated, aufenthaltserlaubnis with a legal_basis starting with §24 temporary_protection, other aufenthaltserlaubnis keep the protection held (else other_permit), niederlassungserlaubnis settled, eingebuergert naturalised, other other; none when nothing is recorded by D",
                    ProtectionStatus::ALL
                        .iter()
                        .map(|status| status.as_str())
                        .chain(["none"])
                        .collect(),
                ),
            };
            DimensionEntry {
                name: dimension.as_str(),
                description,
                values,
            }
        })
        .collect();
    let document = Document {
        description: "The KPI catalogue of journey (DOMAIN.md section 5), generated from journey-projections. Do not edit: run UPDATE_SCHEMAS=1 cargo test -p journey-projections --test schemas.",
        terms: vec![
            term("present", PERSONS_PRESENT),
            term("in_last_year", IN_LAST_YEAR),
            term("integration_course", INTEGRATION_COURSE),
            term("active", ACTIVE),
            term("quantiles", QUANTILES),
            term("working_age", "aged 15 to 64 on D; age = year(D) - birth year"),
            term("unknown_birth_year", "a person whose birth year is registered as unknown has no age: indicators over an age group (working age for employment_rate, the employment curves and idle_days; children for kita_rate and school_rate) leave such a person out, and the answer's metadata counts those present on D who were left out (unknown_birth_year_excluded); age_band shows them as unknown"),
            term("unknown_and_none", "unknown is a value recorded as unknown; none means nothing is recorded (or not applicable); they are never merged"),
            term("suppression", "with suppression k, a measure of a cell counting more than 0 and fewer than k persons (its disclosure_count) is suppressed, and further cells are suppressed until no suppressed figure can be recomputed from the published cells, margins and total"),
            term("rounding", "values are rounded to 4 decimals"),
        ],
        stages: Stage::ALL.iter().map(|stage| stage.as_str()).collect(),
        dimensions,
        kpis: CATALOGUE
            .iter()
            .map(|definition| {
                // `every_indicator_has_its_german_text` (projections tests) keeps this filled;
                // a missing translation shows as an empty string, never as the English text.
                let german = super::german::german(definition.key);
                Entry {
                    definition,
                    title_de: german.map_or("", |german| german.title),
                    definition_de: german.map_or("", |german| german.definition),
                    denominator_de: german.map_or("", |german| german.denominator),
                }
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}
