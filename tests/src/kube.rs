//! A real, throwaway Kubernetes API server per test: etcd and kube-apiserver 1.20 on 127.0.0.1
//! (`scripts/kube-test-cluster.sh`: no kubelet, no controllers), stopped by pid on drop and
//! recorded for the sweep of [`crate::procs`] (its directory is a marked `kse2e-kube-*`).
//!
//! ```no_run
//! use skupper_e2e::kube::Cluster;
//! let Some(cluster) = Cluster::start() else { return }; // a counted skip, or a failure under REQUIRE_ALL_TESTS
//! let ns = cluster.create_namespace();
//! cluster.kubectl_ok(&["get", "configmaps", "-n", &ns], "");
//! ```
//!
//! Only the namespaces `default` and `kube-*` exist, and namespaces are never finalized (no
//! controller-manager): take a fresh one per scenario with [`Cluster::create_namespace`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::{Out, command, procs, repo_root, run_command_within, skip, test_dir};

/// Longest `kube-test-cluster.sh start` may take when the apiserver is built (etcd + apiserver
/// up and ready: ~5 s on an idle 2-core machine, the script itself gives up after 60 s).
const START: Duration = Duration::from_secs(180);
/// ... and when it must first build the apiserver (plain `cargo test` on a fresh machine;
/// `scripts/test.sh` builds it in a step of its own before any test runs).
const BUILD_AND_START: Duration = Duration::from_secs(25 * 60);
/// Longest one kubectl call may take (kubectl itself gives up on a request after 30 s).
const KUBECTL: Duration = Duration::from_secs(90);

/// One etcd + kube-apiserver, stopped (apiserver first, by the pids in its directory) on drop.
pub struct Cluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    namespaces: AtomicU32,
}

/// Where `scripts/kube-apiserver-build.sh` keeps (or would keep) the apiserver binary.
pub fn apiserver_path() -> PathBuf {
    let script = repo_root().join("scripts").join("kube-apiserver-build.sh");
    let out = Command::new(script).arg("path").output().expect("running kube-apiserver-build.sh path");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

impl Cluster {
    /// Starts a cluster for the calling test (named after libtest's thread), or, when this
    /// machine cannot have one (`kube-test-cluster.sh` exit 3: not root to install etcd or build
    /// the apiserver, no package source), returns `None` after [`skip`]: a counted skip, a
    /// failure under `REQUIRE_ALL_TESTS=1`. Any other failure (a failed build, an apiserver that
    /// does not become ready) panics with the script's output.
    pub fn start() -> Option<Self> {
        let test = std::thread::current().name().unwrap_or("unnamed test").to_owned();
        let dir = test_dir("kube");
        // From here on, Drop stops whatever the script started, even if it times out.
        let cluster = Self { kubeconfig: dir.join("kubeconfig"), dir, namespaces: AtomicU32::new(0) };
        let bound = if apiserver_path().is_file() { START } else { BUILD_AND_START };
        let mut cmd = command(repo_root().join("scripts").join("kube-test-cluster.sh"));
        cmd.arg("start").arg(&cluster.dir);
        let out = run_command_within(&mut cmd, None, bound);
        match out.code {
            0 => {}
            3 => {
                drop(cluster);
                skip(&test, &format!("no test Kubernetes API server on this machine: {}", out.stderr.trim()));
                return None;
            }
            _ => panic!("{}: starting the test cluster failed:\n{out}\n{}", test, cluster.logs()),
        }
        assert!(cluster.kubeconfig.is_file(), "kube-test-cluster.sh wrote no kubeconfig:\n{out}");
        Some(cluster)
    }

    /// The cluster's kubeconfig (a static admin token in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Its directory: PKI, kubeconfig, logs, pid files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pids of its kube-apiserver and etcd, while they run.
    pub fn pids(&self) -> (Option<u32>, Option<u32>) {
        let pid = |f| procs::cluster_process(&self.dir, f).map(|id| id.pid);
        (pid("apiserver.pid"), pid("etcd.pid"))
    }

    /// `kubectl` (the one on PATH) against this cluster only, `stdin` as its input (none when
    /// empty), bounded in time; a hermetic environment otherwise ([`command`]).
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> Out {
        let mut cmd = command("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig).arg("--request-timeout=30s").args(args);
        run_command_within(&mut cmd, (!stdin.is_empty()).then_some(stdin), KUBECTL)
    }

    /// [`Cluster::kubectl`] that must succeed: panics with its output and the end of the
    /// apiserver's log.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str], stdin: &str) -> Out {
        let out = self.kubectl(args, stdin);
        assert!(out.succeeded(), "kubectl failed:\n{out}\n{}", self.logs());
        out
    }

    /// A fresh namespace (`test-1`, `test-2`, ...) for one scenario.
    #[track_caller]
    pub fn create_namespace(&self) -> String {
        let name = format!("test-{}", self.namespaces.fetch_add(1, Ordering::SeqCst) + 1);
        self.kubectl_ok(&["create", "namespace", &name], "");
        name
    }

    /// The last lines of the apiserver's and etcd's logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |f: &str| {
            let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!(
            "--- last lines of {dir}/apiserver.log ---\n{}\n--- last lines of {dir}/etcd.log ---\n{}",
            tail("apiserver.log"),
            tail("etcd.log"),
            dir = self.dir.display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The apiserver first: without etcd it hangs on SIGTERM, retrying.
        for file in ["apiserver.pid", "etcd.pid"] {
            if let Some(id) = procs::cluster_process(&self.dir, file) {
                procs::stop(id, Duration::from_secs(10));
            }
        }
        crate::release_test_dir(&self.dir);
    }
}
