//! The router's shared state: sessions with their remote hellos, link and service status, open
//! connection counters and the routing [`Table`]. One mutex, held only for short synchronous
//! updates (never across an await); what must be sent goes to a session's outbox.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use skupper_core::routing::negotiated_cost;
use skupper_core::time::format_rfc3339;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::access::AccessLimits;
use super::explain::Explain;
use super::keepalive::Keepalive;
use super::lanes::Waiting;
use super::log::{Throttle, log};
use super::net::ListenError;
use super::peer::{LinkStream, Outbox, SessionHandle};
use super::proto::{Control, DataHeader, Hello, PROTOCOL_VERSION};
use super::table::{OwnAdvert, Received, Table, router_id, split_router_id};
use super::target::{TargetTls, target_tls};
use super::tls::ServiceTlsError;
use crate::model::{
    Backoff, ConnectorConfig, IncomingLink, KeyStrategy, LinkConfig, LinkPhase, LinkState, ListenerConfig,
    RouterConfig, RouterStatus, ServiceState,
};

/// Prefix of the entry names of multi-key listeners among the listeners (a `/` is not valid in
/// a resource name, so a Listener and a MultiKeyListener of the same name never clash).
pub(crate) const MULTI_KEY_PREFIX: &str = "multikeylistener/";

/// The entry name of multi-key listener `name`.
pub(crate) fn multi_key_entry(name: &str) -> String {
    format!("{MULTI_KEY_PREFIX}{name}")
}

/// Who started a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This site dialed, for the named link (of the given generation of its config).
    Link {
        /// Link name.
        name: String,
        /// Generation of the link task.
        generation: u64,
    },
    /// Another site dialed in from `peer`.
    Incoming {
        /// TCP peer.
        peer: SocketAddr,
    },
}

/// A session whose remote hello arrived.
#[derive(Debug)]
pub(crate) struct SessionEntry {
    pub origin: Origin,
    pub remote: Hello,
    /// The remote side's cost setting (its hello, then its cost updates). This side's is its
    /// link's `config.cost` (1 for an incoming link): see [`State::session_cost`].
    pub remote_cost: u32,
    pub handle: SessionHandle,
}

/// An outgoing link. Its cost setting is `config.cost` and nothing else: the negotiated cost
/// (status, network, routing) is derived from it and the session's remote cost.
#[derive(Debug)]
pub(crate) struct LinkEntry {
    pub config: LinkConfig,
    pub generation: u64,
    /// Where the link task is.
    pub phase: LinkPhase,
    /// `OK` when ready; otherwise why not.
    pub message: String,
    /// The remote site (id, name), once a session said hello.
    pub remote: Option<(String, String)>,
    /// Outbox of the current session (set as soon as it starts, before the hello exchange).
    pub outbox: Option<Arc<Outbox>>,
    /// The registered session, once the remote said hello.
    pub session: Option<u64>,
}

/// Why a listener is not bound: the text is its status message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListenerError {
    /// It cannot be configured (its TLS Secret, in the words of the TLS module); it is not
    /// tried again until its configuration changes.
    #[error(transparent)]
    Config(ServiceTlsError),
    /// Its port could not be bound or opened; it is tried again.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// A listener.
#[derive(Debug)]
pub(crate) struct ListenerEntry {
    pub config: ListenerConfig,
    /// Bound port, or why it is not bound.
    pub bound: Result<u16, ListenerError>,
    /// Connections routed, by target site id.
    pub routing: BTreeMap<String, u64>,
    /// Connections closed because no target was reachable.
    pub unrouted: u64,
    pub throttle: Throttle,
    /// Where connections went (per target and next hop) and why, and the last decision.
    pub explain: Explain,
    /// Why the listener cannot be configured (its TLS Secret); it is then not bound, and not
    /// tried again until its configuration changes.
    pub config_error: Option<ServiceTlsError>,
    /// How a multi-key listener chooses keys; `None` for a listener of one routing key.
    pub strategy: Option<KeyStrategy>,
    /// Whether the port accepts connections now (only while a key has a destination).
    pub listening: bool,
    /// Smooth weighted round-robin: the current weight of each key.
    pub swrr: BTreeMap<String, i64>,
    /// Connections routed, by routing key.
    pub by_key: BTreeMap<String, u64>,
}

impl ListenerEntry {
    /// A new entry, not listening yet.
    pub(crate) fn new(
        config: ListenerConfig,
        strategy: Option<KeyStrategy>,
        bound: Result<u16, ListenerError>,
    ) -> Self {
        Self {
            config,
            bound,
            routing: BTreeMap::new(),
            unrouted: 0,
            throttle: Throttle::default(),
            explain: Explain::default(),
            strategy,
            listening: false,
            swrr: BTreeMap::new(),
            by_key: BTreeMap::new(),
            config_error: None,
        }
    }

    /// The routing keys it serves (strategy order).
    pub(crate) fn keys(&self) -> Vec<&str> {
        match &self.strategy {
            Some(s) => s.keys(),
            None => vec![self.config.routing_key.as_str()],
        }
    }
}

/// A connector.
#[derive(Debug)]
pub(crate) struct ConnectorEntry {
    pub config: ConnectorConfig,
    /// Connections open to the target.
    pub open: u32,
    /// The last dial error, cleared by a successful dial.
    pub last_error: Option<String>,
    /// When a dial (a connection or a probe) last reached the target, in Unix seconds.
    pub last_ok: Option<i64>,
    /// When a dial last reached the target: a probe is not needed sooner than
    /// [`super::service::PROBE_EVERY`] after it.
    pub last_reached: Option<Instant>,
    pub throttle: Throttle,
    /// How its target is reached over TLS (`None`: plain TCP), or why it cannot be configured.
    pub tls: Result<Option<Arc<TargetTls>>, ServiceTlsError>,
}

impl ConnectorEntry {
    /// A connector that has not reached its target yet.
    pub(crate) fn new(config: ConnectorConfig) -> Self {
        let tls = target_tls(&config);
        Self {
            config,
            open: 0,
            last_error: None,
            last_ok: None,
            last_reached: None,
            throttle: Throttle::default(),
            tls,
        }
    }
}

/// Everything behind the mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub site_name: String,
    pub namespace: String,
    pub backoff: Backoff,
    pub table: Table,
    pub sessions: BTreeMap<u64, SessionEntry>,
    pub links: BTreeMap<String, LinkEntry>,
    pub access_error: Option<String>,
    pub access_ports: Option<crate::model::LinkAccessPorts>,
    pub listeners: BTreeMap<String, ListenerEntry>,
    pub connectors: BTreeMap<String, ConnectorEntry>,
    /// Open connections per (routing key, next-hop site): the load metric of remote candidates.
    pub open_via: BTreeMap<(String, String), u32>,
    /// Link keep-alive timings (sessions read them when they start).
    pub keepalive: Keepalive,
    /// Bumped whenever routes are recomputed: listeners wait on it for a destination to appear
    /// or go.
    pub changes: watch::Sender<u64>,
}

impl State {
    /// The negotiated cost of a session: the larger of both sides' settings.
    pub(crate) fn session_cost(&self, s: &SessionEntry) -> u32 {
        let local = match &s.origin {
            // A session of a link that was replaced or removed is closing; it keeps counting with
            // the link's current setting while it does.
            Origin::Link { name, .. } => self.links.get(name).map_or(1, |l| l.config.cost),
            Origin::Incoming { .. } => 1,
        };
        negotiated_cost(local, s.remote_cost)
    }

    /// What the status says about link `l`: its cost is the negotiated one while a session is
    /// up, else its setting.
    fn link_state(&self, l: &LinkEntry) -> LinkState {
        let (remote_site_id, remote_site_name) = l.remote.clone().unwrap_or_default();
        let session = l.session.and_then(|id| self.sessions.get(&id));
        LinkState {
            phase: l.phase,
            message: l.message.clone(),
            remote_site_id,
            remote_site_name,
            cost: session.map_or(l.config.cost, |s| self.session_cost(s)),
            proxy: l.config.proxy.as_ref().map(|(n, _)| n.clone()),
        }
    }

    /// Neighbour -> cheapest negotiated cost over the sessions to it.
    fn neighbours(&self) -> BTreeMap<String, u32> {
        let mut n: BTreeMap<String, u32> = BTreeMap::new();
        for s in self.sessions.values() {
            let c = self.session_cost(s);
            n.entry(s.remote.site_id.clone()).and_modify(|v| *v = (*v).min(c)).or_insert(c);
        }
        n
    }

    fn advert(&self) -> OwnAdvert {
        let mut connectors: Vec<String> =
            self.connectors.values().filter(|c| c.tls.is_ok()).map(|c| c.config.routing_key.clone()).collect();
        connectors.sort();
        connectors.dedup();
        let mut listeners: Vec<String> = self
            .listeners
            .values()
            .filter(|l| l.bound.is_ok())
            .flat_map(|l| l.keys().into_iter().map(str::to_string))
            .collect();
        listeners.sort();
        listeners.dedup();
        OwnAdvert {
            site_name: self.site_name.clone(),
            namespace: self.namespace.clone(),
            neighbours: self.neighbours(),
            connectors,
            listeners,
        }
    }

    /// Re-originates our LSA if anything in it changed (or `force`), floods it, and recomputes
    /// routes. Call after every change to sessions, costs, listeners or connectors.
    pub(crate) fn refresh(&mut self, force: bool) {
        if let Some(lsa) = self.table.originate(&self.advert(), force) {
            for s in self.sessions.values() {
                s.handle.outbox.push_lsa(&lsa);
            }
        }
        self.recompute();
    }

    /// Recomputes routes and tells the listeners.
    pub(crate) fn recompute(&mut self) {
        self.table.recompute(Instant::now());
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether a connector for `key` is reachable: here, or on a reachable site.
    pub(crate) fn has_destination(&self, key: &str) -> bool {
        // A connector whose TLS cannot be configured is no destination (it is not advertised either).
        self.connectors.values().any(|c| c.config.routing_key == key && c.tls.is_ok())
            || self.table.remote_connector_exists(key)
    }

    /// Connections open now for routing key `key`, by next hop (this router's id for local
    /// connectors): the load metric of §5.4.
    pub(crate) fn open_by_next_hop(&self, key: &str) -> BTreeMap<String, u32> {
        let mut out: BTreeMap<String, u32> = BTreeMap::new();
        let local: u32 = self.connectors.values().filter(|c| c.config.routing_key == key).map(|c| c.open).sum();
        if local > 0 {
            out.insert(self.table.me().to_string(), local);
        }
        for ((k, hop), n) in &self.open_via {
            if k == key && *n > 0 {
                *out.entry(hop.clone()).or_default() += n;
            }
        }
        out
    }

    /// The cheapest session to neighbour `site` (lowest id on ties).
    pub(crate) fn session_to(&self, site: &str) -> Option<&SessionEntry> {
        self.sessions.values().filter(|s| s.remote.site_id == site).min_by_key(|s| (self.session_cost(s), s.handle.id))
    }
}

/// The future of one data stream a peer opened, served until it ends.
pub(crate) type ServeStream = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What happens to the data streams peers open (the data plane): the router wires it in when
/// it starts, and sessions hand every inbound data stream to it with the stream's header.
#[derive(Clone)]
pub(crate) struct DataPlane(Arc<dyn Fn(Arc<Shared>, LinkStream, DataHeader) -> ServeStream + Send + Sync>);

impl DataPlane {
    /// A data plane serving each stream with `serve`.
    pub(crate) fn new(
        serve: impl Fn(Arc<Shared>, LinkStream, DataHeader) -> ServeStream + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(serve))
    }

    /// Serves `stream`, which a peer opened with `header`, until it ends.
    pub(crate) fn serve(&self, shared: Arc<Shared>, stream: LinkStream, header: DataHeader) -> ServeStream {
        (self.0)(shared, stream, header)
    }
}

impl std::fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataPlane")
    }
}

/// Why this side ends a session over what the peer said: the text is the link's status message
/// (and what the peer is told).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// The peer speaks another link protocol version.
    #[error(
        "the remote site speaks link protocol version {remote} and this site {}; run the same kubectl-skupper \
         version on both sites",
        PROTOCOL_VERSION
    )]
    Version {
        /// The peer's version.
        remote: u32,
    },
    /// The peer's hello has no site id.
    #[error("the remote site sent no site id")]
    NoSiteId,
    /// The peer is this router.
    #[error("the link points at this site itself; link to another site")]
    ItSelf,
    /// The link of this session was removed or replaced meanwhile.
    #[error("the link was removed")]
    LinkRemoved,
    /// A second hello.
    #[error("protocol error: the remote site said hello twice")]
    HelloTwice,
    /// The peer refused the link, saying why.
    #[error("the remote site refused the link: {reason}")]
    Refused {
        /// The peer's words.
        reason: String,
    },
}

/// Counts spawned tasks so that shutdown can wait for all of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tasks(Arc<TasksInner>);

#[derive(Debug, Default)]
struct TasksInner {
    count: AtomicUsize,
    idle: Notify,
}

struct TaskGuard(Arc<TasksInner>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Tasks {
    /// Spawns `f` on the current runtime, counted.
    pub(crate) fn spawn<F>(&self, f: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        let guard = TaskGuard(self.0.clone());
        tokio::spawn(async move {
            let _guard = guard;
            f.await;
        })
    }

    /// Waits until every spawned task ended.
    pub(crate) async fn wait(&self) {
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.0.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// What every task of one router shares.
#[derive(Debug)]
pub(crate) struct Shared {
    site_id: String,
    state: Mutex<State>,
    /// Cancelled on shutdown.
    pub root: CancellationToken,
    /// Every task of the router.
    pub tasks: Tasks,
    next_id: AtomicU64,
    /// Caps and deadline of unauthenticated connections on the link-access ports.
    pub access_limits: Arc<AccessLimits>,
    /// Where sessions hand the data streams their peers open.
    pub data_plane: DataPlane,
    /// Sessions of incoming links that take data connections, by key.
    pub lanes: Arc<Waiting>,
    /// TLS connections each outgoing link opens.
    pub link_connections: usize,
}

impl Shared {
    pub(crate) fn new(config: &RouterConfig, data_plane: DataPlane, link_connections: usize) -> Arc<Self> {
        // Sequence numbers start at the start time so that a restarted site's LSAs are newer
        // than the ones its previous life left in the network.
        let seq_base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0);
        // Each router of an HA site is its own node of the network.
        let me = router_id(&config.site_id, &config.group);
        let mut state = State {
            site_name: config.site_name.clone(),
            namespace: config.namespace.clone(),
            backoff: config.backoff,
            table: Table::new(&me, seq_base),
            sessions: BTreeMap::new(),
            links: BTreeMap::new(),
            access_error: None,
            access_ports: None,
            listeners: BTreeMap::new(),
            connectors: BTreeMap::new(),
            open_via: BTreeMap::new(),
            keepalive: Keepalive::from_env(),
            changes: watch::Sender::new(0),
        };
        state.refresh(false);
        Arc::new(Self {
            site_id: me,
            state: Mutex::new(state),
            root: CancellationToken::new(),
            tasks: Tasks::default(),
            next_id: AtomicU64::new(1),
            access_limits: AccessLimits::from_env(),
            data_plane,
            lanes: Arc::default(),
            link_connections,
        })
    }

    /// Whether link access or a listener failed to bind (and waits to be tried again).
    pub(crate) fn bind_failed(&self) -> bool {
        let st = self.lock();
        st.access_error.is_some() || st.listeners.values().any(|l| l.bound.is_err() && l.config_error.is_none())
    }

    /// This router's id: the site id, or `<site id>/<group>` for an HA site's second router.
    pub(crate) fn me(&self) -> &str {
        &self.site_id
    }

    /// The state; a panic elsewhere while holding the lock does not make it unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns a counted task that also ends when the router shuts down.
    pub(crate) fn spawn<F>(&self, f: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let root = self.root.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = f => {}
                _ = root.cancelled() => {}
            }
        })
    }

    /// A fresh id for sessions and generations.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Our hello for a new session; `None` when the link it belongs to is gone. For a link,
    /// remembers the session's outbox so that cost changes reach the peer right away.
    pub(crate) fn hello_for(&self, origin: &Origin, handle: &SessionHandle) -> Option<Hello> {
        let mut st = self.lock();
        let (link_name, cost) = match origin {
            Origin::Link { name, generation } => {
                let entry = st.links.get_mut(name).filter(|e| e.generation == *generation)?;
                entry.outbox = Some(handle.outbox.clone());
                (name.clone(), entry.config.cost)
            }
            Origin::Incoming { .. } => (String::new(), 1),
        };
        Some(Hello {
            site_id: self.site_id.clone(),
            site_name: st.site_name.clone(),
            namespace: st.namespace.clone(),
            link_name,
            cost,
            version: PROTOCOL_VERSION,
            keepalive_ms: Some(st.keepalive.announced()),
            lane_key: None,
        })
    }

    /// The remote hello arrived: the session joins the network.
    pub(crate) fn register_session(
        &self,
        handle: &SessionHandle,
        origin: &Origin,
        remote: Hello,
    ) -> Result<(), SessionError> {
        if remote.version != PROTOCOL_VERSION {
            return Err(SessionError::Version { remote: remote.version });
        }
        if remote.site_id.is_empty() {
            return Err(SessionError::NoSiteId);
        }
        if remote.site_id == self.site_id {
            return Err(SessionError::ItSelf);
        }
        let mut st = self.lock();
        if let Origin::Link { name, generation } = origin {
            let Some(entry) = st.links.get_mut(name).filter(|e| e.generation == *generation) else {
                return Err(SessionError::LinkRemoved);
            };
            entry.session = Some(handle.id);
            entry.phase = LinkPhase::Ready;
            entry.message = "OK".into();
            // The site, not the router: both Links to an HA site name the same site.
            entry.remote = Some((split_router_id(&remote.site_id).0.to_string(), remote.site_name.clone()));
        }
        let entry = SessionEntry {
            origin: origin.clone(),
            remote: remote.clone(),
            remote_cost: remote.cost,
            handle: handle.clone(),
        };
        let what = match origin {
            Origin::Link { name, .. } => format!("link {name} to"),
            Origin::Incoming { peer } => format!("incoming link {:?} ({peer}) from", remote.link_name),
        };
        log!(
            "{what} site {} ({}/{}) is up, cost {}",
            remote.site_name,
            remote.namespace,
            remote.site_id,
            st.session_cost(&entry)
        );
        st.sessions.insert(handle.id, entry);
        // Database exchange: the new neighbour learns everything we know.
        for lsa in st.table.lsas() {
            handle.outbox.push_lsa(lsa);
        }
        st.refresh(false);
        Ok(())
    }

    /// The session ended.
    pub(crate) fn unregister_session(&self, id: u64) {
        let mut st = self.lock();
        let Some(entry) = st.sessions.remove(&id) else {
            return;
        };
        if let Origin::Link { name, generation } = &entry.origin
            && let Some(link) = st.links.get_mut(name).filter(|l| l.generation == *generation)
            && link.session == Some(id)
        {
            link.session = None;
            link.outbox = None;
        }
        st.refresh(false);
    }

    /// A control message from the session `id`.
    pub(crate) fn on_control(&self, id: u64, msg: Control) -> Result<(), SessionError> {
        let mut st = self.lock();
        match msg {
            Control::Hello(_) => return Err(SessionError::HelloTwice),
            Control::Refuse { reason } => return Err(SessionError::Refused { reason }),
            Control::Ping => {}
            Control::Cost { cost } => {
                let Some(s) = st.sessions.get_mut(&id) else {
                    return Ok(());
                };
                s.remote_cost = cost;
                st.refresh(false);
            }
            Control::Lsa(lsa) => match st.table.receive(lsa.clone()) {
                Received::Newer => {
                    for s in st.sessions.values().filter(|s| s.handle.id != id) {
                        s.handle.outbox.push_lsa(&lsa);
                    }
                    st.recompute();
                }
                Received::Stale => {}
                Received::OwnOutdated => st.refresh(true),
            },
        }
        Ok(())
    }

    /// Applies a new cost setting to a link without touching its connection.
    pub(crate) fn set_link_cost(&self, name: &str, cost: u32) {
        let mut st = self.lock();
        let Some(link) = st.links.get_mut(name) else {
            return;
        };
        link.config.cost = cost;
        if let Some(outbox) = &link.outbox {
            outbox.push_cost(cost);
        }
        st.refresh(false);
    }

    /// Updates the state of a link task, unless a newer generation replaced it.
    pub(crate) fn set_link_state(&self, name: &str, generation: u64, phase: LinkPhase, message: &str) {
        let mut st = self.lock();
        if let Some(link) = st.links.get_mut(name).filter(|l| l.generation == generation) {
            link.phase = phase;
            link.message = message.to_string();
        }
    }

    /// The config of a link task, unless a newer generation replaced it.
    pub(crate) fn link_config(&self, name: &str, generation: u64) -> Option<LinkConfig> {
        self.lock().links.get(name).filter(|l| l.generation == generation).map(|l| l.config.clone())
    }

    /// A cheap snapshot for the platform.
    pub(crate) fn status(&self) -> RouterStatus {
        let st = self.lock();
        let links = st.links.iter().map(|(n, l)| (n.clone(), st.link_state(l))).collect();
        let mut incoming: Vec<IncomingLink> = st
            .sessions
            .values()
            .filter(|s| matches!(s.origin, Origin::Incoming { .. }))
            .map(|s| IncomingLink {
                remote_site_id: s.remote.site_id.clone(),
                remote_site_name: s.remote.site_name.clone(),
                link_name: s.remote.link_name.clone(),
                cost: st.session_cost(s),
            })
            .collect();
        incoming.sort_by(|a, b| (&a.remote_site_name, &a.link_name).cmp(&(&b.remote_site_name, &b.link_name)));
        let mut listeners = BTreeMap::new();
        let mut multi_key_listeners = BTreeMap::new();
        for (n, l) in &st.listeners {
            let reachable: Vec<(String, u64)> = match &l.strategy {
                None => Vec::new(),
                Some(KeyStrategy::Priority(keys)) => {
                    keys.iter().filter(|k| st.has_destination(k)).map(|k| (k.clone(), 0)).collect()
                }
                Some(KeyStrategy::Weighted(keys)) => {
                    keys.iter().filter(|(k, _)| st.has_destination(k)).cloned().collect()
                }
            };
            let keys = l.keys();
            let matched = keys.iter().any(|k| st.has_destination(k));
            let what = match keys.as_slice() {
                [one] => format!("routing key {one:?}"),
                many => {
                    format!("routing keys {}", many.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", "))
                }
            };
            let (ok, message) = match &l.bound {
                Err(e) => (false, e.to_string()),
                Ok(_) if matched => (true, "OK".to_string()),
                Ok(_) => (true, format!("no connector for {what} is reachable; connections are refused until one is")),
            };
            // The load metric shown: of the key that took the last connection (the only key of
            // a plain listener).
            let shown = l
                .explain
                .last
                .as_ref()
                .and_then(|d| d.key.as_ref())
                .map(|k| k.routing_key.clone())
                .unwrap_or_else(|| keys.first().map(|k| k.to_string()).unwrap_or_default());
            let state = ServiceState {
                ok,
                message,
                matched,
                port: l.bound.as_ref().ok().copied(),
                routing: l.routing.clone(),
                unrouted: l.unrouted,
                open: 0,
                paths: l.explain.paths.values().cloned().collect(),
                open_by_next_hop: st.open_by_next_hop(&shown),
                last_decision: l.explain.last.clone(),
                listening: l.listening,
                keys_reachable: reachable,
                by_key: l.by_key.clone(),
                config_error: l.config_error.is_some(),
            };
            match n.strip_prefix(MULTI_KEY_PREFIX) {
                Some(name) => multi_key_listeners.insert(name.to_string(), state),
                None => listeners.insert(n.clone(), state),
            };
        }
        let connectors = st
            .connectors
            .iter()
            .map(|(n, c)| {
                let key = &c.config.routing_key;
                let matched = st.listeners.values().any(|l| l.bound.is_ok() && l.keys().contains(&key.as_str()))
                    || st.table.remote_listener_exists(key);
                let message = match (&c.last_error, c.last_ok, matched) {
                    _ if c.tls.is_err() => c.tls.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                    (Some(e), Some(t), _) => format!("{e} (last connected {})", format_rfc3339(t)),
                    (Some(e), None, _) => format!("{e} (never connected)"),
                    (None, _, true) => "OK".to_string(),
                    (None, _, false) => format!("no listener for routing key {key:?} in the network"),
                };
                let state = ServiceState {
                    ok: c.last_error.is_none() && c.tls.is_ok(),
                    message,
                    matched,
                    port: None,
                    routing: BTreeMap::new(),
                    unrouted: 0,
                    open: c.open,
                    paths: Vec::new(),
                    open_by_next_hop: BTreeMap::new(),
                    last_decision: None,
                    config_error: c.tls.is_err(),
                    listening: false,
                    keys_reachable: Vec::new(),
                    by_key: BTreeMap::new(),
                };
                (n.clone(), state)
            })
            .collect();
        RouterStatus {
            links,
            incoming,
            listeners,
            connectors,
            multi_key_listeners,
            network: st.table.view(),
            link_access_error: st.access_error.clone(),
            link_access_ports: st.access_ports,
        }
    }
}
