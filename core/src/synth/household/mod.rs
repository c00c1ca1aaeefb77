//! One household's journeys, from arrival to the population's "today".
//!
//! A household shares its arrival (except family members who follow later), its legal path (the
//! asylum decision covers the family), its homes, its moves away and its benefits (SGB II is paid
//! to the household, so one adult's job can end it for everybody). Each person then has their own
//! threads: courses and tests, jobs and trainings, school and Kita, measures, contacts.
//!
//! Order of work: household-level draws first, then every person's simple threads, then the
//! adults' courses and jobs, then what depends on jobs (residence obligations lifted for work,
//! SGB II ending for the household, measures for those still on SGB II). The RNG is drawn in this
//! fixed order, which is what makes a household reproducible from its seed.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::catalogue::{
    Accommodation, Agency, AsylumOutcome, BenefitKind, Destination, EmploymentKind,
    ObligationLiftReason, Origin, ResidenceObligationLifted, ResidenceObligationSet,
    ResidenceStatus, ResidenceStatusChanged,
};

use super::calibration::{
    EntryCurves, ASYLUM_PROCEDURE_MEDIAN_DAYS, ASYLUM_PROCEDURE_SIGMA, SGB2_EXIT_SHARE_FULL_TIME,
    SGB2_EXIT_SHARE_PART_TIME,
};
use super::plan::{Closer, Planned, Stay};
use super::population::{self, Member, Nationality, Route};
use super::random::{
    add_days, chance, day_of, days_between, exponential, lognormal_days, mix_seed, pick, uuid,
};
use super::record::{record, Caseworkers};
use super::{SynthConfig, SynthEvent};

mod education;
mod person;
mod work;

use person::{Job, Person};

/// Builds the events of household number `index` of the population, with at most `limit` members.
/// Returns the events in the order promised by [`super::generate`] and the number of persons.
pub(super) fn household_events(
    config: &SynthConfig,
    curves: &EntryCurves,
    index: u64,
    limit: usize,
) -> (Vec<SynthEvent>, usize) {
    let mut rng = StdRng::seed_from_u64(mix_seed(config.seed, index));
    let end = config.end;
    let first_arrival = population::arrival_day(&mut rng, config.start, end);
    let route = population::route(&mut rng, first_arrival);
    let nationality = population::nationality(&mut rng, route, first_arrival);
    let mut members = population::compose(&mut rng, route, first_arrival, end);
    members.truncate(limit.max(1));
    let household = Household::draw(&mut rng, route, nationality, first_arrival, &members, end);
    let caseworkers = Caseworkers::draw(&mut rng);
    let language = *pick(&mut rng, nationality.languages);

    let mut persons: Vec<Person> = members
        .into_iter()
        .map(|member| Person::new(&mut rng, member))
        .collect();
    let shared_household_id = (persons.len() > 1).then_some(household.id);
    let has_children = persons.iter().any(|person| !person.member.adult);

    for person in &mut persons {
        person.register(&mut rng, &household, language, shared_household_id);
        person.legal_events(&mut rng, &household);
        person.homes(&household);
        person.checklist(&mut rng);
        person.consents(&mut rng, has_children, end);
    }
    for person in &mut persons {
        if person.member.adult {
            person.courses(&mut rng, &household, has_children);
            person.recognition(&mut rng, &household);
            person.mentoring(&household);
        } else {
            person.kita(&mut rng, &household);
            person.school(&mut rng, &household);
        }
        person.jobs(&mut rng, &household, curves);
    }
    household.obligations(&mut rng, &mut persons);
    household.benefits(&mut rng, &mut persons);
    for person in &mut persons {
        person.measures(&mut rng, end);
        person.counselling(&mut rng, end);
        person.start_punkt(&household, end);
        person.stay_events(&household);
    }

    let count = persons.len();
    let mut events = Vec::new();
    for person in persons {
        let id = person.id;
        let planned: Vec<Planned> = person.plan.finish(household.stay, end);
        let recorded = record(&mut rng, id, &planned, &caseworkers, end);
        events.extend(recorded);
    }
    // Within each person the events already stand in recording order; a stable sort by
    // (recorded_at, person) keeps that order and interleaves the persons.
    events.sort_by(|left, right| {
        (left.recorded_at, left.person).cmp(&(right.recorded_at, right.person))
    });
    (events, count)
}

/// A home of the household from a day on.
#[derive(Debug, Clone, Copy)]
struct Home {
    from: NaiveDate,
    district: &'static str,
    accommodation: Accommodation,
}

/// A residence status change shared by the household.
#[derive(Debug, Clone)]
struct Status {
    on: NaiveDate,
    event: ResidenceStatusChanged,
}

/// The household's legal path: asylum procedure or temporary protection, residence statuses,
/// and what follows from them (benefits, course access, residence obligation).
#[derive(Debug, Clone, Default)]
struct Legal {
    filed_on: Option<NaiveDate>,
    decisions: Vec<(NaiveDate, AsylumOutcome)>,
    statuses: Vec<Status>,
    /// The asylum seekers' permission to work, granted after the first months (adults only).
    work_permit_on: Option<NaiveDate>,
    /// The residence permit that opens SGB II and the integration course.
    protected_from: Option<NaiveDate>,
    /// The first tolerated stay (Duldung) after a rejection.
    tolerated_from: Option<NaiveDate>,
    /// AsylbLG from, until (exclusive; `None` while it lasts).
    asylblg: Option<(NaiveDate, Option<NaiveDate>)>,
    sgb2_from: Option<NaiveDate>,
    /// Residence obligation (§12a AufenthG): set on, until.
    obligation: Option<(NaiveDate, NaiveDate)>,
    /// Dublin transfer or departure after rejection.
    forced_departure: Option<NaiveDate>,
}

struct Household {
    id: uuid::Uuid,
    route: Route,
    nationality: Nationality,
    legal: Legal,
    stay: Stay,
    destination: Destination,
    homes: Vec<Home>,
    /// Where the household lives after a return, and where it came back from.
    return_home: Option<(Home, Origin)>,
    /// A volunteer mentor: id, assigned on, ended on.
    mentor: Option<(String, NaiveDate, NaiveDate)>,
    end: NaiveDate,
}

/// The first day of SGB II for Ukrainians, who moved from AsylbLG to SGB II on 1 June 2022.
fn ukrainian_sgb2_switch() -> NaiveDate {
    day_of(2022, 6, 1)
}

/// The §12a residence obligation applies to those recognised from 6 August 2016.
fn obligation_law_from() -> NaiveDate {
    day_of(2016, 8, 6)
}

/// Courses during the asylum procedure opened for good-prospect nationalities on 24 October 2015.
fn procedure_courses_from() -> NaiveDate {
    day_of(2015, 10, 24)
}

/// A residence status change; the generator always names the legal basis, as the immigration
/// office does.
fn residence(
    status: ResidenceStatus,
    legal_basis: &str,
    valid_until: Option<NaiveDate>,
    work_permitted: bool,
) -> ResidenceStatusChanged {
    ResidenceStatusChanged {
        status,
        legal_basis: Some(legal_basis.to_owned()),
        valid_until,
        work_permitted,
    }
}

/// The same day `years` later; a 29 February falls back to counting 365 days a year.
fn years_later(day: NaiveDate, years: i32) -> NaiveDate {
    day.with_year(day.year() + years)
        .unwrap_or_else(|| add_days(day, i64::from(years) * 365))
}

/// Share of households that leave Salzgitter per year once settled (secondary migration), and the
/// share of those who come back. Assumptions.
const MOVE_AWAY_PER_YEAR: f64 = 0.025;
const RETURN_SHARE: f64 = 0.12;

impl Household {
    fn draw(
        rng: &mut StdRng,
        route: Route,
        nationality: Nationality,
        first_arrival: NaiveDate,
        members: &[Member],
        end: NaiveDate,
    ) -> Self {
        let id = uuid(rng);
        let legal = match route {
            Route::TemporaryProtection => Self::temporary_protection(rng, first_arrival, end),
            Route::Asylum => Self::asylum(rng, nationality, first_arrival, end),
        };
        let last_arrival = members
            .iter()
            .map(|member| member.arrival)
            .max()
            .unwrap_or(first_arrival);

        let mut stay = Stay::default();
        let mut destination = Destination::OtherMunicipality;
        if let Some(forced) = legal.forced_departure {
            stay.moved_away = Some(forced.max(add_days(last_arrival, 30)));
            destination = Destination::Abroad;
        } else {
            let settled = legal
                .protected_from
                .unwrap_or_else(|| add_days(first_arrival, 365))
                .max(last_arrival);
            let years = exponential(rng, 1.0 / MOVE_AWAY_PER_YEAR);
            let moved = add_days(settled, 30 + (years * 365.25) as i64);
            if moved <= end {
                stay.moved_away = Some(moved);
                destination = *pick(
                    rng,
                    &[
                        (Destination::OtherMunicipality, 0.82),
                        (Destination::Abroad, 0.06),
                        (Destination::Unknown, 0.12),
                    ],
                );
                if chance(rng, RETURN_SHARE) {
                    let back = add_days(moved, days_between(rng, 60, 540));
                    if back <= end {
                        stay.returned = Some(back);
                    }
                }
            }
        }

        let initial = match (route, first_arrival.year()) {
            (Route::TemporaryProtection, _) => &[
                (Accommodation::Flat, 0.45),
                (Accommodation::Other, 0.25),
                (Accommodation::Shared, 0.3),
            ],
            (Route::Asylum, ..=2016) => &[
                (Accommodation::Shared, 0.75),
                (Accommodation::Flat, 0.2),
                (Accommodation::Other, 0.05),
            ],
            (Route::Asylum, _) => &[
                (Accommodation::Shared, 0.5),
                (Accommodation::Flat, 0.45),
                (Accommodation::Other, 0.05),
            ],
        };
        let mut homes = vec![Home {
            from: first_arrival,
            district: population::district(rng),
            accommodation: *pick(rng, initial),
        }];
        if homes[0].accommodation != Accommodation::Flat {
            let from = add_days(first_arrival, lognormal_days(rng, 240.0, 0.6, 30, 1_500));
            let district = if chance(rng, 0.3) {
                homes[0].district
            } else {
                population::district(rng)
            };
            homes.push(Home {
                from,
                district,
                accommodation: Accommodation::Flat,
            });
        }
        // Later moves within the city, about every six years. Assumption.
        let mut from = homes[homes.len() - 1].from;
        loop {
            from = add_days(from, 30 + (exponential(rng, 6.0) * 365.25) as i64);
            if from > end {
                break;
            }
            homes.push(Home {
                from,
                district: population::district(rng),
                accommodation: Accommodation::Flat,
            });
        }
        let return_home = stay.returned.map(|back| {
            let home = Home {
                from: back,
                district: population::district(rng),
                accommodation: if chance(rng, 0.7) {
                    Accommodation::Flat
                } else {
                    Accommodation::Shared
                },
            };
            let origin = if chance(rng, 0.8) {
                Origin::OtherMunicipality
            } else {
                Origin::Abroad
            };
            (home, origin)
        });

        // Volunteers were many in the first years. Assumption.
        let mentor_share = if first_arrival.year() <= 2017 {
            0.25
        } else {
            0.12
        };
        let mentor = chance(rng, mentor_share).then(|| {
            let assigned = add_days(first_arrival, days_between(rng, 30, 400));
            let ended = add_days(assigned, days_between(rng, 90, 900));
            (
                super::volunteers::volunteer_of(rng.gen_range(1..=super::volunteers::POOL))
                    .stream_name(),
                assigned,
                ended,
            )
        });

        Self {
            id,
            route,
            nationality,
            legal,
            stay,
            destination,
            homes,
            return_home,
            mentor,
            end,
        }
    }

    fn temporary_protection(rng: &mut StdRng, arrival: NaiveDate, end: NaiveDate) -> Legal {
        let permit_on = add_days(arrival, days_between(rng, 3, 30));
        // §24 permits ran to 4 March 2024 and were extended a year at a time.
        // A permit issued shortly before an expiry date already runs to the next one, so that
        // its renewal (up to 60 days before expiry) never comes before the permit itself.
        let mut valid_until = day_of(2024, 3, 4);
        while valid_until <= add_days(permit_on, 60) {
            valid_until = years_later(valid_until, 1);
        }
        let mut statuses = vec![Status {
            on: permit_on,
            event: residence(
                ResidenceStatus::Aufenthaltserlaubnis,
                "§24",
                Some(valid_until),
                true,
            ),
        }];
        loop {
            let renewed_on = add_days(valid_until, -days_between(rng, 0, 60));
            if renewed_on > end || statuses.len() > 6 {
                break;
            }
            valid_until = years_later(valid_until, 1);
            statuses.push(Status {
                on: renewed_on,
                event: residence(
                    ResidenceStatus::Aufenthaltserlaubnis,
                    "§24",
                    Some(valid_until),
                    true,
                ),
            });
        }
        let switch = ukrainian_sgb2_switch();
        let (asylblg, sgb2_from) = if arrival < switch {
            (
                Some((add_days(arrival, days_between(rng, 0, 7)), Some(switch))),
                switch,
            )
        } else {
            (None, add_days(permit_on, days_between(rng, 0, 30)))
        };
        Legal {
            statuses,
            protected_from: Some(permit_on),
            asylblg,
            sgb2_from: Some(sgb2_from),
            ..Legal::default()
        }
    }

    fn asylum(
        rng: &mut StdRng,
        nationality: Nationality,
        arrival: NaiveDate,
        end: NaiveDate,
    ) -> Legal {
        let mut legal = Legal::default();
        // In 2015–2016 the formal application often came months after arrival.
        let filing_days = if arrival.year() <= 2016 {
            lognormal_days(rng, 40.0, 0.7, 1, 240)
        } else {
            days_between(rng, 2, 21)
        };
        let filed = add_days(arrival, filing_days);
        legal.filed_on = Some(filed);
        let procedure = lognormal_days(
            rng,
            ASYLUM_PROCEDURE_MEDIAN_DAYS,
            ASYLUM_PROCEDURE_SIGMA,
            45,
            1_100,
        );
        let mut decided = add_days(filed, procedure);
        let gestattung_on = add_days(arrival, days_between(rng, 0, 10));
        legal.statuses.push(Status {
            on: gestattung_on,
            event: residence(
                ResidenceStatus::Gestattung,
                "§55 AsylG",
                Some(add_days(gestattung_on, 182)),
                false,
            ),
        });
        let work_permit_on = add_days(arrival, days_between(rng, 90, 150));
        if work_permit_on < decided && chance(rng, 0.6) {
            legal.work_permit_on = Some(work_permit_on);
        }
        legal.asylblg = Some((add_days(arrival, days_between(rng, 0, 7)), None));

        let mut outcome = *pick(rng, nationality.outcomes);
        legal.decisions.push((decided, outcome));
        if outcome == AsylumOutcome::Dublin {
            if chance(rng, 0.5) {
                legal.forced_departure = Some(add_days(decided, days_between(rng, 30, 180)));
                return legal;
            }
            // The transfer deadline passed: Germany decides the application itself.
            let national: Vec<(AsylumOutcome, f64)> = nationality
                .outcomes
                .iter()
                .copied()
                .filter(|(candidate, _)| *candidate != AsylumOutcome::Dublin)
                .collect();
            decided = add_days(decided, days_between(rng, 150, 450));
            outcome = *pick(rng, &national);
            legal.decisions.push((decided, outcome));
        }

        let protection = match outcome {
            AsylumOutcome::AsylumArt16a => Some(("§25(1)", 3)),
            AsylumOutcome::Refugee3 => Some(("§25(2)", 3)),
            AsylumOutcome::Subsidiary4 => Some(("§25(2)", 1)),
            AsylumOutcome::DeportationBan => Some(("§25(3)", 1)),
            AsylumOutcome::Rejected | AsylumOutcome::Dublin => None,
        };
        match protection {
            Some((basis, first_years)) => {
                let permit_on = add_days(decided, days_between(rng, 14, 60));
                Self::protected(rng, &mut legal, permit_on, basis, first_years, end);
            }
            None => {
                let tolerated_on = add_days(decided, days_between(rng, 14, 90));
                legal.tolerated_from = Some(tolerated_on);
                legal.statuses.push(Status {
                    on: tolerated_on,
                    event: residence(
                        ResidenceStatus::Duldung,
                        "§60a",
                        Some(add_days(tolerated_on, 182)),
                        chance(rng, 0.4),
                    ),
                });
                let branch: f64 = rng.gen();
                if branch < 0.25 {
                    legal.forced_departure =
                        Some(add_days(tolerated_on, days_between(rng, 60, 540)));
                } else if branch < 0.55 {
                    // A stay through sustainable integration or the 2023 opportunity residence.
                    let permit_on = add_days(tolerated_on, days_between(rng, 3 * 365, 7 * 365));
                    let basis = if permit_on >= day_of(2023, 1, 1) {
                        "§104c"
                    } else {
                        "§25b"
                    };
                    Self::protected(rng, &mut legal, permit_on, basis, 1, end);
                } else if chance(rng, 0.5) {
                    let renewed_on = add_days(tolerated_on, days_between(rng, 365, 730));
                    legal.statuses.push(Status {
                        on: renewed_on,
                        event: residence(
                            ResidenceStatus::Duldung,
                            "§60a",
                            Some(add_days(renewed_on, 365)),
                            true,
                        ),
                    });
                }
            }
        }
        legal
    }

    /// A residence permit from `permit_on`, its renewals, and perhaps a settlement permit and
    /// naturalisation later; AsylbLG ends and SGB II begins.
    fn protected(
        rng: &mut StdRng,
        legal: &mut Legal,
        permit_on: NaiveDate,
        basis: &str,
        first_years: i32,
        end: NaiveDate,
    ) {
        legal.protected_from = Some(permit_on);
        let sgb2_from = add_days(permit_on, days_between(rng, 14, 60));
        legal.sgb2_from = Some(sgb2_from);
        if let Some((from, _)) = legal.asylblg {
            legal.asylblg = Some((from, Some(sgb2_from)));
        }
        let mut valid_until = years_later(permit_on, first_years);
        legal.statuses.push(Status {
            on: permit_on,
            event: residence(
                ResidenceStatus::Aufenthaltserlaubnis,
                basis,
                Some(valid_until),
                true,
            ),
        });
        // Settlement permits and naturalisation: assumptions loosely following the Syrian
        // naturalisations of 2021–2024.
        let settled_on =
            chance(rng, 0.35).then(|| add_days(permit_on, days_between(rng, 3 * 365, 6 * 365)));
        let naturalised_on =
            chance(rng, 0.3).then(|| add_days(permit_on, days_between(rng, 6 * 365, 9 * 365)));
        let stop = settled_on
            .into_iter()
            .chain(naturalised_on)
            .min()
            .unwrap_or(end)
            .min(end);
        let renewal_years = first_years.max(2);
        loop {
            let renewed_on = add_days(valid_until, -days_between(rng, 0, 45));
            if renewed_on >= stop {
                break;
            }
            valid_until = years_later(valid_until, renewal_years);
            legal.statuses.push(Status {
                on: renewed_on,
                event: residence(
                    ResidenceStatus::Aufenthaltserlaubnis,
                    basis,
                    Some(valid_until),
                    true,
                ),
            });
        }
        if let Some(settled_on) = settled_on {
            if naturalised_on.is_none_or(|naturalised| settled_on < naturalised) {
                legal.statuses.push(Status {
                    on: settled_on,
                    event: residence(
                        ResidenceStatus::Niederlassungserlaubnis,
                        "§26(3)",
                        None,
                        true,
                    ),
                });
            }
        }
        if let Some(naturalised_on) = naturalised_on {
            legal.statuses.push(Status {
                on: naturalised_on,
                event: residence(ResidenceStatus::Eingebuergert, "§10 StAG", None, true),
            });
        }
        // §12a binds those recognised under §25(1) to (3); most were assigned a place. Assumption:
        // seven in ten.
        if permit_on >= obligation_law_from() && basis.starts_with("§25(") && chance(rng, 0.7) {
            legal.obligation = Some((permit_on, years_later(permit_on, 3)));
        }
    }

    /// The home on `day`.
    fn home_on(&self, day: NaiveDate) -> Home {
        self.homes
            .iter()
            .rev()
            .find(|home| home.from <= day)
            .copied()
            .unwrap_or(self.homes[0])
    }

    /// The residence obligation of the household, lifted when an adult finds work (for the others
    /// on family grounds) or when it expires.
    fn obligations(&self, rng: &mut StdRng, persons: &mut [Person]) {
        let Some((set_on, until)) = self.legal.obligation else {
            return;
        };
        let first_job = persons
            .iter()
            .filter(|person| person.member.adult)
            .flat_map(|person| {
                person
                    .jobs
                    .iter()
                    .filter(|job| job.kind != EmploymentKind::Marginal)
                    .map(move |job| (job.start, person.id))
            })
            .filter(|(start, _)| *start >= set_on && *start < until)
            .min();
        let lift = match first_job {
            Some((start, worker)) => {
                Some((add_days(start, days_between(rng, 0, 30)), Some(worker)))
            }
            None => chance(rng, 0.85).then(|| (add_days(until, days_between(rng, 0, 30)), None)),
        };
        for person in persons {
            if person.member.reunified || person.member.arrival > set_on {
                continue;
            }
            let group = person
                .plan
                .group(Agency::Auslaenderbehoerde, Closer::Obligation);
            person.plan.add_to(
                group,
                set_on,
                Agency::Auslaenderbehoerde,
                ResidenceObligationSet { until: Some(until) },
            );
            if let Some((lifted_on, worker)) = lift {
                let reason = match worker {
                    Some(worker) if worker == person.id => ObligationLiftReason::Employment,
                    Some(_) => ObligationLiftReason::Family,
                    None => ObligationLiftReason::Expired,
                };
                person.plan.add_to(
                    group,
                    lifted_on,
                    Agency::Auslaenderbehoerde,
                    ResidenceObligationLifted { reason },
                );
            }
        }
    }

    /// Benefits: AsylbLG during the procedure, then SGB II for the household except while an
    /// adult's job covers its needs; SGB III for a person after a longer job.
    fn benefits(&self, rng: &mut StdRng, persons: &mut [Person]) {
        let beyond = add_days(self.end, 1);
        let mut sgb2: Vec<(NaiveDate, NaiveDate)> = self
            .legal
            .sgb2_from
            .map(|from| vec![(from, beyond)])
            .unwrap_or_default();
        let jobs: Vec<Job> = persons
            .iter()
            .filter(|person| person.member.adult)
            .flat_map(|person| person.jobs.iter().cloned())
            .collect();
        for job in jobs {
            let exit_share = match job.kind {
                EmploymentKind::SocialInsuranceFull | EmploymentKind::SelfEmployed => {
                    SGB2_EXIT_SHARE_FULL_TIME
                }
                EmploymentKind::SocialInsurancePart => SGB2_EXIT_SHARE_PART_TIME,
                EmploymentKind::Marginal => 0.0,
            };
            if chance(rng, exit_share) {
                let off_from = add_days(job.start, days_between(rng, 30, 90));
                let off_until = job
                    .until
                    .map_or(beyond, |until| add_days(until, days_between(rng, 0, 30)));
                sgb2 = subtract(&sgb2, (off_from, off_until));
            }
        }
        let asylblg: Vec<(NaiveDate, NaiveDate)> = self
            .legal
            .asylblg
            .map(|(from, until)| vec![(from, until.unwrap_or(beyond))])
            .unwrap_or_default();

        for person in persons {
            let presence = self.presence(person.member.arrival);
            let own_sgb2: Vec<(NaiveDate, NaiveDate)> = if person.member.reunified {
                // Family members who follow come with a permit and apply within weeks.
                let from = add_days(person.member.arrival, days_between(rng, 14, 45));
                intersect(&sgb2, &[(from, beyond)])
            } else {
                sgb2.clone()
            };
            let own_asylblg = if person.member.reunified {
                Vec::new()
            } else {
                asylblg.clone()
            };
            for (kind, spells) in [
                (BenefitKind::Asylblg, intersect(&own_asylblg, &presence)),
                (BenefitKind::Sgb2, intersect(&own_sgb2, &presence)),
            ] {
                for spell in spells {
                    person.benefit_spell(kind, spell, self.end);
                }
            }
            person.sgb2_spells = intersect(&own_sgb2, &presence);

            // Unemployment insurance after an insured job of a year or more, until the next job or
            // for at most a year. Assumption: only those who paid in long enough are counted; the
            // self-employed are not insured, but their work still ends a spell.
            let jobs: Vec<Job> = person
                .jobs
                .iter()
                .filter(|job| job.kind != EmploymentKind::Marginal)
                .cloned()
                .collect();
            for (index, job) in jobs.iter().enumerate() {
                let Some(until) = job.until else {
                    continue;
                };
                if job.kind == EmploymentKind::SelfEmployed {
                    continue;
                }
                if (until - job.start).num_days() < 365 || until >= self.end {
                    continue;
                }
                let next_start = jobs.get(index + 1).map_or(beyond, |next| next.start);
                let from = add_days(until, days_between(rng, 1, 14));
                let to = next_start.min(add_days(until, 360));
                if (to - from).num_days() >= 30 {
                    for spell in intersect(&[(from, to)], &presence) {
                        person.benefit_spell(BenefitKind::Sgb3, spell, self.end);
                    }
                }
            }
        }
    }

    /// The days a person who arrived on `arrival` is here, as half-open spans ending beyond `end`.
    fn presence(&self, arrival: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
        let beyond = add_days(self.end, 1);
        match (self.stay.moved_away, self.stay.returned) {
            (Some(moved), Some(back)) => vec![(arrival, moved), (back, beyond)],
            (Some(moved), None) => vec![(arrival, moved)],
            _ => vec![(arrival, beyond)],
        }
    }
}

/// `spans` without `cut` (all half-open).
fn subtract(
    spans: &[(NaiveDate, NaiveDate)],
    cut: (NaiveDate, NaiveDate),
) -> Vec<(NaiveDate, NaiveDate)> {
    if cut.1 <= cut.0 {
        return spans.to_vec();
    }
    let mut result = Vec::new();
    for &(from, until) in spans {
        if cut.1 <= from || until <= cut.0 {
            result.push((from, until));
            continue;
        }
        if from < cut.0 {
            result.push((from, cut.0));
        }
        if cut.1 < until {
            result.push((cut.1, until));
        }
    }
    result
}

/// The days in both `left` and `right` (all half-open).
fn intersect(
    left: &[(NaiveDate, NaiveDate)],
    right: &[(NaiveDate, NaiveDate)],
) -> Vec<(NaiveDate, NaiveDate)> {
    let mut result = Vec::new();
    for &(a_from, a_until) in left {
        for &(b_from, b_until) in right {
            let from = a_from.max(b_from);
            let until = a_until.min(b_until);
            if from < until {
                result.push((from, until));
            }
        }
    }
    result.sort();
    result
}
