//! The command line: clap definitions mirroring upstream Skupper v2's `skupper` commands, and
//! dispatch to one module per command group. Every command validates all of its input first
//! (problems → exit 2, printed as upstream does, one per line on stdout), then runs (failure →
//! exit 1 with what to do next). Help texts and examples live in [`help`].

mod complete;
mod help;
mod inspect;
mod link;
mod network;
mod service;
mod site;
mod system;
mod token;
pub mod validate;
mod version;

use std::ffi::OsString;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use self::help::*;

use crate::platform::Platform;
use crate::platform::local::{DEFAULT_NAMESPACE, Home};

/// How a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad input: printed, exit code 2.
    Usage(String),
    /// The command could not do its work: printed, exit code 1.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Failed(e.into())
    }
}

/// Result of a command.
pub type CmdResult = Result<(), CliError>;

/// A run error from a message.
pub fn fail(msg: impl std::fmt::Display) -> CliError {
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
pub struct Cli {
    /// Set the platform type to use [local, kubernetes] (env SKUPPER_PLATFORM; default local)
    #[arg(
        long,
        global = true,
        env = "SKUPPER_PLATFORM",
        hide_env = true,
        value_name = "PLATFORM",
        help_heading = GLOBAL
    )]
    pub platform: Option<String>,
    /// Set the namespace (default "default")
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", help_heading = GLOBAL)]
    pub namespace: Option<String>,
    /// Set the kubeconfig context (kubernetes platform only)
    #[arg(long, global = true, hide = true, help_heading = GLOBAL)]
    pub context: Option<String>,
    /// Path to the kubeconfig file to use (kubernetes platform only)
    #[arg(long, global = true, hide = true, help_heading = GLOBAL)]
    pub kubeconfig: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Run a local site: start, stop, status, and declarative apply/delete of resources.
    #[command(subcommand, long_about = SYSTEM_LONG, after_help = SYSTEM_AFTER)]
    System(SystemCommand),
    /// Show the network: sites, links and their costs, reachability, where connections went.
    #[command(subcommand, long_about = network::NETWORK_LONG, after_help = network::NETWORK_AFTER)]
    Network(network::NetworkCommand),
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
}

/// Positionals collected loosely so that missing or extra arguments get upstream's messages.
#[derive(Debug, Args, Clone, Default)]
pub struct Extra {
    /// Arguments beyond the expected ones (reported, not used).
    #[arg(hide = true, trailing_var_arg = false)]
    pub extra: Vec<String>,
}

/// `site ...`
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create a new site
    #[command(long_about = SITE_CREATE_LONG, after_help = SITE_CREATE_AFTER)]
    Create(site::CreateArgs),
    /// Change site settings
    #[command(long_about = SITE_UPDATE_LONG, after_help = SITE_UPDATE_AFTER)]
    Update(site::UpdateArgs),
    /// Get the site status
    #[command(long_about = SITE_STATUS_LONG, after_help = SITE_STATUS_AFTER)]
    Status(site::StatusArgs),
    /// Delete a site
    #[command(long_about = SITE_DELETE_LONG, after_help = SITE_DELETE_AFTER)]
    Delete(site::DeleteArgs),
}

/// `link ...`
#[derive(Debug, Subcommand)]
pub enum LinkCommand {
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
pub enum TokenCommand {
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
pub enum ListenerCommand {
    /// create a listener
    #[command(long_about = LISTENER_CREATE_LONG, after_help = LISTENER_CREATE_AFTER)]
    Create(service::CreateArgs),
    /// get status of listeners
    #[command(long_about = LISTENER_STATUS_LONG, after_help = LISTENER_STATUS_AFTER)]
    Status(service::StatusArgs),
    /// delete a listener
    #[command(long_about = LISTENER_DELETE_LONG, after_help = LISTENER_DELETE_AFTER)]
    Delete(service::DeleteArgs),
}

/// `connector ...`
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// create a connector
    #[command(long_about = CONNECTOR_CREATE_LONG, after_help = CONNECTOR_CREATE_AFTER)]
    Create(service::CreateArgs),
    /// get status of connectors
    #[command(long_about = CONNECTOR_STATUS_LONG, after_help = CONNECTOR_STATUS_AFTER)]
    Status(service::StatusArgs),
    /// delete a connector
    #[command(long_about = CONNECTOR_DELETE_LONG, after_help = CONNECTOR_DELETE_AFTER)]
    Delete(service::DeleteArgs),
}

/// `system ...`
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Start the site of the namespace (in the background unless --foreground)
    #[command(long_about = SYSTEM_START_LONG, after_help = SYSTEM_START_AFTER)]
    Start(system::StartArgs),
    /// Stop the running site of the namespace
    #[command(long_about = SYSTEM_STOP_LONG, after_help = SYSTEM_STOP_AFTER)]
    Stop(system::NoArgs),
    /// Show whether the site runs, its router, grant server and log
    #[command(long_about = SYSTEM_STATUS_LONG, after_help = SYSTEM_STATUS_AFTER)]
    Status(system::NoArgs),
    /// Create or update resources using files or standard input.
    #[command(long_about = SYSTEM_APPLY_LONG, after_help = SYSTEM_APPLY_AFTER)]
    Apply(system::FileArgs),
    /// Delete resources using files or standard input.
    #[command(long_about = SYSTEM_DELETE_LONG, after_help = SYSTEM_DELETE_AFTER)]
    Delete(system::FileArgs),
}

/// What every command gets: the namespace and its site directory.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Namespace.
    pub namespace: String,
    /// The namespace's site directory.
    pub home: Home,
    /// How the user invokes us (`kubectl skupper`), for hints.
    pub prog: String,
}

impl Ctx {
    /// A command line to suggest, with `-n` when the namespace is not the default.
    pub fn hint(&self, command: &str) -> String {
        if self.namespace == DEFAULT_NAMESPACE {
            format!("{} {command}", self.prog)
        } else {
            format!("{} -n {} {command}", self.prog, self.namespace)
        }
    }
}

/// The name users type: `kubectl skupper` for the plugin binary, else the binary's name.
pub fn program_name(argv0: Option<&OsString>) -> String {
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
pub fn command() -> clap::Command {
    // `mut_args`, not `mut_arg`: the latter moves the argument last, reordering positionals.
    let words = |what: &'static str, host: &'static str| {
        move |c: clap::Command| {
            c.mut_subcommand("create", |c| {
                c.mut_args(|a| match a.get_id().as_str() {
                    "name" => a.help(format!("{what} name")),
                    "port" => a.help(format!("The port of the local {}", what.to_lowercase())),
                    "host" => a.help(host),
                    _ => a,
                })
            })
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
pub fn run(args: Vec<OsString>) -> CmdResult {
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
    let platform = match cli.platform.as_deref().map(str::trim) {
        None | Some("") | Some("local") => Platform::Local,
        Some("kubernetes") => Platform::Kubernetes,
        Some(other) => {
            problems.push(format!("platform {other:?} not supported; use --platform local (the default)"));
            Platform::Local
        }
    };
    let namespace = cli.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    if let Err(e) = validate::namespace(&namespace) {
        problems.push(format!("namespace is not valid: {e}"));
    }
    problems.finish()?;
    let command = match cli.command {
        Command::Version(a) => return version::run(platform, a),
        other => other,
    };
    if platform == Platform::Kubernetes {
        return Err(fail(
            "The kubernetes platform is not available in this build yet. Use the local platform: \
             drop --platform (or unset SKUPPER_PLATFORM), or pass --platform local",
        ));
    }
    if cli.context.is_some() {
        crate::output::note("Warning: --context flag is not supported on this platform");
    }
    if cli.kubeconfig.is_some() {
        crate::output::note("Warning: --kubeconfig flag is not supported on this platform");
    }
    let ctx = Ctx { home: Home::new(&namespace)?, namespace, prog };
    match command {
        Command::Site(c) => site::run(&ctx, c),
        Command::Link(c) => link::run(&ctx, c),
        Command::Token(c) => token::run(&ctx, c),
        Command::Listener(c) => service::run_listener(&ctx, c),
        Command::Connector(c) => service::run_connector(&ctx, c),
        Command::System(c) => system::run(&ctx, c),
        Command::Network(c) => network::run(&ctx, c),
        Command::Version(a) => version::run(platform, a),
        Command::Completion(a) => complete::run(a),
        #[cfg(feature = "webhook")]
        Command::Webhook(c) => crate::webhook::run(c, Some(&ctx.namespace)).map_err(CliError::Failed),
    }
}

/// Upstream's one-name argument checks: `<what> name must not be empty` / `only one argument
/// is allowed for this command` / `<what> name is not valid: ...`. `missing` is the message
/// when no name is given (None: the name is optional).
pub fn one_name(
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

/// Checks `-o` (`output type is not valid: ...`).
pub fn check_output(output: Option<&str>, problems: &mut validate::Problems) {
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
