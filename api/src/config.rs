//! The server's settings. Every limit here returns `LIMIT_EXCEEDED` naming it (the `limit`
//! extension is the field name in camelCase, e.g. `pageSizeMax`), but for the push interval of
//! `kpiChanged`, which delays pushes instead.

use std::time::Duration;

/// The limits of the GraphQL endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The deepest selection a query may nest (`depthMax`).
    pub depth_max: usize,
    /// The largest complexity (roughly: the number of fields selected) of a query (`complexityMax`).
    pub complexity_max: usize,
    /// The most fields an operation document may select, every alias, `__typename` and the fields
    /// of every fragment spread counted (`fieldsMax`).
    pub fields_max: usize,
    /// The largest `first` of a paginated query (`pageSizeMax`).
    pub page_size_max: usize,
    /// The largest request body in bytes (`requestBodyBytesMax`).
    pub request_body_bytes_max: usize,
    /// Requests per second per token, on average (`rateLimit`); 0 disables it.
    pub rate_per_second: u32,
    /// Requests a token may send at once before the rate applies.
    pub rate_burst: u32,
    /// How long one request may take (`requestTimeout`).
    pub request_timeout: Duration,
    /// The least time between two pushes of one `kpiChanged` subscription (see
    /// [`crate::kpi_push`]).
    pub kpi_push_interval: Duration,
    /// How long a request with an explicit `knownAt` the projections have not reached yet waits for
    /// them before it is refused (`knownAtWait`); the error names the lag.
    pub known_at_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // GraphiQL's introspection query nests 13 levels (`ofType` seven times); the schema's
            // own types do not recurse, so a deeper query can only be introspection or abuse.
            depth_max: 20,
            complexity_max: 1_000,
            // GraphiQL's introspection query selects 201 fields (api/tests/hostile.rs measures it).
            fields_max: 2_000,
            page_size_max: 1_000,
            request_body_bytes_max: 2 * 1024 * 1024,
            rate_per_second: 100,
            rate_burst: 200,
            request_timeout: Duration::from_secs(30),
            kpi_push_interval: crate::kpi_push::KPI_PUSH_INTERVAL_DEFAULT,
            known_at_wait: Duration::from_secs(5),
        }
    }
}

/// A whole number with an optional unit `s` (the default), `m`, `h` or `d`, as the duration options
/// take it (`60s`, `5m`, `6h`, `1d`); `None` for anything else. Each option checks its own bounds.
pub fn parse_whole_duration(text: &str) -> Option<Duration> {
    let trimmed = text.trim();
    let (digits, unit_seconds) = match trimmed.char_indices().last() {
        Some((at, 's')) => (&trimmed[..at], 1),
        Some((at, 'm')) => (&trimmed[..at], 60),
        Some((at, 'h')) => (&trimmed[..at], 3600),
        Some((at, 'd')) => (&trimmed[..at], 86_400),
        _ => (trimmed, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let count: u64 = digits.parse().ok()?;
    Some(Duration::from_secs(count.checked_mul(unit_seconds)?))
}
