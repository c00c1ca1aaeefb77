//! The offers of the synthetic population: Kita places and integration course places by
//! district and month, derived from the population's own needs so that `unmet_demand` and
//! `demand_forecast` show realistic figures (see [`super::calibration`] for the shares).
//!
//! While the population is written, [`NeedTally`] counts each month's Kita requests and course
//! registrations in the district the person then lives in. From those, Kita places cover about
//! four in five requests of a month (`KITA_PLACES_PER_REQUEST`), and course places for a month
//! equal the registrations two months earlier (a median wait of about eight weeks). For the 12
//! months after the population's end, each district is offered its monthly average of the last
//! 12 months (rounded up, so a district with any need gets a place), made the month before, so a planner sees the coming year.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use uuid::Uuid;

use super::calibration::KITA_PLACES_PER_REQUEST;
use super::{SynthConfig, SynthEvent};
use crate::catalogue::Event;
use crate::envelope::PersonId;
use crate::offers::{CapacityOffered, Month, OfferEvent, OfferId, OfferKind, OfferProposal};

/// The namespace of the generated offers' ids and event ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_7572_6e65_7900_8000_0000_0000_0003);

/// The months before the population's end that get offers (older months matter little to a
/// planner and would only lengthen seeding).
const MONTHS_BACK: u32 = 24;

/// What the population needs, by district (and provider) and month.
#[derive(Debug, Default)]
pub(crate) struct NeedTally {
    district_of: HashMap<PersonId, String>,
    kita: BTreeMap<(String, Month), u32>,
    courses: BTreeMap<(String, String, Month), u32>,
}

impl NeedTally {
    /// Observes one event; events come in each person's recording order.
    pub(crate) fn observe(&mut self, event: &SynthEvent) {
        let month = Month::of(event.occurred_on);
        match &event.event {
            Event::ArrivalRecorded(arrival) => {
                self.district_of
                    .insert(event.person, arrival.district.clone());
            }
            Event::AddressChanged(address) => {
                self.district_of
                    .insert(event.person, address.district.clone());
            }
            Event::KitaPlaceRequested(_) => {
                if let Some(district) = self.district_of.get(&event.person) {
                    *self.kita.entry((district.clone(), month)).or_default() += 1;
                }
            }
            Event::CourseRegistered(course) if course.course_type.is_integration_course() => {
                if let Some(district) = self.district_of.get(&event.person) {
                    *self
                        .courses
                        .entry((district.clone(), course.provider.clone(), month))
                        .or_default() += 1;
                }
            }
            _ => {}
        }
    }

    /// The offers: one stream per district (and provider), kind and month.
    pub(crate) fn offers(&self, config: &SynthConfig) -> Vec<(OfferId, OfferProposal)> {
        let end = Month::of(config.end);
        let first = end.minus(MONTHS_BACK);
        let mut offers = Vec::new();
        let mut yearly_kita: BTreeMap<&str, u32> = BTreeMap::new();
        for ((district, month), requests) in &self.kita {
            if *month < first || *month > end {
                continue;
            }
            if *month > end.minus(12) {
                *yearly_kita.entry(district).or_default() += requests;
            }
            let places = (f64::from(*requests) * KITA_PLACES_PER_REQUEST).round() as u32;
            offers.extend(offer(
                config,
                OfferKind::KitaPlaces,
                *month,
                district,
                None,
                places,
            ));
        }
        let mut yearly_courses: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        for ((district, provider, month), registrations) in &self.courses {
            let starts = month.plus(2);
            if starts < first || starts > end {
                continue;
            }
            if starts > end.minus(12) {
                *yearly_courses.entry((district, provider)).or_default() += registrations;
            }
            offers.extend(offer(
                config,
                OfferKind::CoursePlaces,
                starts,
                district,
                Some(provider),
                *registrations,
            ));
        }
        for ahead in 1..=12 {
            let month = end.plus(ahead);
            for (district, requests) in &yearly_kita {
                let places = (f64::from(*requests) * KITA_PLACES_PER_REQUEST / 12.0).ceil() as u32;
                offers.extend(offer(
                    config,
                    OfferKind::KitaPlaces,
                    month,
                    district,
                    None,
                    places,
                ));
            }
            for ((district, provider), registrations) in &yearly_courses {
                let places = (f64::from(*registrations) / 12.0).ceil() as u32;
                offers.extend(offer(
                    config,
                    OfferKind::CoursePlaces,
                    month,
                    district,
                    Some(provider),
                    places,
                ));
            }
        }
        offers
    }
}

/// One offer, made on the first day of the month before its month (never after the end), or
/// nothing for no places.
fn offer(
    config: &SynthConfig,
    kind: OfferKind,
    month: Month,
    district: &str,
    provider: Option<&str>,
    quantity: u32,
) -> Option<(OfferId, OfferProposal)> {
    if quantity == 0 {
        return None;
    }
    let name = format!(
        "{}/{}/{month}/{district}/{}",
        config.seed,
        kind.as_str(),
        provider.unwrap_or("")
    );
    let offer = OfferId(Uuid::new_v5(&NAMESPACE, name.as_bytes()));
    let made_on: NaiveDate = month.minus(1).first_day().min(config.end);
    Some((
        offer,
        OfferProposal {
            id: Uuid::new_v5(&NAMESPACE, offer.0.as_bytes()),
            occurred_on: made_on,
            event: OfferEvent::Offered(CapacityOffered {
                kind,
                month,
                district: Some(district.to_owned()),
                provider: provider.map(str::to_owned),
                quantity,
            }),
        },
    ))
}
