//! Sites of both platforms in one network: a Kubernetes namespace (run by a controller, against
//! a real kube-apiserver 1.20) and local sites (processes on this host) link in both directions,
//! with tokens and with generated Links, and carry bytes both ways.
#![allow(clippy::unwrap_used)]

mod kube_support;
mod proxy_support;
mod routing_support;

use kube_support::{Kube, SETTLE, wait_ready};
use proxy_support::{payload, round_trip};
use routing_support::free_port;
use serde_json::Value;
use skupper_e2e::{Env, echo_server, wait_for};

fn local_link_ready(env: &Env, ns: &str, name: &str) {
    wait_for(&format!("link {name} of local site {ns} to be Ready"), SETTLE, || {
        let out = env.ns(ns, &["link", "status", name, "-o", "json"]);
        let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
        if v["status"]["status"] == "Ready" { Ok(()) } else { Err(format!("{}", v["status"])) }
    });
}

fn token_name(path: &std::path::Path) -> String {
    let v: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["metadata"]["name"].as_str().unwrap().to_string()
}

#[test]
fn kubernetes_and_local_sites_link_both_ways_with_tokens_and_generated_links_and_carry_bytes_both_ways() {
    let Some(k) = Kube::start() else { return };
    let kube_a = k.site("kube-a", true);
    let kube_b = k.site("kube-b", true);
    let env = Env::new("cross-local");
    for site in ["la", "lb"] {
        env.ns(site, &["site", "create", site, "--enable-link-access", "--bind-host", &env.ip]).ok();
        env.start(site);
    }

    // Tokens: the Kubernetes site redeems a local token, the local site a Kubernetes token.
    env.ns("la", &["token", "issue", "la.token"]).ok();
    let local_token = env.work.join("la.token");
    kube_a.ks(&["token", "redeem", local_token.to_str().unwrap()]).ok();
    wait_ready(&k, &kube_a, "link", &token_name(&local_token));
    let kube_token = kube_a.issue("kube-a.token", &[]);
    env.ns("la", &["token", "redeem", kube_token.to_str().unwrap()]).ok();
    local_link_ready(&env, "la", &token_name(&kube_token));

    // Generated Links: the local site applies a Kubernetes site's, kubectl applies a local site's.
    let from_kube = kube_b.ks(&["link", "generate"]).ok().stdout;
    env.run_with_input(&["-n", "lb", "system", "apply", "-f", "-"], Some(&from_kube)).ok();
    local_link_ready(&env, "lb", &format!("link-{}-skupper-router", kube_b.ns));
    let from_local = env.ns("lb", &["link", "generate"]).ok().stdout;
    k.cluster.kubectl_ok(&["apply", "-n", &kube_b.ns, "-f", "-"], &from_local);
    wait_ready(&k, &kube_b, "link", "link-lb-skupper-router");

    // Bytes both ways: local backend behind a Kubernetes listener, and the reverse.
    let data = payload(256 << 10, 11);
    let local_backend = echo_server(&env.ip).to_string();
    env.ns("la", &["connector", "create", "to-local", &local_backend, "--host", &env.ip]).ok();
    let kube_port = free_port(&kube_a.env.ip);
    kube_a.ks(&["listener", "create", "to-local", &kube_port.to_string()]).ok();
    let kube_backend = echo_server(&kube_a.env.ip).to_string();
    kube_a.ks(&["connector", "create", "to-kube", &kube_backend, "--host", &kube_a.env.ip]).ok();
    let local_port = free_port(&env.ip);
    env.ns("la", &["listener", "create", "to-kube", &local_port.to_string(), "--host", &env.ip]).ok();
    for (ip, port, what) in
        [(&kube_a.env.ip, kube_port, "kubernetes to local"), (&env.ip, local_port, "local to kubernetes")]
    {
        let got = wait_for(&format!("a round trip {what}"), SETTLE, || round_trip(ip, port, &data[..16]));
        assert_eq!(got, &data[..16], "{what}");
        assert!(round_trip(ip, port, &data).unwrap() == data, "{what}: not byte-exact");
    }
}
