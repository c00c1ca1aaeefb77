//! The volunteer register of the synthetic population: the pool of volunteers the households'
//! mentors are drawn from (`volunteer-<uuid>` ids), and their register entries, derived from the
//! mentorings the population records, so that every volunteer indicator shows figures.
//!
//! While the population is written, [`VolunteerTally`] notes each `MentorAssigned` (its event id,
//! date and the mentee's district) and `MentoringEnded`. From those each volunteer of the pool who
//! mentored anyone is recruited 30 to 89 days before their first assignment in the district of
//! their first mentee, trained two weeks after recruitment, linked to every mentee
//! (`MenteeAssigned` naming the `MentorAssigned`), supervised every six months and thanked once a
//! year while active; six in ten stop three months after their last mentoring ended. One mentor in
//! three brings along a helper who never mentors and so is never trained (`helper_of`). Every
//! number here is an assumption (see ARCHITECTURE.md, "Volunteers").

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use uuid::Uuid;

use super::{SynthConfig, SynthEvent};
use crate::catalogue::Event;
use crate::envelope::PersonId;
use crate::volunteers::{
    AppreciationKind, EndReason, MenteeAssigned, SupportKind, VolunteerAppreciated, VolunteerEnded,
    VolunteerEvent, VolunteerId, VolunteerProposal, VolunteerRecruited, VolunteerSupported,
    VolunteerTrained,
};

/// How many volunteers the mentors are drawn from. Assumption.
pub(crate) const POOL: u32 = 400;

/// The namespace of the generated volunteers' ids and event ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_7572_6e65_7900_8000_0000_0000_0004);

/// The `n`th volunteer of the pool.
pub(crate) fn volunteer_of(n: u32) -> VolunteerId {
    VolunteerId(Uuid::new_v5(
        &NAMESPACE,
        format!("volunteer-{n}").as_bytes(),
    ))
}

/// A small number from a uuid, stable across runs: the generator's decisions that must not draw
/// from the random stream.
fn spread(id: Uuid, salt: u8, modulus: u64) -> u64 {
    let bytes = Uuid::new_v5(&id, &[salt]).into_bytes();
    u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default()) % modulus
}

/// Days from a household's request for a mentor to the assignment: 7 to 112.
pub(crate) fn request_wait_days(household: Uuid) -> i64 {
    7 + spread(household, 1, 106) as i64
}

/// One mentoring of a volunteer: the `MentorAssigned` event id, its date, the mentee's district.
type Mentoring = (Uuid, NaiveDate, Option<String>);

/// The mentorings the population records, by volunteer.
#[derive(Debug, Default)]
pub(crate) struct VolunteerTally {
    district_of: HashMap<PersonId, String>,
    mentorings: BTreeMap<VolunteerId, Vec<Mentoring>>,
    last_end: BTreeMap<VolunteerId, NaiveDate>,
}

impl VolunteerTally {
    /// Observes one event; events come in each person's recording order.
    pub(crate) fn observe(&mut self, event: &SynthEvent) {
        match &event.event {
            Event::ArrivalRecorded(arrival) => {
                self.district_of
                    .insert(event.person, arrival.district.clone());
            }
            Event::AddressChanged(address) => {
                self.district_of
                    .insert(event.person, address.district.clone());
            }
            Event::MentorAssigned(assigned) => {
                if let Some(volunteer) = VolunteerId::from_stream_name(&assigned.mentor_id) {
                    self.mentorings.entry(volunteer).or_default().push((
                        event.id,
                        event.occurred_on,
                        self.district_of.get(&event.person).cloned(),
                    ));
                }
            }
            Event::MentoringEnded(ended) => {
                if let Some(volunteer) = VolunteerId::from_stream_name(&ended.mentor_id) {
                    let last = self.last_end.entry(volunteer).or_insert(event.occurred_on);
                    *last = (*last).max(event.occurred_on);
                }
            }
            _ => {}
        }
    }

    /// Each volunteer's register entry, in date order: the mentors, each followed by the helper
    /// they brought along, if any.
    pub(crate) fn register(
        &self,
        config: &SynthConfig,
    ) -> Vec<(VolunteerId, Vec<VolunteerProposal>)> {
        let mut register = Vec::new();
        for (volunteer, mentorings) in &self.mentorings {
            let mut mentorings = mentorings.clone();
            mentorings.sort_by_key(|(id, on, _)| (*on, *id));
            let Some((_, first_on, district)) = mentorings.first().cloned() else {
                continue;
            };
            let recruited_on = first_on - Duration::days(30 + spread(volunteer.0, 2, 60) as i64);
            // Six in ten stop three months after their last mentoring ended, if that has come.
            let last_assigned = mentorings.last().map_or(first_on, |(_, on, _)| *on);
            let ended_on = self
                .last_end
                .get(volunteer)
                .map(|last| *last + Duration::days(90))
                .filter(|ended| {
                    *ended > last_assigned && *ended <= config.end && spread(volunteer.0, 3, 10) < 6
                });
            let mentor = Entry {
                recruited_on,
                district: district.clone(),
                trained_on: Some(recruited_on + Duration::days(14)),
                mentorings: &mentorings,
                ended_on,
            };
            register.push((*volunteer, mentor.proposals(*volunteer, config)));
            if let Some(helper) = helper_of(*volunteer, recruited_on, district, config) {
                register.push(helper);
            }
        }
        register
    }
}

/// The helper one mentor in `HELPER_PER_MENTORS` brought along: recruited in the mentor's district
/// up to a year after the mentor, helping without a mentee (at the language café, on the way to an
/// office) and so never taking the mentor training; four in ten stop after one to three years. They
/// make the register's untrained share: without them every active volunteer would be trained (a
/// mentee needs a trained mentor), and `share_trained` would show a complement of zero, which
/// disclosure control suppresses in every cell.
fn helper_of(
    mentor: VolunteerId,
    mentor_recruited_on: NaiveDate,
    district: Option<String>,
    config: &SynthConfig,
) -> Option<(VolunteerId, Vec<VolunteerProposal>)> {
    if spread(mentor.0, 4, HELPER_PER_MENTORS) != 0 {
        return None;
    }
    let helper = VolunteerId(Uuid::new_v5(
        &NAMESPACE,
        format!("helper-of-{}", mentor.0).as_bytes(),
    ));
    let recruited_on = mentor_recruited_on + Duration::days(spread(helper.0, 2, 365) as i64);
    if recruited_on > config.end {
        return None;
    }
    let ended_on = Some(recruited_on + Duration::days(365 + spread(helper.0, 3, 730) as i64))
        .filter(|ended| *ended <= config.end && spread(helper.0, 5, 10) < 4);
    let entry = Entry {
        recruited_on,
        district,
        trained_on: None,
        mentorings: &[],
        ended_on,
    };
    Some((helper, entry.proposals(helper, config)))
}

/// One mentor in this many brings a helper along. Assumption.
const HELPER_PER_MENTORS: u64 = 3;

/// What a volunteer's register entry says, before it becomes events.
struct Entry<'a> {
    recruited_on: NaiveDate,
    district: Option<String>,
    trained_on: Option<NaiveDate>,
    mentorings: &'a [Mentoring],
    ended_on: Option<NaiveDate>,
}

impl Entry<'_> {
    /// The entry's events: recruited, trained, linked to every mentee, supervised every six months
    /// from the training (or the recruitment) and thanked once a year while active, then ended.
    fn proposals(self, volunteer: VolunteerId, config: &SynthConfig) -> Vec<VolunteerProposal> {
        let mut events: Vec<(NaiveDate, VolunteerEvent)> = vec![(
            self.recruited_on,
            VolunteerEvent::Recruited(VolunteerRecruited {
                district: self.district,
            }),
        )];
        if let Some(trained_on) = self.trained_on {
            events.push((trained_on, VolunteerEvent::Trained(VolunteerTrained {})));
        }
        for (mentoring, on, _) in self.mentorings {
            events.push((
                *on,
                VolunteerEvent::MenteeAssigned(MenteeAssigned {
                    mentoring: *mentoring,
                }),
            ));
        }
        let until = self.ended_on.unwrap_or(config.end);
        let mut supported = self.trained_on.unwrap_or(self.recruited_on) + Duration::days(182);
        while supported < until {
            events.push((
                supported,
                VolunteerEvent::Supported(VolunteerSupported {
                    kind: SupportKind::Supervision,
                }),
            ));
            supported += Duration::days(182);
        }
        let mut thanked = self.recruited_on + Duration::days(365);
        while thanked < until {
            events.push((
                thanked,
                VolunteerEvent::Appreciated(VolunteerAppreciated {
                    kind: AppreciationKind::Event,
                }),
            ));
            thanked += Duration::days(365);
        }
        if let Some(ended_on) = self.ended_on {
            events.push((
                ended_on,
                VolunteerEvent::Ended(VolunteerEnded {
                    reason: EndReason::NoTime,
                }),
            ));
        }
        // Recruitment first, the end last, the rest by date (a stable sort keeps the order of one
        // day's events as written above).
        events[1..].sort_by_key(|(on, event)| (*on, matches!(event, VolunteerEvent::Ended(_))));
        events
            .into_iter()
            .enumerate()
            .map(|(index, (occurred_on, event))| VolunteerProposal {
                id: Uuid::new_v5(&volunteer.0, format!("event-{index}").as_bytes()),
                occurred_on,
                event,
            })
            .collect()
    }
}
