//! `kubectl skupper webhook`: the validating admission webhook for Links. The Link rules run
//! inside a Wasm policy module (built from `skupper_core::admission`, embedded in this binary,
//! replaceable with `--policy`), under wasmtime with per-request isolation, in the HTTPS host of
//! the `skupper-webhook-host` crate; this module owns its commands, the manifests that register
//! it, the cluster's Links it watches, and its benchmark.
//!
//! # Layout
//! - [`links`]: the cluster's Links, watched for the duplicate-peer rule (`--links-from`).
//! - [`manifest`]: ValidatingWebhookConfiguration, Service, Deployment.
//! - [`bench`]: latency and throughput under load; wasm vs native cost (hidden `bench`).

pub(crate) mod bench;
pub(crate) mod links;
pub(crate) mod manifest;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use skupper_webhook_host::runtime::{self, Limits, Origin, PolicyRuntime};
use skupper_webhook_host::{BUILT_IN_POLICY, server};

/// `kubectl skupper webhook ...`
#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCommand {
    /// Serve the Link admission webhook over HTTPS (AdmissionReview v1 on POST /validate).
    Serve(ServeArgs),
    /// Print the ValidatingWebhookConfiguration (and, in-cluster, the Service, Deployment and
    /// settings ConfigMap) that register the webhook.
    Manifest(manifest::ManifestArgs),
    /// Measure the webhook: latency and throughput under load, wasm vs native cost.
    #[command(hide = true)]
    Bench(bench::BenchArgs),
}

/// `kubectl skupper webhook serve`
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Policy module (WASI preview 1, see wasm/policy/README.md); default: the built-in one.
    #[arg(long, value_name = "FILE.wasm")]
    pub policy: Option<PathBuf>,
    /// Policy settings, YAML or JSON (allowedHosts, minCost, maxCost, requireProxy,
    /// forbidDuplicatePeers); default: none, only the built-in Link rules apply.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// PEM certificate chain the webhook serves (its SAN must match the URL the API server uses).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Time budget of one policy evaluation; past it the request is denied.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub policy_timeout: Duration,
    /// Memory cap of one policy instance, in MiB; past it the request is denied.
    #[arg(long, default_value_t = 64, value_name = "MIB",
          value_parser = clap::value_parser!(u32).range(2..=4096))]
    pub memory_limit: u32,
    /// Largest AdmissionReview accepted, in bytes (larger: HTTP 413).
    #[arg(long, default_value_t = server::DEFAULT_MAX_BODY_BYTES, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Watch the cluster's Links for the duplicate-peer rule (forbidDuplicatePeers), with
    /// `in-cluster` (service account) or a kubeconfig file; default: no Links known.
    #[arg(long, value_name = "in-cluster|KUBECONFIG")]
    pub links_from: Option<links::Source>,
    /// No effect (the Links are watched, not listed at an interval); kept for old command lines.
    #[arg(long, hide = true, value_parser = parse_duration, value_name = "DURATION")]
    pub links_refresh: Option<Duration>,
    /// Policy evaluations that may run at once (more wait for a slot).
    #[arg(long, default_value_t = 32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = skupper_core::duration::GoDuration::parse(s).map_err(|e| e.to_string())?;
    let nanos = u64::try_from(d.as_nanos())
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s}: give a positive duration such as 500ms or 2s"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Runs a `webhook` subcommand on its own tokio runtime (the CLI is synchronous).
/// `namespace` is the CLI's global `--namespace` (used by `manifest`).
pub(crate) fn run(cmd: WebhookCommand, namespace: Option<&str>) -> anyhow::Result<()> {
    if let WebhookCommand::Manifest(args) = &cmd {
        return manifest::run(args, namespace);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_async(cmd, namespace))
}

/// [`run`] for callers that already are in a tokio runtime.
pub(crate) async fn run_async(cmd: WebhookCommand, namespace: Option<&str>) -> anyhow::Result<()> {
    match cmd {
        WebhookCommand::Serve(args) => serve(args).await,
        WebhookCommand::Manifest(args) => manifest::run(&args, namespace),
        WebhookCommand::Bench(args) => bench::run(args).await,
    }
}

/// Reads `--settings` (YAML or JSON) into the JSON the policy module takes.
pub(crate) fn load_settings(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let Some(path) = path else {
        return Ok(b"{}".to_vec());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the policy settings {}", path.display()))?;
    // YAML is a superset of JSON: one parser for both.
    let value: serde_json::Value = serde_yaml::from_str(&text)
        .with_context(|| format!("the policy settings {} are not valid YAML or JSON", path.display()))?;
    let value = match value {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        v @ serde_json::Value::Object(_) => v,
        _ => anyhow::bail!("the policy settings {} must be a mapping, e.g. `maxCost: 10`", path.display()),
    };
    Ok(serde_json::to_vec(&value)?)
}

/// Loads and checks the policy module and its settings: the work `serve` does before it listens.
pub(crate) fn load_runtime(
    policy: Option<&Path>,
    settings: Option<&Path>,
    limits: Limits,
) -> anyhow::Result<PolicyRuntime> {
    let settings_json = load_settings(settings)?;
    let (wasm, origin) = match policy {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("cannot read the policy module {}", p.display()))?,
            Origin::File(p.to_path_buf()),
        ),
        None => (BUILT_IN_POLICY.to_vec(), Origin::BuiltIn),
    };
    let rt = PolicyRuntime::load(&wasm, origin, settings_json, limits)?;
    runtime::check_abi_version(&rt)?;
    match rt.validate_settings() {
        Ok(Ok(())) => Ok(rt),
        Ok(Err(why)) => anyhow::bail!(
            "invalid policy settings{}: {why}",
            settings.map(|p| format!(" in {}", p.display())).unwrap_or_default()
        ),
        Err(f) => anyhow::bail!("{} cannot check its settings: {f}", rt.origin()),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let limits = Limits {
        timeout: args.policy_timeout,
        memory_bytes: (args.memory_limit as usize) << 20,
        concurrency: args.concurrency,
        ..Limits::default()
    };
    let rt = Arc::new(load_runtime(args.policy.as_deref(), args.settings.as_deref(), limits)?);
    let state = server::State::new(rt.clone(), args.max_body_bytes);
    let state = match &args.links_from {
        None => state,
        Some(source) => with_links(state, source, rt.settings().to_vec()).await?,
    };
    let tls = server::tls_config(&args.tls_cert, &args.tls_key)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}; pick another --listen address", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on https://{addr}/validate");
    tracing::info!(
        target: "webhook",
        "{} (timeout {} ms, memory {} MiB, {} concurrent evaluations)",
        rt.origin(),
        args.policy_timeout.as_millis(),
        args.memory_limit,
        args.concurrency
    );
    server::serve(listener, tls, Arc::new(state), shutdown_signal()).await
}

/// `--links-from`: the webhook watches the cluster's Links (before it listens, so that RBAC or
/// connection problems show at start-up and the first review already knows every Link).
#[cfg(feature = "kubernetes")]
async fn with_links(state: server::State, source: &links::Source, base: Vec<u8>) -> anyhow::Result<server::State> {
    let known = links::KnownLinks::start(source, base).await?;
    Ok(state.with_links(known))
}

#[cfg(not(feature = "kubernetes"))]
async fn with_links(_: server::State, _: &links::Source, _: Vec<u8>) -> anyhow::Result<server::State> {
    anyhow::bail!(
        "--links-from needs the Kubernetes client, and this kubectl-skupper was built without it (cargo feature \
         `kubernetes`): use a build with the feature, or drop --links-from (the duplicate-peer rule then knows \
         only the settings' knownLinks)"
    )
}

/// Completes on SIGINT or SIGTERM (what Kubernetes sends before it kills the pod).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
