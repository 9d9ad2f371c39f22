//! The webhook registered with a REAL kube-apiserver (1.20, from Debian's kubernetes source
//! package) + etcd on 127.0.0.1, started by scripts/kube-test-cluster.sh and stopped by pid:
//! the Link CRD applied, the ValidatingWebhookConfiguration from `webhook manifest --url
//! --ca-bundle` applied, then `kubectl apply` of Links. Skips (with the reason printed) only
//! when the apiserver cannot be installed on this machine (exit 3 of the script).
#![cfg(feature = "webhook")]
#![allow(clippy::unwrap_used)]

mod webhook_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use webhook_support::{TempDir, run, serve};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The cluster; stopped (apiserver then etcd, by the pids in its directory) on drop.
struct Cluster {
    dir: TempDir,
    kubeconfig: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ =
            Command::new(repo_root().join("scripts/kube-test-cluster.sh")).arg("stop").arg(self.dir.path()).status();
    }
}

/// Starts the cluster, or returns the reason it cannot be installed here.
fn start_cluster() -> Result<Cluster, String> {
    let dir = TempDir::new("kube");
    let script = repo_root().join("scripts/kube-test-cluster.sh");
    let mut child = Command::new(&script)
        .arg("start")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // First run builds the apiserver (~4-8 min on 2 cores); later runs take ~5 s.
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = Command::new(&script).arg("stop").arg(dir.path()).status();
            panic!("kube-test-cluster.sh start did not finish within 20 min");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => {}
        Some(3) => return Err(stderr.trim().to_string()),
        other => {
            let _ = Command::new(&script).arg("stop").arg(dir.path()).status();
            panic!("kube-test-cluster.sh start failed ({other:?}):\n{stderr}");
        }
    }
    let kubeconfig = dir.path().join("kubeconfig");
    assert!(kubeconfig.exists(), "no kubeconfig written:\n{stderr}");
    Ok(Cluster { dir, kubeconfig })
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `kubectl` against the test cluster only (never the user's), with `stdin`, bounded in time.
fn kubectl(cluster: &Cluster, args: &[&str], stdin: &str) -> Out {
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", &cluster.kubeconfig)
        .arg("--request-timeout=30s")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kubectl {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn link_yaml(name: &str, ns: &str, cost: i64, host: &str) -> String {
    format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         spec:\n  cost: {cost}\n  tlsCredentials: {name}\n  endpoints:\n\
         \x20 - {{group: skupper-router, name: inter-router, host: {host}, port: \"55671\"}}\n\
         \x20 - {{group: skupper-router, name: edge, host: {host}, port: \"45671\"}}\n"
    )
}

#[test]
fn apiserver_enforces_the_link_policy_through_the_webhook() {
    let cluster = match start_cluster() {
        Ok(c) => c,
        Err(reason) => {
            eprintln!(
                "SKIPPED apiserver_enforces_the_link_policy_through_the_webhook: the test \
                 apiserver cannot be installed here: {reason}"
            );
            return;
        }
    };

    let crd = repo_root().join("kubectl-plugin/assets/crds/skupper_link_crd.yaml");
    let o = kubectl(&cluster, &["apply", "-f", crd.to_str().unwrap()], "");
    assert!(o.ok, "{}", o.stderr);
    let o = kubectl(&cluster, &["wait", "--for=condition=Established", "crd/links.skupper.io", "--timeout=30s"], "");
    assert!(o.ok, "{}", o.stderr);

    let settings_dir = TempDir::new("kube-settings");
    let settings = settings_dir.path().join("settings.yaml");
    std::fs::write(&settings, "maxCost: 10\nallowedHosts: [\"*.example.com\"]\n").unwrap();
    // --links-from: the webhook lists Links with the test kubeconfig for the duplicate rule.
    let server = serve(&[
        "--settings",
        settings.to_str().unwrap(),
        "--links-from",
        cluster.kubeconfig.to_str().unwrap(),
        "--links-refresh",
        "300ms",
    ]);
    let url = format!("https://{}/validate", server.addr);
    let (code, manifest, err) =
        run(&["webhook", "manifest", "--url", &url, "--ca-bundle", server.pki.ca.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let o = kubectl(&cluster, &["apply", "-f", "-"], &manifest);
    assert!(o.ok, "{}", o.stderr);

    let ns = format!("webhook-{}", std::process::id());
    let o = kubectl(&cluster, &["create", "namespace", &ns], "");
    assert!(o.ok, "{}", o.stderr);

    // The API server picks webhook configurations up asynchronously: poll with a server-side
    // dry run (sideEffects None makes the webhook see dry runs) until the policy answers.
    let costly = link_yaml("link-costly", &ns, 50, "west.example.com");
    let deadline = Instant::now() + Duration::from_secs(60);
    let denied = loop {
        let o = kubectl(&cluster, &["apply", "--dry-run=server", "-f", "-"], &costly);
        if !o.ok && o.stderr.contains("denied the request") {
            break o;
        }
        assert!(Instant::now() < deadline, "the webhook never denied the costly Link: {} {}", o.stdout, o.stderr);
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(denied.stderr.contains("admission webhook \"links.skupper-link-policy.skupper.io\""), "{}", denied.stderr);

    // A bad Link is refused with the policy's own message and is not stored.
    let o = kubectl(&cluster, &["apply", "-f", "-"], &costly);
    assert!(!o.ok, "the costly Link was admitted: {}", o.stdout);
    assert!(o.stderr.contains("denied the request") && o.stderr.contains("spec.cost"), "{}", o.stderr);
    let o = kubectl(&cluster, &["get", "links", "-n", &ns, "-o", "name"], "");
    assert!(o.ok && !o.stdout.contains("link-costly"), "{}", o.stdout);

    let foreign = link_yaml("link-foreign", &ns, 1, "peer.other.net");
    let o = kubectl(&cluster, &["apply", "-f", "-"], &foreign);
    assert!(!o.ok, "a Link to a host outside allowedHosts was admitted");
    assert!(o.stderr.contains("peer.other.net"), "{}", o.stderr);

    // A good Link is admitted and stored.
    let good = link_yaml("link-west", &ns, 2, "west.example.com");
    let o = kubectl(&cluster, &["apply", "-f", "-"], &good);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("link.skupper.io/link-west created"), "{}", o.stdout);
    let o = kubectl(&cluster, &["get", "link", "link-west", "-n", &ns, "-o", "jsonpath={.spec.cost}"], "");
    assert_eq!(o.stdout.trim(), "2", "{}", o.stderr);

    // A second Link to the same peer is refused once the webhook has listed the first one
    // (forbidDuplicatePeers is on by default).
    let twin = link_yaml("link-west-twin", &ns, 2, "west.example.com");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = kubectl(&cluster, &["apply", "--dry-run=server", "-f", "-"], &twin);
        if !o.ok && o.stderr.contains("duplicate link") {
            break;
        }
        assert!(Instant::now() < deadline, "the twin Link was never refused: {}", o.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = kubectl(&cluster, &["apply", "-f", "-"], &twin);
    assert!(!o.ok, "the twin Link was admitted");
    assert!(o.stderr.contains("Link \"link-west\" already connects"), "{}", o.stderr);

    // UPDATE goes through the policy too.
    let o = kubectl(&cluster, &["apply", "-f", "-"], &link_yaml("link-west", &ns, 99, "west.example.com"));
    assert!(!o.ok && o.stderr.contains("spec.cost"), "{}", o.stderr);

    // Admitted with warnings: kubectl prints them as `Warning: ...`.
    let warned = link_yaml("link-unset-cost", &ns, 0, "south.example.com");
    let o = kubectl(&cluster, &["apply", "-f", "-"], &warned);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stderr.contains("Warning:") && o.stderr.contains("spec.cost"), "{}", o.stderr);

    drop(server);
    drop(cluster);
}
