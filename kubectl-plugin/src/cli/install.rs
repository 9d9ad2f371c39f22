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
CRDs and ClusterRoles (cluster-admin).

With --with-webhook it also deploys the admission webhook for Links (kubectl skupper webhook serve, \
in namespace skupper) and registers it: its serving certificate is issued by a CA made for it \
(kept in the Secret skupper-link-policy-tls; a second install reuses it), and it fails closed: \
while no webhook pod is ready, Link changes are refused.";

/// Examples of `install`.
pub(super) const INSTALL_AFTER: &str = "\
Examples:
  kubectl skupper install
  kubectl skupper install --dry-run -o yaml > skupper-install.yaml   # review, or apply with kubectl
  kubectl skupper --context prod install
  kubectl skupper install --with-webhook --webhook-settings link-policy.yaml";

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
pub(crate) struct InstallArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// Change nothing: with -o print the objects, otherwise ask the API server what would change
    #[arg(long)]
    dry_run: bool,
    /// print the objects (with --dry-run) Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
    /// Also deploy and register the admission webhook for Links (fails closed)
    #[arg(long)]
    with_webhook: bool,
    /// Policy settings of the webhook, YAML or JSON (allowedHosts, minCost, maxCost, ...)
    #[arg(long, value_name = "FILE", requires = "with_webhook")]
    webhook_settings: Option<std::path::PathBuf>,
    /// The webhook's image
    #[arg(long, value_name = "IMAGE", requires = "with_webhook")]
    webhook_image: Option<String>,
}

/// The webhook's manifest settings from the flags.
#[cfg(feature = "webhook")]
fn webhook_args(a: &InstallArgs) -> crate::webhook::manifest::ManifestArgs {
    let mut m = crate::webhook::manifest::defaults();
    m.settings = a.webhook_settings.clone();
    if let Some(i) = &a.webhook_image {
        m.image = i.clone();
    }
    m
}

/// `uninstall`.
#[derive(Debug, Args)]
pub(crate) struct UninstallArgs {
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
    if a.with_webhook && !cfg!(feature = "webhook") {
        problems.push(
            "--with-webhook: this kubectl-skupper was built without the webhook (cargo feature `webhook`); use a \
             build with it",
        );
    }
    // Settings the policy refuses would stop every webhook pod, and with it (failing closed)
    // every Link change: they are checked by the policy module before anything is applied.
    #[cfg(feature = "webhook")]
    if let Some(settings) = &a.webhook_settings
        && let Err(e) = crate::webhook::load_runtime(None, Some(settings), Default::default())
    {
        problems.push(format!("{e:#}"));
    }
    problems.finish()?;
    if let Some(format) = &a.output {
        // Needs no cluster: the objects as `kubectl apply -f` takes them.
        #[allow(unused_mut)]
        let mut all = objects::objects();
        #[cfg(feature = "webhook")]
        if a.with_webhook {
            let m = webhook_args(&a);
            all.extend(objects::webhook::objects(&m, &objects::webhook::new_tls(&m)?)?);
        }
        let docs: Vec<String> = all.iter().map(|o| output::encode(format, o)).collect::<Result<_, _>>()?;
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
    }
    #[cfg(feature = "webhook")]
    if a.with_webhook {
        let m = webhook_args(&a);
        k.block_on(objects::webhook::install(k.client(), k.target(), &m, a.dry_run, |name, outcome| {
            let word = outcome.map_or("skipped: its namespace does not exist yet", objects::Outcome::word);
            let _ = output::line(format!("{name} {word}{suffix}"));
        }))?;
        if !a.dry_run {
            output::line(format!(
                "The Link admission webhook is registered and fails closed: Link changes are refused until its pods \
                 in namespace {} are ready (kubectl -n {} get deployment {}).",
                objects::webhook::NAMESPACE,
                objects::webhook::NAMESPACE,
                m.name
            ))?;
        }
    }
    if !a.dry_run {
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
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| fail(format!("cannot read the answer from standard input: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            output::line("Nothing was deleted.")?;
            return Ok(());
        }
    }
    // The webhook's registration first: it must not refuse Links while they go.
    #[cfg(feature = "webhook")]
    k.block_on(objects::webhook::uninstall(k.client(), k.target(), |name| {
        let _ = output::line(format!("{name} deleted"));
    }))?;
    k.block_on(objects::uninstall(k.client(), k.target(), |name, existed| {
        let word = if existed { "deleted" } else { "not found" };
        let _ = output::line(format!("{name} {word}"));
    }))?;
    Ok(())
}
