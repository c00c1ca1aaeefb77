//! Every calibrated share of the generator, with the DOMAIN.md section 7 figure it comes from, and
//! the one derived model that needs arithmetic: the employment entry curve.
//!
//! Figures that section 7 does not give are marked as assumptions; they shape the journeys but no
//! indicator is calibrated against them.

/// Kita places offered for a month per Kita place requested in it: about four in five. DOMAIN.md
/// §7 (DIW 2016) has ≈80% of refugee children aged 3 to 5 in a Kita and ≈15% of those aged 0 to
/// 2; requests come mostly for the older ones, so places meeting four requests in five leave the
/// shortfall a planner would see in `unmet_demand`. An assumption anchored on that figure, not a
/// published capacity figure (none is published for Salzgitter).
pub(super) const KITA_PLACES_PER_REQUEST: f64 = 0.8;

/// Employment rate (open `social_insurance_*` or `self_employed` employment) of working-age
/// persons by whole years since the entry into Germany, index = years 0..=10. The IAB counts
/// from the entry into Germany, not from the arrival in a municipality, so the generator times
/// first jobs from each person's entry and the calibration test reads the indicator
/// `employment_by_years_since_entry`.
/// DOMAIN.md §7 "employment rate by years since arrival" (IAB / IAB-BAMF-SOEP 2016–2025):
/// ≈7–10% after 1 year (8.5% used), 22% after 2, 31% after 3, 49% after 5, 62–63% after 7 (62.5%
/// used), 68% after 8. Year 0 (2%), 4 and 6 (interpolated) and the levelling off in years 9 and 10
/// are assumptions.
pub(super) const EMPLOYMENT_RATE_BY_YEARS_SINCE_ENTRY: [f64; 11] = [
    0.02, 0.085, 0.22, 0.31, 0.40, 0.49, 0.56, 0.625, 0.68, 0.70, 0.71,
];

/// Employment rate of men and of women seven years after arrival.
/// DOMAIN.md §7 "men far higher than women (year 7: 76% vs 26%)".
pub(super) const EMPLOYMENT_RATE_MEN_YEAR_7: f64 = 0.76;
pub(super) const EMPLOYMENT_RATE_WOMEN_YEAR_7: f64 = 0.26;

/// The gap between men and women among persons under temporary protection (§24, Ukrainians).
/// Assumption: section 7 has no figure; Ukrainian women take up work far more often than women of
/// the asylum cohorts, so the ratio is set to 1.5 instead of 76/26.
pub(super) const TEMPORARY_PROTECTION_MEN_TO_WOMEN_RATIO: f64 = 1.5;

/// The expected share of men among working-age persons of the asylum cohorts by year of entry
/// into Germany, and of the §24 cohorts, as the household mix of `population.rs` produces them.
/// The sex-specific curves are normalised with these so that men and women of one entry year
/// together land on the published total. Family reunification brings mostly women and children
/// nine to thirty months after the first member, so entry years after 2015 hold fewer men.
/// Measured on the generator's own population: working-age persons present on 2022-12-31 by
/// whole years since entry, 100,000 persons, seed 11 (one no test uses). Indexed by
/// [`asylum_entry_class`].
pub(super) const ASYLUM_WORKING_AGE_MALE_SHARE_BY_ENTRY: [f64; 3] = [0.68, 0.655, 0.61];
pub(super) const TEMPORARY_PROTECTION_WORKING_AGE_MALE_SHARE: f64 = 0.27;

/// The entry years that share a male share: up to 2015, 2016, and later.
fn asylum_entry_class(entry_year: i32) -> usize {
    match entry_year {
        ..=2015 => 0,
        2016 => 1,
        _ => 2,
    }
}

/// The denominator of the employment rate holds every working-age person present, including
/// pupils of 15–17, trainees and persons past 60 who are rarely employed, while the published
/// curve describes refugees who arrived as adults. The entry curve of those who can work is
/// scaled up by this factor so that the rate over all working-age persons meets the published
/// curve. Fitted against the calibration test (`projections/tests/calibration.rs`): with 1.06
/// years 1, 3, 5 and 7 since entry land at about +1.1, −0.1, −1.2 and +0.4 points from the
/// published figures over its five seeds.
pub(super) const EMPLOYMENT_AVAILABILITY_FACTOR: f64 = 1.06;

/// No group reaches full employment: the stock curve of any group is capped at this share.
pub(super) const EMPLOYMENT_STOCK_CAP: f64 = 0.93;

/// Mean length of an employment and of the gap before the next one, in months. Assumption: jobs
/// last about four years on average (some end within months), gaps about four months. Together
/// they keep about 92% of those who once found work employed at any time.
pub(super) const JOB_MEAN_MONTHS: f64 = 48.0;
pub(super) const JOB_GAP_MEAN_MONTHS: f64 = 4.0;

/// DTZ results of first-time takers by course: share at B1 and share below A2 (the rest is A2).
/// DOMAIN.md §7 "general vs literacy (alpha) courses: B1 ≈61% vs ≈17%" (BAMF 2018). The shares
/// below A2 (5% and 27%) are derived so that a mix of 72% general and 28% literacy takers
/// reproduces §7 "DTZ results, first-time takers (2017): B1 48.7%, A2 40.8%, below A2 10.5%".
pub(super) const DTZ_B1_SHARE_GENERAL: f64 = 0.61;
pub(super) const DTZ_B1_SHARE_ALPHA: f64 = 0.17;
pub(super) const DTZ_BELOW_A2_SHARE_GENERAL: f64 = 0.05;
pub(super) const DTZ_BELOW_A2_SHARE_ALPHA: f64 = 0.27;

/// Share of course starters who start with a literacy (alpha) course.
/// DOMAIN.md §7 "share starting with a literacy course (Salzgitter) ≈50%". Nationalities scale it
/// with a relative literacy factor whose cohort-weighted mean is about 1.
pub(super) const ALPHA_COURSE_SHARE: f64 = 0.50;

/// Share of those who completed a course who take the DTZ at its end, for general and for literacy
/// courses. The literacy figure is an assumption that reconciles two §7 figures: with half of the
/// starters in literacy courses (Salzgitter) the national first-attempt mix of 2017 (48.7% B1 from
/// 61% and 17%) needs literacy learners to be about 28% of the test takers, so many literacy
/// learners end their course with the confirmation of participation instead of the test.
pub(super) const DTZ_TAKEN_AFTER_COMPLETION_GENERAL: f64 = 0.95;
pub(super) const DTZ_TAKEN_AFTER_COMPLETION_ALPHA: f64 = 0.42;
/// Share of those who left a course early who still take the DTZ. Assumption.
pub(super) const DTZ_TAKEN_AFTER_LEAVING: f64 = 0.08;

/// Share of integration courses completed rather than left early.
/// DOMAIN.md §7 "integration course continuity: 62% continuous, 38% left early" (BAMF research
/// centre, 2018 starters). Literacy learners leave more often (assumption): the completion share
/// is this figure plus or minus half of `COURSE_COMPLETION_LITERACY_GAP`.
pub(super) const COURSE_COMPLETION_SHARE: f64 = 0.62;
pub(super) const COURSE_COMPLETION_LITERACY_GAP: f64 = 0.14;
/// Courses of those who move away during the course end as left early (reason `moved`) on top of
/// the drawn outcome; the drawn completion share is raised by this allowance so that the measured
/// share still meets `COURSE_COMPLETION_SHARE`. Fitted against the calibration test.
pub(super) const COURSE_COMPLETION_MOVE_ALLOWANCE: f64 = 0.02;

/// Share of those who left a course early (for reasons other than moving) who re-enter later.
/// DOMAIN.md §7 "over a third of those re-enter later".
pub(super) const COURSE_REENTRY_SHARE: f64 = 0.36;

/// Median waiting time from course registration to course start, in days, by year of
/// registration. DOMAIN.md §7 "waiting time registration → course start: median ≈5–12 weeks
/// (years differ)" (Bundesrechnungshof / BAMF): long during the 2015–2017 backlog, shorter from
/// 2018, longer again with the 2022 arrivals from Ukraine.
pub(super) fn course_waiting_median_days(registration_year: i32) -> f64 {
    match registration_year {
        ..=2017 => 77.0,
        2018..=2021 => 49.0,
        2022..=2023 => 70.0,
        _ => 56.0,
    }
}

/// Spread (log-normal sigma) of the course waiting time. Assumption.
pub(super) const COURSE_WAITING_SIGMA: f64 = 0.55;

/// Median length of the asylum procedure from application to decision, in days.
/// DOMAIN.md §7 "asylum procedure length ≈7–9 months" (Bundestag answers 2022–2024).
pub(super) const ASYLUM_PROCEDURE_MEDIAN_DAYS: f64 = 240.0;
/// Spread (log-normal sigma) of the asylum procedure. Assumption.
pub(super) const ASYLUM_PROCEDURE_SIGMA: f64 = 0.45;

/// Share of children whose family seeks a Kita place before the child turns three, and the share
/// of the others who seek one from age three. Fitted so that the stock on a reporting date meets
/// DOMAIN.md §7 "Kita attendance of refugee children: age 0–2 ≈15%, 3–5 ≈80%" (DIW 2016).
pub(super) const KITA_SOUGHT_BEFORE_3: f64 = 0.36;
pub(super) const KITA_SOUGHT_FROM_3: f64 = 0.90;

/// Share of school-age children who are enrolled.
/// DOMAIN.md §7 "school >94%" (DIW 2016). The few who are not are newly arrived and waiting.
pub(super) const SCHOOL_ENROLMENT_SHARE: f64 = 0.985;

/// Outcomes of recognition decisions: full, partial, compensation measure, negative.
/// DOMAIN.md §7 "recognition decisions: full 47%, partial 10%, compensation measure 41%,
/// negative 2%" (Federal recognition statistics 2022).
pub(super) const RECOGNITION_FULL_SHARE: f64 = 0.47;
pub(super) const RECOGNITION_PARTIAL_SHARE: f64 = 0.10;
pub(super) const RECOGNITION_COMPENSATION_SHARE: f64 = 0.41;
pub(super) const RECOGNITION_NEGATIVE_SHARE: f64 = 0.02;

/// Share of households leaving SGB II when an adult starts a full-time (or self-employed) and a
/// part-time job. Fitted so that about DOMAIN.md §7 "SGB II rate, main asylum countries ≈49%
/// (2022)" (BA) of present persons receive SGB II.
pub(super) const SGB2_EXIT_SHARE_FULL_TIME: f64 = 0.75;
pub(super) const SGB2_EXIT_SHARE_PART_TIME: f64 = 0.25;

/// Share of recorded events a caseworker gets wrong and corrects weeks later, and the share of
/// contacts recorded twice and then retracted. Assumptions: small, so that the indicators with
/// corrections applied barely move, yet every population holds enough to exercise the
/// bi-temporal queries.
pub(super) const MISTAKE_SHARE: f64 = 0.012;
pub(super) const DUPLICATE_SHARE: f64 = 0.006;

/// The employment stock curve at `years` since entry, before any multiplier: piecewise linear
/// through the published figures placed at the middle of each year, so that the average over a
/// year of the reporting-date bucket is close to the figure of that year.
pub(super) fn employment_stock(years: f64) -> f64 {
    let table = &EMPLOYMENT_RATE_BY_YEARS_SINCE_ENTRY;
    if years <= 0.0 {
        return 0.0;
    }
    if years < 0.5 {
        return table[0] * years / 0.5;
    }
    let position = years - 0.5;
    let index = position.floor() as usize;
    if index + 1 >= table.len() {
        return table[table.len() - 1];
    }
    let fraction = position - index as f64;
    table[index] + (table[index + 1] - table[index]) * fraction
}

/// The distribution of the time from the entry into Germany to a person's first employment,
/// derived from the published stock curve: once employed, a person alternates between jobs and
/// gaps (a two-state process with the mean lengths above), so the stock at month `k` is the sum
/// over entry months `j ≤ k` of the entry density at `j` times the chance of being employed
/// `k − j` months after entry. Solving that convolution month by month for the density gives a first-entry
/// distribution whose stock meets the curve in expectation.
#[derive(Debug, Clone)]
pub(super) struct EntryCurve {
    /// Probability of a first entry into work by the end of month `k` since the entry into
    /// Germany.
    cumulative: Vec<f64>,
}

/// How many months the entry curve covers; later first entries do not happen.
const ENTRY_CURVE_MONTHS: usize = 16 * 12;

impl EntryCurve {
    /// The entry curve for a group whose stock is the published curve times `multiplier`.
    pub(super) fn new(multiplier: f64) -> Self {
        let job_end_rate = 1.0 / JOB_MEAN_MONTHS;
        let reentry_rate = 1.0 / JOB_GAP_MEAN_MONTHS;
        let total_rate = job_end_rate + reentry_rate;
        let employed_in_long_run = reentry_rate / total_rate;
        // The chance of being employed `lag` whole months after the start of the entry month,
        // averaged over an entry uniform within that month.
        let employed_after = |lag: usize| {
            let lag = lag as f64;
            employed_in_long_run
                + (1.0 - employed_in_long_run) * (-total_rate * lag).exp() * (total_rate.exp_m1())
                    / total_rate
        };
        let stock = |month: usize| {
            (employment_stock(month as f64 / 12.0) * multiplier).min(EMPLOYMENT_STOCK_CAP)
        };
        let mut density = vec![0.0_f64; ENTRY_CURVE_MONTHS];
        let mut cumulative = Vec::with_capacity(ENTRY_CURVE_MONTHS);
        let mut total = 0.0;
        for month in 0..ENTRY_CURVE_MONTHS {
            let explained: f64 = (0..month)
                .map(|earlier| density[earlier] * employed_after(month + 1 - earlier))
                .sum();
            let needed = (stock(month + 1) - explained) / employed_after(1);
            let value = needed.max(0.0).min(1.0 - total);
            density[month] = value;
            total += value;
            cumulative.push(total);
        }
        Self { cumulative }
    }

    /// The months from the entry into Germany to the first employment for a uniform draw `u`, or
    /// `None` when the person never finds work within the curve's range.
    pub(super) fn months_to_first_entry(&self, u: f64) -> Option<f64> {
        let month = self
            .cumulative
            .partition_point(|&cumulative| cumulative <= u);
        if month >= self.cumulative.len() {
            return None;
        }
        let before = if month == 0 {
            0.0
        } else {
            self.cumulative[month - 1]
        };
        let width = self.cumulative[month] - before;
        let fraction = if width > 0.0 {
            (u - before) / width
        } else {
            0.5
        };
        Some(month as f64 + fraction)
    }

    /// The probability of a first entry within the curve's range.
    #[cfg(test)]
    fn ever(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }
}

/// The employment-curve multipliers of men and women, normalised so that a group with `male_share`
/// men among its working-age persons meets the published total.
pub(super) fn sex_multipliers(male_share: f64, men_to_women_ratio: f64) -> (f64, f64) {
    let women = 1.0 / (male_share * men_to_women_ratio + (1.0 - male_share));
    (women * men_to_women_ratio, women)
}

/// The entry curves the generator uses, built once per population: for men and women of the
/// asylum cohorts by class of entry year, and of the §24 cohorts.
#[derive(Debug, Clone)]
pub(super) struct EntryCurves {
    /// Men, then women, per class of [`asylum_entry_class`].
    asylum: Vec<(EntryCurve, EntryCurve)>,
    temporary_men: EntryCurve,
    temporary_women: EntryCurve,
}

impl EntryCurves {
    pub(super) fn new() -> Self {
        let scaled = |multiplier: f64| EntryCurve::new(multiplier * EMPLOYMENT_AVAILABILITY_FACTOR);
        let asylum_ratio = EMPLOYMENT_RATE_MEN_YEAR_7 / EMPLOYMENT_RATE_WOMEN_YEAR_7;
        let asylum = ASYLUM_WORKING_AGE_MALE_SHARE_BY_ENTRY
            .iter()
            .map(|male_share| {
                let (men, women) = sex_multipliers(*male_share, asylum_ratio);
                (scaled(men), scaled(women))
            })
            .collect();
        let (temporary_men, temporary_women) = sex_multipliers(
            TEMPORARY_PROTECTION_WORKING_AGE_MALE_SHARE,
            TEMPORARY_PROTECTION_MEN_TO_WOMEN_RATIO,
        );
        Self {
            asylum,
            temporary_men: scaled(temporary_men),
            temporary_women: scaled(temporary_women),
        }
    }

    /// The curve of an asylum-route man or woman who entered Germany in `entry_year`.
    pub(super) fn asylum(&self, entry_year: i32, male: bool) -> &EntryCurve {
        let (men, women) = &self.asylum[asylum_entry_class(entry_year)];
        if male {
            men
        } else {
            women
        }
    }

    /// The curve of a man or woman under temporary protection (§24).
    pub(super) fn temporary(&self, male: bool) -> &EntryCurve {
        if male {
            &self.temporary_men
        } else {
            &self.temporary_women
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::synth::random::exponential;

    #[test]
    fn the_stock_curve_passes_through_the_published_figures_mid_year() {
        for (years, rate) in EMPLOYMENT_RATE_BY_YEARS_SINCE_ENTRY.iter().enumerate() {
            let value = employment_stock(years as f64 + 0.5);
            assert!(
                (value - rate).abs() < 1e-9,
                "year {years}: {value} vs {rate}"
            );
        }
        assert_eq!(employment_stock(0.0), 0.0);
        assert_eq!(employment_stock(30.0), 0.71);
    }

    #[test]
    fn sex_multipliers_average_to_one_and_keep_the_ratio() {
        let (men, women) = sex_multipliers(0.64, 76.0 / 26.0);
        assert!((0.64 * men + 0.36 * women - 1.0).abs() < 1e-9);
        assert!((men / women - 76.0 / 26.0).abs() < 1e-9);
    }

    /// Simulates persons through the entry curve and the job/gap process and checks that the stock
    /// meets the curve: the deconvolution is right when this holds.
    #[test]
    fn simulated_stock_meets_the_curve() {
        let curve = EntryCurve::new(1.0);
        assert!(curve.ever() > 0.7 && curve.ever() <= 1.0);
        let mut rng = StdRng::seed_from_u64(11);
        let checkpoints = [1.5, 3.5, 5.5, 7.5];
        let mut employed = [0_u32; 4];
        let persons = 40_000;
        for _ in 0..persons {
            let Some(entry) = curve.months_to_first_entry(rng.gen()) else {
                continue;
            };
            let mut spells = Vec::new();
            let mut start = entry;
            while start < 12.0 * 10.0 {
                let end = start + exponential(&mut rng, JOB_MEAN_MONTHS);
                spells.push((start, end));
                start = end + exponential(&mut rng, JOB_GAP_MEAN_MONTHS);
            }
            for (index, years) in checkpoints.iter().enumerate() {
                let month = years * 12.0;
                if spells
                    .iter()
                    .any(|(from, to)| *from <= month && month < *to)
                {
                    employed[index] += 1;
                }
            }
        }
        for (index, years) in checkpoints.iter().enumerate() {
            let share = f64::from(employed[index]) / f64::from(persons);
            let expected = employment_stock(*years);
            assert!(
                (share - expected).abs() < 0.015,
                "{years} years: {share} vs {expected}"
            );
        }
    }
}
