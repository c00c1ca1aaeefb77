//! Prometheus metrics, written by hand in the text exposition format (version 0.0.4).
//!
//! Label values come only from bounded sets (root field names of the schema, status codes, error
//! codes, outcomes), so the number of series is bounded too.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// One count per bucket of [`LATENCY_BUCKETS_SECONDS`] (not cumulative) plus one for +Inf.
    counts: Vec<u64>,
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; LATENCY_BUCKETS_SECONDS.len() + 1];
        }
        let bucket = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
        self.counts[bucket] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests by (operation, HTTP status).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Latency by operation.
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// GraphQL errors by code.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Appends by outcome (`written`, `already_recorded`, or an error code).
    appends: Mutex<BTreeMap<String, u64>>,
    events_appended: AtomicU64,
    audit_entries: AtomicU64,
    /// `person` reads decided on the projections' journal, and on the ledger's timeline.
    person_reads_projections: AtomicU64,
    person_reads_ledger: AtomicU64,
    subscriptions_active: AtomicI64,
}

impl Metrics {
    pub fn request(&self, operation: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((operation.to_owned(), status))
            .or_default() += 1;
        self.latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(operation.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn error(&self, code: &'static str) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    pub fn append(&self, outcome: &str, events_written: u64) {
        *self
            .appends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(outcome.to_owned())
            .or_default() += 1;
        self.events_appended
            .fetch_add(events_written, Ordering::Relaxed);
    }

    pub fn audit_entry(&self) {
        self.audit_entries.fetch_add(1, Ordering::Relaxed);
    }

    /// A `person` read decided on the projections (`true`) or on the ledger's timeline.
    pub fn person_read(&self, from_projections: bool) {
        let counter = if from_projections {
            &self.person_reads_projections
        } else {
            &self.person_reads_ledger
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn subscription_started(&self) {
        self.subscriptions_active.fetch_add(1, Ordering::Relaxed);
    }

    pub fn subscription_ended(&self) {
        self.subscriptions_active.fetch_sub(1, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP journey_http_requests_total GraphQL requests by root field and HTTP status."
        );
        let _ = writeln!(out, "# TYPE journey_http_requests_total counter");
        for ((operation, status), count) in self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "journey_http_requests_total{{operation=\"{operation}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP journey_http_request_duration_seconds GraphQL request latency by root field."
        );
        let _ = writeln!(
            out,
            "# TYPE journey_http_request_duration_seconds histogram"
        );
        for (operation, histogram) in self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            let mut cumulative = 0;
            for (index, count) in histogram.counts.iter().enumerate() {
                cumulative += count;
                let bound = LATENCY_BUCKETS_SECONDS
                    .get(index)
                    .map_or_else(|| "+Inf".to_owned(), |bound| bound.to_string());
                let _ = writeln!(
                    out,
                    "journey_http_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "journey_http_request_duration_seconds_sum{{operation=\"{operation}\"}} {}",
                histogram.sum_seconds
            );
            let _ = writeln!(
                out,
                "journey_http_request_duration_seconds_count{{operation=\"{operation}\"}} {}",
                histogram.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP journey_graphql_errors_total GraphQL errors by extensions.code."
        );
        let _ = writeln!(out, "# TYPE journey_graphql_errors_total counter");
        for (code, count) in self
            .errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "journey_graphql_errors_total{{code=\"{code}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP journey_appends_total Appends through the API by outcome."
        );
        let _ = writeln!(out, "# TYPE journey_appends_total counter");
        for (outcome, count) in self
            .appends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "journey_appends_total{{outcome=\"{outcome}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP journey_events_appended_total Events written through the API."
        );
        let _ = writeln!(out, "# TYPE journey_events_appended_total counter");
        let _ = writeln!(
            out,
            "journey_events_appended_total {}",
            self.events_appended.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP journey_audit_entries_total Audit entries written since start."
        );
        let _ = writeln!(out, "# TYPE journey_audit_entries_total counter");
        let _ = writeln!(
            out,
            "journey_audit_entries_total {}",
            self.audit_entries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP journey_person_reads_total `person` reads by where visibility and revision were decided (projections or ledger)."
        );
        let _ = writeln!(out, "# TYPE journey_person_reads_total counter");
        for (source, counter) in [
            ("projections", &self.person_reads_projections),
            ("ledger", &self.person_reads_ledger),
        ] {
            let _ = writeln!(
                out,
                "journey_person_reads_total{{source=\"{source}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP journey_subscriptions_active Open subscriptions (personEvents and kpiChanged)."
        );
        let _ = writeln!(out, "# TYPE journey_subscriptions_active gauge");
        let _ = writeln!(
            out,
            "journey_subscriptions_active {}",
            self.subscriptions_active.load(Ordering::Relaxed)
        );
        out
    }
}

/// The projections' gauges: how many events of the log they have not applied yet, their
/// checkpoint (the last applied position; -1 before the first event) and the log's head.
/// And whether the kept rows serve a past `knownAt` (`journey_projection_kept_rows_ready`).
pub fn render_projections(status: &journey_projections::runner::ProjectionStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP journey_projection_lag_events Events in the log the projections have not applied yet."
    );
    let _ = writeln!(out, "# TYPE journey_projection_lag_events gauge");
    let _ = writeln!(out, "journey_projection_lag_events {}", status.lag_events);
    let _ = writeln!(
        out,
        "# HELP journey_projection_kept_rows_ready Whether a past knownAt is served from the kept rows (1) or, while they are built or lag, from views (0)."
    );
    let _ = writeln!(out, "# TYPE journey_projection_kept_rows_ready gauge");
    let _ = writeln!(
        out,
        "journey_projection_kept_rows_ready {}",
        u8::from(status.kept_rows_ready)
    );
    let _ = writeln!(
        out,
        "# HELP journey_projection_checkpoint The last log position the projections applied (-1: none)."
    );
    let _ = writeln!(out, "# TYPE journey_projection_checkpoint gauge");
    let _ = writeln!(
        out,
        "journey_projection_checkpoint {}",
        status
            .checkpoint
            .map_or(-1, |checkpoint| i64::try_from(checkpoint.raw())
                .unwrap_or(i64::MAX))
    );
    let _ = writeln!(
        out,
        "# HELP journey_projection_log_head_position The position of the log's last event (-1: none)."
    );
    let _ = writeln!(out, "# TYPE journey_projection_log_head_position gauge");
    let _ = writeln!(
        out,
        "journey_projection_log_head_position {}",
        status
            .head
            .map_or(-1, |head| i64::try_from(head.raw()).unwrap_or(i64::MAX))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_render() {
        let metrics = Metrics::default();
        metrics.request("person", 200, Duration::from_millis(3));
        metrics.request("person", 200, Duration::from_millis(30));
        metrics.error("FORBIDDEN");
        let text = metrics.render();
        assert!(text.contains("journey_http_requests_total{operation=\"person\",status=\"200\"} 2"));
        assert!(text.contains(
            "journey_http_request_duration_seconds_bucket{operation=\"person\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "journey_http_request_duration_seconds_bucket{operation=\"person\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("journey_graphql_errors_total{code=\"FORBIDDEN\"} 1"));
    }
}
