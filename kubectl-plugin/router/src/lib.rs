//! The host-embedded router: accepts and dials links (mutual TLS, optionally through an HTTP
//! CONNECT proxy), multiplexes service connections over them, exchanges link state with other
//! sites and routes each new connection by cost with failover.
//!
//! It knows nothing about files or resources: the platform turns a site's resources into a
//! [`RouterConfig`] and calls [`Router::apply`] whenever they change, and reads [`Router::status`]
//! to write resource status. Everything here runs on the caller's tokio runtime.
//!
//! # Layout
//! Each module uses only those listed after it (the `layers` test checks that none import each
//! other in a circle).
//! - `link`: the dialer of each outgoing link and the acceptor of the link-access ports.
//! - `session`: one link's multiplexed connection, its driver and the control streams; it hands
//!   the data streams peers open to the data plane the router wires in (`state::DataPlane`).
//! - `service`: the data plane: listeners, connectors and the forwarding of connections.
//! - `state`: what the tasks share (sessions, status, counters) behind one short-held mutex.
//! - `peer`: what the rest holds of a session: its handle (opens streams) and its outbox.
//! - `splice`: copying between TCP connections and streams.
//! - `mux`: the multiplexer: streams with credit-based flow control over one TLS connection.
//! - `proxy`: HTTP CONNECT tunnels for links.
//! - `target`: a connector's TLS toward its target and why reaching it failed.
//! - `tls`: every TLS end of the project, built from PEM: both link ends, listeners and
//!   connectors with `tlsCredentials`, the grant server and the webhook; TLS errors in words.
//! - `net`: sockets: dialing by name with a deadline, binding ports.
//! - `table`: the link-state database and shortest paths (math in `skupper_core::routing`).
//! - `proto`: frames exchanged inside a link (hello, cost, LSAs, stream headers).
//! - `explain`: route decisions and their counts (plain data).
//! - `access`: the caps of the link-access ports.
//! - `keepalive`: ping and dead-peer timings of links.
//! - `backoff`, `log`: reconnect delays and throttled log lines.
//! - `model`: the configuration the platform gives and the status it reads (plain data,
//!   re-exported here).
//! - `error`: errors rendered with their causes.
//!
//! The crate root holds [`Router`] itself and imports every module; no module imports from it.
//!
//! Shared with the rest of `kubectl-skupper` (the router needs them, and nothing here needs the
//! plugin): `certs` (site CAs and certificates), `limits` (connection gates and the open-file
//! budget of servers anyone can reach), `logs` (the log lines of long-running processes) and,
//! for tests, `fuzzing` (proptest strategies over a seed corpus).

mod access;
mod backoff;
pub mod certs;
pub mod error;
mod explain;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod keepalive;
mod lanes;
#[cfg(test)]
mod layers;
pub mod limits;
mod link;
mod log;
pub mod logs;
mod model;
mod mux;
mod net;
#[cfg(test)]
mod netsim;
mod open;
mod peer;
mod proto;
mod proxy;
mod service;
mod session;
mod splice;
mod state;
mod table;
mod target;
#[cfg(test)]
mod tests;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use self::explain::{PathCount, RouteDecision, RouteReason};
use self::log::{Throttle, log};
use self::state::{ConnectorEntry, DataPlane, LinkEntry, ListenerEntry, ListenerError, Shared};

pub use self::model::{
    Backoff, ConnectorConfig, IncomingLink, KeyStrategy, LinkAccessConfig, LinkAccessPorts, LinkConfig, LinkPhase,
    LinkState, ListenerConfig, MultiKeyListenerConfig, NetworkSite, RouterConfig, RouterStatus, ServiceState,
    ServiceTls, StartOptions,
};
/// The link protocol version (`kubectl skupper version` reports it).
pub use proto::PROTOCOL_VERSION;
pub use skupper_core::resources::{ProxySettings, TlsMaterial};

/// A running router.
pub struct Router {
    shared: Arc<Shared>,
    /// Shared with the task that retries failed binds ([`rebind`]).
    running: Arc<tokio::sync::Mutex<Running>>,
}

/// The tasks started for the current config (what `apply` reconciles).
struct Running {
    config: RouterConfig,
    /// Link-access acceptor tasks, stopped and awaited before rebinding.
    access: Option<(LinkAccessConfig, CancellationToken, Vec<JoinHandle<()>>)>,
    /// Parent of incoming sessions: cancelled when link access is switched off.
    incoming: CancellationToken,
    links: BTreeMap<String, CancellationToken>,
    listeners: BTreeMap<String, (CancellationToken, Option<JoinHandle<()>>)>,
    options: StartOptions,
    /// Bind errors are logged when they change, not at every retry.
    bind_logs: BTreeMap<String, Throttle>,
}

/// How often unreachable sites are checked for pruning.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);
/// First wait before a failed bind (link access, a listener) is tried again; it doubles up to
/// [`REBIND_MAX`] while the bind keeps failing.
const REBIND_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two tries of a failed bind.
const REBIND_MAX: Duration = Duration::from_secs(5);

fn validate(config: &RouterConfig) -> anyhow::Result<()> {
    anyhow::ensure!(!config.site_id.trim().is_empty(), "the router needs a site id; the site has none yet");
    Ok(())
}

/// The phase and message of a link that was not tried yet.
fn initial_link_state(cfg: &LinkConfig) -> (LinkPhase, String) {
    match &cfg.config_error {
        Some(e) => (LinkPhase::Error, e.clone()),
        None => (LinkPhase::Pending, format!("connecting to {}", net::authority(&cfg.host, cfg.port))),
    }
}

/// Whether two link configs differ in nothing but the cost.
fn only_cost_differs(a: &LinkConfig, b: &LinkConfig) -> bool {
    a.cost != b.cost && LinkConfig { cost: b.cost, ..a.clone() } == *b
}

impl Router {
    /// Starts a router with `config`: binds link access, listeners; dials links (the tests' way;
    /// sites start theirs with [`Router::start_with`]).
    ///
    /// Bind failures do not fail the start; they are reported in [`Router::status`].
    #[cfg(test)]
    pub async fn start(config: RouterConfig) -> anyhow::Result<Self> {
        Self::start_with(config, StartOptions::default()).await
    }

    /// [`Router::start`] with process-level options.
    pub async fn start_with(config: RouterConfig, options: StartOptions) -> anyhow::Result<Self> {
        validate(&config)?;
        // Sessions hand the data streams their peers open to the data plane.
        let data_plane =
            DataPlane::new(|shared, stream, header| Box::pin(service::serve_stream(shared, stream, header)));
        let shared = Shared::new(&config, data_plane, options.link_connections.clamp(1, lanes::MAX_EXTRA + 1));
        shared.spawn(housekeeping(shared.clone()));
        shared.spawn(service::probe_connectors(shared.clone()));
        let empty = RouterConfig {
            links: BTreeMap::new(),
            listeners: BTreeMap::new(),
            connectors: BTreeMap::new(),
            multi_key_listeners: BTreeMap::new(),
            link_access: None,
            ..config.clone()
        };
        let running = Running {
            config: empty,
            access: None,
            incoming: shared.root.child_token(),
            links: BTreeMap::new(),
            listeners: BTreeMap::new(),
            options,
            bind_logs: BTreeMap::new(),
        };
        let router = Self { shared, running: Arc::new(tokio::sync::Mutex::new(running)) };
        router.apply(config).await?;
        router.shared.spawn(rebind(router.shared.clone(), Arc::downgrade(&router.running)));
        log!("router of site {} started", router.shared.me());
        Ok(router)
    }

    /// Reconciles to a new config without disturbing what did not change.
    pub async fn apply(&self, config: RouterConfig) -> anyhow::Result<()> {
        validate(&config)?;
        let mut run = self.running.lock().await;
        anyhow::ensure!(
            config.site_id == run.config.site_id,
            "the site id changed from {} to {}; restart the router to run as another site",
            run.config.site_id,
            config.site_id
        );
        let shared = &self.shared;
        {
            let mut st = shared.lock();
            st.site_name = config.site_name.clone();
            st.namespace = config.namespace.clone();
            st.backoff = config.backoff;
        }
        apply_access(shared, &mut run, &config).await;
        self.apply_links(&mut run, &config);
        apply_listeners(shared, &mut run, &config).await;
        {
            let mut st = shared.lock();
            st.connectors.retain(|name, _| config.connectors.contains_key(name));
            for (name, cfg) in &config.connectors {
                match st.connectors.get_mut(name) {
                    Some(c) if c.config == *cfg => {}
                    Some(c) => {
                        // Open connections keep being counted against it.
                        let open = c.open;
                        *c = ConnectorEntry { open, ..ConnectorEntry::new(cfg.clone()) };
                    }
                    None => {
                        st.connectors.insert(name.clone(), ConnectorEntry::new(cfg.clone()));
                    }
                }
            }
            st.refresh(false);
        }
        run.config = config;
        Ok(())
    }

    fn apply_links(&self, run: &mut Running, config: &RouterConfig) {
        let shared = &self.shared;
        let old = std::mem::take(&mut run.links);
        for (name, token) in old {
            if config.links.contains_key(&name) {
                run.links.insert(name, token);
            } else {
                token.cancel();
                shared.lock().links.remove(&name);
            }
        }
        for (name, cfg) in &config.links {
            let previous = run.config.links.get(name).filter(|_| run.links.contains_key(name));
            match previous {
                Some(p) if p == cfg => continue,
                Some(p) if only_cost_differs(p, cfg) => {
                    shared.set_link_cost(name, cfg.cost);
                    continue;
                }
                _ => {}
            }
            if let Some(token) = run.links.remove(name) {
                token.cancel();
            }
            let generation = shared.next_id();
            let token = shared.root.child_token();
            {
                let mut st = shared.lock();
                let (phase, message) = initial_link_state(cfg);
                let entry = LinkEntry {
                    config: cfg.clone(),
                    generation,
                    phase,
                    message,
                    remote: None,
                    outbox: None,
                    session: None,
                };
                st.links.insert(name.clone(), entry);
            }
            // Every line the link's task logs names the link and where it dials.
            let span = tracing::info_span!("link", link = %name, peer = %net::authority(&cfg.host, cfg.port));
            shared.spawn(link::run_link(shared.clone(), name.clone(), generation, token.clone()).instrument(span));
            run.links.insert(name.clone(), token);
        }
    }

    /// The current state.
    pub fn status(&self) -> RouterStatus {
        self.shared.status()
    }

    /// Closes everything and waits for tasks to end.
    pub async fn shutdown(self) {
        self.shared.root.cancel();
        self.shared.tasks.wait().await;
        log!("router of site {} stopped", self.shared.me());
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // A router dropped without shutdown still stops its tasks.
        self.shared.root.cancel();
    }
}

/// Binds link access as `config` wants it; a failed bind is tried again on every call.
async fn apply_access(shared: &Arc<Shared>, run: &mut Running, config: &RouterConfig) {
    let failed = shared.lock().access_error.is_some();
    // Unchanged and working: nothing to do. A failed bind is retried on every apply.
    if run.access.as_ref().map(|(c, ..)| c) == config.link_access.as_ref() && !failed {
        return;
    }
    if let Some((_, token, tasks)) = run.access.take() {
        token.cancel();
        for t in tasks {
            let _ = t.await;
        }
    }
    let Some(cfg) = &config.link_access else {
        // No link access any more: incoming links go too.
        run.incoming.cancel();
        run.incoming = shared.root.child_token();
        let mut st = shared.lock();
        st.access_error = None;
        st.access_ports = None;
        return;
    };
    let token = shared.root.child_token();
    let mut tasks = Vec::new();
    match link::bind_access(cfg).await {
        Ok(access) => {
            let port = |l: &Option<tokio::net::TcpListener>| {
                l.as_ref().and_then(|l| l.local_addr().ok()).map_or(0, |a| a.port())
            };
            let ports = LinkAccessPorts { inter_router: port(&access.listeners[0]), edge: port(&access.listeners[1]) };
            {
                let mut st = shared.lock();
                st.access_error = None;
                st.access_ports = Some(ports);
            }
            let retried = if run.bind_logs.remove(ACCESS_LOG).is_some() { " after earlier failures" } else { "" };
            log!(
                "accepting links on {}:{} and {}:{}{retried}",
                cfg.bind_host,
                ports.inter_router,
                cfg.bind_host,
                ports.edge
            );
            for l in access.listeners.into_iter().flatten() {
                let task =
                    link::run_acceptor(shared.clone(), l, access.tls.clone(), token.clone(), run.incoming.clone());
                tasks.push(shared.spawn(task));
            }
        }
        Err(e) => {
            run.bind_logs.entry(ACCESS_LOG.into()).or_default().log(&format!(
                "link access: {e} (trying again every {}-{} s)",
                REBIND_FIRST.as_secs(),
                REBIND_MAX.as_secs()
            ));
            let mut st = shared.lock();
            st.access_error = Some(e.to_string());
            st.access_ports = None;
        }
    }
    run.access = Some((cfg.clone(), token, tasks));
}

/// Every listener `config` wants, by entry name: listeners by their name, multi-key listeners
/// by [`state::multi_key_entry`].
fn wanted_listeners(config: &RouterConfig) -> BTreeMap<String, (ListenerConfig, Option<KeyStrategy>)> {
    let plain = config.listeners.iter().map(|(n, c)| (n.clone(), (c.clone(), None)));
    let multi = config
        .multi_key_listeners
        .iter()
        .map(|(n, m)| (state::multi_key_entry(n), (m.listener.clone(), Some(m.strategy.clone()))));
    plain.chain(multi).collect()
}

/// Binds the listeners of `config`, stops the others; one that failed to bind is tried again on
/// every call.
async fn apply_listeners(shared: &Arc<Shared>, run: &mut Running, config: &RouterConfig) {
    let wanted = wanted_listeners(config);
    let before = wanted_listeners(&run.config);
    let mut keep = BTreeMap::new();
    let mut stopped = Vec::new();
    for (name, (token, task)) in std::mem::take(&mut run.listeners) {
        let same = wanted.get(&name).is_some_and(|c| before.get(&name) == Some(c));
        // A listener that failed to bind is retried on every apply; its entry stays (with the
        // error) until the bind succeeds, so its status never goes missing meanwhile. One that
        // cannot be configured waits for a new configuration.
        let bound = shared.lock().listeners.get(&name).is_some_and(|l| l.bound.is_ok() || l.config_error.is_some());
        if same && bound {
            keep.insert(name, (token, task));
        } else {
            token.cancel();
            stopped.extend(task);
            if !same {
                shared.lock().listeners.remove(&name);
                run.bind_logs.remove(&name);
            }
        }
    }
    // Wait until stopped listeners released their ports before binding again.
    for t in stopped {
        let _ = t.await;
    }
    run.listeners = keep;
    for (name, (cfg, strategy)) in &wanted {
        if run.listeners.contains_key(name) {
            continue;
        }
        let token = shared.root.child_token();
        let shown = name.replacen(state::MULTI_KEY_PREFIX, "multikeylistener ", 1);
        let shown = if shown == *name { format!("listener {name}") } else { shown };
        let (bound, config_error) = match service::listener_tls(cfg) {
            Ok(tls) => {
                let bound = service::bind_listener(cfg, run.options.share_listener_ports).await;
                (bound.map(|b| (b, tls)).map_err(ListenerError::from), None)
            }
            Err(e) => (Err(ListenerError::Config(e.clone())), Some(e)),
        };
        let (state, bound) = match bound {
            Ok((b, tls)) => {
                let port = b.port();
                if run.bind_logs.remove(name).is_some() {
                    log!("{shown}: port {port} bound after earlier failures");
                }
                (Ok(port), Some((b, tls)))
            }
            Err(e) if config_error.is_some() => {
                run.bind_logs.entry(name.clone()).or_default().log(&format!("{shown}: {e}"));
                (Err(e), None)
            }
            Err(e) => {
                run.bind_logs.entry(name.clone()).or_default().log(&format!(
                    "{shown}: {e} (trying again every {}-{} s)",
                    REBIND_FIRST.as_secs(),
                    REBIND_MAX.as_secs()
                ));
                (Err(e), None)
            }
        };
        {
            let mut st = shared.lock();
            match st.listeners.get_mut(name) {
                // Tried again: same listener, new outcome.
                Some(l) if l.config == *cfg && l.strategy == *strategy => {
                    l.bound = state;
                    l.config_error = config_error;
                }
                _ => {
                    let mut entry = ListenerEntry::new(cfg.clone(), strategy.clone(), state);
                    entry.config_error = config_error;
                    st.listeners.insert(name.clone(), entry);
                }
            }
        }
        // The task starts once the entry exists: it reads its keys from it.
        let task = bound
            .map(|(b, tls)| shared.spawn(service::run_listener(shared.clone(), name.clone(), b, tls, token.clone())));
        run.listeners.insert(name.clone(), (token, task));
    }
}

/// Key of link access in [`Running::bind_logs`] (not a valid listener name).
const ACCESS_LOG: &str = "link access/";

/// Tries failed binds (link access, listeners) again until they succeed: a second after the
/// failure, then doubling up to [`REBIND_MAX`] while they keep failing. A port that frees up is
/// bound without any change to the configuration, and the status says so by itself.
async fn rebind(shared: Arc<Shared>, running: std::sync::Weak<tokio::sync::Mutex<Running>>) {
    let mut wait = REBIND_FIRST;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.root.cancelled() => return,
        }
        if !shared.bind_failed() {
            wait = REBIND_FIRST;
            continue;
        }
        let Some(running) = running.upgrade() else { return };
        {
            let mut run = running.lock().await;
            let config = run.config.clone();
            apply_access(&shared, &mut run, &config).await;
            apply_listeners(&shared, &mut run, &config).await;
        }
        shared.lock().refresh(false);
        wait = if shared.bind_failed() { (wait * 2).min(REBIND_MAX) } else { REBIND_FIRST };
    }
}

/// Forgets sites that stayed unreachable past the grace period.
async fn housekeeping(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.root.cancelled() => return,
        }
        let mut st = shared.lock();
        if st.table.prune(std::time::Instant::now(), table::UNREACHABLE_GRACE) {
            st.refresh(false);
        }
    }
}
