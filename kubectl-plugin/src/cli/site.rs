//! `site create | update | status | delete` on the local platform.

use clap::Args;
use skupper_core::resources::{
    AccessGrant, AccessToken, Connector, Link, Listener, MultiKeyListener, Resource, RouterAccess, Site, SiteSpec,
};

use super::validate::{self, Problems};
use super::{CmdResult, Ctx, SiteCommand, check_output, fail, one_name};
use crate::output::{self, TabWriter};
use crate::platform::Change;

/// `site create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Site name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// allow access for incoming links from remote sites (default: false)
    #[arg(long)]
    enable_link_access: bool,
    /// Interface for link access and the grant server (default 127.0.0.1)
    #[arg(long, value_name = "HOST")]
    bind_host: Option<String>,
    /// Host remote sites use to reach this one (repeatable; default: the bind host)
    #[arg(long, value_name = "HOST")]
    endpoint_host: Vec<String>,
    /// Configure the site for high availability (HA): two routers (groups skupper-router and
    /// skupper-router-2), one Link per router for linking sites (needs --enable-link-access)
    #[arg(long)]
    enable_ha: bool,
    /// How remote sites reach this one: default, route, loadbalancer, nodeport, local (needs
    /// --enable-link-access; with no type: default)
    #[arg(long, value_name = "TYPE")]
    link_access_type: Option<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "3m", value_name = "DURATION")]
    timeout: String,
    /// Wait for the given status before exiting (when a controller runs the site). Choices: ready, configured, none
    #[arg(long, default_value = "ready", value_name = "STATUS")]
    wait: String,
}

/// `site generate`: the Site `site create` would store, printed.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Site name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// allow access for incoming links from remote sites (default: false)
    #[arg(long)]
    enable_link_access: bool,
    /// Configure the site for high availability (HA): two routers (needs --enable-link-access)
    #[arg(long)]
    enable_ha: bool,
    /// How remote sites reach this one: default, route, loadbalancer, nodeport, local (needs
    /// --enable-link-access; with no type: default)
    #[arg(long, value_name = "TYPE")]
    link_access_type: Option<String>,
    /// print resources to the console instead of submitting them to the Skupper controller. Choices: json, yaml
    #[arg(short = 'o', long, default_value = "yaml", value_name = "FORMAT")]
    output: String,
}

/// `site update`.
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Site name (optional: the namespace has one site)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// allow access for incoming links from remote sites (default: false)
    #[arg(long)]
    enable_link_access: bool,
    /// Interface for link access and the grant server (takes effect at the next start)
    #[arg(long, value_name = "HOST")]
    bind_host: Option<String>,
    /// Host remote sites use to reach this one (repeatable; replaces the current list)
    #[arg(long, value_name = "HOST")]
    endpoint_host: Vec<String>,
    /// Run two routers (high availability); --enable-ha=false goes back to one (unchanged when
    /// not given; takes effect when the site restarts)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    enable_ha: Option<bool>,
    /// How remote sites reach this one: default, route, loadbalancer, nodeport, local
    #[arg(long, value_name = "TYPE")]
    link_access_type: Option<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    timeout: String,
    /// Wait for the given status before exiting (when a controller runs the site). Choices: ready, configured, none
    #[arg(long, default_value = "ready", value_name = "STATUS")]
    wait: String,
}

/// `site status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// print status of the site Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
}

/// `site delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Site name (optional)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// delete all skupper resources associated with site in current namespace
    #[arg(long)]
    all: bool,
}

/// Link access types a Site can name.
const LINK_ACCESS_TYPES: [&str; 5] = ["default", "route", "loadbalancer", "nodeport", "local"];

fn check_link_access_type(t: Option<&str>, enabled: bool, problems: &mut Problems) {
    let Some(t) = t else { return };
    if !LINK_ACCESS_TYPES.contains(&t) {
        problems.push(format!(
            "link access type is not valid: value {t} not allowed. It should be one of this options: [{}]",
            LINK_ACCESS_TYPES.join(" ")
        ));
    }
    if !enabled {
        problems.push(
            "for the site to work with this type of linkAccess, the --enable-link-access option must be set to true",
        );
    }
}

/// Flags that belong to the site process on the local platform and to the controller on Kubernetes.
fn check_platform_flags(ctx: &Ctx, bind: Option<&str>, endpoints: &[String], ha: bool, problems: &mut Problems) {
    if ctx.ns.as_local().is_some() {
        return;
    }
    if bind.is_some() || !endpoints.is_empty() {
        problems.push(format!(
            "--bind-host and --endpoint-host belong to the controller on the {} platform: {}",
            ctx.ns.platform(),
            ctx.hint("controller --bind-host <ip> --endpoint-host <host>")
        ));
    }
    if ha {
        problems.push(format!("--enable-ha is not supported on the {} platform yet", ctx.ns.platform()));
    }
}

/// HA on this platform: the second router links to the first through link access.
const HA_NEEDS_LINK_ACCESS: &str =
    "--enable-ha needs link access on this platform (the two routers link through it): add --enable-link-access";

pub(super) fn run(ctx: &Ctx, cmd: SiteCommand) -> CmdResult {
    match cmd {
        SiteCommand::Create(a) => create(ctx, a),
        SiteCommand::Update(a) => update(ctx, a),
        SiteCommand::Generate(a) => generate(ctx, a),
        SiteCommand::Status(a) => show(ctx, a),
        SiteCommand::Delete(a) => delete(ctx, a),
    }
}

fn check_hosts(bind: Option<&str>, endpoints: &[String], problems: &mut Problems) {
    if let Some(b) = bind
        && b.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_err()
    {
        problems.push(format!("bind host is not valid: {b:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"));
    }
    for h in endpoints {
        if !validate::host(h) {
            problems.push(format!("endpoint host is not valid: {h:?}: a valid IP address or hostname is expected"));
        }
    }
}

/// The site name argument of `create` and `generate`, with upstream's texts.
fn site_name(name: Option<&str>, extra: &[String], problems: &mut Problems) -> Option<String> {
    if !extra.is_empty() {
        problems.push("only one argument is allowed for this command.");
        return None;
    }
    match name {
        None | Some("") => {
            problems.push("site name must not be empty");
            None
        }
        Some(n) => match validate::resource_name(n) {
            Ok(()) => Some(n.to_string()),
            Err(e) => {
                problems.push(format!("site name is not valid: {e}"));
                None
            }
        },
    }
}

/// `site generate`: prints the Site; stores nothing (the namespace may have a site already).
fn generate(ctx: &Ctx, a: GenerateArgs) -> CmdResult {
    let mut problems = Problems::default();
    let name = site_name(a.name.as_deref(), &a.extra, &mut problems);
    if a.enable_ha && !a.enable_link_access && ctx.ns.as_local().is_some() {
        problems.push(HA_NEEDS_LINK_ACCESS);
    }
    check_link_access_type(a.link_access_type.as_deref(), a.enable_link_access, &mut problems);
    check_output(Some(&a.output), &mut problems);
    problems.finish()?;
    let Some(name) = name else { return Err(fail("site name must not be empty")) };
    let mut spec = SiteSpec::default();
    if a.enable_link_access {
        spec.link_access = a.link_access_type.clone().unwrap_or_else(|| "default".into());
    }
    spec.ha = a.enable_ha;
    let mut site = Site::new(name, spec);
    site.metadata.namespace = Some(ctx.namespace.clone());
    output::raw(output::document(&a.output, &Resource::Site(site).to_value())?)?;
    Ok(())
}

fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    if res.site.is_some() {
        problems.push("There is already a site created for this namespace");
    }
    let name = site_name(a.name.as_deref(), &a.extra, &mut problems);
    check_hosts(a.bind_host.as_deref(), &a.endpoint_host, &mut problems);
    if !a.enable_link_access && (a.bind_host.is_some() || !a.endpoint_host.is_empty()) {
        problems.push("--bind-host and --endpoint-host configure link access: add --enable-link-access");
    }
    if a.enable_ha && !a.enable_link_access && ctx.ns.as_local().is_some() {
        problems.push(HA_NEEDS_LINK_ACCESS);
    }
    check_link_access_type(a.link_access_type.as_deref(), a.enable_link_access, &mut problems);
    check_platform_flags(ctx, a.bind_host.as_deref(), &a.endpoint_host, a.enable_ha, &mut problems);
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    let wait = super::check_wait(&a.wait, &mut problems);
    problems.finish()?;
    let (Some(name), Some(timeout)) = (name, timeout) else { return Err(fail("site name must not be empty")) };

    let mut spec = SiteSpec::default();
    if a.enable_link_access {
        spec.link_access = a.link_access_type.clone().unwrap_or_else(|| "default".into());
    }
    spec.ha = a.enable_ha;
    // On the local platform, a namespace directory this command creates goes again if it fails:
    // no CA or site id without a Site.
    let fresh = ctx.ns.as_local().filter(|home| !home.dir.exists()).map(|home| home.dir.clone());
    let created = (|| -> anyhow::Result<()> {
        if let Some(home) = ctx.ns.as_local() {
            home.site_id()?;
            home.site_ca(&name)?;
            if a.enable_link_access {
                home.ensure_access(a.bind_host.as_deref(), &a.endpoint_host)?;
                home.set_ha_access(a.enable_ha)?;
                home.grant_ca()?;
            }
        }
        let mut site = Site::new(name.clone(), spec);
        site.metadata.namespace = Some(ctx.namespace.clone());
        ctx.ns.commit(vec![Change::Put(Resource::Site(site))])
    })();
    if let (Err(_), Some(dir)) = (&created, fresh) {
        let _ = std::fs::remove_dir_all(dir);
    }
    created?;
    if ctx.wait_for(Site::KIND, &name, wait, timeout)? {
        let word = wait.map(crate::platform::Until::word).unwrap_or("configured");
        output::line(format!("Site {name:?} is {word}."))?;
        return Ok(());
    }
    output::line(format!("Site {name:?} is configured."))?;
    if !ctx.ns.running() {
        output::note(format!("Start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

fn update(ctx: &Ctx, a: UpdateArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let name = one_name("site", a.name.as_deref(), &a.extra, None, &mut problems);
    let site = match &res.site {
        None => {
            problems.push("there is no existing Skupper site resource to update");
            None
        }
        Some(s) => match &name {
            Some(n) if n != s.name() => {
                problems.push(format!("site with name {n:?} is not available"));
                None
            }
            _ => Some(s.clone()),
        },
    };
    check_hosts(a.bind_host.as_deref(), &a.endpoint_host, &mut problems);
    let will_have_access = a.enable_link_access || site.as_ref().is_some_and(|s| s.spec.link_access_enabled());
    if !will_have_access && (a.bind_host.is_some() || !a.endpoint_host.is_empty()) {
        problems.push("--bind-host and --endpoint-host configure link access: add --enable-link-access");
    }
    if a.enable_ha == Some(true) {
        if !will_have_access && ctx.ns.as_local().is_some() {
            problems.push(HA_NEEDS_LINK_ACCESS);
        }
        if site.as_ref().is_some_and(|s| s.spec.edge) {
            problems.push("Edge sites cannot have HA enabled");
        }
    }
    check_link_access_type(a.link_access_type.as_deref(), will_have_access, &mut problems);
    check_platform_flags(ctx, a.bind_host.as_deref(), &a.endpoint_host, a.enable_ha == Some(true), &mut problems);
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    let wait = super::check_wait(&a.wait, &mut problems);
    problems.finish()?;
    let (Some(mut site), Some(timeout)) = (site, timeout) else {
        return Err(fail("there is no existing Skupper site resource to update"));
    };

    // Unlike upstream (which rebuilds the spec and drops `ha`, settings, ...), only what is
    // given changes (reference §10 item 4).
    if let Some(t) = &a.link_access_type {
        site.spec.link_access = t.clone();
    } else if a.enable_link_access && !site.spec.link_access_enabled() {
        site.spec.link_access = "default".into();
    }
    let ha_changed = a.enable_ha.is_some_and(|ha| ha != site.spec.ha);
    if let Some(ha) = a.enable_ha {
        site.spec.ha = ha;
    }
    if site.spec.link_access_enabled()
        && let Some(home) = ctx.ns.as_local()
    {
        let before = home.access()?;
        let after = home.ensure_access(a.bind_host.as_deref(), &a.endpoint_host)?;
        home.set_ha_access(site.spec.ha)?;
        home.grant_ca()?;
        if before.is_some_and(|b| b.bind_host != after.bind_host) && ctx.ns.running() {
            output::note(format!(
                "The new bind host takes effect when the site restarts: {} then {}",
                ctx.hint("system stop"),
                ctx.hint("system start")
            ));
        }
    }
    if ha_changed && ctx.ns.running() {
        output::note(format!(
            "High availability changes when the site restarts: {} then {}",
            ctx.hint("system stop"),
            ctx.hint("system start")
        ));
    }
    ctx.ns.commit(vec![Change::Put(Resource::Site(site.clone()))])?;
    ctx.wait_for(Site::KIND, site.name(), wait, timeout)?;
    output::line(format!("Site {:?} is updated", site.name()))?;
    Ok(())
}

fn show(ctx: &Ctx, a: StatusArgs) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("this command does not need any arguments");
    }
    check_output(a.output.as_deref(), &mut problems);
    problems.finish()?;
    let res = ctx.ns.load()?;
    if res.site.is_none() {
        output::line("There is no existing Skupper site resource")?;
        return Ok(());
    }
    let running = ctx.ns.running();
    let Some(observed) = ctx.ns.observe(&res).site else { return Err(fail("the site disappeared")) };
    if let Some(format) = &a.output {
        output::line(output::encode(format, &Resource::Site(observed).to_value())?)?;
    } else {
        let mut tw = TabWriter::new(0, 8, 1);
        tw.line("NAME\tSTATUS\tMESSAGE");
        tw.line(format!("{}\t{}\t{}", observed.name(), observed.status.status.status, observed.status.status.message));
        output::raw(tw.render())?;
    }
    if !running {
        output::note(format!("The site is not running. Start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

fn delete(ctx: &Ctx, a: DeleteArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let name = one_name("site", a.name.as_deref(), &a.extra, None, &mut problems);
    match (&res.site, &name) {
        (None, _) => problems.push("there is no existing Skupper site resource to delete"),
        (Some(s), Some(n)) if n != s.name() => problems.push(format!("site with name {n:?} is not available")),
        _ => {}
    }
    problems.finish()?;
    let Some(site) = res.site.clone() else { return Err(fail("there is no existing Skupper site resource to delete")) };
    if let Some(home) = ctx.ns.as_local() {
        if home.running_pid().is_some() {
            super::system::stop_site(ctx, site.name())?;
        }
        if a.all {
            std::fs::remove_dir_all(&home.dir)
                .map_err(|e| fail(format!("could not remove {}: {e}", home.dir.display())))?;
            output::line(format!("Site {:?} is deleted", site.name()))?;
            return Ok(());
        }
    }
    let mut changes = vec![Change::Delete { kind: Site::KIND, name: site.name().to_string() }];
    if a.all {
        // Every Skupper resource of the namespace (on Kubernetes; locally the directory went above).
        let kinds = [
            (Link::KIND, res.links.keys().cloned().collect::<Vec<_>>()),
            (Listener::KIND, res.listeners.keys().cloned().collect()),
            (Connector::KIND, res.connectors.keys().cloned().collect()),
            (AccessGrant::KIND, res.grants.keys().cloned().collect()),
            (AccessToken::KIND, res.tokens.keys().cloned().collect()),
            (RouterAccess::KIND, res.router_accesses.keys().cloned().collect()),
            (MultiKeyListener::KIND, res.multi_key_listeners.keys().cloned().collect()),
        ];
        for (kind, names) in kinds {
            changes.extend(names.into_iter().map(|name| Change::Delete { kind, name }));
        }
    }
    ctx.ns.commit(changes)?;
    output::line(format!("Site {:?} is deleted", site.name()))?;
    Ok(())
}
