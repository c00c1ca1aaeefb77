//! The errors of the Streams service as KurrentDB sends them: a gRPC status whose `exception`
//! trailer names the case, which the official clients turn into their typed errors.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::error::{ApiError, Code as ApiCode};

/// A status with KurrentDB's `exception` trailer and more trailers of its own.
fn with_exception(
    code: Code,
    message: impl Into<String>,
    exception: &'static str,
    more: &[(&'static str, String)],
) -> Status {
    let mut status = Status::new(code, message);
    let metadata = status.metadata_mut();
    metadata.insert("exception", MetadataValue::from_static(exception));
    for (key, value) in more {
        if let Ok(value) = MetadataValue::try_from(value.as_str()) {
            metadata.insert(*key, value);
        }
    }
    status
}

/// The caller's role may not do this (`PERMISSION_DENIED`, `exception: access-denied`).
pub fn access_denied(message: impl Into<String>) -> Status {
    with_exception(Code::PermissionDenied, message, "access-denied", &[])
}

/// The stream was tombstoned (`FAILED_PRECONDITION`, `exception: stream-deleted`, `stream-name`).
pub fn stream_deleted(stream: &str) -> Status {
    with_exception(
        Code::FailedPrecondition,
        format!("Event stream '{stream}' is deleted."),
        "stream-deleted",
        &[("stream-name", stream.to_owned())],
    )
}

/// An append larger than the limit (`INVALID_ARGUMENT`, `exception: maximum-append-size-exceeded`).
pub fn append_too_large(limit: usize) -> Status {
    with_exception(
        Code::InvalidArgument,
        format!("Maximum Append Size of {limit} Exceeded."),
        "maximum-append-size-exceeded",
        &[("maximum-append-size", limit.to_string())],
    )
}

/// The status of an error the GraphQL layer would give, with the same message.
pub fn from_api(error: ApiError) -> Status {
    match error.code {
        ApiCode::Validation | ApiCode::RuleViolation => Status::invalid_argument(error.message),
        ApiCode::Forbidden => access_denied(error.message),
        ApiCode::NotFound => Status::not_found(error.message),
        ApiCode::Conflict => Status::already_exists(error.message),
        ApiCode::Unauthenticated => Status::unauthenticated(error.message),
        ApiCode::LimitExceeded => Status::resource_exhausted(error.message),
        ApiCode::ReadReplica => Status::failed_precondition(error.message),
        ApiCode::Internal => Status::internal(error.message),
    }
}
