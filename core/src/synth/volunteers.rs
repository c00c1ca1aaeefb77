//! The volunteer register of the synthetic population: the pool of volunteers the households'
//! mentors are drawn from (`volunteer-<uuid>` ids), and their register entries, derived from the
//! mentorings the population records, so that every volunteer indicator shows figures.
//!
//! While the population is written, [`VolunteerTally`] notes each `MentorAssigned` (its event id,
//! date and the mentee's district) and `MentoringEnded`. From those each volunteer of the pool who
//! mentored anyone is recruited 30 to 89 days before their first assignment in the district of
//! their first mentee, trained two weeks after recruitment, linked to every mentee
//! (`MenteeAssigned` naming the `MentorAssigned`), supervised every six months and thanked once a
//! year while active; six in ten stop three months after their last mentoring ended. Every number
//! here is an assumption (see ARCHITECTURE.md, "Volunteers").

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

    /// Each volunteer's register entry, in date order.
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
            let mut events: Vec<(NaiveDate, VolunteerEvent)> = Vec::new();
            let recruited_on = first_on - Duration::days(30 + spread(volunteer.0, 2, 60) as i64);
            let trained_on = recruited_on + Duration::days(14);
            events.push((
                recruited_on,
                VolunteerEvent::Recruited(VolunteerRecruited { district }),
            ));
            events.push((trained_on, VolunteerEvent::Trained(VolunteerTrained {})));
            for (mentoring, on, _) in &mentorings {
                events.push((
                    *on,
                    VolunteerEvent::MenteeAssigned(MenteeAssigned {
                        mentoring: *mentoring,
                    }),
                ));
            }
            // Six in ten stop three months after their last mentoring ended, if that has come.
            let last_assigned = mentorings.last().map_or(first_on, |(_, on, _)| *on);
            let ended_on = self
                .last_end
                .get(volunteer)
                .map(|last| *last + Duration::days(90))
                .filter(|ended| {
                    *ended > last_assigned && *ended <= config.end && spread(volunteer.0, 3, 10) < 6
                });
            let until = ended_on.unwrap_or(config.end);
            let mut supported = trained_on + Duration::days(182);
            while supported < until {
                events.push((
                    supported,
                    VolunteerEvent::Supported(VolunteerSupported {
                        kind: SupportKind::Supervision,
                    }),
                ));
                supported += Duration::days(182);
            }
            let mut thanked = recruited_on + Duration::days(365);
            while thanked < until {
                events.push((
                    thanked,
                    VolunteerEvent::Appreciated(VolunteerAppreciated {
                        kind: AppreciationKind::Event,
                    }),
                ));
                thanked += Duration::days(365);
            }
            if let Some(ended_on) = ended_on {
                events.push((
                    ended_on,
                    VolunteerEvent::Ended(VolunteerEnded {
                        reason: EndReason::NoTime,
                    }),
                ));
            }
            // Recruitment first, the end last, the rest by date (a stable sort keeps the order
            // of one day's events as written above).
            events[1..].sort_by_key(|(on, event)| (*on, matches!(event, VolunteerEvent::Ended(_))));
            let proposals = events
                .into_iter()
                .enumerate()
                .map(|(index, (occurred_on, event))| VolunteerProposal {
                    id: Uuid::new_v5(&volunteer.0, format!("event-{index}").as_bytes()),
                    occurred_on,
                    event,
                })
                .collect();
            register.push((*volunteer, proposals));
        }
        register
    }
}
