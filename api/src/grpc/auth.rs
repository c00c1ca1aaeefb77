//! Credentials of the gRPC endpoint: a tower layer in front of every service.
//!
//! KurrentDB's clients send a user name and password as basic auth (`kurrentdb://user:pass@host`);
//! journey has tokens, not users, so the password is a journey token and the user name is free
//! (clients need one). `authorization: Bearer TOKEN` works too. The layer turns valid credentials
//! into a [`Caller`] in the request's extensions, answers `UNAUTHENTICATED` to wrong or revoked
//! ones, and audits every call it lets through, as the GraphQL endpoint does. Services decide what
//! a role may do and refuse with `streams::status::access_denied` (`PERMISSION_DENIED` with
//! KurrentDB's `exception: access-denied` trailer), which this layer uses too. Streaming calls
//! that began get a second entry when they end ([`super::audit`]).
//!
//! `ServerFeatures` and `Gossip` also answer callers without credentials: clients call them while
//! connecting, before and without their credentials (the Rust client never sends any there), and
//! they tell nothing about the ledger. Wrong credentials are refused there too.
//!
//! In insecure mode (`--grpc-insecure`, loopback only) credentials are not checked, like KurrentDB's
//! insecure mode: every call runs as `--grpc-insecure-role`, or is refused when none is given.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{self, HeaderMap, Request, Response};
use base64::Engine;
use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::audit::{AuditedBody, CallNotes, Closing, STREAMING_CALLS, WRITE_CALLS};
use super::gossip::{authority_host, CallAuthority};
use super::streams::status::access_denied;
use super::Caller;
use crate::audit::AuditRecord;
use crate::auth::{AuthError, Principal, Role};
use crate::state::AppState;

/// The outcome of a write call's opening entry, written before the call runs.
pub const BEGUN: &str = "begun";

/// The token id and name recorded for calls of insecure mode, which carry no token.
pub const INSECURE_PRINCIPAL: &str = "grpc-insecure";

/// The services a caller without credentials may call (see the module documentation).
const PUBLIC_SERVICES: [&str; 2] = [
    super::proto::event_store::client::server_features::server_features_server::SERVICE_NAME,
    super::proto::event_store::client::gossip::gossip_server::SERVICE_NAME,
];

/// How the endpoint identifies callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerMode {
    /// Basic auth with a token as the password, or a bearer token.
    Credentials,
    /// `--grpc-insecure`: every call runs as this role; `None` refuses every call.
    Insecure { role: Option<Role> },
}

/// The layer; see the module documentation.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: AppState,
    mode: CallerMode,
}

impl AuthLayer {
    pub fn new(state: AppState, mode: CallerMode) -> Self {
        Self {
            shared: Arc::new(Shared { state, mode }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service the layer wraps around the routes.
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for Authenticate<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The service that was polled ready serves this call; the clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let public = PUBLIC_SERVICES
                .iter()
                .any(|service| service_of(&path) == *service);
            let principal = match shared.identify(request.headers(), public) {
                Ok(principal) => principal,
                Err(status) => return Ok((*status).into_http()),
            };
            let reason = match crate::http::reason(request.headers()) {
                Ok(reason) => reason,
                Err(error) => {
                    return Ok(Status::invalid_argument(error.message).into_http());
                }
            };
            if let Some(host) = authority(&request) {
                request.extensions_mut().insert(CallAuthority(host));
            }
            let notes = Arc::new(CallNotes::default());
            if let Some(principal) = &principal {
                request.extensions_mut().insert(Caller {
                    principal: principal.clone(),
                });
                request.extensions_mut().insert(notes.clone());
            }
            // A call that writes is audited before it runs (write-ahead): its opening entry is
            // in the store before anything the call writes, so the event log's group commit that
            // makes the call's events durable makes the entry durable too, and the call pays no
            // flush of its own. Its closing entry tells the outcome.
            let writes = WRITE_CALLS.contains(&path.as_str());
            let operation_name = operation(&path);
            let record = |outcome: String| AuditRecord {
                principal: principal.clone(),
                operation: operation_name.clone(),
                reason: reason.clone(),
                outcome,
                ..AuditRecord::default()
            };
            let opened = match writes.then(|| shared.state.audit_written(record(BEGUN.into()))) {
                None => None,
                Some(Ok(written)) => Some(written),
                Some(Err(error)) => {
                    tracing::error!(message = %error.message, "cannot audit a gRPC call; refusing it");
                    return Ok(refused_unaudited());
                }
            };
            let response = inner.call(request).await?;
            let Some(principal) = principal.clone() else {
                return Ok(response);
            };
            let outcome = outcome(response.headers());
            let begun = outcome == "ok";
            let streaming = STREAMING_CALLS.contains(&path.as_str());
            let entry = match opened {
                Some(opened) => {
                    // A unary call's outcome is final when its answer begins: its closing entry
                    // now. A refused call wrote nothing, so no group commit covered its opening
                    // entry: both are flushed before the refusal goes out. An accepted call's
                    // closing entry reaches the disk with the next group commit.
                    let mut durable = opened.ticket;
                    if !(streaming && begun) {
                        let closing = Closing {
                            state: shared.state.clone(),
                            principal: principal.clone(),
                            operation: operation_name.clone(),
                            reason: reason.clone(),
                            opened_as: opened.entry.seq,
                            notes: notes.clone(),
                            durable: false,
                        };
                        match closing.write(outcome.clone()) {
                            Ok(written) if !begun => durable = written.ticket,
                            Ok(_) => {}
                            Err(()) => return Ok(refused_unaudited()),
                        }
                    }
                    if let Err(error) = shared.state.audit.flush_through(durable).await {
                        tracing::error!(%error, "cannot flush the audit entry of a gRPC call; refusing it");
                        return Ok(refused_unaudited());
                    }
                    opened.entry
                }
                None => {
                    // A call that reads is audited when its answer begins, with its outcome, before
                    // its messages go out: an unaudited read of personal data must not happen, so a
                    // failed write refuses the call.
                    match shared.state.audit(record(outcome)) {
                        Ok(entry) => entry,
                        Err(error) => {
                            tracing::error!(message = %error.message, "cannot audit a gRPC call; refusing it");
                            return Ok(refused_unaudited());
                        }
                    }
                }
            };
            // A streaming call that began is audited again when it ends (`super::audit`).
            if begun && streaming {
                let closing = Closing {
                    state: shared.state.clone(),
                    principal,
                    operation: operation_name,
                    reason,
                    opened_as: entry.seq,
                    notes,
                    durable: writes,
                };
                return Ok(response.map(|body| AuditedBody::wrap(body, closing)));
            }
            Ok(response)
        })
    }
}

impl Shared {
    /// The caller of a request: `Ok(None)` for a call without credentials to a public service.
    ///
    /// The refusal is boxed: a `Status` is large, and this is not a hot path.
    fn identify(
        &self,
        headers: &HeaderMap,
        public: bool,
    ) -> Result<Option<Principal>, Box<Status>> {
        match self.mode {
            CallerMode::Insecure { role: Some(role) } => Ok(Some(Principal {
                token_id: INSECURE_PRINCIPAL.to_owned(),
                name: Some(INSECURE_PRINCIPAL.to_owned()),
                role,
                agency: None,
            })),
            CallerMode::Insecure { role: None } if public => Ok(None),
            CallerMode::Insecure { role: None } => Err(Box::new(access_denied(
                "this server runs with --grpc-insecure and without --grpc-insecure-role, so it refuses every call; \
                 restart it with --grpc-insecure-role ROLE, or serve TLS and connect with a token",
            ))),
            CallerMode::Credentials => {
                let Some(value) = headers.get(http::header::AUTHORIZATION) else {
                    return if public {
                        Ok(None)
                    } else {
                        Err(Box::new(Status::unauthenticated(
                            "this call needs credentials: a journey token as the password of basic auth, with any user name \
                             (kurrentdb://user:TOKEN@host:port), or `authorization: Bearer TOKEN`; create one with `journey token create`",
                        )))
                    };
                };
                let token = presented_token(value.as_bytes())?;
                self.state
                    .tokens
                    .authenticate(&token)
                    .map(Some)
                    .map_err(|error| {
                        Box::new(match error {
                            AuthError::Unknown => Status::unauthenticated(
                                "the token is not valid (unknown or revoked); create one with `journey token create`",
                            ),
                            AuthError::Malformed => Status::unauthenticated(error.to_string()),
                        })
                    })
            }
        }
    }
}

/// The answer to a call whose audit entry cannot be written or flushed.
fn refused_unaudited() -> Response<Body> {
    Status::internal("the audit log cannot be written; the call is refused").into_http()
}

/// The token of an `authorization` value: the password of `Basic base64(user:password)` or the
/// token of `Bearer TOKEN`.
fn presented_token(value: &[u8]) -> Result<String, Box<Status>> {
    let malformed = || {
        Box::new(Status::unauthenticated(
            "the authorization metadata must be `Basic base64(user:TOKEN)` or `Bearer TOKEN`",
        ))
    };
    let value = std::str::from_utf8(value).map_err(|_| malformed())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(malformed)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Ok(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| malformed())?;
        let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
        let (_user, password) = decoded.split_once(':').ok_or_else(malformed)?;
        return Ok(password.to_owned());
    }
    Err(malformed())
}

/// `event_store.client.streams.Streams` of `/event_store.client.streams.Streams/Read`.
fn service_of(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// The audit log's operation of a call: `grpc Streams.Read`, short like the GraphQL field names.
fn operation(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("grpc {service}.{method}")
}

/// `ok`, or the code of a call refused before any message (a trailers-only response). A stream
/// that fails later was begun, and is recorded as `ok`; its closing entry (`super::audit`) tells
/// how it ended.
fn outcome(headers: &HeaderMap) -> String {
    match Status::from_header_map(headers) {
        Some(status) if status.code() != Code::Ok => code_name(status.code()),
        _ => "ok".to_owned(),
    }
}

/// The code's name as the gRPC specification writes it (`PERMISSION_DENIED`).
pub fn code_name(code: Code) -> String {
    let camel = format!("{code:?}");
    let mut name = String::with_capacity(camel.len() + 4);
    for (index, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The host the client addressed: the URI's authority (HTTP/2 `:authority`), else `Host`.
fn authority<B>(request: &Request<B>) -> Option<String> {
    let authority = request
        .uri()
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|host| host.to_str().ok())
                .map(str::to_owned)
        })?;
    Some(authority_host(&authority).to_owned()).filter(|host| !host.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_carries_the_token_as_its_password_and_any_user_name() {
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:jrn_abc");
        assert_eq!(
            presented_token(format!("Basic {basic}").as_bytes()).expect("basic"),
            "jrn_abc"
        );
        assert_eq!(
            presented_token(b"Bearer jrn_def").expect("bearer"),
            "jrn_def"
        );
        for malformed in [&b"Basic !!"[..], b"Digest x", b"jrn_abc", b"Bearer "] {
            assert_eq!(
                presented_token(malformed).expect_err("malformed").code(),
                Code::Unauthenticated
            );
        }
    }

    #[test]
    fn operations_and_outcomes_are_named_for_the_audit_log() {
        assert_eq!(
            operation("/event_store.client.streams.Streams/Read"),
            "grpc Streams.Read"
        );
        assert_eq!(code_name(Code::PermissionDenied), "PERMISSION_DENIED");
        assert_eq!(code_name(Code::Ok), "OK");
        let mut headers = HeaderMap::new();
        assert_eq!(outcome(&headers), "ok");
        Status::unauthenticated("no")
            .add_header(&mut headers)
            .expect("header");
        assert_eq!(outcome(&headers), "UNAUTHENTICATED");
    }
}
