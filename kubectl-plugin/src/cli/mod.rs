//! The command line: clap definitions mirroring upstream Skupper v2's `skupper` commands, and
//! dispatch to one module per command group. Every command validates all of its input first
//! (problems → exit 2, printed as upstream does, one per line on stdout), then runs (failure →
//! exit 1 with what to do next).

mod link;
mod service;
mod site;
mod system;
mod token;
pub mod validate;

use std::ffi::OsString;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

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
    long_about = "Skupper: connect application components across sites with expiring tokens, \
                  static links and cost-based routing.\n\nThis build runs sites as local processes \
                  (platform \"local\"); Kubernetes support comes in a later release.",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Set the platform type to use [local, kubernetes] (env SKUPPER_PLATFORM; default local)
    #[arg(long, global = true, env = "SKUPPER_PLATFORM", hide_env = true, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Set the namespace
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Set the kubeconfig context (kubernetes platform only)
    #[arg(long, global = true, hide = true)]
    pub context: Option<String>,
    /// Path to the kubeconfig file to use (kubernetes platform only)
    #[arg(long, global = true, hide = true)]
    pub kubeconfig: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A site is where skupper is deployed and components of your application are running.
    #[command(subcommand)]
    Site(SiteCommand),
    /// A site-to-site communication channel.
    #[command(subcommand)]
    Link(LinkCommand),
    /// Security mechanism for creating connections between Skupper sites.
    #[command(subcommand)]
    Token(TokenCommand),
    /// A binding to a local port: clients connect to it and reach connectors with the same routing key.
    #[command(subcommand)]
    Listener(ListenerCommand),
    /// A binding to a target server: connections for its routing key are forwarded to it.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Run a local site: start, stop, status, and declarative apply/delete of resources.
    #[command(subcommand)]
    System(SystemCommand),
    /// Display versioning information.
    Version,
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
    ///
    /// A site is a place where components of your application are running.
    /// Sites are linked to form application networks.
    /// There can be only one site definition per namespace.
    Create(site::CreateArgs),
    /// Change site settings
    Update(site::UpdateArgs),
    /// Get the site status
    Status(site::StatusArgs),
    /// Delete a site
    Delete(site::DeleteArgs),
}

/// `link ...`
#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Generate a new link resource as a YAML output, unless explicitly specified otherwise using the `--output` flag.
    Generate(link::GenerateArgs),
    /// Display the link status
    Status(link::StatusArgs),
    /// Change link settings
    Update(link::UpdateArgs),
    /// Delete a link
    Delete(link::DeleteArgs),
}

/// `token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// issue a token
    ///
    /// Issue a token file redeemable for a link to the current site.
    Issue(token::IssueArgs),
    /// redeem a token
    ///
    /// Redeem a token file in order to create a link to a remote site.
    Redeem(token::RedeemArgs),
}

/// `listener ...`
#[derive(Debug, Subcommand)]
pub enum ListenerCommand {
    /// Create a listener
    Create(service::CreateArgs),
    /// Display the listener status
    Status(service::StatusArgs),
    /// Delete a listener
    Delete(service::DeleteArgs),
}

/// `connector ...`
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Create a connector
    Create(service::CreateArgs),
    /// Display the connector status
    Status(service::StatusArgs),
    /// Delete a connector
    Delete(service::DeleteArgs),
}

/// `system ...`
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Start the site of the namespace (in the background unless --foreground)
    Start(system::StartArgs),
    /// Stop the running site of the namespace
    Stop(system::NoArgs),
    /// Show whether the site runs, its router, grant server and log
    Status(system::NoArgs),
    /// Create or update resources using files or standard input.
    Apply(system::FileArgs),
    /// Delete resources using files or standard input.
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

/// Parses `args` (clap errors, `--help` and `--version` exit directly) and runs the command.
pub fn run(args: Vec<OsString>) -> CmdResult {
    let prog = program_name(args.first());
    let matches = Cli::command().bin_name(prog.clone()).get_matches_from(args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
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
    match cli.command {
        Command::Site(c) => site::run(&ctx, c),
        Command::Link(c) => link::run(&ctx, c),
        Command::Token(c) => token::run(&ctx, c),
        Command::Listener(c) => service::run_listener(&ctx, c),
        Command::Connector(c) => service::run_connector(&ctx, c),
        Command::System(c) => system::run(&ctx, c),
        Command::Version => {
            crate::output::line(format!("client version                 {}", env!("CARGO_PKG_VERSION")))?;
            Ok(())
        }
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
        Cli::command().debug_assert();
    }

    #[test]
    fn plugin_name() {
        assert_eq!(program_name(Some(&OsString::from("/usr/bin/kubectl-skupper"))), "kubectl skupper");
        assert_eq!(program_name(None), "kubectl skupper");
        assert_eq!(program_name(Some(&OsString::from("skupper"))), "skupper");
    }
}
