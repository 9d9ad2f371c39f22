//! The controller as a cluster runs it, on the REAL kube-apiserver 1.20 (no kubelet here, so the
//! test plays the kubelet and the cloud's load balancer): `kubectl skupper install`, the printed
//! `controller manifest` applied with kubectl, the ServiceAccount's token minted by TokenRequest,
//! the image built by `scripts/image.sh` and unpacked with umoci, and the Deployment's exact
//! command, args, env, user, read-only root and `/tmp` volume (read back from the API server) run
//! under `chroot` in a mount namespace of their own, with the in-cluster environment.
//!
//! What this proves: the image is self-contained, the in-cluster client configuration works, the
//! printed RBAC is enough (and enforced: a rule taken away shows as Forbidden in the controller's
//! log), and the labels, args and env of the manifest are the ones the code expects. A token of
//! that in-cluster site is redeemed by a host-mode controller in another namespace; the Link is
//! Ready and bytes flow both ways, to a Connector that selects a Pod by label and from a Listener
//! behind a Service the controller made.
//!
//! Root only (chroot, mount namespaces), with umoci (`scripts/install-test-deps.sh`): otherwise a
//! counted skip with the reason.
#![allow(missing_docs)]

mod incluster_support;
mod kube_support;

use std::path::Path;
use std::process::Command;

use incluster_support::{Pod, image_rootfs, is_root, load_balancer, pod_running, run_pod};
use kube_support::{Kube, SETTLE, status_of, wait_ready};
use serde_json::{Value, json};
use skupper_e2e::{Env, echo_once, echo_server, skip, wait_for};

const TEST: &str = "kube_incluster::the_printed_deployment_runs_from_the_image_and_links_with_a_host_site";

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn the_printed_deployment_runs_from_the_image_and_links_with_a_host_site() {
    if !is_root() {
        return skip(TEST, "chroot and mount namespaces need root");
    }
    let Some(k) = Kube::start() else { return };
    let work = Env::new("incluster");
    let rootfs = match image_rootfs(&work.dir.join("image")) {
        Ok(r) => r,
        Err(reason) => return skip(TEST, &format!("the image cannot be built here: {reason}")),
    };

    // The manifest as printed, applied by kubectl, read back as the API server keeps it.
    let west = k.cluster.create_namespace();
    let printed = k.ks(&k.env, &["-n", &west, "controller", "manifest"]).ok();
    k.cluster.kubectl_ok(&["apply", "-f", "-"], &printed.stdout);
    let deployment = k.get(&west, "deployment/skupper-controller");
    let spec = deployment["spec"]["template"]["spec"].clone();
    let container = spec["containers"][0].clone();
    let account = spec["serviceAccountName"].as_str().unwrap();
    let token = k.cluster.kubectl_ok(&["create", "token", account, "-n", &west], "").stdout.trim().to_string();

    // The ServiceAccount's token has only what the RoleBinding gives: not another namespace.
    let other = k.cluster.create_namespace();
    let as_sa = |args: &[&str]| {
        let mut all = vec!["--token", token.as_str()];
        all.extend_from_slice(args);
        k.cluster.kubectl(&all, "")
    };
    assert!(as_sa(&["get", "sites.skupper.io", "-n", &west]).succeeded());
    let denied = as_sa(&["get", "sites.skupper.io", "-n", &other]);
    assert!(!denied.succeeded() && denied.stderr.contains("Forbidden"), "{denied}");

    // The kubelet's part: the pod, and the controller in it.
    let pod = "skupper-controller-5d8f7b-emu";
    let labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    pod_running(&k.cluster, &west, pod, &labels, &work.ip);
    let pod_dir = work.dir.join("pod");
    let emulated = Pod { ns: &west, name: pod, ip: &work.ip, token: &token, dir: &pod_dir };
    let log = emulated.log();
    let mut controller = run_pod(&k.cluster, &emulated, &spec, &rootfs);
    wait_for("the in-cluster controller to take its Lease", SETTLE, || {
        let text = log_of(&log);
        if text.contains(&format!("runs namespace {west}")) { Ok(()) } else { Err(text) }
    });
    assert!(controller.alive(), "the controller exited:\n{}", log_of(&log));

    // Link access through a LoadBalancer Service: Pending until the cloud gives an address.
    let created = k.ks(&work, &["-n", &west, "site", "create", &west, "--enable-link-access", "--wait", "none"]);
    assert!(created.succeeded(), "{created}\n{}", log_of(&log));
    let svc = wait_for("Service skupper-router", SETTLE, || {
        let out = k.cluster.kubectl(&["get", "service", "skupper-router", "-n", &west, "-o", "json"], "");
        if out.succeeded() { Ok(serde_json::from_str::<Value>(&out.stdout).unwrap()) } else { Err(log_of(&log)) }
    });
    assert_eq!(svc["spec"]["type"], "LoadBalancer", "{svc}");
    assert_eq!(svc["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"], "{svc}");
    let mut ports: Vec<(String, i64)> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["port"].as_i64().unwrap()))
        .collect();
    ports.sort();
    assert_eq!(ports, [("edge".to_string(), 45671), ("grant-server".into(), 9090), ("inter-router".into(), 55671)]);
    let pending = wait_for("the site to wait for a load balancer address", SETTLE, || {
        let site = k.get(&west, &format!("site/{west}"));
        let (s, m) = status_of(&site);
        if s == "Pending" && m.contains("load balancer") { Ok(m) } else { Err(format!("{s}: {m}")) }
    });
    assert!(pending.contains("waiting for a load balancer address"), "{pending}");
    load_balancer(&k.cluster, &west, "skupper-router", &work.ip);
    let site = wait_for("the in-cluster site to be Ready", SETTLE, || {
        let site = k.get(&west, &format!("site/{west}"));
        if status_of(&site).0 == "Ready" { Ok(site) } else { Err(format!("{:?}\n{}", status_of(&site), log_of(&log))) }
    });
    let endpoints = site["status"]["endpoints"].to_string();
    assert!(endpoints.contains(&format!("\"host\":\"{}\"", work.ip)) && endpoints.contains("55671"), "{endpoints}");

    // The probes of the manifest answer on the pod's address.
    let health = container["readinessProbe"]["httpGet"]["port"].as_str().unwrap();
    let health_port =
        container["ports"].as_array().unwrap().iter().find(|p| p["name"] == health).unwrap()["containerPort"]
            .as_i64()
            .unwrap();
    for path in ["/readyz", "/livez"] {
        let url = format!("http://{}:{health_port}{path}", work.ip);
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", &url])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{url}: {}", String::from_utf8_lossy(&out.stderr));
    }

    // A host-mode site redeems the in-cluster site's token.
    let east = k.site("incluster-east", false);
    let token_file = work.work.join("west.token.yaml");
    k.ks(&work, &["-n", &west, "token", "issue", token_file.to_str().unwrap()]).ok();
    let redeemed = east.ks(&["token", "redeem", token_file.to_str().unwrap()]);
    assert!(redeemed.succeeded(), "{redeemed}\n{}", log_of(&log));
    let links = k.get(&east.ns, "links");
    let link_name =
        links["items"][0]["metadata"]["name"].as_str().unwrap_or_else(|| panic!("no Link: {links}")).to_string();
    wait_ready(&k, &east, "link", &link_name);

    // east listener -> west connector selecting a Pod that the kubelet (the test) reports Ready.
    let web = Env::new("incluster-web");
    let web_port = echo_server(&web.ip);
    pod_running(&k.cluster, &west, "web-0", &json!({"app": "web"}), &web.ip);
    let connector =
        k.ks(&work, &["-n", &west, "connector", "create", "web", &web_port.to_string(), "--selector", "app=web"]);
    assert!(connector.succeeded(), "{connector}\n{}", log_of(&log));
    let front = skupper_e2e::attack::free_port(&east.env.ip);
    east.ks(&["listener", "create", "web", &front.to_string(), "--host", "web"]).ok();
    wait_for("bytes from east through west to the selected pod", SETTLE, || {
        echo_once(&east.env.ip, front, "to the pod").and_then(|s| if s == "to the pod" { Ok(()) } else { Err(s) })
    });
    let connector = k.get(&west, "connector/web");
    assert_eq!(connector["status"]["selectedPods"][0]["name"], "web-0", "{connector}");

    // west listener (behind a Service the controller makes) -> east connector.
    let back = echo_server(&east.env.ip);
    east.ks(&["connector", "create", "back", &back.to_string(), "--host", &east.env.ip]).ok();
    let listen = skupper_e2e::attack::free_port(&work.ip);
    k.ks(&work, &["-n", &west, "listener", "create", "back", &listen.to_string(), "--host", "back"]).ok();
    let service = wait_for("the listener's Service", SETTLE, || {
        let out = k.cluster.kubectl(&["get", "service", "back", "-n", &west, "-o", "json"], "");
        if out.succeeded() { Ok(serde_json::from_str::<Value>(&out.stdout).unwrap()) } else { Err(log_of(&log)) }
    });
    assert_eq!(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"], "{service}");
    assert_eq!(service["spec"]["ports"][0]["port"], json!(listen), "{service}");
    wait_for("bytes from west's listener to east's connector", SETTLE, || {
        echo_once(&work.ip, listen, "from the pod").and_then(|s| if s == "from the pod" { Ok(()) } else { Err(s) })
    });

    // RBAC is the printed ClusterRole's: without the rule for Services, the controller says so.
    let role = k.get("default", "clusterrole/skupper-controller");
    let rules = role["rules"].as_array().unwrap();
    let i = rules.iter().position(|r| r["resources"].as_array().unwrap().iter().any(|x| x == "services")).unwrap();
    let patch = json!([{"op": "remove", "path": format!("/rules/{i}")}]);
    k.cluster.kubectl_ok(&["patch", "clusterrole", "skupper-controller", "--type=json", "-p", &patch.to_string()], "");
    let another = skupper_e2e::attack::free_port(&work.ip);
    k.ks(
        &work,
        &["-n", &west, "listener", "create", "denied", &another.to_string(), "--host", "denied", "--wait", "none"],
    )
    .ok();
    let refused = wait_for("the listener to report what RBAC refused", SETTLE, || {
        let l = k.get(&west, "listener/denied");
        let (s, m) = status_of(&l);
        if s != "Ready" && m.to_lowercase().contains("forbidden") {
            Ok(m)
        } else {
            Err(format!("{s}: {m}\n{}", log_of(&log)))
        }
    });
    assert!(refused.contains("services") && refused.contains(account), "{refused}");
    assert!(k.cluster.kubectl(&["get", "service", "denied", "-n", &west], "").stderr.contains("NotFound"));

    controller.stop();
}
