//! What runs Skupper in a cluster, applied to a REAL kube-apiserver 1.20 (+ etcd, on 127.0.0.1;
//! no kubelet, so nothing it describes is ever started): `kubectl skupper install`, then
//! `controller manifest | kubectl apply -f -` is accepted and the Deployment reads back with the
//! container spec that was printed (1.20 drops fields it does not know: read back and compare),
//! and the printed RBAC gives the controller's account what it needs in its namespace only.
//! `install --with-webhook` registers the Link webhook with a CA of its own and fails closed.
//! Skips (with the reason) only when the apiserver cannot be installed here.
#![cfg(feature = "webhook")]
#![allow(clippy::unwrap_used, missing_docs)]

mod apiserver_support;

use std::time::{Duration, Instant};

use apiserver_support::{Cluster, TempDir, link_yaml};
use serde_json::{Value, json};

fn get_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let o = cluster.kubectl(&all, "");
    assert!(o.ok, "kubectl {args:?}: {}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

/// The documents of a YAML stream.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .flat_map(|d| d.split("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
        .collect()
}

#[test]
fn the_controller_manifest_applies_and_reads_back_as_printed() {
    let Some(cluster) = Cluster::start() else { return };
    let o = cluster.skupper(&["install"], "");
    assert!(o.ok, "install: {}{}", o.stdout, o.stderr);
    let ns = format!("manifest-{}", std::process::id());
    assert!(cluster.kubectl(&["create", "namespace", &ns], "").ok);

    let printed = cluster.skupper(&["-n", &ns, "controller", "manifest", "--image", "registry.example.com/ks:9"], "");
    assert!(printed.ok, "{}", printed.stderr);
    let docs = documents(&printed.stdout);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ServiceAccount", "RoleBinding", "Deployment"]);
    let o = cluster.kubectl(&["apply", "-f", "-"], &printed.stdout);
    assert!(o.ok, "kubectl apply: {}", o.stderr);
    for line in [
        "serviceaccount/skupper-controller created",
        "rolebinding.rbac.authorization.k8s.io/skupper-controller created",
        "deployment.apps/skupper-controller created",
    ] {
        assert!(o.stdout.contains(line), "{line:?} not in {}", o.stdout);
    }
    // JSON output is the same objects.
    let as_json = cluster
        .skupper(&["-n", &ns, "controller", "manifest", "--image", "registry.example.com/ks:9", "-o", "json"], "");
    assert!(as_json.ok, "{}", as_json.stderr);
    let json_docs: Vec<Value> =
        serde_json::Deserializer::from_str(&as_json.stdout).into_iter::<Value>().map(Result::unwrap).collect();
    assert_eq!(json_docs, docs);

    // The Deployment as the server stored it.
    let printed_d = &docs[2];
    let stored = get_json(&cluster, &["-n", &ns, "get", "deployment", "skupper-controller"]);
    for meta in ["/metadata/labels", "/spec/replicas", "/spec/strategy/type", "/spec/selector/matchLabels"] {
        assert_eq!(stored.pointer(meta), printed_d.pointer(meta), "{meta}");
    }
    let labels = stored.pointer("/spec/template/metadata/labels").unwrap();
    assert_eq!(labels, stored.pointer("/spec/selector/matchLabels").unwrap(), "pod labels == selector");
    assert_eq!(
        labels,
        &json!({"app.kubernetes.io/name": "skupper-controller", "app.kubernetes.io/part-of": "skupper"})
    );
    let pod = |v: &Value, p: &str| v.pointer(&format!("/spec/template/spec{p}")).cloned();
    for p in ["/serviceAccountName", "/securityContext", "/volumes/0/name", "/volumes/0/emptyDir"] {
        assert_eq!(pod(&stored, p), pod(printed_d, p), "pod {p}");
    }
    assert_eq!(pod(&stored, "/securityContext/seccompProfile/type"), Some(json!("RuntimeDefault")));
    let container = |v: &Value| pod(v, "/containers/0").unwrap();
    let (want, got) = (container(printed_d), container(&stored));
    for field in ["name", "image", "command", "args", "env", "ports", "resources", "securityContext", "volumeMounts"] {
        assert_eq!(got.get(field), want.get(field), "container {field}");
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(got[probe]["httpGet"], want[probe]["httpGet"], "{probe}");
        assert_eq!(got[probe]["periodSeconds"], want[probe]["periodSeconds"], "{probe}");
    }
    assert_eq!(got["args"], json!(["controller", "--in-cluster"]));
    assert_eq!(got["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(got["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(got["securityContext"]["runAsUser"], 65532);
    assert_eq!(got["securityContext"]["readOnlyRootFilesystem"], true);
    let binding = get_json(&cluster, &["-n", &ns, "get", "rolebinding", "skupper-controller"]);
    assert_eq!(binding["roleRef"]["name"], "skupper-controller");

    // The binding gives the controller's account the ClusterRole in this namespace only.
    let account = format!("system:serviceaccount:{ns}:skupper-controller");
    let can = |verb: &str, resource: &str, namespace: &str| {
        let o = cluster.kubectl(&["auth", "can-i", verb, resource, "-n", namespace, "--as", &account], "");
        o.stdout.trim() == "yes"
    };
    assert!(can("watch", "links.skupper.io", &ns));
    assert!(can("update", "sites.skupper.io/status", &ns));
    assert!(can("create", "services", &ns));
    assert!(can("update", "leases.coordination.k8s.io", &ns));
    assert!(!can("list", "links.skupper.io", "default"), "the RoleBinding must not reach other namespaces");

    // Applying again changes nothing.
    let o = cluster.kubectl(&["apply", "-f", "-"], &printed.stdout);
    assert!(o.ok && o.stdout.lines().all(|l| l.ends_with(" unchanged")), "{}", o.stdout);
}

#[test]
fn install_with_webhook_registers_the_link_webhook_failing_closed() {
    let Some(cluster) = Cluster::start() else { return };
    let o = cluster.skupper(&["install", "--with-webhook"], "");
    assert!(o.ok, "install --with-webhook: {}{}", o.stdout, o.stderr);
    for line in [
        "namespace/skupper created",
        "secret/skupper-link-policy-tls created",
        "deployment.apps/skupper-link-policy created",
        "service/skupper-link-policy created",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/skupper-link-policy created",
        "fails closed",
    ] {
        assert!(o.stdout.contains(line), "{line:?} not in:\n{}", o.stdout);
    }

    let vwc = get_json(&cluster, &["get", "validatingwebhookconfiguration", "skupper-link-policy"]);
    let hook = &vwc["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["rules"][0]["resources"], json!(["links"]));
    assert_eq!(hook["clientConfig"]["service"]["namespace"], "skupper");
    assert_eq!(hook["clientConfig"]["service"]["name"], "skupper-link-policy");
    let secret = get_json(&cluster, &["-n", "skupper", "get", "secret", "skupper-link-policy-tls"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(hook["clientConfig"]["caBundle"], secret["data"]["ca.crt"], "caBundle is the Secret's CA");

    // The serving certificate chains to that CA and names the Service the API server calls.
    let dir = TempDir::new("webhook-tls");
    for (key, file) in [("ca.crt", "ca.pem"), ("tls.crt", "tls.pem")] {
        let pem = cluster.kubectl(
            &[
                "-n",
                "skupper",
                "get",
                "secret",
                "skupper-link-policy-tls",
                "-o",
                &format!("go-template={{{{index .data \"{key}\" | base64decode}}}}"),
            ],
            "",
        );
        assert!(pem.ok, "{}", pem.stderr);
        std::fs::write(dir.path().join(file), pem.stdout).unwrap();
    }
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-verify_hostname", "skupper-link-policy.skupper.svc", "-CAfile"])
        .arg(dir.path().join("ca.pem"))
        .arg(dir.path().join("tls.pem"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // Nothing runs the webhook here (no kubelet): failing closed, the API server refuses Links.
    let ns = format!("webhook-install-{}", std::process::id());
    assert!(cluster.kubectl(&["create", "namespace", &ns], "").ok);
    let link = link_yaml("link-west", &ns, 2, "west.example.com");
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let o = cluster.kubectl(&["apply", "-f", "-"], &link);
        if !o.ok && o.stderr.contains("failed calling webhook") {
            break o;
        }
        assert!(
            Instant::now() < deadline,
            "a Link was not refused while the webhook is down: {}{}",
            o.stdout,
            o.stderr
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(refused.stderr.contains("links.skupper-link-policy.skupper.io"), "{}", refused.stderr);
    let o = cluster.kubectl(&["get", "links", "-n", &ns, "-o", "name"], "");
    assert!(o.ok && o.stdout.trim().is_empty(), "{}", o.stdout);

    // A second install keeps the CA and certificate: nothing changes.
    let again = cluster.skupper(&["install", "--with-webhook"], "");
    assert!(again.ok, "{}", again.stderr);
    for l in again.stdout.lines().filter(|l| l.contains('/')) {
        assert!(l.ends_with(" unchanged"), "second install changed {l:?}");
    }
    let secret2 = get_json(&cluster, &["-n", "skupper", "get", "secret", "skupper-link-policy-tls"]);
    assert_eq!(secret2["data"], secret["data"]);

    // uninstall removes the registration (first) with the rest.
    let o = cluster.skupper(&["uninstall", "--yes"], "");
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.lines().next().unwrap_or_default()
            == "validatingwebhookconfiguration.admissionregistration.k8s.io/skupper-link-policy deleted",
        "{}",
        o.stdout
    );
    let o = cluster.kubectl(&["get", "validatingwebhookconfiguration", "skupper-link-policy"], "");
    assert!(!o.ok && o.stderr.contains("NotFound"), "{}", o.stderr);
}
