//! Shared by the Kubernetes end-to-end tests: a real API server with the Skupper CRDs installed,
//! and sites = namespaces, each run by a controller process of our binary on its own loopback
//! address (started and stopped by pid), driven by our CLI and by kubectl.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use skupper_e2e::kube::Cluster;
use skupper_e2e::{Daemon, Env, Out, binary, wait_for};

/// Bound for a controller to start, a site to get ready, a link to come up.
pub(crate) const SETTLE: Duration = Duration::from_secs(60);

/// A cluster with the Skupper CRDs and ClusterRoles installed.
pub(crate) struct Kube {
    /// The cluster.
    pub cluster: Cluster,
    /// A world for commands that belong to no site.
    pub env: Env,
}

/// One site: a namespace, its controller, a world of its own (work directory, loopback address).
pub(crate) struct KSite {
    /// Namespace (and site name).
    pub ns: String,
    /// Its world: `ip` is where the controller listens.
    pub env: Env,
    /// The controller, while it runs.
    pub controller: Option<Daemon>,
    kubeconfig: PathBuf,
    log: PathBuf,
}

impl Kube {
    /// A cluster with `kubectl skupper install` done; `None` when no cluster can run here (a
    /// counted skip, a failure under REQUIRE_ALL_TESTS).
    pub(crate) fn start() -> Option<Self> {
        let cluster = Cluster::start()?;
        let env = Env::new("kube");
        let k = Self { cluster, env };
        k.ks(&k.env, &["install"]).ok();
        Some(k)
    }

    /// Our binary against the cluster, in `env`.
    pub(crate) fn ks(&self, env: &Env, args: &[&str]) -> Out {
        env.run_full(args, None, &[("KUBECONFIG", self.cluster.kubeconfig().to_str().expect("utf-8 path"))])
    }

    /// `kubectl get <what> -n ns -o json`.
    pub(crate) fn get(&self, ns: &str, what: &str) -> Value {
        let out = self.cluster.kubectl_ok(&["get", what, "-n", ns, "-o", "json"], "");
        serde_json::from_str(&out.stdout).expect("kubectl json")
    }

    /// A fresh namespace with a controller running it (not yet a Site).
    pub(crate) fn namespace(&self, tag: &str) -> KSite {
        let ns = self.cluster.create_namespace();
        let env = Env::new(tag);
        let log = env.dir.join(format!("controller-{ns}.log"));
        let mut s = KSite { ns, env, controller: None, kubeconfig: self.cluster.kubeconfig().to_path_buf(), log };
        s.start_controller();
        s
    }

    /// A namespace with a controller and a Site named after the namespace (with link access
    /// when `link_access`), ready.
    pub(crate) fn site(&self, tag: &str, link_access: bool) -> KSite {
        let s = self.namespace(tag);
        let mut args = vec!["site", "create", s.ns.as_str()];
        if link_access {
            args.push("--enable-link-access");
        }
        let out = s.ks(&args).ok();
        assert_eq!(out.stdout, format!("Site \"{}\" is ready.\n", s.ns), "{out}");
        s
    }
}

impl KSite {
    /// Our binary in this site's namespace.
    pub(crate) fn ks(&self, args: &[&str]) -> Out {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        self.env.run_full(&all, None, &[("KUBECONFIG", self.kubeconfig.to_str().expect("utf-8 path"))])
    }

    /// Starts (again) the controller of the namespace on this site's address and waits until it
    /// holds the namespace's Lease.
    pub(crate) fn start_controller(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("controller log");
        let mut cmd = self.env.command(binary());
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .args(["-n", &self.ns, "controller", "--bind-host", &self.env.ip])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.controller = Some(Daemon::spawn(&mut cmd, &format!("controller of {}", self.ns)));
        wait_for(&format!("the controller of {} to take its Lease", self.ns), SETTLE, || {
            let text = self.log();
            if text.contains(&format!("runs namespace {}", self.ns)) { Ok(()) } else { Err(text) }
        });
    }

    /// Stops the controller (SIGTERM, by pid).
    pub(crate) fn stop_controller(&mut self) {
        if let Some(mut d) = self.controller.take() {
            d.stop();
        }
    }

    /// The controller's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A file in this site's work directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.env.work.join(name)
    }

    /// Issues a token (extra `args` for `token issue`) into this site's work directory; its path.
    pub(crate) fn issue(&self, file: &str, args: &[&str]) -> PathBuf {
        let path = self.file(file);
        let mut all = vec!["token", "issue", path.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        self.ks(&all).ok();
        path
    }
}

/// `status.status` and `status.message` of an object.
pub(crate) fn status_of(v: &Value) -> (String, String) {
    let s = |k: &str| v.pointer(&format!("/status/{k}")).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("status"), s("message"))
}

/// Waits until `kind/name` in `ns` has `status: Ready`; returns it.
pub(crate) fn wait_ready(k: &Kube, site: &KSite, kind: &str, name: &str) -> Value {
    wait_for(&format!("{kind} {name} in {} to be Ready", site.ns), SETTLE, || {
        let v = k.get(&site.ns, &format!("{kind}/{name}"));
        if status_of(&v).0 == "Ready" { Ok(v) } else { Err(format!("{:?}\n{}", status_of(&v), site.log())) }
    })
}
