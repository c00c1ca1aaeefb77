//! The web interface served by `journey serve`: the start page with the monitoring dashboard at
//! `/`, the embedded GraphiQL at `GET /graphql` (HTML), the static files under `/web/`, and the
//! council report at `GET /report` (see [`report`]).
//!
//! Every file is embedded in the binary at compile time from `api/web/` (the vendored npm builds
//! under `api/web/vendor/` included), so the pages work on a network without internet access and
//! `cargo build` needs no Node. The pages use the public GraphQL API only, with the user's token.
//!
//! Invariant: no page loads anything from another origin. The content security policy says so to
//! the browser, and the browser tests (tests/browser/) fail on any request that leaves loopback.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

mod report;

/// An embedded file: its path under `/web/`, its media type and its bytes.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

macro_rules! asset {
    ($path:literal, $media_type:expr) => {
        Asset {
            path: $path,
            media_type: $media_type,
            bytes: include_bytes!(concat!("../../web/", $path)),
        }
    };
}

/// Every file under `/web/`. A file not listed here is not served.
const ASSETS: &[Asset] = &[
    asset!("app.css", CSS),
    asset!("charts.js", JAVASCRIPT),
    asset!("common.js", JAVASCRIPT),
    asset!("dashboard.js", JAVASCRIPT),
    asset!("workspace.js", JAVASCRIPT),
    asset!("graphiql.js", JAVASCRIPT),
    asset!("vendor/graphiql.min.js", JAVASCRIPT),
    asset!("vendor/graphiql.min.css", CSS),
    asset!("vendor/react.production.min.js", JAVASCRIPT),
    asset!("vendor/react-dom.production.min.js", JAVASCRIPT),
    asset!("vendor/LICENSE.graphiql", TEXT),
    asset!("vendor/LICENSE.react", TEXT),
    asset!("vendor/LICENSE.react-dom", TEXT),
    asset!("vendor/VENDORED.json", JSON),
];

const INDEX_HTML: &str = include_str!("../../web/index.html");
const GRAPHIQL_HTML: &str = include_str!("../../web/graphiql.html");
const WORKSPACE_HTML: &str = include_str!("../../web/workspace.html");

/// Scripts, styles, images and connections from this origin only (a WebSocket to the same host
/// included); GraphiQL's stylesheet needs inline styles and `data:` fonts and images.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The routes of the web interface; `http::app` merges them with the API's.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/workspace", get(workspace))
        .route("/web/demo-tokens.json", get(demo_tokens))
        .route("/web/event-schemas.json", get(event_schemas))
        .route("/report", get(report::report))
        .route("/web/{*path}", get(asset))
        .with_state(state)
}

/// The GraphiQL page, for `GET /graphql` from a browser.
pub fn graphiql() -> Response {
    page(GRAPHIQL_HTML)
}

fn page(html: &'static str) -> Response {
    respond(HTML, html.as_bytes())
}

fn respond(media_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The files change only with the binary; revalidating is cheap on loopback and never shows a
    // page of an older binary after an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn index() -> Response {
    page(INDEX_HTML)
}

async fn workspace() -> Response {
    page(WORKSPACE_HTML)
}

/// The JSON Schema of every event type's current version, keyed by type name: what the
/// workspace's forms are generated from. The same schemas as `schemas/events/` (both come from
/// `journey_core::catalogue::schema`, and a drift test keeps the files equal to it), computed once.
async fn event_schemas() -> Response {
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| {
        let files = journey_core::catalogue::schema::all();
        let mut schemas = serde_json::Map::new();
        for event_type in journey_core::catalogue::EventType::ALL {
            let file_name = format!(
                "{}.v{}.schema.json",
                event_type.name(),
                event_type.current_version()
            );
            if let Some(file) = files.iter().find(|file| file.file_name == file_name) {
                schemas.insert(
                    event_type.name().to_owned(),
                    serde_json::to_value(&file.schema).unwrap_or_default(),
                );
            }
        }
        serde_json::to_vec(&schemas).unwrap_or_default()
    });
    let mut response = (StatusCode::OK, body.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => respond(asset.media_type, asset.bytes),
        None => (StatusCode::NOT_FOUND, "no such file under /web/\n").into_response(),
    }
}

/// The demo tokens, for the start page to offer; only a server started with `--demo` has them
/// (they are credentials for a synthetic population, printed on its console too), every other
/// server answers 404.
async fn demo_tokens(State(state): State<AppState>) -> Response {
    match state.demo_tokens.get() {
        Some(tokens) => {
            let body: Vec<serde_json::Value> = tokens
                .iter()
                .map(|token| {
                    serde_json::json!({
                        "name": token.name,
                        "role": token.role,
                        "agency": token.agency,
                        "token": token.token,
                    })
                })
                .collect();
            let mut response = axum::Json(body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        None => (StatusCode::NOT_FOUND, "not a --demo server\n").into_response(),
    }
}
