//! The EventStoreDB/KurrentDB client protocol over gRPC (issue 9): the generated messages and server
//! stubs, the endpoint ([`server`]), its credentials layer ([`auth`]), TLS ([`tls`]) and the services
//! around `Streams` ([`features`], [`gossip`]). The modules of `proto` nest as the protobuf
//! packages do, because the generated code names the types of other packages by relative paths
//! (`super::super::…`).

pub mod audit;
pub mod auth;
pub mod features;
pub mod gossip;
pub mod server;
pub mod tcp;
pub mod tls;

pub mod streams;
pub use streams::{streams_server, streams_server_with, StreamsConfig};

/// The generated code of the vendored `.proto` files (`api/proto/`).
#[allow(missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod proto {
    pub mod event_store {
        pub mod client {
            tonic::include_proto!("event_store.client");

            pub mod streams {
                tonic::include_proto!("event_store.client.streams");
            }

            pub mod server_features {
                tonic::include_proto!("event_store.client.server_features");
            }

            pub mod gossip {
                tonic::include_proto!("event_store.client.gossip");
            }
        }
    }

    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}

/// Who makes a gRPC call. The authentication layer (basic auth with a token as the password, or
/// `authorization: Bearer`, or the role of `--grpc-insecure-role`) puts it into every request's
/// extensions before a service sees the request; services read it from there and never parse
/// credentials themselves.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: crate::auth::Principal,
}
