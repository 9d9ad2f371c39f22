//! Links between real site processes: `link generate` + `system apply`, token links, status
//! output, update/delete, application traffic through a link, and recovery after restarts.

use std::time::Duration;

use skupper_e2e::{Env, echo_once, echo_server, free_port, golden, redact, wait_for};

const LINK_UP_SECS: u64 = 30;
const LINK_UP: Duration = Duration::from_secs(LINK_UP_SECS);
/// The longest reconnect delay of a link: the router's `Backoff::default().max` (checked
/// against its source by `reconnect_bound_follows_the_routers_backoff`). While its peer is down
/// a link retries ever less often; once the peer is back it reconnects within one such delay.
const LINK_BACKOFF_MAX_SECS: u64 = 5;
/// Bound for a link to come back after its peer restarted: one backoff delay, then [`LINK_UP`].
const RECONNECT: Duration = Duration::from_secs(LINK_BACKOFF_MAX_SECS + LINK_UP_SECS);

/// Waits until `ns`'s link `name` reports `Ready`.
fn wait_link_ready(env: &Env, ns: &str, name: &str) {
    wait_link_ready_within(env, ns, name, LINK_UP);
}

/// Waits until `ns`'s link `name` reports `Ready`, for at most `bound`.
fn wait_link_ready_within(env: &Env, ns: &str, name: &str, bound: Duration) {
    wait_for(&format!("link {name} of {ns} Ready"), bound, || {
        let out = env.ns(ns, &["link", "status", name]);
        if out.stdout.contains("Status\t: Ready") { Ok(()) } else { Err(format!("{out}\n{}", env.log(ns))) }
    });
}

/// west (link access) and east linked by a redeemed token; both running. Returns the link name.
fn linked_pair(env: &Env) -> String {
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("west", &["token", "issue", "tok.yaml"]).ok();
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    let name = env.yaml(&env.work.join("tok.yaml"))["metadata"]["name"].as_str().expect("name").to_string();
    env.start("east");
    wait_link_ready(env, "east", &name);
    name
}

#[test]
fn generated_link_applied_on_another_site_connects() {
    let env = Env::new("link-generate");
    env.ns("west", &["site", "create", "west"]).ok();
    let out = env.ns("west", &["link", "generate"]).code(1);
    assert_eq!(
        out.stdout,
        "A link cannot be generated because link access is not enabled. \n Use \"kubectl skupper site update --enable-link-access\" to enable it.\n"
    );
    env.ns("west", &["site", "update", "--enable-link-access", "--bind-host", &env.ip]).ok();

    let out = env.ns("west", &["link", "generate", "--cost", "3"]).ok();
    let docs: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(docs.len(), 2, "a Link, then the Secret:\n{}", out.stdout);
    let link: serde_json::Value = serde_yaml::from_str(docs[0]).expect("link yaml");
    let secret: serde_json::Value = serde_yaml::from_str(docs[1]).expect("secret yaml");
    assert_eq!(link["kind"], "Link");
    assert_eq!(link["metadata"]["name"], "link-west-skupper-router");
    assert_eq!(link["spec"]["cost"], 3);
    assert_eq!(link["spec"]["tlsCredentials"], "link-west");
    let roles: Vec<&str> =
        link["spec"]["endpoints"].as_array().expect("endpoints").iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(roles, ["inter-router", "edge"]);
    assert_eq!((secret["kind"].as_str(), secret["type"].as_str()), (Some("Secret"), Some("kubernetes.io/tls")));
    // JSON output is a stream of objects that `system apply` reads too.
    let json = env.ns("west", &["link", "generate", "-o", "json"]).ok();
    let n = serde_json::Deserializer::from_str(&json.stdout).into_iter::<serde_json::Value>().count();
    assert_eq!(n, 2, "{}", json.stdout);

    env.ns("east", &["site", "create", "east"]).ok();
    let out = env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&out.stdout)).ok();
    assert_eq!(
        out.stdout,
        "Link link-west-skupper-router added\nSecret link-west added\nCustom resources are applied.\n"
    );
    env.start("west");
    env.start("east");
    wait_link_ready(&env, "east", "link-west-skupper-router");
    let out = env.ns("east", &["link", "status", "link-west-skupper-router", "-o", "yaml"]).ok();
    let v: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("yaml");
    assert_eq!(v["status"]["remoteSiteName"], "west");
}

#[test]
fn link_status_outputs() {
    let env = Env::new("link-status");
    let name = linked_pair(&env);
    let table = env.ns("east", &["link", "status"]).ok();
    golden("link_status_table.txt", &redact(&table.stdout, &env));
    let detail = env.ns("east", &["link", "status", &name]).ok();
    golden("link_status_detail.txt", &redact(&detail.stdout, &env));
    // The issuing site shows the incoming link (upstream cannot, #2006).
    let west = wait_for("incoming link on west", LINK_UP, || {
        let out = env.ns("west", &["link", "status"]);
        if out.stdout.contains("Incoming links:") { Ok(out) } else { Err(out.to_string()) }
    });
    golden("link_status_incoming.txt", &redact(&west.stdout, &env));
    let out = env.ns("east", &["link", "status", "nope"]).code(1);
    assert_eq!(out.stdout, "There is no link resource in the namespace with the name \"nope\"\n");
    // Not running: Pending, Not Operational.
    env.ns("east", &["system", "stop"]).ok();
    let out = env.ns("east", &["link", "status"]).ok();
    golden("link_status_not_running.txt", &redact(&out.stdout, &env));
}

#[test]
fn link_update_and_delete() {
    let env = Env::new("link-update");
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let generated = env.ns("west", &["link", "generate"]).ok();
    env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&generated.stdout)).ok();
    let path = env.resource("east", "Link", "link-west-skupper-router");

    let out = env.ns("east", &["link", "update", "link-west-skupper-router", "--cost", "5"]).ok();
    assert_eq!(out.stdout, "Link \"link-west-skupper-router\" is updated\n");
    let link = env.yaml(&path);
    assert_eq!((link["spec"]["cost"].as_i64(), link["spec"]["tlsCredentials"].as_str()), (Some(5), Some("link-west")));
    let out = env.ns("east", &["link", "update", "link-west-skupper-router"]).code(2);
    assert_eq!(out.stdout, "nothing to update: give --cost, --tls-credentials and/or --proxy-configuration\n");
    let out = env.ns("east", &["link", "update", "link-west-skupper-router", "--tls-credentials", "nope"]).code(2);
    assert_eq!(out.stdout, "the TLS secret \"nope\" is not available in the namespace\n");
    assert_eq!(env.yaml(&path)["spec"]["cost"], 5, "a refused update changes nothing");

    let out = env.ns("east", &["link", "delete", "nope"]).code(2);
    assert_eq!(out.stdout, "the link \"nope\" is not available in the namespace\n");
    let out = env.ns("east", &["link", "delete", "link-west-skupper-router"]).ok();
    assert_eq!(out.stdout, "Link \"link-west-skupper-router\" is deleted\n");
    assert_eq!(
        env.resource_files("east"),
        ["Secret-link-west.yaml", "Site-east.yaml"],
        "the Secret stays, as upstream"
    );
    let out = env.ns("east", &["link", "status"]).ok();
    assert_eq!(out.stdout, "There are no link resources in the namespace\n");
}

#[test]
fn missing_secret_is_a_configuration_error() {
    let env = Env::new("link-nosecret");
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let generated = env.ns("west", &["link", "generate"]).ok();
    env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&generated.stdout)).ok();
    std::fs::remove_file(env.resource("east", "Secret", "link-west")).expect("remove secret");
    let out = env.ns("east", &["link", "status"]).ok();
    assert!(out.stdout.contains("Error\t1\tTLS credentials secret \"link-west\" not found"), "{out}");
    env.start("east");
    wait_for("status from the running site", LINK_UP, || {
        let out = env.ns("east", &["link", "status", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
        let configured = v["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Configured").cloned())
            .unwrap_or_default();
        if configured["message"] == "TLS credentials secret \"link-west\" not found" && configured["reason"] == "Error"
        {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
}

#[test]
fn traffic_through_the_link_and_recovery_after_restarts() {
    let env = Env::new("link-traffic");
    let name = linked_pair(&env);
    let backend = echo_server(&env.ip);
    let front = free_port(&env.ip);
    let (b, f) = (backend.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "backend", &b, "--routing-key", "echo", "--host", &env.ip]).ok();
    let out = env.ns("east", &["listener", "create", "front", &f, "--routing-key", "echo", "--host", &env.ip]).ok();
    assert_eq!(out.stdout, "Listener \"front\" is configured.\n");

    let through = |label: &str| {
        wait_for(&format!("echo through the link ({label})"), LINK_UP, || {
            let got = echo_once(&env.ip, front, "hello skupper")?;
            if got == "hello skupper" { Ok(()) } else { Err(format!("got {got:?}")) }
        })
    };
    through("first");
    wait_for("listener matched", LINK_UP, || {
        let out = env.ns("east", &["listener", "status"]);
        if out.stdout.contains("Ready") && out.stdout.contains("true") { Ok(()) } else { Err(out.to_string()) }
    });
    let out = env.ns("west", &["connector", "status", "backend", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("routingKey: echo"), "{out}");

    // Restart the linking site: it reconnects by itself.
    env.ns("east", &["system", "stop"]).ok();
    assert!(echo_once(&env.ip, front, "x").is_err(), "the listener is gone while east is stopped");
    env.start("east");
    wait_link_ready(&env, "east", &name);
    through("after east restarted");

    // Restart the linked-to site: the link comes back without any command on east, within one
    // (longest) backoff delay of east's retries.
    env.ns("west", &["system", "stop"]).ok();
    env.start("west");
    wait_link_ready_within(&env, "east", &name, RECONNECT);
    through("after west restarted");

    env.ns("east", &["listener", "delete", "front"]).ok();
    wait_for("listener closed after delete", LINK_UP, || match echo_once(&env.ip, front, "x") {
        Err(_) => Ok(()),
        Ok(_) => Err("still answering".into()),
    });
}

#[test]
fn link_through_an_http_connect_proxy() {
    let env = Env::new("link-proxy");
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let (proxy_port, seen) = skupper_e2e::connect_proxy(&env.ip);
    let generated = env.ns("west", &["link", "generate"]).ok();
    // The Link names a basic-auth Secret with the proxy's address (reference §4.1).
    let with_proxy =
        generated.stdout.replacen("spec:\n", "spec:\n  settings:\n    proxy-configuration: corp-proxy\n", 1);
    let proxy_secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: corp-proxy\ntype: kubernetes.io/basic-auth\nstringData:\n  host: {}\n  port: \"{proxy_port}\"\n",
        env.ip
    );
    let input = format!("{with_proxy}{proxy_secret}");
    env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&input)).ok();
    env.start("west");
    env.start("east");
    wait_link_ready(&env, "east", "link-west-skupper-router");
    let port = env.yaml(&env.home("west").join("runtime").join("ports.yaml"))["interRouter"].as_u64().expect("port");
    let targets = seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(targets.contains(&format!("{}:{port}", env.ip)), "the link went through the proxy: {targets:?}");
}

#[test]
fn reconnect_bound_follows_the_routers_backoff() {
    // RECONNECT above assumes the router's longest backoff delay; read it where it is defined.
    let path = skupper_e2e::repo_root().join("kubectl-plugin/router/src/backoff.rs");
    let text = std::fs::read_to_string(&path).expect("router/backoff.rs");
    let found = text
        .split("const MAX_DELAY: Duration = Duration::from_secs(")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert_eq!(
        found,
        Some(LINK_BACKOFF_MAX_SECS),
        "the router's longest backoff delay (MAX_DELAY in {}) is not LINK_BACKOFF_MAX_SECS: update the constant",
        path.display()
    );
}
