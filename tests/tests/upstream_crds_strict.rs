//! Everything this CLI prints or stores for upstream's kinds validates against upstream's CRDs
//! strictly (unknown fields are errors, as under `fieldValidation=Strict`): resource files,
//! the status files a running site writes, `... status -o yaml` of running and of stopped sites,
//! issued tokens and generated Links. Upstream's CRDs are read from `../shared/upstream-skupper`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use serde_json::Value;
use skupper_e2e::crd::{Schemas, documents};
use skupper_e2e::{Env, echo_once, echo_server, skip, wait_for};

/// Checks every document of `text` that upstream's CRDs cover; returns the kinds checked.
fn check_all(schemas: &Schemas, what: &str, text: &str, problems: &mut Vec<String>) -> Vec<String> {
    let mut n = Vec::new();
    for doc in documents(text) {
        if !schemas.covers(&doc) {
            continue;
        }
        n.push(doc["kind"].as_str().unwrap_or_default().to_string());
        for v in schemas.violations(&doc) {
            problems.push(format!("{what} ({} {}): {v}", doc["kind"], doc["metadata"]["name"]));
        }
    }
    n
}

/// The stored resources of `ns` with their status files (as the running site wrote them) merged in.
fn stored(env: &Env, ns: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let home = env.home(ns);
    for f in env.resource_files(ns) {
        let text = std::fs::read_to_string(home.join("input/resources").join(&f)).unwrap();
        out.push((format!("{ns}: input/resources/{f}"), text.clone()));
        let status_file = home.join("runtime/status").join(&f);
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let mut doc: Value = serde_yaml::from_str(&text).unwrap();
            doc["status"] = serde_yaml::from_str(&status).unwrap();
            out.push((format!("{ns}: runtime/status/{f}"), serde_yaml::to_string(&doc).unwrap()));
        }
    }
    out
}

#[test]
fn what_the_cli_prints_and_stores_validates_strictly_against_upstreams_crds() {
    let Some(schemas) = Schemas::upstream() else {
        skip(
            "what_the_cli_prints_and_stores_validates_strictly_against_upstreams_crds",
            "../shared/upstream-skupper (upstream's CRDs) is not on this machine",
        );
        return;
    };
    let env = Env::new("strict-crds");
    let backend = echo_server("127.0.0.1");
    // Three distinct free ports (held together while chosen).
    let held: Vec<std::net::TcpListener> =
        (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let ports: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
    drop(held);
    let (port, lonely_port, mkl_port) = (ports[0], ports[1].to_string(), ports[2].to_string());
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("west", &["token", "issue", "west.token", "--cost", "3"]).ok();
    env.ns("east", &["listener", "create", "backend", &port.to_string()]).ok();
    env.ns("west", &["connector", "create", "backend", &backend.to_string(), "--host", "127.0.0.1"]).ok();
    // A listener nothing serves and a link that cannot work: statuses that are not Ready too.
    env.ns("west", &["listener", "create", "lonely", &lonely_port]).ok();
    env.ns("east", &["multikeylistener", "create", "front", &mkl_port, "--priority-keys", "nowhere,backend"]).ok();

    let mut problems = Vec::new();
    let mut checked = std::collections::BTreeSet::new();
    let stopped_views = |env: &Env, problems: &mut Vec<String>, checked: &mut std::collections::BTreeSet<String>| {
        for ns in ["west", "east"] {
            for cmd in ["site", "link", "listener", "connector", "multikeylistener"] {
                let out = env.ns(ns, &[cmd, "status", "-o", "yaml"]);
                checked.extend(check_all(
                    &schemas,
                    &format!("{ns}: {cmd} status -o yaml (stopped)"),
                    &out.stdout,
                    problems,
                ));
            }
        }
    };
    stopped_views(&env, &mut problems, &mut checked);

    let west = env.start("west");
    env.ns("east", &["token", "redeem", "west.token"]).ok();
    let east = env.start("east");
    wait_for("the link east -> west to be Ready", Duration::from_secs(30), || {
        let out = env.ns("east", &["link", "status"]);
        if out.stdout.contains("Ready") { Ok(()) } else { Err(out.to_string()) }
    });
    wait_for("bytes through east's listener", Duration::from_secs(30), || echo_once("127.0.0.1", port, "hi"));
    // Statuses are written every second: let them catch up with the traffic.
    std::thread::sleep(Duration::from_millis(2500));

    for ns in ["west", "east"] {
        for cmd in ["site", "link", "listener", "connector", "multikeylistener"] {
            let out = env.ns(ns, &[cmd, "status", "-o", "yaml"]);
            checked.extend(check_all(&schemas, &format!("{ns}: {cmd} status -o yaml"), &out.stdout, &mut problems));
        }
        for (what, text) in stored(&env, ns) {
            checked.extend(check_all(&schemas, &what, &text, &mut problems));
        }
    }
    let generated = env.ns("west", &["link", "generate", "--cost", "2"]).ok().stdout;
    checked.extend(check_all(&schemas, "link generate", &generated, &mut problems));
    for args in [
        &["site", "generate", "north", "--enable-link-access"][..],
        &["listener", "generate", "front", "9191", "-r", "k", "--tls-credentials", "front-tls"],
        &["connector", "generate", "back", "8181", "-r", "k", "--host", "localhost", "--type", "tcp"],
    ] {
        let out = env.ns("west", args).ok().stdout;
        checked.extend(check_all(&schemas, &args[..2].join(" "), &out, &mut problems));
    }
    let token = std::fs::read_to_string(env.work.join("west.token")).unwrap();
    checked.extend(check_all(&schemas, "token issue", &token, &mut problems));

    env.ns("east", &["system", "stop"]).ok();
    env.ns("west", &["system", "stop"]).ok();
    wait_for("both sites to stop", Duration::from_secs(20), || {
        if skupper_e2e::site_process_alive(west) || skupper_e2e::site_process_alive(east) {
            Err("still running".to_string())
        } else {
            Ok(())
        }
    });
    stopped_views(&env, &mut problems, &mut checked);

    assert!(problems.is_empty(), "not valid under upstream's CRDs:\n{}", problems.join("\n"));
    // Every kind this CLI writes was seen: the checks above covered something real.
    let kinds: Vec<&str> = checked.iter().map(String::as_str).collect();
    assert_eq!(kinds, ["AccessGrant", "AccessToken", "Connector", "Link", "Listener", "MultiKeyListener", "Site"]);
}
