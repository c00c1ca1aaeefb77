//! `event_store.client.server_features.ServerFeatures`: which methods this server serves, and the
//! KurrentDB version whose protocol it speaks.
//!
//! Clients decide by this answer which protocol paths they take: the Node and Rust clients append
//! through `BatchAppend` when it is listed, the Node client uses the multi-stream append of 25.1
//! (`kurrentdb.protocol.v2`) only when that method is listed, and persistent subscriptions to `$all`
//! only with their `all` feature. So the answer lists exactly the methods mounted, and the version is
//! one whose methods of the `event_store.client` protocol are all served: 24.10, the last version
//! before the v2 protocol.

use tonic::{Request, Response, Status};

use super::proto::event_store::client::server_features::{
    server_features_server::ServerFeatures, SupportedMethod, SupportedMethods,
};

/// The KurrentDB version this server answers as (digits and dots, as clients parse it).
pub const SERVER_VERSION: &str = "24.10.0";

/// One method of a mounted service, as `GetSupportedMethods` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedMethod {
    /// The full service name (`event_store.client.streams.Streams`).
    pub service: &'static str,
    /// The method name (`BatchAppend`).
    pub method: &'static str,
    /// The features KurrentDB announces for it.
    pub features: &'static [&'static str],
}

impl ServedMethod {
    pub const fn new(service: &'static str, method: &'static str) -> Self {
        Self {
            service,
            method,
            features: &[],
        }
    }
}

/// The methods of `Streams` this server serves, with the features KurrentDB 24.10 announces for
/// them (`Read`: checkpoints carry a position and count events; `BatchAppend`: a deadline given as a
/// duration).
pub const STREAMS_METHODS: &[ServedMethod] = &[
    ServedMethod {
        service: STREAMS_SERVICE,
        method: "Read",
        features: &["position", "events"],
    },
    ServedMethod::new(STREAMS_SERVICE, "Append"),
    ServedMethod {
        service: STREAMS_SERVICE,
        method: "BatchAppend",
        features: &["deadline_duration"],
    },
    ServedMethod::new(STREAMS_SERVICE, "Delete"),
    ServedMethod::new(STREAMS_SERVICE, "Tombstone"),
];

pub const STREAMS_SERVICE: &str =
    super::proto::event_store::client::streams::streams_server::SERVICE_NAME;

pub const SERVER_FEATURES_METHODS: &[ServedMethod] = &[ServedMethod::new(
    super::proto::event_store::client::server_features::server_features_server::SERVICE_NAME,
    "GetSupportedMethods",
)];

pub const GOSSIP_METHODS: &[ServedMethod] = &[ServedMethod::new(
    super::proto::event_store::client::gossip::gossip_server::SERVICE_NAME,
    "Read",
)];

/// The service: the answer is fixed when the server starts, from the methods it mounted.
#[derive(Debug, Clone)]
pub struct Features {
    answer: SupportedMethods,
}

impl Features {
    pub fn new(served: &[ServedMethod]) -> Self {
        Self {
            answer: SupportedMethods {
                // Lower case, as KurrentDB lists them and as the clients compare them.
                methods: served
                    .iter()
                    .map(|served| SupportedMethod {
                        method_name: served.method.to_lowercase(),
                        service_name: served.service.to_lowercase(),
                        features: served.features.iter().map(|f| (*f).to_owned()).collect(),
                    })
                    .collect(),
                event_store_server_version: SERVER_VERSION.to_owned(),
            },
        }
    }
}

#[tonic::async_trait]
impl ServerFeatures for Features {
    async fn get_supported_methods(
        &self,
        _request: Request<()>,
    ) -> Result<Response<SupportedMethods>, Status> {
        Ok(Response::new(self.answer.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_digits_and_dots_and_the_methods_are_lower_case() {
        assert!(SERVER_VERSION
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit())));
        let features = Features::new(STREAMS_METHODS);
        let batch = features
            .answer
            .methods
            .iter()
            .find(|method| method.method_name == "batchappend")
            .expect("BatchAppend listed");
        assert_eq!(batch.service_name, "event_store.client.streams.streams");
        assert_eq!(features.answer.methods.len(), STREAMS_METHODS.len());
    }
}
