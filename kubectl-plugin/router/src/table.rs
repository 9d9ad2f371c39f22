//! The routing view of one site: the link-state database (the newest [`Lsa`] of every known
//! site), this site's own advertisement, and the shortest paths computed from them with
//! `skupper_core::routing`. Pure and synchronous; the caller floods what it returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use skupper_core::resources::GROUP_PRIMARY;
use skupper_core::routing::{LinkStateGraph, Route, shortest_paths};

use super::proto::Lsa;
use crate::model::NetworkSite;

/// The id of a router in the link-state database: the site id for a site's first router
/// (`skupper-router`, the only one of a site without HA) and `<site id>/<group>` for the second
/// router of an HA site (`skupper-router-2`), so that both routers of one site are two nodes of
/// the network, linked to each other, as upstream's router ids `<site>-<pod>` are.
pub(crate) fn router_id(site_id: &str, group: &str) -> String {
    if group.is_empty() || group == GROUP_PRIMARY { site_id.to_string() } else { format!("{site_id}/{group}") }
}

/// The site id and router group of a router id made by [`router_id`].
pub(crate) fn split_router_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, GROUP_PRIMARY))
}

/// How long an unreachable site stays in the view before it is forgotten. Long enough for a
/// database exchange on a new link to deliver the LSAs that make it reachable again.
pub(crate) const UNREACHABLE_GRACE: Duration = Duration::from_secs(30);

/// What this site advertises about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct OwnAdvert {
    /// Site name.
    pub site_name: String,
    /// Namespace.
    pub namespace: String,
    /// Neighbour -> negotiated cost.
    pub neighbours: BTreeMap<String, u32>,
    /// Routing keys of local connectors (sorted, unique).
    pub connectors: Vec<String>,
    /// Routing keys of local listeners (sorted, unique).
    pub listeners: Vec<String>,
}

/// What [`Table::receive`] made of an LSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Newer than what we had: stored; flood it on.
    Newer,
    /// Not newer: dropped.
    Stale,
    /// An old advertisement of our own (from before a restart) came back with a sequence number
    /// at or above ours: re-originate above it.
    OwnOutdated,
}

/// The link-state database and routes of one site.
#[derive(Debug)]
pub(crate) struct Table {
    me: String,
    seq: u64,
    lsdb: BTreeMap<String, Lsa>,
    routes: BTreeMap<String, Route>,
    unreachable_since: BTreeMap<String, Instant>,
}

impl Table {
    /// A view with nothing but this site; `seq_base` should grow across restarts (start time).
    pub(crate) fn new(me: &str, seq_base: u64) -> Self {
        Self {
            me: me.into(),
            seq: seq_base,
            lsdb: BTreeMap::new(),
            routes: BTreeMap::new(),
            unreachable_since: BTreeMap::new(),
        }
    }

    /// This site's id.
    pub(crate) fn me(&self) -> &str {
        &self.me
    }

    /// Stores a new own advertisement if `advert` differs from the current one (or `force`), and
    /// returns it for flooding.
    pub(crate) fn originate(&mut self, advert: &OwnAdvert, force: bool) -> Option<Lsa> {
        if let Some(cur) = self.lsdb.get(&self.me) {
            let same = cur.site_name == advert.site_name
                && cur.namespace == advert.namespace
                && cur.neighbours == advert.neighbours
                && cur.connectors == advert.connectors
                && cur.listeners == advert.listeners;
            if same && !force {
                return None;
            }
        }
        self.seq = self.seq.saturating_add(1);
        let lsa = Lsa {
            site_id: self.me.clone(),
            site_name: advert.site_name.clone(),
            namespace: advert.namespace.clone(),
            seq: self.seq,
            neighbours: advert.neighbours.clone(),
            connectors: advert.connectors.clone(),
            listeners: advert.listeners.clone(),
        };
        self.lsdb.insert(self.me.clone(), lsa.clone());
        Some(lsa)
    }

    /// Takes in an LSA received from a neighbour.
    pub(crate) fn receive(&mut self, lsa: Lsa) -> Received {
        if lsa.site_id == self.me {
            if lsa.seq >= self.seq {
                self.seq = lsa.seq;
                return Received::OwnOutdated;
            }
            return Received::Stale;
        }
        if self.lsdb.get(&lsa.site_id).is_some_and(|cur| cur.seq >= lsa.seq) {
            return Received::Stale;
        }
        self.lsdb.insert(lsa.site_id.clone(), lsa);
        Received::Newer
    }

    /// Every stored LSA (for the database exchange on a new link).
    pub(crate) fn lsas(&self) -> impl Iterator<Item = &Lsa> {
        self.lsdb.values()
    }

    /// Recomputes the shortest paths and notes since when each site is unreachable.
    pub(crate) fn recompute(&mut self, now: Instant) {
        let mut graph = LinkStateGraph::new();
        for lsa in self.lsdb.values() {
            graph.set_site(&lsa.site_id, lsa.neighbours.iter().map(|(k, v)| (k.clone(), *v)));
        }
        self.routes = shortest_paths(&graph, &self.me);
        let routes = &self.routes;
        self.unreachable_since.retain(|site, _| !routes.contains_key(site));
        for site in self.lsdb.keys() {
            if !routes.contains_key(site) {
                self.unreachable_since.entry(site.clone()).or_insert(now);
            }
        }
    }

    /// Forgets sites unreachable for longer than `grace`; true if any was forgotten.
    pub(crate) fn prune(&mut self, now: Instant, grace: Duration) -> bool {
        let expired: Vec<String> = self
            .unreachable_since
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= grace)
            .map(|(s, _)| s.clone())
            .collect();
        for s in &expired {
            self.unreachable_since.remove(s);
            self.lsdb.remove(s);
        }
        !expired.is_empty()
    }

    /// The route to `site`, if reachable.
    pub(crate) fn route(&self, site: &str) -> Option<&Route> {
        self.routes.get(site)
    }

    /// Reachable other sites with a connector for `key`, in site-id order, with their route.
    pub(crate) fn remote_connectors<'a>(&'a self, key: &'a str) -> impl Iterator<Item = (&'a str, &'a Route)> + 'a {
        self.lsdb.values().filter_map(move |lsa| {
            if lsa.site_id == self.me || !lsa.connectors.iter().any(|k| k == key) {
                return None;
            }
            self.routes.get(&lsa.site_id).map(|r| (lsa.site_id.as_str(), r))
        })
    }

    /// Whether a reachable site other than this one has a connector for `key`.
    pub(crate) fn remote_connector_exists(&self, key: &str) -> bool {
        self.remote_connectors(key).next().is_some()
    }

    /// Whether a reachable site other than this one has a listener for `key`.
    pub(crate) fn remote_listener_exists(&self, key: &str) -> bool {
        self.lsdb.values().any(|lsa| {
            lsa.site_id != self.me && lsa.listeners.iter().any(|k| k == key) && self.routes.contains_key(&lsa.site_id)
        })
    }

    /// The network as this site sees it.
    pub(crate) fn view(&self) -> BTreeMap<String, NetworkSite> {
        self.lsdb
            .values()
            .map(|lsa| {
                let route = self.routes.get(&lsa.site_id);
                let (site_id, group) = split_router_id(&lsa.site_id);
                let site = NetworkSite {
                    id: lsa.site_id.clone(),
                    site_id: site_id.to_string(),
                    group: group.to_string(),
                    hops: route.map(|r| r.hops),
                    name: lsa.site_name.clone(),
                    namespace: lsa.namespace.clone(),
                    cost: route.map(|r| r.cost),
                    next_hop: route.filter(|_| lsa.site_id != self.me).map(|r| r.next_hop.clone()),
                    links: lsa.neighbours.clone(),
                    connectors: lsa.connectors.clone(),
                };
                (lsa.site_id.clone(), site)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(neighbours: &[(&str, u32)], connectors: &[&str]) -> OwnAdvert {
        OwnAdvert {
            site_name: "n".into(),
            namespace: "ns".into(),
            neighbours: neighbours.iter().map(|(s, c)| (s.to_string(), *c)).collect(),
            connectors: connectors.iter().map(|s| s.to_string()).collect(),
            listeners: vec![],
        }
    }

    /// The LSA `site` would originate.
    fn lsa(site: &str, seq: u64, neighbours: &[(&str, u32)], connectors: &[&str]) -> Lsa {
        let mut t = Table::new(site, seq - 1);
        t.originate(&advert(neighbours, connectors), false).expect("first advert")
    }

    #[test]
    fn originate_only_on_change_with_growing_seq() {
        let mut t = Table::new("a", 100);
        let first = t.originate(&advert(&[], &[]), false).expect("first");
        assert_eq!(first.seq, 101);
        assert!(t.originate(&advert(&[], &[]), false).is_none());
        let second = t.originate(&advert(&[("b", 1)], &[]), false).expect("changed");
        assert!(second.seq > first.seq);
        assert!(t.originate(&advert(&[("b", 1)], &[]), true).is_some_and(|l| l.seq > second.seq));
    }

    #[test]
    fn newer_lsas_replace_older_ones_and_stale_ones_are_dropped() {
        let mut t = Table::new("a", 0);
        assert_eq!(t.receive(lsa("b", 10, &[("a", 1)], &[])), Received::Newer);
        assert_eq!(t.receive(lsa("b", 10, &[("a", 1)], &["x"])), Received::Stale);
        assert_eq!(t.receive(lsa("b", 9, &[], &[])), Received::Stale);
        assert_eq!(t.receive(lsa("b", 11, &[("a", 1)], &["x"])), Received::Newer);
        assert_eq!(t.lsas().count(), 1);
        // Our own advertisement from a previous life, numbered above our current seq.
        t.originate(&advert(&[], &[]), false);
        assert_eq!(t.receive(lsa("a", 5000, &[], &[])), Received::OwnOutdated);
        assert!(t.originate(&advert(&[], &[]), true).is_some_and(|l| l.seq > 5000));
        assert_eq!(t.receive(lsa("a", 7, &[], &[])), Received::Stale);
    }

    #[test]
    fn multi_hop_routes_and_remote_keys() {
        let now = Instant::now();
        let mut t = Table::new("a", 0);
        t.originate(&advert(&[("b", 2)], &[]), false);
        t.receive(lsa("b", 1, &[("a", 1), ("c", 3)], &[]));
        t.receive(lsa("c", 1, &[("b", 1)], &["db"]));
        t.recompute(now);
        let r = t.route("c").expect("c reachable");
        assert_eq!((r.cost, r.next_hop.as_str()), (5, "b"));
        let found: Vec<&str> = t.remote_connectors("db").map(|(s, _)| s).collect();
        assert_eq!(found, ["c"]);
        assert!(!t.remote_connector_exists("other"));
        let view = t.view();
        assert_eq!(view["a"].cost, Some(0));
        assert_eq!(view["a"].next_hop, None);
        assert_eq!(view["c"].next_hop.as_deref(), Some("b"));
        assert_eq!((view["c"].hops, view["c"].group.as_str()), (Some(2), "skupper-router"));
    }

    #[test]
    fn the_routers_of_an_ha_site_are_two_nodes_of_one_site() {
        assert_eq!(router_id("s1", "skupper-router"), "s1");
        assert_eq!(router_id("s1", ""), "s1");
        let second = router_id("s1", "skupper-router-2");
        assert_eq!(second, "s1/skupper-router-2");
        assert_eq!(split_router_id(&second), ("s1", "skupper-router-2"));
        assert_eq!(split_router_id("s1"), ("s1", "skupper-router"));
        let mut t = Table::new("a", 0);
        t.originate(&advert(&[("s1", 1), (&second, 1)], &[]), false);
        t.receive(lsa("s1", 1, &[("a", 1), (&second, 1)], &["db"]));
        t.receive(lsa(&second, 1, &[("a", 1), ("s1", 1)], &["db"]));
        t.recompute(Instant::now());
        let found: Vec<&str> = t.remote_connectors("db").map(|(s, _)| s).collect();
        assert_eq!(found, ["s1", "s1/skupper-router-2"], "both routers of the HA site are targets");
        let view = t.view();
        assert_eq!((view[&second].site_id.as_str(), view[&second].group.as_str()), ("s1", "skupper-router-2"));
    }

    #[test]
    fn unreachable_sites_are_pruned_after_the_grace_period() {
        let t0 = Instant::now();
        let mut t = Table::new("a", 0);
        t.originate(&advert(&[("b", 1)], &[]), false);
        t.receive(lsa("b", 1, &[("a", 1), ("c", 1)], &[]));
        t.receive(lsa("c", 1, &[("b", 1)], &["db"]));
        t.recompute(t0);
        assert!(t.route("c").is_some());
        // The link a-b goes away: b and c become unreachable but stay visible for a while.
        t.originate(&advert(&[], &[]), false);
        t.recompute(t0);
        assert!(t.route("c").is_none());
        assert_eq!(t.view()["c"].cost, None);
        assert!(!t.remote_connector_exists("db"));
        assert!(!t.prune(t0 + UNREACHABLE_GRACE / 2, UNREACHABLE_GRACE));
        assert!(t.prune(t0 + UNREACHABLE_GRACE, UNREACHABLE_GRACE));
        assert_eq!(t.view().keys().collect::<Vec<_>>(), ["a"]);
    }
}
