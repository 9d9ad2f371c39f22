//! Finding and reaching the API server the way kubectl does: `--kubeconfig`, else the
//! `KUBECONFIG` list (merged), else `~/.kube/config`, else the pod's service account; `--context`
//! or the current context; the namespace from `-n`, else the context's, else the service
//! account's, else `default`. Connections give up after 10 seconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// How long connecting to the API server may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one answer may take (the CLI never watches; long waits poll).
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the service account of a pod is mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    /// `--kubeconfig`.
    pub kubeconfig: Option<String>,
    /// `--context`.
    pub context: Option<String>,
    /// `-n`.
    pub namespace: Option<String>,
}

/// A resolved connection: the client configuration and where it points, for messages.
#[derive(Clone)]
pub(crate) struct Target {
    /// The client configuration.
    pub config: kube::Config,
    /// Context name, or `in-cluster`.
    pub context: String,
    /// The namespace commands work in.
    pub namespace: String,
}

impl Target {
    /// The API server's URL.
    pub(crate) fn server(&self) -> String {
        self.config.cluster_url.to_string().trim_end_matches('/').to_string()
    }
}

/// The kubeconfig files kubectl would read, in order: the existing files named by `KUBECONFIG`
/// when it is set and not empty, else `~/.kube/config` when it exists.
pub(crate) fn kubeconfig_files() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty() && p.is_file()).collect();
    }
    home_config().filter(|p| p.is_file()).into_iter().collect()
}

fn home_config() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".kube").join("config"))
}

/// Whether this process runs in a pod with a service account (the in-cluster configuration).
pub(crate) fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && Path::new(SERVICE_ACCOUNT_DIR).join("token").is_file()
}

/// Whether a Kubernetes configuration is at hand (for choosing the default platform).
pub(crate) fn configured(selection: &Selection) -> bool {
    selection.kubeconfig.is_some() || !kubeconfig_files().is_empty() || in_cluster()
}

/// Resolves the configuration (no request is made yet).
pub(crate) async fn resolve(selection: &Selection) -> anyhow::Result<Target> {
    let files: Vec<PathBuf> = match &selection.kubeconfig {
        Some(path) => vec![PathBuf::from(path)],
        None => kubeconfig_files(),
    };
    let (mut config, context) = if files.is_empty() {
        anyhow::ensure!(
            in_cluster(),
            "no Kubernetes configuration found: no --kubeconfig, KUBECONFIG, ~/.kube/config or service account; \
             point --kubeconfig at one, or use --platform local"
        );
        let config = kube::Config::incluster().context("reading the pod's service account configuration")?;
        (config, "in-cluster".to_string())
    } else {
        let mut merged: Option<Kubeconfig> = None;
        for f in &files {
            // kube's error already names the file and its cause: said once, not as a chain.
            let kc = Kubeconfig::read_from(f).map_err(|e| match std::fs::metadata(f) {
                Err(io) => anyhow::anyhow!("cannot read the kubeconfig {}: {io}", f.display()),
                Ok(_) => anyhow::anyhow!("the kubeconfig {} is not valid: {e}", f.display()),
            })?;
            merged = Some(match merged {
                None => kc,
                Some(m) => m.merge(kc).with_context(|| format!("merging the kubeconfig {}", f.display()))?,
            });
        }
        let kc = merged.unwrap_or_default();
        let context = selection.context.clone().or_else(|| kc.current_context.clone()).unwrap_or_default();
        if let Some(c) = &selection.context
            && !kc.contexts.iter().any(|n| &n.name == c)
        {
            anyhow::bail!("context {c:?} does not exist in {}", describe_files(&files));
        }
        let options = KubeConfigOptions { context: selection.context.clone(), ..Default::default() };
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .with_context(|| format!("the kubeconfig {} cannot be used", describe_files(&files)))?;
        (config, context)
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    let namespace =
        selection.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| config.default_namespace.clone());
    config.default_namespace = namespace.clone();
    Ok(Target { config, context, namespace })
}

fn describe_files(files: &[PathBuf]) -> String {
    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n\
        - {name: a, cluster: {server: 'https://127.0.0.1:1'}}\n\
        - {name: b, cluster: {server: 'https://127.0.0.2:2'}}\n\
        users: [{name: u, user: {token: t}}]\n\
        contexts:\n\
        - {name: ca, context: {cluster: a, user: u, namespace: west}}\n\
        - {name: cb, context: {cluster: b, user: u}}\n\
        current-context: ca\n";

    #[tokio::test]
    async fn context_and_namespace_follow_kubectl() {
        let dir = std::env::temp_dir().join(format!("ks-kubeconfig-{}", crate::platform::uuid_v4().expect("uuid")));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("config");
        std::fs::write(&file, KUBECONFIG).expect("write");
        let path = Some(file.display().to_string());
        let t = resolve(&Selection { kubeconfig: path.clone(), ..Default::default() }).await.expect("current");
        assert_eq!((t.context.as_str(), t.namespace.as_str()), ("ca", "west"));
        assert_eq!(t.server(), "https://127.0.0.1:1");
        let sel = Selection { kubeconfig: path.clone(), context: Some("cb".into()), namespace: None };
        let t = resolve(&sel).await.expect("cb");
        assert_eq!((t.namespace.as_str(), t.server()), ("default", "https://127.0.0.2:2".to_string()));
        let sel = Selection { kubeconfig: path.clone(), context: Some("ca".into()), namespace: Some("east".into()) };
        assert_eq!(resolve(&sel).await.expect("-n").namespace, "east");
        let sel = Selection { kubeconfig: path, context: Some("nope".into()), namespace: None };
        let e = resolve(&sel).await.err().expect("no such context").to_string();
        assert!(e.contains("context \"nope\" does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
