//! The webhook on the Kubernetes platform's client against a REAL kube-apiserver 1.20 (+ etcd on
//! 127.0.0.1): `webhook serve --links-from <kubeconfig>` watches Links with a reflector; Links
//! created with `kubectl apply` that break the policy are refused by the API server with the
//! policy's own message; the duplicate-peer rule is answered from the reflector: a Link that was
//! there before the webhook started, one created behind its back while it was unregistered, and
//! one it admitted a moment ago all make a twin be refused at once (no waiting for a refresh),
//! while a deleted Link no longer counts and other namespaces never do. Skips (with the reason)
//! only when the apiserver cannot be installed here.
#![cfg(feature = "webhook")]
#![allow(missing_docs)]

mod apiserver_support;
mod webhook_support;

use std::time::{Duration, Instant};

use apiserver_support::{Cluster, TempDir, link_yaml};
use webhook_support::{run, serve};

/// Applies `yaml` and expects a refusal by the webhook naming `needle`.
fn refused(cluster: &Cluster, yaml: &str, needle: &str) {
    let o = cluster.kubectl(&["apply", "-f", "-"], yaml);
    assert!(!o.ok, "admitted, expected a refusal with {needle:?}: {}", o.stdout);
    assert!(o.stderr.contains("denied the request") && o.stderr.contains(needle), "{needle:?} not in {}", o.stderr);
}

fn admitted(cluster: &Cluster, yaml: &str) {
    let o = cluster.kubectl(&["apply", "-f", "-"], yaml);
    assert!(o.ok, "refused: {}", o.stderr);
}

/// Registers the webhook at `url` and waits until the API server calls it (a server-side dry run
/// of `probe`, which the policy refuses, is refused).
fn register(cluster: &Cluster, manifest: &str, probe: &str) {
    let o = cluster.kubectl(&["apply", "-f", "-"], manifest);
    assert!(o.ok, "{}", o.stderr);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], probe);
        if !o.ok && o.stderr.contains("denied the request") {
            return;
        }
        assert!(Instant::now() < deadline, "the webhook was never called: {} {}", o.stdout, o.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn links_applied_with_kubectl_meet_the_policy_and_duplicates_come_from_the_watch() {
    let Some(cluster) = Cluster::start() else { return };
    let o = cluster.skupper(&["install"], "");
    assert!(o.ok, "install: {}{}", o.stdout, o.stderr);
    let ns = format!("policy-{}", std::process::id());
    let other = format!("policy-other-{}", std::process::id());
    for n in [&ns, &other] {
        assert!(cluster.kubectl(&["create", "namespace", n], "").ok);
    }
    // There before the webhook: known from the watch's first list.
    admitted(&cluster, &link_yaml("link-north", &ns, 2, "north.example.com"));

    let settings_dir = TempDir::new("kube-client-settings");
    let settings = settings_dir.path().join("settings.yaml");
    std::fs::write(&settings, "maxCost: 10\nallowedHosts: [\"*.example.com\"]\n").unwrap();
    let server =
        serve(&["--settings", settings.to_str().unwrap(), "--links-from", cluster.kubeconfig.to_str().unwrap()]);
    let url = format!("https://{}/validate", server.addr);
    let (code, manifest, err) =
        run(&["webhook", "manifest", "--url", &url, "--ca-bundle", server.pki.ca.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let costly = link_yaml("link-costly", &ns, 50, "west.example.com");
    register(&cluster, &manifest, &costly);

    // The policy's own message comes back through the API server to kubectl apply.
    refused(&cluster, &costly, "cost 50 is above the policy maximum 10: set spec.cost to at most 10");
    refused(
        &cluster,
        &link_yaml("link-foreign", &ns, 1, "peer.other.net"),
        "host \"peer.other.net\" is not allowed by policy",
    );
    let o = cluster.kubectl(&["get", "links", "-n", &ns, "-o", "name"], "");
    assert_eq!(o.stdout.trim(), "link.skupper.io/link-north", "refused Links are not stored");

    // Duplicates, each refused at the first attempt.
    refused(
        &cluster,
        &link_yaml("link-north-twin", &ns, 1, "north.example.com"),
        "Link \"link-north\" already connects",
    );
    admitted(&cluster, &link_yaml("link-west", &ns, 2, "west.example.com"));
    refused(&cluster, &link_yaml("link-west-twin", &ns, 2, "west.example.com"), "Link \"link-west\" already connects");
    // Other namespaces have their own peers.
    admitted(&cluster, &link_yaml("link-west", &other, 2, "west.example.com"));
    // A deleted Link no longer counts, at once.
    assert!(cluster.kubectl(&["delete", "link", "link-west", "-n", &ns], "").ok);
    admitted(&cluster, &link_yaml("link-west-twin", &ns, 2, "west.example.com"));
    // Updates go through the policy too.
    refused(&cluster, &link_yaml("link-west-twin", &ns, 99, "west.example.com"), "spec.cost");

    // A Link created while the webhook was not registered (so never reviewed by it) is known
    // from the watch as soon as the webhook is back.
    let o = cluster.kubectl(&["delete", "validatingwebhookconfiguration", "skupper-link-policy"], "");
    assert!(o.ok, "{}", o.stderr);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], &costly).ok {
        assert!(Instant::now() < deadline, "the webhook stayed registered");
        std::thread::sleep(Duration::from_millis(200));
    }
    admitted(&cluster, &link_yaml("link-south", &ns, 2, "south.example.com"));
    register(&cluster, &manifest, &costly);
    refused(
        &cluster,
        &link_yaml("link-south-twin", &ns, 2, "south.example.com"),
        "Link \"link-south\" already connects",
    );

    drop(server);
    drop(cluster);
}
