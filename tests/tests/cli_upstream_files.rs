//! Files and habits as upstream Skupper has them, on the local platform: selector-only
//! Connectors refused with upstream's text, `connector create` aiming at `localhost` by default
//! and `-r` for `--routing-key`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use skupper_e2e::{Env, echo_once, echo_server, wait_for};

/// Upstream's example files (data only, not in this repository), when on this machine.
fn upstream_inputs(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper/inputs");
    if dir.is_dir() {
        return Some(dir);
    }
    skupper_e2e::skip(test, "../shared/upstream-skupper (upstream's example files) is not on this machine");
    None
}

/// The upstream example file whose name starts with `prefix` (`009-`).
fn upstream_file(dir: &Path, prefix: &str) -> String {
    let f = std::fs::read_dir(dir).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with(prefix));
    f.unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display())).path().to_string_lossy().into_owned()
}

/// A free port on `ip` (bound then released).
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[test]
fn selector_only_connectors_are_refused_with_upstreams_text() {
    let env = Env::new("upstream-selector");
    env.ns("west", &["site", "create", "west"]).ok();
    let file = "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata: {name: backend}\n\
                spec: {routingKey: backend, port: 8080, selector: app=backend}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(file)).code(1);
    assert_eq!(
        out.stdout,
        "Connector \"backend\": connector host and port are required: spec.selector (app=backend) needs the \
         kubernetes platform (pods); on a host, give spec.host\nNothing was applied.\n",
        "{out}"
    );
    assert!(!env.resource("west", "Connector", "backend").exists());
    // With a host, the selector is not what the connector uses: accepted.
    let both = file.replace("selector: app=backend", "selector: app=backend, host: 127.0.0.1");
    env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&both)).ok();
    // The command says it the same way.
    let out = env.ns("west", &["connector", "create", "db", "5432", "--selector", "app=db"]).code(2);
    assert_eq!(
        out.stdout,
        "connector host and port are required: --selector needs the kubernetes platform (pods); on a host, give --host\n",
        "{out}"
    );
    // Upstream's own selector-only example.
    let Some(dir) = upstream_inputs("selector_only_connectors_are_refused_with_upstreams_text") else { return };
    let f = upstream_file(&dir, "003-");
    let out = env.ns("west", &["system", "apply", "-f", &f]).code(1);
    assert!(out.stdout.contains("connector host and port are required"), "{out}");
}

#[test]
fn connector_create_aims_at_localhost_and_r_names_the_routing_key() {
    let env = Env::new("upstream-localhost");
    env.ns("west", &["site", "create", "west"]).ok();
    // The backend listens on 127.0.0.1 only: `localhost` reaches it.
    let backend = echo_server("127.0.0.1");
    let front = free_port(&env.ip);
    let (b, f) = (backend.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "backend", &b, "-r", "echo"]).ok();
    env.ns("west", &["listener", "create", "front", &f, "-r", "echo", "--host", &env.ip]).ok();
    let c = env.yaml(&env.resource("west", "Connector", "backend"));
    assert_eq!((c["spec"]["host"].as_str(), c["spec"]["routingKey"].as_str()), (Some("localhost"), Some("echo")));
    let l = env.yaml(&env.resource("west", "Listener", "front"));
    assert_eq!(l["spec"]["routingKey"], "echo");
    env.start("west");
    wait_for("echo through localhost", Duration::from_secs(30), || {
        let got = echo_once(&env.ip, front, "hello localhost")?;
        if got == "hello localhost" { Ok(()) } else { Err(format!("got {got:?}")) }
    });
    let out = env.ns("west", &["connector", "status", "backend"]).ok();
    assert!(out.stdout.contains("Host:\t\t\tlocalhost"), "{out}");
}
