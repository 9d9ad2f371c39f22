//! What the platform and the router exchange: the configuration of one site's router
//! ([`RouterConfig`] and its parts) and the status it reports back ([`RouterStatus`] and its
//! parts). Plain data; every other module of the router may use it, it uses none of them.

use std::collections::BTreeMap;
use std::time::Duration;

use skupper_core::resources::{ProxySettings, TlsMaterial};

use crate::explain::{PathCount, RouteDecision};
/// Everything the router needs to run one site. Applying a new config reconciles in place:
/// unchanged links, listeners and connectors keep their connections.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Stable id of this site (kept across restarts).
    pub site_id: String,
    /// Site name.
    pub site_name: String,
    /// Namespace the site lives in.
    pub namespace: String,
    /// Router group (`skupper-router` or `skupper-router-2` in HA).
    pub group: String,
    /// Where this site accepts links; `None` when link access is disabled.
    pub link_access: Option<LinkAccessConfig>,
    /// Outgoing links, by name.
    pub links: BTreeMap<String, LinkConfig>,
    /// Listeners, by name.
    pub listeners: BTreeMap<String, ListenerConfig>,
    /// Connectors, by name.
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// Multi-key listeners, by name.
    pub multi_key_listeners: BTreeMap<String, MultiKeyListenerConfig>,
    /// Reconnect policy of outgoing links.
    pub backoff: Backoff,
}

/// The link-access listeners of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAccessConfig {
    /// Interface to bind (`0.0.0.0`, `127.0.0.1`, ...).
    pub bind_host: String,
    /// Port of the `inter-router` role; `None` when the site's RouterAccess does not list the role
    /// (nothing listens for it).
    pub inter_router_port: Option<u16>,
    /// Port of the `edge` role; `None` when not listed.
    pub edge_port: Option<u16>,
    /// Server certificate and key; `ca_pem` is the site CA that client certificates must chain to.
    pub tls: TlsMaterial,
}

/// One outgoing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Endpoint host (verified against the server certificate's SANs).
    pub host: String,
    /// Endpoint port.
    pub port: u16,
    /// This side's cost setting (>= 1); the link's cost is the max of both sides'.
    pub cost: u32,
    /// Client certificate and key; `ca_pem` is the remote site's CA.
    pub tls: TlsMaterial,
    /// HTTP CONNECT proxy to dial through, with the Secret name it came from.
    pub proxy: Option<(String, ProxySettings)>,
    /// Set when the Link cannot be configured (missing Secret, bad PEM, ...): the router does not
    /// dial and reports this message as the link's status.
    pub config_error: Option<String>,
}

/// A listener: accepts TCP on host:port and forwards each connection to a connector with the
/// same routing key on any reachable site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Routing key.
    pub routing_key: String,
    /// Bind host.
    pub host: String,
    /// Bind port.
    pub port: u16,
    /// Serve TLS to clients (`spec.tlsCredentials`).
    pub tls: Option<ServiceTls>,
    /// Set when the listener cannot be configured (its TLS Secret is missing or unusable): it is
    /// not bound, and this is its status message.
    pub config_error: Option<String>,
}

/// How a multi-key listener picks the routing key of each new connection; keys without a
/// reachable connector anywhere in the network are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStrategy {
    /// Every connection to the first key (in this order) that has a destination.
    Priority(Vec<String>),
    /// Connections split in proportion to the weights among the keys that have a destination
    /// (smooth weighted round-robin: exact proportions, no randomness). Weight 0: never chosen.
    Weighted(Vec<(String, u64)>),
}

impl KeyStrategy {
    /// Every key the strategy names, in its order.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Self::Priority(k) => k.iter().map(String::as_str).collect(),
            Self::Weighted(k) => k.iter().map(|(k, _)| k.as_str()).collect(),
        }
    }
}

/// A multi-key listener: a listener whose connections go to one of several routing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiKeyListenerConfig {
    /// Where it listens (its `routing_key` is not used).
    pub listener: ListenerConfig,
    /// How each connection's routing key is chosen.
    pub strategy: KeyStrategy,
}

/// A connector: dials host:port for each connection routed to its routing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Routing key.
    pub routing_key: String,
    /// Target host.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// Speak TLS to the target (`spec.tlsCredentials`).
    pub tls: Option<ServiceTls>,
    /// Set when the connector cannot be configured (its TLS Secret is missing or unusable): it
    /// takes no connections, and this is its status message.
    pub config_error: Option<String>,
}

/// Application TLS of a listener (toward its clients) or a connector (toward its target), from
/// the Secret named by `spec.tlsCredentials`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTls {
    /// The Secret's name (messages name it).
    pub secret: String,
    /// Listener: `tls.crt` and `tls.key` are served. Connector: `ca.crt` verifies the target;
    /// `tls.crt` and `tls.key` are presented with `use_client_cert` (else they may be empty).
    pub material: TlsMaterial,
    /// Connector: the target's certificate must be valid for the connector's host.
    pub verify_hostname: bool,
    /// Connector: present `tls.crt`/`tls.key` as a client certificate.
    pub use_client_cert: bool,
}

/// Exponential backoff with jitter for reconnecting links; retries forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

/// State of one outgoing link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LinkPhase {
    /// Not connected yet (first attempt under way).
    Pending,
    /// Connected and the remote site answered.
    Ready,
    /// The last attempt failed; retrying.
    Error,
}

/// What the router reports about one outgoing link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkState {
    /// Phase.
    pub phase: LinkPhase,
    /// `OK` when ready; otherwise a specific reason (TLS refused, unreachable, proxy 407, ...).
    pub message: String,
    /// Remote site id, once known.
    pub remote_site_id: String,
    /// Remote site name, once known.
    pub remote_site_name: String,
    /// Effective (negotiated) cost, once connected; else the configured one.
    pub cost: u32,
    /// The proxy Secret used, if any.
    pub proxy: Option<String>,
}

/// What the router reports about a listener or connector.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceState {
    /// Whether it is working (bound, for listeners).
    pub ok: bool,
    /// `OK`, or why not (bind failed, no matching connector, ...).
    pub message: String,
    /// Listener: a connector for the key is reachable. Connector: a listener exists somewhere.
    pub matched: bool,
    /// Listener: the bound port (useful when configured with port 0).
    pub port: Option<u16>,
    /// Listener: connections routed so far, by target site id (this site's id for local
    /// connectors).
    pub routing: BTreeMap<String, u64>,
    /// Listener: connections closed because no target could be reached.
    pub unrouted: u64,
    /// Connector: connections currently open to its target.
    pub open: u32,
    /// Listener: connections routed so far, by target, next hop and reason.
    pub paths: Vec<PathCount>,
    /// Listener: connections open now for its routing key, by next hop (this router's id for
    /// local connectors): the load metric of the routing choice.
    pub open_by_next_hop: BTreeMap<String, u32>,
    /// Listener: how the last connection was routed, with every target's score.
    pub last_decision: Option<RouteDecision>,
    /// It cannot be configured (its TLS Secret is missing or unusable; `message` says why): not
    /// bound, not tried again until its configuration changes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub config_error: bool,
    /// Listener: whether its port accepts connections now (it does only while a routing key
    /// it serves has a reachable connector; otherwise connections are refused).
    pub listening: bool,
    /// Multi-key listener: the keys that have a destination now (strategy order), with weights.
    pub keys_reachable: Vec<(String, u64)>,
    /// Multi-key listener: connections routed so far, by routing key.
    pub by_key: BTreeMap<String, u64>,
}

/// A link some other site dialed into this one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingLink {
    /// Remote site id.
    pub remote_site_id: String,
    /// Remote site name.
    pub remote_site_name: String,
    /// Link name as the remote site calls it.
    pub link_name: String,
    /// Negotiated cost.
    pub cost: u32,
}

/// One site (one router of it, for an HA site) of the network as this router sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSite {
    /// Router id: the site id, or `<site id>/<group>` for the second router of an HA site.
    pub id: String,
    /// Site id.
    pub site_id: String,
    /// Router group (`skupper-router`, `skupper-router-2`).
    pub group: String,
    /// Links on the path from this router; `None` if unreachable.
    pub hops: Option<u32>,
    /// Site name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Path cost from this site (0 for itself); `None` if unreachable.
    pub cost: Option<u64>,
    /// Next hop site id toward it.
    pub next_hop: Option<String>,
    /// Its neighbours and link costs.
    pub links: BTreeMap<String, u32>,
    /// Routing keys of its connectors.
    pub connectors: Vec<String>,
}

/// A snapshot of the router's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterStatus {
    /// Outgoing links, by name.
    pub links: BTreeMap<String, LinkState>,
    /// Incoming links.
    pub incoming: Vec<IncomingLink>,
    /// Listeners, by name.
    pub listeners: BTreeMap<String, ServiceState>,
    /// Connectors, by name.
    pub connectors: BTreeMap<String, ServiceState>,
    /// Multi-key listeners, by name.
    pub multi_key_listeners: BTreeMap<String, ServiceState>,
    /// Known sites, by id.
    pub network: BTreeMap<String, NetworkSite>,
    /// Error binding the link-access listeners, if any.
    pub link_access_error: Option<String>,
    /// The bound link-access ports (useful when configured with port 0).
    pub link_access_ports: Option<LinkAccessPorts>,
}

impl RouterStatus {
    /// What the router is trying again because it failed: binding link access, binding a
    /// listener. One line each, naming it; empty when everything is bound.
    pub fn bind_errors(&self) -> Vec<String> {
        let access = self.link_access_error.iter().map(|e| format!("link access: {e}"));
        let listeners = self
            .listeners
            .iter()
            .map(|(name, l)| ("listener", name, l))
            .chain(self.multi_key_listeners.iter().map(|(name, l)| ("multikeylistener", name, l)))
            .filter(|(_, _, l)| !l.ok && l.port.is_none() && !l.config_error)
            .map(|(word, name, l)| format!("{word} {name}: {}", l.message));
        access.chain(listeners).collect()
    }
}

/// The ports link access is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkAccessPorts {
    /// `inter-router` port (0: the role is not listened for).
    pub inter_router: u16,
    /// `edge` port (0: the role is not listened for).
    pub edge: u16,
}

/// Process-level settings of a router (not part of a site's resources).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Bind listener ports with SO_REUSEPORT, so that the other router of an HA site can accept
    /// connections on the same ports.
    pub share_listener_ports: bool,
    /// TLS connections each outgoing link opens to carry its streams (1 to 16; 0 means 1).
    /// More than one lets a busy link encrypt and decrypt on several cores.
    pub link_connections: usize,
}
