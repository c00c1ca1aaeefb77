//! Named fault points for the crash tests: places where an acknowledged state spans two writes, and
//! a crash between them must leave a data directory that converges when it is opened again.
//!
//! Built with the cargo feature `fault-injection`, [`hit`] aborts the process (no unwinding, no
//! destructors, no flush: as close to a power cut as a test can get) when the environment variable
//! [`ENV`] names that point. The variable is read once per process. Without the feature, [`hit`] is
//! an empty inline function that reads nothing, so a release build carries no way to crash it on
//! purpose (the binary only warns when the variable is set anyway). The end-to-end tests in `tests/` switch the feature on (see ARCHITECTURE.md).

/// The environment variable that names the fault point to abort at.
pub const ENV: &str = "JOURNEY_FAULT";

/// Whether this build carries the fault points.
pub const ENABLED: bool = cfg!(feature = "fault-injection");

/// A place where a crash leaves one of two writes done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The `PersonalDataErased` event is durable; the person's data key is not destroyed yet.
    AbortAfterErasureAppend,
    /// A new person's data key is written; their first event is not appended yet.
    AbortAfterKeyCreation,
    /// The next epoch's key file is written; the batch that switches to it is not.
    AbortAfterEpochFile,
    /// The switch to the next epoch is durable; the previous epoch's key file is not deleted yet.
    AbortAfterEpochSwitch,
    /// An audit prune's anchor is durable; its `auditPrune` entry is not written yet.
    AbortAfterAuditAnchor,
    /// An audit prune's anchor and `auditPrune` entry are durable; the pruned entries are not
    /// removed yet.
    AbortAfterAuditPruneEntry,
    /// A projection snapshot is written and synced under its temporary name; not renamed yet.
    AbortBeforeSnapshotRename,
}

impl FaultPoint {
    /// Every fault point.
    pub const ALL: [FaultPoint; 7] = [
        FaultPoint::AbortAfterErasureAppend,
        FaultPoint::AbortAfterKeyCreation,
        FaultPoint::AbortAfterEpochFile,
        FaultPoint::AbortAfterEpochSwitch,
        FaultPoint::AbortAfterAuditAnchor,
        FaultPoint::AbortAfterAuditPruneEntry,
        FaultPoint::AbortBeforeSnapshotRename,
    ];

    /// The name [`ENV`] takes to arm this point.
    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::AbortAfterErasureAppend => "abort-after-erasure-append",
            FaultPoint::AbortAfterKeyCreation => "abort-after-key-creation",
            FaultPoint::AbortAfterEpochFile => "abort-after-epoch-file",
            FaultPoint::AbortAfterEpochSwitch => "abort-after-epoch-switch",
            FaultPoint::AbortAfterAuditAnchor => "abort-after-audit-anchor",
            FaultPoint::AbortAfterAuditPruneEntry => "abort-after-audit-prune-entry",
            FaultPoint::AbortBeforeSnapshotRename => "abort-before-snapshot-rename",
        }
    }

    /// The point named `name`, if any.
    pub fn from_name(name: &str) -> Option<FaultPoint> {
        FaultPoint::ALL
            .into_iter()
            .find(|point| point.name() == name)
    }
}

/// [`ENV`] names no fault point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{ENV}=`{name}` names no fault point; the fault points are: {}",
    known_names()
)]
pub struct UnknownFault {
    pub name: String,
}

fn known_names() -> String {
    FaultPoint::ALL.map(FaultPoint::name).join(", ")
}

/// The fault point that `value` (the value of [`ENV`]) arms: none for an unset or empty variable.
pub fn parse(value: Option<&str>) -> Result<Option<FaultPoint>, UnknownFault> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) => FaultPoint::from_name(name)
            .map(Some)
            .ok_or_else(|| UnknownFault {
                name: name.to_owned(),
            }),
    }
}

/// The fault point armed in this process, from [`ENV`], read once.
#[cfg(feature = "fault-injection")]
pub fn armed() -> Result<Option<FaultPoint>, UnknownFault> {
    static ARMED: std::sync::OnceLock<Result<Option<FaultPoint>, UnknownFault>> =
        std::sync::OnceLock::new();
    ARMED
        .get_or_init(|| parse(std::env::var(ENV).ok().as_deref()))
        .clone()
}

/// Without the feature no point is ever armed, whatever [`ENV`] says.
#[cfg(not(feature = "fault-injection"))]
pub fn armed() -> Result<Option<FaultPoint>, UnknownFault> {
    Ok(None)
}

/// Whether [`ENV`] names `point`: for a fault point that first makes durable what a crash there
/// may or may not have left on disk, so that the test meets the harder case every time.
#[cfg(feature = "fault-injection")]
pub fn is_armed(point: FaultPoint) -> bool {
    armed() == Ok(Some(point))
}

/// Without the feature `fault-injection` no point is armed.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn is_armed(_point: FaultPoint) -> bool {
    false
}

/// Aborts the process if [`ENV`] names `point` (only with the feature `fault-injection`).
#[cfg(feature = "fault-injection")]
pub fn hit(point: FaultPoint) {
    if is_armed(point) {
        eprintln!("fault injection: aborting at {}", point.name());
        std::process::abort();
    }
}

/// Without the feature `fault-injection` a fault point is nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn hit(_point: FaultPoint) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_found_by_its_name_and_the_names_are_distinct() {
        for point in FaultPoint::ALL {
            assert_eq!(FaultPoint::from_name(point.name()), Some(point));
        }
        let mut names = FaultPoint::ALL.map(FaultPoint::name).to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FaultPoint::ALL.len());
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some(" ")), Ok(None));
        assert_eq!(
            parse(Some("abort-after-erasure-append")),
            Ok(Some(FaultPoint::AbortAfterErasureAppend))
        );
        let error = parse(Some("abort-after-lunch")).expect_err("unknown");
        let message = error.to_string();
        assert!(message.contains("`abort-after-lunch`"), "{message}");
        assert!(
            message.contains("abort-before-snapshot-rename"),
            "{message}"
        );
    }
}
