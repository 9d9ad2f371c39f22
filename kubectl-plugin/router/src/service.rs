//! The data plane: listeners accept application connections and route each one (by cost and
//! open connections, with failover) to a local connector or over a link; streams arriving over
//! links are forwarded on (transit) or connected to a local connector (destination).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skupper_core::routing::{Candidate, Choice, choose, score};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::explain::{KeyChoice, PathCount, RouteDecision, RouteReason, ScoredCandidate};
use super::log::{Throttle, log};
use super::net::{ListenError, authority, bind_addr, connect_tcp};
use super::open::{Sent, StreamError, open_data_stream, open_early};
use super::peer::{LinkStream, SessionHandle};
use super::proto::{DataHeader, DataReply, MAX_HOPS, write_frame};
use super::splice;
use super::state::Shared;
use super::target::{DialError, TargetTls};
use super::tls::{self, ServiceTlsError};
use crate::model::{ConnectorConfig, KeyStrategy, ListenerConfig};

/// Time to connect to a connector's target.
const CONNECTOR_TIMEOUT: Duration = Duration::from_secs(10);
/// A connector's target is probed when nothing reached it for this long.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Time for a probe to connect.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for the TLS handshake of a listener's client.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener's TLS toward its clients (`None`: plain TCP), or why it cannot be configured.
pub(crate) fn listener_tls(cfg: &ListenerConfig) -> Result<Option<TlsAcceptor>, ServiceTlsError> {
    if let Some(e) = &cfg.config_error {
        return Err(ServiceTlsError::Config(e.clone()));
    }
    let acceptor =
        |t| tls::service_server_config(t).map(TlsAcceptor::from).map_err(|e| ServiceTlsError::Unusable(Arc::new(e)));
    cfg.tls.as_ref().map(acceptor).transpose()
}

/// A connection to a connector's target.
enum Backend {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A listener's client connection.
enum Client {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Either end of a spliced connection that is not plain TCP on both sides.
trait AppIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AppIo for T {}

impl Backend {
    /// Writes what a refused attempt had sent ahead.
    async fn replay(&mut self, sent: &Sent) -> std::io::Result<()> {
        match self {
            Self::Plain(t) => sent.replay(t).await,
            Self::Tls(t) => sent.replay(t).await,
        }
    }

    fn into_io(self) -> Box<dyn AppIo> {
        match self {
            Self::Plain(t) => Box::new(t),
            Self::Tls(t) => t,
        }
    }
}

impl Client {
    fn into_io(self) -> Box<dyn AppIo> {
        match self {
            Self::Plain(t) => Box::new(t),
            Self::Tls(t) => t,
        }
    }
}

/// Copies both ways until both directions ended (an end becomes a half-close, a TLS
/// close_notify) or one fails: the splice of connections with TLS on one side at least.
async fn splice_io(mut a: Box<dyn AppIo>, mut b: Box<dyn AppIo>) -> std::io::Result<()> {
    tokio::io::copy_bidirectional(&mut a, &mut b).await.map(drop)
}

/// Connects to connector `name`'s target at `host`:`port`, with its TLS if it has some.
async fn dial_target(shared: &Shared, name: &str, host: &str, port: u16) -> Result<Backend, DialError> {
    let tls = shared.lock().connectors.get(name).map(|c| c.tls.clone());
    let tls = match tls {
        Some(Err(e)) => return Err(DialError::Config(e)),
        Some(Ok(t)) => t,
        None => None,
    };
    let tcp = connect_tcp(host, port, CONNECTOR_TIMEOUT).await.map_err(DialError::Connect)?;
    match tls {
        None => Ok(Backend::Plain(tcp)),
        Some(t) => Ok(Backend::Tls(Box::new(t.handshake(tcp, host, port).await?))),
    }
}

/// What an open connection is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Count {
    /// A local connector (by name).
    Connector(String),
    /// Connections for a routing key through a next-hop site.
    Via(String, String),
}

/// Decrements its counter when the connection ends, however it ends.
struct OpenGuard {
    shared: Arc<Shared>,
    count: Count,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        match &self.count {
            Count::Connector(name) => {
                if let Some(c) = st.connectors.get_mut(name) {
                    c.open = c.open.saturating_sub(1);
                }
            }
            Count::Via(key, hop) => {
                let k = (key.clone(), hop.clone());
                if let Some(n) = st.open_via.get_mut(&k) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        st.open_via.remove(&k);
                    }
                }
            }
        }
    }
}

/// Where a new connection goes.
#[derive(Clone)]
enum Target {
    Local { connector: String, host: String, port: u16 },
    Remote { site: String, session: SessionHandle },
}

/// A target that failed for this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tried {
    Local(String),
    Remote(String),
}

impl Shared {
    fn count(self: &Arc<Self>, st: &mut super::state::State, count: Count) -> OpenGuard {
        match &count {
            Count::Connector(name) => {
                if let Some(c) = st.connectors.get_mut(name) {
                    c.open += 1;
                }
            }
            Count::Via(key, hop) => *st.open_via.entry((key.clone(), hop.clone())).or_default() += 1,
        }
        OpenGuard { shared: self.clone(), count }
    }

    /// Picks a target for a new connection to `key` (reference §5.4), counts it as open, and
    /// says why (the reason is [`RouteReason::Failover`] once something in `tried` failed).
    fn pick(self: &Arc<Self>, key: &str, tried: &[Tried]) -> Option<(Target, OpenGuard, RouteDecision)> {
        let mut st = self.lock();
        let me = self.me().to_string();
        let mut candidates = Vec::new();
        let mut targets = Vec::new();
        let mut scored = Vec::new();
        for (name, c) in &st.connectors {
            if c.config.routing_key == key && !tried.contains(&Tried::Local(name.clone())) {
                let cand = Candidate { open: c.open, path_cost: 0, local: true };
                scored.push(ScoredCandidate {
                    target: me.clone(),
                    next_hop: me.clone(),
                    local: true,
                    open: cand.open,
                    path_cost: 0,
                    score: score(&cand),
                });
                candidates.push(cand);
                targets.push(Target::Local {
                    connector: name.clone(),
                    host: c.config.host.clone(),
                    port: c.config.port,
                });
            }
        }
        // Remote targets cheapest path first (then by router id): on equal scores the earlier
        // candidate wins, so ties go to the cheaper path and the outcome never depends on how
        // random site ids sort (upstream breaks ties by router mask bit, an arbitrary order).
        let mut remotes: Vec<_> = st.table.remote_connectors(key).collect();
        remotes.sort_by_key(|(site, route)| (route.cost, *site));
        for (site, route) in remotes {
            if tried.contains(&Tried::Remote(site.to_string())) {
                continue;
            }
            let Some(session) = st.session_to(&route.next_hop) else { continue };
            let open = st.open_via.get(&(key.to_string(), route.next_hop.clone())).copied().unwrap_or(0);
            let cand = Candidate { open, path_cost: route.cost, local: false };
            scored.push(ScoredCandidate {
                target: site.to_string(),
                next_hop: route.next_hop.clone(),
                local: false,
                open,
                path_cost: route.cost,
                score: score(&cand),
            });
            candidates.push(cand);
            targets.push(Target::Remote { site: site.to_string(), session: session.handle.clone() });
        }
        let choice = choose(&candidates)?;
        let i = choice.index();
        let target = targets.get(i)?.clone();
        let (chosen, next_hop) = scored.get(i).map(|c| (c.target.clone(), c.next_hop.clone()))?;
        let count = match &target {
            Target::Local { connector, .. } => Count::Connector(connector.clone()),
            Target::Remote { .. } => Count::Via(key.to_string(), next_hop.clone()),
        };
        let reason = match choice {
            _ if !tried.is_empty() => RouteReason::Failover,
            Choice::IdleLocal(_) => RouteReason::IdleLocal,
            Choice::LowestScore(_) => RouteReason::LowestScore,
        };
        let decision =
            RouteDecision { target: chosen, next_hop, reason, failed: Vec::new(), candidates: scored, key: None };
        let guard = self.count(&mut st, count);
        Some((target, guard, decision))
    }

    /// Local connectors for `key`, least open connections first.
    fn local_targets(&self, key: &str) -> Vec<(String, String, u16)> {
        let st = self.lock();
        let mut v: Vec<(u32, String, String, u16)> = st
            .connectors
            .iter()
            .filter(|(_, c)| c.config.routing_key == key)
            .map(|(n, c)| (c.open, n.clone(), c.config.host.clone(), c.config.port))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n, h, p)| (n, h, p)).collect()
    }

    fn connector_result(&self, name: &str, result: Result<(), &DialError>) {
        let mut st = self.lock();
        let Some(c) = st.connectors.get_mut(name) else { return };
        match result {
            Ok(()) => {
                c.last_ok = Some(unix_now());
                c.last_reached = Some(Instant::now());
                if c.last_error.take().is_some() {
                    c.throttle.reset();
                    log!("connector {name}: its target {} answers again", authority(&c.config.host, c.config.port));
                }
            }
            // Its status says so already.
            Err(DialError::Config(_)) => {}
            Err(e) => {
                let msg = e.status();
                c.throttle.log(&format!("connector {name}: {msg}"));
                c.last_error = Some(msg);
            }
        }
    }

    /// The connectors whose target nothing reached within [`PROBE_EVERY`], with their TLS.
    fn probes_due(&self) -> Vec<(String, ConnectorConfig, Option<Arc<TargetTls>>)> {
        let st = self.lock();
        st.connectors
            .iter()
            .filter(|(_, c)| c.last_reached.is_none_or(|t| t.elapsed() >= PROBE_EVERY))
            .filter_map(|(n, c)| c.tls.as_ref().ok().map(|tls| (n.clone(), c.config.clone(), tls.clone())))
            .collect()
    }

    /// A probe of connector `name`'s target ended; ignored when the connector changed meanwhile.
    fn probed(&self, name: &str, config: &ConnectorConfig, result: Result<(), &DialError>) {
        let same = self.lock().connectors.get(name).is_some_and(|c| c.config == *config);
        if same {
            self.connector_result(name, result);
        }
    }

    /// A connection of `listener` reached its target: counts it (by target, and by target,
    /// next hop and reason) and keeps the decision to explain it.
    fn routed(&self, listener: &str, decision: RouteDecision) {
        let mut st = self.lock();
        if let Some(l) = st.listeners.get_mut(listener) {
            *l.routing.entry(decision.target.clone()).or_default() += 1;
            let key = (decision.target.clone(), decision.next_hop.clone());
            let path = l.explain.paths.entry(key).or_insert_with(|| PathCount {
                target: decision.target.clone(),
                next_hop: decision.next_hop.clone(),
                connections: 0,
                reasons: BTreeMap::new(),
            });
            path.connections += 1;
            *path.reasons.entry(decision.reason).or_default() += 1;
            if let Some(k) = &decision.key {
                *l.by_key.entry(k.routing_key.clone()).or_default() += 1;
            }
            l.explain.last = Some(decision);
        }
    }

    fn unrouted(&self, listener: &str, key: &str, last_error: Option<&str>) {
        let mut st = self.lock();
        if let Some(l) = st.listeners.get_mut(listener) {
            l.unrouted += 1;
            let msg = match last_error {
                Some(e) => format!("listener {listener}: no target for routing key {key:?} could be reached ({e})"),
                None => format!("listener {listener}: no connector for routing key {key:?} is reachable"),
            };
            l.throttle.log(&msg);
        }
    }

    fn listener_log(&self, listener: &str, message: &str) {
        if let Some(l) = self.lock().listeners.get_mut(listener) {
            l.throttle.log(message);
        }
    }

    /// The routing keys to try for a new connection of `listener`, best first: its one key, or
    /// what its strategy chooses among the keys that have a destination, then the other keys
    /// that have one (failover). Empty when no key has a destination.
    fn choose_keys(&self, listener: &str) -> Vec<(String, Option<KeyChoice>)> {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(l) = st.listeners.get_mut(listener) else { return Vec::new() };
        let strategy = match &l.strategy {
            None => return vec![(l.config.routing_key.clone(), None)],
            Some(s) => s.clone(),
        };
        let has =
            |k: &str| st.connectors.values().any(|c| c.config.routing_key == k) || st.table.remote_connector_exists(k);
        match strategy {
            KeyStrategy::Priority(keys) => {
                let reachable: Vec<&String> = keys.iter().filter(|k| has(k)).collect();
                reachable
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let reason = match (i, keys.iter().position(|x| x == *k)) {
                            (0, Some(0)) => "priority: first key with a destination".to_string(),
                            (0, _) => {
                                let skipped: Vec<&str> =
                                    keys.iter().take_while(|x| x != k).map(String::as_str).collect();
                                format!(
                                    "priority: first key with a destination ({} {} none)",
                                    skipped.join(", "),
                                    if skipped.len() == 1 { "has" } else { "have" }
                                )
                            }
                            _ => format!("priority: failover, {} could not be reached", reachable[0]),
                        };
                        (k.to_string(), Some(KeyChoice { routing_key: k.to_string(), reason }))
                    })
                    .collect()
            }
            KeyStrategy::Weighted(keys) => {
                let eligible: Vec<&(String, u64)> = keys.iter().filter(|(k, w)| *w > 0 && has(k)).collect();
                if eligible.is_empty() {
                    return Vec::new();
                }
                // Smooth weighted round-robin: every eligible key gains its weight, the largest
                // current value wins and pays the total back. Exact proportions over any
                // window of `total` connections while the eligible set stays the same.
                let total: i64 = eligible.iter().map(|(_, w)| i64::try_from(*w).unwrap_or(i64::MAX / 512)).sum();
                l.swrr.retain(|k, _| eligible.iter().any(|(e, _)| e == k));
                let mut best: Option<(&String, i64)> = None;
                for (k, w) in &eligible {
                    let cur = l.swrr.entry(k.clone()).or_default();
                    *cur = cur.saturating_add(i64::try_from(*w).unwrap_or(i64::MAX / 512));
                    if best.is_none_or(|(_, b)| *cur > b) {
                        best = Some((k, *cur));
                    }
                }
                let Some((chosen, _)) = best else { return Vec::new() };
                if let Some(cur) = l.swrr.get_mut(chosen) {
                    *cur = cur.saturating_sub(total);
                }
                let ratio = eligible.iter().map(|(_, w)| w.to_string()).collect::<Vec<_>>().join(":");
                let among = eligible.iter().map(|(k, w)| format!("{k}={w}")).collect::<Vec<_>>().join(", ");
                let reason = format!("weighted {ratio} among the keys with a destination ({among})");
                let mut out = vec![(chosen.clone(), Some(KeyChoice { routing_key: chosen.clone(), reason }))];
                let mut rest: Vec<&&(String, u64)> = eligible.iter().filter(|(k, _)| k != chosen).collect();
                rest.sort_by_key(|k| std::cmp::Reverse(k.1));
                for (k, _) in rest {
                    let reason = format!("weighted: failover, {chosen} could not be reached");
                    out.push((k.clone(), Some(KeyChoice { routing_key: k.clone(), reason })));
                }
                out
            }
        }
    }

    /// Whether a routing key of `listener` has a destination.
    fn listener_has_destination(&self, listener: &str) -> bool {
        let st = self.lock();
        st.listeners.get(listener).is_some_and(|l| l.keys().iter().any(|k| st.has_destination(k)))
    }

    /// Whether `listener`'s port accepts connections now.
    fn set_listening(&self, listener: &str, listening: bool) {
        if let Some(l) = self.lock().listeners.get_mut(listener) {
            l.listening = listening;
        }
    }

    /// The port of `listener` could not be opened (again): its status says why, and the
    /// router's rebind task tries again.
    fn listener_failed(&self, listener: &str, error: ListenError) {
        if let Some(l) = self.lock().listeners.get_mut(listener) {
            l.listening = false;
            l.bound = Err(error.into());
        }
    }

    /// Notified whenever routes change.
    fn route_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.lock().changes.subscribe()
    }

    fn next_hop_session(&self, site: &str) -> Option<SessionHandle> {
        let st = self.lock();
        let hop = st.table.route(site)?.next_hop.clone();
        st.session_to(&hop).map(|s| s.handle.clone())
    }
}

/// Checks the target of every connector that nothing reached within [`PROBE_EVERY`] with a TCP
/// connection (and the TLS handshake of a connector with `tlsCredentials`), closed at once, so
/// that its status reports a target that went away (and one that came back, or one whose
/// certificate is not trusted) within seconds, with or without traffic. Runs until the router
/// shuts down.
pub(crate) async fn probe_connectors(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.root.cancelled() => return,
        }
        let mut probes = tokio::task::JoinSet::new();
        for (name, config, tls) in shared.probes_due() {
            let shared = shared.clone();
            probes.spawn(async move {
                let result = async {
                    let tcp =
                        connect_tcp(&config.host, config.port, PROBE_TIMEOUT).await.map_err(DialError::Connect)?;
                    if let Some(t) = tls {
                        let mut s = t.handshake(tcp, &config.host, config.port).await?;
                        t.refusal(&mut s, &config.host, config.port).await?;
                        let _ = s.shutdown().await;
                    }
                    Ok(())
                }
                .await;
                shared.probed(&name, &config, result.as_ref().map(|_| ()));
            });
        }
        while probes.join_next().await.is_some() {}
    }
}

/// Now, in Unix seconds.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A listener's socket, bound but not listening: it holds the port, and the kernel refuses
/// connections to it until it listens.
pub(crate) struct Bound {
    socket: TcpSocket,
    addr: SocketAddr,
    share_port: bool,
}

impl Bound {
    /// The bound port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// Binds a listener's port (not listening yet: see [`run_listener`]). With `share_port` the
/// socket has SO_REUSEPORT, so that the other router of an HA site binds the same port and the
/// kernel spreads new connections over both; when one router dies, its socket goes and the
/// other takes every new connection.
pub(crate) async fn bind_listener(cfg: &ListenerConfig, share_port: bool) -> Result<Bound, ListenError> {
    let addr = authority(&cfg.host, cfg.port);
    let bare = cfg.host.trim_start_matches('[').trim_end_matches(']');
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} not resolvable", cfg.host));
    let found = match tokio::net::lookup_host((bare, cfg.port)).await {
        Ok(found) => found,
        Err(source) => return Err(ListenError { addr, source }),
    };
    for a in found {
        match bind_addr(a, share_port).and_then(|s| Ok((s.local_addr()?, s))) {
            Ok((addr, socket)) => return Ok(Bound { socket, addr, share_port }),
            Err(e) => last = e,
        }
    }
    Err(ListenError { addr, source: last })
}

/// Runs a listener until `token` is cancelled: its port listens only while one of its routing
/// keys has a reachable connector somewhere in the network (as upstream's router opens it only
/// then); otherwise the socket stays bound without listening, so clients are refused at once
/// rather than accepted and closed. A port that cannot be opened again ends the task with the
/// listener's status saying why (the router's rebind task starts it again).
pub(crate) async fn run_listener(
    shared: Arc<Shared>,
    name: String,
    bound: Bound,
    tls: Option<TlsAcceptor>,
    token: CancellationToken,
) {
    let mut changes = shared.route_changes();
    let (addr, share_port) = (bound.addr, bound.share_port);
    let mut parked = Some(bound.socket);
    loop {
        while !shared.listener_has_destination(&name) {
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = token.cancelled() => return,
            }
        }
        let opened = match parked.take() {
            Some(s) => Ok(s),
            None => bind_addr(addr, share_port),
        }
        .and_then(|s| s.listen(1024));
        let listener = match opened {
            Ok(l) => l,
            Err(e) => {
                let msg = ListenError { addr: addr.to_string(), source: e };
                log!("listener {name}: {msg}");
                shared.listener_failed(&name, msg);
                return;
            }
        };
        shared.set_listening(&name, true);
        let stop = accept_while_routable(&shared, &name, &listener, tls.as_ref(), &mut changes, &token).await;
        drop(listener);
        shared.set_listening(&name, false);
        if stop {
            return;
        }
        // Hold the port again, refusing connections, until a destination comes back.
        match bind_addr(addr, share_port) {
            Ok(s) => parked = Some(s),
            Err(e) => {
                let msg = ListenError { addr: addr.to_string(), source: e };
                log!("listener {name}: {msg}");
                shared.listener_failed(&name, msg);
                return;
            }
        }
    }
}

/// Accepts connections until no routing key of the listener has a destination (`false`) or
/// `token` is cancelled (`true`).
async fn accept_while_routable(
    shared: &Arc<Shared>,
    name: &str,
    listener: &TcpListener,
    tls: Option<&TlsAcceptor>,
    changes: &mut tokio::sync::watch::Receiver<u64>,
    token: &CancellationToken,
) -> bool {
    let mut throttle = Throttle::default();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            r = changes.changed() => {
                if r.is_err() {
                    return true;
                }
                if shared.listener_has_destination(name) {
                    continue;
                }
                return false;
            }
            _ = token.cancelled() => return true,
        };
        match accepted {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                match tls {
                    None => {
                        shared.spawn(serve_client(shared.clone(), name.to_string(), Client::Plain(tcp)));
                    }
                    Some(acceptor) => {
                        shared.spawn(serve_tls_client(shared.clone(), name.to_string(), acceptor.clone(), tcp));
                    }
                }
            }
            Err(e) => {
                throttle.log(&format!("listener {name}: accepting failed: {e}"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = token.cancelled() => return true,
                }
            }
        }
    }
}

/// The TLS handshake with a client of a listener with `tlsCredentials`, then its routing. A
/// client that does not complete it (plain TCP, a certificate it does not trust) is closed.
async fn serve_tls_client(shared: Arc<Shared>, listener: String, acceptor: TlsAcceptor, tcp: TcpStream) {
    let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "a client".into());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Box::pin(serve_client(shared, listener, Client::Tls(Box::new(s)))).await,
        Ok(Err(e)) => {
            let msg = format!("listener {listener}: TLS handshake with {peer} failed: {e}; its clients must speak TLS");
            shared.listener_log(&listener, &msg);
        }
        Err(_) => {
            let secs = HANDSHAKE_TIMEOUT.as_secs();
            shared
                .listener_log(&listener, &format!("listener {listener}: {peer} sent no TLS handshake within {secs}s"));
        }
    }
}

/// Routes one application connection, trying the next candidate when a target fails before
/// any byte flowed.
///
/// Runs under [`Shared::spawn`], which ends it on shutdown, splices included.
///
/// Every step but the splice of a TCP connection with a link stream is boxed: a task's future
/// is as large as its largest state, and an idle proxied connection should keep only that
/// splice's state (measured: 2,176 bytes for this future before, a few hundred after).
async fn serve_client(shared: Arc<Shared>, listener: String, client: Client) {
    let keys = shared.choose_keys(&listener);
    let mut last_error: Option<String> = None;
    let mut failed = Vec::new();
    let mut sent = Sent::default();
    let mut unrouted_key = keys.first().map(|(k, _)| k.clone()).unwrap_or_default();
    'keys: for (key, choice) in keys {
        unrouted_key = key.clone();
        let mut tried = Vec::new();
        loop {
            let Some((target, guard, mut decision)) = shared.pick(&key, &tried) else {
                continue 'keys;
            };
            decision.key = choice.clone();
            match target {
                Target::Local { connector, host, port } => {
                    match Box::pin(dial_target(&shared, &connector, &host, port)).await {
                        Ok(mut backend) => {
                            shared.connector_result(&connector, Ok(()));
                            decision.failed = failed;
                            shared.routed(&listener, decision);
                            // What a site that refused had been sent ahead of its answer.
                            if !sent.is_empty() && Box::pin(backend.replay(&sent)).await.is_err() {
                                drop(guard);
                                return;
                            }
                            drop(sent);
                            let _ = match (client, backend) {
                                (Client::Plain(c), Backend::Plain(tcp)) => {
                                    Box::pin(splice::splice_tcp_tcp(c, tcp)).await
                                }
                                (c, b) => Box::pin(splice_io(c.into_io(), b.into_io())).await,
                            };
                            drop(guard);
                            return;
                        }
                        Err(e) => {
                            shared.connector_result(&connector, Err(&e));
                            failed.push(format!("connector {connector}: {e}"));
                            tried.push(Tried::Local(connector));
                            last_error = Some(e.to_string());
                        }
                    }
                }
                Target::Remote { site, session } => {
                    let header = DataHeader {
                        routing_key: key.clone(),
                        destination: site.clone(),
                        origin: shared.me().to_string(),
                        ttl: MAX_HOPS,
                    };
                    let opened = match &client {
                        Client::Plain(tcp) => Box::pin(open_early(&session, &header, tcp, &mut sent)).await,
                        Client::Tls(_) => Box::pin(open_data_stream(&session, &header)).await,
                    };
                    match opened {
                        Ok(stream) => {
                            decision.failed = failed;
                            shared.routed(&listener, decision);
                            drop(sent);
                            let _ = match client {
                                Client::Plain(c) => splice::splice_tcp(c, stream).await,
                                c => Box::pin(splice_io(c.into_io(), Box::new(stream))).await,
                            };
                            drop(guard);
                            return;
                        }
                        Err(e) => {
                            let msg = format!("listener {listener}: site {site} could not take a connection: {e}");
                            shared.listener_log(&listener, &msg);
                            if !e.may_try_next(&sent) {
                                // The client is gone, or its first bytes may have reached a
                                // target: it is not sent anywhere else.
                                if !matches!(e, StreamError::Client(_)) {
                                    shared.unrouted(&listener, &key, Some(&e.to_string()));
                                }
                                return;
                            }
                            failed.push(format!("site {site}: {e}"));
                            tried.push(Tried::Remote(site));
                            last_error = Some(e.to_string());
                        }
                    }
                }
            }
        }
    }
    shared.unrouted(&listener, &unrouted_key, last_error.as_deref());
}

async fn reply(stream: &mut LinkStream, error: Option<String>) -> std::io::Result<()> {
    write_frame(stream, &DataReply { error }).await?;
    stream.flush().await
}

/// A data stream that arrived over a link: connect it to a local connector, or forward it
/// toward its destination.
pub(crate) async fn serve_stream(shared: Arc<Shared>, mut stream: LinkStream, header: DataHeader) {
    if header.destination == shared.me() {
        let mut last = format!("site {} has no connector for routing key {:?}", shared.me(), header.routing_key);
        for (name, host, port) in shared.local_targets(&header.routing_key) {
            let guard = {
                let mut st = shared.lock();
                shared.count(&mut st, Count::Connector(name.clone()))
            };
            match Box::pin(dial_target(&shared, &name, &host, port)).await {
                Ok(backend) => {
                    shared.connector_result(&name, Ok(()));
                    if Box::pin(reply(&mut stream, None)).await.is_ok() {
                        let _ = match backend {
                            Backend::Plain(tcp) => splice::splice_tcp(tcp, stream).await,
                            b => Box::pin(splice_io(b.into_io(), Box::new(stream))).await,
                        };
                    }
                    drop(guard);
                    return;
                }
                Err(e) => {
                    shared.connector_result(&name, Err(&e));
                    last = format!("connector {name}: {e}");
                }
            }
        }
        let _ = reply(&mut stream, Some(last)).await;
        let _ = stream.shutdown().await;
        return;
    }
    // Transit: pass it on along our shortest path.
    if header.ttl == 0 {
        let _ = reply(&mut stream, Some("too many hops (routing loop?)".into())).await;
        return;
    }
    let Some(next) = shared.next_hop_session(&header.destination) else {
        let _ =
            reply(&mut stream, Some(format!("site {} has no route to site {}", shared.me(), header.destination))).await;
        return;
    };
    let onward = DataHeader { ttl: header.ttl - 1, ..header };
    match Box::pin(open_data_stream(&next, &onward)).await {
        Ok(out) => {
            if Box::pin(reply(&mut stream, None)).await.is_ok() {
                let _ = Box::pin(splice::splice_streams(stream, out)).await;
            }
        }
        Err(e) => {
            let _ = reply(&mut stream, Some(e.to_string())).await;
        }
    }
}
