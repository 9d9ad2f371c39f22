//! `system start | stop | status | apply | delete`: running a local site as a background
//! process (`system start --foreground` is the process itself, see [`crate::runtime`]) and
//! changing its resources declaratively. A running site picks up resource changes by itself.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use skupper_core::link::{LinkContext, validate_link};
use skupper_core::resources::Resource;

use super::validate::Problems;
use super::{CmdResult, Ctx, SystemCommand, fail};
use crate::output::{self, Progress};
use crate::platform::local::{self, Changes, Resources, is_site_process};

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

fn start(ctx: &Ctx, a: StartArgs) -> CmdResult {
    let mut problems = Problems::default();
    no_args(&a.extra, &mut problems);
    let res = ctx.home.load()?;
    if res.site.is_none() {
        problems.push(format!(
            "there is no skupper site in namespace {}; create one first with {}",
            ctx.namespace,
            ctx.hint("site create <name>")
        ));
    }
    let timeout = super::validate::duration("timeout", &a.timeout, &mut problems);
    problems.finish()?;
    let Some(site) = res.site else { return Err(fail("no site")) };
    if let Some(pid) = ctx.home.running_pid() {
        return Err(fail(format!(
            "Site {:?} is already running (pid {pid}). Stop it first with: {}",
            site.name(),
            ctx.hint("system stop")
        )));
    }
    if a.foreground {
        return crate::runtime::run_foreground(ctx.home.clone()).map_err(super::CliError::Failed);
    }
    let timeout = Duration::from_secs(timeout.map(|t| t.as_secs()).unwrap_or(60).max(1).unsigned_abs());

    local::create_dir_private(&ctx.home.runtime_dir())?;
    let log_path = ctx.home.log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| fail(format!("cannot open the log {}: {e}", log_path.display())))?;
    let log_err = log.try_clone()?;
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find this program's path: {e}")))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(ctx.home.state_path());
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        Command::new(exe)
            .args(["--platform", "local", "-n", &ctx.namespace, "system", "start", "--foreground"])
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
            return Err(fail(format!(
                "Site {:?} failed to start ({status}).\n{tail}\nFull log: {}",
                site.name(),
                log_path.display()
            )));
        }
        if let Some(state) = ctx.home.runtime_state()
            && state.pid == pid
            && state.phase == "Running"
        {
            progress.finish();
            output::line(format!("Site {:?} is running (pid {pid}).", site.name()))?;
            if !state.grant_server.is_empty() {
                output::line(format!("Grant server: {}", state.grant_server))?;
            }
            output::line(format!("Log: {}", log_path.display()))?;
            if state.router != "OK" {
                output::note(format!(
                    "Warning: the router is not running: {}\nThe site retries; see the log, and check again with: {}",
                    state.router,
                    ctx.hint("system status")
                ));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            progress.finish();
            return Err(fail(format!(
                "Site {:?} did not report that it runs within {}s (pid {pid}). Check the log {} and {}",
                site.name(),
                timeout.as_secs(),
                log_path.display(),
                ctx.hint("system status")
            )));
        }
        progress.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// Stops the running site of `ctx` (SIGTERM, then waits for it to exit).
pub(super) fn stop_site(ctx: &Ctx, site: &str) -> CmdResult {
    let Some(pid) = ctx.home.running_pid() else { return Ok(()) };
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
    let res = ctx.home.load()?;
    problems.finish()?;
    let name = res.site.as_ref().map(|s| s.name().to_string()).unwrap_or_else(|| ctx.namespace.clone());
    if ctx.home.running_pid().is_none() {
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
    let res = ctx.home.load()?;
    problems.finish()?;
    let Some(site) = res.site else {
        output::line("There is no existing Skupper site resource")?;
        return Ok(());
    };
    match ctx.home.running_pid() {
        None => {
            output::line(format!("Site {:?} is not running.", site.name()))?;
            output::note(format!("Start it with: {}", ctx.hint("system start")));
        }
        Some(pid) => {
            let state = ctx.home.runtime_state().unwrap_or_default();
            output::line(format!("Site {:?} is running (pid {pid}).", site.name()))?;
            output::line(format!("Router: {}", if state.router.is_empty() { "starting" } else { &state.router }))?;
            if !state.grant_server.is_empty() {
                output::line(format!("Grant server: {}", state.grant_server))?;
            }
            if !state.started_at.is_empty() {
                output::line(format!("Started: {}", state.started_at))?;
            }
            output::line(format!("Log: {}", ctx.home.log_path().display()))?;
        }
    }
    Ok(())
}

fn read_input(file: &str) -> Result<String, super::CliError> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| fail(format!("Error while opening the file: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| fail(format!("Error while opening the file: {e}")))
    }
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
        local::parse_documents(&text).map_err(|e| fail(format!("Failed parsing the custom resources: {e:#}")))?;
    if docs.is_empty() {
        return Err(fail("Failed parsing the custom resources: no resource found in the input"));
    }
    let res = ctx.home.load()?;
    if delete { delete_resources(ctx, &res, docs) } else { apply_resources(ctx, &res, docs) }
}

/// Everything that makes a resource unusable, checked before anything is written.
fn check_resource(ctx: &Ctx, res: &Resources, incoming: &[Resource], r: &Resource, problems: &mut Problems) {
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
            // The namespace as it will be: existing resources with the incoming ones over them.
            let mut secrets = res.secrets.clone();
            let mut links = res.links.clone();
            for x in incoming {
                match x {
                    Resource::Secret(s) => {
                        secrets.insert(s.name().to_string(), s.clone());
                    }
                    Resource::Link(o) => {
                        links.insert(o.name().to_string(), o.clone());
                    }
                    _ => {}
                }
            }
            let secrets: Vec<_> = secrets.into_values().collect();
            let others: Vec<_> = links.into_values().filter(|o| o.name() != name).collect();
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
        Resource::Connector(c) if c.spec.port == 0 => {
            problems.push(format!("Connector {name:?}: spec.port must be 1-65535"));
        }
        Resource::AccessToken(t) if res.site.is_none() && !incoming.iter().any(|x| matches!(x, Resource::Site(_))) => {
            let _ = t;
            problems.push(format!("A site must exist in namespace {} before a token can be redeemed", ctx.namespace));
        }
        _ => {}
    }
}

fn apply_resources(ctx: &Ctx, res: &Resources, docs: Vec<Resource>) -> CmdResult {
    let mut problems = Problems::default();
    for r in &docs {
        check_resource(ctx, res, &docs, r, &mut problems);
    }
    if !problems.is_empty() {
        return Err(fail(format!("{}\nNothing was applied.", problems.0.join("\n"))));
    }
    let mut changes = Changes::default();
    let mut added = Vec::new();
    let mut redeemed = Vec::new();
    for r in &docs {
        match r {
            // A token is redeemed now (its Secret and Links are what gets stored).
            Resource::AccessToken(t) => {
                let timeout = skupper_core::duration::GoDuration::from_secs(60);
                redeemed.push(super::token::redeem_into(ctx, res, t, timeout, &mut changes)?);
                added.push(format!("AccessToken {} redeemed", t.name()));
            }
            Resource::Site(s) => {
                let mut s = s.clone();
                if s.spec.link_access_enabled() {
                    ctx.home.ensure_access(None, &[])?;
                    ctx.home.grant_ca()?;
                }
                ctx.home.site_id()?;
                ctx.home.site_ca(s.name())?;
                s.status = Default::default();
                changes.put_resource(&ctx.home, &Resource::Site(s))?;
                added.push(format!("Site {} added", r.name()));
            }
            other => {
                changes.put_resource(&ctx.home, other)?;
                added.push(format!("{} {} added", other.kind(), other.name()));
            }
        }
    }
    changes.commit()?;
    for line in added {
        output::line(line)?;
    }
    output::line("Custom resources are applied.")?;
    for r in &redeemed {
        super::token::after_links_added(ctx, r);
    }
    Ok(())
}

fn delete_resources(ctx: &Ctx, res: &Resources, docs: Vec<Resource>) -> CmdResult {
    let mut changes = Changes::default();
    let mut lines = Vec::new();
    for r in &docs {
        if res.contains(r.kind(), r.name()) {
            changes.delete(ctx.home.resource_path(r.kind(), r.name()));
            lines.push(format!("{} {} deleted", r.kind(), r.name()));
        } else {
            output::note(format!("{} {} does not exist in namespace {}", r.kind(), r.name(), ctx.namespace));
        }
    }
    changes.commit()?;
    for l in lines {
        output::line(l)?;
    }
    output::line("Custom resources deleted.")?;
    Ok(())
}
