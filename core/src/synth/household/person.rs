//! A person of a household: registration, arrival, legal events, homes, checklist, consents,
//! benefits, contacts and the stay; courses and school live in `education.rs`, work in `work.rs`.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::catalogue::{
    AddressChanged, Agency, ArrivalRecorded, AsylumApplicationFiled, AsylumDecisionIssued,
    BenefitKind, BenefitsEnded, BenefitsStarted, BirthYear, ChecklistItem, ChecklistItemCompleted,
    ConsentGiven, ConsentWithdrawn, CounsellingContact, EmploymentKind, MovedAway, Origin,
    PersonRegistered, ReferralMade, ResidenceStatus, Topic,
};
use crate::envelope::PersonId;

use super::super::plan::{Closer, Plan};
use super::super::population::{Member, Route};
use super::super::random::{
    add_days, age_on, chance, day_of, days_between, exponential, lognormal_days, new_year, pick,
    uuid,
};
use super::{residence, years_later, Household};

/// Share of persons registered without a birth year. Assumption: most refugees without papers are
/// registered with a guessed year (and 1 January), so a year is missing for few; persons under
/// temporary protection (§24) nearly always carry a passport.
const UNKNOWN_BIRTH_YEAR_SHARE_ASYLUM: f64 = 0.015;
const UNKNOWN_BIRTH_YEAR_SHARE_TEMPORARY_PROTECTION: f64 = 0.002;

/// A job as the household sees it: kind and dates (`until` is the last day, `None` while open).
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) kind: EmploymentKind,
    pub(super) start: NaiveDate,
    pub(super) until: Option<NaiveDate>,
}

pub(super) struct Person {
    pub(super) id: PersonId,
    pub(super) member: Member,
    pub(super) plan: Plan,
    pub(super) jobs: Vec<Job>,
    /// The person's own residence permit: the household's, or a family member's own.
    pub(super) own_permit_on: Option<NaiveDate>,
    /// For children: when they leave school (the earliest start in working life).
    pub(super) school_left_on: Option<NaiveDate>,
    /// The year a child starts school (6, or 7 when born late in the year).
    pub(super) school_start_year: i32,
    /// The entry into Germany, recorded or not; the arrival when the person came from abroad
    /// directly or nobody knows. The published employment curve counts from it, so the first job
    /// is timed from it.
    pub(super) entered_on: NaiveDate,
    /// Occupation of a recognised qualification or a completed training, used for jobs.
    pub(super) occupation: Option<String>,
    /// The person's own SGB II spells (half-open), for measures and cooperation plans.
    pub(super) sgb2_spells: Vec<(NaiveDate, NaiveDate)>,
    /// Counters that make ids unique within the person's stream.
    pub(super) counter: u32,
}

impl Person {
    pub(super) fn new(rng: &mut StdRng, member: Member) -> Self {
        let late_birthday = chance(rng, 0.25);
        let school_start_year = member.birth_year + 6 + i32::from(late_birthday);
        let entered_on = member.arrival;
        Self {
            id: PersonId(uuid(rng)),
            member,
            plan: Plan::new(),
            jobs: Vec::new(),
            own_permit_on: None,
            school_left_on: None,
            school_start_year,
            entered_on,
            occupation: None,
            sgb2_spells: Vec::new(),
            counter: 0,
        }
    }

    pub(super) fn next_number(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    pub(super) fn age_on(&self, day: NaiveDate) -> i32 {
        age_on(self.member.birth_year, day)
    }

    pub(super) fn register(
        &mut self,
        rng: &mut StdRng,
        household: &Household,
        language: &str,
        household_id: Option<uuid::Uuid>,
    ) {
        let arrival = self.member.arrival;
        let mut languages = vec![language.to_owned()];
        if household.route == Route::TemporaryProtection && language == "uk" && chance(rng, 0.6) {
            languages.push("ru".to_owned());
        }
        if self.member.adult && language != "en" && chance(rng, 0.2) {
            languages.push("en".to_owned());
        }
        let unknown_birth_year_share = match household.route {
            Route::Asylum => UNKNOWN_BIRTH_YEAR_SHARE_ASYLUM,
            Route::TemporaryProtection => UNKNOWN_BIRTH_YEAR_SHARE_TEMPORARY_PROTECTION,
        };
        let birth_year = if chance(rng, unknown_birth_year_share) {
            BirthYear::Unknown
        } else {
            BirthYear::Known(self.member.birth_year)
        };
        self.plan.add(
            arrival,
            Agency::Kommune,
            PersonRegistered {
                birth_year,
                sex: self.member.sex,
                nationality: household.nationality.code.to_owned(),
                languages,
                household_id,
            },
        );
        let origin = if self.member.reunified {
            Origin::Abroad
        } else {
            match household.route {
                Route::TemporaryProtection => *pick(
                    rng,
                    &[
                        (Origin::Abroad, 0.7),
                        (Origin::OtherMunicipality, 0.2),
                        (Origin::Unknown, 0.1),
                    ],
                ),
                Route::Asylum => *pick(
                    rng,
                    &[
                        (Origin::ReceptionCentre, 0.85),
                        (Origin::OtherMunicipality, 0.13),
                        (Origin::Unknown, 0.02),
                    ],
                ),
            }
        };
        let entry_days = match origin {
            Origin::ReceptionCentre => Some(lognormal_days(rng, 45.0, 0.7, 3, 400)),
            Origin::OtherMunicipality => Some(days_between(rng, 90, 900)),
            Origin::Abroad => Some(days_between(rng, 0, 5)),
            Origin::Unknown => None,
        };
        let entered_on =
            entry_days.map(|days| add_days(arrival, -days).max(new_year(self.member.birth_year)));
        self.entered_on = entered_on.unwrap_or(arrival);
        // Registries miss some entry dates they could have known.
        let entry_date = entered_on.filter(|_| chance(rng, 0.92));
        let home = household.home_on(arrival);
        self.plan.add_stay_event(
            arrival,
            Agency::Kommune,
            ArrivalRecorded {
                entry_date,
                origin,
                accommodation: home.accommodation,
                district: home.district.to_owned(),
            },
        );
    }

    pub(super) fn legal_events(&mut self, rng: &mut StdRng, household: &Household) {
        let legal = &household.legal;
        let agency = Agency::Auslaenderbehoerde;
        if self.member.reunified {
            // A family member following a recognised refugee gets a permit for family reasons.
            let permit_on = add_days(self.member.arrival, days_between(rng, 14, 60));
            let basis = if self.member.adult { "§30" } else { "§32" };
            self.plan.add(
                permit_on,
                agency,
                residence(
                    ResidenceStatus::Aufenthaltserlaubnis,
                    basis,
                    Some(years_later(permit_on, 3)),
                    true,
                ),
            );
            self.own_permit_on = Some(permit_on);
            for status in &legal.statuses {
                let later_kind = matches!(
                    status.event.status,
                    ResidenceStatus::Niederlassungserlaubnis | ResidenceStatus::Eingebuergert
                );
                if later_kind && status.on > permit_on {
                    self.plan.add(status.on, agency, status.event.clone());
                }
            }
            return;
        }
        self.own_permit_on = legal.protected_from;
        if let Some(filed_on) = legal.filed_on {
            self.plan.add(filed_on, agency, AsylumApplicationFiled {});
        }
        for (decided_on, outcome) in &legal.decisions {
            self.plan.add(
                *decided_on,
                agency,
                AsylumDecisionIssued { outcome: *outcome },
            );
        }
        for status in &legal.statuses {
            self.plan.add(status.on, agency, status.event.clone());
        }
        if let Some(permit_on) = legal.work_permit_on {
            if self.member.adult {
                self.plan.add(
                    permit_on,
                    agency,
                    residence(
                        ResidenceStatus::Gestattung,
                        "§55 AsylG",
                        Some(add_days(permit_on, 182)),
                        true,
                    ),
                );
            }
        }
    }

    pub(super) fn homes(&mut self, household: &Household) {
        for home in &household.homes {
            if home.from > self.member.arrival {
                self.plan.add(
                    home.from,
                    Agency::Kommune,
                    AddressChanged {
                        district: home.district.to_owned(),
                        accommodation: home.accommodation,
                    },
                );
            }
        }
    }

    /// The Start in SZ checklist: start folder, health check and vaccination, competence
    /// assessment, the 12-week start course. Each item: share of persons, days after arrival,
    /// recording agency. Shares are assumptions.
    pub(super) fn checklist(&mut self, rng: &mut StdRng) {
        const ADULT_ITEMS: &[(ChecklistItem, f64, (i64, i64), Agency)] = &[
            (ChecklistItem::StartFolder, 0.9, (0, 14), Agency::Kommune),
            (ChecklistItem::HealthCheck, 0.8, (7, 60), Agency::Kommune),
            (
                ChecklistItem::CompetenceAssessment,
                0.6,
                (30, 150),
                Agency::Jobcenter,
            ),
            (
                ChecklistItem::StartCourse,
                0.5,
                (80, 160),
                Agency::Bildungsbuero,
            ),
            (ChecklistItem::Other, 0.1, (14, 365), Agency::Sozialarbeit),
        ];
        const CHILD_ITEMS: &[(ChecklistItem, f64, (i64, i64), Agency)] =
            &[(ChecklistItem::HealthCheck, 0.85, (7, 60), Agency::Kommune)];
        let items = if self.member.adult {
            ADULT_ITEMS
        } else {
            CHILD_ITEMS
        };
        for &(item, share, (from, to), agency) in items {
            if !chance(rng, share) {
                continue;
            }
            let on = add_days(self.member.arrival, days_between(rng, from, to));
            self.plan.add(on, agency, ChecklistItemCompleted { item });
            // Vaccinations follow the health check for most.
            if item == ChecklistItem::HealthCheck && chance(rng, 0.85) {
                let vaccinated_on = add_days(on, days_between(rng, 0, 45));
                self.plan.add(
                    vaccinated_on,
                    Agency::Kommune,
                    ChecklistItemCompleted {
                        item: ChecklistItem::Vaccination,
                    },
                );
            }
        }
    }

    /// Consents to share the case between agencies (the joint database of the prevention chain),
    /// renewed on the GDPR form from 25 May 2018, sometimes withdrawn. Shares are assumptions.
    pub(super) fn consents(&mut self, rng: &mut StdRng, has_children: bool, end: NaiveDate) {
        let gdpr = day_of(2018, 5, 25);
        let share = if self.member.adult { 0.75 } else { 0.4 };
        if !chance(rng, share) {
            return;
        }
        let given_on = add_days(self.member.arrival, days_between(rng, 0, 30));
        let recipients = if self.member.adult {
            let mut recipients = vec![Agency::Jobcenter, Agency::Bildungsbuero];
            for (agency, share) in [
                (Agency::Sozialarbeit, 0.6),
                (Agency::Arbeitsagentur, 0.5),
                (Agency::Ehrenamt, 0.2),
                (Agency::Jugendamt, if has_children { 0.5 } else { 0.0 }),
            ] {
                if chance(rng, share) {
                    recipients.push(agency);
                }
            }
            recipients
        } else {
            vec![Agency::Jugendamt, Agency::Bildungsbuero]
        };
        let form = |day: NaiveDate| {
            if day < gdpr {
                "start-in-sz-2015"
            } else {
                "start-in-sz-2018"
            }
        };
        let mut consent_id = self.consent_id(given_on);
        let purpose = if self.member.adult {
            "joint case management for language and work"
        } else {
            "coordination of childcare and schooling"
        };
        self.plan.add(
            given_on,
            Agency::Kommune,
            ConsentGiven {
                consent_id: consent_id.clone(),
                recipients: recipients.clone(),
                purpose: purpose.to_owned(),
                form_version: form(given_on).to_owned(),
            },
        );
        let mut current_since = given_on;
        if given_on < gdpr && chance(rng, 0.6) {
            let renewed_on = add_days(gdpr, days_between(rng, 0, 120));
            if renewed_on <= end {
                self.plan.add(
                    renewed_on,
                    Agency::Kommune,
                    ConsentWithdrawn {
                        consent_id: consent_id.clone(),
                    },
                );
                consent_id = self.consent_id(renewed_on);
                self.plan.add(
                    renewed_on,
                    Agency::Kommune,
                    ConsentGiven {
                        consent_id: consent_id.clone(),
                        recipients,
                        purpose: purpose.to_owned(),
                        form_version: form(renewed_on).to_owned(),
                    },
                );
                current_since = renewed_on;
            }
        }
        if chance(rng, 0.04) {
            let withdrawn_on = add_days(current_since, days_between(rng, 30, 1_500));
            self.plan.add(
                withdrawn_on,
                Agency::Kommune,
                ConsentWithdrawn { consent_id },
            );
        }
    }

    fn consent_id(&mut self, on: NaiveDate) -> String {
        let number = self.next_number();
        format!(
            "SZ-C-{}-{}-{number}",
            on.year(),
            &self.id.0.simple().to_string()[..8]
        )
    }

    /// One benefit spell, half-open: started on `from`, last paid the day before `until`.
    pub(super) fn benefit_spell(
        &mut self,
        kind: BenefitKind,
        spell: (NaiveDate, NaiveDate),
        end: NaiveDate,
    ) {
        let (from, until) = spell;
        if (until - from).num_days() < 30 {
            return;
        }
        let agency = match kind {
            BenefitKind::Asylblg => Agency::Kommune,
            BenefitKind::Sgb2 => Agency::Jobcenter,
            BenefitKind::Sgb3 => Agency::Arbeitsagentur,
        };
        let group = self.plan.group(agency, Closer::Benefits(kind));
        self.plan
            .add_to(group, from, agency, BenefitsStarted { kind });
        // A spell reaching beyond `end` is still open on the population's "today".
        if until <= end {
            self.plan
                .add_to(group, add_days(until, -1), agency, BenefitsEnded { kind });
        }
    }

    /// Counselling contacts, frequent in the first year and rarer later, some with a referral.
    /// Rates and topic mixes are assumptions.
    pub(super) fn counselling(&mut self, rng: &mut StdRng, end: NaiveDate) {
        let arrival = self.member.arrival;
        let mut on = arrival;
        loop {
            let years = (on - arrival).num_days() / 365;
            let per_year = match (self.member.adult, years) {
                (true, 0) => 3.0,
                (true, 1) => 1.8,
                (true, _) => 0.6,
                (false, _) => 0.3,
            };
            on = add_days(on, 1 + (exponential(rng, 365.0 / per_year)) as i64);
            if on > end {
                break;
            }
            let early = years == 0;
            let topic = if !self.member.adult {
                *pick(
                    rng,
                    &[
                        (Topic::Education, 50.0),
                        (Topic::Family, 30.0),
                        (Topic::Health, 20.0),
                    ],
                )
            } else if early {
                *pick(
                    rng,
                    &[
                        (Topic::Housing, 20.0),
                        (Topic::Legal, 20.0),
                        (Topic::Language, 20.0),
                        (Topic::Health, 12.0),
                        (Topic::Family, 8.0),
                        (Topic::Work, 8.0),
                        (Topic::Education, 4.0),
                        (Topic::Other, 8.0),
                    ],
                )
            } else {
                *pick(
                    rng,
                    &[
                        (Topic::Work, 30.0),
                        (Topic::Language, 12.0),
                        (Topic::Housing, 12.0),
                        (Topic::Family, 12.0),
                        (Topic::Legal, 10.0),
                        (Topic::Education, 8.0),
                        (Topic::Health, 8.0),
                        (Topic::Other, 8.0),
                    ],
                )
            };
            let agency = match topic {
                Topic::Language | Topic::Education => Agency::Bildungsbuero,
                Topic::Work => {
                    if chance(rng, 0.7) {
                        Agency::Jobcenter
                    } else {
                        Agency::Arbeitsagentur
                    }
                }
                Topic::Housing => {
                    if chance(rng, 0.6) {
                        Agency::Kommune
                    } else {
                        Agency::Sozialarbeit
                    }
                }
                Topic::Legal => {
                    if chance(rng, 0.5) {
                        Agency::Auslaenderbehoerde
                    } else {
                        Agency::Sozialarbeit
                    }
                }
                Topic::Family => {
                    if chance(rng, 0.5) {
                        Agency::Jugendamt
                    } else {
                        Agency::Sozialarbeit
                    }
                }
                Topic::Health => Agency::Sozialarbeit,
                Topic::Other => {
                    if chance(rng, 0.6) {
                        Agency::Sozialarbeit
                    } else {
                        Agency::Ehrenamt
                    }
                }
            };
            self.plan.add(
                on,
                agency,
                CounsellingContact {
                    agency,
                    topic,
                    base: None,
                },
            );
            if chance(rng, 0.12) {
                let to_agency = match topic {
                    Topic::Work => Agency::Arbeitsagentur,
                    Topic::Language | Topic::Education => Agency::Bildungsbuero,
                    Topic::Family => Agency::Jugendamt,
                    Topic::Housing => Agency::Kommune,
                    Topic::Legal => Agency::Auslaenderbehoerde,
                    Topic::Health | Topic::Other => Agency::Sozialarbeit,
                };
                if to_agency != agency {
                    self.plan.add(on, agency, ReferralMade { to_agency, topic });
                }
            }
        }
    }

    /// Moving away (every member who is here) and coming back.
    /// Counselling at the neighbourhood base Start.Punkt.SZ (DOMAIN.md): the partners (the housing
    /// company, the welfare organisations, associations) hold contacts at a base in the district
    /// where many recognised refugees live. Adults living in that district go there about once a
    /// year while they live there, from the base's opening on. Rates and dates are assumptions.
    /// Drawn from a generator of the person's own (seeded from their id), so that adding the base
    /// changed no other draw of the population.
    pub(super) fn start_punkt(&mut self, household: &Household, end: NaiveDate) {
        const BASE: &str = "startpunkt-sz";
        const BASE_DISTRICT: &str = "Lebenstedt";
        const VISITS_PER_YEAR: f64 = 1.0;
        const PARTNERS: [Agency; 6] = [
            Agency::Wohnungsbau,
            Agency::Caritas,
            Agency::Diakonie,
            Agency::Drk,
            Agency::Awo,
            Agency::Vereine,
        ];
        let Some(opened) = NaiveDate::from_ymd_opt(2016, 9, 1) else {
            return;
        };
        if !self.member.adult {
            return;
        }
        let mut rng = StdRng::seed_from_u64(self.id.0.as_u64_pair().0 ^ 0x5354_4152_5450_554e);
        let mut on = self.member.arrival.max(opened);
        // A bound on the loop: 1,040 visits (one a week for twenty years) is more than a stay holds.
        for _ in 0..1_040 {
            on = add_days(
                on,
                1 + exponential(&mut rng, 365.0 / VISITS_PER_YEAR) as i64,
            );
            if on > end || household.stay.moved_away.is_some_and(|moved| on >= moved) {
                break;
            }
            if household.home_on(on).district != BASE_DISTRICT {
                continue;
            }
            let agency = PARTNERS[rng.gen_range(0..PARTNERS.len())];
            let topic = *pick(
                &mut rng,
                &[
                    (Topic::Housing, 35.0),
                    (Topic::Family, 20.0),
                    (Topic::Health, 15.0),
                    (Topic::Legal, 10.0),
                    (Topic::Other, 20.0),
                ],
            );
            self.plan.add(
                on,
                agency,
                CounsellingContact {
                    agency,
                    topic,
                    base: Some(BASE.to_owned()),
                },
            );
        }
    }

    pub(super) fn stay_events(&mut self, household: &Household) {
        let Some(moved_on) = household.stay.moved_away else {
            return;
        };
        if moved_on > household.end || moved_on <= self.member.arrival {
            return;
        }
        self.plan.add_stay_event(
            moved_on,
            Agency::Kommune,
            MovedAway {
                destination: household.destination,
            },
        );
        if let Some((home, origin)) = household.return_home {
            self.plan.add_stay_event(
                home.from,
                Agency::Kommune,
                ArrivalRecorded {
                    entry_date: None,
                    origin,
                    accommodation: home.accommodation,
                    district: home.district.to_owned(),
                },
            );
        }
    }
}
