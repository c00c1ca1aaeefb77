//! Work: recognition of qualifications, trainings, jobs and marginal jobs, measures and
//! cooperation plans of the Jobcenter, volunteer mentoring.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::Rng;

use crate::catalogue::{
    Agency, CooperationPlanAgreed, EmploymentEnded, EmploymentKind, EmploymentStarted, EndOutcome,
    MeasureEnded, MeasureStarted, MeasureType, MentorAssigned, MentorRequested, MentoringEnded,
    RecognitionApplied, RecognitionDecided, RecognitionOutcome, Sex, TrainingEnded,
    TrainingStarted,
};

use super::super::calibration::{
    EntryCurves, JOB_GAP_MEAN_MONTHS, JOB_MEAN_MONTHS, RECOGNITION_COMPENSATION_SHARE,
    RECOGNITION_FULL_SHARE, RECOGNITION_NEGATIVE_SHARE, RECOGNITION_PARTIAL_SHARE,
};
use super::super::plan::Closer;
use super::super::population::Route;
use super::super::random::{
    add_days, age_on, chance, day_of, days_between, exponential, lognormal_days, pick,
};
use super::{Household, Job, Person};

/// Days per month, for turning the entry curve's months into days.
const DAYS_PER_MONTH: f64 = 30.4375;

/// Occupations (KldB 2010) common in refugees' first jobs in the region: warehouse and logistics,
/// metal and vehicle work (steel and car industry), cleaning, kitchens, care, retail, driving,
/// building trades. Assumption.
const COMMON_OCCUPATIONS: &[(&str, f64)] = &[
    ("51301", 16.0),
    ("24412", 9.0),
    ("25212", 7.0),
    ("54101", 12.0),
    ("29301", 10.0),
    ("82101", 8.0),
    ("62101", 9.0),
    ("52122", 7.0),
    ("26212", 5.0),
    ("34212", 5.0),
    ("24202", 6.0),
    ("81302", 3.0),
    ("43104", 2.0),
];

/// Regulated professions (recognition required to practise) and others. Assumption.
const REGULATED_OCCUPATIONS: &[(&str, f64)] = &[
    ("81302", 5.0),
    ("81404", 3.0),
    ("84114", 2.0),
    ("81712", 1.0),
];
const UNREGULATED_OCCUPATIONS: &[(&str, f64)] = &[
    ("26212", 3.0),
    ("25212", 3.0),
    ("24412", 2.0),
    ("43104", 2.0),
    ("72213", 2.0),
    ("62102", 2.0),
];

impl Person {
    /// Recognition of a foreign qualification, and an adaptation measure after a decision that asks
    /// for one.
    pub(super) fn recognition(&mut self, rng: &mut StdRng, household: &Household) {
        if self.age_on(self.member.arrival) < 22
            || !chance(rng, household.nationality.qualified_share)
        {
            return;
        }
        let from = self.own_permit_on.unwrap_or(self.member.arrival);
        let applied_on = add_days(from, days_between(rng, 60, 900));
        let regulated = chance(rng, 0.55);
        let occupation = *pick(
            rng,
            if regulated {
                REGULATED_OCCUPATIONS
            } else {
                UNREGULATED_OCCUPATIONS
            },
        );
        let group = self.plan.group(Agency::Arbeitsagentur, Closer::Nothing);
        self.plan.add_to(
            group,
            applied_on,
            Agency::Arbeitsagentur,
            RecognitionApplied {
                occupation_code: occupation.to_owned(),
                regulated,
            },
        );
        let decided_on = add_days(applied_on, lognormal_days(rng, 100.0, 0.5, 30, 400));
        let outcome = *pick(
            rng,
            &[
                (RecognitionOutcome::Full, RECOGNITION_FULL_SHARE),
                (RecognitionOutcome::Partial, RECOGNITION_PARTIAL_SHARE),
                (
                    RecognitionOutcome::CompensationMeasure,
                    RECOGNITION_COMPENSATION_SHARE,
                ),
                (RecognitionOutcome::Negative, RECOGNITION_NEGATIVE_SHARE),
            ],
        );
        self.plan.add_to(
            group,
            decided_on,
            Agency::Arbeitsagentur,
            RecognitionDecided { outcome },
        );
        match outcome {
            RecognitionOutcome::Full | RecognitionOutcome::Partial => {
                self.occupation = Some(occupation.to_owned());
            }
            RecognitionOutcome::CompensationMeasure if chance(rng, 0.5) => {
                let started_on = add_days(decided_on, days_between(rng, 30, 180));
                let ended_on = add_days(started_on, days_between(rng, 150, 365));
                let completed = chance(rng, 0.8);
                self.measure(started_on, ended_on, MeasureType::Qualification, completed);
                if completed {
                    self.occupation = Some(occupation.to_owned());
                }
            }
            _ => {}
        }
    }

    fn measure(
        &mut self,
        started_on: NaiveDate,
        ended_on: NaiveDate,
        measure_type: MeasureType,
        completed: bool,
    ) {
        let number = self.next_number();
        let measure_id = format!("M-{}-{number}", started_on.year());
        let group = self
            .plan
            .group(Agency::Jobcenter, Closer::Measure(measure_id.clone()));
        self.plan.add_to(
            group,
            started_on,
            Agency::Jobcenter,
            MeasureStarted {
                measure_id: measure_id.clone(),
                measure_type,
            },
        );
        self.plan.add_to(
            group,
            ended_on,
            Agency::Jobcenter,
            MeasureEnded {
                measure_id,
                outcome: if completed {
                    EndOutcome::Completed
                } else {
                    EndOutcome::Aborted
                },
            },
        );
    }

    pub(super) fn mentoring(&mut self, household: &Household) {
        let Some((mentor_id, assigned_on, ended_on)) = household.mentor.clone() else {
            return;
        };
        if assigned_on < self.member.arrival {
            return;
        }
        let group = self
            .plan
            .group(Agency::Ehrenamt, Closer::Mentoring(mentor_id.clone()));
        // The request that the assignment answers, 1 to 16 weeks before it (never before the
        // arrival): derived from the household id rather than drawn, so the random stream, and
        // with it every other figure of the population, stays as it was. Assumption.
        let wait = super::super::volunteers::request_wait_days(household.id);
        let requested_on = (assigned_on - chrono::Duration::days(wait)).max(self.member.arrival);
        self.plan
            .add_to(group, requested_on, Agency::Ehrenamt, MentorRequested {});
        self.plan.add_to(
            group,
            assigned_on,
            Agency::Ehrenamt,
            MentorAssigned {
                mentor_id: mentor_id.clone(),
            },
        );
        self.plan.add_to(
            group,
            ended_on,
            Agency::Ehrenamt,
            MentoringEnded { mentor_id },
        );
    }

    /// Working life: perhaps a training, the first job at a time after the entry into Germany
    /// drawn from the calibrated entry curve (but not before the person may work here), then jobs
    /// and gaps; some marginal jobs on the side.
    pub(super) fn jobs(&mut self, rng: &mut StdRng, household: &Household, curves: &EntryCurves) {
        let birth_year = self.member.birth_year;
        let arrival = self.member.arrival;
        let retirement = day_of(birth_year + 65, 6, 30);
        let asylum_seeker = household.route == Route::Asylum && !self.member.reunified;
        let labour_from = if self.member.adult {
            // Asylum seekers may not work in their first three months.
            add_days(arrival, if asylum_seeker { 90 } else { 14 })
        } else {
            let after_school = self
                .school_left_on
                .map_or(arrival, |left| add_days(left, days_between(rng, 14, 90)));
            after_school.max(day_of(birth_year + 17, 7, 1))
        };
        let male = self.member.sex == Sex::Male;
        let curve = match household.route {
            Route::TemporaryProtection => curves.temporary(male),
            Route::Asylum => curves.asylum(self.entered_on.year(), male),
        };
        let draw: f64 = rng.gen();
        let months = curve.months_to_first_entry(draw);
        // Those who arrive close to retirement seldom find work. Assumption.
        let too_old = self.age_on(arrival) >= 55 && chance(rng, 0.5);
        let entry = months
            .filter(|_| !too_old)
            .map(|months| {
                add_days(self.entered_on, (months * DAYS_PER_MONTH) as i64).max(labour_from)
            })
            .filter(|entry| *entry < add_days(retirement, -730));

        // A training before the first job for young people; some trainings are broken off.
        // Assumptions.
        let young = |day: NaiveDate| age_on(birth_year, day) <= 27;
        let mut training_from = None;
        if let Some(entry) = entry {
            let training_share = if self.member.adult { 0.35 } else { 0.55 };
            if young(entry) && chance(rng, training_share) {
                let started_on = add_days(entry, -(1_095 + days_between(rng, 0, 120)));
                let earliest = if self.member.adult {
                    add_days(labour_from, 180)
                } else {
                    labour_from
                };
                if started_on >= earliest {
                    let occupation = *pick(rng, COMMON_OCCUPATIONS);
                    let ended_on = add_days(entry, -days_between(rng, 1, 30));
                    self.training(started_on, ended_on, occupation, true);
                    self.occupation = Some(occupation.to_owned());
                    training_from = Some(started_on);
                }
            }
        }
        if young(labour_from) && chance(rng, 0.12) {
            let started_on = add_days(labour_from, days_between(rng, 180, 900));
            let ended_on = add_days(started_on, days_between(rng, 60, 450));
            let next = training_from.or(entry);
            if next.is_none_or(|next| ended_on < add_days(next, -14)) {
                let occupation = *pick(rng, COMMON_OCCUPATIONS);
                self.training(started_on, ended_on, occupation, false);
            }
        }

        if let Some(entry) = entry {
            let mut start = entry;
            let mut first = true;
            while start <= household.end && start < retirement {
                let female = self.member.sex != Sex::Male;
                let part_share = if female { 0.45 } else { 0.12 };
                let kind = if chance(rng, 0.04) {
                    EmploymentKind::SelfEmployed
                } else if chance(rng, part_share) {
                    EmploymentKind::SocialInsurancePart
                } else {
                    EmploymentKind::SocialInsuranceFull
                };
                let length = (exponential(rng, JOB_MEAN_MONTHS) * DAYS_PER_MONTH) as i64;
                let until = add_days(start, length.max(14)).min(retirement);
                let occupation = match (&self.occupation, first) {
                    (Some(occupation), true) => Some(occupation.clone()),
                    (Some(occupation), false) if chance(rng, 0.6) => Some(occupation.clone()),
                    _ if chance(rng, 0.9) => Some((*pick(rng, COMMON_OCCUPATIONS)).to_owned()),
                    _ => None,
                };
                let weekly_hours = match kind {
                    EmploymentKind::SocialInsuranceFull => {
                        chance(rng, 0.8).then(|| rng.gen_range(35..=40))
                    }
                    EmploymentKind::SocialInsurancePart => {
                        chance(rng, 0.8).then(|| rng.gen_range(15..=30))
                    }
                    _ => None,
                };
                let agency = if chance(rng, 0.7) {
                    Agency::Jobcenter
                } else {
                    Agency::Arbeitsagentur
                };
                self.employment(
                    start,
                    until,
                    kind,
                    occupation,
                    weekly_hours,
                    agency,
                    household.end,
                );
                if until >= retirement {
                    break;
                }
                let gap = (exponential(rng, JOB_GAP_MEAN_MONTHS) * DAYS_PER_MONTH) as i64;
                start = add_days(until, gap.max(1));
                first = false;
            }
        }

        // Marginal jobs (Minijobs), more often for women, one to three over the years; they do
        // not count as employment in the indicator and do not end SGB II. Assumption.
        let adult_now = self.member.adult || self.age_on(household.end) >= 18;
        let marginal_share = if self.member.sex == Sex::Male {
            0.18
        } else {
            0.28
        };
        if adult_now && chance(rng, marginal_share) {
            let mut start = add_days(labour_from, days_between(rng, 60, 1_200));
            for _ in 0..rng.gen_range(1..=3) {
                if start >= retirement || start > household.end {
                    break;
                }
                let length = (exponential(rng, 18.0) * DAYS_PER_MONTH) as i64;
                let until = add_days(start, length.max(30)).min(retirement);
                self.employment(
                    start,
                    until,
                    EmploymentKind::Marginal,
                    None,
                    Some(rng.gen_range(5..=12)),
                    Agency::Jobcenter,
                    household.end,
                );
                start = add_days(until, days_between(rng, 30, 900));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn employment(
        &mut self,
        start: NaiveDate,
        until: NaiveDate,
        kind: EmploymentKind,
        occupation_code: Option<String>,
        weekly_hours: Option<u8>,
        agency: Agency,
        end: NaiveDate,
    ) {
        let number = self.next_number();
        let employment_id = format!("E-{}-{number}", start.year());
        let group = self
            .plan
            .group(agency, Closer::Employment(employment_id.clone()));
        self.plan.add_to(
            group,
            start,
            agency,
            EmploymentStarted {
                employment_id: employment_id.clone(),
                kind,
                occupation_code,
                weekly_hours,
            },
        );
        self.plan
            .add_to(group, until, agency, EmploymentEnded { employment_id });
        self.jobs.push(Job {
            kind,
            start,
            until: (until <= end).then_some(until),
        });
    }

    fn training(
        &mut self,
        started_on: NaiveDate,
        ended_on: NaiveDate,
        occupation: &str,
        completed: bool,
    ) {
        let number = self.next_number();
        let training_id = format!("A-{}-{number}", started_on.year());
        let agency = Agency::Arbeitsagentur;
        let group = self
            .plan
            .group(agency, Closer::Training(training_id.clone()));
        self.plan.add_to(
            group,
            started_on,
            agency,
            TrainingStarted {
                training_id: training_id.clone(),
                occupation_code: occupation.to_owned(),
            },
        );
        self.plan.add_to(
            group,
            ended_on,
            agency,
            TrainingEnded {
                training_id,
                outcome: if completed {
                    EndOutcome::Completed
                } else {
                    EndOutcome::Aborted
                },
            },
        );
    }

    /// Cooperation plans and measures of the Jobcenter while the person receives SGB II and has
    /// no job. Frequencies are assumptions.
    pub(super) fn measures(&mut self, rng: &mut StdRng, end: NaiveDate) {
        let spells = std::mem::take(&mut self.sgb2_spells);
        for &(from, until) in &spells {
            // A spell still open on `end` does not cut a measure short: the measure may run on.
            let still_open = until > end;
            let until = until.min(add_days(end, 1));
            let mut plan_on = add_days(from, days_between(rng, 20, 90));
            while plan_on < until {
                let age = self.age_on(plan_on);
                if (18..=62).contains(&age) {
                    self.plan.add(
                        plan_on,
                        Agency::Jobcenter,
                        CooperationPlanAgreed {
                            agency: Agency::Jobcenter,
                        },
                    );
                }
                plan_on = add_days(plan_on, days_between(rng, 400, 800));
            }
            let mut started_on = add_days(from, days_between(rng, 60, 300));
            while started_on < until {
                let age = self.age_on(started_on);
                let employed = self.jobs.iter().any(|job| {
                    job.kind != EmploymentKind::Marginal
                        && job.start <= started_on
                        && job.until.is_none_or(|job_until| started_on <= job_until)
                });
                let mut next_from = started_on;
                if (18..=62).contains(&age) && !employed {
                    let measure_type = *pick(
                        rng,
                        &[
                            (MeasureType::Activation, 35.0),
                            (MeasureType::Coaching, 25.0),
                            (MeasureType::Qualification, 20.0),
                            (MeasureType::Internship, 15.0),
                            (MeasureType::Other, 5.0),
                        ],
                    );
                    let (low, high) = match measure_type {
                        MeasureType::Activation => (60, 180),
                        MeasureType::Coaching => (90, 270),
                        MeasureType::Qualification => (120, 365),
                        MeasureType::Internship => (14, 90),
                        MeasureType::Other => (30, 120),
                    };
                    let mut ended_on = add_days(started_on, days_between(rng, low, high));
                    if !still_open {
                        ended_on = ended_on.min(add_days(until, -1)).max(started_on);
                    }
                    self.measure(started_on, ended_on, measure_type, chance(rng, 0.75));
                    next_from = ended_on;
                }
                started_on = add_days(next_from, 30 + (exponential(rng, 600.0)) as i64);
            }
        }
        self.sgb2_spells = spells;
    }
}
