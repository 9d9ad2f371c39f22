//! The webhook registered with a REAL kube-apiserver (1.20, from Debian's kubernetes source
//! package) + etcd on 127.0.0.1 ([`skupper_e2e::kube::Cluster`], stopped by pid): the Link CRD
//! applied, the ValidatingWebhookConfiguration from `webhook manifest --url --ca-bundle` applied,
//! then `kubectl apply` of Links. When this machine cannot have the apiserver the test is a
//! counted skip, and a failure under `REQUIRE_ALL_TESTS=1` (scripts/test.sh).
#![cfg(feature = "webhook")]

mod webhook_support;

use std::time::{Duration, Instant};

use skupper_e2e::kube::Cluster;
use skupper_e2e::repo_root;
use webhook_support::{TempDir, run, serve};

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
    let Some(cluster) = Cluster::start() else { return };

    let crd = repo_root().join("kubectl-plugin/assets/crds/skupper_link_crd.yaml");
    cluster.kubectl_ok(&["apply", "-f", crd.to_str().unwrap()], "");
    cluster.kubectl_ok(&["wait", "--for=condition=Established", "crd/links.skupper.io", "--timeout=30s"], "");

    let settings_dir = TempDir::new("kube-settings");
    let settings = settings_dir.path().join("settings.yaml");
    std::fs::write(&settings, "maxCost: 10\nallowedHosts: [\"*.example.com\"]\n").unwrap();
    // --links-from: the webhook lists Links with the test kubeconfig for the duplicate rule.
    let server = serve(&[
        "--settings",
        settings.to_str().unwrap(),
        "--links-from",
        cluster.kubeconfig().to_str().unwrap(),
        "--links-refresh",
        "300ms",
    ]);
    let url = format!("https://{}/validate", server.addr);
    let (code, manifest, err) =
        run(&["webhook", "manifest", "--url", &url, "--ca-bundle", server.pki.ca.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    cluster.kubectl_ok(&["apply", "-f", "-"], &manifest);

    let ns = cluster.create_namespace();

    // The API server picks webhook configurations up asynchronously: poll with a server-side
    // dry run (sideEffects None makes the webhook see dry runs) until the policy answers.
    let costly = link_yaml("link-costly", &ns, 50, "west.example.com");
    let deadline = Instant::now() + Duration::from_secs(60);
    let denied = loop {
        let o = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], &costly);
        if !o.succeeded() && o.stderr.contains("denied the request") {
            break o;
        }
        assert!(Instant::now() < deadline, "the webhook never denied the costly Link: {} {}", o.stdout, o.stderr);
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(denied.stderr.contains("admission webhook \"links.skupper-link-policy.skupper.io\""), "{}", denied.stderr);

    // A bad Link is refused with the policy's own message and is not stored.
    let o = cluster.kubectl(&["apply", "-f", "-"], &costly);
    assert!(!o.succeeded(), "the costly Link was admitted: {}", o.stdout);
    assert!(o.stderr.contains("denied the request") && o.stderr.contains("spec.cost"), "{}", o.stderr);
    let o = cluster.kubectl(&["get", "links", "-n", &ns, "-o", "name"], "");
    assert!(o.succeeded() && !o.stdout.contains("link-costly"), "{}", o.stdout);

    let foreign = link_yaml("link-foreign", &ns, 1, "peer.other.net");
    let o = cluster.kubectl(&["apply", "-f", "-"], &foreign);
    assert!(!o.succeeded(), "a Link to a host outside allowedHosts was admitted");
    assert!(o.stderr.contains("peer.other.net"), "{}", o.stderr);

    // A good Link is admitted and stored.
    let good = link_yaml("link-west", &ns, 2, "west.example.com");
    let o = cluster.kubectl(&["apply", "-f", "-"], &good);
    assert!(o.succeeded(), "{}", o.stderr);
    assert!(o.stdout.contains("link.skupper.io/link-west created"), "{}", o.stdout);
    let o = cluster.kubectl(&["get", "link", "link-west", "-n", &ns, "-o", "jsonpath={.spec.cost}"], "");
    assert_eq!(o.stdout.trim(), "2", "{}", o.stderr);

    // A second Link to the same peer is refused once the webhook has listed the first one
    // (forbidDuplicatePeers is on by default).
    let twin = link_yaml("link-west-twin", &ns, 2, "west.example.com");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], &twin);
        if !o.succeeded() && o.stderr.contains("duplicate link") {
            break;
        }
        assert!(Instant::now() < deadline, "the twin Link was never refused: {}", o.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = cluster.kubectl(&["apply", "-f", "-"], &twin);
    assert!(!o.succeeded(), "the twin Link was admitted");
    assert!(o.stderr.contains("Link \"link-west\" already connects"), "{}", o.stderr);

    // UPDATE goes through the policy too.
    let o = cluster.kubectl(&["apply", "-f", "-"], &link_yaml("link-west", &ns, 99, "west.example.com"));
    assert!(!o.succeeded() && o.stderr.contains("spec.cost"), "{}", o.stderr);

    // Admitted with warnings: kubectl prints them as `Warning: ...`.
    let warned = link_yaml("link-unset-cost", &ns, 0, "south.example.com");
    let o = cluster.kubectl(&["apply", "-f", "-"], &warned);
    assert!(o.succeeded(), "{}", o.stderr);
    assert!(o.stderr.contains("Warning:") && o.stderr.contains("spec.cost"), "{}", o.stderr);

    drop(server);
    drop(cluster);
}
