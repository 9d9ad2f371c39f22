//! The manifest and webhook tests' view of the shared test cluster
//! ([`skupper_e2e::kube::Cluster`]: a real kube-apiserver 1.20 + etcd on 127.0.0.1, stopped by
//! pid, counted skips): `kubectl` and `kubectl-skupper` against it only (never the user's
//! kubeconfig), bounded in time, and scratch directories from the harness.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

/// Longest one `kubectl-skupper` call may take here.
const CALL: Duration = Duration::from_secs(90);

pub(crate) use skupper_e2e::TempDir;

/// The cluster (stopped on drop) and its kubeconfig.
pub(crate) struct Cluster {
    inner: skupper_e2e::kube::Cluster,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    /// Starts the cluster; `None` after a counted skip when this machine cannot have one.
    pub(crate) fn start() -> Option<Self> {
        let inner = skupper_e2e::kube::Cluster::start()?;
        let kubeconfig = inner.kubeconfig().to_path_buf();
        Some(Self { inner, kubeconfig })
    }

    /// `kubectl` against this cluster with `stdin`.
    pub(crate) fn kubectl(&self, args: &[&str], stdin: &str) -> Out {
        self.inner.kubectl(args, stdin).into()
    }

    /// `kubectl-skupper --platform kubernetes --kubeconfig <this cluster's>` with `stdin`.
    pub(crate) fn skupper(&self, args: &[&str], stdin: &str) -> Out {
        let mut cmd = skupper_e2e::command(skupper_e2e::binary());
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .arg("--platform")
            .arg("kubernetes")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args);
        skupper_e2e::run_command_within(&mut cmd, (!stdin.is_empty()).then_some(stdin), CALL).into()
    }
}

/// How a command ended.
#[derive(Debug)]
pub(crate) struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<skupper_e2e::Out> for Out {
    fn from(o: skupper_e2e::Out) -> Self {
        Self { ok: o.succeeded(), stdout: o.stdout, stderr: o.stderr }
    }
}

/// A Link in `ns` to `host` (both roles) with `cost`.
pub(crate) fn link_yaml(name: &str, ns: &str, cost: i64, host: &str) -> String {
    format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         spec:\n  cost: {cost}\n  tlsCredentials: {name}\n  endpoints:\n\
         \x20 - {{group: skupper-router, name: inter-router, host: {host}, port: \"55671\"}}\n\
         \x20 - {{group: skupper-router, name: edge, host: {host}, port: \"45671\"}}\n"
    )
}
