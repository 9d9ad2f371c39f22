//! `system start | stop | status | reload | apply | delete | install | uninstall |
//! generate-bundle`: running a local site as a background process (`system start --foreground`
//! is the process itself, see [`crate::runtime`]) and changing its resources declaratively. A
//! running site picks up resource changes by itself; `system reload` makes it do so at once.

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
pub(crate) struct StartArgs {
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

/// `system reload`.
#[derive(Debug, Args)]
pub(crate) struct ReloadArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// How long to wait for the running site to report the reload
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
}

/// `system install`.
#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// How a site picks up changes to its resources. Choices: auto (a running local site always
    /// watches its resources; manual is not available here)
    #[arg(long, value_name = "TYPE")]
    reload_type: Option<String>,
}

/// `system generate-bundle`.
#[derive(Debug, Args)]
pub(crate) struct BundleArgs {
    /// The file to write (a gzip-compressed tarball)
    #[arg(value_name = "BUNDLE_FILE", value_hint = clap::ValueHint::FilePath)]
    file: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// A directory of resource files to bundle instead of the namespace's input/resources
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    input: Option<String>,
    /// The bundle type. Choices: tarball
    #[arg(id = "bundle_type", long = "type", default_value = "tarball", value_name = "TYPE")]
    bundle_type: String,
}

/// Commands without arguments.
#[derive(Debug, Args)]
pub(crate) struct NoArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
}

/// `system apply` / `system delete`.
#[derive(Debug, Args)]
pub(crate) struct FileArgs {
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
        SystemCommand::Reload(a) => reload(ctx, a),
        SystemCommand::Install(a) => install(ctx, a),
        SystemCommand::Uninstall(a) => uninstall(ctx, a),
        SystemCommand::GenerateBundle(a) => generate_bundle(ctx, a),
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
    let log_err =
        log.try_clone().map_err(|e| fail(format!("cannot open the log {} twice: {e}", log_path.display())))?;
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

/// `system reload`: the running site re-reads its resources and applies them now (SIGHUP to
/// each of its router processes, then their state files count the reload).
fn reload(ctx: &Ctx, a: ReloadArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    let home = ctx.local()?;
    let timeout = super::validate::duration("timeout", &a.timeout, &mut problems);
    // Every file must read: a reload that skipped one would drop what it declares.
    let res = home.load().map_err(|e| fail(format!("{e:#}\nNothing was reloaded.")))?;
    if res.site.is_none() {
        problems.push(format!(
            "there is no skupper site in namespace {}; create one first with {}",
            ctx.namespace,
            ctx.hint("site create <name>")
        ));
    }
    problems.finish()?;
    let Some(site) = res.site.clone() else { return Err(fail("no site")) };
    let timeout = Duration::from_secs(timeout.map(|t| t.as_secs()).unwrap_or(60).max(1).unsigned_abs());
    let dir = home.resources_dir();
    let running: Vec<(&str, u32)> =
        groups(&site).iter().filter_map(|g| home_of(home, g).running_pid().map(|pid| (*g, pid))).collect();
    if running.is_empty() {
        output::line(format!(
            "Site {:?} is not running: nothing to reload. It reads its resources ({}) when it starts: {}",
            site.name(),
            dir.display(),
            ctx.start_hint()
        ))?;
        return Ok(());
    }
    for (group, pid) in running {
        let h = home_of(home, group);
        let before = h.runtime_state().filter(|s| s.pid == pid).map(|s| s.reloads).unwrap_or(0);
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| fail(format!("cannot run kill to signal pid {pid}: {e}")))?;
        if !status.success() {
            return Err(fail(format!(
                "could not signal the site process {pid}; check it with {}",
                ctx.hint("system status")
            )));
        }
        let mut progress = Progress::start("Waiting for the site to reload...");
        let deadline = Instant::now() + timeout;
        loop {
            if h.runtime_state().is_some_and(|s| s.pid == pid && s.reloads > before) {
                progress.finish();
                break;
            }
            if !is_site_process(pid) {
                progress.finish();
                return Err(fail(format!(
                    "Site {:?} (pid {pid}) stopped while reloading; see its log {}",
                    site.name(),
                    h.log_path().display()
                )));
            }
            if Instant::now() >= deadline {
                progress.finish();
                return Err(fail(format!(
                    "Site {:?} (pid {pid}) did not report the reload within {}s; check its log {}",
                    site.name(),
                    timeout.as_secs(),
                    h.log_path().display()
                )));
            }
            progress.tick();
            // The site answers within a reconcile: poll finely.
            std::thread::sleep(Duration::from_millis(20));
        }
        let who = if group == GROUP_PRIMARY {
            format!("Site {:?}", site.name())
        } else {
            format!("Router {group} of site {:?}", site.name())
        };
        output::line(format!(
            "{who} reloaded (pid {pid}): re-read {} and applied {} links, {} listeners, {} connectors; statuses refreshed.",
            dir.display(),
            res.links.len(),
            res.listeners.len(),
            res.connectors.len()
        ))?;
    }
    Ok(())
}

/// Upstream's reload types.
const RELOAD_TYPES: [&str; 2] = ["manual", "auto"];

/// `system install`: upstream prepares the host (a container engine's API service and system
/// controller, or checks for skrouterd). Nothing of that exists here.
fn install(ctx: &Ctx, a: InstallArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    match a.reload_type.as_deref() {
        None | Some("auto") => {}
        Some("manual") => problems.push(format!(
            "reload type manual is not available on this platform: a running local site applies changes to its \
             resources by itself (within a second); {} applies them at once",
            ctx.hint("system reload")
        )),
        Some(other) => problems.push(format!(
            "reload type is not valid: value {other} not allowed. It should be one of this options: [{}]",
            RELOAD_TYPES.join(" ")
        )),
    }
    problems.finish()?;
    let base = local::base_dir()?;
    output::line(format!(
        "Not needed here: the router is built into this program and each site runs as its own process ({}); \
         there is no container engine, system service or system controller to install. Sites keep their files \
         under {}.",
        ctx.hint("system start"),
        base.display()
    ))?;
    Ok(())
}

/// `system uninstall`: the counterpart of `system install`, which installs nothing here.
fn uninstall(ctx: &Ctx, a: NoArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    problems.finish()?;
    output::line(format!(
        "Not needed here: system install installs nothing on this platform. Sites are left as they are: stop one \
         with {}, remove one with {}.",
        ctx.hint("system stop"),
        ctx.hint("site delete --all")
    ))?;
    Ok(())
}

/// What a bundle holds, for its README.
const BUNDLE_README: &str = "\
A site bundle made by kubectl skupper system generate-bundle.

resources.yaml     every input resource of the site (Site first, then the others), as YAML
                   documents without status or namespace: on the new host run
                     kubectl skupper -n <namespace> system apply -f resources.yaml
                     kubectl skupper -n <namespace> system start
input/resources/   the same resources, one file each, named as a site directory names them:
                   they can be copied into <data dir>/namespaces/<namespace>/input/resources/
                   of a namespace that has no site yet.

Secrets (link client certificates, proxy credentials) are included with their keys: keep the
bundle private. The site's CAs are not: the new site makes its own, so links that remote sites
made to the old one must be generated again (link generate, token issue).
";

/// `system generate-bundle`: a tarball of the site's input resources that `system apply` (or a
/// fresh namespace directory) takes.
fn generate_bundle(ctx: &Ctx, a: BundleArgs) -> CmdResult {
    let mut problems = Problems::default();
    let home = ctx.local()?;
    if !a.extra.is_empty() {
        problems.push("only one argument is allowed for this command");
    }
    let file = match a.file.as_deref() {
        None | Some("") => {
            problems.push("You must specify a name for the bundle file");
            None
        }
        Some(f) => Some(f.to_string()),
    };
    match a.bundle_type.as_str() {
        "tarball" => {}
        "shell-script" => problems.push(
            "bundle type shell-script is not available on this platform: upstream's script installs containers or \
             systemd units, which local sites do not use; use --type tarball",
        ),
        other => problems.push(format!(
            "bundle type is not valid: value {other} not allowed. It should be one of this options: [tarball]"
        )),
    }
    let dir = a.input.as_ref().map(std::path::PathBuf::from).unwrap_or_else(|| home.resources_dir());
    if a.input.is_some() && !dir.is_dir() {
        problems.push(format!("input directory {} does not exist or is not a directory", dir.display()));
    }
    problems.finish()?;
    let Some(file) = file else { return Err(fail("no bundle file")) };
    let docs = bundle_documents(&dir)?;
    if !docs.iter().any(|(kind, _, _)| *kind == Site::KIND) {
        return Err(fail(format!(
            "there is no Site in {}: a bundle installs a site; create one first with {}",
            dir.display(),
            ctx.hint("site create <name>")
        )));
    }
    let mut tar = crate::tarball::Tar::new(crate::platform::now_unix());
    tar.file("README.txt", BUNDLE_README.as_bytes(), 0o644)?;
    let mut all = String::new();
    for (kind, name, yaml) in &docs {
        if !all.is_empty() {
            all.push_str("---\n");
        }
        all.push_str(yaml);
        tar.file(&format!("input/resources/{}", local::resource_file_name(kind, name)), yaml.as_bytes(), 0o600)?;
    }
    tar.file("resources.yaml", all.as_bytes(), 0o600)?;
    let bytes = tar.gzip()?;
    local::write_user_file(Path::new(&file), &bytes, 0o600)
        .map_err(|e| fail(format!("cannot write the bundle {file}: {e:#}")))?;
    output::line(format!("Site bundle written to {file} ({} resources from {})", docs.len(), dir.display()))?;
    Ok(())
}

/// The resource files of `dir` as (kind, name, YAML without status and namespace), the Site
/// first; any unreadable file is an error naming it (nothing is written then).
fn bundle_documents(dir: &Path) -> Result<Vec<(&'static str, String, String)>, super::CliError> {
    let mut paths: Vec<std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(fail(format!("cannot read {}: {e}", dir.display()))),
    };
    paths.sort();
    let mut docs = Vec::new();
    for path in paths {
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        if file.starts_with('.') || !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json")) {
            continue;
        }
        let doc = local::read_document_file(&path)
            .map_err(|e| fail(format!("{}: {e:#}; fix or remove this file. No bundle was written.", path.display())))?;
        let (kind, name, mut value) = match doc {
            Document::Resource(r) => (r.kind(), r.name().to_string(), r.to_value()),
            Document::StoredOnly(s) => (s.kind, s.name, s.value),
        };
        if let Some(o) = value.as_object_mut() {
            o.remove("status");
        }
        if let Some(m) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("namespace");
        }
        docs.push((kind, name, output::to_yaml(&value)?));
    }
    docs.sort_by_key(|(kind, _, _)| *kind != Site::KIND);
    Ok(docs)
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
        Resource::RouterAccess(ra) => {
            for p in ra.problems() {
                problems.push(format!("RouterAccess {name:?}: {p}"));
            }
            for p in ctx.ns.as_local().map(|home| home.router_access_conflicts(ra)).unwrap_or_default() {
                problems.push(p);
            }
            // One RouterAccess decides a site's link access here (upstream's system sites add
            // listeners per RouterAccess; two would compete for the same roles on one router).
            let others: std::collections::BTreeSet<&str> = res
                .router_accesses
                .keys()
                .map(String::as_str)
                .chain(incoming.iter().filter(|d| d.kind() == "RouterAccess").map(|d| d.name()))
                .filter(|n| *n != name)
                .collect();
            if let Some(other) = others.first() {
                problems.push(format!(
                    "RouterAccess {name:?}: namespace {} already has RouterAccess {other:?}; this platform runs one \
                     RouterAccess per site: change that one or delete it first",
                    ctx.namespace
                ));
            }
            if !ra.spec.tls_credentials.is_empty() && !ra.spec.generate_tls_credentials {
                output::note(format!(
                    "Warning: RouterAccess {name:?}: spec.tlsCredentials {:?} is not read on this platform: link access \
                     serves the certificate it issues from the site CA (as with generateTlsCredentials: true)",
                    ra.spec.tls_credentials
                ));
            }
        }
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
            } else if c.spec.host.is_empty() {
                // As upstream's system sites: no host is no target (not a guess at loopback).
                problems.push(format!(
                    "Connector {name:?}: {}: give spec.host, the backend's address (localhost for this host)",
                    super::service::CONNECTOR_HOST_REQUIRED
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
    // Fields of a newer (or another) version: kept in the stored resource, said aloud.
    for r in &docs {
        let unknown = r.unknown_fields();
        if !unknown.is_empty() {
            output::note(format!(
                "Warning: {} {:?}: {} not known to this version of kubectl-skupper: kept as written, not acted on",
                r.kind(),
                r.name(),
                unknown.join(", ") + if unknown.len() == 1 { " is" } else { " are" }
            ));
        }
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
    if let Some(ra) = docs.iter().rev().find_map(|d| if let Resource::RouterAccess(ra) = d { Some(ra) } else { None }) {
        router_access_applied(ctx, home, Some(ra))?;
    }
    output::line("Custom resources are applied.")?;
    for r in &redeemed {
        super::token::after_links_added(ctx, r);
    }
    Ok(())
}

/// A RouterAccess was applied (or deleted): the link access follows it, and a running site is
/// told how to pick it up.
fn router_access_applied(ctx: &Ctx, home: &Home, ra: Option<&skupper_core::resources::RouterAccess>) -> CmdResult {
    let access = home.apply_router_access(ra)?;
    let roles: Vec<String> = [
        (skupper_core::resources::ROLE_INTER_ROUTER, access.inter_router),
        (skupper_core::resources::ROLE_EDGE, access.edge),
    ]
    .into_iter()
    .filter(|(role, _)| access.has_role(role))
    .map(|(role, port)| format!("{role} {port}"))
    .collect();
    output::line(format!("Link access: {} on {}", roles.join(", "), access.bind_host))?;
    if ctx.ns.running() {
        output::note(format!(
            "The running site keeps its link-access ports until it restarts: {} then {}",
            ctx.hint("system stop"),
            ctx.hint("system start")
        ));
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
    if let Some(home) = ctx.ns.as_local()
        && docs.iter().any(|d| d.kind() == "RouterAccess" && res.contains(d.kind(), d.name()))
    {
        router_access_applied(ctx, home, None)?;
    }
    output::line("Custom resources deleted.")?;
    Ok(())
}
