//! The command line: clap definitions mirroring upstream Skupper v2's `skupper` commands, and
//! dispatch to one module per command group. Every command validates all of its input first
//! (problems → exit 2, printed as upstream does, one per line on stdout), then runs (failure →
//! exit 1 with what to do next). Help texts and examples live in [`help`].

mod complete;
mod debug;
mod help;
mod inspect;
#[cfg(feature = "kubernetes")]
mod install;
mod link;
mod multikey;
mod network;
mod service;
mod site;
mod system;
mod token;
pub(crate) mod validate;
mod version;

use std::ffi::OsString;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use self::help::*;

use crate::platform::local::{Home, LocalNamespace};
use crate::platform::{DEFAULT_NAMESPACE, Namespace, Platform};

/// How a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad input: printed, exit code 2.
    Usage(String),
    /// The command could not do its work: printed, exit code 1.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

/// Result of a command.
pub(crate) type CmdResult = Result<(), CliError>;

/// A run error from a message.
pub(crate) fn fail(msg: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!("{msg}"))
}

/// `kubectl skupper`: link sites into an application network.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-skupper",
    version,
    about = "Link sites into an application network (Skupper v2 compatible)",
    long_about = ROOT_LONG,
    after_help = ROOT_AFTER,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Set the platform type to use [kubernetes, local] (env SKUPPER_PLATFORM; default kubernetes when a
    /// kubeconfig is found, else local)
    #[arg(
        short = 'p',
        long,
        global = true,
        env = "SKUPPER_PLATFORM",
        hide_env = true,
        value_name = "PLATFORM",
        help_heading = GLOBAL
    )]
    pub platform: Option<String>,
    /// Set the namespace (default: the kubeconfig context's on kubernetes, "default" on local)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", help_heading = GLOBAL)]
    pub namespace: Option<String>,
    /// Set the kubeconfig context (kubernetes platform only)
    #[arg(long, global = true, value_name = "CONTEXT", help_heading = GLOBAL)]
    pub context: Option<String>,
    /// Path to the kubeconfig file to use (kubernetes platform only)
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath, help_heading = GLOBAL)]
    pub kubeconfig: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// A site is where skupper is deployed and components of your application are running.
    #[command(subcommand, long_about = SITE_LONG, after_help = SITE_AFTER)]
    Site(SiteCommand),
    /// A site-to-site communication channel.
    #[command(subcommand, long_about = LINK_LONG, after_help = LINK_AFTER)]
    Link(LinkCommand),
    /// Security mechanism for creating connections between Skupper sites.
    #[command(subcommand, long_about = TOKEN_LONG, after_help = TOKEN_AFTER)]
    Token(TokenCommand),
    /// Binds a connection endpoint in the local site to target workloads in remote sites.
    #[command(subcommand, long_about = LISTENER_LONG, after_help = LISTENER_AFTER)]
    Listener(ListenerCommand),
    /// Binds target workloads in the local site to listeners in remote sites.
    #[command(subcommand, long_about = CONNECTOR_LONG, after_help = CONNECTOR_AFTER)]
    Connector(ConnectorCommand),
    /// Binds a connection endpoint in the local site to several routing keys, by priority or weight.
    #[command(subcommand, name = "multikeylistener", long_about = multikey::MULTIKEY_LONG, after_help = multikey::MULTIKEY_AFTER)]
    MultiKeyListener(multikey::MultiKeyListenerCommand),
    /// Run a local site: start, stop, status, and declarative apply/delete of resources.
    #[command(subcommand, long_about = SYSTEM_LONG, after_help = SYSTEM_AFTER)]
    System(SystemCommand),
    /// Show the network: sites, links and their costs, reachability, where connections went.
    #[command(subcommand, long_about = network::NETWORK_LONG, after_help = network::NETWORK_AFTER)]
    Network(network::NetworkCommand),
    /// Debug tools: dump a site's resources, statuses, logs and version into a tarball.
    #[command(subcommand, long_about = debug::DEBUG_LONG, after_help = debug::DEBUG_AFTER)]
    Debug(debug::DebugCommand),
    /// Display the versions of this plugin, its core library and its link protocol.
    #[command(long_about = VERSION_LONG, after_help = VERSION_AFTER)]
    Version(version::VersionArgs),
    /// Print a shell completion script (bash, zsh, fish, or kubectl's plugin completion).
    #[command(long_about = COMPLETION_LONG, after_help = COMPLETION_AFTER)]
    Completion(complete::CompletionArgs),
    /// Admission webhook for Links: serve the Link policy (a Wasm module) or print its manifests.
    #[cfg(feature = "webhook")]
    #[command(subcommand)]
    Webhook(crate::webhook::WebhookCommand),
    /// Run the site of a Kubernetes namespace: reconcile its resources, run its router and grant server.
    #[cfg(feature = "kubernetes")]
    #[command(long_about = crate::controller::CONTROLLER_LONG, after_help = crate::controller::CONTROLLER_AFTER)]
    Controller(crate::controller::ControllerArgs),
    /// Install the Skupper CRDs and ClusterRoles into the cluster (once per cluster, as its admin).
    #[cfg(feature = "kubernetes")]
    #[command(long_about = install::INSTALL_LONG, after_help = install::INSTALL_AFTER)]
    Install(install::InstallArgs),
    /// Remove the Skupper CRDs (with every Skupper resource) and ClusterRoles from the cluster.
    #[cfg(feature = "kubernetes")]
    #[command(long_about = install::UNINSTALL_LONG, after_help = install::UNINSTALL_AFTER)]
    Uninstall(install::UninstallArgs),
}

/// `site ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SiteCommand {
    /// Create a new site
    #[command(long_about = SITE_CREATE_LONG, after_help = SITE_CREATE_AFTER)]
    Create(site::CreateArgs),
    /// Change site settings
    #[command(long_about = SITE_UPDATE_LONG, after_help = SITE_UPDATE_AFTER)]
    Update(site::UpdateArgs),
    /// Generate a site resource and output it to a file or screen
    #[command(long_about = SITE_GENERATE_LONG, after_help = SITE_GENERATE_AFTER)]
    Generate(site::GenerateArgs),
    /// Get the site status
    #[command(long_about = SITE_STATUS_LONG, after_help = SITE_STATUS_AFTER)]
    Status(site::StatusArgs),
    /// Delete a site
    #[command(long_about = SITE_DELETE_LONG, after_help = SITE_DELETE_AFTER)]
    Delete(site::DeleteArgs),
}

/// `link ...`
#[derive(Debug, Subcommand)]
pub(crate) enum LinkCommand {
    /// Generate a new link resource as a YAML output, unless explicitly specified otherwise using the `--output` flag.
    #[command(long_about = LINK_GENERATE_LONG, after_help = LINK_GENERATE_AFTER)]
    Generate(link::GenerateArgs),
    /// Display the link status
    #[command(long_about = LINK_STATUS_LONG, after_help = LINK_STATUS_AFTER)]
    Status(link::StatusArgs),
    /// Change link settings
    #[command(long_about = LINK_UPDATE_LONG, after_help = LINK_UPDATE_AFTER)]
    Update(link::UpdateArgs),
    /// Delete a link
    #[command(long_about = LINK_DELETE_LONG, after_help = LINK_DELETE_AFTER)]
    Delete(link::DeleteArgs),
}

/// `token ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// issue a token
    #[command(long_about = TOKEN_ISSUE_LONG, after_help = TOKEN_ISSUE_AFTER)]
    Issue(token::IssueArgs),
    /// redeem a token
    #[command(long_about = TOKEN_REDEEM_LONG, after_help = TOKEN_REDEEM_AFTER)]
    Redeem(token::RedeemArgs),
    /// show what a token or link file holds, offline
    #[command(long_about = TOKEN_INSPECT_LONG, after_help = TOKEN_INSPECT_AFTER)]
    Inspect(inspect::InspectArgs),
}

/// `listener ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ListenerCommand {
    /// create a listener
    #[command(long_about = LISTENER_CREATE_LONG, after_help = LISTENER_CREATE_AFTER)]
    Create(service::CreateArgs),
    /// get status of listeners
    #[command(long_about = LISTENER_STATUS_LONG, after_help = LISTENER_STATUS_AFTER)]
    Status(service::StatusArgs),
    /// update a listener
    #[command(long_about = LISTENER_UPDATE_LONG, after_help = LISTENER_UPDATE_AFTER)]
    Update(service::UpdateArgs),
    /// generate a listener resource and output it to a file or screen
    #[command(long_about = LISTENER_GENERATE_LONG, after_help = LISTENER_GENERATE_AFTER)]
    Generate(service::GenerateArgs),
    /// delete a listener
    #[command(long_about = LISTENER_DELETE_LONG, after_help = LISTENER_DELETE_AFTER)]
    Delete(service::DeleteArgs),
}

/// `connector ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConnectorCommand {
    /// create a connector
    #[command(long_about = CONNECTOR_CREATE_LONG, after_help = CONNECTOR_CREATE_AFTER)]
    Create(service::CreateArgs),
    /// get status of connectors
    #[command(long_about = CONNECTOR_STATUS_LONG, after_help = CONNECTOR_STATUS_AFTER)]
    Status(service::StatusArgs),
    /// update a connector
    #[command(long_about = CONNECTOR_UPDATE_LONG, after_help = CONNECTOR_UPDATE_AFTER)]
    Update(service::UpdateArgs),
    /// generate a connector resource and output it to a file or screen
    #[command(long_about = CONNECTOR_GENERATE_LONG, after_help = CONNECTOR_GENERATE_AFTER)]
    Generate(service::GenerateArgs),
    /// delete a connector
    #[command(long_about = CONNECTOR_DELETE_LONG, after_help = CONNECTOR_DELETE_AFTER)]
    Delete(service::DeleteArgs),
}

/// `system ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SystemCommand {
    /// Start the site of the namespace (in the background unless --foreground)
    #[command(long_about = SYSTEM_START_LONG, after_help = SYSTEM_START_AFTER)]
    Start(system::StartArgs),
    /// Stop the running site of the namespace
    #[command(long_about = SYSTEM_STOP_LONG, after_help = SYSTEM_STOP_AFTER)]
    Stop(system::NoArgs),
    /// Show whether the site runs, its router, grant server and log
    #[command(long_about = SYSTEM_STATUS_LONG, after_help = SYSTEM_STATUS_AFTER)]
    Status(system::NoArgs),
    /// Re-read the site's resources and apply them to the running site now
    #[command(long_about = SYSTEM_RELOAD_LONG, after_help = SYSTEM_RELOAD_AFTER)]
    Reload(system::ReloadArgs),
    /// Create or update resources using files or standard input.
    #[command(long_about = SYSTEM_APPLY_LONG, after_help = SYSTEM_APPLY_AFTER)]
    Apply(system::FileArgs),
    /// Delete resources using files or standard input.
    #[command(long_about = SYSTEM_DELETE_LONG, after_help = SYSTEM_DELETE_AFTER)]
    Delete(system::FileArgs),
    /// Prepare this host for local sites (nothing is needed here; says so)
    #[command(long_about = SYSTEM_INSTALL_LONG, after_help = SYSTEM_INSTALL_AFTER)]
    Install(system::InstallArgs),
    /// Remove what system install set up (nothing here; says so)
    #[command(long_about = SYSTEM_UNINSTALL_LONG, after_help = SYSTEM_UNINSTALL_AFTER)]
    Uninstall(system::NoArgs),
    /// Write a tarball of the site's input resources for another host
    #[command(long_about = SYSTEM_GENERATE_BUNDLE_LONG, after_help = SYSTEM_GENERATE_BUNDLE_AFTER)]
    GenerateBundle(system::BundleArgs),
}

/// What every command gets: the namespace, on its platform.
pub(crate) struct Ctx {
    /// Namespace name.
    pub namespace: String,
    /// The namespace on the selected platform.
    pub ns: Box<dyn Namespace>,
    /// How the user invokes us (`kubectl skupper`), for hints.
    pub prog: String,
}

impl Ctx {
    /// The local platform's site directory, or the upstream refusal for commands and flags that
    /// exist only there.
    pub(crate) fn local(&self) -> Result<&Home, CliError> {
        self.ns.as_local().ok_or_else(|| {
            fail(format!(
                "command not supported by the selected platform ({}): it works on sites of the local platform \
                 (--platform local); on Kubernetes the controller runs the site ({})",
                self.ns.platform(),
                self.hint("controller")
            ))
        })
    }

    /// After a change to `kind`/`name`: when something runs the site and `until` is given,
    /// waits up to `timeout` for it (with progress). `Ok(true)` when it got there, `Ok(false)`
    /// when there was nothing to wait for; upstream's texts when it did not get there.
    pub(crate) fn wait_for(
        &self,
        kind: &'static str,
        name: &str,
        until: Option<crate::platform::Until>,
        timeout: std::time::Duration,
    ) -> Result<bool, CliError> {
        use crate::platform::Waited;
        let Some(until) = until else { return Ok(false) };
        if !self.ns.running() {
            return Ok(false);
        }
        let w = until.word();
        match self.ns.wait(kind, name, until, timeout)? {
            Waited::Reached => Ok(true),
            Waited::Skipped => Ok(false),
            Waited::Failed(m) | Waited::TimedOut(m) if !m.is_empty() => {
                Err(fail(format!("{kind} {name:?} is not yet {w}: {m}")))
            }
            Waited::Failed(_) | Waited::TimedOut(_) => {
                Err(fail(format!("{kind} {name:?} is not yet {w}, check the status for more information")))
            }
        }
    }

    /// After deleting `kind`/`name`: while something runs the site, waits up to `timeout` (with
    /// upstream's progress line) until the resource is gone from the namespace and, on the local
    /// platform, the running site has dropped it (its status file is gone). `Ok(false)` when
    /// the time ran out.
    pub(crate) fn wait_deleted(
        &self,
        kind: &'static str,
        name: &str,
        timeout: std::time::Duration,
    ) -> Result<bool, CliError> {
        if !self.ns.running() {
            return Ok(true);
        }
        let gone = || -> Result<bool, CliError> {
            if self.ns.load()?.contains(kind, name) {
                return Ok(false);
            }
            Ok(self.ns.as_local().is_none_or(|home| !home.status_path(kind, name).exists()))
        };
        if gone()? {
            return Ok(true);
        }
        let mut progress = crate::output::Progress::start("Waiting for deletion to complete...");
        let deadline = std::time::Instant::now() + timeout;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if gone()? {
                progress.finish();
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                progress.finish();
                return Ok(false);
            }
            progress.tick();
        }
    }

    /// `Start it with: <the command that runs the site>`.
    pub(crate) fn start_hint(&self) -> String {
        self.hint(self.ns.start_command())
    }

    /// A command line to suggest, with `-n` when the namespace is not the default.
    pub(crate) fn hint(&self, command: &str) -> String {
        if self.namespace == DEFAULT_NAMESPACE {
            format!("{} {command}", self.prog)
        } else {
            format!("{} -n {} {command}", self.prog, self.namespace)
        }
    }
}

/// The name users type: `kubectl skupper` for the plugin binary, else the binary's name.
pub(crate) fn program_name(argv0: Option<&OsString>) -> String {
    let base = argv0
        .and_then(|a| std::path::Path::new(a).file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let base = base.strip_suffix(".exe").unwrap_or(&base).to_string();
    match base.as_str() {
        "" | "kubectl-skupper" => "kubectl skupper".into(),
        other => other.into(),
    }
}

/// The words to complete when this is a completion request: `kubectl-skupper __complete ...`,
/// or this program run under the name kubectl looks for (`kubectl_complete-skupper`).
fn completion_request(args: &[OsString]) -> Option<&[OsString]> {
    let name = args.first().map(std::path::Path::new).and_then(|p| p.file_stem()).unwrap_or_default();
    if name == complete::KUBECTL_COMPLETE_NAME {
        return args.get(1..);
    }
    match args.get(1) {
        Some(first) if first == complete::PROTOCOL_COMMAND => args.get(2..),
        _ => None,
    }
}

/// The command line definition: the derived one, with the texts that differ between commands
/// sharing their arguments (listener and connector) and the webhook's long help and examples
/// (its arguments are defined in `crate::webhook`).
pub(crate) fn command() -> clap::Command {
    // `mut_args`, not `mut_arg`: the latter moves the argument last, reordering positionals.
    let words = |what: &'static str, host: &'static str| {
        move |c: clap::Command| {
            let named = |c: clap::Command| {
                c.mut_args(|a| match a.get_id().as_str() {
                    "name" => a.help(format!("{what} name")),
                    "port" => a.help(format!("The port of the local {}", what.to_lowercase())),
                    "host" => a.help(host),
                    _ => a,
                })
            };
            c.mut_subcommand("create", named).mut_subcommand("generate", named)
        }
    };
    let cmd = Cli::command()
        .mut_subcommand("listener", words("Listener", LISTENER_HOST_HELP))
        .mut_subcommand("connector", words("Connector", CONNECTOR_HOST_HELP));
    #[cfg(feature = "webhook")]
    let cmd = cmd.mut_subcommand("webhook", |w| {
        w.long_about(WEBHOOK_LONG)
            .after_help(WEBHOOK_AFTER)
            .mut_subcommand("serve", |c| c.after_help(WEBHOOK_SERVE_AFTER))
            .mut_subcommand("manifest", |c| c.after_help(WEBHOOK_MANIFEST_AFTER))
    });
    cmd
}

/// Parses `args` (clap errors, `--help` and `--version` exit directly) and runs the command.
pub(crate) fn run(args: Vec<OsString>) -> CmdResult {
    if let Some(words) = completion_request(&args) {
        return complete::run_protocol(words);
    }
    let prog = program_name(args.first());
    let matches = command().bin_name(prog.clone()).get_matches_from(args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // Needs no site directory nor a valid platform.
    let cli = match cli {
        Cli { command: Command::Completion(a), .. } => return complete::run(a),
        cli => cli,
    };
    // The webhook runs in a pod with no site directory: dispatch it before the site checks.
    #[cfg(feature = "webhook")]
    let cli = match cli {
        Cli { command: Command::Webhook(c), namespace, .. } => {
            return crate::webhook::run(c, namespace.as_deref()).map_err(CliError::Failed);
        }
        cli => cli,
    };
    let mut problems = validate::Problems::default();
    let globals =
        Globals { kubeconfig: cli.kubeconfig.clone(), context: cli.context.clone(), namespace: cli.namespace.clone() };
    let explicit = cli.platform.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_string);
    let platform = match explicit.as_deref() {
        None => default_platform(&globals),
        Some("local") => Platform::Local,
        Some("kubernetes") => Platform::Kubernetes,
        Some(p @ ("linux" | "podman" | "docker")) => {
            crate::output::note(format!(
                "Platform {p:?} is upstream's name for sites on this host: using the local platform (its processes, \
                 no containers)"
            ));
            Platform::Local
        }
        Some(other) => {
            problems.push(format!("platform {other:?} not supported; use --platform kubernetes or --platform local"));
            Platform::Local
        }
    };
    if let Some(n) = globals.namespace.as_deref().filter(|n| !n.is_empty())
        && let Err(e) = validate::namespace(n)
    {
        problems.push(format!("namespace is not valid: {e}"));
    }
    problems.finish()?;
    let command = match cli.command {
        Command::Version(a) => return version::run(platform, a),
        other => other,
    };
    #[cfg(feature = "kubernetes")]
    let command = match command {
        Command::Controller(a) => return controller(platform, &globals, a),
        other => other,
    };
    // `system` runs sites on this host: without an explicit platform it always means local.
    let platform = if explicit.is_none() && matches!(command, Command::System(_)) { Platform::Local } else { platform };
    let ns: Box<dyn Namespace> = match platform {
        Platform::Local => {
            if globals.context.is_some() {
                crate::output::note("Warning: --context flag is not supported on this platform");
            }
            if globals.kubeconfig.is_some() {
                crate::output::note("Warning: --kubeconfig flag is not supported on this platform");
            }
            let namespace =
                globals.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.into());
            Box::new(LocalNamespace::new(Home::new(&namespace)?))
        }
        Platform::Kubernetes => kubernetes(&globals)?,
    };
    #[cfg(feature = "kubernetes")]
    let command = match command {
        Command::Install(a) => return install::install(ns.as_ref(), a),
        Command::Uninstall(a) => return install::uninstall(ns.as_ref(), a),
        other => other,
    };
    let ctx = Ctx { namespace: ns.name().to_string(), ns, prog };
    match command {
        Command::Site(c) => site::run(&ctx, c),
        Command::Link(c) => link::run(&ctx, c),
        Command::Token(c) => token::run(&ctx, c),
        Command::Listener(c) => service::run_listener(&ctx, c),
        Command::Connector(c) => service::run_connector(&ctx, c),
        Command::MultiKeyListener(c) => multikey::run(&ctx, c),
        Command::System(c) => system::run(&ctx, c),
        Command::Network(c) => network::run(&ctx, c),
        Command::Debug(c) => debug::run(&ctx, c),
        Command::Version(a) => version::run(platform, a),
        Command::Completion(a) => complete::run(a),
        #[cfg(feature = "webhook")]
        Command::Webhook(c) => crate::webhook::run(c, Some(&ctx.namespace)).map_err(CliError::Failed),
        #[cfg(feature = "kubernetes")]
        Command::Install(_) | Command::Uninstall(_) | Command::Controller(_) => Ok(()),
    }
}

/// The global options that choose where a command works.
struct Globals {
    kubeconfig: Option<String>,
    context: Option<String>,
    namespace: Option<String>,
}

/// The platform when none is named: kubernetes when a kubeconfig (or a pod's service account) is
/// at hand, as for kubectl itself; otherwise local.
fn default_platform(globals: &Globals) -> Platform {
    #[cfg(feature = "kubernetes")]
    {
        let selection = crate::platform::kube::client::Selection {
            kubeconfig: globals.kubeconfig.clone(),
            context: globals.context.clone(),
            namespace: None,
        };
        if crate::platform::kube::client::configured(&selection) {
            return Platform::Kubernetes;
        }
    }
    let _ = globals;
    Platform::Local
}

/// `controller`: needs the kubernetes platform; runs until stopped. `controller manifest`
/// prints what runs it in a cluster instead.
#[cfg(feature = "kubernetes")]
fn controller(platform: Platform, globals: &Globals, mut args: crate::controller::ControllerArgs) -> CmdResult {
    if let Some(crate::controller::ControllerCommand::Manifest(m)) = args.command.take() {
        return manifest(globals, m);
    }
    let mut problems = validate::Problems::default();
    for p in args.problems() {
        problems.push(p);
    }
    if platform == Platform::Local {
        problems.push(
            "the controller runs the site of a Kubernetes namespace: use --platform kubernetes with a kubeconfig \
             (local sites run with kubectl skupper system start)",
        );
    }
    problems.finish()?;
    let selection = crate::platform::kube::client::Selection {
        kubeconfig: globals.kubeconfig.clone(),
        context: globals.context.clone(),
        namespace: globals.namespace.clone(),
    };
    crate::controller::run(&selection, args).map_err(CliError::Failed)
}

/// `controller manifest`: the objects for the namespace given with `-n` (or the kubeconfig's).
#[cfg(feature = "kubernetes")]
fn manifest(globals: &Globals, a: crate::controller::ManifestArgs) -> CmdResult {
    let mut problems = validate::Problems::default();
    check_output(Some(&a.output), &mut problems);
    problems.finish()?;
    let namespace = match globals.namespace.clone().filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => {
            let selection = crate::platform::kube::client::Selection {
                kubeconfig: globals.kubeconfig.clone(),
                context: globals.context.clone(),
                namespace: None,
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
            rt.block_on(crate::platform::kube::client::resolve(&selection))
                .map(|t| t.namespace)
                .unwrap_or_else(|_| DEFAULT_NAMESPACE.to_string())
        }
    };
    let docs: Vec<String> = crate::platform::kube::manifest::controller(&namespace, &a.image)
        .iter()
        .map(|o| crate::output::encode(&a.output, o))
        .collect::<Result<_, _>>()?;
    let text = if a.output == "yaml" { docs.join("---\n") } else { docs.join("\n") + "\n" };
    crate::output::raw(text)?;
    Ok(())
}

/// The namespace on the kubernetes platform.
#[cfg(feature = "kubernetes")]
fn kubernetes(globals: &Globals) -> Result<Box<dyn Namespace>, CliError> {
    let selection = crate::platform::kube::client::Selection {
        kubeconfig: globals.kubeconfig.clone(),
        context: globals.context.clone(),
        namespace: globals.namespace.clone(),
    };
    Ok(Box::new(crate::platform::kube::KubeNamespace::connect(&selection)?))
}

#[cfg(not(feature = "kubernetes"))]
fn kubernetes(_globals: &Globals) -> Result<Box<dyn Namespace>, CliError> {
    Err(fail(
        "this kubectl-skupper was built without the kubernetes platform (cargo feature `kubernetes`); use \
         --platform local, or a build with the feature",
    ))
}

/// Upstream's one-name argument checks: `<what> name must not be empty` / `only one argument
/// is allowed for this command` / `<what> name is not valid: ...`. `missing` is the message
/// when no name is given (None: the name is optional).
pub(crate) fn one_name(
    what: &str,
    name: Option<&str>,
    extra: &[String],
    missing: Option<&str>,
    problems: &mut validate::Problems,
) -> Option<String> {
    if !extra.is_empty() {
        problems.push("only one argument is allowed for this command");
        return None;
    }
    match name {
        None => {
            if let Some(m) = missing {
                problems.push(m);
            }
            None
        }
        Some("") => {
            problems.push(format!("{what} name must not be empty"));
            None
        }
        Some(n) => match validate::resource_name(n) {
            Ok(()) => Some(n.to_string()),
            Err(e) => {
                problems.push(format!("{what} name is not valid: {e}"));
                None
            }
        },
    }
}

/// Checks `--wait` (`ready`, `configured`, `none`) with upstream's text.
pub(crate) fn check_wait(value: &str, problems: &mut validate::Problems) -> Option<crate::platform::Until> {
    match value {
        "ready" => Some(crate::platform::Until::Ready),
        "configured" => Some(crate::platform::Until::Configured),
        "none" => None,
        other => {
            problems.push(format!(
                "status is not valid: value {other} not allowed. It should be one of this options: [ready configured none]"
            ));
            None
        }
    }
}

/// Checks `--timeout` (a Go duration, at least 10 s, as upstream).
pub(crate) fn check_timeout(value: &str, problems: &mut validate::Problems) -> Option<std::time::Duration> {
    let d = validate::duration("timeout", value, problems)?;
    match skupper_core::grant::validate_timeout(d) {
        Ok(()) => Some(std::time::Duration::from_secs(d.as_secs().unsigned_abs())),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}

/// Checks `-o` (`output type is not valid: ...`).
pub(crate) fn check_output(output: Option<&str>, problems: &mut validate::Problems) {
    if let Some(o) = output
        && let Err(e) = validate::output(o)
    {
        problems.push(format!("output type is not valid: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn examples_fit_the_help_width() {
        // Help wraps at 100 columns; a wrapped command line cannot be copied.
        fn check(cmd: &clap::Command, path: &str) {
            for line in cmd.get_after_help().map(ToString::to_string).unwrap_or_default().lines() {
                assert!(line.chars().count() <= 100, "{path}: example line too long: {line:?}");
            }
            for sub in cmd.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&command(), "kubectl skupper");
    }

    #[test]
    fn plugin_name() {
        assert_eq!(program_name(Some(&OsString::from("/usr/bin/kubectl-skupper"))), "kubectl skupper");
        assert_eq!(program_name(None), "kubectl skupper");
        assert_eq!(program_name(Some(&OsString::from("skupper"))), "skupper");
    }
}
