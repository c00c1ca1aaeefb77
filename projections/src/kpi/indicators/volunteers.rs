//! The volunteer indicators (issue 14): `active_volunteers`, `mentees_per_volunteer` and
//! `volunteer_retention` count volunteers (the register, `crate::volunteers`) in the district they
//! work in; `mentor_request_days` counts persons' waits. What a volunteer counts is decided here,
//! what a wait is by [`PersonView::mentor_request_waits`].

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use journey_core::volunteers::{VolunteerId, VolunteerState};

use super::{days, quantile, share_alone, Context, Indicator};
use crate::kpi::columns::Row;
use crate::kpi::table::{Contribution, MeasureSpec, Quantile, Table};
use crate::view::PersonView;

/// `active_volunteers`: slot 0 the volunteers active on D, slot 1 those of them trained by D.
pub(super) const ACTIVE: [MeasureSpec; 2] = [
    MeasureSpec::Count {
        name: "volunteers",
        slot: 0,
    },
    share_alone("share_trained", 1, 0, 0),
];

/// `mentees_per_volunteer`: slot 0 the volunteers active on D, slot 1 the mentees with an active
/// mentoring by one of them on D (a mentee of two volunteers counts for each).
pub(super) const MENTEES: [MeasureSpec; 3] = [
    MeasureSpec::Count {
        name: "volunteers",
        slot: 0,
    },
    MeasureSpec::Count {
        name: "mentees",
        slot: 1,
    },
    MeasureSpec::PerAverage {
        name: "mentees_per_volunteer",
        numerator: 1,
        denominator: 0,
        periods: 1,
        persons: 0,
    },
];

/// `volunteer_retention`: slots 0 and 1 the 6-month cohort and those of it still active 6 months
/// after recruitment; slots 2 and 3 the same for 12 months.
pub(super) const RETENTION: [MeasureSpec; 2] = [
    share_alone("retained_6_months", 1, 0, 0),
    share_alone("retained_12_months", 3, 2, 2),
];

/// `mentor_request_days`: sample slot 0 the waits, count slot 0 the persons behind them.
pub(super) const WAITS: [MeasureSpec; 2] = [
    quantile("median_days", 0, Quantile::Median, 0),
    quantile("p75_days", 0, Quantile::P75, 0),
];

/// A person's waits for a mentor answered in the 12 months up to D.
pub(super) fn observe_request_days(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    // A wait ends with a mentor assigned, at the start of a mentoring spell: only the persons with
    // such a start in the 12 months have a wait to count, and only their views are read.
    if !row
        .mentoring()
        .iter()
        .any(|spell| context.in_last_year(spell.start))
    {
        return;
    }
    let mut any = false;
    for (requested, assigned) in row.view().mentor_request_waits() {
        if context.in_last_year(assigned) {
            out.sample(0, days(requested, assigned));
            any = true;
        }
    }
    if any {
        out.count(0);
    }
}

/// Whether the volunteer indicator `indicator` counts volunteers from the register.
pub(crate) fn counts_volunteers(indicator: Indicator) -> bool {
    matches!(
        indicator,
        Indicator::ActiveVolunteers
            | Indicator::MenteesPerVolunteer
            | Indicator::VolunteerRetention
    )
}

/// Whether the volunteer was active `months` months after recruitment: not ended on or before it.
fn retained(state: &VolunteerState, since: NaiveDate, months: u32) -> bool {
    let Some(then) = since.checked_add_months(Months::new(months)) else {
        return false;
    };
    state.ended.is_none_or(|(ended, _)| ended > then)
}

/// Adds every volunteer's contribution to `table` (laid out by district): `states` is the register
/// as recorded by the query's `known_at`, `views` the persons of the same cut.
pub(crate) fn add_volunteers<'a>(
    indicator: Indicator,
    as_of: NaiveDate,
    states: &'a BTreeMap<VolunteerId, VolunteerState>,
    views: &[PersonView],
    table: &mut Table<'a>,
) {
    let months_before = |months| {
        as_of
            .checked_sub_months(Months::new(months))
            .unwrap_or(NaiveDate::MIN)
    };
    let mut contribution = Contribution::default();
    for state in states.values() {
        let Some((since, district)) = &state.recruited else {
            continue;
        };
        contribution.clear();
        match indicator {
            Indicator::ActiveVolunteers | Indicator::MenteesPerVolunteer
                if state.active_on(as_of) =>
            {
                contribution.count(0);
                if indicator == Indicator::ActiveVolunteers
                    && state.trained.is_some_and(|trained| trained <= as_of)
                {
                    contribution.count(1);
                }
            }
            Indicator::VolunteerRetention => {
                for (months, cohort_slot) in [(6, 0), (12, 2)] {
                    let window_end = months_before(months);
                    let window_start = months_before(months + 12);
                    if window_start < *since && *since <= window_end {
                        contribution.count(cohort_slot);
                        if retained(state, *since, months) {
                            contribution.count(cohort_slot + 1);
                        }
                    }
                }
            }
            _ => {}
        }
        if contribution.is_touched() {
            table.add_in_district(district.as_deref(), &contribution);
        }
    }
    if indicator == Indicator::MenteesPerVolunteer {
        for view in views {
            for spell in view
                .mentoring
                .iter()
                .filter(|spell| spell.interval.contains(as_of))
            {
                let Some(state) = VolunteerId::from_stream_name(&spell.mentor_id)
                    .and_then(|volunteer| states.get(&volunteer))
                    .filter(|state| state.active_on(as_of))
                else {
                    continue;
                };
                let district = state
                    .recruited
                    .as_ref()
                    .and_then(|(_, district)| district.as_deref());
                contribution.clear();
                contribution.count(1);
                table.add_in_district(district, &contribution);
            }
        }
    }
}
