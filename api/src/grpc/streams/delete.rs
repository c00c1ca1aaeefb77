//! `Streams.Delete` and `Streams.Tombstone`: on plain streams only. The ledger's streams are
//! immutable (a person's erasure is its own event, `erasePerson`), so deleting one is refused.

use journey_core::log::ExpectedRevision;
use journey_core::plain::{self, StreamKind};
use tonic::Status;

use crate::auth::{Principal, Role};
use crate::grpc::proto::event_store::client::streams::{delete_req, tombstone_req};
use crate::grpc::proto::event_store::client::{AllStreamPosition, StreamIdentifier};
use crate::state::AppState;

use super::append::{plain_failure, Outcome};
use super::status;

/// Which of the two deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Soft,
    Tombstone,
}

/// The expected revision of a delete request (both requests use the same four cases).
pub fn expected_of_delete(
    option: Option<delete_req::options::ExpectedStreamRevision>,
) -> ExpectedRevision {
    use delete_req::options::ExpectedStreamRevision as E;
    match option {
        Some(E::Revision(revision)) => ExpectedRevision::Exact(revision),
        Some(E::NoStream(_)) => ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(E::Any(_)) | None => ExpectedRevision::Any,
    }
}

pub fn expected_of_tombstone(
    option: Option<tombstone_req::options::ExpectedStreamRevision>,
) -> ExpectedRevision {
    use tombstone_req::options::ExpectedStreamRevision as E;
    match option {
        Some(E::Revision(revision)) => ExpectedRevision::Exact(revision),
        Some(E::NoStream(_)) => ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(E::Any(_)) | None => ExpectedRevision::Any,
    }
}

pub fn stream_name(identifier: Option<StreamIdentifier>) -> Result<String, Status> {
    String::from_utf8(
        identifier
            .map(|identifier| identifier.stream_name)
            .unwrap_or_default(),
    )
    .map_err(|_| Status::invalid_argument("the stream name is not UTF-8"))
}

/// Deletes `stream`; the position of the event that records the deletion.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    stream: &str,
    expected: ExpectedRevision,
    kind: Kind,
) -> Result<AllStreamPosition, Status> {
    match plain::classify(stream).map_err(|error| Status::invalid_argument(error.to_string()))? {
        StreamKind::Plain => {}
        StreamKind::Person(_)
        | StreamKind::Register(_)
        | StreamKind::Offer(_)
        | StreamKind::Volunteer(_) => {
            return Err(Status::failed_precondition(format!(
                "`{stream}` is a ledger stream and cannot be deleted: the ledger is immutable; erase a person's data with erasePerson, a volunteer's with eraseVolunteer"
            )))
        }
        StreamKind::Metadata | StreamKind::System => {
            return Err(status::access_denied(format!(
                "`{stream}` is a system stream and cannot be deleted"
            )))
        }
    }
    if !matches!(principal.role, Role::Admin | Role::Replication) {
        return Err(status::access_denied(format!(
            "plain streams are for the admin and replication roles, not {}",
            principal.role
        )));
    }
    let actor = principal.actor();
    let result = match kind {
        Kind::Soft => state.ledger.delete_plain(stream, expected, &actor).await,
        Kind::Tombstone => state.ledger.tombstone_plain(stream, expected, &actor).await,
    };
    match result {
        Ok(receipt) => Ok(AllStreamPosition {
            commit_position: receipt.position.raw(),
            prepare_position: receipt.position.raw(),
        }),
        Err(error) => match plain_failure(stream, error)? {
            // KurrentDB answers a delete's wrong expected version with a status, not a message.
            Outcome::WrongExpected { expected, current } => {
                Err(wrong_expected_status(expected, current))
            }
            Outcome::Written { .. } => Err(Status::internal("a refused delete reported a write")),
        },
    }
}

/// A delete's wrong expected version as KurrentDB sends it: `FAILED_PRECONDITION` with the
/// `wrong-expected-version` exception and the two revisions as trailers.
fn wrong_expected_status(expected: ExpectedRevision, current: Option<u64>) -> Status {
    let describe_expected = match expected {
        ExpectedRevision::Any => "-2".to_owned(),
        ExpectedRevision::NoStream => "-1".to_owned(),
        ExpectedRevision::StreamExists => "-4".to_owned(),
        ExpectedRevision::Exact(revision) => revision.to_string(),
    };
    let describe_current = current.map_or_else(|| "-1".to_owned(), |revision| revision.to_string());
    let mut status = Status::failed_precondition(format!(
        "Append failed due to WrongExpectedVersion. Expected version: {describe_expected}, Actual version: {describe_current}"
    ));
    let metadata = status.metadata_mut();
    metadata.insert(
        "exception",
        tonic::metadata::MetadataValue::from_static("wrong-expected-version"),
    );
    if let Ok(value) = describe_expected.parse() {
        metadata.insert("expected-version", value);
    }
    if let Ok(value) = describe_current.parse() {
        metadata.insert("actual-version", value);
    }
    status
}
