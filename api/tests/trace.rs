//! The request trace (tower-http's `TraceLayer`) over `app()`: what it logs and what it leaves out.
//!
//! Its own test binary: tracing caches per call site whether anyone listens, and a test of another
//! thread that reaches the layer's call sites while this test's subscriber is being set up could
//! leave them cached as unheard; alone in its process the test sees every line it should.

mod support;

use axum::http::StatusCode;
use support::{get, Harness};

/// A writer the test's log lines go to.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

/// Given a server that is not ready (here: shutting down), when a probe asks `/readyz` every few
/// seconds, then the 503s it gets are not logged as failed requests, while other requests are
/// still traced.
#[tokio::test]
async fn readiness_probes_are_not_logged_as_failed_requests() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread, so the subscriber covers every await below.
    let _guard = tracing::subscriber::set_default(subscriber);
    let h = Harness::new().await;
    h.state.begin_shutdown();
    for _ in 0..3 {
        let (status, _, _) = h.send(get("/readyz", "*/*")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (status, _, _) = h.send(get("/healthz", "*/*")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = h.send(get("/metrics", "text/plain")).await;
    assert_eq!(status, StatusCode::OK);
    let log = captured.text();
    assert!(!log.contains("response failed"), "{log}");
    assert!(!log.contains("/readyz"), "{log}");
    assert!(
        log.contains("/metrics"),
        "other requests are traced:\n{log}"
    );
}
