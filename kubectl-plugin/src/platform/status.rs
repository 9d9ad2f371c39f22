//! The status rules every platform shares: which conditions make a resource Ready, the status of
//! a site's Site, Links, Listeners and Connectors computed from the router's live state
//! ([`Statuses`]: the local site process writes it to files, a controller to the API server), and
//! the router snapshot ([`RouterStatusFile`]) behind `network status` and incoming links.

use std::collections::BTreeMap;

use skupper_core::resources::{
    Condition, Endpoint, Link, LinkRecord as SiteLinkRecord, LinkStatus, Listener, MultiKeyListener,
    MultiKeyListenerStatus, MultiKeyStrategyStatus, PriorityStrategyStatus, ServiceStatus, Site, SiteRecord,
    SiteStatus, WeightedStrategyStatus, condition,
};

use super::resources::Resources;
use crate::platform::SITE_CA;
use skupper_router::{KeyStrategy, LinkPhase, PathCount, RouteDecision, RouterConfig, RouterStatus, ServiceState};

/// Conditions that make a Site Ready (`Resolved` only with link access).
pub(crate) fn site_required(link_access: bool) -> &'static [&'static str] {
    if link_access {
        &[condition::CONFIGURED, condition::RUNNING, condition::RESOLVED]
    } else {
        &[condition::CONFIGURED, condition::RUNNING]
    }
}

/// Conditions that make a Listener or Connector Ready.
pub(crate) const SERVICE_REQUIRED: &[&str] = &[condition::CONFIGURED, condition::MATCHED];

/// What the runtime writes about the router (a subset of [`RouterStatus`], readable back).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouterStatusFile {
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
    /// The same for multi-key listeners, with the keys their connections went to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub multi_key_listeners: BTreeMap<String, MultiKeyRouting>,
}

/// Routing of one multi-key listener: which keys it can use now and where connections went.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MultiKeyRouting {
    /// `priority a, b` or `weighted a=1, b=2`.
    pub strategy: String,
    /// Keys with a reachable connector now, in the strategy's order.
    #[serde(default)]
    pub keys_reachable: Vec<String>,
    /// Whether its port accepts connections now.
    #[serde(default)]
    pub listening: bool,
    /// Connections routed since it started, by routing key.
    #[serde(default)]
    pub by_key: BTreeMap<String, u64>,
    /// Targets, paths and the last decision (its `key` says which key and why).
    #[serde(flatten)]
    pub routing: ListenerRouting,
}

/// One running router of a site with what it reports: on the local platform a site process
/// (its router group and pid), on Kubernetes the controller that runs it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouterReport {
    /// Router group (`skupper-router`, `skupper-router-2`).
    pub group: String,
    /// Process id of a local site process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The controller that runs the router (Kubernetes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// What the router reports.
    #[serde(flatten)]
    pub status: RouterStatusFile,
}

/// One router of the network as this router sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworkRecord {
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
pub(crate) struct LinkRecord {
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
pub(crate) struct ListenerRouting {
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
pub(crate) struct IncomingRecord {
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
    pub(crate) fn from_router(s: &RouterStatus, config: Option<&RouterConfig>) -> Self {
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
        let multi_key_listeners = s
            .multi_key_listeners
            .iter()
            .map(|(name, l)| {
                let strategy = match config.and_then(|c| c.multi_key_listeners.get(name)).map(|m| &m.strategy) {
                    Some(KeyStrategy::Priority(keys)) => format!("priority {}", keys.join(", ")),
                    Some(KeyStrategy::Weighted(keys)) => format!(
                        "weighted {}",
                        keys.iter().map(|(k, w)| format!("{k}={w}")).collect::<Vec<_>>().join(", ")
                    ),
                    None => String::new(),
                };
                let key = l.last_decision.as_ref().and_then(|d| d.key.as_ref()).map(|k| k.routing_key.clone());
                let routing = MultiKeyRouting {
                    strategy,
                    keys_reachable: l.keys_reachable.iter().map(|(k, _)| k.clone()).collect(),
                    listening: l.listening,
                    by_key: l.by_key.clone(),
                    routing: ListenerRouting {
                        routing_key: key.unwrap_or_default(),
                        routed: l.routing.clone(),
                        paths: l.paths.clone(),
                        unrouted: l.unrouted,
                        open_by_next_hop: l.open_by_next_hop.clone(),
                        last_decision: l.last_decision.clone(),
                    },
                };
                (name.clone(), routing)
            })
            .collect();
        Self {
            router_id,
            network,
            links,
            listeners,
            multi_key_listeners,
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

/// The status of a site's resources computed from its router's live state, kept between rounds
/// so that `lastTransitionTime` only moves when a condition changes.
#[derive(Debug, Default)]
pub(crate) struct Statuses {
    site: Option<SiteStatus>,
    links: BTreeMap<String, LinkStatus>,
    services: BTreeMap<(String, String), ServiceStatus>,
    multi_key_listeners: BTreeMap<String, MultiKeyListenerStatus>,
}

impl Statuses {
    /// The Site's status: `Configured`, `Running` (the router), `Resolved` (link access with
    /// `endpoints`), and the network as the router sees it (one record per site). `platform`
    /// names this site's platform in the records, `now` is RFC 3339.
    pub(crate) fn site(
        &mut self,
        site: &Site,
        endpoints: Vec<Endpoint>,
        platform: &str,
        router: &RouterStatus,
        router_error: Option<&str>,
        now: &str,
    ) -> SiteStatus {
        let link_access = site.spec.link_access_enabled();
        let req = site_required(link_access);
        let s = self.site.get_or_insert_with(SiteStatus::default);
        s.status.set_condition(Condition::ready(condition::CONFIGURED), req, Some(now));
        let running = match router_error {
            None => Condition::ready(condition::RUNNING),
            Some(e) => Condition::error(condition::RUNNING, format!("router not running: {e}")),
        };
        s.status.set_condition(running, req, Some(now));
        s.endpoints = if link_access { endpoints } else { Vec::new() };
        if link_access {
            let resolved = match (&router.link_access_error, s.endpoints.is_empty()) {
                (Some(e), _) => Condition::error(condition::RESOLVED, e.clone()),
                (None, true) => Condition::pending(condition::RESOLVED, "No endpoints"),
                (None, false) => Condition::ready(condition::RESOLVED),
            };
            s.status.set_condition(resolved, req, Some(now));
        } else {
            s.status.conditions.retain(|c| c.type_ != condition::RESOLVED);
            s.status.recompute(req, Some(now));
        }
        s.default_issuer = SITE_CA.into();
        // One record per site: the two routers of an HA site are one site, and the link between
        // them is not a site link.
        let mut sites: BTreeMap<&str, SiteRecord> = BTreeMap::new();
        for n in router.network.values() {
            let record = sites.entry(n.site_id.as_str()).or_insert_with(|| SiteRecord {
                id: n.site_id.clone(),
                name: n.name.clone(),
                namespace: n.namespace.clone(),
                platform: platform.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                links: Vec::new(),
                services: Vec::new(),
            });
            for peer in n.links.keys() {
                let Some(p) = router.network.get(peer) else { continue };
                if p.site_id == n.site_id || record.links.iter().any(|l| l.remote_site_id == p.site_id) {
                    continue;
                }
                record.links.push(SiteLinkRecord {
                    name: String::new(),
                    remote_site_id: p.site_id.clone(),
                    remote_site_name: p.name.clone(),
                    operational: true,
                });
            }
        }
        s.sites_in_network = i64::try_from(sites.len().max(1)).unwrap_or(1);
        s.network = sites.into_values().collect();
        s.clone()
    }

    /// A Link's status: `Configured` (its configuration problem, if any) and `Operational`
    /// from the router's link state, with the remote site.
    pub(crate) fn link(
        &mut self,
        link: &Link,
        config_error: Option<String>,
        router: &RouterStatus,
        router_error: Option<&str>,
        now: &str,
    ) -> LinkStatus {
        let s = self.links.entry(link.name().to_string()).or_default();
        let configured = match &config_error {
            Some(e) => Condition::error(condition::CONFIGURED, e.clone()),
            None => Condition::ready(condition::CONFIGURED),
        };
        s.status.set_condition(configured, Link::REQUIRED, Some(now));
        let state = router.links.get(link.name());
        let operational = match (router_error, state) {
            (Some(_), _) | (None, None) => Condition::pending(condition::OPERATIONAL, "Not Operational"),
            (None, Some(l)) => match l.phase {
                LinkPhase::Ready => Condition::ready(condition::OPERATIONAL),
                LinkPhase::Pending if l.message.is_empty() || l.message == "OK" => {
                    Condition::pending(condition::OPERATIONAL, "Not Operational")
                }
                LinkPhase::Pending => Condition::pending(condition::OPERATIONAL, l.message.clone()),
                LinkPhase::Error => Condition::error(condition::OPERATIONAL, l.message.clone()),
            },
        };
        s.status.set_condition(operational, Link::REQUIRED, Some(now));
        s.remote_site_id = state.map(|l| l.remote_site_id.clone()).unwrap_or_default();
        s.remote_site_name = state.map(|l| l.remote_site_name.clone()).unwrap_or_default();
        s.clone()
    }

    /// A Listener's or Connector's status: `Configured` and `Matched` from the router.
    pub(crate) fn service(
        &mut self,
        kind: &str,
        name: &str,
        state: Option<&ServiceState>,
        router_error: Option<&str>,
        now: &str,
    ) -> ServiceStatus {
        let s = self.services.entry((kind.to_string(), name.to_string())).or_default();
        let (configured, matched) = match (router_error, state) {
            (Some(e), _) => (Condition::error(condition::CONFIGURED, format!("router not running: {e}")), None),
            (None, None) => (Condition::pending(condition::CONFIGURED, "Not Configured"), None),
            (None, Some(st)) => {
                let c = if st.ok {
                    Condition::ready(condition::CONFIGURED)
                } else {
                    Condition::error(condition::CONFIGURED, st.message.clone())
                };
                (c, Some(st.matched))
            }
        };
        s.status.set_condition(configured, SERVICE_REQUIRED, Some(now));
        let other = if kind == Listener::KIND { "connectors" } else { "listeners" };
        let m = match matched {
            Some(true) => Condition::ready(condition::MATCHED),
            _ => Condition::pending(condition::MATCHED, format!("No matching {other}")),
        };
        s.status.set_condition(m, SERVICE_REQUIRED, Some(now));
        if kind == Listener::KIND {
            s.has_matching_connector = matched == Some(true);
        } else {
            s.has_matching_listener = matched == Some(true);
        }
        s.clone()
    }

    /// A MultiKeyListener's status (upstream's fields): `Configured` (the strategy is usable and
    /// the port bound), `Operational` (a key of the strategy has a reachable connector),
    /// `hasDestination` and the reachable keys of the strategy.
    pub(crate) fn multi_key_listener(
        &mut self,
        m: &MultiKeyListener,
        state: Option<&ServiceState>,
        router_error: Option<&str>,
        now: &str,
    ) -> MultiKeyListenerStatus {
        let req = MultiKeyListener::REQUIRED;
        let s = self.multi_key_listeners.entry(m.name().to_string()).or_default();
        let problem = m.spec.strategy.problem();
        let configured = match (problem, router_error, state) {
            (Some(p), _, _) => Condition::error(condition::CONFIGURED, format!("spec.strategy: {p}")),
            (None, Some(e), _) => Condition::error(condition::CONFIGURED, format!("router not running: {e}")),
            (None, None, None) => Condition::pending(condition::CONFIGURED, "Not Configured"),
            (None, None, Some(st)) if st.ok => Condition::ready(condition::CONFIGURED),
            (None, None, Some(st)) => Condition::error(condition::CONFIGURED, st.message.clone()),
        };
        s.status.set_condition(configured, req, Some(now));
        let matched = router_error.is_none() && state.is_some_and(|st| st.matched);
        let operational = if matched {
            Condition::ready(condition::OPERATIONAL)
        } else {
            Condition::pending(condition::OPERATIONAL, "No matching connectors")
        };
        s.status.set_condition(operational, req, Some(now));
        s.has_destination = matched;
        let reachable = state.map(|st| st.keys_reachable.clone()).unwrap_or_default();
        let weight = |k: &str| m.spec.strategy.weighted.as_ref().and_then(|w| w.routing_keys.get(k)).copied();
        s.strategy = match (&m.spec.strategy.priority, &m.spec.strategy.weighted) {
            (Some(_), None) => Some(MultiKeyStrategyStatus {
                priority: Some(PriorityStrategyStatus {
                    routing_keys_reachable: reachable.into_iter().map(|(k, _)| k).collect(),
                }),
                weighted: None,
            }),
            (None, Some(_)) => Some(MultiKeyStrategyStatus {
                priority: None,
                weighted: Some(WeightedStrategyStatus {
                    routing_keys_reachable: reachable
                        .into_iter()
                        .map(|(k, _)| {
                            let w = weight(&k).unwrap_or(0);
                            (k, w)
                        })
                        .collect(),
                }),
            }),
            _ => None,
        };
        s.clone()
    }

    /// Starts from the status `res` holds for what is not known yet (a controller that restarted
    /// keeps the stored `lastTransitionTime`s instead of rewriting every status).
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))] // the controller's
    pub(crate) fn prime(&mut self, res: &Resources) {
        if self.site.is_none()
            && let Some(site) = res.site.as_ref().filter(|s| s.status != SiteStatus::default())
        {
            self.site = Some(site.status.clone());
        }
        for (name, l) in &res.links {
            if l.status != LinkStatus::default() {
                self.links.entry(name.clone()).or_insert_with(|| l.status.clone());
            }
        }
        let services = res
            .listeners
            .iter()
            .map(|(n, l)| (Listener::KIND, n, &l.status))
            .chain(res.connectors.iter().map(|(n, c)| (skupper_core::resources::Connector::KIND, n, &c.status)));
        for (kind, name, status) in services {
            if *status != ServiceStatus::default() {
                self.services.entry((kind.to_string(), name.clone())).or_insert_with(|| status.clone());
            }
        }
    }

    /// Forgets resources that no longer exist.
    pub(crate) fn prune(&mut self, res: &Resources) {
        self.links.retain(|n, _| res.links.contains_key(n));
        self.multi_key_listeners.retain(|n, _| res.multi_key_listeners.contains_key(n));
        self.services.retain(|(k, n), _| res.contains(k, n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skupper_router::{IncomingLink, NetworkSite};

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
