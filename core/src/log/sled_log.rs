//! The embedded sled event log.
#[derive(Debug)]
pub struct SledLog;
#[derive(Debug)]
pub struct SledLogConfig;
