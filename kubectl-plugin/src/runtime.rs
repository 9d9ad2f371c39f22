//! A running local site (`system start --foreground`): loads the site's resources, runs the
//! router and the grant server, re-reads `input/resources` every half second and reconciles
//! the router when the configuration changed, writes status files, and stops cleanly on
//! SIGTERM/SIGINT or when its Site is deleted. SIGHUP (`system reload`) re-reads and reconciles
//! at once, writes every status file and counts the reload in its state file.
//!
//! An HA site runs two such processes, one per router group (reference §1.1): the first
//! (`skupper-router`) also runs the grant server and writes the resources' status; the second
//! (`skupper-router-2`, `system start --foreground --group skupper-router-2`) has its own
//! link-access ports and process files, dials the first (the inter-router mesh, cost 1, with a
//! client certificate of the site CA) and, like the first, dials every Link, binds every listener
//! (SO_REUSEPORT on both) and has every connector, so either one alone keeps the site working.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use skupper_core::resources::{
    AccessGrant, Connector, GROUP_PRIMARY, GROUP_SECONDARY, Link, Listener, MultiKeyListener, ROLE_EDGE,
    ROLE_INTER_ROUTER, Resource, Site,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::grant::server::{GrantContext, GrantServer};
use crate::platform::config::router_config;
use crate::platform::local::grants::LocalGrantStore;
use crate::platform::local::status::ROUTER_STATUS;
use crate::platform::local::{self, Access, Home, RuntimeState, write_atomic};
use crate::platform::resources::{Resources, resource_yaml};
use crate::platform::router_host::{RouterHost, link_connections};
use crate::platform::status::{RouterStatusFile, Statuses};
use crate::platform::{GRANT_SERVER_CERT, SITE_SERVER_CERT, now_rfc3339, now_unix};
use skupper_router::{LinkAccessConfig, LinkConfig, RouterConfig, StartOptions};

/// How often `input/resources` is re-read.
const POLL: Duration = Duration::from_millis(500);
/// How often status files are refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Name, in the second router's configuration, of its link to the first router of the site
/// (not a valid resource name, so no user Link can take it).
const MESH_LINK: &str = "ha-mesh/skupper-router";
/// Server certificate of the second router's link-access ports.
const SITE_SERVER_CERT_2: &str = "skupper-site-server-2";

/// Logs an event of the site process (component `site`).
fn log(msg: impl AsRef<str>) {
    tracing::info!(target: "site", "{}", msg.as_ref());
}

/// Logs a failure of the site process that it carries on after.
fn warn(msg: impl AsRef<str>) {
    tracing::warn!(target: "site", "{}", msg.as_ref());
}

/// Runs the site of `home` in this process until a signal arrives.
pub(crate) fn run_foreground(home: Home) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(router_workers())
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(home))
}

/// Worker threads of a site process: `SKUPPER_ROUTER_WORKERS` if set, else half the CPUs (at
/// least 1, at most 8). A router shares its host with the applications it carries; on 2 cores
/// one worker measured better than two in every workload of `scripts/bench.sh` (no wake-ups
/// across threads between the socket, the multiplexer and TLS).
fn router_workers() -> usize {
    if let Some(n) = std::env::var("SKUPPER_ROUTER_WORKERS").ok().and_then(|v| v.trim().parse::<usize>().ok())
        && n > 0
    {
        return n;
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    (cpus / 2).clamp(1, 8)
}

async fn run(home: Home) -> anyhow::Result<()> {
    let pid = std::process::id();
    // Before the pid file names this process: `system reload` sends SIGHUP to the process the
    // pid file names, and SIGHUP's default action would end it.
    let hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    claim_pid_file(&home, pid)?;
    let started_at = now_rfc3339();
    let mut state = RuntimeState { pid, phase: "Starting".into(), started_at, ..Default::default() };
    write_state(&home, &state);
    let result = RunningSite::run(&home, &mut state, hup).await;
    match &result {
        Ok(()) => {
            state.phase = "Stopped".into();
            log("site stopped");
        }
        Err(e) => {
            state.phase = "Failed".into();
            // `main` prints the error itself (into the log when started in the background).
            state.message = format!("{e:#}");
        }
    }
    write_state(&home, &state);
    release_pid_file(&home, pid);
    result
}

fn write_state(home: &Home, state: &RuntimeState) {
    match serde_yaml::to_string(state) {
        Ok(text) => {
            if let Err(e) = write_atomic(&home.state_path(), text.as_bytes(), 0o600) {
                warn(format!("cannot write {}: {e:#}", home.state_path().display()));
            }
        }
        Err(e) => warn(format!("cannot encode the runtime state: {e}")),
    }
}

fn claim_pid_file(home: &Home, pid: u32) -> anyhow::Result<()> {
    local::create_dir_private(&home.runtime_dir())?;
    let path = home.pid_path();
    let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
    match created {
        Ok(mut f) => {
            writeln!(f, "{pid}").with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Some(other) = home.running_pid()
                && other != pid
            {
                if home.group() == GROUP_PRIMARY {
                    bail!("the site of namespace {} is already running (pid {other})", home.namespace);
                }
                bail!("router {} of namespace {} is already running (pid {other})", home.group(), home.namespace);
            }
            // A stale file from a site that did not stop cleanly.
            write_atomic(&path, format!("{pid}\n").as_bytes(), 0o600)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn release_pid_file(home: &Home, pid: u32) {
    let path = home.pid_path();
    let ours = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse::<u32>().ok()) == Some(pid);
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// The running pieces of a site (of one of its routers, for an HA site).
struct RunningSite {
    home: Home,
    /// `skupper-router`, or `skupper-router-2` for the second router of an HA site.
    group: &'static str,
    /// The second router's link to the first.
    mesh: Option<LinkConfig>,
    site_id: String,
    access: Option<Access>,
    link_access: Option<LinkAccessConfig>,
    grant_server: Option<GrantServer>,
    router: RouterHost,
    statuses: Statuses,
    /// Status files as last written, so unchanged ones are not rewritten.
    written: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl RunningSite {
    async fn run(home: &Home, state: &mut RuntimeState, mut hup: tokio::signal::unix::Signal) -> anyhow::Result<()> {
        let (res, problems) = home.load_lenient()?;
        for p in &problems {
            log(p);
        }
        let Some(site) = res.site.clone() else {
            bail!("there is no Site in {}; create one with kubectl skupper site create", home.resources_dir().display())
        };
        // What writers that were killed (an interrupted apply, an earlier site) left behind.
        let stale: usize = [home.resources_dir(), home.runtime_dir(), home.status_dir()]
            .iter()
            .map(|d| local::remove_stale_temp_files(d))
            .sum();
        if stale > 0 {
            log(format!("removed {stale} temporary files left by interrupted writes"));
        }
        let group = home.group();
        let second = group == GROUP_SECONDARY;
        if second && !site.spec.ha {
            bail!(
                "site {:?} is not an HA site, so it has no router {group}; enable HA with kubectl skupper site update --enable-ha",
                site.name()
            );
        }
        if second && !site.spec.link_access_enabled() {
            bail!(
                "the second router of site {:?} links to the first through link access; enable it with kubectl skupper site update --enable-link-access",
                site.name()
            );
        }
        if second {
            log(format!(
                "starting router {group} of site {:?} in namespace {:?} (pid {})",
                site.name(),
                home.namespace,
                state.pid
            ));
        } else {
            log(format!("starting site {:?} in namespace {:?} (pid {})", site.name(), home.namespace, state.pid));
        }
        let mut s = Self {
            home: home.clone(),
            group,
            mesh: None,
            site_id: home.site_id()?,
            access: None,
            link_access: None,
            grant_server: None,
            router: RouterHost::new(StartOptions {
                share_listener_ports: site.spec.ha,
                link_connections: link_connections(),
            }),
            statuses: Statuses::default(),
            written: BTreeMap::new(),
            problems,
        };
        home.site_ca(site.name())?;
        s.ensure_link_access(&site, &res).await?;
        let config = s.config(&res);
        s.router.reconcile(config, &|m| log(m)).await;
        state.phase = "Running".into();
        state.router = s.router.error().unwrap_or("OK").to_string();
        state.problems = s.router.status().bind_errors();
        state.grant_server = s.grant_server_url();
        s.write_statuses(&res);
        write_state(home, state);
        log("site running");

        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut tick = tokio::time::interval(POLL);
        let mut last_status = Instant::now();
        loop {
            let mut reload = false;
            tokio::select! {
                _ = term.recv() => { log("SIGTERM: stopping"); break; }
                _ = int.recv() => { log("SIGINT: stopping"); break; }
                _ = hup.recv() => { log("SIGHUP: re-reading the resources now (system reload)"); reload = true; }
                _ = tick.tick() => {}
            }
            let (res, problems) = match home.load_lenient() {
                Ok(x) => x,
                Err(e) => {
                    warn(format!("cannot read the site's resources: {e:#}"));
                    continue;
                }
            };
            if problems != s.problems {
                for p in &problems {
                    log(p);
                }
                s.problems = problems;
            }
            let Some(site) = res.site.clone() else {
                log("the Site was deleted: stopping");
                break;
            };
            if second && !site.spec.ha {
                log("HA was turned off for the site: stopping the second router");
                break;
            }
            if !second {
                s.process_grants(&res);
            }
            if let Err(e) = s.ensure_link_access(&site, &res).await {
                warn(format!("link access: {e:#}"));
            }
            let config = s.config(&res);
            s.router.reconcile(config, &|m| log(m)).await;
            let router_now = s.router.error().unwrap_or("OK").to_string();
            let grant_now = s.grant_server_url();
            let problems_now = s.router.status().bind_errors();
            if state.router != router_now || state.grant_server != grant_now || state.problems != problems_now {
                state.router = router_now;
                state.grant_server = grant_now;
                state.problems = problems_now;
                write_state(home, state);
            }
            if reload || last_status.elapsed() >= STATUS_EVERY {
                last_status = Instant::now();
                s.write_statuses(&res);
            }
            if reload {
                state.reloads += 1;
                write_state(home, state);
                log(format!(
                    "reload {} done: {} links, {} listeners, {} connectors applied",
                    state.reloads,
                    res.links.len(),
                    res.listeners.len(),
                    res.connectors.len()
                ));
            }
        }
        s.router.shutdown().await;
        if let Some(g) = s.grant_server.take() {
            g.shutdown().await;
        }
        Ok(())
    }

    fn grant_server_url(&self) -> String {
        self.grant_server.as_ref().map(|g| format!("https://{}", g.addr)).unwrap_or_default()
    }

    fn config(&self, res: &Resources) -> RouterConfig {
        let mut config = router_config(res, &self.site_id, &self.home.namespace, self.link_access.clone());
        config.group = self.group.to_string();
        if let Some(mesh) = &self.mesh {
            config.links.insert(MESH_LINK.to_string(), mesh.clone());
        }
        config
    }

    /// Link access: ports, server certificates, the grant server. Set up once when the Site has
    /// link access (at start, or later when `site update --enable-link-access` turns it on).
    async fn ensure_link_access(&mut self, site: &Site, res: &Resources) -> anyhow::Result<()> {
        if !site.spec.link_access_enabled() || self.link_access.is_some() {
            return Ok(());
        }
        if self.group == GROUP_SECONDARY {
            return self.second_router_access(site);
        }
        let home = &self.home;
        // The site's RouterAccess, if it has one, decides the roles, ports and bind host.
        let mut access = home.apply_router_access(res.router_accesses.values().next())?;
        // A Site applied with `ha` set (or cleared) gets (or loses) the second router's ports:
        // its endpoints, generated Links and grant answers follow the spec (upstream #2278).
        if access.ha.is_some() != site.spec.ha {
            access = home.set_ha_access(site.spec.ha)?;
        }
        let ca = home.site_ca(site.name())?;
        let server = home.issue_server_cert(SITE_SERVER_CERT, &ca, &access.san_hosts())?;
        let grant_ca = home.grant_ca()?;
        let grant_cert = home.issue_server_cert(GRANT_SERVER_CERT, &grant_ca, &access.san_hosts())?;
        let ctx = Arc::new(GrantContext::new(LocalGrantStore::new(home.clone()), now_unix));
        let gs = GrantServer::start(ctx, &access.bind_host, access.grant_server, &grant_cert).await?;
        log(format!("grant server listening on https://{}", gs.addr));
        self.grant_server = Some(gs);
        self.link_access = Some(LinkAccessConfig {
            bind_host: access.bind_host.clone(),
            inter_router_port: access.has_role(ROLE_INTER_ROUTER).then_some(access.inter_router),
            edge_port: access.has_role(ROLE_EDGE).then_some(access.edge),
            tls: server.tls(),
        });
        log(format!(
            "link access on {}: inter-router {}, edge {}; advertised as {}",
            access.bind_host,
            access.inter_router,
            access.edge,
            access.endpoint_hosts.join(", ")
        ));
        self.access = Some(access);
        Ok(())
    }

    /// The second router's link access: its own ports (allocated by the first router or by
    /// `site create/update --enable-ha`), its own copy of the site's server certificate, no grant
    /// server, and the mesh link to the first router.
    fn second_router_access(&mut self, site: &Site) -> anyhow::Result<()> {
        let home = &self.home;
        let access = home.access()?.filter(|a| a.ha.is_some());
        let Some((access, ports)) = access.and_then(|a| a.ports_of(GROUP_SECONDARY).map(|p| (a, p))) else {
            bail!(
                "no link-access ports are allocated for router {GROUP_SECONDARY}; run kubectl skupper -n {} site update --enable-ha",
                home.namespace
            )
        };
        let ca = home.site_ca(site.name())?;
        let server = home.issue_server_cert(SITE_SERVER_CERT_2, &ca, &access.san_hosts())?;
        let client = skupper_router::certs::issue_client(
            &ca,
            &format!("{}-{GROUP_SECONDARY}", site.name()),
            skupper_router::certs::DEFAULT_VALIDITY,
        )?;
        self.mesh = Some(LinkConfig {
            host: access.local_dial_host(),
            port: access.inter_router,
            cost: 1,
            tls: client.tls(),
            proxy: None,
            config_error: None,
        });
        self.link_access = Some(LinkAccessConfig {
            bind_host: access.bind_host.clone(),
            inter_router_port: access.has_role(ROLE_INTER_ROUTER).then_some(ports.inter_router),
            edge_port: access.has_role(ROLE_EDGE).then_some(ports.edge),
            tls: server.tls(),
        });
        log(format!(
            "link access of router {GROUP_SECONDARY} on {}: inter-router {}, edge {}; linking to router {GROUP_PRIMARY} on port {}",
            access.bind_host, ports.inter_router, ports.edge, access.inter_router
        ));
        self.access = Some(access);
        Ok(())
    }

    /// Grants applied with `system apply` (spec only) get their status as upstream's controller
    /// gives it: code, url, ca, expiry.
    fn process_grants(&self, res: &Resources) {
        let Some(access) = &self.access else { return };
        for g in res.grants.values().filter(|g| g.status.url.is_empty()) {
            let mut g: AccessGrant = g.clone();
            let ca = match self.home.grant_ca() {
                Ok(ca) => ca,
                Err(e) => {
                    warn(format!("grant {}: {e:#}", g.name()));
                    continue;
                }
            };
            if let Err(e) = crate::grant::process(&mut g, &access.grant_url_base(), &ca.cert_pem, now_unix()) {
                warn(format!("grant {}: {e:#}", g.name()));
                continue;
            }
            let written = resource_yaml(&Resource::AccessGrant(g.clone()))
                .and_then(|y| write_atomic(&self.home.resource_path(AccessGrant::KIND, g.name()), y.as_bytes(), 0o600));
            match written {
                Ok(()) => log(format!("grant {} processed: {}", g.name(), g.status.url)),
                Err(e) => warn(format!("grant {}: {e:#}", g.name())),
            }
        }
    }

    fn write_statuses(&mut self, res: &Resources) {
        let router_status = self.router.status();
        let applied = self.router.applied().cloned();
        let router_error = self.router.error().map(str::to_string);
        let now = now_rfc3339();
        let st = &mut self.statuses;
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |kind: &str, name: &str, value: Result<String, serde_yaml::Error>| match value {
            Ok(v) => {
                files.insert(local::resource_file_name(kind, name), v);
            }
            Err(e) => warn(format!("cannot encode the status of {kind} {name}: {e}")),
        };
        let router_file = RouterStatusFile::from_router(&router_status, applied.as_ref());
        put(ROUTER_STATUS.0, ROUTER_STATUS.1, serde_yaml::to_string(&router_file));
        // The resources' status is the first router's to write.
        let res = if self.group == GROUP_PRIMARY { res } else { &Resources::default() };

        if let Some(site) = &res.site {
            let endpoints = self.access.as_ref().map(Access::endpoints).unwrap_or_default();
            let s = st.site(site, endpoints, "local", &router_status, router_error.as_deref(), &now);
            put(Site::KIND, site.name(), serde_yaml::to_string(&s));
        }
        for link in res.links.values() {
            let config_error =
                applied.as_ref().and_then(|c| c.links.get(link.name())).and_then(|l| l.config_error.clone());
            let s = st.link(link, config_error, &router_status, router_error.as_deref(), &now);
            put(Link::KIND, link.name(), serde_yaml::to_string(&s));
        }
        for l in res.listeners.values() {
            let s = st.service(
                Listener::KIND,
                l.name(),
                router_status.listeners.get(l.name()),
                router_error.as_deref(),
                &now,
            );
            put(Listener::KIND, l.name(), serde_yaml::to_string(&s));
        }
        for m in res.multi_key_listeners.values() {
            let state = router_status.multi_key_listeners.get(m.name());
            let s = st.multi_key_listener(m, state, router_error.as_deref(), &now);
            put(MultiKeyListener::KIND, m.name(), serde_yaml::to_string(&s));
        }
        for c in res.connectors.values() {
            let s = st.service(
                Connector::KIND,
                c.name(),
                router_status.connectors.get(c.name()),
                router_error.as_deref(),
                &now,
            );
            put(Connector::KIND, c.name(), serde_yaml::to_string(&s));
        }

        let dir = self.home.status_dir();
        for (file, text) in &files {
            if self.written.get(file) != Some(text) {
                match write_atomic(&dir.join(file), text.as_bytes(), 0o600) {
                    Ok(()) => {
                        self.written.insert(file.clone(), text.clone());
                    }
                    Err(e) => warn(format!("cannot write status {file}: {e:#}")),
                }
            }
        }
        // Status of resources that no longer exist goes away.
        let keep: BTreeSet<&String> = files.keys().collect();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".yaml") && !keep.contains(&name) {
                    let _ = std::fs::remove_file(e.path());
                    self.written.remove(&name);
                }
            }
        }
        st.prune(res);
    }
}
