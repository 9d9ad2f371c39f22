//! Playing the parts of a cluster that the test API server lacks (no kubelet, no
//! controller-manager, no cloud): the controller's image built by `scripts/image.sh` and unpacked
//! with umoci; a pod of a Deployment run as a kubelet would (the container's command, args, env
//! with the downward API resolved, user, read-only root, `emptyDir` volumes and the
//! ServiceAccount volume mounted, under `chroot` in a mount namespace that ends with it); a pod
//! reported Running and Ready at a loopback address; a load balancer's address.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use skupper_e2e::kube::Cluster;
use skupper_e2e::{Daemon, binary, repo_root};

/// Where a kubelet mounts a pod's ServiceAccount token.
pub(crate) const SA_DIR: &str = "var/run/secrets/kubernetes.io/serviceaccount";

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

/// Builds the image from the test binary (debug information stripped, as the release is) with
/// `scripts/image.sh` and unpacks it with umoci; the root file system, or why it cannot be done.
pub(crate) fn image_rootfs(dir: &Path) -> Result<PathBuf, String> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let copy = bin.join("kubectl-skupper");
    let stripped = Command::new("strip").arg("--strip-debug").arg("-o").arg(&copy).arg(binary()).status();
    if !stripped.is_ok_and(|s| s.success()) {
        std::fs::copy(binary(), &copy).unwrap();
    }
    let dist = dir.join("dist");
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/image.sh"))
        .arg("--binary")
        .arg(&copy)
        .arg("--out")
        .arg(&dist)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => {}
        Some(3) => return Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        other => panic!("image.sh failed ({other:?}):\n{}", String::from_utf8_lossy(&out.stderr)),
    }
    let archive = PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().next().unwrap());
    let layout = dir.join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    assert!(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&layout).status().unwrap().success());
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().to_string();
    let rootfs = unpack(&layout, &tag, &dir.join("bundle"));
    // The mount point of the ServiceAccount volume (a kubelet's runtime makes it).
    std::fs::create_dir_all(rootfs.join(SA_DIR)).unwrap();
    Ok(rootfs)
}

/// `umoci unpack` of image `tag` of the OCI layout `layout` into `bundle`; its root file system.
pub(crate) fn unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    bundle.join("rootfs")
}

/// The apiserver's port, from the cluster's kubeconfig.
pub(crate) fn apiserver_port(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let server = text.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap();
    server.rsplit(':').next().unwrap().to_string()
}

/// One pod of a Deployment, as a kubelet would run it.
pub(crate) struct Pod<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    /// Its IP (a loopback address of the test).
    pub ip: &'a str,
    /// The ServiceAccount token mounted in it (`kubectl create token`).
    pub token: &'a str,
    /// A directory of its own: the ServiceAccount volume, its output (`log`).
    pub dir: &'a Path,
}

impl Pod<'_> {
    /// Its standard output and error.
    pub(crate) fn log(&self) -> PathBuf {
        self.dir.join("pod.log")
    }
}

/// What a kubelet would do for a pod of the Deployment whose pod `spec` is given, from the
/// unpacked image at `rootfs`: the ServiceAccount volume, then the first container's command and
/// args as its user, with its env (downward API resolved), the in-cluster variables, its root
/// read-only and its volumes (`emptyDir` as tmpfs) mounted.
pub(crate) fn run_pod(cluster: &Cluster, pod: &Pod, spec: &Value, rootfs: &Path) -> Daemon {
    let container = &spec["containers"][0];
    let sa = pod.dir.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), pod.token).unwrap();
    std::fs::copy(cluster.dir().join("pki/ca.crt"), sa.join("ca.crt")).unwrap();
    std::fs::write(sa.join("namespace"), pod.ns).unwrap();

    let sc = &container["securityContext"];
    let user = sc["runAsUser"].as_i64().or(spec["securityContext"]["runAsUser"].as_i64()).expect("a user");
    let group = sc["runAsGroup"].as_i64().or(spec["securityContext"]["runAsGroup"].as_i64()).expect("a group");
    let mut mounts = String::from("mount --bind \"$R\" \"$R\" && ");
    if sc["readOnlyRootFilesystem"] == json!(true) {
        mounts += "mount -o remount,bind,ro \"$R\" && ";
    }
    mounts += &format!("mount --bind -o ro \"$SA\" \"$R/{SA_DIR}\" && ");
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap();
        let volume = spec["volumes"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap();
        assert!(volume.get("emptyDir").is_some(), "only emptyDir volumes are emulated: {volume}");
        let path = m["mountPath"].as_str().unwrap();
        mounts += &format!("mount -t tmpfs -o size=64m,mode=1777 tmpfs \"$R{path}\" && ");
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("{mounts}exec chroot --userspec={user}:{group} \"$R\" \"$@\""))
        .arg("pod");
    for part in container["command"].as_array().unwrap().iter().chain(container["args"].as_array().unwrap()) {
        cmd.arg(part.as_str().unwrap());
    }
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("R", rootfs)
        .env("SA", &sa)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", apiserver_port(cluster.kubeconfig()))
        .env("SKUPPER_BIND_HOST", pod.ip);
    for e in container["env"].as_array().into_iter().flatten() {
        let value = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            Some("metadata.name") => pod.name.to_string(),
            Some("metadata.namespace") => pod.ns.to_string(),
            Some(other) => panic!("unexpected downward API field {other}"),
            None => e["value"].as_str().unwrap().to_string(),
        };
        cmd.env(e["name"].as_str().unwrap(), value);
    }
    let file = std::fs::File::create(pod.log()).unwrap();
    cmd.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
    Daemon::spawn(&mut cmd, &format!("the emulated pod {}/{}", pod.ns, pod.name))
}

/// What a kubelet reports for a running, Ready pod `name` at `ip`.
pub(crate) fn pod_running(cluster: &Cluster, ns: &str, name: &str, labels: &Value, ip: &str) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "registry.example/emulated:1"}]}
    });
    cluster.kubectl_ok(&["apply", "-f", "-"], &pod.to_string());
    let status = json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}]
    }});
    cluster.kubectl_ok(
        &["patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", &status.to_string()],
        "",
    );
}

/// What the controller-manager reports for a Deployment whose one pod is ready.
pub(crate) fn deployment_available(cluster: &Cluster, ns: &str, name: &str) {
    let status = json!({"status": {
        "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability."}]
    }});
    cluster.kubectl_ok(
        &["patch", "deployment", name, "-n", ns, "--subresource=status", "--type=merge", "-p", &status.to_string()],
        "",
    );
}

/// What a cloud's load balancer controller reports for Service `name`: the address `ip`.
pub(crate) fn load_balancer(cluster: &Cluster, ns: &str, name: &str, ip: &str) {
    let ingress = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
    cluster.kubectl_ok(
        &["patch", "service", name, "-n", ns, "--subresource=status", "--type=merge", "-p", &ingress.to_string()],
        "",
    );
}
