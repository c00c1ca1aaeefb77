//! Small random helpers on top of `rand` 0.8, so that the generator needs no distribution crate.
//!
//! Every helper takes the caller's RNG: all randomness of a household comes from one seeded
//! `StdRng`, drawn in a fixed order, which is what makes the output reproducible.

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::Rng;
use uuid::Uuid;

/// True with probability `share` (clamped to 0..=1).
pub(super) fn chance(rng: &mut StdRng, share: f64) -> bool {
    rng.gen::<f64>() < share.clamp(0.0, 1.0)
}

/// One item of a weighted table. The weights need not sum to one.
pub(super) fn pick<'a, T>(rng: &mut StdRng, table: &'a [(T, f64)]) -> &'a T {
    debug_assert!(!table.is_empty(), "a weighted table has at least one row");
    let total: f64 = table.iter().map(|(_, weight)| weight).sum();
    let mut target = rng.gen::<f64>() * total;
    for (item, weight) in table {
        if target < *weight {
            return item;
        }
        target -= weight;
    }
    // Rounding can leave a sliver above the last row; it belongs to the last row.
    &table[table.len() - 1].0
}

/// A whole number of days, uniform in `low..=high`.
pub(super) fn days_between(rng: &mut StdRng, low: i64, high: i64) -> i64 {
    if high <= low {
        low
    } else {
        rng.gen_range(low..=high)
    }
}

/// A standard normal draw (Box-Muller), because `rand` 0.8 alone has no normal distribution.
pub(super) fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal duration in days with the given median and spread, clamped to `low..=high`.
/// Waiting times and procedure lengths are skewed to the right, which a log-normal captures.
pub(super) fn lognormal_days(
    rng: &mut StdRng,
    median_days: f64,
    sigma: f64,
    low: i64,
    high: i64,
) -> i64 {
    let days = median_days * (sigma * standard_normal(rng)).exp();
    (days.round() as i64).clamp(low, high)
}

/// An exponential draw with the given mean: the waiting time of a process with a constant rate.
pub(super) fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    let u: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    -mean * u.ln()
}

/// A random (version 4) UUID drawn from the RNG, so that ids are reproducible too.
pub(super) fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

/// `date` moved by `days` (negative moves back). Saturates at the ends of chrono's range, which
/// the generator never comes near.
pub(super) fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    date.checked_add_signed(Duration::days(days))
        .unwrap_or(date)
}

/// A day uniform in `from..=to` (or `from` when the range is empty).
pub(super) fn day_between(rng: &mut StdRng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days();
    add_days(from, days_between(rng, 0, span.max(0)))
}

/// 1 January of `year`.
pub(super) fn new_year(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// A fixed day of `year`; used for school years (1 August) and mid-year birthdays (1 July).
pub(super) fn day_of(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

/// Age in whole years on `date` as DOMAIN.md section 5 counts it: year(date) − birth_year.
pub(super) fn age_on(birth_year: i32, date: NaiveDate) -> i32 {
    date.year() - birth_year
}

/// A SplitMix64 step: spreads a seed and an index into a well-mixed 64-bit seed, so that
/// neighbouring households get unrelated random streams.
pub(super) fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn pick_follows_the_weights() {
        let mut rng = StdRng::seed_from_u64(1);
        let table = [("a", 3.0), ("b", 1.0)];
        let draws = 20_000;
        let a_count = (0..draws)
            .filter(|_| *pick(&mut rng, &table) == "a")
            .count();
        let a_share = a_count as f64 / draws as f64;
        assert!((a_share - 0.75).abs() < 0.02, "{a_share}");
    }

    #[test]
    fn lognormal_days_has_the_median_asked_for() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut days: Vec<i64> = (0..10_001)
            .map(|_| lognormal_days(&mut rng, 56.0, 0.5, 0, 1_000))
            .collect();
        days.sort_unstable();
        let median = days[days.len() / 2];
        assert!((52..=60).contains(&median), "{median}");
    }

    #[test]
    fn mixed_seeds_differ_for_neighbouring_indexes() {
        assert_ne!(mix_seed(7, 0), mix_seed(7, 1));
        assert_ne!(mix_seed(7, 0), mix_seed(8, 0));
    }
}
