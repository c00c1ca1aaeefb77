//! The HTTP surface: GraphQL over HTTP (GET and POST, per the GraphQL-over-HTTP spec), GraphiQL,
//! GraphQL over WebSocket (graphql-transport-ws, and the older graphql-ws), health, readiness and
//! metrics.
//!
//! Media types: a client that accepts `application/graphql-response+json` gets it, with 4xx codes
//! for requests that cannot be executed; otherwise the answer is `application/json` with 200 for
//! every well-formed request, as the spec asks for that media type. Errors that stop a request
//! before GraphQL runs (authentication, rate, body size, malformed requests) are GraphQL-shaped too:
//! `{"errors": [{"message", "extensions": {"code", ...}}]}`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{Data, Variables};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Query, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use serde_json::{json, Value};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::graphql::{self, JourneySchema, RequestReason};
use crate::state::AppState;

/// The header that carries a client's reason for a request, recorded in the audit log.
pub const REASON_HEADER: &str = "x-journey-reason";
/// The longest reason accepted, in characters.
pub const REASON_LEN_MAX: usize = 500;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

#[derive(Clone)]
struct Shared {
    state: AppState,
    schema: JourneySchema,
    /// The root fields of the schema: the bounded set of `operation` label values of the metrics.
    root_fields: Arc<HashSet<String>>,
    /// Parsed query documents by query text (see [`ParsedQueries`]).
    parsed: Arc<ParsedQueries>,
}

/// The most query documents kept parsed; when full, the cache starts over.
const PARSED_QUERIES_MAX: usize = 512;
/// Longer query texts are parsed every time.
const PARSED_QUERY_LEN_MAX: usize = 16 * 1024;

/// Parsed query documents by query text. Parsing is a pure function of the text and the GraphQL
/// parser is the most expensive step of a small query (the request is inspected before it runs,
/// then executed), while clients send the same few texts again and again (a dashboard's queries,
/// a client's persisted operations). So each text is parsed once, inspected, and handed to
/// async-graphql already parsed; validation, limits, authorization and audit run for every request
/// as before.
#[derive(Debug, Default)]
struct ParsedQueries {
    documents: Mutex<HashMap<String, Arc<ExecutableDocument>>>,
}

impl ParsedQueries {
    /// The parsed document of `query`, or `None` when it does not parse (async-graphql then
    /// parses it again and reports the error).
    fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        let lock = || {
            self.documents
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(found) = lock().get(query) {
            return Some(found.clone());
        }
        let document = Arc::new(async_graphql::parser::parse_query(query).ok()?);
        if query.len() <= PARSED_QUERY_LEN_MAX {
            let mut documents = lock();
            if documents.len() >= PARSED_QUERIES_MAX {
                documents.clear();
            }
            documents.insert(query.to_owned(), document.clone());
        }
        Some(document)
    }
}

/// The application: every route, with the body limit and tracing.
pub fn app(state: AppState) -> Router {
    let schema = graphql::build(state.clone());
    let root_fields = Arc::new(root_fields(&graphql::sdl()));
    let body_limit = state.limits.request_body_bytes_max;
    let shared = Shared {
        state,
        schema,
        root_fields,
        parsed: Arc::default(),
    };
    let web = crate::web::router(shared.state.clone());
    // The probes stay outside the request trace: a load balancer asks `/readyz` every few seconds,
    // and while the projections catch up (minutes at a million persons) each 503 would be logged
    // as a failed request at ERROR.
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared.clone());
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/metrics", get(metrics))
        .route(crate::backup::online::BACKUP_PATH, post(admin_backup))
        .with_state(shared)
        .merge(web)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(middleware::map_response(move |response: Response| {
            graphql_shaped_413(response, body_limit)
        }))
        .layer(TraceLayer::new_for_http())
        .merge(probes)
}

/// The root field names of the schema (Query, Mutation, Subscription) and the meta fields.
fn root_fields(sdl: &str) -> HashSet<String> {
    let mut names: HashSet<String> = ["__typename", "__schema", "__type"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut in_root = false;
    for line in sdl.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("type ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            in_root = matches!(name, "Query" | "Mutation" | "Subscription");
        } else if trimmed == "}" {
            in_root = false;
        } else if in_root && line.starts_with('\t') && !line.starts_with("\t\t") {
            let name: String = trimmed
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// What the client asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphQLResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::GraphQLResponseJson => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response media type from `Accept` by quality (`q`), preferring
/// `application/graphql-response+json` on a tie; `None` when nothing acceptable is offered.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
    else {
        return Some(Media::Json);
    };
    let mut best: Option<(f32, Media)> = None;
    for part in accept.split(',') {
        let mut params = part.split(';');
        let media = params
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let quality = params
            .filter_map(|param| param.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => Media::GraphQLResponseJson,
            APPLICATION_JSON | "application/*" | "*/*" | "" => Media::Json,
            _ => continue,
        };
        let better = match best {
            None => true,
            Some((best_quality, best_media)) => {
                quality > best_quality
                    || (quality == best_quality
                        && candidate == Media::GraphQLResponseJson
                        && best_media == Media::Json)
            }
        };
        if better {
            best = Some((quality, candidate));
        }
    }
    best.map(|(_, media)| media)
}

fn json_response(status: StatusCode, media: Media, body: &Value) -> Response {
    text_response(status, media, body.to_string())
}

fn text_response(status: StatusCode, media: Media, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    response
}

fn error_body(error: &ApiError) -> Value {
    json!({"errors": [{"message": error.message, "extensions": error.extensions_json()}]})
}

/// A response for an error that stopped the request before GraphQL ran.
fn request_error(shared: &Shared, status: StatusCode, media: Media, error: ApiError) -> Response {
    shared.state.metrics.error(error.code.as_str());
    json_response(status, media, &error_body(&error))
}

/// Replaces tower-http's plain-text 413 with a GraphQL-shaped error naming the limit.
async fn graphql_shaped_413(response: Response, body_limit: usize) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        Media::Json,
        &error_body(&body_limit_error(body_limit)),
    )
}

fn body_limit_error(body_limit: usize) -> ApiError {
    ApiError::limit(
        "requestBodyBytesMax",
        format!("the request body is larger than {body_limit} bytes; send smaller batches"),
    )
}

/// A GraphQL request as the client sent it, before execution.
struct Incoming {
    query: String,
    variables: Option<Value>,
    operation_name: Option<String>,
    extensions: Option<Value>,
}

/// Reads the fields of a request from a JSON object (a POST body or decoded GET parameters).
fn incoming_from_json(body: Value) -> Result<Incoming, ApiError> {
    let Value::Object(mut object) = body else {
        return Err(ApiError::validation(
            "body",
            "the request body must be a JSON object with `query` (and optionally `variables`, `operationName`, `extensions`)",
        ));
    };
    let query = match object.remove("query") {
        Some(Value::String(query)) => query,
        Some(_) => return Err(ApiError::validation("query", "`query` must be a string")),
        None => {
            return Err(ApiError::validation(
                "query",
                "the request has no `query`: send the GraphQL document in `query`",
            ))
        }
    };
    let variables = match object.remove("variables") {
        None | Some(Value::Null) => None,
        Some(variables @ Value::Object(_)) => Some(variables),
        Some(_) => {
            return Err(ApiError::validation(
                "variables",
                "`variables` must be an object (or null)",
            ))
        }
    };
    let operation_name = match object.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            return Err(ApiError::validation(
                "operationName",
                "`operationName` must be a string (or null)",
            ))
        }
    };
    let extensions = match object.remove("extensions") {
        None | Some(Value::Null) => None,
        Some(extensions @ Value::Object(_)) => Some(extensions),
        Some(_) => {
            return Err(ApiError::validation(
                "extensions",
                "`extensions` must be an object (or null)",
            ))
        }
    };
    Ok(Incoming {
        query,
        variables,
        operation_name,
        extensions,
    })
}

/// Reads a GET request's parameters; `variables` and `extensions` are JSON-encoded strings.
fn incoming_from_params(params: HashMap<String, String>) -> Result<Incoming, ApiError> {
    let mut object = serde_json::Map::new();
    for (key, value) in params {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value).map_err(|error| {
                ApiError::validation(
                    key.clone(),
                    format!("`{key}` must be JSON-encoded: {error}"),
                )
            })?,
            _ => Value::String(value),
        };
        object.insert(key, value);
    }
    incoming_from_json(Value::Object(object))
}

/// The caller from the `Authorization` header: `Ok(None)` without one.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::new(
            Code::Unauthenticated,
            "the Authorization header must be `Bearer <token>`",
        )
    })?;
    shared
        .state
        .tokens
        .authenticate_header(value)
        .map(Some)
        .map_err(|error| ApiError::new(Code::Unauthenticated, error.to_string()))
}

pub(crate) fn reason(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(REASON_HEADER) else {
        return Ok(None);
    };
    let text = String::from_utf8(value.as_bytes().to_vec())
        .map_err(|_| ApiError::validation("X-Journey-Reason", "the reason must be UTF-8 text"))?;
    let len = text.chars().count();
    if len > REASON_LEN_MAX || text.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "X-Journey-Reason",
            format!(
                "the reason must be at most {REASON_LEN_MAX} characters without control characters"
            ),
        ));
    }
    Ok(Some(text.trim().to_owned()).filter(|text| !text.is_empty()))
}

/// The selected operation's type and first root field (`None` when the document names no such
/// operation; GraphQL then reports the problem).
fn inspect(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<(OperationType, String)> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => &operation.node,
        (DocumentOperations::Multiple(operations), Some(name)) => &operations.get(name)?.node,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            &operations.values().next()?.node
        }
        (DocumentOperations::Multiple(_), None) => return None,
    };
    let first_field = operation
        .selection_set
        .node
        .items
        .iter()
        .find_map(|selection| match &selection.node {
            Selection::Field(field) => Some(field.node.name.node.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    Some((operation.ty, first_field))
}

async fn graphql_post(State(shared): State<Shared>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let Some(media) = negotiate(&parts.headers) else {
        return not_acceptable(&shared);
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type != APPLICATION_JSON {
        let response = request_error(
            &shared,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            ApiError::validation(
                "Content-Type",
                "send the request as `Content-Type: application/json`",
            ),
        );
        return finish(&shared, "invalid", started, response);
    }
    let bytes = match read_body(body, shared.state.limits.request_body_bytes_max).await {
        Ok(bytes) => bytes,
        Err(response) => return finish(&shared, "invalid", started, *response),
    };
    let incoming = serde_json::from_slice::<Value>(&bytes)
        .map_err(|error| ApiError::validation("body", format!("the body is not JSON: {error}")))
        .and_then(incoming_from_json);
    execute(
        shared,
        parts.headers,
        Method::POST,
        media,
        incoming,
        started,
    )
    .await
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Box<Response>> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .and_then(|source| source.downcast_ref::<http_body_util::LengthLimitError>())
                .is_some()
                || error.to_string().contains("length limit");
            let (status, api) = if too_large {
                (StatusCode::PAYLOAD_TOO_LARGE, body_limit_error(limit))
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    ApiError::validation("body", "the request body could not be read"),
                )
            };
            Err(Box::new(json_response(
                status,
                Media::Json,
                &error_body(&api),
            )))
        }
    }
}

async fn graphql_get(State(shared): State<Shared>, request: Request) -> Response {
    let started = Instant::now();
    let (mut parts, _body) = request.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return websocket(shared, &mut parts).await;
    }
    let params: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|Query(params)| params)
        .unwrap_or_default();
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && !params.contains_key("query") {
        return crate::web::graphiql();
    }
    let Some(media) = negotiate(&parts.headers) else {
        return not_acceptable(&shared);
    };
    let incoming = incoming_from_params(params);
    execute(shared, parts.headers, Method::GET, media, incoming, started).await
}

fn not_acceptable(shared: &Shared) -> Response {
    request_error(
        shared,
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        ApiError::validation(
            "Accept",
            "accept `application/graphql-response+json` or `application/json`",
        ),
    )
}

fn finish(shared: &Shared, operation: &str, started: Instant, response: Response) -> Response {
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::debug!(
        operation,
        status,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "graphql request"
    );
    shared.state.metrics.request(operation, status, elapsed);
    response
}

async fn execute(
    shared: Shared,
    headers: HeaderMap,
    method: Method,
    media: Media,
    incoming: Result<Incoming, ApiError>,
    started: Instant,
) -> Response {
    let principal = match authenticate(&shared, &headers) {
        Ok(principal) => principal,
        Err(error) => {
            let mut response = request_error(&shared, StatusCode::UNAUTHORIZED, media, error);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"journey\""),
            );
            return finish(&shared, "unauthenticated", started, response);
        }
    };
    let rate_key = principal
        .as_ref()
        .map_or("anonymous", |principal| principal.token_id.as_str());
    if let Err(wait) = shared.state.rate.check(rate_key, Instant::now()) {
        let error = ApiError::limit(
            "rateLimit",
            format!(
                "more than {} requests per second (burst {}) for this token; retry after {} ms",
                shared.state.limits.rate_per_second,
                shared.state.limits.rate_burst,
                wait.as_millis().max(1)
            ),
        );
        let mut response = request_error(&shared, StatusCode::TOO_MANY_REQUESTS, media, error);
        let seconds = wait.as_secs() + 1;
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return finish(&shared, "rate_limited", started, response);
    }
    let incoming = match incoming {
        Ok(incoming) => incoming,
        Err(error) => {
            let response = request_error(&shared, StatusCode::BAD_REQUEST, media, error);
            return finish(&shared, "invalid", started, response);
        }
    };
    let reason = match reason(&headers) {
        Ok(reason) => reason,
        Err(error) => {
            let response = request_error(&shared, StatusCode::BAD_REQUEST, media, error);
            return finish(&shared, "invalid", started, response);
        }
    };
    let document = shared.parsed.get(&incoming.query);
    let inspected = document
        .as_deref()
        .and_then(|document| inspect(document, incoming.operation_name.as_deref()));
    let operation = match &inspected {
        Some((_, field)) if shared.root_fields.contains(field) => field.clone(),
        Some(_) => "other".to_owned(),
        None => "invalid".to_owned(),
    };
    match inspected.as_ref().map(|(ty, _)| *ty) {
        Some(OperationType::Mutation) if method == Method::GET => {
            let mut response = request_error(
                &shared,
                StatusCode::METHOD_NOT_ALLOWED,
                media,
                ApiError::validation("query", "mutations are sent with POST, not GET"),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return finish(&shared, &operation, started, response);
        }
        Some(OperationType::Subscription) => {
            let response = request_error(
                &shared,
                StatusCode::BAD_REQUEST,
                media,
                ApiError::validation(
                    "query",
                    "subscriptions run over WebSocket (graphql-transport-ws) at /graphql/ws",
                ),
            );
            return finish(&shared, &operation, started, response);
        }
        _ => {}
    }

    let mut request = async_graphql::Request::new(incoming.query);
    if let Some(document) = document {
        request.set_parsed_query(ExecutableDocument::clone(&document));
    }
    if let Some(variables) = incoming.variables {
        request = request.variables(Variables::from_json(variables));
    }
    if let Some(name) = incoming.operation_name {
        request = request.operation_name(name);
    }
    if let Some(Value::Object(extensions)) = incoming.extensions {
        for (key, value) in extensions {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                request.extensions.insert(key, value);
            }
        }
    }
    let principal_for_audit = principal.clone();
    if let Some(principal) = principal {
        request = request.data(principal);
    }
    request = request.data(RequestReason(reason));

    // The request runs in its own task: a client that disconnects does not cancel a mutation
    // halfway (between its append and its audit entry), and a panicking resolver becomes an
    // INTERNAL error instead of a dropped connection.
    let is_mutation = matches!(inspected, Some((OperationType::Mutation, _)));
    let schema = shared.schema.clone();
    let mut task = tokio::spawn(async move { schema.execute(request).await });
    let timeout = shared.state.limits.request_timeout;
    let response = match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(response)) => response,
        Ok(Err(join_error)) => {
            let error = ApiError::internal(&format!("the request task failed: {join_error}"));
            let response = request_error(&shared, StatusCode::INTERNAL_SERVER_ERROR, media, error);
            return finish(&shared, &operation, started, response);
        }
        Err(_) => {
            // A query is stopped; a mutation runs to its end (so its append and its audit entry
            // stay together) while the client is told not to wait for it.
            if !is_mutation {
                task.abort();
            }
            let _ = shared.state.audit(crate::audit::AuditRecord {
                principal: principal_for_audit,
                operation: operation.clone(),
                query: Some(format!(
                    "stopped waiting after the request timeout of {} ms",
                    timeout.as_millis()
                )),
                outcome: Code::LimitExceeded.as_str().into(),
                ..crate::audit::AuditRecord::default()
            });
            let error = ApiError::limit(
                "requestTimeout",
                format!(
                    "the request took longer than {} ms; {}",
                    timeout.as_millis(),
                    if is_mutation {
                        "the mutation may still be recorded: retry it with the same eventId to learn its outcome"
                    } else {
                        "it was stopped"
                    }
                ),
            );
            let response = request_error(&shared, StatusCode::SERVICE_UNAVAILABLE, media, error);
            return finish(&shared, &operation, started, response);
        }
    };
    let (status, body) = shape(&shared, media, response);
    let response = text_response(status, media, body);
    finish(&shared, &operation, started, response)
}

/// Gives every error a code and turns the response into JSON with the status for `media`. The body
/// is assembled as text so that `data` keeps the order of the selection (serde_json's map would sort
/// it, and its order-preserving feature would change the ledger's canonical JSON).
fn shape(shared: &Shared, media: Media, response: async_graphql::Response) -> (StatusCode, String) {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    let mut errors = Vec::with_capacity(response.errors.len());
    for error in &response.errors {
        let mut value = serde_json::to_value(error).unwrap_or_else(|_| json!({}));
        let existing = value
            .pointer("/extensions/code")
            .and_then(Value::as_str)
            .and_then(Code::parse);
        let (code, limit, message) = match existing {
            Some(code) => (code, None, None),
            None if error.message == "Query is nested too deep." => (
                Code::LimitExceeded,
                Some("depthMax"),
                Some(format!(
                    "the query nests deeper than {} levels; split it",
                    shared.state.limits.depth_max
                )),
            ),
            None if error.message == "Query is too complex." => (
                Code::LimitExceeded,
                Some("complexityMax"),
                Some(format!(
                    "the query selects more than the complexity limit of {}; select fewer fields or split it",
                    shared.state.limits.complexity_max
                )),
            ),
            None => (Code::Validation, None, None),
        };
        if let Value::Object(object) = &mut value {
            if let Some(message) = message {
                object.insert("message".into(), Value::String(message));
            }
            let extensions = object
                .entry("extensions")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(extensions) = extensions {
                extensions.insert("code".into(), Value::String(code.as_str().into()));
                if let Some(limit) = limit {
                    extensions.insert("limit".into(), Value::String(limit.into()));
                }
            }
        }
        shared.state.metrics.error(code.as_str());
        errors.push(value);
    }
    let mut parts = Vec::with_capacity(3);
    if !request_error {
        let data = serde_json::to_string(&response.data).unwrap_or_else(|_| "null".into());
        parts.push(format!("\"data\":{data}"));
    }
    if !errors.is_empty() {
        parts.push(format!("\"errors\":{}", Value::Array(errors)));
    }
    if !response.extensions.is_empty() {
        let extensions =
            serde_json::to_string(&response.extensions).unwrap_or_else(|_| "null".into());
        parts.push(format!("\"extensions\":{extensions}"));
    }
    let status = match (request_error, media) {
        (true, Media::GraphQLResponseJson) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    (status, format!("{{{}}}", parts.join(",")))
}

async fn graphql_ws(State(shared): State<Shared>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    websocket(shared, &mut parts).await
}

/// Upgrades to a GraphQL WebSocket. The token comes from the upgrade request's `Authorization`
/// header or, for browsers that cannot set headers, from the `connection_init` payload
/// (`{"Authorization": "Bearer <token>"}`).
async fn websocket(shared: Shared, parts: &mut axum::http::request::Parts) -> Response {
    let protocol = match GraphQLProtocol::from_request_parts(parts, &()).await {
        Ok(protocol) => protocol,
        Err(status) => return (status, "use the graphql-transport-ws subprotocol").into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let mut data = Data::default();
    match authenticate(&shared, &parts.headers) {
        Ok(Some(principal)) => {
            if let Err(wait) = shared.state.rate.check(&principal.token_id, Instant::now()) {
                let error = ApiError::limit(
                    "rateLimit",
                    format!(
                        "too many requests for this token; retry after {} ms",
                        wait.as_millis().max(1)
                    ),
                );
                return request_error(&shared, StatusCode::TOO_MANY_REQUESTS, Media::Json, error);
            }
            data.insert(principal);
        }
        Ok(None) => {}
        Err(error) => {
            return request_error(&shared, StatusCode::UNAUTHORIZED, Media::Json, error);
        }
    }
    data.insert(RequestReason(reason(&parts.headers).ok().flatten()));
    let state = shared.state.clone();
    let schema = shared.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            GraphQLWebSocket::new(socket, schema, protocol)
                .with_data(data)
                .on_connection_init(move |payload| async move { connection_init(&state, &payload) })
                .keepalive_timeout(Duration::from_secs(60))
                .serve()
                .await;
        })
}

fn connection_init(state: &AppState, payload: &Value) -> async_graphql::Result<Data> {
    let mut data = Data::default();
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(key).and_then(Value::as_str))
        .map(str::to_owned)
        .or_else(|| {
            payload
                .get("token")
                .and_then(Value::as_str)
                .map(|token| format!("Bearer {token}"))
        });
    if let Some(header) = header {
        let principal = state
            .tokens
            .authenticate_header(&header)
            .map_err(|error| async_graphql::Error::new(error.to_string()))?;
        data.insert(principal);
    }
    Ok(data)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the server accepts work: not shutting down, the event hub is following the log, and
/// the projections (when the server runs them) have applied every event the log held a moment ago.
async fn readyz(State(shared): State<Shared>) -> Response {
    let state = &shared.state;
    let head = state.log.last_position().await;
    let shutting_down = state.is_shutting_down();
    let (log_ok, last_position) = match head {
        Ok(position) => (true, position),
        Err(_) => (false, None),
    };
    // Positions are not dense, so the hub's lag is counted by reading (one page at most).
    let lag_events = journey_core::log::events_after(
        state.log.as_ref(),
        state.hub.last_position(),
        journey_projections::LAG_COUNTED_MAX,
    )
    .await
    .unwrap_or_default();
    let (projections_ready, projections) = match &state.projections {
        None => (true, Value::Null),
        Some(projections) => match projections.status().await {
            Ok(status) => (
                status.lag_events == 0 && status.failure.is_none() && status.rebuild.is_none(),
                json!({
                    "lag_events": status.lag_events,
                    "checkpoint": status.checkpoint,
                    "head": status.head,
                    "rebuilding": status.rebuild.is_some(),
                    "failed": status.failure.is_some(),
                }),
            ),
            Err(_) => (false, json!({"failed": true})),
        },
    };
    // A replica is ready once it has reached its writer's head and follows it.
    let (replica_ready, replica) = match state.replica.get() {
        None => (true, Value::Null),
        Some(replica) => (
            replica.caught_up() && replica.failure().is_none(),
            replica.to_json(),
        ),
    };
    let ready = log_ok && !shutting_down && projections_ready && replica_ready;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "shutting_down": shutting_down,
        "log": {"open": log_ok, "last_position": last_position},
        "subscriptions": {"lag_events": lag_events},
        "projections": projections,
        "replica": replica,
    });
    json_response(status, Media::Json, &body)
}

/// `POST /admin/backup` (see `backup/online.rs`).
async fn admin_backup(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    crate::backup::online::handle(&shared.state, &headers, &body).await
}

async fn metrics(State(shared): State<Shared>) -> Response {
    let state = &shared.state;
    let mut text = state.metrics.render();
    text.push_str(&state.backups.render(state.ledger.clock().now()));
    if let Some(projections) = &state.projections {
        if let Ok(status) = projections.status().await {
            text.push_str(&crate::metrics::render_projections(&status));
        }
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_media_type() {
        let mut headers = HeaderMap::new();
        assert_eq!(negotiate(&headers), Some(Media::Json));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/graphql-response+json, application/json;q=0.9"),
        );
        assert_eq!(negotiate(&headers), Some(Media::GraphQLResponseJson));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(negotiate(&headers), Some(Media::Json));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        assert_eq!(negotiate(&headers), None);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/graphql-response+json;q=0.5, application/json"),
        );
        assert_eq!(negotiate(&headers), Some(Media::Json));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, application/graphql-response+json;q=0"),
        );
        assert_eq!(negotiate(&headers), Some(Media::Json));
    }

    #[test]
    fn root_fields_are_read_from_the_schema() {
        let fields = root_fields(&graphql::sdl());
        for field in [
            "person",
            "events",
            "auditLog",
            "me",
            "startCourse",
            "personEvents",
        ] {
            assert!(fields.contains(field), "{field}");
        }
        assert!(!fields.contains("timeline"));
    }
}
