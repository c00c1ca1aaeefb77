//! `event_store.client.gossip.Gossip.Read`: the cluster as clients discover it, which here is one
//! node, the leader. `esdb+discover://` and `kurrentdb+discover://` connection strings ask this first
//! and then connect to the member's endpoint, so the member names the host the client reached this
//! server by (the request's authority) and the port the gRPC endpoint listens on: a name the
//! client can connect to and that the server certificate carries.

use std::time::{SystemTime, UNIX_EPOCH};

use tonic::{Request, Response, Status};

use super::proto::event_store::client::gossip::{
    gossip_server::Gossip, member_info::VNodeState, ClusterInfo, EndPoint, MemberInfo,
};
use super::proto::event_store::client::{uuid as proto_uuid, Uuid as ProtoUuid};

/// The host a call was addressed to (`:authority` without the port), put into the request's
/// extensions by the authentication layer, which sees the HTTP request.
#[derive(Debug, Clone)]
pub struct CallAuthority(pub String);

#[derive(Debug, Clone)]
pub struct SingleNode {
    instance: ::uuid::Uuid,
    /// The address the endpoint is bound to, used when a request names no authority.
    bound: std::net::SocketAddr,
}

impl SingleNode {
    pub fn new(bound: std::net::SocketAddr) -> Self {
        Self {
            instance: ::uuid::Uuid::new_v4(),
            bound,
        }
    }

    fn member(&self, host: Option<&str>) -> MemberInfo {
        let address = host.map_or_else(|| self.bound.ip().to_string(), str::to_owned);
        MemberInfo {
            instance_id: Some(ProtoUuid {
                value: Some(proto_uuid::Value::String(self.instance.to_string())),
            }),
            time_stamp: ticks_now(),
            state: VNodeState::Leader as i32,
            is_alive: true,
            http_end_point: Some(EndPoint {
                address,
                port: u32::from(self.bound.port()),
            }),
        }
    }
}

/// Now in 100 ns ticks since the Unix epoch, the unit of the protocol's times.
fn ticks_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_nanos() / 100).unwrap_or(i64::MAX)
        })
}

/// The host of an authority (`host:port`, `[v6]:port` or a bare host), without brackets.
pub fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[tonic::async_trait]
impl Gossip for SingleNode {
    async fn read(&self, request: Request<()>) -> Result<Response<ClusterInfo>, Status> {
        let host = request
            .extensions()
            .get::<CallAuthority>()
            .map(|authority| authority.0.as_str());
        Ok(Response::new(ClusterInfo {
            members: vec![self.member(host)],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_is_the_leader_at_the_host_the_client_used() {
        assert_eq!(authority_host("localhost:2113"), "localhost");
        assert_eq!(authority_host("[::1]:2113"), "::1");
        assert_eq!(authority_host("journey.example"), "journey.example");
        let node = SingleNode::new("127.0.0.1:2113".parse().expect("address"));
        let member = node.member(Some("localhost"));
        assert_eq!(member.state, VNodeState::Leader as i32);
        assert!(member.is_alive);
        let endpoint = member.http_end_point.expect("endpoint");
        assert_eq!(
            (endpoint.address.as_str(), endpoint.port),
            ("localhost", 2113)
        );
        let fallback = node.member(None).http_end_point.expect("endpoint");
        assert_eq!(fallback.address, "127.0.0.1");
    }
}
