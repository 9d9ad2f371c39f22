//! Routing-cost math as pure functions: shortest paths over the link-state graph and the
//! per-connection choice of a target (reference §5.3 and §5.4, upstream
//! `skupper-router:src/router_core/forwarder.c` `qdr_forward_balanced_CT`).
//!
//! Site ids are plain strings; the caller owns the counters and the graph.

use alloc::collections::{BTreeMap, BTreeSet, BinaryHeap};
use alloc::string::String;
use core::cmp::Reverse;

/// The cost of one link as both ends agree on it: the max of both sides' settings, at least 1
/// (reference §5.2: either side can raise the cost, neither can lower it).
pub fn negotiated_cost(local: u32, remote: u32) -> u32 {
    local.max(remote).max(1)
}

/// The link-state database: for each site, its links to neighbours with their cost.
///
/// A link counts only when both ends report it (two-way check), as link-state routers do, so a
/// half-torn-down link is never used. When the two ends disagree on the cost, the max wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStateGraph {
    adj: BTreeMap<String, BTreeMap<String, u32>>,
}

impl LinkStateGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces everything `site` reports about its neighbours.
    pub fn set_site(&mut self, site: &str, neighbours: impl IntoIterator<Item = (String, u32)>) {
        self.adj.insert(site.into(), neighbours.into_iter().collect());
    }

    /// Forgets a site.
    pub fn remove_site(&mut self, site: &str) {
        self.adj.remove(site);
    }

    /// Sites known to the graph.
    pub fn sites(&self) -> impl Iterator<Item = &str> {
        self.adj.keys().map(String::as_str)
    }

    /// The cost of the link between `a` and `b` when both report it.
    pub fn link_cost(&self, a: &str, b: &str) -> Option<u32> {
        let ab = self.adj.get(a)?.get(b)?;
        let ba = self.adj.get(b)?.get(a)?;
        Some(negotiated_cost(*ab, *ba))
    }

    /// Neighbours of `a` over two-way links, with the negotiated cost.
    pub fn neighbours<'a>(&'a self, a: &'a str) -> impl Iterator<Item = (&'a str, u32)> + 'a {
        self.adj
            .get(a)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(move |b| self.link_cost(a, b).map(|c| (b.as_str(), c)))
    }
}

/// How to reach one destination site from the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Total cost: the sum of link costs along the path (0 for the root itself).
    pub cost: u64,
    /// The neighbour of the root on the path (the root itself for the root).
    pub next_hop: String,
    /// Number of links on the path.
    pub hops: u32,
}

/// Dijkstra from `root` over two-way links. Ties are broken by the lexicographically smallest
/// next hop so that the result does not depend on insertion order.
pub fn shortest_paths(graph: &LinkStateGraph, root: &str) -> BTreeMap<String, Route> {
    let mut best: BTreeMap<String, Route> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut heap = BinaryHeap::new();
    best.insert(root.into(), Route { cost: 0, next_hop: root.into(), hops: 0 });
    heap.push(Reverse((0u64, String::from(root), String::from(root), 0u32)));
    while let Some(Reverse((cost, site, hop, hops))) = heap.pop() {
        if !done.insert(site.clone()) {
            continue;
        }
        for (n, c) in graph.neighbours(&site) {
            let next_cost = cost + u64::from(c);
            let next_hop = if site == root { String::from(n) } else { hop.clone() };
            let better = match best.get(n) {
                None => true,
                Some(r) => next_cost < r.cost || (next_cost == r.cost && next_hop < r.next_hop),
            };
            if better && !done.contains(n) {
                best.insert(n.into(), Route { cost: next_cost, next_hop: next_hop.clone(), hops: hops + 1 });
                heap.push(Reverse((next_cost, n.into(), next_hop, hops + 1)));
            }
        }
    }
    best
}

/// One place a new connection could go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Connections currently open through this candidate (per routing key and next hop).
    pub open: u32,
    /// Path cost: 0 for a local target, the summed link cost for a remote one.
    pub path_cost: u64,
    /// Whether the target is on this site.
    pub local: bool,
}

/// Why [`choose`] picked what it picked, for explaining routing to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A local target with no open connection: remote ones were not considered.
    IdleLocal(usize),
    /// The candidate with the lowest `open + path_cost`.
    LowestScore(usize),
}

impl Choice {
    /// Index of the chosen candidate.
    pub fn index(self) -> usize {
        match self {
            Self::IdleLocal(i) | Self::LowestScore(i) => i,
        }
    }
}

/// The score of a candidate: open connections plus path cost.
pub fn score(c: &Candidate) -> u64 {
    u64::from(c.open) + c.path_cost
}

/// Picks where a new connection goes (reference §5.4).
///
/// Locals are scored by their open connections (cost 0); if a local target is idle, remote
/// targets are not considered. Otherwise the lowest `open + path_cost` wins. Ties keep the
/// earlier candidate, so callers list locals first and remotes in a stable order. A target that
/// went away is simply absent from `candidates`, which is what makes failover independent of cost.
pub fn choose(candidates: &[Candidate]) -> Option<Choice> {
    let lowest = |local: bool| {
        candidates.iter().enumerate().filter(move |(_, c)| c.local == local).map(|(i, c)| (i, score(c))).fold(
            None,
            |best: Option<(usize, u64)>, (i, s)| if best.is_none_or(|(_, b)| s < b) { Some((i, s)) } else { best },
        )
    };
    let local = lowest(true);
    if let Some((i, 0)) = local {
        return Some(Choice::IdleLocal(i));
    }
    match (local, lowest(false)) {
        (Some((l, ls)), Some((r, rs))) => Some(Choice::LowestScore(if rs < ls { r } else { l })),
        (Some((i, _)), None) | (None, Some((i, _))) => Some(Choice::LowestScore(i)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    fn graph(edges: &[(&str, &str, u32)]) -> LinkStateGraph {
        let mut adj: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
        for (a, b, c) in edges {
            adj.entry(a.to_string()).or_default().push((b.to_string(), *c));
            adj.entry(b.to_string()).or_default().push((a.to_string(), *c));
        }
        let mut g = LinkStateGraph::new();
        for (s, n) in adj {
            g.set_site(&s, n);
        }
        g
    }

    #[test]
    fn path_cost_is_the_sum_and_next_hop_is_a_neighbour() {
        let g = graph(&[("a", "b", 1), ("b", "c", 1), ("a", "c", 5)]);
        let r = shortest_paths(&g, "a");
        assert_eq!(r["c"], Route { cost: 2, next_hop: "b".into(), hops: 2 });
        assert_eq!(r["a"].cost, 0);
    }

    #[test]
    fn one_way_links_do_not_count_and_max_cost_wins() {
        let mut g = LinkStateGraph::new();
        g.set_site("a", vec![("b".into(), 1)]);
        assert!(!shortest_paths(&g, "a").contains_key("b"));
        g.set_site("b", vec![("a".into(), 7)]);
        assert_eq!(shortest_paths(&g, "a")["b"].cost, 7);
    }

    #[test]
    fn cheap_path_fills_until_open_exceeds_the_cost_difference() {
        // Two remote paths of cost 1 and 5: simulate N long-lived connections.
        let mut open = [0u32; 2];
        let costs = [1u64, 5];
        let mut picks = Vec::new();
        for _ in 0..10 {
            let cands: Vec<Candidate> =
                (0..2).map(|i| Candidate { open: open[i], path_cost: costs[i], local: false }).collect();
            let i = choose(&cands).expect("a target").index();
            open[i] += 1;
            picks.push(i);
        }
        // Scores level out: cheap path takes 5 first (1..5 < 5 fails at open=4: 4+1=5 not < 5).
        assert_eq!(picks, vec![0, 0, 0, 0, 0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn idle_local_wins_whatever_the_remote_cost() {
        let c = [Candidate { open: 0, path_cost: 0, local: true }, Candidate { open: 0, path_cost: 1, local: false }];
        assert_eq!(choose(&c), Some(Choice::IdleLocal(0)));
        assert_eq!(choose(&c[1..]), Some(Choice::LowestScore(0)));
        assert_eq!(choose(&[]), None);
    }
}
