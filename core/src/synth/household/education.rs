//! Education: the integration course and its tests, job-related language courses, Kita and
//! school.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::Rng;

use crate::catalogue::{
    Agency, Certificate, CourseCompleted, CourseEntitlementIssued, CourseLeftEarly,
    CourseRegistered, CourseStarted, CourseType, EntitlementIssuer, EntitlementKind, Exam,
    KitaEnded, KitaPlaceRequested, KitaStarted, LanguageTestTaken, LeaveReason, Level,
    MovedToRegularClass, OrientationTestTaken, SchoolEnrolled, SchoolLeft, SchoolType, Sex,
};

use super::super::calibration::{
    course_waiting_median_days, ALPHA_COURSE_SHARE, COURSE_COMPLETION_LITERACY_GAP,
    COURSE_COMPLETION_MOVE_ALLOWANCE, COURSE_COMPLETION_SHARE, COURSE_REENTRY_SHARE,
    COURSE_WAITING_SIGMA, DTZ_B1_SHARE_ALPHA, DTZ_B1_SHARE_GENERAL, DTZ_BELOW_A2_SHARE_ALPHA,
    DTZ_BELOW_A2_SHARE_GENERAL, DTZ_TAKEN_AFTER_COMPLETION_ALPHA,
    DTZ_TAKEN_AFTER_COMPLETION_GENERAL, DTZ_TAKEN_AFTER_LEAVING, KITA_SOUGHT_BEFORE_3,
    KITA_SOUGHT_FROM_3, SCHOOL_ENROLMENT_SHARE,
};
use super::super::plan::Closer;
use super::super::population::Route;
use super::super::random::{
    add_days, chance, day_of, days_between, lognormal_days, new_year, pick,
};
use super::{procedure_courses_from, Household, Person};

/// Integration course providers in the city: a short code for course ids and a name. Assumption.
const PROVIDERS: &[((&str, &str), f64)] = &[
    (("VHS", "VHS Salzgitter"), 30.0),
    (("CBW", "Caritas Bildungswerk"), 15.0),
    (("DAA", "DAA Salzgitter"), 15.0),
    (("ESZ", "Euro-Schulen Salzgitter"), 15.0),
    (("AWO", "AWO Bildungszentrum"), 15.0),
    (("BWW", "Bildungswerk der Wirtschaft"), 10.0),
];

/// What one course of a person came to.
#[derive(Debug, Clone, Copy)]
struct CourseRun {
    course_type: CourseType,
    ended_on: NaiveDate,
    completed: bool,
    left_reason: Option<LeaveReason>,
}

impl Person {
    /// Course access: when the entitlement or obligation comes, and from whom.
    fn entitlement(
        &self,
        rng: &mut StdRng,
        household: &Household,
    ) -> Option<(NaiveDate, EntitlementKind, EntitlementIssuer)> {
        let legal = &household.legal;
        let obligation_by_jobcenter = |rng: &mut StdRng| {
            let from = legal.sgb2_from?;
            Some((
                add_days(from, days_between(rng, 30, 150)),
                EntitlementKind::Obligation,
                EntitlementIssuer::Jobcenter,
            ))
        };
        if self.member.reunified {
            let permit_on = self.own_permit_on?;
            return Some((
                add_days(permit_on, days_between(rng, 0, 45)),
                EntitlementKind::Entitlement,
                EntitlementIssuer::Auslaenderbehoerde,
            ));
        }
        match household.route {
            Route::TemporaryProtection => {
                let permit_on = legal.protected_from?;
                if chance(rng, 0.65) {
                    Some((
                        add_days(permit_on, days_between(rng, 30, 120)),
                        EntitlementKind::Entitlement,
                        EntitlementIssuer::Bamf,
                    ))
                } else {
                    obligation_by_jobcenter(rng)
                }
            }
            Route::Asylum => {
                let arrival = self.member.arrival;
                let in_procedure = household.nationality.good_prospects
                    && arrival >= procedure_courses_from()
                    && arrival.year() <= 2019
                    && chance(rng, 0.35);
                if let (true, Some(filed_on), Some((decided_on, _))) =
                    (in_procedure, legal.filed_on, legal.decisions.first())
                {
                    let on = add_days(filed_on, days_between(rng, 30, 150));
                    if on < *decided_on {
                        return Some(if chance(rng, 0.7) {
                            (on, EntitlementKind::Entitlement, EntitlementIssuer::Bamf)
                        } else {
                            (on, EntitlementKind::Obligation, EntitlementIssuer::Asylblg)
                        });
                    }
                }
                if let Some(permit_on) = legal.protected_from {
                    if chance(rng, 0.6) {
                        return Some((
                            add_days(permit_on, days_between(rng, 0, 60)),
                            EntitlementKind::Entitlement,
                            EntitlementIssuer::Auslaenderbehoerde,
                        ));
                    }
                    return obligation_by_jobcenter(rng);
                }
                let tolerated_from = legal.tolerated_from?;
                chance(rng, 0.12).then(|| {
                    (
                        add_days(tolerated_from, days_between(rng, 180, 720)),
                        EntitlementKind::Obligation,
                        EntitlementIssuer::Asylblg,
                    )
                })
            }
        }
    }

    /// Integration course: entitlement, registration, waiting, the course, perhaps leaving early and
    /// re-entering, the DTZ and the orientation test, sometimes a job-related course after B1.
    pub(super) fn courses(&mut self, rng: &mut StdRng, household: &Household, has_children: bool) {
        let Some((entitled_on, kind, issuer)) = self.entitlement(rng, household) else {
            return;
        };
        let age = self.age_on(entitled_on);
        // Older persons are less often entitled or obliged, and rarely attend. Assumption.
        let share = match age {
            ..=15 => 0.0,
            16..=49 => 0.88,
            50..=59 => 0.65,
            60..=64 => 0.3,
            _ => 0.0,
        };
        if !chance(rng, share) {
            return;
        }
        let issuer_agency = match issuer {
            EntitlementIssuer::Bamf | EntitlementIssuer::Auslaenderbehoerde => {
                Agency::Auslaenderbehoerde
            }
            EntitlementIssuer::Jobcenter => Agency::Jobcenter,
            EntitlementIssuer::Asylblg => Agency::Kommune,
        };
        self.plan.add(
            entitled_on,
            issuer_agency,
            CourseEntitlementIssued { kind, issuer },
        );
        // Some entitled persons never register (work, childcare, illness). Assumption.
        if !chance(rng, 0.88) {
            return;
        }
        let literacy = (ALPHA_COURSE_SHARE * household.nationality.literacy_factor).min(0.95);
        let course_type = if chance(rng, literacy) {
            CourseType::Alpha
        } else if household.route == Route::TemporaryProtection && chance(rng, 0.15) {
            CourseType::SecondScript
        } else {
            let female = self.member.sex == Sex::Female;
            *pick(
                rng,
                &[
                    (CourseType::General, 70.0),
                    (CourseType::Youth, if age <= 26 { 12.0 } else { 0.0 }),
                    (CourseType::Women, if female { 10.0 } else { 0.0 }),
                    (CourseType::Parents, if has_children { 6.0 } else { 0.0 }),
                    (CourseType::Intensive, 5.0),
                ],
            )
        };
        let registered_on = add_days(entitled_on, lognormal_days(rng, 35.0, 0.8, 3, 400));
        let completion = COURSE_COMPLETION_SHARE
            + COURSE_COMPLETION_MOVE_ALLOWANCE
            + if course_type == CourseType::Alpha {
                -COURSE_COMPLETION_LITERACY_GAP / 2.0
            } else {
                COURSE_COMPLETION_LITERACY_GAP / 2.0
            };
        let first = self.course(rng, registered_on, course_type, 1.0, completion);
        let mut runs = vec![first];
        let reenters = !first.completed
            && first.left_reason != Some(LeaveReason::Moved)
            && chance(rng, COURSE_REENTRY_SHARE);
        if reenters {
            let again_on = add_days(first.ended_on, days_between(rng, 60, 300));
            let remaining = rng.gen_range(0.5..1.0);
            runs.push(self.course(rng, again_on, course_type, remaining, completion));
        }

        let mut dtz_taken = false;
        let mut reached_b1_on = None;
        for run in runs {
            let alpha = run.course_type == CourseType::Alpha;
            let take_share = match (run.completed, alpha) {
                (true, false) => DTZ_TAKEN_AFTER_COMPLETION_GENERAL,
                (true, true) => DTZ_TAKEN_AFTER_COMPLETION_ALPHA,
                (false, _) => DTZ_TAKEN_AFTER_LEAVING,
            };
            if run.completed {
                let (take, pass) = if alpha { (0.6, 0.75) } else { (0.85, 0.9) };
                if chance(rng, take) {
                    let on = add_days(run.ended_on, days_between(rng, 0, 14));
                    self.plan.add(
                        on,
                        Agency::Bildungsbuero,
                        OrientationTestTaken {
                            passed: chance(rng, pass),
                        },
                    );
                }
            }
            if dtz_taken || !chance(rng, take_share) {
                continue;
            }
            dtz_taken = true;
            let tested_on = add_days(run.ended_on, days_between(rng, 0, 21));
            let (b1, below) = if alpha {
                (DTZ_B1_SHARE_ALPHA, DTZ_BELOW_A2_SHARE_ALPHA)
            } else {
                (DTZ_B1_SHARE_GENERAL, DTZ_BELOW_A2_SHARE_GENERAL)
            };
            let draw: f64 = rng.gen();
            let level = if draw < b1 {
                Level::B1
            } else if draw < b1 + below {
                Level::BelowA2
            } else {
                Level::A2
            };
            self.plan.add(
                tested_on,
                Agency::Bildungsbuero,
                LanguageTestTaken {
                    exam: Exam::Dtz,
                    level,
                    first_attempt: true,
                },
            );
            if level == Level::B1 {
                reached_b1_on = Some(tested_on);
            } else if chance(rng, 0.3) {
                // A repeat after the extra 300 lessons. Assumption.
                let retested_on = add_days(tested_on, days_between(rng, 120, 360));
                let b1_share = if alpha { 0.15 } else { 0.4 };
                let level = if chance(rng, b1_share) {
                    Level::B1
                } else if chance(rng, 0.8) {
                    Level::A2
                } else {
                    Level::BelowA2
                };
                self.plan.add(
                    retested_on,
                    Agency::Bildungsbuero,
                    LanguageTestTaken {
                        exam: Exam::Dtz,
                        level,
                        first_attempt: false,
                    },
                );
                if level == Level::B1 {
                    reached_b1_on = Some(retested_on);
                }
            }
        }

        // A job-related course to B2 for some who reached B1. Assumption.
        if let Some(b1_on) = reached_b1_on {
            if self.age_on(b1_on) < 55 && chance(rng, 0.3) {
                let registered_on = add_days(b1_on, days_between(rng, 60, 360));
                let run = self.course(rng, registered_on, CourseType::JobB2, 1.0, 0.75);
                if run.completed {
                    let on = add_days(run.ended_on, days_between(rng, 0, 21));
                    self.plan.add(
                        on,
                        Agency::Bildungsbuero,
                        LanguageTestTaken {
                            exam: Exam::Dtb,
                            level: if chance(rng, 0.5) {
                                Level::B2
                            } else {
                                Level::B1
                            },
                            first_attempt: true,
                        },
                    );
                }
            }
        }
    }

    /// One course from registration to its end. The course id names the class: type, month of
    /// start, provider and class number, so participants of one class share it.
    fn course(
        &mut self,
        rng: &mut StdRng,
        registered_on: NaiveDate,
        course_type: CourseType,
        length_factor: f64,
        completion: f64,
    ) -> CourseRun {
        let waiting = lognormal_days(
            rng,
            course_waiting_median_days(registered_on.year()),
            COURSE_WAITING_SIGMA,
            3,
            400,
        );
        let started_on = add_days(registered_on, waiting);
        // Course lengths in days: 700 lessons for the general course, 1,000 for the special
        // courses, up to 1,300 for literacy, 430 for the intensive course, 500 for job B2.
        let (low, high) = match course_type {
            CourseType::General => (190, 280),
            CourseType::Alpha => (300, 400),
            CourseType::Intensive => (110, 160),
            CourseType::JobB1 | CourseType::JobB2 | CourseType::JobC1 => (140, 200),
            CourseType::Youth
            | CourseType::Parents
            | CourseType::Women
            | CourseType::SecondScript => (260, 350),
        };
        let length = (days_between(rng, low, high) as f64 * length_factor).round() as i64;
        let (code, provider) = *pick(rng, PROVIDERS);
        let prefix = match course_type {
            CourseType::Alpha => "AK",
            CourseType::SecondScript => "ZS",
            CourseType::JobB1 | CourseType::JobB2 | CourseType::JobC1 => "BSK",
            _ => "IK",
        };
        let course_id = format!(
            "{prefix}-{}{:02}-{code}{}",
            started_on.year(),
            started_on.month(),
            rng.gen_range(1..=3)
        );
        let group = self
            .plan
            .group(Agency::Bildungsbuero, Closer::Course(course_id.clone()));
        self.plan.add_to(
            group,
            registered_on,
            Agency::Bildungsbuero,
            CourseRegistered {
                course_id: course_id.clone(),
                course_type,
                provider: provider.to_owned(),
            },
        );
        self.plan.add_to(
            group,
            started_on,
            Agency::Bildungsbuero,
            CourseStarted {
                course_id: course_id.clone(),
            },
        );
        if chance(rng, completion) {
            let ended_on = add_days(started_on, length);
            self.plan.add_to(
                group,
                ended_on,
                Agency::Bildungsbuero,
                CourseCompleted { course_id },
            );
            CourseRun {
                course_type,
                ended_on,
                completed: true,
                left_reason: None,
            }
        } else {
            let ended_on = add_days(started_on, (length as f64 * rng.gen_range(0.1..0.9)) as i64);
            let reason = *pick(
                rng,
                &[
                    (LeaveReason::Employment, 25.0),
                    (LeaveReason::Childcare, 15.0),
                    (LeaveReason::Illness, 15.0),
                    (LeaveReason::Other, 30.0),
                    (LeaveReason::Unknown, 15.0),
                ],
            );
            self.plan.add_to(
                group,
                ended_on,
                Agency::Bildungsbuero,
                CourseLeftEarly { course_id, reason },
            );
            CourseRun {
                course_type,
                ended_on,
                completed: false,
                left_reason: Some(reason),
            }
        }
    }

    /// A Kita place: sought for some toddlers, for most children from three, ending when school
    /// starts. The shares are fitted to the §7 attendance figures.
    pub(super) fn kita(&mut self, rng: &mut StdRng, household: &Household) {
        let arrival = self.member.arrival;
        let birth_year = self.member.birth_year;
        let kita_until = day_of(self.school_start_year, 7, 31);
        if arrival >= kita_until {
            return;
        }
        let target = if chance(rng, KITA_SOUGHT_BEFORE_3) {
            add_days(new_year(birth_year + 1), days_between(rng, 0, 700))
        } else if chance(rng, KITA_SOUGHT_FROM_3) {
            add_days(new_year(birth_year + 3), days_between(rng, 0, 240))
        } else {
            return;
        };
        let requested_on = add_days(target, -days_between(rng, 0, 120))
            .max(add_days(arrival, days_between(rng, 7, 60)));
        let started_on = add_days(requested_on, lognormal_days(rng, 75.0, 0.6, 7, 400)).max(target);
        let horizon = household.stay.first_horizon(household.end);
        if requested_on > horizon {
            return;
        }
        let group = self.plan.group(Agency::Jugendamt, Closer::Kita);
        self.plan.add_to(
            group,
            requested_on,
            Agency::Jugendamt,
            KitaPlaceRequested {},
        );
        if started_on < kita_until && started_on <= horizon {
            self.plan
                .add_to(group, started_on, Agency::Jugendamt, KitaStarted {});
            self.plan
                .add_to(group, kita_until, Agency::Jugendamt, KitaEnded {});
        }
    }

    /// School from arrival (and again after a return): primary from six, secondary from ten,
    /// vocational school for those arriving at 16 or 17; a language class first for newcomers.
    pub(super) fn school(&mut self, rng: &mut StdRng, household: &Household) {
        let horizon = household.stay.first_horizon(household.end);
        self.school_left_on = self.school_from(rng, self.member.arrival, horizon, true);
        if let Some(back) = household.stay.returned {
            if let Some(left_on) = self.school_from(rng, back, household.end, false) {
                self.school_left_on = Some(left_on);
            }
        }
    }

    fn school_from(
        &mut self,
        rng: &mut StdRng,
        from: NaiveDate,
        horizon: NaiveDate,
        newcomer: bool,
    ) -> Option<NaiveDate> {
        let birth_year = self.member.birth_year;
        let school_start = day_of(self.school_start_year, 8, 1);
        let transfer = day_of(birth_year + 10, 8, 1);
        let extra_years = *pick(rng, &[(0, 0.45), (1, 0.35), (3, 0.2)]);
        let leaves_on = day_of(birth_year + 16 + extra_years, 7, 31);
        let certificate = match extra_years {
            0 => {
                if chance(rng, 0.6) {
                    Certificate::Hauptschule
                } else {
                    Certificate::None
                }
            }
            1 => {
                if chance(rng, 0.75) {
                    Certificate::Realschule
                } else {
                    Certificate::Hauptschule
                }
            }
            _ => Certificate::Abitur,
        };
        let age = self.age_on(from);
        let agency = Agency::Bildungsbuero;
        // Close to the leaving day only vocational school is left: the longest wait for a place
        // (75 + 200 days, below) must still end before the leaving day, or the pupil would leave
        // school before enrolling.
        if age >= 16 || from >= add_days(leaves_on, -300) {
            if age > 18 {
                return None;
            }
            // Vocational school with a language class (the SPRINT classes of Lower Saxony).
            let enrolled_on = add_days(from, days_between(rng, 30, 120));
            if enrolled_on > horizon {
                return None;
            }
            let left_on = add_days(enrolled_on, days_between(rng, 330, 730));
            let group = self.plan.group(agency, Closer::School);
            self.plan.add_to(
                group,
                enrolled_on,
                agency,
                SchoolEnrolled {
                    school_type: SchoolType::Vocational,
                    language_class: newcomer,
                },
            );
            self.plan.add_to(
                group,
                left_on,
                agency,
                SchoolLeft {
                    certificate: if chance(rng, 0.4) {
                        Certificate::Hauptschule
                    } else {
                        Certificate::None
                    },
                },
            );
            return Some(left_on);
        }
        let (enrolled_on, language_class) = if from <= school_start {
            let recent = (school_start - from).num_days() < 365;
            (school_start, newcomer && recent && chance(rng, 0.5))
        } else {
            let mut wait = days_between(rng, 14, 75);
            // A few wait much longer for a place. Fitted to §7 "school >94%".
            if !chance(rng, SCHOOL_ENROLMENT_SHARE) {
                wait += days_between(rng, 60, 200);
            }
            let language_class = newcomer && (age >= 7 || chance(rng, 0.5));
            (add_days(from, wait), language_class)
        };
        if enrolled_on > horizon {
            return None;
        }
        let primary = enrolled_on < transfer;
        let first_left_on = if primary {
            add_days(transfer, -1)
        } else {
            leaves_on
        };
        let group = self.plan.group(agency, Closer::School);
        self.plan.add_to(
            group,
            enrolled_on,
            agency,
            SchoolEnrolled {
                school_type: if primary {
                    SchoolType::Primary
                } else {
                    SchoolType::Secondary
                },
                language_class,
            },
        );
        if language_class {
            let moved_on = add_days(enrolled_on, lognormal_days(rng, 300.0, 0.4, 90, 730))
                .min(add_days(first_left_on, -1))
                .max(enrolled_on);
            self.plan
                .add_to(group, moved_on, agency, MovedToRegularClass {});
        }
        if primary {
            self.plan.add_to(
                group,
                first_left_on,
                agency,
                SchoolLeft {
                    certificate: Certificate::None,
                },
            );
            if transfer > horizon {
                return Some(leaves_on);
            }
            let group = self.plan.group(agency, Closer::School);
            self.plan.add_to(
                group,
                transfer,
                agency,
                SchoolEnrolled {
                    school_type: SchoolType::Secondary,
                    language_class: false,
                },
            );
            self.plan
                .add_to(group, leaves_on, agency, SchoolLeft { certificate });
        } else {
            self.plan
                .add_to(group, leaves_on, agency, SchoolLeft { certificate });
        }
        Some(leaves_on)
    }
}
