//! `kubectl skupper webhook manifest`: the objects that register the Link webhook. With `--url`
//! (webhook running outside the cluster) only the ValidatingWebhookConfiguration; otherwise also
//! the settings ConfigMap, a ServiceAccount allowed to list Links (for the duplicate-peer rule),
//! the Deployment running `webhook serve` and its Service.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

/// `kubectl skupper webhook manifest`
#[derive(Debug, Clone, Args)]
pub(crate) struct ManifestArgs {
    /// Name of the webhook objects.
    #[arg(long, default_value = "skupper-link-policy")]
    pub name: String,
    /// Call the webhook at this https URL instead of an in-cluster Service.
    #[arg(long, value_name = "URL", requires = "ca_bundle")]
    pub url: Option<String>,
    /// PEM file of the CA that signed the webhook's serving certificate (becomes caBundle).
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Policy settings (YAML or JSON) to put in the ConfigMap.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Container image holding kubectl-skupper.
    #[arg(long, default_value = concat!("ghcr.io/skupper-rs/kubectl-skupper:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// Secret (type kubernetes.io/tls) with the serving certificate; default: <name>-tls.
    #[arg(long, value_name = "SECRET")]
    pub tls_secret: Option<String>,
    /// How long the API server waits for the webhook (1-30 s).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=30))]
    pub timeout_seconds: u8,
    /// What the API server does when the webhook cannot be reached.
    #[arg(long, value_enum, default_value_t = FailurePolicy::Fail)]
    pub failure_policy: FailurePolicy,
    /// Webhook replicas (keep 2 or more with failurePolicy Fail).
    #[arg(long, default_value_t = 2)]
    pub replicas: u16,
}

/// `failurePolicy` of the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailurePolicy {
    /// Reject Link changes while the webhook is unreachable (fail closed).
    Fail,
    /// Admit Link changes while the webhook is unreachable (fail open).
    Ignore,
}

impl FailurePolicy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "Fail",
            Self::Ignore => "Ignore",
        }
    }
}

/// Namespace of the webhook's objects when `--namespace` is not given.
pub(crate) const DEFAULT_NAMESPACE: &str = "skupper";

/// Prints the manifest on stdout. `namespace` is the CLI's global `--namespace`.
pub(crate) fn run(args: &ManifestArgs, namespace: Option<&str>) -> anyhow::Result<()> {
    let text = render(args, namespace.unwrap_or(DEFAULT_NAMESPACE))?;
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, text.as_bytes())?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// The manifest as a multi-document YAML stream, for objects in `namespace`.
pub(crate) fn render(args: &ManifestArgs, namespace: &str) -> anyhow::Result<String> {
    let ca_bundle = match &args.ca_bundle {
        Some(p) => Some(read_ca_bundle(p)?),
        None => None,
    };
    let docs = objects(args, namespace, ca_bundle.clone())?;
    let mut out = String::new();
    if args.url.is_none() && ca_bundle.is_none() {
        out.push_str(&format!(
            "# The API server must trust the webhook's certificate: create the Secret {ns}/{tls_secret}\n\
             # (kubernetes.io/tls, SAN {name}.{ns}.svc) and re-run with --ca-bundle <its CA>, or let\n\
             # cert-manager's CA injector fill caBundle (kubectl skupper install --with-webhook does both).\n",
            ns = namespace,
            name = args.name,
            tls_secret = tls_secret_name(args),
        ));
    }
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&d).context("cannot render YAML")?);
    }
    Ok(out)
}

/// The manifest's settings with no flags: the in-cluster webhook `skupper-link-policy`, the
/// release image, failing closed.
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))] // used by install --with-webhook
pub(crate) fn defaults() -> ManifestArgs {
    ManifestArgs {
        name: "skupper-link-policy".into(),
        url: None,
        ca_bundle: None,
        settings: None,
        image: concat!("ghcr.io/skupper-rs/kubectl-skupper:", env!("CARGO_PKG_VERSION")).into(),
        tls_secret: None,
        timeout_seconds: 5,
        failure_policy: FailurePolicy::Fail,
        replicas: 2,
    }
}

/// Name of the Secret holding the serving certificate.
pub(crate) fn tls_secret_name(args: &ManifestArgs) -> String {
    args.tls_secret.clone().unwrap_or_else(|| format!("{}-tls", args.name))
}

/// The names the API server may use for the in-cluster webhook's Service (the SANs of its
/// serving certificate; the API server calls `<name>.<namespace>.svc`).
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))] // used by install --with-webhook
pub(crate) fn service_hosts(args: &ManifestArgs, namespace: &str) -> Vec<String> {
    let n = &args.name;
    vec![
        format!("{n}.{namespace}.svc"),
        format!("{n}.{namespace}.svc.cluster.local"),
        format!("{n}.{namespace}"),
        n.clone(),
    ]
}

/// The serving certificate as a `kubernetes.io/tls` Secret (with the CA as `ca.crt`).
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))] // used by install --with-webhook
pub(crate) fn tls_secret(args: &ManifestArgs, namespace: &str, issued: &skupper_router::certs::Issued) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": { "name": tls_secret_name(args), "namespace": namespace, "labels": labels(args) },
        "data": {
            "tls.crt": b64(&issued.cert_pem),
            "tls.key": b64(&issued.key_pem),
            "ca.crt": b64(&issued.ca_pem),
        },
    })
}

/// The objects, in the order to apply them; `ca_bundle` is the base64 PEM of the CA the API
/// server trusts for the webhook.
pub(crate) fn objects(args: &ManifestArgs, namespace: &str, ca_bundle: Option<String>) -> anyhow::Result<Vec<Value>> {
    check_name(namespace, "--namespace")?;
    check_name(&args.name, "--name")?;
    let tls_secret = tls_secret_name(args);
    check_name(&tls_secret, "--tls-secret")?;
    let client_config = match &args.url {
        Some(url) => {
            check_url(url)?;
            json!({ "url": url })
        }
        None => json!({
            "service": {
                "namespace": namespace, "name": args.name,
                "path": "/validate", "port": 443,
            }
        }),
    };
    let mut client_config = client_config;
    if let (Some(ca), Some(obj)) = (&ca_bundle, client_config.as_object_mut()) {
        obj.insert("caBundle".into(), ca.clone().into());
    }

    let mut docs = Vec::new();
    if args.url.is_none() {
        let settings = super::load_settings(args.settings.as_deref())?;
        let settings: Value = serde_json::from_slice(&settings)?;
        docs.push(config_map(args, namespace, &settings)?);
        docs.extend(rbac(args, namespace));
        docs.push(deployment(args, namespace, &tls_secret));
        docs.push(service(args, namespace));
    }
    docs.push(webhook_configuration(args, client_config));
    Ok(docs)
}

fn labels(args: &ManifestArgs) -> Value {
    json!({
        "app.kubernetes.io/name": args.name,
        "app.kubernetes.io/component": "admission-webhook",
        "app.kubernetes.io/part-of": "skupper",
    })
}

fn webhook_configuration(args: &ManifestArgs, client_config: Value) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": args.name, "labels": labels(args) },
        "webhooks": [{
            "name": format!("links.{}.skupper.io", args.name),
            "admissionReviewVersions": ["v1"],
            "clientConfig": client_config,
            "rules": [{
                "apiGroups": ["skupper.io"],
                "apiVersions": ["v2alpha1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["links"],
                "scope": "Namespaced",
            }],
            "failurePolicy": args.failure_policy.as_str(),
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "timeoutSeconds": args.timeout_seconds,
        }],
    })
}

fn config_map(args: &ManifestArgs, namespace: &str, settings: &Value) -> anyhow::Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": args.name, "namespace": namespace, "labels": labels(args) },
        "data": { "settings.yaml": serde_yaml::to_string(settings)? },
    }))
}

/// A ServiceAccount that may read Links cluster-wide (`webhook serve --links-from in-cluster`).
fn rbac(args: &ManifestArgs, namespace: &str) -> [Value; 3] {
    [
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": { "name": args.name, "namespace": namespace, "labels": labels(args) },
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": { "name": args.name, "labels": labels(args) },
            "rules": [{
                "apiGroups": ["skupper.io"],
                "resources": ["links"],
                "verbs": ["get", "list", "watch"],
            }],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": { "name": args.name, "labels": labels(args) },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": args.name,
            },
            "subjects": [{ "kind": "ServiceAccount", "name": args.name, "namespace": namespace }],
        }),
    ]
}

fn deployment(args: &ManifestArgs, namespace: &str, tls_secret: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": args.name, "namespace": namespace, "labels": labels(args) },
        "spec": {
            "replicas": args.replicas,
            "selector": { "matchLabels": { "app.kubernetes.io/name": args.name } },
            "template": {
                "metadata": { "labels": labels(args) },
                "spec": {
                    "serviceAccountName": args.name,
                    "containers": [{
                        "name": "webhook",
                        "image": args.image,
                        // The image's entrypoint (scripts/image.sh).
                        "command": ["/kubectl-skupper"],
                        "args": [
                            "webhook", "serve",
                            "--listen", "0.0.0.0:8443",
                            "--tls-cert", "/etc/webhook/tls/tls.crt",
                            "--tls-key", "/etc/webhook/tls/tls.key",
                            "--settings", "/etc/webhook/settings/settings.yaml",
                            "--links-from", "in-cluster",
                        ],
                        "ports": [{ "name": "https", "containerPort": 8443, "protocol": "TCP" }],
                        "readinessProbe": {
                            "httpGet": { "path": "/healthz", "port": "https", "scheme": "HTTPS" },
                        },
                        "resources": {
                            "requests": { "cpu": "50m", "memory": "64Mi" },
                            "limits": { "memory": "256Mi" },
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true,
                            "runAsUser": 65532,
                            "runAsGroup": 65532,
                            "capabilities": { "drop": ["ALL"] },
                            "seccompProfile": { "type": "RuntimeDefault" },
                        },
                        "volumeMounts": [
                            { "name": "tls", "mountPath": "/etc/webhook/tls", "readOnly": true },
                            { "name": "settings", "mountPath": "/etc/webhook/settings", "readOnly": true },
                        ],
                    }],
                    "volumes": [
                        { "name": "tls", "secret": { "secretName": tls_secret } },
                        { "name": "settings", "configMap": { "name": args.name } },
                    ],
                },
            },
        },
    })
}

fn service(args: &ManifestArgs, namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": args.name, "namespace": namespace, "labels": labels(args) },
        "spec": {
            "selector": { "app.kubernetes.io/name": args.name },
            // `protocol` is a key of the list: server-side apply (install --with-webhook) needs it.
            "ports": [{ "name": "https", "port": 443, "targetPort": "https", "protocol": "TCP" }],
        },
    })
}

/// RFC 1123 label: what namespaces, Services and our object names must be.
fn check_name(name: &str, flag: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "{flag} {name:?} is not a valid name: use at most 63 lower case letters, digits and \
             '-', starting and ending with a letter or digit"
        );
    }
    Ok(())
}

/// Kubernetes requires `https`, no user info, query or fragment in `clientConfig.url`.
fn check_url(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url.strip_prefix("https://") else {
        bail!("--url {url:?} must start with https:// (the API server calls webhooks over TLS)");
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains('@') || url.contains(['?', '#']) || url.contains(' ') {
        bail!("--url {url:?} must be https://HOST[:PORT]/PATH without user, query or fragment");
    }
    Ok(())
}

fn read_ca_bundle(path: &std::path::Path) -> anyhow::Result<String> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read the CA bundle {}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        bail!(
            "{} holds no PEM certificate; give the CA certificate that signed the webhook's \
             serving certificate",
            path.display()
        );
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(&pem))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ManifestArgs,
    }

    fn docs(argv: &[&str]) -> Vec<serde_yaml::Value> {
        let ns = argv.iter().position(|a| *a == "--namespace").map(|i| argv[i + 1]).unwrap_or(DEFAULT_NAMESPACE);
        let argv: Vec<&str> = argv.iter().copied().filter(|a| *a != "--namespace" && *a != ns).collect();
        let cli = Cli::try_parse_from(std::iter::once("m").chain(argv.iter().copied())).unwrap();
        let out = render(&cli.args, ns).unwrap();
        out.split("---\n").skip(1).map(|d| serde_yaml::from_str(d).unwrap()).collect()
    }

    #[test]
    fn in_cluster_manifest_has_all_objects_and_webhook_contract() {
        let d = docs(&["--namespace", "policy"]);
        let kinds: Vec<_> = d.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ConfigMap",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Deployment",
                "Service",
                "ValidatingWebhookConfiguration"
            ]
        );
        let w = &d[6]["webhooks"][0];
        assert_eq!(w["failurePolicy"], "Fail");
        assert_eq!(w["sideEffects"], "None");
        assert_eq!(w["timeoutSeconds"], 5);
        assert_eq!(w["admissionReviewVersions"][0], "v1");
        assert_eq!(w["rules"][0]["resources"][0], "links");
        assert_eq!(w["rules"][0]["apiGroups"][0], "skupper.io");
        assert_eq!(w["rules"][0]["apiVersions"][0], "v2alpha1");
        let ops: Vec<_> =
            w["rules"][0]["operations"].as_sequence().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
        assert_eq!(ops, ["CREATE", "UPDATE"]);
        assert_eq!(w["clientConfig"]["service"]["namespace"], "policy");
        assert_eq!(w["clientConfig"]["service"]["path"], "/validate");
        assert!(w["clientConfig"].get("caBundle").is_none());
    }

    #[test]
    fn url_mode_prints_only_the_configuration_with_ca_bundle() {
        let dir = std::env::temp_dir().join(format!("wh-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let d = docs(&[
            "--url",
            "https://127.0.0.1:9443/validate",
            "--ca-bundle",
            ca.to_str().unwrap(),
            "--failure-policy",
            "ignore",
        ]);
        assert_eq!(d.len(), 1);
        let cc = &d[0]["webhooks"][0]["clientConfig"];
        assert_eq!(cc["url"], "https://127.0.0.1:9443/validate");
        let b64 = cc["caBundle"].as_str().unwrap();
        let pem = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert!(String::from_utf8(pem).unwrap().contains("BEGIN CERTIFICATE"));
        assert_eq!(d[0]["webhooks"][0]["failurePolicy"], "Ignore");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_url_and_names_are_refused_with_advice() {
        for url in ["http://x/validate", "https://u@x/v", "https://x/v?q=1"] {
            let e = check_url(url).unwrap_err().to_string();
            assert!(e.contains("--url"), "{e}");
        }
        let e = check_name("Bad_Name", "--namespace").unwrap_err().to_string();
        assert!(e.contains("lower case"), "{e}");
        let cli = Cli::try_parse_from(["m", "--url", "https://x/v"]);
        assert!(cli.is_err(), "--url without --ca-bundle must be refused");
    }
}
