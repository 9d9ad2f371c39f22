//! The README's walkthrough for two real clusters, run line by line as written (bash, `kubectl`
//! finding `kubectl-skupper` on PATH as a plugin, contexts `west` and `east` of one kubeconfig)
//! against two REAL kube-apiservers 1.20, while this test plays what those clusters lack: the
//! kubelet (the controller Deployment's pod run from the image under chroot, as
//! `incluster_support` does; a Running, Ready pod with an echo server for any other
//! Deployment), the controller-manager (Deployment `Available`) and the cloud (a load
//! balancer's address). Afterwards bytes go from east's listener to west's backend pod.
//!
//! Root only (chroot, mount namespaces), with umoci: otherwise a counted skip with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod incluster_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use incluster_support::{Pod, deployment_available, image_rootfs, is_root, load_balancer, pod_running, run_pod};
use serde_json::Value;
use skupper_e2e::kube::Cluster;
use skupper_e2e::{Daemon, Env, binary, echo_once, echo_server_at, repo_root, skip, wait_for};

const TEST: &str = "readme_cluster::the_two_cluster_walkthrough_of_the_readme_works_as_written";
const NS: &str = "hello";

/// The lines between `<!-- walkthrough -->` and `<!-- /walkthrough -->` that are commands.
fn walkthrough() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme.find("<!-- walkthrough -->").expect("README has a walkthrough");
    let end = readme.find("<!-- /walkthrough -->").expect("README's walkthrough ends");
    readme[start..end]
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with("```"))
        .map(String::from)
        .collect()
}

/// One kubeconfig with a context per cluster, named as given.
fn kubeconfig(clusters: &[(&str, &Cluster)], path: &Path) {
    let mut merged: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (name, cluster) in clusters {
        let text = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
        let text = text.replace("kube-test-admin", &format!("{name}-admin")).replace("kube-test", name);
        let v: Value = serde_yaml::from_str(&text).unwrap();
        for key in ["clusters", "users", "contexts"] {
            merged.entry(key).or_default().extend(v[key].as_array().unwrap().iter().cloned());
        }
    }
    let mut doc = serde_json::json!({"apiVersion": "v1", "kind": "Config", "current-context": clusters[0].0});
    for (k, v) in merged {
        doc[k] = Value::Array(v);
    }
    std::fs::write(path, serde_yaml::to_string(&doc).unwrap()).unwrap();
}

/// What one cluster lacks, played by the test.
struct Emulated<'a> {
    name: &'a str,
    cluster: &'a Cluster,
    /// The controller pod's address (also the load balancer's).
    ip: String,
    dir: PathBuf,
    controller: Option<Daemon>,
    available: bool,
    workloads: Vec<String>,
}

impl Emulated<'_> {
    fn get(&self, what: &str) -> Option<Value> {
        let out = self.cluster.kubectl(&["get", what, "-n", NS, "-o", "json"], "");
        out.succeeded().then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    /// One round: whatever changed since the last is acted on.
    fn step(&mut self, rootfs: &Path) {
        let Some(deployments) = self.get("deployments") else { return };
        for d in deployments["items"].as_array().unwrap() {
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            let template = &d["spec"]["template"];
            if name == "skupper-controller" && self.controller.is_none() {
                let account = template["spec"]["serviceAccountName"].as_str().unwrap();
                let token = self.cluster.kubectl_ok(&["create", "token", account, "-n", NS], "").stdout;
                let pod_name = format!("skupper-controller-{}-emu", self.name);
                pod_running(self.cluster, NS, &pod_name, &template["metadata"]["labels"], &self.ip);
                let pod = Pod { ns: NS, name: &pod_name, ip: &self.ip, token: token.trim(), dir: &self.dir };
                self.controller = Some(run_pod(self.cluster, &pod, &template["spec"], rootfs));
            } else if name != "skupper-controller" && !self.workloads.contains(&name) {
                let port = template["spec"]["containers"][0]["ports"][0]["containerPort"].as_u64().unwrap();
                let ip = Env::new(&format!("{}-{name}", self.name)).ip.clone();
                echo_server_at(&ip, u16::try_from(port).unwrap());
                pod_running(self.cluster, NS, &format!("{name}-emu"), &template["metadata"]["labels"], &ip);
                deployment_available(self.cluster, NS, &name);
                self.workloads.push(name);
            }
        }
        if self.controller.is_some() && !self.available {
            let url = format!("http://{}:9091/readyz", self.ip);
            let ready = std::process::Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "--max-time", "2", &url])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                deployment_available(self.cluster, NS, "skupper-controller");
                self.available = true;
            }
        }
        if let Some(svc) = self.get("service/skupper-router")
            && svc["spec"]["type"] == "LoadBalancer"
            && svc["status"]["loadBalancer"]["ingress"].is_null()
        {
            load_balancer(self.cluster, NS, "skupper-router", &self.ip);
        }
    }
}

#[test]
fn the_two_cluster_walkthrough_of_the_readme_works_as_written() {
    if !is_root() {
        return skip(TEST, "chroot and mount namespaces need root");
    }
    let lines = walkthrough();
    assert!(lines.len() >= 10, "{lines:?}");
    let Some(west) = Cluster::start() else { return };
    let Some(east) = Cluster::start() else { return };
    let work = Env::new("readme-cluster");
    let rootfs = match image_rootfs(&work.dir.join("image")) {
        Ok(r) => r,
        Err(reason) => return skip(TEST, &format!("the image cannot be built here: {reason}")),
    };
    let config = work.dir.join("kubeconfig");
    kubeconfig(&[("west", &west), ("east", &east)], &config);
    // kubectl finds the plugin on PATH, as after `kubectl krew install skupper`.
    let bin = work.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(binary(), bin.join("kubectl-skupper")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let stop = AtomicBool::new(false);
    let mut sites: Vec<Emulated> = [("west", &west), ("east", &east)]
        .into_iter()
        .map(|(name, cluster)| {
            let dir = work.dir.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let ip = Env::new(name).ip.clone();
            Emulated { name, cluster, ip, dir, controller: None, available: false, workloads: Vec::new() }
        })
        .collect();
    let east_ip = sites[1].ip.clone();
    let logs: Vec<PathBuf> = sites.iter().map(|s| s.dir.join("pod.log")).collect();
    let pod_logs =
        || logs.iter().map(|l| std::fs::read_to_string(l).unwrap_or_default()).collect::<Vec<_>>().join("\n");

    std::thread::scope(|scope| {
        let emulator = scope.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                for s in &mut sites {
                    s.step(&rootfs);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            sites
        });
        let mut outputs = Vec::new();
        for line in &lines {
            let mut cmd = skupper_e2e::command("bash");
            cmd.args(["-o", "pipefail", "-c", line])
                .current_dir(&work.work)
                .env("PATH", &path)
                .env("KUBECONFIG", &config);
            let out = skupper_e2e::run_command_within(&mut cmd, None, Duration::from_secs(180));
            if !out.succeeded() {
                stop.store(true, Ordering::SeqCst);
                panic!("README line failed: {line}\n{out}\n--- pods ---\n{}", pod_logs());
            }
            outputs.push(out);
        }
        let said = |needle: &str| outputs.iter().any(|o| o.stdout.contains(needle));
        assert!(said("Site \"west\" is ready."), "{outputs:#?}");
        assert!(said("has been redeemed"), "{outputs:#?}");

        // A client in east (at the Service's target: the controller pod's port 8080) reaches west's backend.
        wait_for("bytes from east's listener to west's backend pod", Duration::from_secs(60), || {
            echo_once(&east_ip, 8080, "hello from east")
                .and_then(|s| if s == "hello from east" { Ok(()) } else { Err(s) })
        });
        stop.store(true, Ordering::SeqCst);
        let mut sites = emulator.join().unwrap();
        for s in &mut sites {
            if let Some(mut d) = s.controller.take() {
                d.stop();
            }
        }
    });
}
