//! The Link policy applies to the controller as it does to people: with the webhook registered on
//! a REAL kube-apiserver 1.20, a token whose Link breaks the policy is redeemed (the grant server
//! hands out the credential), but the API server refuses the Link the controller then creates,
//! with the policy's message; `token redeem` fails with that message, the AccessToken says it,
//! and no Link is stored. A token within the policy gives a Link that becomes Ready.
#![cfg(feature = "webhook")]
#![allow(missing_docs)]

mod kube_support;
mod webhook_support;

use std::time::{Duration, Instant};

use kube_support::{Kube, wait_ready};
use skupper_e2e::TempDir;
use webhook_support::{run, serve};

#[test]
fn a_redeemed_token_whose_link_breaks_the_policy_is_refused_by_the_api_server() {
    let Some(k) = Kube::start() else { return };
    let west = k.site("policy-west", true);
    let east = k.site("policy-east", false);

    let dir = TempDir::new("policy-settings");
    let settings = dir.path().join("settings.yaml");
    std::fs::write(&settings, "maxCost: 10\n").unwrap();
    let kubeconfig = k.cluster.kubeconfig().to_str().unwrap().to_string();
    let server = serve(&["--settings", settings.to_str().unwrap(), "--links-from", &kubeconfig]);
    let url = format!("https://{}/validate", server.addr);
    let (code, manifest, err) =
        run(&["webhook", "manifest", "--url", &url, "--ca-bundle", server.pki.ca.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    k.cluster.kubectl_ok(&["apply", "-f", "-"], &manifest);
    // Registered once the API server calls it: a dry run of a costly Link is refused.
    let probe = format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: probe\n  namespace: {}\n\
         spec:\n  cost: 50\n  endpoints:\n  - {{name: inter-router, host: 127.0.0.1, port: \"55671\"}}\n",
        east.ns
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !k.cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], &probe).stderr.contains("denied the request") {
        assert!(Instant::now() < deadline, "the webhook was never called");
        std::thread::sleep(Duration::from_millis(200));
    }

    let message = "cost 50 is above the policy maximum 10";
    let costly = west.issue("costly.yaml", &["--cost", "50"]);
    let out = east.ks(&["token", "redeem", costly.to_str().unwrap(), "--timeout", "60s"]);
    // Upstream's CLI prints its errors on standard output, and so does this one.
    assert_eq!(out.code, 1, "the redemption of a Link the policy refuses did not fail:\n{out}");
    assert!(
        out.stdout.contains("denied the request") && out.stdout.contains(message),
        "the policy's message is not in the CLI's error:\n{out}"
    );
    let tokens = k.get(&east.ns, "accesstokens");
    assert!(tokens.to_string().contains(message), "the AccessToken does not say why: {tokens}");
    let links = k.get(&east.ns, "links");
    assert_eq!(links["items"], serde_json::json!([]), "a refused Link was stored");

    let cheap = west.issue("cheap.yaml", &["--cost", "5"]);
    let ok = east.ks(&["token", "redeem", cheap.to_str().unwrap()]).ok();
    let links = k.get(&east.ns, "links");
    let name = links["items"][0]["metadata"]["name"].as_str().unwrap_or_else(|| panic!("{ok}\n{links}")).to_string();
    let link = wait_ready(&k, &east, "link", &name);
    assert_eq!(link["spec"]["cost"], 5);

    drop(server);
}
