//! The gRPC endpoint of `journey serve --grpc-listen ADDR`: the KurrentDB client protocol next to
//! the HTTP listener, in the same process, on the same ledger and tokens.
//!
//! What it mounts: `ServerFeatures` and `Gossip` (this module's siblings) and `Streams`
//! (`grpc::streams`), all behind the credentials layer ([`super::auth`]). Every other service and
//! method answers `UNIMPLEMENTED`, which tonic's router does for paths it does not know.
//!
//! Message size limits are KurrentDB's defaults: `Streams` sets its own (it knows its largest
//! append), every other service accepts gRPC's 4 MiB, as KurrentDB leaves them; messages sent are not
//! limited.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use super::auth::{AuthLayer, CallerMode};
use super::features::{
    Features, ServedMethod, GOSSIP_METHODS, SERVER_FEATURES_METHODS, STREAMS_METHODS,
};
use super::gossip::SingleNode;
use super::proto::event_store::client::gossip::gossip_server::GossipServer;
use super::proto::event_store::client::server_features::server_features_server::ServerFeaturesServer;
use super::tcp::QuickAck;
use super::tls::{self, TlsError, TlsIdentity};
use super::StreamsConfig;
use crate::auth::Role;
use crate::state::AppState;

/// KurrentDB's default keep-alive interval and timeout of its gRPC connections.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(10);

/// The largest message the other services accept: gRPC's default, which KurrentDB keeps for them.
pub const OTHER_MAX_RECEIVE: usize = 4 * 1024 * 1024;

/// The `--grpc-*` flags of `journey serve`, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct GrpcFlags {
    pub listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_san: Vec<String>,
    pub insecure: bool,
    pub insecure_role: Option<Role>,
}

/// A checked gRPC configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcConfig {
    pub listen: SocketAddr,
    pub transport: GrpcTransport,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcTransport {
    /// TLS with the given certificate and key, or with the generated CA and the extra names.
    Tls {
        given: Option<(PathBuf, PathBuf)>,
        extra_names: Vec<String>,
    },
    /// Plain HTTP/2 on loopback; every call runs as `role`, or is refused without one.
    Insecure { role: Option<Role> },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrpcConfigError {
    #[error("--grpc-insecure serves without TLS and checks no credentials, so it listens on loopback only: {0} is not a loopback address; use 127.0.0.1 or [::1], or leave out --grpc-insecure to serve TLS")]
    InsecureNotLoopback(SocketAddr),
    #[error("--grpc-tls-cert and --grpc-tls-key go together: give both, or neither to use the CA generated into the data directory")]
    CertWithoutKey,
    #[error("--grpc-insecure serves no TLS: leave out --grpc-tls-cert, --grpc-tls-key and --grpc-tls-san, or leave out --grpc-insecure")]
    InsecureWithTls,
    #[error("--grpc-insecure-role needs --grpc-insecure (over TLS, each call runs as the role of its token)")]
    RoleWithoutInsecure,
    #[error("the --grpc-* flags need --grpc-listen ADDR (e.g. --grpc-listen 127.0.0.1:2113)")]
    NoListen,
    #[error("--grpc-insecure-role {0} is not possible: that role belongs to an agency and insecure mode carries none; serve TLS and use a token of that role")]
    RoleNeedsAgency(Role),
}

impl GrpcFlags {
    /// The checked configuration, or `None` without `--grpc-listen` and other gRPC flags.
    pub fn check(self) -> Result<Option<GrpcConfig>, GrpcConfigError> {
        let tls_flags =
            self.tls_cert.is_some() || self.tls_key.is_some() || !self.tls_san.is_empty();
        let Some(listen) = self.listen else {
            return if tls_flags || self.insecure || self.insecure_role.is_some() {
                Err(GrpcConfigError::NoListen)
            } else {
                Ok(None)
            };
        };
        if self.insecure {
            if tls_flags {
                return Err(GrpcConfigError::InsecureWithTls);
            }
            if !listen.ip().is_loopback() {
                return Err(GrpcConfigError::InsecureNotLoopback(listen));
            }
            if let Some(role) = self.insecure_role.filter(|role| *role == Role::Caseworker) {
                return Err(GrpcConfigError::RoleNeedsAgency(role));
            }
            return Ok(Some(GrpcConfig {
                listen,
                transport: GrpcTransport::Insecure {
                    role: self.insecure_role,
                },
            }));
        }
        if self.insecure_role.is_some() {
            return Err(GrpcConfigError::RoleWithoutInsecure);
        }
        let given = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(GrpcConfigError::CertWithoutKey),
        };
        Ok(Some(GrpcConfig {
            listen,
            transport: GrpcTransport::Tls {
                given,
                extra_names: self.tls_san,
            },
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrpcStartError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen for gRPC on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the TLS certificate or key cannot be used: {0}")]
    Identity(#[source] tonic::transport::Error),
    #[error("the gRPC endpoint failed: {0}")]
    Serve(#[source] tonic::transport::Error),
}

/// A bound endpoint with its TLS identity, not serving yet.
#[derive(Debug)]
pub struct GrpcEndpoint {
    listener: TcpListener,
    address: SocketAddr,
    tls: Option<TlsIdentity>,
    mode: CallerMode,
    streams: StreamsConfig,
}

impl GrpcEndpoint {
    /// Prepares the TLS identity (generating it on first start) and binds the socket.
    pub async fn bind(config: &GrpcConfig, data_dir: &Path) -> Result<Self, GrpcStartError> {
        let (tls, mode) = match &config.transport {
            GrpcTransport::Tls {
                given: Some((cert, key)),
                ..
            } => (Some(tls::load_given(cert, key)?), CallerMode::Credentials),
            GrpcTransport::Tls {
                given: None,
                extra_names,
            } => (
                Some(tls::generated(data_dir, extra_names)?),
                CallerMode::Credentials,
            ),
            GrpcTransport::Insecure { role } => (None, CallerMode::Insecure { role: *role }),
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| GrpcStartError::Bind {
                    address: config.listen,
                    source,
                })?;
        let address = listener
            .local_addr()
            .map_err(|source| GrpcStartError::Bind {
                address: config.listen,
                source,
            })?;
        Ok(Self {
            listener,
            address,
            tls,
            mode,
            streams: StreamsConfig::default(),
        })
    }

    /// The Streams service's limits, when not the defaults (tests of a dropped subscriber).
    pub fn with_streams_config(mut self, config: StreamsConfig) -> Self {
        self.streams = config;
        self
    }

    /// The address as bound (with the real port when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The generated CA's certificate, for clients' `tlsCaFile`.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().and_then(|tls| tls.ca_file.as_deref())
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` resolves, then lets calls in flight finish.
    pub async fn serve(
        self,
        state: AppState,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), GrpcStartError> {
        // HTTP/2 pings find clients that went away without closing (a subscriber whose machine
        // died), at KurrentDB's default keep-alive interval and timeout.
        // tonic's acceptor takes rustls's process-wide provider; with more than one compiled in
        // there is none unless installed (a second install is refused, which is fine).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE));
        if let Some(tls) = &self.tls {
            // tonic's TLS acceptor offers ALPN `h2` only, which is what gRPC clients ask for.
            builder = builder
                .tls_config(
                    ServerTlsConfig::new()
                        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem)),
                )
                .map_err(GrpcStartError::Identity)?;
        }
        let features = Features::new(&served_methods());
        let router = builder
            .layer(AuthLayer::new(state.clone(), self.mode))
            .add_service(
                ServerFeaturesServer::new(features).max_decoding_message_size(OTHER_MAX_RECEIVE),
            )
            .add_service(
                GossipServer::new(SingleNode::new(self.address))
                    .max_decoding_message_size(OTHER_MAX_RECEIVE),
            )
            // Streams sets its own receive limit (it knows its largest append).
            .add_service(super::streams_server_with(state, self.streams));
        // Every accepted connection acknowledges at once (`super::tcp`: clients that leave Nagle's
        // algorithm on would otherwise wait for the delayed-ACK timer on every call).
        let incoming = TcpIncoming::from(self.listener)
            .with_nodelay(Some(true))
            .map(|accepted| accepted.map(QuickAck::new));
        router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(GrpcStartError::Serve)
    }
}

/// The methods `GetSupportedMethods` lists: exactly those [`GrpcEndpoint::serve`] mounts.
fn served_methods() -> Vec<ServedMethod> {
    [STREAMS_METHODS, SERVER_FEATURES_METHODS, GOSSIP_METHODS].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(listen: &str) -> GrpcFlags {
        GrpcFlags {
            listen: Some(listen.parse().expect("address")),
            ..GrpcFlags::default()
        }
    }

    #[test]
    fn insecure_mode_is_refused_on_any_address_but_loopback() {
        let refused = GrpcFlags {
            insecure: true,
            ..flags("0.0.0.0:2113")
        }
        .check();
        assert_eq!(
            refused,
            Err(GrpcConfigError::InsecureNotLoopback(
                "0.0.0.0:2113".parse().expect("address")
            ))
        );
        for loopback in ["127.0.0.1:2113", "[::1]:2113"] {
            let accepted = GrpcFlags {
                insecure: true,
                insecure_role: Some(Role::Admin),
                ..flags(loopback)
            }
            .check()
            .expect("loopback")
            .expect("configured");
            assert_eq!(
                accepted.transport,
                GrpcTransport::Insecure {
                    role: Some(Role::Admin)
                }
            );
        }
    }

    #[test]
    fn flags_that_contradict_each_other_are_refused() {
        let cert_only = GrpcFlags {
            tls_cert: Some("cert.pem".into()),
            ..flags("127.0.0.1:0")
        };
        assert_eq!(cert_only.check(), Err(GrpcConfigError::CertWithoutKey));
        let insecure_with_san = GrpcFlags {
            insecure: true,
            tls_san: vec!["journey.example".into()],
            ..flags("127.0.0.1:0")
        };
        assert_eq!(
            insecure_with_san.check(),
            Err(GrpcConfigError::InsecureWithTls)
        );
        let role_over_tls = GrpcFlags {
            insecure_role: Some(Role::Analyst),
            ..flags("127.0.0.1:0")
        };
        assert_eq!(
            role_over_tls.check(),
            Err(GrpcConfigError::RoleWithoutInsecure)
        );
        let caseworker = GrpcFlags {
            insecure: true,
            insecure_role: Some(Role::Caseworker),
            ..flags("127.0.0.1:0")
        };
        assert_eq!(
            caseworker.check(),
            Err(GrpcConfigError::RoleNeedsAgency(Role::Caseworker))
        );
        let no_listen = GrpcFlags {
            insecure: true,
            ..GrpcFlags::default()
        };
        assert_eq!(no_listen.check(), Err(GrpcConfigError::NoListen));
        assert_eq!(GrpcFlags::default().check(), Ok(None));
    }
}
