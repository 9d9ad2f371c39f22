//! `system start | stop | status | apply | delete`: running a local site as a background
//! process (`system start --foreground` is the process itself, see [`crate::runtime`]) and
//! changing its resources declaratively. A running site picks up resource changes by itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use skupper_core::link::{LinkContext, duplicate_key, validate_link};
use skupper_core::resources::{GROUP_PRIMARY, GROUP_SECONDARY, Link, ObjectMeta, Resource, Secret, Site};

use super::validate::Problems;
use super::{CmdResult, Ctx, SystemCommand, fail};
use crate::output::{self, Progress};
use crate::platform::Change;
use crate::platform::local::{self, Home, LocalNamespace, RuntimeState, is_site_process};
use crate::platform::resources::{Document, Resources, StoredOnly, parse_stored_documents};

/// `system start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// Run the site in this process (logs to stderr) instead of in the background
    #[arg(long)]
    foreground: bool,
    /// How long to wait for the site to report it runs
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
    /// Start only this router of an HA site: skupper-router or skupper-router-2 (default: every
    /// router of the site that is not running; with --foreground: skupper-router)
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
}

/// Commands without arguments.
#[derive(Debug, Args)]
pub struct NoArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
}

/// `system apply` / `system delete`.
#[derive(Debug, Args)]
pub struct FileArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// The name of the file with custom resources (`-` for standard input)
    #[arg(short = 'f', long = "filename", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    filename: Option<String>,
}

pub(super) fn run(ctx: &Ctx, cmd: SystemCommand) -> CmdResult {
    // `system` runs sites on this host: the local platform's alone (upstream's text elsewhere).
    ctx.local()?;
    match cmd {
        SystemCommand::Start(a) => start(ctx, a),
        SystemCommand::Stop(a) => stop(ctx, a),
        SystemCommand::Status(a) => status(ctx, a),
        SystemCommand::Apply(a) => apply(ctx, a, false),
        SystemCommand::Delete(a) => apply(ctx, a, true),
    }
}

fn no_args(extra: &[String], problems: &mut Problems) {
    if !extra.is_empty() {
        problems.push("this command does not accept arguments");
    }
}

/// The router groups of a site: two for an HA site.
fn groups(site: &Site) -> &'static [&'static str] {
    if site.spec.ha { &[GROUP_PRIMARY, GROUP_SECONDARY] } else { &[GROUP_PRIMARY] }
}

/// The process files of one router group of `ctx`'s site.
fn home_of(home: &Home, group: &str) -> Home {
    home.for_group(group).unwrap_or_else(|| home.clone())
}

fn start(ctx: &Ctx, a: StartArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    let home = ctx.local()?;
    let res = home.load()?;
    if res.site.is_none() {
        problems.push(format!(
            "there is no skupper site in namespace {}; create one first with {}",
            ctx.namespace,
            ctx.hint("site create <name>")
        ));
    }
    let timeout = super::validate::duration("timeout", &a.timeout, &mut problems);
    match (a.group.as_deref(), &res.site) {
        (None | Some(GROUP_PRIMARY), _) => {}
        (Some(GROUP_SECONDARY), Some(s)) if !s.spec.ha => problems.push(format!(
            "site {:?} is not an HA site, so it has no router {GROUP_SECONDARY}; enable HA with {}",
            s.name(),
            ctx.hint("site update --enable-ha")
        )),
        (Some(GROUP_SECONDARY), _) => {}
        (Some(g), _) => problems.push(format!("group is not valid: {g:?}; use {GROUP_PRIMARY} or {GROUP_SECONDARY}")),
    }
    problems.finish()?;
    let Some(site) = res.site else { return Err(fail("no site")) };
    let wanted: Vec<&str> = match a.group.as_deref() {
        Some(GROUP_SECONDARY) => vec![GROUP_SECONDARY],
        Some(_) => vec![GROUP_PRIMARY],
        None if a.foreground => vec![GROUP_PRIMARY],
        None => groups(&site).to_vec(),
    };
    let running: Vec<(&str, u32)> =
        wanted.iter().filter_map(|g| home_of(home, g).running_pid().map(|pid| (*g, pid))).collect();
    if running.len() == wanted.len()
        && let Some(&(group, pid)) = running.first()
    {
        if group == GROUP_PRIMARY {
            return Err(fail(format!(
                "Site {:?} is already running (pid {pid}). Stop it first with: {}",
                site.name(),
                ctx.hint("system stop")
            )));
        }
        return Err(fail(format!(
            "Router {group} of site {:?} is already running (pid {pid}). Stop the site first with: {}",
            site.name(),
            ctx.hint("system stop")
        )));
    }
    if a.foreground {
        if site.spec.ha && a.group.is_none() {
            output::note(format!(
                "Site {:?} is HA: this runs its first router; run the second with: {}",
                site.name(),
                ctx.hint(&format!("system start --foreground --group {GROUP_SECONDARY}"))
            ));
        }
        let group = wanted.first().copied().unwrap_or(GROUP_PRIMARY);
        return crate::runtime::run_foreground(home_of(home, group)).map_err(super::CliError::Failed);
    }
    let timeout = Duration::from_secs(timeout.map(|t| t.as_secs()).unwrap_or(60).max(1).unsigned_abs());
    // A router that runs but could not bind everything still counts as started (it tries
    // again by itself); the command says so and fails, after starting the others.
    let mut trouble = Vec::new();
    for group in wanted {
        if running.iter().any(|(g, _)| *g == group) {
            continue;
        }
        trouble.extend(launch(ctx, &site, group, timeout)?);
    }
    if trouble.is_empty() {
        return Ok(());
    }
    Err(fail(format!("{}\n{}", trouble.join("\n"), retry_hint(ctx))))
}

/// What to do about a router that runs with problems.
fn retry_hint(ctx: &Ctx) -> String {
    format!(
        "The site tries again every few seconds by itself: free what is in the way (see above and the log), \
         then check with: {}",
        ctx.hint("system status")
    )
}

/// Starts the router `group` of the site as a background process and waits until it reports
/// that it runs. Returns what keeps it from working fully (empty when nothing does).
fn launch(ctx: &Ctx, site: &Site, group: &str, timeout: Duration) -> Result<Vec<String>, super::CliError> {
    let home = home_of(ctx.local()?, group);
    let first = group == GROUP_PRIMARY;
    let what =
        if first { format!("Site {:?}", site.name()) } else { format!("Router {group} of site {:?}", site.name()) };
    local::create_dir_private(&home.runtime_dir())?;
    let log_path = home.log_path();
    // 0600 whatever the umask: the log names peers, grants and ports.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| fail(format!("cannot open the log {}: {e}", log_path.display())))?;
    // A log made by an earlier version may be readable by others.
    let _ = log.set_permissions(std::fs::Permissions::from_mode(0o600));
    let log_err = log.try_clone()?;
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find this program's path: {e}")))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(home.state_path());
    let mut args = vec!["--platform", "local", "-n", &ctx.namespace, "system", "start", "--foreground"];
    if !first {
        args.extend(["--group", group]);
    }
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        Command::new(exe)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: Ctrl-C in this terminal does not stop the site.
            .process_group(0)
            .spawn()
            .map_err(|e| fail(format!("cannot start the site process: {e}")))?
    };
    let pid = child.id();
    let mut progress = Progress::start("Waiting for status...");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            progress.finish();
            let tail = log_tail(&log_path, log_start);
            return Err(fail(format!("{what} failed to start ({status}).\n{tail}\nFull log: {}", log_path.display())));
        }
        if let Some(state) = home.runtime_state()
            && state.pid == pid
            && state.phase == "Running"
        {
            progress.finish();
            return report_started(&what, pid, &state, &log_path);
        }
        if Instant::now() >= deadline {
            progress.finish();
            return Err(fail(format!(
                "{what} did not report that it runs within {}s (pid {pid}). Check the log {} and {}",
                timeout.as_secs(),
                log_path.display(),
                ctx.hint("system status")
            )));
        }
        progress.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn report_started(what: &str, pid: u32, state: &RuntimeState, log_path: &Path) -> Result<Vec<String>, super::CliError> {
    output::line(format!("{what} is running (pid {pid})."))?;
    if !state.grant_server.is_empty() {
        output::line(format!("Grant server: {}", state.grant_server))?;
    }
    output::line(format!("Log: {}", log_path.display()))?;
    let trouble = state.trouble();
    if trouble.is_empty() {
        return Ok(Vec::new());
    }
    Ok(std::iter::once(format!("{what} is running, but:")).chain(trouble.iter().map(|t| format!("  {t}"))).collect())
}

fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        use std::io::Seek as _;
        let _ = f.seek(std::io::SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Stops every running router of the site of `ctx` (the second router of an HA site first).
pub(super) fn stop_site(ctx: &Ctx, site: &str) -> CmdResult {
    for group in [GROUP_SECONDARY, GROUP_PRIMARY] {
        stop_router(&home_of(ctx.local()?, group), site)?;
    }
    Ok(())
}

/// Whether any router of the site of `ctx` runs.
fn any_running(home: &Home) -> bool {
    [GROUP_PRIMARY, GROUP_SECONDARY].iter().any(|g| home_of(home, g).running_pid().is_some())
}

/// Stops one router process (SIGTERM, then waits for it to exit).
fn stop_router(home: &Home, site: &str) -> CmdResult {
    let Some(pid) = home.running_pid() else { return Ok(()) };
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| fail(format!("cannot run kill to stop pid {pid}: {e}")))?;
    if !status.success() && is_site_process(pid) {
        return Err(fail(format!("could not signal the site process {pid}; stop it by hand: kill {pid}")));
    }
    let mut progress = Progress::start("Waiting for the site to stop...");
    let deadline = Instant::now() + Duration::from_secs(30);
    while is_site_process(pid) {
        if Instant::now() >= deadline {
            progress.finish();
            return Err(fail(format!(
                "Site {site:?} (pid {pid}) did not stop within 30s; force it with: kill -KILL {pid}"
            )));
        }
        progress.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    progress.finish();
    Ok(())
}

fn stop(ctx: &Ctx, a: NoArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    let home = ctx.local()?;
    let res = home.load()?;
    problems.finish()?;
    let name = res.site.as_ref().map(|s| s.name().to_string()).unwrap_or_else(|| ctx.namespace.clone());
    if !any_running(home) {
        output::line(format!("Site {name:?} is not running."))?;
        return Ok(());
    }
    stop_site(ctx, &name)?;
    output::line(format!("Site {name:?} has stopped."))?;
    Ok(())
}

fn status(ctx: &Ctx, a: NoArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    let home = ctx.local()?;
    let res = home.load()?;
    problems.finish()?;
    let Some(site) = res.site else {
        output::line("There is no existing Skupper site resource")?;
        return Ok(());
    };
    // Exit code 1 unless every router of the site runs with nothing in its way.
    let mut stopped = false;
    let mut troubled = false;
    match home.running_pid() {
        None => {
            output::line(format!("Site {:?} is not running.", site.name()))?;
            how_it_stopped(home)?;
            stopped = true;
        }
        Some(pid) => {
            let state = home.runtime_state().unwrap_or_default();
            output::line(format!("Site {:?} is running (pid {pid}).", site.name()))?;
            let trouble = state.trouble();
            if state.router.is_empty() {
                output::line("Router: starting")?;
            } else if trouble.is_empty() {
                output::line("Router: OK")?;
            } else {
                output::line("Router: not ready, trying again every few seconds:")?;
                for t in &trouble {
                    output::line(format!("  {t}"))?;
                }
                troubled = true;
            }
            if !state.grant_server.is_empty() {
                output::line(format!("Grant server: {}", state.grant_server))?;
            }
            if !state.started_at.is_empty() {
                output::line(format!("Started: {}", state.started_at))?;
            }
            output::line(format!("Log: {}", home.log_path().display()))?;
        }
    }
    if site.spec.ha {
        let second = home_of(home, GROUP_SECONDARY);
        match second.running_pid() {
            Some(pid) => {
                let state = second.runtime_state().unwrap_or_default();
                let trouble = state.trouble();
                if state.router.is_empty() {
                    output::line(format!("Router {GROUP_SECONDARY} is running (pid {pid}): starting."))?;
                } else if trouble.is_empty() {
                    output::line(format!("Router {GROUP_SECONDARY} is running (pid {pid}): OK."))?;
                } else {
                    output::line(format!("Router {GROUP_SECONDARY} is running (pid {pid}), not ready:"))?;
                    for t in &trouble {
                        output::line(format!("  {t}"))?;
                    }
                    troubled = true;
                }
                output::line(format!("Log: {}", second.log_path().display()))?;
            }
            None => {
                output::line(format!("Router {GROUP_SECONDARY} is not running."))?;
                how_it_stopped(&second)?;
                stopped = true;
            }
        }
    }
    match (stopped, troubled) {
        (true, _) => Err(fail(format!("Start it with: {}", ctx.hint("system start")))),
        (false, true) => Err(fail(retry_hint(ctx))),
        (false, false) => Ok(()),
    }
}

/// For a router that does not run: how its last run ended, when that says something (it
/// failed, or its process went away without stopping).
fn how_it_stopped(home: &Home) -> CmdResult {
    let Some(state) = home.runtime_state() else { return Ok(()) };
    let log = home.log_path();
    match state.phase.as_str() {
        "Failed" if !state.message.is_empty() => {
            output::line(format!("It failed: {} (log: {})", state.message, log.display()))?;
        }
        "Starting" | "Running" => output::line(format!(
            "Its process (pid {}) ended without stopping (killed, or the host restarted); its log: {}",
            state.pid,
            log.display()
        ))?,
        _ => {}
    }
    Ok(())
}

fn read_input(file: &str) -> Result<String, super::CliError> {
    let limit = crate::input::APPLY_LIMIT;
    let read = if file == "-" {
        crate::input::read_text(std::io::stdin().lock(), limit)
    } else {
        crate::input::read_file(Path::new(file), limit)
    };
    read.map_err(|e| match e {
        crate::input::ReadError::TooLarge { .. } => fail(format!(
            "The input is larger than {}, the limit of one apply: split the resources into several files",
            crate::input::size(limit)
        )),
        crate::input::ReadError::Io(e) => fail(format!("Error while opening the file: {e}")),
    })
}

fn apply(ctx: &Ctx, a: FileArgs, delete: bool) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("This command does not accept arguments");
    }
    let verb = if delete { "delete custom resources" } else { "apply" };
    let sub = if delete { "delete" } else { "apply" };
    match a.filename.as_deref() {
        None | Some("") => problems.push(format!(
            "You need to provide a file to {verb} or use standard input.\n Example: cat site.yaml | {} system {sub} -f -",
            ctx.prog
        )),
        Some("-") => {}
        Some(f) => {
            let p = Path::new(f);
            let ext_ok = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"));
            if !ext_ok {
                problems.push("The file has an unsupported extension, it should have one of the following: .yaml, .json");
            }
            match std::fs::metadata(p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push(format!("The file {f:?} does not exist")),
                Err(e) => problems.push(format!("Error while accessing the file: {e}")),
                Ok(m) if m.is_dir() => problems.push(format!("The file {f:?} is a directory")),
                Ok(_) => {}
            }
        }
    }
    problems.finish()?;
    let Some(file) = a.filename else { return Err(fail("no file")) };
    let text = read_input(&file)?;
    let docs =
        parse_stored_documents(&text).map_err(|e| fail(format!("Failed parsing the custom resources: {e:#}")))?;
    if docs.is_empty() {
        return Err(fail("Failed parsing the custom resources: no resource found in the input"));
    }
    let home = ctx.local()?;
    let res = home.load()?;
    if delete {
        return delete_resources(ctx, &res, docs);
    }
    let mut resources = Vec::new();
    let mut stored = Vec::new();
    for d in docs {
        match d {
            Document::Resource(r) => resources.push(r),
            Document::StoredOnly(s) => stored.push(s),
        }
    }
    apply_resources(ctx, home, &res, resources, stored)
}

/// The Secrets and Links of the namespace as they will be (existing resources with the incoming
/// ones over them), indexed once so that checking each incoming Link costs the same whatever
/// their number (a quadratic check made 4,000 documents take minutes).
struct After<'a> {
    secrets: BTreeMap<&'a str, &'a Secret>,
    links: BTreeMap<&'a str, &'a Link>,
    /// Link names by [`duplicate_key`] of their endpoints.
    by_endpoint: HashMap<(String, &'a str, &'a str), BTreeSet<&'a str>>,
}

impl<'a> After<'a> {
    fn new(res: &'a Resources, incoming: &'a [Resource]) -> Self {
        let mut secrets: BTreeMap<&str, &Secret> = res.secrets.iter().map(|(n, s)| (n.as_str(), s)).collect();
        let mut links: BTreeMap<&str, &Link> = res.links.iter().map(|(n, l)| (n.as_str(), l)).collect();
        for r in incoming {
            match r {
                Resource::Secret(s) => {
                    secrets.insert(s.name(), s);
                }
                Resource::Link(l) => {
                    links.insert(l.name(), l);
                }
                _ => {}
            }
        }
        let mut by_endpoint: HashMap<_, BTreeSet<&str>> = HashMap::new();
        for (name, l) in &links {
            for key in l.spec.endpoints.iter().filter_map(duplicate_key) {
                by_endpoint.entry(key).or_default().insert(name);
            }
        }
        After { secrets, links, by_endpoint }
    }

    /// The Secrets `l` names (its TLS credentials and proxy configuration).
    fn secrets_of(&self, l: &Link) -> Vec<Secret> {
        let proxy = l.spec.settings.get(skupper_core::resources::SETTING_PROXY_CONFIGURATION);
        [Some(&l.spec.tls_credentials), proxy]
            .into_iter()
            .flatten()
            .filter_map(|n| self.secrets.get(n.as_str()).map(|s| (*s).clone()))
            .collect()
    }

    /// The other Links with an endpoint in common with `l`, by name.
    fn twins_of(&self, l: &Link) -> Vec<Link> {
        let names: BTreeSet<&str> = l
            .spec
            .endpoints
            .iter()
            .filter_map(duplicate_key)
            .filter_map(|k| self.by_endpoint.get(&k))
            .flatten()
            .copied()
            .filter(|n| *n != l.name())
            .collect();
        names.into_iter().filter_map(|n| self.links.get(n).map(|o| (*o).clone())).collect()
    }
}

/// Everything that makes a resource unusable, checked before anything is written.
fn check_resource(
    ctx: &Ctx,
    res: &Resources,
    incoming: &[Resource],
    after: &After<'_>,
    r: &Resource,
    problems: &mut Problems,
) {
    let kind = r.kind();
    let name = r.name();
    if name.is_empty() {
        problems.push(format!("{kind}: metadata.name is missing"));
        return;
    }
    if let Err(e) = super::validate::resource_name(name) {
        problems.push(format!("{kind} {name:?}: name is not valid: {e}"));
    }
    match r {
        Resource::Site(s) => {
            if let Some(existing) = &res.site
                && existing.name() != s.name()
            {
                problems.push(format!(
                    "Site {name:?} cannot be applied: namespace {} already has site {:?}; delete it first ({})",
                    ctx.namespace,
                    existing.name(),
                    ctx.hint("site delete")
                ));
            }
        }
        Resource::Link(l) => {
            // Only what the checks look at: the Secrets it names, the Links it could duplicate.
            let secrets = after.secrets_of(l);
            let others = after.twins_of(l);
            let edge = res.site.as_ref().is_some_and(|s| s.spec.edge);
            let ctx = LinkContext { secrets: Some(&secrets), other_links: &others, edge_site: edge };
            let v = validate_link(l, &ctx);
            for f in v.errors {
                problems.push(format!("Link {name:?}: {f}"));
            }
            for f in v.warnings {
                output::note(format!("Warning: Link {name:?}: {f}"));
            }
        }
        Resource::Secret(s) => {
            if let Err(e) = s.data.keys().try_for_each(|k| s.get(k).map(|_| ())) {
                problems.push(e.to_string());
            }
        }
        Resource::Listener(l) if l.spec.port == 0 => {
            problems.push(format!("Listener {name:?}: spec.port must be 1-65535"));
        }
        Resource::MultiKeyListener(m) => {
            if m.spec.port == 0 {
                problems.push(format!("MultiKeyListener {name:?}: spec.port must be 1-65535"));
            }
            if let Some(p) = m.spec.strategy.problem() {
                problems.push(format!("MultiKeyListener {name:?}: spec.strategy: {p}"));
            }
        }
        Resource::Connector(c) => {
            if c.spec.port == 0 {
                problems.push(format!("Connector {name:?}: spec.port must be 1-65535"));
            }
            // Upstream's system sites refuse it too: pods are a Kubernetes thing, and a selector
            // accepted here would run against localhost or not at all.
            if c.spec.host.is_empty() && !c.spec.selector.is_empty() {
                problems.push(format!(
                    "Connector {name:?}: {}: spec.selector ({}) needs the kubernetes platform (pods); \
                     on a host, give spec.host",
                    super::service::CONNECTOR_HOST_REQUIRED,
                    c.spec.selector
                ));
            }
        }
        Resource::AccessToken(t) if res.site.is_none() && !incoming.iter().any(|x| matches!(x, Resource::Site(_))) => {
            let _ = t;
            problems.push(format!("A site must exist in namespace {} before a token can be redeemed", ctx.namespace));
        }
        _ => {}
    }
}

/// The metadata of any resource.
fn metadata_mut(r: &mut Resource) -> &mut ObjectMeta {
    match r {
        Resource::Site(x) => &mut x.metadata,
        Resource::RouterAccess(x) => &mut x.metadata,
        Resource::Link(x) => &mut x.metadata,
        Resource::AccessGrant(x) => &mut x.metadata,
        Resource::AccessToken(x) => &mut x.metadata,
        Resource::Listener(x) => &mut x.metadata,
        Resource::Connector(x) => &mut x.metadata,
        Resource::MultiKeyListener(x) => &mut x.metadata,
        Resource::Secret(x) => &mut x.metadata,
    }
}

/// `-n` decides the namespace, as upstream's `system apply` does: a resource that names another
/// one in `metadata.namespace` is applied to this one. Returns the one line that says so.
fn into_namespace(ctx: &Ctx, docs: &mut [Resource], stored: &mut [StoredOnly]) -> Option<String> {
    let mut moved = Vec::new();
    let mut from = BTreeSet::new();
    for r in docs.iter_mut() {
        if metadata_mut(r).namespace.as_ref().is_some_and(|ns| *ns != ctx.namespace) {
            moved.push(format!("{} {}", r.kind(), r.name()));
            from.extend(metadata_mut(r).namespace.replace(ctx.namespace.clone()));
        }
    }
    for s in stored.iter_mut() {
        if let Some(ns) = s.value.pointer_mut("/metadata/namespace")
            && ns.as_str() != Some(ctx.namespace.as_str())
        {
            let old = std::mem::replace(ns, ctx.namespace.clone().into());
            from.insert(old.as_str().map(str::to_owned).unwrap_or_else(|| old.to_string()));
            moved.push(format!("{} {}", s.kind, s.name));
        }
    }
    if moved.is_empty() {
        return None;
    }
    const SHOWN: usize = 5;
    let more = moved.len().saturating_sub(SHOWN);
    moved.truncate(SHOWN);
    let mut which = moved.join(", ");
    if more > 0 {
        which.push_str(&format!(" and {more} more"));
    }
    let from: Vec<String> = from.into_iter().map(|n| format!("{n:?}")).collect();
    Some(format!(
        "Note: metadata.namespace {} replaced by {:?} (-n decides the namespace) for: {which}",
        from.join(", "),
        ctx.namespace,
    ))
}

fn apply_resources(
    ctx: &Ctx,
    home: &Home,
    res: &Resources,
    mut docs: Vec<Resource>,
    mut stored: Vec<StoredOnly>,
) -> CmdResult {
    let moved = into_namespace(ctx, &mut docs, &mut stored);
    let mut problems = Problems::default();
    let after = After::new(res, &docs);
    for r in &docs {
        check_resource(ctx, res, &docs, &after, r, &mut problems);
    }
    for s in &stored {
        let (kind, name) = (s.kind, &s.name);
        if name.is_empty() {
            problems.push(format!("{kind}: metadata.name is missing"));
        } else if let Err(e) = super::validate::resource_name(name) {
            problems.push(format!("{kind} {name:?}: name is not valid: {e}"));
        }
    }
    if !problems.is_empty() {
        return Err(fail(format!("{}\nNothing was applied.", problems.0.join("\n"))));
    }
    if let Some(line) = moved {
        output::note(line);
    }
    // Upstream's system sites keep these and run nothing for them; so does this platform, and says so.
    for s in &stored {
        output::note(format!(
            "Warning: {} {:?} is stored but not run: the local platform does not act on {} resources",
            s.kind, s.name, s.kind
        ));
    }
    let mut changes = Vec::new();
    let mut added = Vec::new();
    let mut redeemed = Vec::new();
    let ns = LocalNamespace::new(home.clone());
    for r in &docs {
        match r {
            // A token is redeemed now (its Secret and Links are what gets stored).
            Resource::AccessToken(t) => {
                let (staged, links) = ns
                    .redeem_staged(res, t, Duration::from_secs(60))
                    .map_err(|e| super::token::redeem_error(ctx, t.name(), e))?;
                changes.extend(staged);
                redeemed.push(links);
                added.push(format!("AccessToken {} redeemed", t.name()));
            }
            Resource::Site(s) => {
                let mut s = s.clone();
                if s.spec.link_access_enabled() {
                    home.ensure_access(None, &[])?;
                    home.grant_ca()?;
                }
                home.site_id()?;
                home.site_ca(s.name())?;
                s.status = Default::default();
                changes.push(Change::Put(Resource::Site(s)));
                added.push(format!("Site {} added", r.name()));
            }
            other => {
                changes.push(Change::Put(other.clone()));
                added.push(format!("{} {} added", other.kind(), other.name()));
            }
        }
    }
    added.extend(stored.iter().map(|s| format!("{} {} stored (not run)", s.kind, s.name)));
    ns.commit_with_stored(changes, &stored)?;
    for line in added {
        output::line(line)?;
    }
    output::line("Custom resources are applied.")?;
    for r in &redeemed {
        super::token::after_links_added(ctx, r);
    }
    Ok(())
}

fn delete_resources(ctx: &Ctx, res: &Resources, docs: Vec<Document>) -> CmdResult {
    let mut changes = Vec::new();
    let mut lines = Vec::new();
    for r in &docs {
        if res.contains(r.kind(), r.name()) {
            changes.push(Change::Delete { kind: r.kind(), name: r.name().to_string() });
            lines.push(format!("{} {} deleted", r.kind(), r.name()));
        } else {
            output::note(format!("{} {} does not exist in namespace {}", r.kind(), r.name(), ctx.namespace));
        }
    }
    ctx.ns.commit(changes)?;
    for l in lines {
        output::line(l)?;
    }
    output::line("Custom resources deleted.")?;
    Ok(())
}
