//! The Kubernetes platform's foundation against a REAL kube-apiserver 1.20 + etcd on 127.0.0.1:
//! `kubectl skupper install` (CRDs generated from the core types, ClusterRoles), what the CRDs
//! accept and print, compatibility with upstream Skupper's own CRDs and examples both ways, and
//! the errors a kubectl user gets (no CRDs, forbidden, API server down).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skupper_e2e::kube::Cluster;
use skupper_e2e::{Env, Out, skip};

/// `kubectl-skupper` against `cluster` (its kubeconfig), in `env`.
fn ks(env: &Env, cluster: &Cluster, args: &[&str]) -> Out {
    env.run_full(args, None, &[("KUBECONFIG", cluster.kubeconfig().to_str().unwrap())])
}

fn upstream_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper");
    dir.join("crds").is_dir().then_some(dir)
}

const OUR_KINDS: [&str; 8] =
    ["Site", "Link", "AccessGrant", "AccessToken", "Listener", "Connector", "RouterAccess", "MultiKeyListener"];

#[test]
fn install_is_idempotent_and_the_crds_are_upstreams_shape() {
    let Some(cluster) = Cluster::start() else { return };
    let env = Env::new("kube-install");

    let first = ks(&env, &cluster, &["install"]).ok();
    let lines: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{first}");
    assert!(lines[..10].iter().all(|l| l.ends_with(" created")), "{first}");
    assert!(lines.contains(&"customresourcedefinition.apiextensions.k8s.io/links.skupper.io created"), "{first}");
    assert!(lines.contains(&"clusterrole.rbac.authorization.k8s.io/skupper-edit created"), "{first}");
    // Established before it returned: every short name resolves at once.
    let ns = cluster.create_namespace();
    cluster.kubectl_ok(&["get", "st,ln,gr,to,lnr,cnr,routeraccesses", "-n", &ns], "");

    let again = ks(&env, &cluster, &["install"]).ok();
    let unchanged = again.stdout.lines().filter(|l| l.ends_with(" unchanged")).count();
    assert_eq!(unchanged, 10, "a second install changes nothing:\n{again}");
    let crds = cluster.kubectl_ok(&["get", "crd", "-o", "name"], "").stdout;
    assert_eq!(crds.lines().filter(|l| l.ends_with(".skupper.io")).count(), 8, "{crds}");
    let role = cluster.kubectl_ok(&["get", "clusterrole", "skupper-edit", "-o", "json"], "").stdout;
    let role: Value = serde_json::from_str(&role).unwrap();
    assert_eq!(role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"], "true");

    // A Link without endpoints: refused by the server with its own message.
    let bad = "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata: {name: no-endpoints}\nspec: {cost: 2}\n";
    let out = cluster.kubectl(&["apply", "--validate=false", "-n", &ns, "-f", "-"], bad);
    assert!(!out.succeeded(), "{out}");
    assert!(out.stderr.contains("spec.endpoints: Required value"), "{out}");

    // Printer columns as upstream's.
    let link = json!({"apiVersion": "skupper.io/v2alpha1", "kind": "Link", "metadata": {"name": "l1"},
        "spec": {"endpoints": [{"name": "inter-router", "host": "127.0.0.1", "port": "55671", "group": "skupper-router"}]}});
    cluster.kubectl_ok(&["apply", "-n", &ns, "-f", "-"], &link.to_string());
    let header = cluster.kubectl_ok(&["get", "links", "-n", &ns], "").stdout;
    let header: Vec<&str> =
        header.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["NAME", "STATUS", "REMOTE SITE", "MESSAGE"]);
    let grant = r#"{"apiVersion": "skupper.io/v2alpha1", "kind": "AccessGrant", "metadata": {"name": "g1"},
        "spec": {"redemptionsAllowed": 2}}"#;
    cluster.kubectl_ok(&["apply", "-n", &ns, "-f", "-"], grant);
    let table = cluster.kubectl_ok(&["get", "gr", "-n", &ns], "").stdout;
    let header: Vec<&str> =
        table.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["NAME", "REDEMPTIONS ALLOWED", "REDEMPTIONS MADE", "EXPIRATION", "STATUS", "MESSAGE"]);
    assert!(table.lines().nth(1).unwrap().starts_with("g1 "), "{table}");
}

/// The largest object of each kind the model holds: every spec field set, and a status with
/// every field, as a controller would write it.
fn maximal_objects() -> Vec<Value> {
    let cond = |t: &str| {
        json!({"type": t, "status": "False", "reason": "Error", "message": "m", "observedGeneration": 3,
               "lastTransitionTime": "2026-07-23T10:00:00Z"})
    };
    let common = |extra: Value| {
        let mut s = json!({"status": "Error", "message": "m", "conditions": [cond("Configured"), cond("Ready")]});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        s
    };
    let endpoint = json!({"name": "inter-router", "host": "h.example", "port": "55671", "group": "skupper-router"});
    let settings = json!({"a": "b"});
    vec![
        json!({"kind": "Site", "spec": {"serviceAccount": "sa", "linkAccess": "default", "defaultIssuer": "ca",
                "edge": true, "ha": true, "settings": settings},
               "status": common(json!({"endpoints": [endpoint], "sitesInNetwork": 2, "defaultIssuer": "ca",
                "controller": {"name": "c", "namespace": "n", "version": "v"},
                "network": [{"id": "i", "name": "n", "namespace": "ns", "platform": "kubernetes", "version": "v",
                  "links": [{"name": "l", "remoteSiteId": "r", "remoteSiteName": "rn", "operational": true}],
                  "services": [{"routingKey": "k", "connectors": ["c"], "listeners": ["l"]}]}]}))}),
        json!({"kind": "RouterAccess", "spec": {"accessType": "loadbalancer", "roles": [{"name": "inter-router", "port": 55671}],
                "tlsCredentials": "t", "generateTlsCredentials": true, "issuer": "i", "bindHost": "0.0.0.0",
                "subjectAlternativeNames": ["a.example"], "settings": settings},
               "status": common(json!({"endpoints": [endpoint]}))}),
        json!({"kind": "Link", "spec": {"endpoints": [endpoint], "tlsCredentials": "t", "cost": 5,
                "settings": {"proxy-configuration": "p"}},
               "status": common(json!({"remoteSiteId": "r", "remoteSiteName": "rn"}))}),
        json!({"kind": "AccessGrant", "spec": {"redemptionsAllowed": 3, "expirationWindow": "15m0s", "code": "c",
                "issuer": "i", "settings": settings},
               "status": common(json!({"url": "https://h:9090/u", "code": "c", "ca": "PEM", "redemptions": 1,
                "expirationTime": "2026-07-23T10:00:00Z"}))}),
        json!({"kind": "AccessToken", "spec": {"url": "https://h:9090/u", "code": "c", "ca": "PEM", "linkCost": 4,
                "settings": settings},
               "status": common(json!({"redeemed": true}))}),
        json!({"kind": "Listener", "spec": {"routingKey": "k", "host": "h", "port": 8080, "tlsCredentials": "t",
                "type": "tcp", "settings": settings, "exposePodsByName": true, "observer": "none"},
               "status": common(json!({"hasMatchingConnector": true}))}),
        json!({"kind": "Connector", "spec": {"routingKey": "k", "host": "h", "port": 8080, "selector": "app=web",
                "tlsCredentials": "t", "type": "tcp", "settings": settings, "exposePodsByName": true,
                "includeNotReadyPods": true, "useClientCert": true, "verifyHostname": true},
               "status": common(json!({"hasMatchingListener": true,
                "selectedPods": [{"name": "web-1", "ip": "127.0.0.9"}]}))}),
    ]
}

#[test]
fn a_maximal_object_of_each_kind_round_trips_unchanged() {
    let Some(cluster) = Cluster::start() else { return };
    let env = Env::new("kube-roundtrip");
    ks(&env, &cluster, &["install"]).ok();
    let ns = cluster.create_namespace();
    for obj in maximal_objects() {
        let kind = obj["kind"].as_str().unwrap().to_string();
        let name = kind.to_lowercase();
        let create = json!({"apiVersion": "skupper.io/v2alpha1", "kind": kind, "metadata": {"name": name},
            "spec": obj["spec"]});
        cluster.kubectl_ok(&["create", "-n", &ns, "-f", "-"], &create.to_string());
        let patch = json!({"status": obj["status"]}).to_string();
        let resource = format!("{}.skupper.io/{name}", kind.to_lowercase() + "s");
        let resource = resource.replace("routeraccesss", "routeraccesses");
        cluster.kubectl_ok(&["patch", "-n", &ns, &resource, "--subresource=status", "--type=merge", "-p", &patch], "");
        let got: Value =
            serde_json::from_str(&cluster.kubectl_ok(&["get", "-n", &ns, &resource, "-o", "json"], "").stdout).unwrap();
        assert_eq!(got["spec"], obj["spec"], "{kind}: spec changed on the way through the API server");
        assert_eq!(got["status"], obj["status"], "{kind}: status changed on the way through the API server");
    }
}

/// Every document of a YAML or JSON text.
fn documents(text: &str) -> Vec<Value> {
    skupper_yaml::parse(text).unwrap_or_default()
}

/// `kubectl apply --dry-run=server` of `text`, in the namespaces its documents name (created
/// when missing) or `ns`.
fn dry_run(cluster: &Cluster, ns: &str, text: &str) -> Out {
    let mut named = false;
    for d in documents(text) {
        if let Some(n) = d.pointer("/metadata/namespace").and_then(Value::as_str) {
            let _ = cluster.kubectl(&["create", "namespace", n], "");
            named = true;
        }
    }
    // kubectl refuses -n that differs from a document's own namespace.
    if named {
        cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], text)
    } else {
        cluster.kubectl(&["apply", "--dry-run=server", "-n", ns, "-f", "-"], text)
    }
}

fn upstream_crds(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("crds")).unwrap().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

#[test]
fn every_upstream_example_upstream_accepts_is_accepted_by_our_crds() {
    let Some(upstream) = upstream_dir() else {
        skip(
            "every_upstream_example_upstream_accepts_is_accepted_by_our_crds",
            "../shared/upstream-skupper (upstream's CRDs and examples) is not on this machine",
        );
        return;
    };
    let Some(cluster) = Cluster::start() else { return };
    let env = Env::new("kube-upstream");
    let ns = cluster.create_namespace();
    let mut examples: Vec<PathBuf> =
        std::fs::read_dir(upstream.join("inputs")).unwrap().flatten().map(|e| e.path()).collect();
    examples.sort();

    // Upstream's CRDs first: which examples does upstream itself accept?
    for crd in upstream_crds(&upstream) {
        // --validate=false: kubectl would check upstream's CEL rules against the 1.20 schema of
        // CRDs, which has no such field (the server itself drops them).
        cluster.kubectl_ok(&["apply", "--validate=false", "-f", crd.to_str().unwrap()], "");
    }
    cluster.kubectl_ok(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"], "");
    let mut accepted = Vec::new();
    let mut other_kinds = Vec::new();
    for f in &examples {
        let text = std::fs::read_to_string(f).unwrap();
        if !dry_run(&cluster, &ns, &text).succeeded() {
            continue;
        }
        let ours = documents(&text)
            .iter()
            .all(|d| d["apiVersion"] == "v1" || OUR_KINDS.contains(&d["kind"].as_str().unwrap_or_default()));
        if ours { accepted.push((f.clone(), text)) } else { other_kinds.push(f.clone()) }
    }
    for crd in upstream_crds(&upstream) {
        cluster.kubectl_ok(&["delete", "-f", crd.to_str().unwrap(), "--wait=true"], "");
    }

    // Then ours, in their place.
    ks(&env, &cluster, &["install"]).ok();
    let mut refused = Vec::new();
    for (f, text) in &accepted {
        let out = dry_run(&cluster, &ns, text);
        if !out.succeeded() {
            refused.push(format!("{}: {}", f.display(), out.stderr.trim()));
        }
    }
    assert!(refused.is_empty(), "examples upstream accepts that our CRDs refuse:\n{}", refused.join("\n"));
    let kinds: std::collections::BTreeSet<String> = accepted
        .iter()
        .flat_map(|(_, t)| documents(t))
        .filter_map(|d| d["kind"].as_str().map(str::to_string))
        .collect();
    for k in ["Site", "Link", "AccessGrant", "AccessToken", "Listener", "Connector"] {
        assert!(kinds.contains(k), "no accepted example of {k}: {kinds:?}");
    }
    eprintln!(
        "{} upstream examples of our kinds accepted by both; {} hold kinds this project does not define \
         (AttachedConnector, AttachedConnectorBinding, Certificate, MultiKeyListener, SecuredAccess)",
        accepted.len(),
        other_kinds.len()
    );
}

#[test]
fn objects_our_cli_writes_validate_against_upstreams_crds() {
    let Some(upstream) = upstream_dir() else {
        skip(
            "objects_our_cli_writes_validate_against_upstreams_crds",
            "../shared/upstream-skupper (upstream's CRDs) is not on this machine",
        );
        return;
    };
    let Some(cluster) = Cluster::start() else { return };
    for crd in upstream_crds(&upstream) {
        // --validate=false: kubectl would check upstream's CEL rules against the 1.20 schema of
        // CRDs, which has no such field (the server itself drops them).
        cluster.kubectl_ok(&["apply", "--validate=false", "-f", crd.to_str().unwrap()], "");
    }
    cluster.kubectl_ok(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"], "");
    let ns = cluster.create_namespace();

    // What the local platform's CLI writes: resource files, a token, `link generate`.
    let env = Env::new("kube-cli-objects");
    env.site_with_link_access("west");
    env.ns("west", &["token", "issue", "west.token", "--cost", "3"]).ok();
    env.ns("west", &["listener", "create", "backend", "9090"]).ok();
    env.ns("west", &["connector", "create", "backend", "8080", "--host", "127.0.0.1"]).ok();
    let generated = env.ns("west", &["link", "generate", "--cost", "2"]).ok().stdout;
    let mut texts = vec![generated, std::fs::read_to_string(env.work.join("west.token")).unwrap()];
    for f in env.resource_files("west") {
        texts.push(std::fs::read_to_string(env.home("west").join("input/resources").join(f)).unwrap());
    }
    let mut kinds = Vec::new();
    for t in &texts {
        let out = dry_run(&cluster, &ns, t);
        assert!(out.succeeded(), "upstream's CRDs refuse what our CLI wrote:\n{t}\n{out}");
        kinds.extend(documents(t).iter().filter_map(|d| d["kind"].as_str().map(str::to_string)));
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, ["AccessGrant", "AccessToken", "Connector", "Link", "Listener", "Secret", "Site"]);
}

#[test]
fn errors_say_what_to_do() {
    let Some(cluster) = Cluster::start() else { return };
    let env = Env::new("kube-errors");
    let ns = cluster.create_namespace();

    // No CRDs yet: the install hint, exit 1.
    let out = ks(&env, &cluster, &["-n", &ns, "link", "status"]).code(1);
    assert_eq!(
        out.stdout, "The Skupper CRDs are not yet installed. To install them, run\n\"kubectl skupper install\"\n",
        "{out}"
    );

    // A user without RBAC: the server's Forbidden text, what was refused, the role to ask for.
    cluster.kubectl_ok(&["create", "serviceaccount", "nobody", "-n", &ns], "");
    let token = cluster.kubectl_ok(&["create", "token", "nobody", "-n", &ns], "").stdout.trim().to_string();
    let admin = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let server = admin.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string();
    let ca = admin.lines().find_map(|l| l.trim().strip_prefix("certificate-authority-data: ")).unwrap().to_string();
    let kubeconfig = env.dir.join("nobody.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", \
             certificate-authority-data: {ca}}}}}]\nusers: [{{name: nobody, user: {{token: {token}}}}}]\n\
             contexts: [{{name: nobody, context: {{cluster: c, user: nobody, namespace: {ns}}}}}]\ncurrent-context: nobody\n"
        ),
    )
    .unwrap();
    let out = env.run_full(&["install"], None, &[("KUBECONFIG", kubeconfig.to_str().unwrap())]).code(1);
    assert!(out.stdout.contains("is forbidden"), "{out}");
    assert!(out.stdout.contains("You may not get customresourcedefinitions.apiextensions.k8s.io"), "{out}");
    ks(&env, &cluster, &["install"]).ok();
    let out = env.run_full(&["link", "status"], None, &[("KUBECONFIG", kubeconfig.to_str().unwrap())]).code(1);
    assert!(out.stdout.contains("You may not list sites.skupper.io in namespace"), "{out}");
    assert!(out.stdout.contains("skupper-edit"), "{out}");

    // The API server stopped: named, with its context, within 10 s.
    let kubeconfig = cluster.kubeconfig().to_path_buf();
    let copy = env.dir.join("admin.kubeconfig");
    std::fs::copy(&kubeconfig, &copy).unwrap();
    drop(cluster);
    let start = Instant::now();
    let out = env.run_full(&["-n", &ns, "link", "status"], None, &[("KUBECONFIG", copy.to_str().unwrap())]).code(1);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{out}");
    assert!(
        out.stdout.starts_with(&format!("cannot reach the Kubernetes API server {server} (context kube-test): ")),
        "{out}"
    );
    assert!(out.stdout.contains("check --context/--kubeconfig or use --platform local"), "{out}");
}
