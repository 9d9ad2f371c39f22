//! Status of a site's resources as the CLI shows it: what the running site last wrote under
//! `runtime/status`, or — when the site is not running — what can be known without it
//! (configuration problems; everything else Pending, e.g. `Not Operational`).

use skupper_core::resources::{
    Condition, Connector, Link, LinkStatus, Listener, ServiceStatus, Site, SiteStatus, Status, condition,
};

use std::collections::BTreeMap;

use super::config::link_config;
use super::{Home, Resources};
use crate::router::{LinkPhase, PathCount, RouteDecision, RouterConfig, RouterStatus};

/// Conditions that make a Site Ready (`Resolved` only with link access).
pub fn site_required(link_access: bool) -> &'static [&'static str] {
    if link_access {
        &[condition::CONFIGURED, condition::RUNNING, condition::RESOLVED]
    } else {
        &[condition::CONFIGURED, condition::RUNNING]
    }
}

/// Conditions that make a Listener or Connector Ready.
pub const SERVICE_REQUIRED: &[&str] = &[condition::CONFIGURED, condition::MATCHED];

/// The status file of the router snapshot (`runtime/status/router.yaml`).
pub const ROUTER_STATUS: (&str, &str) = ("Router", "status");

/// The site's view of itself: the running site's status, or the offline one.
pub fn site(home: &Home, site: &Site, running: bool) -> Site {
    let mut out = site.clone();
    if running && let Some(s) = home.read_status::<SiteStatus>(Site::KIND, site.name()) {
        out.status = s;
        return out;
    }
    let link_access = site.spec.link_access_enabled();
    let mut st = SiteStatus::default();
    st.status.set_condition(Condition::ready(condition::CONFIGURED), site_required(link_access), None);
    if link_access && let Ok(Some(access)) = home.access() {
        st.endpoints = access.endpoints();
        st.status.set_condition(Condition::ready(condition::RESOLVED), site_required(link_access), None);
    }
    if running {
        // Running but no status yet: the site is still starting.
        st.status.set_condition(Condition::pending(condition::RUNNING, "Starting"), site_required(link_access), None);
    }
    out.status = st;
    out
}

/// A Link with its status.
pub fn link(home: &Home, res: &Resources, link: &Link, running: bool) -> Link {
    let mut out = link.clone();
    if running && let Some(s) = home.read_status::<LinkStatus>(Link::KIND, link.name()) {
        out.status = s;
        return out;
    }
    let edge = res.site.as_ref().is_some_and(|s| s.spec.edge);
    let mut st = LinkStatus::default();
    let configured = match link_config(link, res, edge).config_error {
        Some(e) => Condition::error(condition::CONFIGURED, e),
        None => Condition::ready(condition::CONFIGURED),
    };
    st.status.set_condition(configured, Link::REQUIRED, None);
    out.status = st;
    out
}

fn offline_service() -> ServiceStatus {
    let mut s = ServiceStatus::default();
    let mut st = Status::default();
    st.set_condition(Condition::ready(condition::CONFIGURED), SERVICE_REQUIRED, None);
    s.status = st;
    s
}

/// A Listener with its status.
pub fn listener(home: &Home, l: &Listener, running: bool) -> Listener {
    let mut out = l.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Listener::KIND, l.name()))
        .flatten()
        .unwrap_or_else(offline_service);
    out
}

/// A Connector with its status.
pub fn connector(home: &Home, c: &Connector, running: bool) -> Connector {
    let mut out = c.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Connector::KIND, c.name()))
        .flatten()
        .unwrap_or_else(offline_service);
    out
}

/// The last router snapshot of a running site (incoming links, network).
pub fn router(home: &Home, running: bool) -> Option<RouterStatusFile> {
    if !running {
        return None;
    }
    home.read_status(ROUTER_STATUS.0, ROUTER_STATUS.1)
}

/// What the runtime writes about the router (a subset of [`RouterStatus`], readable back).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterStatusFile {
    /// Links other sites dialled into this one (not the other router of this HA site).
    #[serde(default)]
    pub incoming: Vec<IncomingRecord>,
    /// Ids of sites known in the network.
    #[serde(default)]
    pub sites: Vec<String>,
    /// This router's id in the network (the site id; `<site id>/<group>` for an HA site's
    /// second router).
    #[serde(default)]
    pub router_id: String,
    /// Every router known in the network, with the path from this one.
    #[serde(default)]
    pub network: Vec<NetworkRecord>,
    /// Outgoing links of this router, by name.
    #[serde(default)]
    pub links: BTreeMap<String, LinkRecord>,
    /// Where each listener's connections went and why, by listener name.
    #[serde(default)]
    pub listeners: BTreeMap<String, ListenerRouting>,
}

/// One router of the network as this router sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRecord {
    /// Router id.
    pub id: String,
    /// Site id.
    pub site_id: String,
    /// Site name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Router group.
    pub group: String,
    /// Whether a path to it exists now.
    pub reachable: bool,
    /// Path cost: the sum of link costs on the cheapest path (0 for this router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u64>,
    /// Links on that path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<u32>,
    /// First router on that path (none for this router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<String>,
    /// Its links as it advertises them: neighbour router id -> link cost.
    #[serde(default)]
    pub links: BTreeMap<String, u32>,
    /// Routing keys of its connectors.
    #[serde(default)]
    pub connectors: Vec<String>,
}

/// An outgoing link as the router reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRecord {
    /// `Ready`, `Pending` or `Error`.
    pub phase: String,
    /// `OK` or why not.
    pub message: String,
    /// Remote site id.
    #[serde(default)]
    pub remote_site_id: String,
    /// Remote site name.
    #[serde(default)]
    pub remote_site_name: String,
    /// Effective cost: the max of both sides' settings once connected, else this side's.
    pub cost: u32,
}

/// Routing counters of one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRouting {
    /// Routing key.
    pub routing_key: String,
    /// Connections routed since the listener started, by target router id.
    #[serde(default)]
    pub routed: BTreeMap<String, u64>,
    /// The same by target, next hop and reason.
    #[serde(default)]
    pub paths: Vec<PathCount>,
    /// Connections refused because no target could be reached.
    #[serde(default)]
    pub unrouted: u64,
    /// Connections open now for the routing key, by next hop (the load of the routing choice).
    #[serde(default)]
    pub open_by_next_hop: BTreeMap<String, u32>,
    /// How the last connection was routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<RouteDecision>,
}

/// One incoming link.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingRecord {
    /// Remote site id.
    pub remote_site_id: String,
    /// Remote site name.
    pub remote_site_name: String,
    /// The link's name at the remote site.
    pub link_name: String,
    /// Negotiated cost.
    pub cost: u32,
}

impl RouterStatusFile {
    /// From the router's live status and the configuration it runs (for routing keys).
    pub fn from_router(s: &RouterStatus, config: Option<&RouterConfig>) -> Self {
        let me = s.network.values().find(|n| n.hops == Some(0));
        let router_id = me.map(|n| n.id.clone()).unwrap_or_default();
        let own_site = me.map(|n| n.site_id.clone()).unwrap_or_default();
        let network = s
            .network
            .values()
            .map(|n| NetworkRecord {
                id: n.id.clone(),
                site_id: n.site_id.clone(),
                name: n.name.clone(),
                namespace: n.namespace.clone(),
                group: n.group.clone(),
                reachable: n.cost.is_some(),
                cost: n.cost,
                hops: n.hops,
                next_hop: n.next_hop.clone(),
                links: n.links.clone(),
                connectors: n.connectors.clone(),
            })
            .collect();
        let links = s
            .links
            .iter()
            .map(|(name, l)| {
                let phase = match l.phase {
                    LinkPhase::Ready => "Ready",
                    LinkPhase::Pending => "Pending",
                    LinkPhase::Error => "Error",
                };
                let record = LinkRecord {
                    phase: phase.into(),
                    message: l.message.clone(),
                    remote_site_id: l.remote_site_id.clone(),
                    remote_site_name: l.remote_site_name.clone(),
                    cost: l.cost,
                };
                (name.clone(), record)
            })
            .collect();
        let listeners = s
            .listeners
            .iter()
            .map(|(name, l)| {
                let key = config.and_then(|c| c.listeners.get(name)).map(|c| c.routing_key.clone());
                let routing = ListenerRouting {
                    routing_key: key.unwrap_or_default(),
                    routed: l.routing.clone(),
                    paths: l.paths.clone(),
                    unrouted: l.unrouted,
                    open_by_next_hop: l.open_by_next_hop.clone(),
                    last_decision: l.last_decision.clone(),
                };
                (name.clone(), routing)
            })
            .collect();
        Self {
            router_id,
            network,
            links,
            listeners,
            incoming: s
                .incoming
                .iter()
                // The other router of this HA site is not a link anyone made.
                .filter(|i| own_site.is_empty() || i.remote_site_id.split('/').next() != Some(own_site.as_str()))
                .map(|i| IncomingRecord {
                    remote_site_id: i.remote_site_id.clone(),
                    remote_site_name: i.remote_site_name.clone(),
                    link_name: i.link_name.clone(),
                    cost: i.cost,
                })
                .collect(),
            sites: s.network.keys().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{IncomingLink, NetworkSite};

    fn node(id: &str, site: &str, group: &str, cost: Option<u64>, hops: Option<u32>) -> NetworkSite {
        NetworkSite {
            id: id.into(),
            site_id: site.into(),
            group: group.into(),
            hops,
            name: site.into(),
            namespace: site.into(),
            cost,
            next_hop: None,
            links: BTreeMap::new(),
            connectors: Vec::new(),
        }
    }

    #[test]
    fn router_file_knows_this_router_and_hides_the_ha_mesh_from_incoming_links() {
        let mut s = RouterStatus::default();
        for n in [
            node("w", "w", "skupper-router", Some(0), Some(0)),
            node("w/skupper-router-2", "w", "skupper-router-2", Some(1), Some(1)),
            node("e", "e", "skupper-router", None, None),
        ] {
            s.network.insert(n.id.clone(), n);
        }
        let incoming = |id: &str, link: &str| IncomingLink {
            remote_site_id: id.into(),
            remote_site_name: id.into(),
            link_name: link.into(),
            cost: 1,
        };
        s.incoming = vec![incoming("w/skupper-router-2", "ha-mesh"), incoming("e", "to-w")];
        let f = RouterStatusFile::from_router(&s, None);
        assert_eq!(f.router_id, "w");
        assert_eq!(f.incoming.iter().map(|i| i.link_name.as_str()).collect::<Vec<_>>(), ["to-w"]);
        let e = f.network.iter().find(|n| n.id == "e").expect("e");
        assert!(!e.reachable && e.cost.is_none());
        // Round trip through the file.
        let back: RouterStatusFile = serde_yaml::from_str(&serde_yaml::to_string(&f).expect("yaml")).expect("read");
        assert_eq!(back, f);
    }
}
