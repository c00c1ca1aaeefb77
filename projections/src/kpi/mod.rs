//! The KPI catalogue (DOMAIN.md section 5): definitions, computation over person views,
//! disaggregation and disclosure control.
//!
//! [`compute`] is a pure function of a [`KpiQuery`] and the person views built at the query's
//! `known_at` (see [`crate::view::PersonView::build`]). It walks the views once, adds each
//! person's contribution to the cell of their dimension values as of `as_of`, derives two-way
//! margins and the total from the cells, turns the counts into [`Measure`]s and, when asked,
//! applies small-cell suppression ([`suppression`]). Cells, margins and measures come in a fixed
//! order and every float is rounded to 4 decimals, so the same inputs give byte-identical JSON.
//!
//! Decisions where DOMAIN.md is silent are written into each definition's text (see
//! [`catalogue`]); `schemas/kpis.json` carries them.

pub mod catalogue;
pub mod columns;
mod compact;
mod contributions;
mod dimension;
pub mod german;
pub mod history;
mod indicators;
mod packed;
mod steps;
pub use steps::{BuiltSteps, StepsHeld};
pub(crate) use steps::{LiveSteps, WANTED_MAX as STEPS_WANTED_MAX};
pub mod suppression;
mod table;

use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::registers::Registers;
use serde::{Deserialize, Serialize};

pub use catalogue::{catalogue, definition, CountingUnit, KpiDefinition, MeasureDefinition};
pub use columns::{Columns, Fields};
pub use contributions::Contributions;
pub use dimension::{Dimension, AGE_BANDS};
pub use german::{german, German};

use crate::offers::Offers;
use crate::view::{Households, PersonView};
use crate::volunteers::Volunteers;
use columns::Row;
use journey_core::offers::{Month, OfferKind};

/// The most dimensions a query may break an indicator down by (counting an implicit one).
pub const MAX_DIMENSIONS: usize = 2;

/// Small-cell suppression for roles that may not see person-level data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Cells counting fewer than `k` persons (and more than none) are suppressed. DOMAIN.md: 3.
    pub k: u32,
}

impl Default for Suppression {
    fn default() -> Self {
        Self { k: 3 }
    }
}

/// A question for the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiQuery {
    pub key: String,
    /// The reporting date D (valid time).
    pub as_of: NaiveDate,
    /// The transaction-time cut; the views passed to [`compute`] must be built at it.
    pub known_at: DateTime<Utc>,
    /// Zero, one or two dimensions, in the order the table is laid out (rows, then columns).
    pub by: Vec<Dimension>,
    pub suppression: Option<Suppression>,
}

/// One value of one dimension of a cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DimensionValue {
    pub dimension: Dimension,
    /// The value as written on the wire. `unknown` (recorded as unknown) and `none` (nothing
    /// recorded, or not applicable) are values of their own and never the same.
    pub value: String,
}

/// One figure of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// For example `rate`, `median_days`, `p75_days`, `share_b1_or_better`.
    pub name: String,
    /// `None` when suppressed, or undefined (a share of nobody, a median of nothing).
    pub value: Option<f64>,
    pub numerator: Option<u64>,
    pub denominator: Option<u64>,
    /// The persons the figure is about: the count disclosure control looks at. For a share of
    /// persons it is the denominator; for a share of events or a duration, the distinct persons
    /// behind the events.
    pub persons: Option<u64>,
    pub suppressed: bool,
}

/// A cell of the result table: its dimension values and its measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// One value per dimension of the query, in query order. A margin of a two-way table lists
    /// only the dimension it keeps; the total lists none.
    pub dimensions: Vec<DimensionValue>,
    /// In the order of the definition's measures.
    pub measures: Vec<Measure>,
}

impl Cell {
    /// The measure with this name.
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|measure| measure.name == name)
    }
}

/// The answer to a [`KpiQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiResult {
    pub key: String,
    pub as_of: NaiveDate,
    pub known_at: DateTime<Utc>,
    pub counting_unit: CountingUnit,
    /// What the shares and durations are taken over.
    pub denominator: String,
    /// The dimensions of the table, an implicit one first.
    pub by: Vec<Dimension>,
    pub suppression: Option<Suppression>,
    /// The inner cells, ordered by their dimension values (the first dimension first).
    pub cells: Vec<Cell>,
    /// The margins of a two-way table: first every value of the first dimension (summed over the
    /// second), then every value of the second. Empty for zero or one dimension.
    pub margins: Vec<Cell>,
    /// The total over everything.
    pub total: Cell,
    /// What the table leaves out or approximates, over the whole answer.
    pub metadata: KpiMetadata,
}

/// Counts about an answer as a whole rather than about a cell. They count persons the table leaves
/// out or places approximately, not persons of any one cell, so no cell can be recomputed from them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiMetadata {
    /// Persons left out of the indicator's age-based population (working age, children of Kita
    /// or school age) because their birth year is registered as unknown, though they meet its
    /// other conditions (present on D; for the cohort curves, within years 0 to 10). Zero for
    /// indicators that do not depend on age. A table laid out by `age_band` shows such persons
    /// under `unknown` instead.
    pub unknown_birth_year_excluded: u64,
    /// When the table is laid out by `years_since_entry`: the persons in it whose years were
    /// counted from their first arrival because no entry date into Germany is recorded. `None`
    /// for a table without that dimension.
    pub entry_date_fallbacks: Option<u64>,
    /// Persons erased from the ledger by the time of the answer. Erasure removes a person from
    /// every cut, past `known_at`s included, so an answer asked again after an erasure may count
    /// fewer persons than it did; this says how many are missing for that reason. [`compute`]
    /// sees only views and leaves it 0; [`crate::Projections::kpi`] fills it in from the state.
    pub erased_persons: u64,
}

impl KpiMetadata {
    /// Adds the counts of another share of the persons.
    fn merge(&mut self, other: &KpiMetadata) {
        self.unknown_birth_year_excluded += other.unknown_birth_year_excluded;
        if let (Some(mine), Some(theirs)) = (
            self.entry_date_fallbacks.as_mut(),
            other.entry_date_fallbacks,
        ) {
            *mine += theirs;
        }
        self.erased_persons += other.erased_persons;
    }
}

/// Why a query cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KpiError {
    #[error("unknown indicator `{key}`; the catalogue lists {}", known.join(", "))]
    UnknownKey {
        key: String,
        known: Vec<&'static str>,
    },
    #[error("unknown dimension `{name}`; the dimensions are {}", names(allowed))]
    UnknownDimension {
        name: String,
        allowed: Vec<Dimension>,
    },
    #[error("`{key}` takes at most {max} dimensions{}, {requested} were asked for", implicit_note(*implicit))]
    TooManyDimensions {
        key: String,
        requested: usize,
        max: usize,
        implicit: Option<Dimension>,
    },
    #[error("dimension `{dimension}` is asked for twice")]
    RepeatedDimension { dimension: Dimension },
    #[error(
        "`{key}` cannot be broken down by `{dimension}`; it allows {}",
        names(allowed)
    )]
    DimensionNotAllowed {
        key: String,
        dimension: Dimension,
        allowed: Vec<Dimension>,
    },
    #[error("`{key}` is person-level: it is the {read_model} read model (caseworkers only), not an aggregate")]
    PersonLevel {
        key: String,
        read_model: &'static str,
    },
    #[error("the views were built at {views_known_at}, not at the query's known_at {query_known_at}; ask the views of the query's cut")]
    ViewsOutOfCut {
        views_known_at: DateTime<Utc>,
        query_known_at: DateTime<Utc>,
    },
}

fn names(dimensions: &[Dimension]) -> String {
    if dimensions.is_empty() {
        return "none".to_owned();
    }
    dimensions
        .iter()
        .map(|dimension| dimension.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn implicit_note(implicit: Option<Dimension>) -> String {
    match implicit {
        Some(dimension) => format!(" including its implicit `{dimension}`"),
        None => String::new(),
    }
}

/// The dimensions a query's table is laid out by: the definition's implicit dimension first, then
/// the requested ones (the implicit one may be named again, and is then not repeated).
pub fn resolve_dimensions(
    definition: &KpiDefinition,
    requested: &[Dimension],
) -> Result<Vec<Dimension>, KpiError> {
    let mut dimensions: Vec<Dimension> = definition.implicit_dimension.into_iter().collect();
    for (index, dimension) in requested.iter().enumerate() {
        if requested[..index].contains(dimension) {
            return Err(KpiError::RepeatedDimension {
                dimension: *dimension,
            });
        }
        if !definition.disaggregations.contains(dimension) {
            return Err(KpiError::DimensionNotAllowed {
                key: definition.key.to_owned(),
                dimension: *dimension,
                allowed: definition.disaggregations.to_vec(),
            });
        }
        if Some(*dimension) != definition.implicit_dimension {
            dimensions.push(*dimension);
        }
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(KpiError::TooManyDimensions {
            key: definition.key.to_owned(),
            requested: dimensions.len(),
            max: MAX_DIMENSIONS,
            implicit: definition.implicit_dimension,
        });
    }
    Ok(dimensions)
}

/// Answers a query over the views of one cut. `views` must be built at `query.known_at` (a view
/// does not carry its cut, so that is the caller's word here; [`crate::ViewSet::compute`] checks
/// its cut against the query's) and
/// ordered by person (as the runner keeps them); `households` must come from the same views.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use journey_core::catalogue::{
///     Accommodation, ArrivalRecorded, BirthYear, Event, Origin, PersonRegistered, Sex,
/// };
/// use journey_core::envelope::{Actor, PersonId};
/// use journey_projections::journal::{Fact, Journal};
/// use journey_projections::kpi::{compute, KpiQuery};
/// use journey_projections::view::{Households, PersonView};
/// use uuid::Uuid;
///
/// let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
/// let fact = |revision: u64, occurred_on, event: Event| {
///     Fact::new(
///         journey_core::log::Position::from_raw(revision),
///         revision,
///         Uuid::from_u128(u128::from(revision) + 1),
///         occurred_on,
///         Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap(),
///         Actor::system("example"),
///         event,
///     )
///     .unwrap()
/// };
/// let journal = Journal {
///     facts: vec![
///         fact(0, day(2024, 2, 1), Event::PersonRegistered(PersonRegistered {
///             birth_year: BirthYear::Known(1990),
///             sex: Sex::Female,
///             nationality: "SYR".into(),
///             languages: vec!["ar".into()],
///             household_id: None,
///         })),
///         fact(1, day(2024, 2, 1), Event::ArrivalRecorded(ArrivalRecorded {
///             entry_date: None,
///             origin: Origin::ReceptionCentre,
///             accommodation: Accommodation::Shared,
///             district: "Lebenstedt".into(),
///         })),
///     ],
///     erased: false,
/// };
/// let known_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
/// let views: Vec<PersonView> =
///     PersonView::build(PersonId(Uuid::nil()), &journal, known_at).into_iter().collect();
/// let households = Households::from_views(&views);
///
/// let query = KpiQuery {
///     key: "population_present".into(),
///     as_of: day(2024, 12, 31),
///     known_at,
///     by: vec![],
///     suppression: None,
/// };
/// let result = compute(&query, &views, &households).unwrap();
/// assert_eq!(result.total.measure("persons").unwrap().value, Some(1.0));
/// ```
pub fn compute(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
) -> Result<KpiResult, KpiError> {
    compute_with_registers(query, views, households, &Registers::default())
}

/// [`compute`] with the installation's registers: districts are named as the register named them
/// on D (renames and merges before D applied), `current_district` as the register names them today,
/// and `area` is a district's parent area. Without registers every district stays as recorded.
pub fn compute_with_registers(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
) -> Result<KpiResult, KpiError> {
    compute_with_offers(query, views, households, registers, &Offers::default())
}

/// [`compute_with_registers`] with the offers (`crate::offers`): `unmet_demand` sets the places
/// offered for D's month, in force on D as recorded by the query's `known_at`, against the
/// persons waiting. The volunteer indicators see an empty register here.
pub fn compute_with_offers(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
    offers: &Offers,
) -> Result<KpiResult, KpiError> {
    compute_with_organisational(
        query,
        views,
        households,
        registers,
        offers,
        &Volunteers::default(),
    )
}

/// [`compute_with_offers`] with the volunteer register (`crate::volunteers`), as recorded by the
/// query's `known_at`: `active_volunteers`, `mentees_per_volunteer` and `volunteer_retention`
/// count its volunteers in the district they work in. Every other indicator is about persons,
/// and offers.
pub fn compute_with_organisational(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
    offers: &Offers,
    volunteers: &Volunteers,
) -> Result<KpiResult, KpiError> {
    compute_views_on(
        query,
        views,
        households,
        (registers, offers, volunteers),
        (1, Path::EveryPerson),
    )
}

/// [`compute_with_registers`] on `threads` threads: the persons are cut into contiguous shares,
/// each share's table is computed on a thread of its own and the tables are merged. The answer
/// is the same, byte for byte, as on one thread (the running projections answer this way; this
/// is how a test holds the merge to the single-threaded answer).
pub fn compute_on(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
    threads: usize,
) -> Result<KpiResult, KpiError> {
    compute_views_on(
        query,
        views,
        households,
        (registers, &Offers::default(), &Volunteers::default()),
        (threads, Path::EveryPerson),
    )
}

/// [`compute_with_registers`] by a pass over every person, also for the indicators otherwise
/// read off running sums over days (`steps`: `population_present`, `employment_rate`,
/// `kita_rate`): the reference those are held to (`projections/tests/steps.rs`).
pub fn compute_visiting_everyone(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
) -> Result<KpiResult, KpiError> {
    let (definition, dimensions) = definition_and_dimensions(query)?;
    let columns = Columns::of_cut(views, query.known_at);
    let population = Population {
        views,
        columns: &columns,
        households: households.into(),
    };
    let organisational = (registers, &Offers::default(), &Volunteers::default());
    compute_over(
        query,
        (definition, dimensions),
        population,
        organisational,
        (1, Path::EveryPerson),
    )
}

/// An indicator over `views` (their columns taken at the query's cut) on `threads` threads, its
/// counts found by `path`.
fn compute_views_on(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    organisational: (&Registers, &Offers, &Volunteers),
    (threads, path): (usize, Path<'_>),
) -> Result<KpiResult, KpiError> {
    let (definition, dimensions) = definition_and_dimensions(query)?;
    let columns = Columns::of_cut(views, query.known_at);
    compute_over(
        query,
        (definition, dimensions),
        Population {
            views,
            columns: &columns,
            households: households.into(),
        },
        organisational,
        (threads, path),
    )
}

/// [`compute_with_registers`] read off steps (`steps`) built for this query alone, for the
/// indicators and breakdowns they answer (else by a pass over every person): what
/// `projections/tests/steps.rs` holds to [`compute_visiting_everyone`]. The running projections
/// never build steps on a query's path (`crate::kept_steps`).
pub fn compute_from_steps(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
    threads: usize,
) -> Result<KpiResult, KpiError> {
    compute_views_on(
        query,
        views,
        households,
        (registers, &Offers::default(), &Volunteers::default()),
        (threads, Path::BuildSteps),
    )
}

/// Whether `query` would be answered now from the steps `live` holds at `checkpoint`.
pub(crate) fn answered_from_steps(
    query: &KpiQuery,
    live: &LiveSteps,
    checkpoint: Option<journey_core::log::Position>,
) -> bool {
    definition_and_dimensions(query).is_ok_and(|(definition, dimensions)| {
        let indicator = indicators::Indicator::for_key(definition.key);
        steps::applies(indicator, &dimensions)
            && live.holds(checkpoint, indicator, &dimensions, query.as_of)
    })
}

/// How the persons' counts are found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path<'s> {
    /// From the steps the live views hold at their checkpoint where they answer the query
    /// (`steps`), else by visiting every person (and the steps are wanted).
    LiveSteps(&'s LiveSteps, Option<journey_core::log::Position>),
    /// From steps built for this query alone where they answer it, else by visiting every person.
    BuildSteps,
    /// By visiting every person.
    EveryPerson,
}

/// Whether answering `key` reads person views beyond the columns (see
/// `indicators::Indicator::reads_views`); an unknown key does (its error comes from the views'
/// path).
pub(crate) fn reads_views(key: &str) -> bool {
    definition(key).map_or(true, |definition| {
        indicators::Indicator::for_key(definition.key).reads_views()
    })
}

/// The views of one cut with their columns and households: what an indicator reads. `views` may
/// be empty (columns alone) for an indicator that does not [`reads_views`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Population<'a> {
    pub(crate) views: &'a [PersonView],
    /// Built from `views`, in their order, at the query's cut.
    pub(crate) columns: &'a Columns,
    pub(crate) households: HouseholdsOf<'a>,
}

/// The households of a population, as an indicator reads them: made beforehand (a view set's,
/// or the caller's), or made of the population's columns the first time an indicator reads them
/// (a past cut from the kept rows: most indicators read none, and making them is a pass over every
/// person).
#[derive(Debug, Clone, Copy)]
pub(crate) enum HouseholdsOf<'a> {
    Made(&'a Households),
    /// The households of the columns, once made: `None` when the columns left out a field
    /// they read (a past cut's, `crate::KeptCut`): then a pass reading them is answered again.
    OfColumns(&'a Columns, &'a std::sync::OnceLock<Option<Households>>),
}

impl<'a> HouseholdsOf<'a> {
    /// The households, made now if they were not yet ([`Columns::households`]). Of columns that
    /// left out a field they read, none: the fields read are noted (`packed::reading`), the
    /// pass that asked is answered again once they are gathered, and meanwhile every read gets
    /// no households (made once, not once a person).
    pub(crate) fn get(self) -> &'a Households {
        match self {
            HouseholdsOf::Made(households) => households,
            HouseholdsOf::OfColumns(columns, made) => {
                let made = made.get_or_init(|| match packed::reading(|| columns.households()) {
                    (households, true) => Some(households),
                    (_, false) => None,
                });
                match made {
                    Some(households) => households,
                    None => {
                        static NONE: std::sync::LazyLock<Households> =
                            std::sync::LazyLock::new(Households::default);
                        &NONE
                    }
                }
            }
        }
    }
}

impl<'a> From<&'a Households> for HouseholdsOf<'a> {
    fn from(households: &'a Households) -> Self {
        HouseholdsOf::Made(households)
    }
}

/// [`compute_with_organisational`] over a population whose columns are kept with the views (the
/// running projections' [`crate::ViewSet`]): no pass over the views but the indicators' own. The
/// population's cut, which its columns carry, must be the query's.
/// The persons are shared out over `threads` threads ([`compute_on`]).
pub(crate) fn compute_kept(
    query: &KpiQuery,
    population: Population<'_>,
    registers: &Registers,
    offers: &Offers,
    volunteers: &Volunteers,
    (threads, path): (usize, Path<'_>),
) -> Result<KpiResult, KpiError> {
    let (definition, dimensions) = definition_and_dimensions(query)?;
    let views_known_at = population.columns.known_at();
    if views_known_at != query.known_at {
        return Err(KpiError::ViewsOutOfCut {
            views_known_at,
            query_known_at: query.known_at,
        });
    }
    compute_over(
        query,
        (definition, dimensions),
        population,
        (registers, offers, volunteers),
        (threads, path),
    )
}

/// What an indicator reads besides the persons: the registers, offers and volunteers.
type Organisational<'a> = (&'a Registers, &'a Offers, &'a Volunteers);

fn compute_over(
    query: &KpiQuery,
    (definition, dimensions): (&'static KpiDefinition, Vec<Dimension>),
    population: Population<'_>,
    (registers, offers, volunteers): Organisational<'_>,
    (threads, path): (usize, Path<'_>),
) -> Result<KpiResult, KpiError> {
    let indicator = indicators::Indicator::for_key(definition.key);
    // Which months' places count, and in which slots: D's month for the unmet demand, the 12
    // months after it for the forecast.
    let month = Month::of(query.as_of);
    let capacity = match indicator {
        indicators::Indicator::UnmetDemand => Some((
            month,
            month,
            indicators::UNMET_KITA_PLACES,
            indicators::UNMET_COURSE_PLACES,
        )),
        indicators::Indicator::DemandForecast => Some((
            month.next(),
            month.plus(12),
            indicators::FORECAST_KITA_PLACES,
            indicators::FORECAST_COURSE_PLACES,
        )),
        _ => None,
    };
    let capacities = match capacity {
        Some(_) => offers.in_force(query.as_of, query.known_at),
        None => Vec::new(),
    };
    // Each share of the persons fills a table of its own; the tables merge exactly (counts add,
    // samples are pooled, in no order a quantile depends on), so the answer does not
    // depend on how the persons were shared out.
    let by_entry = dimensions.contains(&Dimension::YearsSinceEntry);
    let empty = || {
        let table = table::Table::new(&dimensions, query.as_of, registers);
        let metadata = KpiMetadata {
            unknown_birth_year_excluded: 0,
            entry_date_fallbacks: by_entry.then_some(0),
            erased_persons: 0,
        };
        (table, metadata)
    };
    let share = |rows: Range<usize>| {
        let (mut table, mut metadata) = empty();
        each_contribution(query, indicator, population, rows, |row, contribution| {
            if contribution.is_excluded_for_unknown_birth_year() {
                metadata.unknown_birth_year_excluded += 1;
            }
            if !contribution.is_touched() {
                return;
            }
            table.add(row, contribution);
            if let Some(fallbacks) = metadata.entry_date_fallbacks.as_mut() {
                if row
                    .entry(query.as_of)
                    .is_some_and(|entry| entry.from_arrival)
                {
                    *fallbacks += 1;
                }
            }
        });
        (table, metadata)
    };
    // A step indicator is read off running sums over days (`steps`) when the path has them and
    // they cover D; otherwise every person is visited.
    let (mut stepped, mut stepped_metadata) = empty();
    let answered = match path {
        Path::LiveSteps(live, checkpoint) => live.answer(
            checkpoint,
            indicator,
            (&dimensions, registers),
            query.as_of,
            population.columns,
            (&mut stepped, &mut stepped_metadata),
        ),
        Path::BuildSteps => {
            steps::applies(indicator, &dimensions)
                && steps::Steps::build(indicator, &dimensions, population, threads).add_to(
                    query.as_of,
                    population.columns,
                    (&dimensions, registers),
                    &mut stepped,
                    &mut stepped_metadata,
                )
        }
        Path::EveryPerson => false,
    };
    let (mut table, metadata) = if answered {
        (stepped, stepped_metadata)
    } else {
        let mut shares =
            crate::parallel::map_shares(population.columns.len(), threads, share).into_iter();
        let (mut table, mut metadata) = shares.next().unwrap_or_else(|| share(0..0));
        for (other, counts) in shares {
            table.merge(other);
            metadata.merge(&counts);
        }
        (table, metadata)
    };
    for (offered, (first, last, kita_slot, course_slot)) in capacities
        .iter()
        .filter_map(|offered| capacity.map(|capacity| (offered, capacity)))
    {
        if offered.month < first || offered.month > last {
            continue;
        }
        let slot = match offered.kind {
            OfferKind::KitaPlaces => kita_slot,
            OfferKind::CoursePlaces => course_slot,
            OfferKind::CounsellingHours => continue,
        };
        let mut contribution = table::Contribution::default();
        contribution.add(slot, u64::from(offered.quantity));
        table.add_in_district(offered.district.as_deref(), &contribution);
    }
    let volunteer_states = if indicators::volunteers::counts_volunteers(indicator) {
        volunteers.states(query.known_at)
    } else {
        Default::default()
    };
    if indicators::volunteers::counts_volunteers(indicator) {
        indicators::volunteers::add_volunteers(
            indicator,
            query.as_of,
            &volunteer_states,
            population.views,
            &mut table,
        );
    }
    let layout = table.finish(indicator.measures());
    let mut result = KpiResult {
        key: definition.key.to_owned(),
        as_of: query.as_of,
        known_at: query.known_at,
        counting_unit: definition.counting_unit,
        denominator: definition.denominator.to_owned(),
        by: dimensions,
        suppression: query.suppression,
        cells: layout.cells,
        margins: layout.margins,
        total: layout.total,
        metadata,
    };
    if let Some(suppression) = query.suppression {
        suppression::suppress(&mut result, suppression.k, &layout.empty, &layout.rules);
    }
    Ok(result)
}

/// The definition of an aggregate indicator and the dimensions of its table, or why the query
/// cannot be answered.
fn definition_and_dimensions(
    query: &KpiQuery,
) -> Result<(&'static KpiDefinition, Vec<Dimension>), KpiError> {
    let definition = definition(&query.key)?;
    if definition.person_level {
        return Err(KpiError::PersonLevel {
            key: definition.key.to_owned(),
            read_model: "idle_list",
        });
    }
    let dimensions = resolve_dimensions(definition, &query.by)?;
    Ok((definition, dimensions))
}

/// Walks the rows `rows` once and hands every person, with what they count in the indicator
/// (nothing, when [`table::Contribution::is_touched`] is false), to `add`: the one pass behind
/// [`compute`] and [`contributions`].
fn each_contribution<'a>(
    query: &KpiQuery,
    indicator: indicators::Indicator,
    population: Population<'a>,
    rows: Range<usize>,
    mut add: impl FnMut(Row<'a>, &table::Contribution),
) {
    let views = population.views;
    debug_assert!(
        views.windows(2).all(|pair| pair[0].person < pair[1].person),
        "views are ordered by person"
    );
    let context = indicators::Context::new(query.as_of, population.households);
    let mut contribution = table::Contribution::default();
    for row in Row::range(population.columns, views, rows) {
        contribution.clear();
        indicator.observe(&context, row, &mut contribution);
        add(row, &contribution);
    }
}

/// What each person contributes to the table of `query` (see [`Contributions`]), over the same
/// views [`compute`] takes.
pub fn contributions(
    query: &KpiQuery,
    views: &[PersonView],
    households: &Households,
    registers: &Registers,
) -> Result<Contributions, KpiError> {
    let (definition, dimensions) = definition_and_dimensions(query)?;
    let indicator = indicators::Indicator::for_key(definition.key);
    let columns = Columns::of_cut(views, query.known_at);
    let population = Population {
        views,
        columns: &columns,
        households: households.into(),
    };
    let mut fingerprints = Vec::new();
    let rows = 0..columns.len();
    each_contribution(query, indicator, population, rows, |row, contribution| {
        if !contribution.is_touched() {
            return;
        }
        let cell: Vec<_> = dimensions
            .iter()
            .map(|dimension| dimension.key(row, query.as_of, registers))
            .collect();
        fingerprints.push((row.view().person, contribution.fingerprint(&cell)));
    });
    Ok(Contributions { fingerprints })
}
