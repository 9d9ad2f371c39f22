//! A RouterAccess on the local platform is what the router listens on and what the site hands
//! out: its roles (only those), their ports and its `bindHost`; one without roles is refused with
//! the reason, as upstream's CRD requires them.
#![allow(missing_docs)]

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use skupper_e2e::crd::documents;
use skupper_e2e::{Env, free_port, wait_for};

fn endpoints(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (e["name"].as_str().unwrap_or_default().to_string(), e["port"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn roles_ports_and_bind_host_of_a_router_access_are_what_the_site_listens_on_and_hands_out() {
    let env = Env::new("router-access");
    env.site_with_link_access("west");
    let port = free_port(&env.ip);
    let ra = format!(
        "apiVersion: skupper.io/v2alpha1\nkind: RouterAccess\nmetadata: {{name: west-access}}\n\
         spec:\n  roles:\n  - {{name: inter-router, port: {port}}}\n  bindHost: {ip}\n  tlsCredentials: skupper-site-server\n  \
         generateTlsCredentials: true\n",
        ip = env.ip
    );
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&ra)).ok();
    assert!(out.stdout.contains(&format!("Link access: inter-router {port} on {}", env.ip)), "{out}");

    // What the site hands out: the inter-router role on that port, no edge endpoint.
    let want = vec![("inter-router".to_string(), port.to_string())];
    let site = &documents(&env.ns("west", &["site", "status", "-o", "yaml"]).ok().stdout)[0];
    assert_eq!(endpoints(&site["status"]["endpoints"]), want, "{site}");
    let generated = documents(&env.ns("west", &["link", "generate"]).ok().stdout);
    assert_eq!(endpoints(&generated[0]["spec"]["endpoints"]), want);

    // What it listens on: a token redeemed on east links through that port.
    env.start("west");
    wait_for("the RouterAccess port to listen", Duration::from_secs(20), || {
        TcpStream::connect((env.ip.as_str(), port)).map(drop).map_err(|e| e.to_string())
    });
    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("west", &["token", "issue", "tok.yaml"]).ok();
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    let link = env.resource_files("east").into_iter().find(|f| f.starts_with("Link-")).expect("a Link");
    let stored = env.yaml(&env.home("east").join("input/resources").join(&link));
    assert_eq!(endpoints(&stored["spec"]["endpoints"]), want);
    env.start("east");
    wait_for("the link through the RouterAccess port to be Ready", Duration::from_secs(30), || {
        let out = env.ns("east", &["link", "status"]);
        if out.stdout.contains("Ready") { Ok(()) } else { Err(format!("{out}\n{}", env.log("west"))) }
    });
    // The edge role is not listed: its port (still allocated) has no listener.
    let ports: Value =
        serde_yaml::from_str(&std::fs::read_to_string(env.home("west").join("runtime/ports.yaml")).unwrap()).unwrap();
    let edge = ports["edge"].as_u64().unwrap() as u16;
    assert!(TcpStream::connect((env.ip.as_str(), edge)).is_err(), "something listens on the edge port {edge}");
}

#[test]
fn a_router_access_without_roles_or_with_unknown_ones_is_refused_and_nothing_is_written() {
    let env = Env::new("router-access-bad");
    env.site_with_link_access("west");
    let files_before = env.resource_files("west");
    let ports_before = std::fs::read_to_string(env.home("west").join("runtime/ports.yaml")).unwrap();
    let no_roles =
        "apiVersion: skupper.io/v2alpha1\nkind: RouterAccess\nmetadata: {name: a}\nspec: {issuer: default}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(no_roles)).code(1);
    assert!(
        out.stdout.starts_with("RouterAccess \"a\": spec.roles is required: list the roles to listen for"),
        "{out}"
    );
    assert!(out.stdout.ends_with("Nothing was applied.\n"), "{out}");
    let bad = "apiVersion: skupper.io/v2alpha1\nkind: RouterAccess\nmetadata: {name: a}\n\
               spec: {roles: [{name: inter-router}, {name: grant}, {name: inter-router}]}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(bad)).code(1);
    assert!(out.stdout.contains("spec.roles[1].name \"grant\" is not a role: use inter-router or edge"), "{out}");
    assert!(out.stdout.contains("spec.roles[2]: role \"inter-router\" is listed twice"), "{out}");
    assert_eq!(env.resource_files("west"), files_before);
    assert_eq!(std::fs::read_to_string(env.home("west").join("runtime/ports.yaml")).unwrap(), ports_before);

    // A port another site on this host has for its link access: refused before anything is written.
    env.site_with_link_access("east");
    let east: Value =
        serde_yaml::from_str(&std::fs::read_to_string(env.home("east").join("runtime/ports.yaml")).unwrap()).unwrap();
    let taken = east["interRouter"].as_u64().unwrap();
    let clash = format!(
        "apiVersion: skupper.io/v2alpha1\nkind: RouterAccess\nmetadata: {{name: a}}\nspec: {{roles: [{{name: inter-router, port: {taken}}}]}}\n"
    );
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&clash)).code(1);
    assert!(
        out.stdout
            .contains(&format!("port {taken} of role inter-router is the link access of another site on this host")),
        "{out}"
    );
    assert_eq!(env.resource_files("west"), files_before);
    assert_eq!(std::fs::read_to_string(env.home("west").join("runtime/ports.yaml")).unwrap(), ports_before);

    // One per site: a second is refused, naming the first.
    let one =
        "apiVersion: skupper.io/v2alpha1\nkind: RouterAccess\nmetadata: {name: one}\nspec: {roles: [{name: edge}]}\n";
    env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(one)).ok();
    let two = one.replace("name: one", "name: two");
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&two)).code(1);
    assert!(out.stdout.contains("namespace west already has RouterAccess \"one\""), "{out}");
    // Deleting it gives the site both roles back.
    let out = env.run_with_input(&["-n", "west", "system", "delete", "-f", "-"], Some(one)).ok();
    assert!(out.stdout.contains("Link access: inter-router "), "{out}");
    assert!(out.stdout.contains(", edge "), "{out}");

    // Upstream's own sample without roles.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper/inputs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        skupper_e2e::skip(
            "a_router_access_without_roles_or_with_unknown_ones_is_refused_and_nothing_is_written",
            "../shared/upstream-skupper (upstream's example files) is not on this machine",
        );
        return;
    };
    let sample = entries.flatten().find(|e| e.file_name().to_string_lossy().starts_with("014-")).unwrap().path();
    let out = env.ns("west", &["system", "apply", "-f", sample.to_str().unwrap()]).code(1);
    assert!(out.stdout.contains("spec.roles is required"), "{out}");
}
