//! Network scale by simulation: many sites' routing state machines (the real [`Table`]: the
//! link-state database, own advertisements, shortest paths) joined by in-memory links, with
//! the routers' flooding rules: a new link exchanges the whole database both ways, an LSA that
//! is newer than the stored one is kept and passed on to every other neighbour, an older one is
//! dropped. Control bytes are counted as the frames would be written (`proto`: a length prefix
//! and the JSON body of `Control::Lsa`).
//!
//! Each link has an outbox per direction that, like a router's, keeps only the newest queued
//! LSA of each site, so a burst of advertisements is sent once. One simplification: routes are
//! computed once per site per phase (a router recomputes after each newer LSA; one
//! computation's time is reported on its own).
//!
//! `netsim_scale` (ignored: a benchmark; `scripts/netsim.sh` runs it in release mode) prints,
//! for 100 and 1,000 sites in a random mesh and in a hub-and-spoke: messages, bytes and rounds
//! (flooding depth) to converge from nothing, after a site joins and after a link fails, the
//! time of one route computation, and the database every site holds. The other tests check that the
//! simulation converges to the true shortest paths.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::proto::{Control, Lsa};
use super::table::{OwnAdvert, Received, Table};

/// One simulated site.
struct Site {
    table: Table,
    advert: OwnAdvert,
}

/// What one phase of the simulation cost.
#[derive(Debug, Default, Clone, Copy)]
struct Phase {
    messages: u64,
    bytes: u64,
    /// Flooding depth: the longest chain of messages the phase needed.
    rounds: u32,
    /// CPU time of the phase: every table's receives and one route computation per site that
    /// learnt something.
    elapsed: Duration,
}

/// Sites `0..n` and their links (cost 1), with a FIFO of messages in flight.
struct Net {
    sites: Vec<Site>,
    links: BTreeMap<usize, Vec<usize>>,
    /// Outboxes with something queued, in the order they got it.
    ready: VecDeque<(usize, usize)>,
    /// Per direction of a link: the newest queued LSA of each site, and its flooding depth.
    outbox: BTreeMap<(usize, usize), BTreeMap<String, (Lsa, u32)>>,
    /// Sites whose database changed since their last route computation.
    dirty: Vec<bool>,
}

fn id(i: usize) -> String {
    format!("site-{i:04}")
}

/// Bytes of the frame that carries `lsa`: a 4-byte length and the JSON body.
fn frame_bytes(lsa: &Lsa) -> u64 {
    4 + serde_json::to_vec(&Control::Lsa(lsa.clone())).map(|v| v.len() as u64).unwrap_or(0)
}

impl Net {
    fn new(n: usize) -> Self {
        let sites = (0..n)
            .map(|i| Site {
                table: Table::new(&id(i), 0),
                advert: OwnAdvert {
                    site_name: format!("s{i}"),
                    namespace: "sim".into(),
                    neighbours: BTreeMap::new(),
                    connectors: vec![format!("key-{}", i % 10)],
                    listeners: Vec::new(),
                },
            })
            .collect();
        Self { sites, links: BTreeMap::new(), ready: VecDeque::new(), outbox: BTreeMap::new(), dirty: vec![true; n] }
    }

    /// A new site, `sites.len()`, linked to nothing yet.
    fn add_site(&mut self) -> usize {
        let i = self.sites.len();
        self.sites.push(Site { table: Table::new(&id(i), 0), advert: OwnAdvert::default() });
        self.dirty.push(true);
        self.originate(i);
        i
    }

    /// Queues `lsa` on the link from `from` to `to`, replacing an older queued one of its site.
    fn send(&mut self, from: usize, to: usize, lsa: Lsa, depth: u32) {
        let queued = self.outbox.entry((from, to)).or_default();
        if queued.is_empty() {
            self.ready.push_back((from, to));
        }
        if queued.get(&lsa.site_id).is_none_or(|(q, _)| q.seq < lsa.seq) {
            queued.insert(lsa.site_id.clone(), (lsa, depth));
        }
    }

    /// `i` advertises its current neighbours and floods the new LSA.
    fn originate(&mut self, i: usize) {
        let site = &mut self.sites[i];
        if let Some(lsa) = site.table.originate(&site.advert, false) {
            self.dirty[i] = true;
            let neighbours = self.links.get(&i).cloned().unwrap_or_default();
            for n in neighbours {
                self.send(i, n, lsa.clone(), 1);
            }
        }
    }

    /// A new link between `a` and `b`: both advertise it and exchange their databases.
    fn link(&mut self, a: usize, b: usize) {
        self.links.entry(a).or_default().push(b);
        self.links.entry(b).or_default().push(a);
        self.sites[a].advert.neighbours.insert(id(b), 1);
        self.sites[b].advert.neighbours.insert(id(a), 1);
        self.originate(a);
        self.originate(b);
        for (x, y) in [(a, b), (b, a)] {
            let all: Vec<Lsa> = self.sites[x].table.lsas().cloned().collect();
            for lsa in all {
                self.send(x, y, lsa, 1);
            }
        }
    }

    /// The link between `a` and `b` goes down: both advertise its absence.
    fn unlink(&mut self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(v) = self.links.get_mut(&x) {
                v.retain(|&n| n != y);
            }
            self.sites[x].advert.neighbours.remove(&id(y));
        }
        self.originate(a);
        self.originate(b);
    }

    /// Delivers every message in flight (and what they cause), then recomputes the routes of
    /// every site that learnt something.
    fn run(&mut self) -> Phase {
        let started = Instant::now();
        let mut phase = Phase::default();
        let mut changed = std::mem::take(&mut self.dirty);
        while let Some((from, to)) = self.ready.pop_front() {
            let batch = self.outbox.remove(&(from, to)).unwrap_or_default();
            for (lsa, depth) in batch.into_values() {
                phase.messages += 1;
                phase.bytes += frame_bytes(&lsa);
                phase.rounds = phase.rounds.max(depth);
                let neighbours = self.links.get(&to).cloned().unwrap_or_default();
                match self.sites[to].table.receive(lsa.clone()) {
                    Received::Newer => {
                        changed[to] = true;
                        for &n in neighbours.iter().filter(|&&n| n != from) {
                            self.send(to, n, lsa.clone(), depth + 1);
                        }
                    }
                    Received::OwnOutdated => {
                        let site = &mut self.sites[to];
                        if let Some(own) = site.table.originate(&site.advert, true) {
                            for &n in &neighbours {
                                self.send(to, n, own.clone(), depth + 1);
                            }
                        }
                    }
                    Received::Stale => {}
                }
            }
        }
        let now = Instant::now();
        for (site, changed) in self.sites.iter_mut().zip(&changed) {
            if *changed {
                site.table.recompute(now);
            }
        }
        self.dirty = vec![false; self.sites.len()];
        phase.elapsed = started.elapsed();
        phase
    }

    /// Hop counts from `from` to every site by breadth-first search (the truth, all costs 1).
    fn bfs(&self, from: usize) -> Vec<Option<u64>> {
        let mut dist = vec![None; self.sites.len()];
        dist[from] = Some(0);
        let mut q = VecDeque::from([from]);
        while let Some(x) = q.pop_front() {
            for &n in self.links.get(&x).into_iter().flatten() {
                if dist[n].is_none() {
                    dist[n] = dist[x].map(|d| d + 1);
                    q.push_back(n);
                }
            }
        }
        dist
    }

    /// Whether every site's routes are the shortest paths (and only to reachable sites).
    fn converged(&self) -> Result<(), String> {
        for (i, site) in self.sites.iter().enumerate() {
            for (j, want) in self.bfs(i).into_iter().enumerate() {
                let got = site.table.route(&id(j)).map(|r| r.cost);
                if got != want {
                    return Err(format!("{} routes to {} at cost {got:?}, not {want:?}", id(i), id(j)));
                }
            }
        }
        Ok(())
    }
}

/// A small deterministic generator (xorshift), so that every run builds the same topologies.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Each new site links to 2 random earlier ones (connected, average degree ~4).
    Mesh,
    /// Site 0 is the hub of every other site.
    HubAndSpoke,
}

/// The links of `n` sites of `shape`.
fn topology(n: usize, shape: Shape, rng: &mut Rng) -> Vec<(usize, usize)> {
    match shape {
        Shape::HubAndSpoke => (1..n).map(|i| (0, i)).collect(),
        Shape::Mesh => {
            let mut links = Vec::new();
            for i in 1..n {
                let a = rng.below(i);
                links.push((a, i));
                if i > 1 {
                    let b = rng.below(i);
                    if b != a {
                        links.push((b, i));
                    }
                }
            }
            links
        }
    }
}

/// Builds the network from nothing: every site up, every link up at once (a cold start), then
/// everything delivered.
fn build(n: usize, shape: Shape, seed: u64) -> (Net, Phase) {
    let mut rng = Rng(seed);
    let mut net = Net::new(n);
    for i in 0..n {
        net.originate(i);
    }
    for (a, b) in topology(n, shape, &mut rng) {
        net.link(a, b);
    }
    let phase = net.run();
    (net, phase)
}

#[test]
fn the_simulated_network_converges_to_the_shortest_paths() {
    for shape in [Shape::Mesh, Shape::HubAndSpoke] {
        let (mut net, built) = build(40, shape, 7);
        net.converged().unwrap_or_else(|e| panic!("{shape:?} after building: {e}"));
        assert!(built.messages > 0 && built.bytes > built.messages * 4, "{built:?}");
        // A site joins: everyone learns it.
        assert_eq!(net.add_site(), 40);
        net.link(3, 40);
        net.run();
        net.converged().unwrap_or_else(|e| panic!("{shape:?} after a join: {e}"));
        // A link fails: routes go around it, or the cut-off site becomes unreachable.
        net.unlink(3, 40);
        net.run();
        net.converged().unwrap_or_else(|e| panic!("{shape:?} after a failure: {e}"));
        assert!(net.sites[0].table.route(&id(40)).is_none(), "site 40 hung on one link only");
    }
}

#[test]
#[ignore = "benchmark: scripts/netsim.sh"]
fn netsim_scale() {
    println!(
        "| sites | shape | links | cold start: messages / MiB / rounds / s | join: messages / KiB / rounds / ms | link failure: messages / KiB / rounds / ms | route computation (µs, one site) | memory per site (KiB) |"
    );
    println!("|---:|---|---:|---|---|---|---:|---:|");
    for n in [100usize, 1000] {
        for shape in [Shape::Mesh, Shape::HubAndSpoke] {
            let (mut net, built) = build(n, shape, 42);
            // Every site holds the whole database once converged: its size as sent on a link.
            let db_kib = net.sites[1].table.lsas().map(frame_bytes).sum::<u64>() as f64 / 1024.0;
            let links = net.links.values().map(Vec::len).sum::<usize>() / 2;
            net.converged().unwrap_or_else(|e| panic!("{n} {shape:?}: {e}"));
            // A site joins, linking to two sites (a spoke: to the hub).
            net.add_site();
            let joined = match shape {
                Shape::Mesh => {
                    net.link(n / 3, n);
                    net.link(2 * n / 3, n);
                    net.run()
                }
                Shape::HubAndSpoke => {
                    net.link(0, n);
                    net.run()
                }
            };
            // A link fails (one that leaves the network connected in the mesh).
            let (a, b) = match shape {
                Shape::Mesh => (2 * n / 3, n),
                Shape::HubAndSpoke => (0, n),
            };
            net.unlink(a, b);
            let failed = net.run();
            let t = Instant::now();
            let rounds = 20;
            for _ in 0..rounds {
                net.sites[1].table.recompute(Instant::now());
            }
            let route_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
            println!(
                "| {n} | {shape:?} | {links} | {} / {:.1} / {} / {:.2} | {} / {:.0} / {} / {:.1} | {} / {:.0} / {} / {:.1} | {route_us:.0} | {db_kib:.0} |",
                built.messages,
                built.bytes as f64 / 1048576.0,
                built.rounds,
                built.elapsed.as_secs_f64(),
                joined.messages,
                joined.bytes as f64 / 1024.0,
                joined.rounds,
                joined.elapsed.as_secs_f64() * 1e3,
                failed.messages,
                failed.bytes as f64 / 1024.0,
                failed.rounds,
                failed.elapsed.as_secs_f64() * 1e3,
            );
        }
    }
}
