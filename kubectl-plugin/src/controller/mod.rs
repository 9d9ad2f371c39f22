//! `kubectl skupper controller`: runs the site of one Kubernetes namespace, control plane and
//! data plane in one process. It holds the namespace's Lease (one controller per namespace),
//! watches the namespace's Skupper resources and Secrets, and reconciles them in one loop, as the
//! local site process does with its files: the active Site's CAs, link access and grant server
//! ([`site`]), AccessGrants ([`grants`]) and AccessTokens ([`tokens`]), the same embedded router
//! (configured by the same `router_config`), and the status of every resource from the router's
//! live state (the same `Statuses`), written back only when it changes.
//!
//! # Layout
//! - [`lease`]: one controller per namespace.
//! - [`state`]: watches and caches.
//! - [`site`]: CAs, link access, server certificates, RouterAccess, grant server.
//! - [`grants`]: grant processing and the grant server's store.
//! - [`tokens`]: redemption of AccessTokens.
//! - [`status`]: compare-then-write status updates.
//! - [`network`]: the router's network view for the CLI (a ConfigMap).
//! - [`services`]: in a cluster, the Services in front of the controller and selector pods.
//! - [`health`]: liveness and readiness endpoints.

pub(crate) mod grants;
pub(crate) mod health;
pub(crate) mod lease;
pub(crate) mod network;
pub(crate) mod services;
pub(crate) mod site;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod tokens;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use kube::Api;
use skupper_core::resources::{Condition, ControllerRecord, Resource, condition};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use self::grants::GrantIssuer;
use self::lease::{Holder, LeaseError};
use self::site::{HostMode, SiteSetup};
use self::state::Stores;
use self::status::{observed, write_status};
use self::tokens::{Tokens, owned_by};
use crate::platform::config::router_config;
use crate::platform::kube::client::{self, Selection};
use crate::platform::kube::cr::{KAccessGrant, KConnector, KLink, KListener, KMultiKeyListener, KSite};
use crate::platform::kube::errors::{Op, explain};
use crate::platform::now_rfc3339;
use crate::platform::router_host::{RouterHost, link_connections};
use crate::platform::status::{RouterStatusFile, SERVICE_REQUIRED, Statuses, site_required};
use skupper_router::{LinkPhase, StartOptions};

/// How often statuses are recomputed from the router.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How often the network snapshot may be rewritten.
const NETWORK_EVERY: Duration = Duration::from_secs(2);
/// Quiet time after a watch event before reconciling (a burst of events, one round).
const DEBOUNCE: Duration = Duration::from_millis(100);
/// The annotation that forces a Link to be applied again (upstream's documented practice).
const RECONCILE: &str = "reconcile";

/// Long help of `controller`.
pub(crate) const CONTROLLER_LONG: &str = "\
Run the site of a Kubernetes namespace: the controller reconciles the namespace's Skupper \
resources (Site, Link, AccessGrant, AccessToken, Listener, Connector) and runs the site's router \
and grant server in this process. One controller runs a namespace at a time (it holds the \
namespace's Lease skupper-controller); the other commands use it to know whether the site runs.

Off the cluster (host mode, the default), link access and the grant server listen on --bind-host \
(ports from 55671, 45671 and 9090, remembered in the RouterAccess skupper-router so that issued \
tokens and Links stay valid across restarts), listeners bind --service-bind-host, and connectors \
dial their host and port from this host. Stop it with Ctrl-C or SIGTERM.";

/// Examples of `controller`.
pub(crate) const CONTROLLER_AFTER: &str = "\
Examples:
  kubectl skupper -n west controller
  kubectl skupper -n west controller --bind-host 192.0.2.10 --endpoint-host west.example.com
  kubectl skupper -n west controller --log-format json";

/// `controller`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ControllerArgs {
    /// Print what runs the controller in a cluster instead of running it here.
    #[command(subcommand)]
    pub command: Option<ControllerCommand>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// Interface of link access and the grant server (host mode)
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    bind_host: String,
    /// Host remote sites use to reach this one (repeatable; default: the bind host)
    #[arg(long, value_name = "HOST")]
    endpoint_host: Vec<String>,
    /// Interface listeners bind (default: the bind host)
    #[arg(long, value_name = "HOST")]
    service_bind_host: Option<String>,
    /// Log lines for people or one JSON object per line Choices: human, json
    #[arg(long, default_value = "human", value_parser = ["human", "json"], value_name = "FORMAT")]
    log_format: String,
    /// Run inside the cluster (the Deployment of `controller manifest`): bind every interface (or
    /// $SKUPPER_BIND_HOST) on the fixed ports, link access through the Service skupper-router, a
    /// Service in front of every listener
    #[arg(long)]
    in_cluster: bool,
    /// Serve /livez and /readyz on this port (default: 9091 with --in-cluster, none otherwise)
    #[arg(long, value_name = "PORT")]
    health_port: Option<u16>,
}

/// `controller manifest`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ControllerCommand {
    /// Print the ServiceAccount, RoleBinding and Deployment that run the site of the namespace in
    /// the cluster (apply them with kubectl apply -f -)
    #[command(long_about = MANIFEST_LONG, after_help = MANIFEST_AFTER)]
    Manifest(ManifestArgs),
}

/// Long help of `controller manifest`.
pub(crate) const MANIFEST_LONG: &str = "\
Print what runs the site of the namespace inside the cluster: a ServiceAccount, a RoleBinding to \
the skupper-controller ClusterRole (from kubectl skupper install) and a Deployment of one \
controller pod (kubectl-skupper controller --in-cluster). Apply it with kubectl apply -f -.";

/// Examples of `controller manifest`.
pub(crate) const MANIFEST_AFTER: &str = "\
Examples:
  kubectl skupper -n west controller manifest | kubectl apply -f -
  kubectl skupper -n west controller manifest --image registry.example.com/kubectl-skupper:0.1.0";

/// `controller manifest`.
#[derive(Debug, Args)]
pub(crate) struct ManifestArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// The controller's image
    #[arg(long, default_value = crate::platform::kube::manifest::DEFAULT_IMAGE, value_name = "IMAGE")]
    pub image: String,
    /// Print format. Choices: json, yaml
    #[arg(short = 'o', long, default_value = "yaml", value_name = "FORMAT")]
    pub output: String,
}

impl ControllerArgs {
    /// Input problems (exit 2).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.extra.is_empty() {
            out.push("this command does not need any arguments".to_string());
        }
        for (flag, h) in std::iter::once(("--bind-host", &self.bind_host))
            .chain(self.service_bind_host.iter().map(|h| ("--service-bind-host", h)))
        {
            if h.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_err() {
                out.push(format!("{flag} is not valid: {h:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"));
            }
        }
        for h in &self.endpoint_host {
            if skupper_core::names::validate_host(h).is_err() {
                out.push(format!("endpoint host is not valid: {h:?}: a valid IP address or hostname is expected"));
            }
        }
        out
    }
}

fn log(msg: impl AsRef<str>) {
    tracing::info!(target: "controller", "{}", msg.as_ref());
}

/// Runs the controller until a signal arrives or its Lease is lost.
pub(crate) fn run(selection: &Selection, args: ControllerArgs) -> anyhow::Result<()> {
    skupper_router::logs::set_json(args.log_format == "json");
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).div_ceil(2).clamp(1, 8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(selection, args))
}

async fn run_async(selection: &Selection, args: ControllerArgs) -> anyhow::Result<()> {
    let mut target = client::resolve(selection).await?;
    // Watches hold requests open for minutes; kube's own default read timeout allows that.
    target.config.read_timeout = Some(Duration::from_secs(295));
    let kube_client = kube::Client::try_from(target.config.clone())
        .map_err(|e| anyhow::anyhow!("cannot set up the Kubernetes client: {e}"))?;
    let namespace = target.namespace.clone();
    // The CRDs must be there (and the server reachable) before anything else.
    let sites: Api<KSite> = Api::namespaced(kube_client.clone(), &namespace);
    sites
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(|e| explain(e, &Op { verb: "list", resource: "sites.skupper.io", name: None }, &target))?;
    let holder = match Holder::acquire(kube_client.clone(), &target, lease::identity()).await {
        Ok(h) => h,
        Err(e @ LeaseError::Held { .. }) => anyhow::bail!("{e}"),
        Err(LeaseError::Api(e)) => return Err(e.context("taking the Lease skupper-controller")),
    };
    log(format!(
        "controller {} (kubectl-skupper {}) runs namespace {namespace} of {} (context {})",
        holder.identity,
        env!("CARGO_PKG_VERSION"),
        target.server(),
        target.context
    ));
    let notify = Arc::new(Notify::new());
    let stores = Stores::start(&kube_client, &namespace, notify.clone(), args.in_cluster).await?;
    let bind_host = if args.in_cluster {
        std::env::var("SKUPPER_BIND_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "0.0.0.0".into())
    } else {
        args.bind_host.clone()
    };
    let mode = HostMode {
        bind_host: bind_host.clone(),
        endpoint_hosts: args.endpoint_host.clone(),
        in_cluster: args.in_cluster,
    };
    let service_host = args.service_bind_host.clone().unwrap_or_else(|| bind_host.clone());
    let health = health::Health::new();
    let health_port = args.health_port.or(args.in_cluster.then_some(crate::platform::kube::manifest::HEALTH_PORT));
    if let Some(port) = health_port {
        let addr = health::serve(health.clone(), &bind_host, port).await?;
        log(format!("health endpoints on http://{addr}/livez and /readyz"));
    }
    let mut ctl = Controller {
        client: kube_client.clone(),
        namespace: namespace.clone(),
        identity: holder.identity.clone(),
        service_host,
        setup: SiteSetup::new(kube_client.clone(), &namespace, mode),
        router: RouterHost::new(StartOptions { link_connections: link_connections(), ..StartOptions::default() }),
        statuses: Statuses::default(),
        tokens: Tokens::new(),
        stores,
        site_uid: None,
        last_status: None,
        last_network: None,
        network_written: None,
        link_phases: BTreeMap::new(),
        failing: None,
        reconcile_marks: None,
        health,
        selected: BTreeMap::new(),
        selector_problems: BTreeMap::new(),
        listener_problems: BTreeMap::new(),
    };

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut tick = tokio::time::interval(STATUS_EVERY);
    let mut renew = tokio::time::interval(lease::RENEW_EVERY);
    let mut lost = None;
    loop {
        tokio::select! {
            _ = term.recv() => { log("SIGTERM: stopping"); break; }
            _ = int.recv() => { log("SIGINT: stopping"); break; }
            _ = notify.notified() => tokio::time::sleep(DEBOUNCE).await,
            _ = tick.tick() => {}
            _ = renew.tick() => {
                if let Err(e) = holder.renew().await {
                    lost = Some(e);
                    break;
                }
            }
        }
        ctl.reconcile().await;
    }
    ctl.router.shutdown().await;
    ctl.setup.stop().await;
    match lost {
        None => {
            holder.release().await;
            log("controller stopped");
            Ok(())
        }
        Some(e) => Err(anyhow::anyhow!("the controller lost its Lease and stopped its site: {e}")),
    }
}

/// The state of one running controller.
struct Controller {
    client: kube::Client,
    namespace: String,
    identity: String,
    service_host: String,
    setup: SiteSetup,
    router: RouterHost,
    statuses: Statuses,
    tokens: Tokens,
    stores: Stores,
    site_uid: Option<String>,
    last_status: Option<Instant>,
    last_network: Option<Instant>,
    network_written: Option<String>,
    link_phases: BTreeMap<String, (LinkPhase, String)>,
    failing: Option<String>,
    /// Each Link's `reconcile` annotation as last seen (none before the first round).
    reconcile_marks: Option<BTreeMap<String, String>>,
    health: health::Health,
    /// Pods each selector Connector resolved to.
    selected: BTreeMap<String, Vec<skupper_core::resources::SelectedPod>>,
    /// Selector Connectors with no pod to dial, and why.
    selector_problems: BTreeMap<String, String>,
    /// Listeners whose Service cannot be made (in-cluster), and why.
    listener_problems: BTreeMap<String, String>,
}

impl Controller {
    fn api<K: crate::platform::kube::cr::Kind>(&self) -> Api<crate::platform::kube::cr::Cr<K>> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// One round: the site, grants, tokens, the router, and (every second) statuses.
    async fn reconcile(&mut self) {
        self.round().await;
        let active = self.site_uid.is_some();
        let link_access = self.setup.link_access.is_some();
        self.health.update(|h| {
            h.last_round = Some(Instant::now());
            h.ready = match (active, self.router.error()) {
                // Nothing to serve yet: ready for a Site (a Deployment becomes Available, and
                // `kubectl wait` before `site create` returns).
                (false, _) => Ok(()),
                (true, Some(e)) => Err(format!("router not running: {e}")),
                (true, None) if link_access && !self.setup.grant_server_running() => {
                    Err("the grant server is not running".into())
                }
                (true, None) => Ok(()),
            };
        });
    }

    async fn round(&mut self) {
        let Some(site) = self.stores.active_site() else {
            if self.site_uid.take().is_some() {
                log("the Site was deleted: stopping the router and the grant server");
                self.router.shutdown().await;
                self.setup.stop().await;
            }
            self.pending_grants("No active site in namespace").await;
            self.tokens.reconcile(&self.client, &self.namespace, &self.stores, "kubectl skupper").await;
            return;
        };
        let uid = site.metadata.uid.clone().unwrap_or_default();
        if self.site_uid.as_deref() != Some(uid.as_str()) {
            log(format!("running site {:?} (id {uid})", site.name()));
            self.site_uid = Some(uid.clone());
        }
        match self.setup.reconcile(&site, &self.stores).await {
            Ok(()) => {
                if self.failing.take().is_some() {
                    log("site set-up works again");
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if self.failing.as_deref() != Some(msg.as_str()) {
                    log(format!("setting up the site failed: {msg} (retrying)"));
                }
                self.failing = Some(msg);
            }
        }
        self.grants(&site).await;
        self.tokens.reconcile(&self.client, &self.namespace, &self.stores, "kubectl skupper").await;

        let mut res = self.stores.resources();
        (self.selected, self.selector_problems) = services::resolve_selectors(&mut res, &self.stores.pods);
        if let Some(svcs) = &self.stores.services {
            let listeners = self.stores.listeners.state();
            let problems = services::listeners(&self.client, &self.namespace, svcs, &listeners, &owned_by(&site)).await;
            for (name, p) in &problems {
                if self.listener_problems.get(name) != Some(p) {
                    log(format!("listener {name}: {p}"));
                }
            }
            self.listener_problems = problems;
        }
        let mut config = router_config(&res, &uid, &self.namespace, self.setup.link_access.clone());
        // A listener's host names its Service in a cluster; the router binds the service host.
        for l in config.listeners.values_mut().chain(config.multi_key_listeners.values_mut().map(|m| &mut m.listener)) {
            l.host = self.service_host.clone();
        }
        // `kubectl annotate link NAME reconcile=$(date +%s) --overwrite` (upstream's documented way
        // to re-apply a Link): the link is dropped and dialled again at once, backoff forgotten.
        let marks: BTreeMap<String, String> = res
            .links
            .values()
            .filter_map(|l| l.metadata.annotations.get(RECONCILE).map(|v| (l.name().to_string(), v.clone())))
            .collect();
        // Marks present when the controller started are not news; any mark added or changed since is.
        let forced: Vec<String> = match &self.reconcile_marks {
            None => Vec::new(),
            Some(old) => marks.iter().filter(|(n, v)| old.get(*n) != Some(*v)).map(|(n, _)| n.clone()).collect(),
        };
        self.reconcile_marks = Some(marks);
        if !forced.is_empty() && self.router.applied().is_some() {
            let mut without = config.clone();
            for n in &forced {
                without.links.remove(n);
                log(format!("link {n} re-applied: its reconcile annotation changed"));
            }
            self.router.reconcile(without, &|m| log(m)).await;
        }
        self.router.reconcile(config, &|m| log(m)).await;

        if self.last_status.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
            self.last_status = Some(Instant::now());
            self.write_statuses(&site).await;
        }
        if self.last_network.is_none_or(|t| t.elapsed() >= NETWORK_EVERY) {
            self.last_network = Some(Instant::now());
            let snapshot = RouterStatusFile::from_router(&self.router.status(), self.router.applied());
            if let Err(e) =
                network::publish(&self.client, &self.namespace, &snapshot, &owned_by(&site), &mut self.network_written)
                    .await
            {
                log(format!("{e:#}"));
            }
        }
    }

    async fn pending_grants(&self, message: &str) {
        let api: Api<KAccessGrant> = self.api();
        let issuer = GrantIssuer::Unavailable(Condition::pending(condition::RESOLVED, message));
        grants::process_all(&api, &self.stores.grants, &issuer).await;
    }

    async fn grants(&self, site: &KSite) {
        let api: Api<KAccessGrant> = self.api();
        let unavailable = |c| GrantIssuer::Unavailable(c);
        let issuer = if site.spec.edge {
            unavailable(Condition::error(
                condition::PROCESSED,
                "Edge sites cannot accept incoming links from remote sites",
            ))
        } else if !site.spec.link_access_enabled() {
            unavailable(Condition::pending(condition::RESOLVED, "Link access is not enabled for the site"))
        } else {
            match (self.setup.grant_url_base(), &self.setup.grant_ca_pem) {
                (Some(url_base), Some(ca)) => {
                    grants::process_all(
                        &api,
                        &self.stores.grants,
                        &GrantIssuer::Ready { url_base: &url_base, ca_pem: ca },
                    )
                    .await;
                    return;
                }
                _ => unavailable(Condition::pending(condition::RESOLVED, "The grant server is not running yet")),
            }
        };
        grants::process_all(&api, &self.stores.grants, &issuer).await;
    }

    /// Every status from the router's live state, written where it changed.
    async fn write_statuses(&mut self, site: &KSite) {
        let res = self.stores.resources();
        self.statuses.prime(&res);
        let router = self.router.status();
        let error = self.router.error().map(str::to_string);
        let applied = self.router.applied().cloned();
        let now = now_rfc3339();
        let Resource::Site(core_site) = site.to_resource() else { return };
        let endpoints = self.setup.endpoints.clone();
        let mut s = self.statuses.site(&core_site, endpoints, "kubernetes", &router, error.as_deref(), &now);
        if let (Some(w), true) = (&self.setup.waiting, core_site.spec.link_access_enabled()) {
            let required = site_required(true);
            s.status.set_condition(Condition::pending(condition::RESOLVED, w.clone()), required, Some(&now));
        }
        if let Some(e) = &self.failing {
            let required = site_required(core_site.spec.link_access_enabled());
            s.status.set_condition(Condition::error(condition::CONFIGURED, e.clone()), required, Some(&now));
        }
        s.controller = Some(ControllerRecord {
            name: self.identity.clone(),
            namespace: self.namespace.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
        });
        observed(&mut s.status, site.metadata.generation);
        let sites: Api<KSite> = self.api();
        report(write_status(&sites, site, s).await, "site", site.name());
        // Every other Site waits for the active one to go.
        for other in self.stores.sites.state().iter().filter(|o| o.metadata.uid != site.metadata.uid) {
            let mut st = other.status.clone().unwrap_or_default();
            let c = Condition::error(
                condition::CONFIGURED,
                format!("An active site already exists in the namespace ({})", site.name()),
            );
            st.status.set_condition(c, site_required(other.spec.link_access_enabled()), Some(&now));
            observed(&mut st.status, other.metadata.generation);
            report(write_status(&sites, other, st).await, "site", other.name());
        }

        let links: Api<KLink> = self.api();
        for l in self.stores.links.state() {
            let Resource::Link(core) = l.to_resource() else { continue };
            let config_error =
                applied.as_ref().and_then(|c| c.links.get(l.name())).and_then(|c| c.config_error.clone());
            let mut st = self.statuses.link(&core, config_error, &router, error.as_deref(), &now);
            observed(&mut st.status, l.metadata.generation);
            self.log_link(l.name(), &router);
            report(write_status(&links, &l, st).await, "link", l.name());
        }
        let listeners: Api<KListener> = self.api();
        for l in self.stores.listeners.state() {
            let mut st =
                self.statuses.service("Listener", l.name(), router.listeners.get(l.name()), error.as_deref(), &now);
            // In a cluster a listener is reached through its Service: without one it is not usable.
            if let Some(p) = self.listener_problems.get(l.name()) {
                st.status.set_condition(
                    Condition::error(condition::CONFIGURED, p.clone()),
                    SERVICE_REQUIRED,
                    Some(&now),
                );
            }
            observed(&mut st.status, l.metadata.generation);
            report(write_status(&listeners, &l, st).await, "listener", l.name());
        }
        let connectors: Api<KConnector> = self.api();
        for c in self.stores.connectors.state() {
            let mut st =
                self.statuses.service("Connector", c.name(), router.connectors.get(c.name()), error.as_deref(), &now);
            if let Some(p) = self.selector_problems.get(c.name()) {
                st.status.set_condition(
                    Condition::pending(condition::CONFIGURED, p.clone()),
                    SERVICE_REQUIRED,
                    Some(&now),
                );
            }
            st.selected_pods = self.selected.get(c.name()).cloned().unwrap_or_default();
            observed(&mut st.status, c.metadata.generation);
            report(write_status(&connectors, &c, st).await, "connector", c.name());
        }
        if let Some(store) = &self.stores.multi_key_listeners {
            let api: Api<KMultiKeyListener> = self.api();
            for m in store.state() {
                let Resource::MultiKeyListener(core) = m.to_resource() else { continue };
                let state = router.multi_key_listeners.get(m.name());
                let mut st = self.statuses.multi_key_listener(&core, state, error.as_deref(), &now);
                // In a cluster a listener is reached through a Service, which this controller
                // makes for Listeners only so far: said, not left looking usable.
                if self.stores.services.is_some() {
                    st.status.set_condition(
                        Condition::error(
                            condition::CONFIGURED,
                            "in-cluster MultiKeyListeners get no Service from this controller yet: use a Listener per \
                             routing key, or run the controller in host mode",
                        ),
                        skupper_core::resources::MultiKeyListener::REQUIRED,
                        Some(&now),
                    );
                }
                observed(&mut st.status, m.metadata.generation);
                report(write_status(&api, &m, st).await, "multikeylistener", m.name());
            }
        }
        self.statuses.prune(&res);
        self.link_phases.retain(|n, _| res.links.contains_key(n));
    }

    /// One line when a link goes up or down, with the reason.
    fn log_link(&mut self, name: &str, router: &skupper_router::RouterStatus) {
        let Some(l) = router.links.get(name) else { return };
        let now = (l.phase, l.message.clone());
        if self.link_phases.get(name) == Some(&now) {
            return;
        }
        match l.phase {
            LinkPhase::Ready => log(format!("link {name} is up: connected to site {:?}", l.remote_site_name)),
            _ if self.link_phases.get(name).is_some_and(|(p, _)| *p == LinkPhase::Ready) => {
                log(format!("link {name} is down: {}", l.message))
            }
            _ if !l.message.is_empty() && l.message != "OK" => log(format!("link {name} is not up: {}", l.message)),
            _ => {}
        }
        self.link_phases.insert(name.to_string(), now);
    }
}

fn report(result: anyhow::Result<bool>, what: &str, name: &str) {
    if let Err(e) = result {
        log(format!("{what} {name}: {e:#}"));
    }
}
