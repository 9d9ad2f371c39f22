//! `install` and `uninstall`: the cluster-wide part of the Kubernetes platform (CRDs and
//! ClusterRoles), applied once per cluster by someone allowed to.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Args;

use super::validate::Problems;
use super::{CmdResult, check_output, fail};
use crate::output::{self, Progress};
use crate::platform::kube::install as objects;
use crate::platform::kube::{KubeNamespace, cr::GROUP};
use crate::platform::{Namespace, Platform};

/// Long help of `install`.
pub(super) const INSTALL_LONG: &str = "\
Install what the Kubernetes platform needs once per cluster: the seven skupper.io/v2alpha1 \
CustomResourceDefinitions (Site, Link, AccessGrant, AccessToken, Listener, Connector, \
RouterAccess) and two ClusterRoles: skupper-controller (what a controller needs in the namespace \
it runs) and skupper-edit (the Skupper resources for people; aggregated into the built-in edit \
and admin roles).

Objects are applied with server-side apply (field manager kubectl-skupper), so installing again \
changes nothing; the command waits until the CRDs are Established. It needs permission to create \
CRDs and ClusterRoles (cluster-admin).";

/// Examples of `install`.
pub(super) const INSTALL_AFTER: &str = "\
Examples:
  kubectl skupper install
  kubectl skupper install --dry-run -o yaml > skupper-install.yaml   # review, or apply with kubectl
  kubectl skupper --context prod install";

/// Long help of `uninstall`.
pub(super) const UNINSTALL_LONG: &str = "\
Remove what `kubectl skupper install` created: the Skupper CRDs and ClusterRoles. Deleting the CRDs \
deletes every Skupper resource (sites, links, grants, tokens, listeners, connectors) in every \
namespace of the cluster, so the command asks first unless --yes is given.";

/// Examples of `uninstall`.
pub(super) const UNINSTALL_AFTER: &str = "\
Examples:
  kubectl skupper uninstall
  kubectl skupper uninstall --yes";

/// `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// Change nothing: with -o print the objects, otherwise ask the API server what would change
    #[arg(long)]
    dry_run: bool,
    /// print the objects (with --dry-run) Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
}

/// `uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    yes: bool,
}

fn kube(ns: &dyn Namespace) -> Result<&KubeNamespace, super::CliError> {
    match ns.platform() {
        Platform::Kubernetes => {}
        Platform::Local => {
            return Err(fail(
                "install sets up a Kubernetes cluster; the local platform needs no installation (use --platform \
                 kubernetes with a kubeconfig)",
            ));
        }
    }
    ns.as_kube().ok_or_else(|| fail("the kubernetes platform is not available"))
}

pub(super) fn install(ns: &dyn Namespace, a: InstallArgs) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("this command does not need any arguments");
    }
    check_output(a.output.as_deref(), &mut problems);
    if a.output.is_some() && !a.dry_run {
        problems.push("--output prints the objects instead of installing them: add --dry-run");
    }
    problems.finish()?;
    if let Some(format) = &a.output {
        // Needs no cluster: the objects as `kubectl apply -f` takes them.
        let docs: Vec<String> =
            objects::objects().iter().map(|o| output::encode(format, o)).collect::<Result<_, _>>()?;
        let text = if format == "yaml" { docs.join("---\n") } else { docs.join("\n") + "\n" };
        output::raw(text)?;
        return Ok(());
    }
    let k = kube(ns)?;
    let suffix = if a.dry_run { " (server dry run)" } else { "" };
    k.block_on(objects::install(k.client(), k.target(), a.dry_run, |name, outcome| {
        let _ = output::line(format!("{name} {}{suffix}", outcome.word()));
    }))?;
    if !a.dry_run {
        let progress = Progress::start("Waiting for the CRDs to be established...");
        let established = k.block_on(objects::wait_established(k.client(), k.target()));
        progress.finish();
        established?;
        output::line(format!(
            "Skupper is installed in the cluster of context {}. Sites are created with: kubectl skupper site create",
            k.target().context
        ))?;
    }
    Ok(())
}

pub(super) fn uninstall(ns: &dyn Namespace, a: UninstallArgs) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("this command does not need any arguments");
    }
    problems.finish()?;
    let k = kube(ns)?;
    if !a.yes {
        let question = format!(
            "This deletes the {GROUP} CRDs of the cluster at {} (context {}) and with them every Skupper resource in \
             every namespace. Continue? [y/N] ",
            k.target().server(),
            k.target().context
        );
        if !std::io::stdin().is_terminal() {
            return Err(fail(format!("{question}\nNot a terminal: give --yes to confirm.")));
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question}");
        let _ = err.flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            output::line("Nothing was deleted.")?;
            return Ok(());
        }
    }
    k.block_on(objects::uninstall(k.client(), k.target(), |name, existed| {
        let word = if existed { "deleted" } else { "not found" };
        let _ = output::line(format!("{name} {word}"));
    }))?;
    Ok(())
}
