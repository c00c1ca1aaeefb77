//! The fields the indicators read, one column each, beside the person views.
//!
//! An indicator's pass over a million views touches each view's first cache lines and follows a
//! pointer per list it reads (issue 11, plan step 7): at ~10 ns per person per table that is the
//! whole budget. The columns hold copies of the fields the indicators and breakdowns read (person
//! and household, birth year, sex, nationality, the stay summary, the recorded entry date, the
//! stages reached, the first entitlement; and as lists: activities and jobs as intervals,
//! integration courses, district and protection-status timelines, Kita places and requests,
//! schools, mentoring, SGB II spells, trainings and measures with their outcomes, language and
//! orientation tests, recognitions, counselling at a base, and the stays of a person with several),
//! packed row by row in the views' order (`super::packed`), so a pass streams a few dozen bytes
//! per person and never reads a view. Three indicators read the view of the few rows the columns
//! leave in question (`course_reentry`: persons who left a course early; `checklist_completion`:
//! new arrivals; `mentor_request_days`: persons assigned a mentor in the year), through
//! [`Row::view`].
//!
//! Invariant: a column is a copy of a view field, never a rule. The rules (present on D, age,
//! working age, the job split, idle since, the district on D, the entry, a place open on D, the
//! first course start, the stage reached) are the functions of `crate::view` and `crate::models`
//! that the view's own methods call too, applied here to the copied fields; so an answer from the
//! columns cannot drift from one read off the view.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::{BenefitKind, CourseType, RecognitionOutcome, Sex};
use journey_core::envelope::PersonId;
use uuid::Uuid;

use super::compact::{put_time, put_u64, take_time, Pack, Reader};
use super::packed::{Column, Field, List, Pick};
use crate::code::Code;
// The view's list type, named apart from this module's own `List` of spans.
use crate::list::List as ViewList;
use crate::models::IdleFacts;
use crate::promising::{qualified_since, PromisingFacts};
use crate::view::{
    age_on, entry_in, first_start, idle_since_in, is_working_age, latest_on, open_on, presence_in,
    stage_reached_in, years_since_entry_in, CourseEnd, Dated, EmploymentOnDay, Entry,
    HouseholdMember, Households, Interval, LanguageTest, PersonView, ProtectionStatus, SchoolSpell,
    SpellOutcome, Stage, StaySummary,
};

/// The hot fields of every view of one cut, in the views' order (see the module).
///
/// Equal columns hold the same rows laid out alike, with the same codes. The kept rows of a
/// history go into the projections' snapshot as [`Columns::pack`] writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    /// The transaction-time cut every row was built at.
    known_at: DateTime<Utc>,
    /// The number of rows.
    rows: usize,
    /// Whether the fields are sparse ([`super::packed`]): the kept rows of a history.
    sparse: bool,
    person: Column<PersonId>,
    household_id: Column<Option<Uuid>>,
    birth_year: Column<Option<i32>>,
    sex: Column<Sex>,
    stay: Column<StaySummary>,
    /// The `entry_date` of each row's first arrival ([`PersonView::recorded_entry`]).
    recorded_entry: Column<Option<NaiveDate>>,
    /// Each row's nationality, as a code into `names`.
    nationality: Column<u32>,
    /// Each activity's interval, ordered by start as [`PersonView::activities`].
    activities: List<Interval>,
    /// Each job's interval and whether it counts as employment.
    jobs: List<(Interval, bool)>,
    /// The district timeline, the names as codes into `names`.
    districts: List<Dated<u32>>,
    /// Each integration course's registration and start, in the order of [`PersonView::courses`].
    courses: List<IntegrationCourse>,
    /// The protection-status timeline ([`PersonView::protection`]).
    protection: List<Dated<ProtectionStatus>>,
    registered_on: Column<NaiveDate>,
    stages_reached_on: Column<[Option<NaiveDate>; 6]>,
    /// [`PersonView::first_entitlement`].
    first_entitlement: Column<Option<NaiveDate>>,
    kita: List<Interval>,
    kita_requests: List<NaiveDate>,
    schools: List<SchoolSpell>,
    /// The mentoring spells' intervals.
    mentoring: List<Interval>,
    /// The SGB II spells' intervals ([`PersonView::benefit_spells`]).
    sgb2: List<Interval>,
    /// Each training's interval and outcome.
    trainings: List<(Interval, Option<SpellOutcome>)>,
    /// Each measure's interval and outcome.
    measures: List<(Interval, Option<SpellOutcome>)>,
    language_tests: List<LanguageTest>,
    orientation_tests: List<Dated<bool>>,
    recognitions: List<Recognition>,
    /// The days of the counselling contacts at a base.
    base_contacts: List<NaiveDate>,
    /// Every stay of a person with several ([`PersonView::presence`]); none for one stay or
    /// none, where the stay summary decides presence alone.
    presence: List<Interval>,
    /// The district names and nationalities, indexed by the codes in `districts` and
    /// `nationality`.
    names: Vec<String>,
    codes: HashMap<String, u32>,
}

/// A set of the fields of [`Columns`], one bit each in the order the struct declares them: the
/// fields a past cut made ([`Columns::gathered`]), or that a pass read left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Fields(u32);

impl Fields {
    pub const NONE: Fields = Fields(0);
    pub const ALL: Fields = Fields((1 << Self::COUNT) - 1);
    const COUNT: usize = 27;
    const PERSON: Fields = Fields(1 << 0);
    const HOUSEHOLD_ID: Fields = Fields(1 << 1);
    const BIRTH_YEAR: Fields = Fields(1 << 2);
    const SEX: Fields = Fields(1 << 3);
    const STAY: Fields = Fields(1 << 4);
    const RECORDED_ENTRY: Fields = Fields(1 << 5);
    const NATIONALITY: Fields = Fields(1 << 6);
    const ACTIVITIES: Fields = Fields(1 << 7);
    const JOBS: Fields = Fields(1 << 8);
    const DISTRICTS: Fields = Fields(1 << 9);
    const COURSES: Fields = Fields(1 << 10);
    const PROTECTION: Fields = Fields(1 << 11);
    const REGISTERED_ON: Fields = Fields(1 << 12);
    const STAGES_REACHED_ON: Fields = Fields(1 << 13);
    const FIRST_ENTITLEMENT: Fields = Fields(1 << 14);
    const KITA: Fields = Fields(1 << 15);
    const KITA_REQUESTS: Fields = Fields(1 << 16);
    const SCHOOLS: Fields = Fields(1 << 17);
    const MENTORING: Fields = Fields(1 << 18);
    const SGB2: Fields = Fields(1 << 19);
    const TRAININGS: Fields = Fields(1 << 20);
    const MEASURES: Fields = Fields(1 << 21);
    const LANGUAGE_TESTS: Fields = Fields(1 << 22);
    const ORIENTATION_TESTS: Fields = Fields(1 << 23);
    const RECOGNITIONS: Fields = Fields(1 << 24);
    const BASE_CONTACTS: Fields = Fields(1 << 25);
    const PRESENCE: Fields = Fields(1 << 26);

    fn holds(self, fields: Fields) -> bool {
        self.0 & fields.0 == fields.0
    }

    /// These fields and `other`'s.
    pub fn with(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// These fields but `other`'s.
    pub fn without(self, other: Fields) -> Fields {
        Fields(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many fields.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The set cut into at most `parts` non-empty sets of about as many fields each, to make on
    /// threads of their own; nationality and districts in one, first (they are made together,
    /// [`Columns::gathered`]).
    pub(crate) fn split(self, parts: usize) -> Vec<Fields> {
        let codes = Fields::NATIONALITY.with(Fields::DISTRICTS);
        let mut units: Vec<Fields> = self.without(codes).each().collect();
        if self.0 & codes.0 != 0 {
            units.insert(0, codes);
        }
        let mut split = vec![Fields::NONE; parts.clamp(1, units.len().max(1))];
        let count = split.len();
        for (at, unit) in units.into_iter().enumerate() {
            split[at % count] = split[at % count].with(unit);
        }
        split.retain(|part| !part.is_empty());
        split
    }

    /// Each field of the set alone, in order.
    pub fn each(self) -> impl Iterator<Item = Fields> {
        (0..Self::COUNT)
            .map(|bit| Fields(1 << bit))
            .filter(move |field| self.holds(*field))
    }
}

impl Columns {
    /// The columns of `views`, all built at the cut `known_at` (a view does not say its cut: the
    /// caller, a [`crate::ViewSet`] or whoever calls [`super::compute`], vouches for it).
    pub(crate) fn of_cut(views: &[PersonView], known_at: DateTime<Utc>) -> Self {
        Self::of_cut_on(views, known_at, 1)
    }

    /// [`Columns::of_cut`] on `threads` threads: each builds the columns of a contiguous share of
    /// `views`, and the shares are joined in order ([`Columns::extend`]). The result equals the
    /// columns built on one thread, codes included: a share's names new to the shares before it
    /// are first met in the same order either way.
    pub fn of_cut_on(views: &[PersonView], known_at: DateTime<Utc>, threads: usize) -> Self {
        let shares = crate::parallel::map_shares(views.len(), threads, |range| {
            let mut share = Self::with_rows(range.len(), known_at);
            for view in &views[range] {
                share.push(view);
            }
            share
        });
        Self::joined(shares, known_at)
    }

    /// The dense columns of consecutive shares of one cut `known_at`, built on threads of their
    /// own, joined in order ([`Columns::extend`]) and fitted: equal to the columns built on one
    /// thread, codes included.
    pub(crate) fn joined(
        shares: impl IntoIterator<Item = Columns>,
        known_at: DateTime<Utc>,
    ) -> Self {
        let mut shares = shares.into_iter();
        let mut columns = shares
            .next()
            .unwrap_or_else(|| Self::with_rows(0, known_at));
        for share in shares {
            columns.extend(share);
        }
        columns.fit();
        columns
    }

    /// Adds the rows of `other`, dense columns of the same cut (the next share of the views),
    /// after these rows, its codes translated into these columns' codes. The destructuring names
    /// every field, so a column added later cannot be forgotten here.
    fn extend(&mut self, other: Columns) {
        debug_assert!(!self.sparse && !other.sparse, "dense columns");
        debug_assert_eq!(self.known_at, other.known_at, "columns of one cut");
        let Columns {
            known_at: _,
            rows,
            sparse: _,
            person,
            household_id,
            birth_year,
            sex,
            stay,
            recorded_entry,
            mut nationality,
            activities,
            jobs,
            mut districts,
            courses,
            protection,
            registered_on,
            stages_reached_on,
            first_entitlement,
            kita,
            kita_requests,
            schools,
            mentoring,
            sgb2,
            trainings,
            measures,
            language_tests,
            orientation_tests,
            recognitions,
            base_contacts,
            presence,
            names,
            codes: _,
        } = other;
        let translated: Vec<u32> = names.iter().map(|name| self.intern(name)).collect();
        if translated
            .iter()
            .enumerate()
            .any(|(code, new)| code != *new as usize)
        {
            nationality.change_each(|code| *code = translated[*code as usize]);
            districts.change_each(|district| district.value = translated[district.value as usize]);
        }
        self.rows += rows;
        self.person.extend(person);
        self.household_id.extend(household_id);
        self.birth_year.extend(birth_year);
        self.sex.extend(sex);
        self.stay.extend(stay);
        self.recorded_entry.extend(recorded_entry);
        self.nationality.extend(nationality);
        self.activities.extend(activities);
        self.jobs.extend(jobs);
        self.districts.extend(districts);
        self.courses.extend(courses);
        self.protection.extend(protection);
        self.registered_on.extend(registered_on);
        self.stages_reached_on.extend(stages_reached_on);
        self.first_entitlement.extend(first_entitlement);
        self.kita.extend(kita);
        self.kita_requests.extend(kita_requests);
        self.schools.extend(schools);
        self.mentoring.extend(mentoring);
        self.sgb2.extend(sgb2);
        self.trainings.extend(trainings);
        self.measures.extend(measures);
        self.language_tests.extend(language_tests);
        self.orientation_tests.extend(orientation_tests);
        self.recognitions.extend(recognitions);
        self.base_contacts.extend(base_contacts);
        self.presence.extend(presence);
    }

    /// No rows yet, sparse ([`super::packed`]): the kept rows of a history, built at several
    /// cuts, the live one named.
    pub(crate) fn sparse() -> Self {
        Columns {
            sparse: true,
            ..Self::with_rows(0, crate::query::LIVE)
        }
    }

    /// No rows yet, with room for `rows`, at the cut `known_at`.
    pub(crate) fn with_rows(rows: usize, known_at: DateTime<Utc>) -> Self {
        Columns {
            known_at,
            rows: 0,
            sparse: false,
            person: Column::with_capacity(rows),
            household_id: Column::with_capacity(rows),
            birth_year: Column::with_capacity(rows),
            sex: Column::with_capacity(rows),
            stay: Column::with_capacity(rows),
            recorded_entry: Column::with_capacity(rows),
            nationality: Column::with_capacity(rows),
            activities: List::with_rows(rows),
            jobs: List::with_rows(rows),
            districts: List::with_rows(rows),
            courses: List::with_rows(rows),
            protection: List::with_rows(rows),
            registered_on: Column::with_capacity(rows),
            stages_reached_on: Column::with_capacity(rows),
            first_entitlement: Column::with_capacity(rows),
            kita: List::with_rows(rows),
            kita_requests: List::with_rows(rows),
            schools: List::with_rows(rows),
            mentoring: List::with_rows(rows),
            sgb2: List::with_rows(rows),
            trainings: List::with_rows(rows),
            measures: List::with_rows(rows),
            language_tests: List::with_rows(rows),
            orientation_tests: List::with_rows(rows),
            recognitions: List::with_rows(rows),
            base_contacts: List::with_rows(rows),
            presence: List::with_rows(rows),
            names: Vec::new(),
            codes: HashMap::new(),
        }
    }

    /// Gives the lists' entries back their spare capacity, once every row is in.
    pub(crate) fn fit(&mut self) {
        let columns = self;
        columns.person.shrink();
        columns.household_id.shrink();
        columns.birth_year.shrink();
        columns.sex.shrink();
        columns.stay.shrink();
        columns.recorded_entry.shrink();
        columns.nationality.shrink();
        columns.registered_on.shrink();
        columns.stages_reached_on.shrink();
        columns.first_entitlement.shrink();
        columns.activities.shrink();
        columns.jobs.shrink();
        columns.districts.shrink();
        columns.courses.shrink();
        columns.protection.shrink();
        columns.kita.shrink();
        columns.kita_requests.shrink();
        columns.schools.shrink();
        columns.mentoring.shrink();
        columns.sgb2.shrink();
        columns.trainings.shrink();
        columns.measures.shrink();
        columns.language_tests.shrink();
        columns.orientation_tests.shrink();
        columns.recognitions.shrink();
        columns.base_contacts.shrink();
        columns.presence.shrink();
    }

    /// The columns' bytes in the kept rows of the projections' snapshot
    /// ([`super::compact`]): the cut, the rows, the names, then every field in order. The
    /// destructuring names every field, so a column added later cannot be forgotten here (nor in
    /// [`Columns::unpack`]).
    pub(crate) fn pack(&self, out: &mut Vec<u8>) {
        let Columns {
            known_at,
            rows,
            sparse,
            person,
            household_id,
            birth_year,
            sex,
            stay,
            recorded_entry,
            nationality,
            activities,
            jobs,
            districts,
            courses,
            protection,
            registered_on,
            stages_reached_on,
            first_entitlement,
            kita,
            kita_requests,
            schools,
            mentoring,
            sgb2,
            trainings,
            measures,
            language_tests,
            orientation_tests,
            recognitions,
            base_contacts,
            presence,
            names,
            codes: _,
        } = self;
        put_time(out, *known_at, DateTime::UNIX_EPOCH);
        put_u64(out, *rows as u64);
        sparse.pack(out);
        put_u64(out, names.len() as u64);
        for name in names {
            put_u64(out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
        person.pack(out);
        household_id.pack(out);
        birth_year.pack(out);
        sex.pack(out);
        stay.pack(out);
        recorded_entry.pack(out);
        nationality.pack(out);
        activities.pack(out);
        jobs.pack(out);
        districts.pack(out);
        courses.pack(out);
        protection.pack(out);
        registered_on.pack(out);
        stages_reached_on.pack(out);
        first_entitlement.pack(out);
        kita.pack(out);
        kita_requests.pack(out);
        schools.pack(out);
        mentoring.pack(out);
        sgb2.pack(out);
        trainings.pack(out);
        measures.pack(out);
        language_tests.pack(out);
        orientation_tests.pack(out);
        recognitions.pack(out);
        base_contacts.pack(out);
        presence.pack(out);
    }

    /// Columns read back from [`Columns::pack`], checked to be laid out as they are built (every
    /// field of `rows` rows, dense or sparse; every span within its entries; every code within
    /// the names, each name once), with the codes of the names made again. Bytes that passed the
    /// seal but hold anything else are refused here, so no row read later can fail or read
    /// another row's value.
    pub(crate) fn unpack(input: &mut Reader) -> Result<Self, String> {
        let known_at = take_time(input, DateTime::UNIX_EPOCH)?;
        let rows = input.count_up_to(u32::MAX as usize)?;
        let sparse = bool::unpack(input)?;
        let named = input.count()?;
        let mut names = Vec::with_capacity(named);
        let mut codes = HashMap::with_capacity(named);
        for code in 0..named {
            let len = input.count()?;
            let name = std::str::from_utf8(input.bytes(len)?)
                .map_err(|_| "a name that is not UTF-8".to_string())?
                .to_owned();
            if codes.insert(name.clone(), index(code)).is_some() {
                return Err(format!("the name `{name}` has two codes"));
            }
            names.push(name);
        }
        let coded = |code: &u32| (*code as usize) < named;
        let person = Column::unpack(input, rows, sparse)?;
        let household_id = Column::unpack(input, rows, sparse)?;
        let birth_year = Column::unpack(input, rows, sparse)?;
        let sex = Column::unpack(input, rows, sparse)?;
        let stay = Column::unpack(input, rows, sparse)?;
        let recorded_entry = Column::unpack(input, rows, sparse)?;
        let nationality = Column::unpack(input, rows, sparse)?;
        let activities = List::unpack(input, rows, sparse)?;
        let jobs = List::unpack(input, rows, sparse)?;
        let districts = List::unpack(input, rows, sparse)?;
        let courses = List::unpack(input, rows, sparse)?;
        let protection = List::unpack(input, rows, sparse)?;
        let registered_on = Column::unpack(input, rows, sparse)?;
        let stages_reached_on = Column::unpack(input, rows, sparse)?;
        let first_entitlement = Column::unpack(input, rows, sparse)?;
        let kita = List::unpack(input, rows, sparse)?;
        let kita_requests = List::unpack(input, rows, sparse)?;
        let schools = List::unpack(input, rows, sparse)?;
        let mentoring = List::unpack(input, rows, sparse)?;
        let sgb2 = List::unpack(input, rows, sparse)?;
        let trainings = List::unpack(input, rows, sparse)?;
        let measures = List::unpack(input, rows, sparse)?;
        let language_tests = List::unpack(input, rows, sparse)?;
        let orientation_tests = List::unpack(input, rows, sparse)?;
        let recognitions = List::unpack(input, rows, sparse)?;
        let base_contacts = List::unpack(input, rows, sparse)?;
        let presence = List::unpack(input, rows, sparse)?;
        if !nationality.all(coded) || !districts.all(|district: &Dated<u32>| coded(&district.value))
        {
            return Err("a code beyond the columns' names".into());
        }
        Ok(Columns {
            known_at,
            rows,
            sparse,
            person,
            household_id,
            birth_year,
            sex,
            stay,
            recorded_entry,
            nationality,
            activities,
            jobs,
            districts,
            courses,
            protection,
            registered_on,
            stages_reached_on,
            first_entitlement,
            kita,
            kita_requests,
            schools,
            mentoring,
            sgb2,
            trainings,
            measures,
            language_tests,
            orientation_tests,
            recognitions,
            base_contacts,
            presence,
            names,
            codes,
        })
    }

    /// The district or nationality `name` as these columns hold it, if a row holds it.
    pub(crate) fn named(&self, name: &str) -> Option<&str> {
        self.codes.get(name).map(|code| self.name(*code))
    }

    /// The district or nationality of a code of these columns.
    pub(crate) fn name(&self, code: u32) -> &str {
        self.names[code as usize].as_str()
    }

    /// The cut the rows were built at.
    pub(crate) fn known_at(&self) -> DateTime<Utc> {
        self.known_at
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds a row holding the fields of `view`.
    pub(crate) fn push(&mut self, view: &PersonView) {
        self.push_after(view, None);
    }

    /// Adds a row holding the fields of `view`. In sparse columns (the kept rows of
    /// [`super::history::History`]) `previous` is the row before, the same person's previous
    /// version, and a field equal to its is not stored again ([`super::packed`]). Returns whether
    /// the row equals row `previous` in every field; the caller then takes it back with
    /// [`Columns::pop_repeated`].
    pub(crate) fn push_after(&mut self, view: &PersonView, previous: Option<usize>) -> bool {
        debug_assert!(
            previous.is_none() || (self.sparse && previous == self.rows.checked_sub(1)),
            "only sparse columns repeat a row, the one before"
        );
        let (row, sparse) = (self.rows, self.sparse);
        let mut same = previous.is_some();
        same &= self.person.push_row(row, view.person, previous, sparse);
        same &= self
            .household_id
            .push_row(row, view.household_id, previous, sparse);
        same &= self
            .birth_year
            .push_row(row, view.birth_year, previous, sparse);
        same &= self.sex.push_row(row, view.sex, previous, sparse);
        same &= self.stay.push_row(row, view.stay, previous, sparse);
        same &= self
            .recorded_entry
            .push_row(row, view.recorded_entry(), previous, sparse);
        let nationality = self.intern(&view.nationality);
        same &= self
            .nationality
            .push_row(row, nationality, previous, sparse);
        same &= self
            .registered_on
            .push_row(row, view.registered_on, previous, sparse);
        same &= self
            .stages_reached_on
            .push_row(row, view.stages_reached_on, previous, sparse);
        same &= self
            .first_entitlement
            .push_row(row, view.first_entitlement(), previous, sparse);
        same &= self
            .activities
            .push_row(row, activities_of(view), previous, sparse);
        same &= self.jobs.push_row(row, jobs_of(view), previous, sparse);
        let districts = self.districts_of(view);
        same &= self.districts.push_row(row, districts, previous, sparse);
        same &= self
            .courses
            .push_row(row, integration_courses_of(view), previous, sparse);
        same &= self
            .protection
            .push_row(row, view.protection.iter().cloned(), previous, sparse);
        same &= self
            .kita
            .push_row(row, view.kita.iter().copied(), previous, sparse);
        same &=
            self.kita_requests
                .push_row(row, view.kita_requests.iter().copied(), previous, sparse);
        same &= self
            .schools
            .push_row(row, view.schools.iter().copied(), previous, sparse);
        same &= self
            .mentoring
            .push_row(row, mentoring_of(view), previous, sparse);
        same &= self.sgb2.push_row(
            row,
            view.benefit_spells(BenefitKind::Sgb2),
            previous,
            sparse,
        );
        same &= self
            .trainings
            .push_row(row, trainings_of(view), previous, sparse);
        same &= self
            .measures
            .push_row(row, measures_of(view), previous, sparse);
        same &= self.language_tests.push_row(
            row,
            view.language_tests.iter().copied(),
            previous,
            sparse,
        );
        same &= self.orientation_tests.push_row(
            row,
            view.orientation_tests.iter().cloned(),
            previous,
            sparse,
        );
        same &= self
            .recognitions
            .push_row(row, recognitions_of(view), previous, sparse);
        same &= self
            .base_contacts
            .push_row(row, base_contacts_of(view), previous, sparse);
        same &= self
            .presence
            .push_row(row, earlier_stays_of(view), previous, sparse);
        self.rows += 1;
        same
    }

    /// Takes back the last row of sparse columns, which [`Columns::push_after`] found equal in
    /// every field to the row before it (so it stored nothing of it).
    pub(crate) fn pop_repeated(&mut self) {
        debug_assert!(
            self.sparse && self.rows > 0,
            "a repeated row of sparse columns"
        );
        self.rows -= 1;
    }

    /// Replaces row `row` by the fields of `view` (a person whose view was rebuilt in place).
    pub(crate) fn replace(&mut self, row: usize, view: &PersonView) {
        self.person[row] = view.person;
        self.household_id[row] = view.household_id;
        self.birth_year[row] = view.birth_year;
        self.sex[row] = view.sex;
        self.stay[row] = view.stay;
        self.recorded_entry[row] = view.recorded_entry();
        self.nationality[row] = self.intern(&view.nationality);
        self.activities.replace(row, activities_of(view));
        self.jobs.replace(row, jobs_of(view));
        let districts = self.districts_of(view);
        self.districts.replace(row, districts);
        self.courses.replace(row, integration_courses_of(view));
        self.protection
            .replace(row, view.protection.iter().cloned());
        self.registered_on[row] = view.registered_on;
        self.stages_reached_on[row] = view.stages_reached_on;
        self.first_entitlement[row] = view.first_entitlement();
        self.kita.replace(row, view.kita.iter().copied());
        self.kita_requests
            .replace(row, view.kita_requests.iter().copied());
        self.schools.replace(row, view.schools.iter().copied());
        self.mentoring.replace(row, mentoring_of(view));
        self.sgb2
            .replace(row, view.benefit_spells(BenefitKind::Sgb2));
        self.trainings.replace(row, trainings_of(view));
        self.measures.replace(row, measures_of(view));
        self.language_tests
            .replace(row, view.language_tests.iter().copied());
        self.orientation_tests
            .replace(row, view.orientation_tests.iter().cloned());
        self.recognitions.replace(row, recognitions_of(view));
        self.base_contacts.replace(row, base_contacts_of(view));
        self.presence.replace(row, earlier_stays_of(view));
    }

    /// The dense columns at the cut `known_at` of the rows `picks` names, in order, each a row of
    /// one of `sources` (the kept rows of [`super::history::History`], sparse, built at other
    /// cuts; and the rows folded at this one), their codes translated into the new columns'
    /// codes: equal to the columns of the rows pushed one by one. Only the `fields` asked for are
    /// made, the others left out ([`super::packed::Absent`]: a stand-in read by every row, and
    /// noted as read); nationality and districts are made together (their codes share the names).
    /// Made a field at a time (a few streams of memory read at once, not every field's), each
    /// source read by a walk of its own, so picks ascending within a source cost a step or two a
    /// field. The struct literal names every field, so a column added later cannot be forgotten
    /// here.
    pub(crate) fn gathered(
        sources: &[&Columns],
        picks: &[Pick],
        known_at: DateTime<Utc>,
        fields: Fields,
    ) -> Self {
        fn column<T: Clone + PartialEq>(
            (sources, picks, fields): (&[&Columns], &[Pick], Fields),
            field: Fields,
            of: impl Fn(&Columns) -> &Column<T>,
        ) -> Column<T> {
            let sources: Vec<&Column<T>> = sources.iter().map(|source| of(source)).collect();
            if fields.holds(field) {
                Column::gathered(&sources, picks)
            } else {
                // Any person's value is one the readers handle.
                let stand_in = sources.iter().find_map(|source| source.first()).cloned();
                Column::left_out(stand_in)
            }
        }
        fn list<T: Clone + PartialEq>(
            (sources, picks, fields): (&[&Columns], &[Pick], Fields),
            field: Fields,
            of: impl Fn(&Columns) -> &List<T>,
        ) -> List<T> {
            if fields.holds(field) {
                let sources: Vec<&List<T>> = sources.iter().map(|source| of(source)).collect();
                List::gathered(&sources, picks)
            } else {
                List::left_out()
            }
        }
        let coded = if fields.holds(Fields::NATIONALITY) || fields.holds(Fields::DISTRICTS) {
            Self::coded(sources, picks, known_at)
        } else {
            // Left out: every row reads the code 0 of a name no row holds.
            let mut coded = Self::with_rows(0, known_at);
            coded.nationality = Column::left_out((!picks.is_empty()).then_some(0));
            coded.districts = List::left_out();
            coded.names = vec![String::new()];
            coded
        };
        let asked = (sources, picks, fields);
        Columns {
            known_at,
            rows: picks.len(),
            sparse: false,
            person: column(asked, Fields::PERSON, |source| &source.person),
            household_id: column(asked, Fields::HOUSEHOLD_ID, |source| &source.household_id),
            birth_year: column(asked, Fields::BIRTH_YEAR, |source| &source.birth_year),
            sex: column(asked, Fields::SEX, |source| &source.sex),
            stay: column(asked, Fields::STAY, |source| &source.stay),
            recorded_entry: column(asked, Fields::RECORDED_ENTRY, |source| {
                &source.recorded_entry
            }),
            nationality: coded.nationality,
            activities: list(asked, Fields::ACTIVITIES, |source| &source.activities),
            jobs: list(asked, Fields::JOBS, |source| &source.jobs),
            districts: coded.districts,
            courses: list(asked, Fields::COURSES, |source| &source.courses),
            protection: list(asked, Fields::PROTECTION, |source| &source.protection),
            registered_on: column(asked, Fields::REGISTERED_ON, |source| &source.registered_on),
            stages_reached_on: column(asked, Fields::STAGES_REACHED_ON, |source| {
                &source.stages_reached_on
            }),
            first_entitlement: column(asked, Fields::FIRST_ENTITLEMENT, |source| {
                &source.first_entitlement
            }),
            kita: list(asked, Fields::KITA, |source| &source.kita),
            kita_requests: list(asked, Fields::KITA_REQUESTS, |source| &source.kita_requests),
            schools: list(asked, Fields::SCHOOLS, |source| &source.schools),
            mentoring: list(asked, Fields::MENTORING, |source| &source.mentoring),
            sgb2: list(asked, Fields::SGB2, |source| &source.sgb2),
            trainings: list(asked, Fields::TRAININGS, |source| &source.trainings),
            measures: list(asked, Fields::MEASURES, |source| &source.measures),
            language_tests: list(asked, Fields::LANGUAGE_TESTS, |source| {
                &source.language_tests
            }),
            orientation_tests: list(asked, Fields::ORIENTATION_TESTS, |source| {
                &source.orientation_tests
            }),
            recognitions: list(asked, Fields::RECOGNITIONS, |source| &source.recognitions),
            base_contacts: list(asked, Fields::BASE_CONTACTS, |source| &source.base_contacts),
            presence: list(asked, Fields::PRESENCE, |source| &source.presence),
            names: coded.names,
            codes: coded.codes,
        }
    }

    /// The nationality and district columns of the rows `picks` names (as
    /// [`Columns::gathered`]), the rest empty: nationality then districts row by row, so that
    /// names are met (and coded) in the order pushing the rows one by one meets them.
    fn coded(sources: &[&Columns], picks: &[Pick], known_at: DateTime<Utc>) -> Self {
        let mut coded = Self::with_rows(0, known_at);
        coded.nationality = Column::with_capacity(picks.len());
        coded.districts = List::with_rows(picks.len());
        let mut translated = vec![Vec::new(); sources.len()];
        let mut hints = vec![(0, 0); sources.len()];
        for pick in picks {
            let (at, row) = (pick.source as usize, pick.row as usize);
            let (source, hints, translated) = (sources[at], &mut hints[at], &mut translated[at]);
            let code = coded.translate(
                &source.names,
                translated,
                *source.nationality.at(row, &mut hints.0),
            );
            coded.nationality.push(code);
            let timeline = source.districts.row_at(row, &mut hints.1);
            for district in timeline {
                coded.translate(&source.names, translated, district.value);
            }
            let translated = &*translated;
            coded.districts.push(timeline.iter().map(|district| Dated {
                on: district.on,
                value: translated[district.value as usize].expect("translated just before"),
            }));
        }
        coded
    }

    /// Every field in the order of [`Fields`]' bits, each with its bit.
    fn fields(&self) -> [(Fields, &dyn Field); Fields::COUNT] {
        [
            (Fields::PERSON, &self.person),
            (Fields::HOUSEHOLD_ID, &self.household_id),
            (Fields::BIRTH_YEAR, &self.birth_year),
            (Fields::SEX, &self.sex),
            (Fields::STAY, &self.stay),
            (Fields::RECORDED_ENTRY, &self.recorded_entry),
            (Fields::NATIONALITY, &self.nationality),
            (Fields::ACTIVITIES, &self.activities),
            (Fields::JOBS, &self.jobs),
            (Fields::DISTRICTS, &self.districts),
            (Fields::COURSES, &self.courses),
            (Fields::PROTECTION, &self.protection),
            (Fields::REGISTERED_ON, &self.registered_on),
            (Fields::STAGES_REACHED_ON, &self.stages_reached_on),
            (Fields::FIRST_ENTITLEMENT, &self.first_entitlement),
            (Fields::KITA, &self.kita),
            (Fields::KITA_REQUESTS, &self.kita_requests),
            (Fields::SCHOOLS, &self.schools),
            (Fields::MENTORING, &self.mentoring),
            (Fields::SGB2, &self.sgb2),
            (Fields::TRAININGS, &self.trainings),
            (Fields::MEASURES, &self.measures),
            (Fields::LANGUAGE_TESTS, &self.language_tests),
            (Fields::ORIENTATION_TESTS, &self.orientation_tests),
            (Fields::RECOGNITIONS, &self.recognitions),
            (Fields::BASE_CONTACTS, &self.base_contacts),
            (Fields::PRESENCE, &self.presence),
        ]
    }

    /// The fields these columns hold (every one, unless [`Columns::gathered`] left some out).
    pub(crate) fn held(&self) -> Fields {
        self.fields()
            .into_iter()
            .filter(|(_, field)| !field.is_left_out())
            .fold(Fields::NONE, |held, (bit, _)| held.with(bit))
    }

    /// The left-out fields something read since these columns were made (or copied): what it
    /// computed of them is wrong, and is right once they are made ([`Columns::fill`]).
    pub(crate) fn read_left_out(&self) -> Fields {
        self.fields()
            .into_iter()
            .filter(|(_, field)| field.was_read_left_out())
            .fold(Fields::NONE, |read, (bit, _)| read.with(bit))
    }

    /// Takes from `other` (columns of the same rows and cut, gathered from the same picks) every
    /// field these columns left out and `other` holds. The destructuring names every field, so a
    /// column added later cannot be forgotten here.
    pub(crate) fn fill(&mut self, other: Columns) {
        debug_assert!(
            self.rows == other.rows && self.known_at == other.known_at,
            "columns of the same rows"
        );
        let Columns {
            known_at: _,
            rows: _,
            sparse: _,
            person,
            household_id,
            birth_year,
            sex,
            stay,
            recorded_entry,
            nationality,
            activities,
            jobs,
            districts,
            courses,
            protection,
            registered_on,
            stages_reached_on,
            first_entitlement,
            kita,
            kita_requests,
            schools,
            mentoring,
            sgb2,
            trainings,
            measures,
            language_tests,
            orientation_tests,
            recognitions,
            base_contacts,
            presence,
            names,
            codes,
        } = other;
        // The codes come with their names: nationality and districts are made together.
        if self.nationality.is_left_out() && !nationality.is_left_out() {
            self.names = names;
            self.codes = codes;
        }
        self.person.fill(person);
        self.household_id.fill(household_id);
        self.birth_year.fill(birth_year);
        self.sex.fill(sex);
        self.stay.fill(stay);
        self.recorded_entry.fill(recorded_entry);
        self.nationality.fill(nationality);
        self.activities.fill(activities);
        self.jobs.fill(jobs);
        self.districts.fill(districts);
        self.courses.fill(courses);
        self.protection.fill(protection);
        self.registered_on.fill(registered_on);
        self.stages_reached_on.fill(stages_reached_on);
        self.first_entitlement.fill(first_entitlement);
        self.kita.fill(kita);
        self.kita_requests.fill(kita_requests);
        self.schools.fill(schools);
        self.mentoring.fill(mentoring);
        self.sgb2.fill(sgb2);
        self.trainings.fill(trainings);
        self.measures.fill(measures);
        self.language_tests.fill(language_tests);
        self.orientation_tests.fill(orientation_tests);
        self.recognitions.fill(recognitions);
        self.base_contacts.fill(base_contacts);
        self.presence.fill(presence);
    }

    /// The code in these columns of the code `code` of `names` (another columns' names),
    /// interned on first sight and remembered in `translated`.
    fn translate(&mut self, names: &[String], translated: &mut Vec<Option<u32>>, code: u32) -> u32 {
        let at = code as usize;
        if translated.len() <= at {
            translated.resize(at + 1, None);
        }
        match translated[at] {
            Some(mine) => mine,
            None => {
                let mine = self.intern(&names[at]);
                translated[at] = Some(mine);
                mine
            }
        }
    }

    /// The code of `name` in `names`, added when new.
    fn intern(&mut self, name: &str) -> u32 {
        match self.codes.get(name) {
            Some(code) => *code,
            None => {
                let code = index(self.names.len());
                self.names.push(name.to_owned());
                self.codes.insert(name.to_owned(), code);
                code
            }
        }
    }

    /// The view's district timeline with the names interned.
    fn districts_of(&mut self, view: &PersonView) -> Vec<Dated<u32>> {
        view.districts
            .iter()
            .map(|district| Dated {
                on: district.on,
                value: self.intern(&district.value),
            })
            .collect()
    }

    /// The heap bytes the columns hold, by family, counted from their capacities (the bench
    /// prints them next to the live bytes it measures): the columns of one value a row together,
    /// the spans of the lists together (8 bytes a row each), the entries of each list, and the
    /// names of the district and nationality codes with their lookup table.
    pub fn heap_bytes_by_family(&self) -> Vec<(&'static str, usize)> {
        let scalars = self.person.heap_bytes()
            + self.household_id.heap_bytes()
            + self.birth_year.heap_bytes()
            + self.sex.heap_bytes()
            + self.stay.heap_bytes()
            + self.recorded_entry.heap_bytes()
            + self.nationality.heap_bytes()
            + self.registered_on.heap_bytes()
            + self.stages_reached_on.heap_bytes()
            + self.first_entitlement.heap_bytes();
        let lists = [
            ("activities", self.activities.heap_bytes()),
            ("jobs", self.jobs.heap_bytes()),
            ("districts", self.districts.heap_bytes()),
            ("courses", self.courses.heap_bytes()),
            ("protection", self.protection.heap_bytes()),
            ("kita", self.kita.heap_bytes()),
            ("kita_requests", self.kita_requests.heap_bytes()),
            ("schools", self.schools.heap_bytes()),
            ("mentoring", self.mentoring.heap_bytes()),
            ("sgb2", self.sgb2.heap_bytes()),
            ("trainings", self.trainings.heap_bytes()),
            ("measures", self.measures.heap_bytes()),
            ("language_tests", self.language_tests.heap_bytes()),
            ("orientation_tests", self.orientation_tests.heap_bytes()),
            ("recognitions", self.recognitions.heap_bytes()),
            ("base_contacts", self.base_contacts.heap_bytes()),
            ("presence", self.presence.heap_bytes()),
        ];
        let names = self.names.capacity() * std::mem::size_of::<String>()
            + self.names.iter().map(String::capacity).sum::<usize>()
            + self.codes.capacity()
                * (std::mem::size_of::<String>() + std::mem::size_of::<u32>() + 1)
            + self.names.iter().map(String::capacity).sum::<usize>();
        let mut families = vec![
            ("one value a row (10 columns)", scalars),
            (
                "list spans (16 lists)",
                lists.iter().map(|(_, (spans, _))| spans).sum(),
            ),
        ];
        families.extend(lists.iter().map(|(name, (_, entries))| (*name, *entries)));
        families.push(("names and their codes", names));
        families
    }

    /// The households of the rows, as [`Households::from_views`] makes them of the views the
    /// rows were built from.
    pub fn households(&self) -> Households {
        Households::from_members((0..self.rows).filter_map(|row| {
            let member = HouseholdMember {
                person: self.person[row],
                registered_on: self.registered_on[row],
                birth_year: self.birth_year[row],
                stay: self.stay[row],
                presence: self.presence.row(row).to_vec().into(),
            };
            Some((self.household_id[row]?, member))
        }))
    }

    /// Row `row`'s fields in a form that does not depend on where its entries lie (for comparing
    /// columns kept up to date with columns built afresh).
    pub fn row_fields(&self, row: usize) -> RowFields {
        RowFields {
            person: self.person[row],
            household_id: self.household_id[row],
            birth_year: self.birth_year[row],
            sex: self.sex[row],
            stay: self.stay[row],
            activities: self.activities.row(row).to_vec().into(),
            jobs: self.jobs.row(row).to_vec().into(),
            courses: self.courses.row(row).to_vec().into(),
            recorded_entry: self.recorded_entry[row],
            nationality: Code::new(&self.names[self.nationality[row] as usize]),
            protection: self.protection.row(row).to_vec().into(),
            registered_on: self.registered_on[row],
            stages_reached_on: self.stages_reached_on[row],
            first_entitlement: self.first_entitlement[row],
            kita: self.kita.row(row).to_vec().into(),
            kita_requests: self.kita_requests.row(row).to_vec().into(),
            schools: self.schools.row(row).to_vec().into(),
            mentoring: self.mentoring.row(row).to_vec().into(),
            sgb2: self.sgb2.row(row).to_vec().into(),
            trainings: self.trainings.row(row).to_vec().into(),
            measures: self.measures.row(row).to_vec().into(),
            language_tests: self.language_tests.row(row).to_vec().into(),
            orientation_tests: self.orientation_tests.row(row).to_vec().into(),
            recognitions: self.recognitions.row(row).to_vec().into(),
            base_contacts: self.base_contacts.row(row).to_vec().into(),
            presence: self.presence.row(row).to_vec().into(),
            districts: self
                .districts
                .row(row)
                .iter()
                .map(|district| Dated {
                    on: district.on,
                    value: Code::new(&self.names[district.value as usize]),
                })
                .collect(),
        }
    }
}

fn activities_of(view: &PersonView) -> impl Iterator<Item = Interval> + '_ {
    view.activities.iter().map(|activity| activity.interval)
}

fn jobs_of(view: &PersonView) -> impl Iterator<Item = (Interval, bool)> + '_ {
    view.employments
        .iter()
        .map(|job| (job.interval, job.counts_as_employment()))
}

fn integration_courses_of(view: &PersonView) -> impl Iterator<Item = IntegrationCourse> + '_ {
    view.courses
        .iter()
        .filter(|course| course.is_integration_course())
        .map(|course| IntegrationCourse {
            course_type: course.course_type,
            registered_on: course.registered_on,
            started_on: course.started_on,
            ended_on: course.ended_on,
            end: course.end,
        })
}

fn mentoring_of(view: &PersonView) -> impl Iterator<Item = Interval> + '_ {
    view.mentoring.iter().map(|spell| spell.interval)
}

fn trainings_of(view: &PersonView) -> impl Iterator<Item = (Interval, Option<SpellOutcome>)> + '_ {
    view.trainings
        .iter()
        .map(|training| (training.interval, training.outcome))
}

fn measures_of(view: &PersonView) -> impl Iterator<Item = (Interval, Option<SpellOutcome>)> + '_ {
    view.measures
        .iter()
        .map(|measure| (measure.interval, measure.outcome))
}

fn recognitions_of(view: &PersonView) -> impl Iterator<Item = Recognition> + '_ {
    view.recognitions.iter().map(|case| Recognition {
        applied_on: case.applied_on,
        decided_on: case.decided_on,
        outcome: case.outcome,
    })
}

fn earlier_stays_of(view: &PersonView) -> impl Iterator<Item = Interval> + '_ {
    view.stays_if_several().iter().copied()
}

fn base_contacts_of(view: &PersonView) -> impl Iterator<Item = NaiveDate> + '_ {
    view.counselling
        .iter()
        .filter(|contact| contact.base.is_some())
        .map(|contact| contact.on)
}

/// The copied fields of one row (see [`Columns::row_fields`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFields {
    pub person: PersonId,
    pub household_id: Option<Uuid>,
    pub birth_year: Option<i32>,
    pub sex: Sex,
    pub stay: StaySummary,
    pub activities: ViewList<Interval>,
    pub jobs: ViewList<(Interval, bool)>,
    pub courses: ViewList<IntegrationCourse>,
    pub recorded_entry: Option<NaiveDate>,
    pub nationality: Code,
    pub protection: ViewList<Dated<ProtectionStatus>>,
    pub registered_on: NaiveDate,
    pub stages_reached_on: [Option<NaiveDate>; 6],
    pub first_entitlement: Option<NaiveDate>,
    pub kita: ViewList<Interval>,
    pub kita_requests: ViewList<NaiveDate>,
    pub schools: ViewList<SchoolSpell>,
    pub mentoring: ViewList<Interval>,
    pub sgb2: ViewList<Interval>,
    pub trainings: ViewList<(Interval, Option<SpellOutcome>)>,
    pub measures: ViewList<(Interval, Option<SpellOutcome>)>,
    pub language_tests: ViewList<LanguageTest>,
    pub orientation_tests: ViewList<Dated<bool>>,
    pub recognitions: ViewList<Recognition>,
    pub base_contacts: ViewList<NaiveDate>,
    pub presence: ViewList<Interval>,
    pub districts: ViewList<Dated<Code>>,
}

/// The fields of an integration course ([`crate::view::CourseSpell`]) the indicators read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationCourse {
    pub course_type: CourseType,
    pub registered_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub end: Option<CourseEnd>,
}

/// The fields of a recognition case ([`crate::view::RecognitionCase`]) the indicators read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recognition {
    pub applied_on: NaiveDate,
    pub decided_on: Option<NaiveDate>,
    pub outcome: Option<RecognitionOutcome>,
}

/// A list position as stored in a [`Span`]; four thousand million entries are far beyond a Land.
fn index(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 2^32 entries in a column")
}

impl IdleFacts for Row<'_> {
    fn person(&self) -> PersonId {
        self.columns.person[self.row]
    }

    fn household_id(&self) -> Option<Uuid> {
        self.columns.household_id[self.row]
    }

    fn is_working_age(&self, on: NaiveDate) -> bool {
        Row::is_working_age(self, on)
    }

    fn idle_since(&self, on: NaiveDate) -> Option<NaiveDate> {
        let stay = self.stay_on(on)?;
        let activities = self.columns.activities.row(self.row);
        idle_since_in(&stay, activities.iter().copied(), on)
    }
}

impl PromisingFacts for Row<'_> {
    fn qualified_since(&self, on: NaiveDate) -> Option<NaiveDate> {
        qualified_since(
            self.language_tests(),
            self.recognitions()
                .iter()
                .map(|case| (case.decided_on, case.outcome)),
            self.trainings().iter().copied(),
            self.measures().iter().copied(),
            on,
        )
    }

    /// The stay summary holds the only stay of nearly everyone; the view's stays are read for
    /// a person with several.
    fn stays(&self) -> &[Interval] {
        let stay = &self.columns.stay[self.row];
        if stay.stays <= 1 {
            stay.latest.as_slice()
        } else {
            self.columns.presence.row(self.row)
        }
    }

    fn activity_intervals(&self) -> impl Iterator<Item = Interval> + '_ {
        self.columns.activities.row(self.row).iter().copied()
    }

    fn jobs(&self) -> impl Iterator<Item = (Interval, bool)> + '_ {
        Row::jobs(self).iter().copied()
    }
}

/// One person as an indicator sees them: the columns' row, and the view for everything else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a> {
    columns: &'a Columns,
    views: &'a [PersonView],
    row: usize,
}

impl<'a> Row<'a> {
    /// The rows `rows` of `views` and their `columns` (built from the same views, in the same
    /// order): all of them, or one share of the persons.
    pub(crate) fn range(
        columns: &'a Columns,
        views: &'a [PersonView],
        rows: std::ops::Range<usize>,
    ) -> impl Iterator<Item = Row<'a>> + 'a {
        debug_assert!(
            views.is_empty() || columns.len() == views.len(),
            "columns of these views, or columns alone"
        );
        debug_assert!(rows.end <= columns.len(), "rows of these columns");
        rows.map(move |row| Row {
            columns,
            views,
            row,
        })
    }

    /// The person's whole view (cold memory: read it only for what the columns lack). Only
    /// for an indicator that [`super::indicators::Indicator::reads_views`]: one that does not is
    /// answered from columns alone at a past cut.
    pub(crate) fn view(&self) -> &'a PersonView {
        self.views
            .get(self.row)
            .expect("an indicator that reads views is answered with the views of its cut")
    }

    pub(crate) fn birth_year(&self) -> Option<i32> {
        self.columns.birth_year[self.row]
    }

    pub(crate) fn sex(&self) -> Sex {
        self.columns.sex[self.row]
    }

    pub(crate) fn age(&self, on: NaiveDate) -> Option<i32> {
        age_on(self.birth_year(), on)
    }

    pub(crate) fn is_working_age(&self, on: NaiveDate) -> bool {
        is_working_age(self.age(on))
    }

    /// Present on `on` ([`PersonView::is_present`]).
    pub(crate) fn is_present(&self, on: NaiveDate) -> bool {
        self.stay_on(on).is_some()
    }

    /// [`PersonView::first_arrival`].
    pub(crate) fn first_arrival(&self, on: NaiveDate) -> Option<NaiveDate> {
        self.columns.stay[self.row].first_arrival(on)
    }

    /// [`PersonView::years_since_arrival`].
    pub(crate) fn years_since_arrival(&self, on: NaiveDate) -> Option<i32> {
        self.columns.stay[self.row].years_since_arrival(on)
    }

    /// [`PersonView::employment_on`].
    pub(crate) fn employment_on(&self, on: NaiveDate) -> EmploymentOnDay {
        let jobs = self.columns.jobs.row(self.row);
        EmploymentOnDay::of(jobs.iter().copied(), on)
    }

    /// The stay holding `on` ([`PersonView::presence_on`]).
    fn stay_on(&self, on: NaiveDate) -> Option<Interval> {
        let columns = self.columns;
        presence_in(&columns.stay[self.row], columns.presence.row(self.row), on).copied()
    }

    /// The person's integration courses ([`PersonView::courses`] that are integration courses),
    /// in the view's order.
    pub(crate) fn integration_courses(&self) -> &'a [IntegrationCourse] {
        self.columns.courses.row(self.row)
    }

    /// [`PersonView::entry`].
    pub(crate) fn entry(&self, on: NaiveDate) -> Option<Entry> {
        let columns = self.columns;
        entry_in(
            &columns.stay[self.row],
            columns.recorded_entry[self.row],
            on,
        )
    }

    /// [`PersonView::years_since_entry`].
    pub(crate) fn years_since_entry(&self, on: NaiveDate) -> Option<i32> {
        let columns = self.columns;
        years_since_entry_in(
            &columns.stay[self.row],
            columns.recorded_entry[self.row],
            on,
        )
    }

    /// [`PersonView::nationality`].
    pub(crate) fn nationality(&self) -> &'a str {
        self.name(self.columns.nationality[self.row])
    }

    /// [`PersonView::protection_status`].
    pub(crate) fn protection_status(&self, on: NaiveDate) -> Option<ProtectionStatus> {
        let columns = self.columns;
        latest_on(columns.protection.row(self.row), on).copied()
    }

    /// [`PersonView::first_integration_course_start`].
    pub(crate) fn first_integration_course_start(&self) -> Option<NaiveDate> {
        first_start(
            self.integration_courses()
                .iter()
                .map(|course| course.started_on),
        )
    }

    /// [`PersonView::first_entitlement`].
    pub(crate) fn first_entitlement(&self) -> Option<NaiveDate> {
        self.columns.first_entitlement[self.row]
    }

    /// [`PersonView::stage_reached_on`].
    pub(crate) fn stage_reached_on(&self, stage: Stage) -> Option<NaiveDate> {
        let columns = self.columns;
        stage_reached_in(
            &columns.stages_reached_on[self.row],
            columns.registered_on[self.row],
            stage,
        )
    }

    /// [`PersonView::has_kita_place`].
    pub(crate) fn has_kita_place(&self, on: NaiveDate) -> bool {
        open_on(self.kita().iter().copied(), on)
    }

    /// [`PersonView::kita`].
    pub(crate) fn kita(&self) -> &'a [Interval] {
        self.columns.kita.row(self.row)
    }

    /// [`PersonView::kita_requests`].
    pub(crate) fn kita_requests(&self) -> &'a [NaiveDate] {
        self.columns.kita_requests.row(self.row)
    }

    /// [`PersonView::schools`].
    pub(crate) fn schools(&self) -> &'a [SchoolSpell] {
        self.columns.schools.row(self.row)
    }

    /// [`PersonView::is_enrolled`].
    pub(crate) fn is_enrolled(&self, on: NaiveDate) -> bool {
        open_on(self.schools().iter().map(|school| school.interval), on)
    }

    /// [`PersonView::has_mentor`].
    pub(crate) fn has_mentor(&self, on: NaiveDate) -> bool {
        open_on(self.mentoring().iter().copied(), on)
    }

    /// The mentoring spells' intervals.
    pub(crate) fn mentoring(&self) -> &'a [Interval] {
        self.columns.mentoring.row(self.row)
    }

    /// The SGB II spells ([`PersonView::benefit_spells`]).
    pub(crate) fn sgb2(&self) -> &'a [Interval] {
        self.columns.sgb2.row(self.row)
    }

    /// [`PersonView::receives`] SGB II.
    pub(crate) fn receives_sgb2(&self, on: NaiveDate) -> bool {
        open_on(self.sgb2().iter().copied(), on)
    }

    /// Each job's interval and whether it counts as employment.
    pub(crate) fn jobs(&self) -> &'a [(Interval, bool)] {
        self.columns.jobs.row(self.row)
    }

    /// Each training's interval and outcome.
    pub(crate) fn trainings(&self) -> &'a [(Interval, Option<SpellOutcome>)] {
        self.columns.trainings.row(self.row)
    }

    /// Each measure's interval and outcome.
    pub(crate) fn measures(&self) -> &'a [(Interval, Option<SpellOutcome>)] {
        self.columns.measures.row(self.row)
    }

    /// [`PersonView::language_tests`].
    pub(crate) fn language_tests(&self) -> &'a [LanguageTest] {
        self.columns.language_tests.row(self.row)
    }

    /// [`PersonView::orientation_tests`].
    pub(crate) fn orientation_tests(&self) -> &'a [Dated<bool>] {
        self.columns.orientation_tests.row(self.row)
    }

    /// [`PersonView::recognitions`].
    pub(crate) fn recognitions(&self) -> &'a [Recognition] {
        self.columns.recognitions.row(self.row)
    }

    /// The days of the counselling contacts at a base.
    pub(crate) fn base_contacts(&self) -> &'a [NaiveDate] {
        self.columns.base_contacts.row(self.row)
    }

    /// [`PersonView::district`].
    pub(crate) fn district(&self, on: NaiveDate) -> Option<&'a str> {
        self.district_code(on).map(|code| self.name(code))
    }

    /// The code of [`Row::district`] among the columns' names: equal codes, equal districts.
    pub(crate) fn district_code(&self, on: NaiveDate) -> Option<u32> {
        latest_on(self.columns.districts.row(self.row), on).copied()
    }

    /// The district or nationality of a code of these columns.
    pub(crate) fn name(&self, code: u32) -> &'a str {
        self.columns.name(code)
    }

    /// The nationality as a code of these columns ([`Row::name`]).
    pub(crate) fn nationality_code(&self) -> u32 {
        self.columns.nationality[self.row]
    }

    /// Pushes the days on which the person's presence, first arrival, district, protection
    /// status, employment and Kita place can change (each is decided by a date of the row on or
    /// before D, or an interval's start on or before D and its end after it): every date those
    /// fields hold. Unordered, maybe repeated.
    pub(crate) fn step_days(&self, days: &mut Vec<NaiveDate>) {
        let columns = self.columns;
        let row = self.row;
        let interval = |days: &mut Vec<NaiveDate>, interval: &Interval| {
            days.push(interval.start);
            days.extend(interval.end);
        };
        let stay = &columns.stay[row];
        days.extend(stay.first_arrival);
        if let Some(latest) = &stay.latest {
            interval(days, latest);
        }
        for stay in columns.presence.row(row) {
            interval(days, stay);
        }
        for (job, _) in columns.jobs.row(row) {
            interval(days, job);
        }
        for place in columns.kita.row(row) {
            interval(days, place);
        }
        days.extend(columns.districts.row(row).iter().map(|dated| dated.on));
        days.extend(columns.protection.row(row).iter().map(|dated| dated.on));
    }
}
