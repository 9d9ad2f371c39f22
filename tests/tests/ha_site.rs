//! High availability with real processes: an HA site runs two routers (groups skupper-router
//! and skupper-router-2); a token redeemed against it yields one Link per router, both Ready;
//! killing either router (SIGKILL, by pid) leaves the site working for new connections in both
//! directions (its connector, and its listener whose port both routers bind).

mod routing_support;

use std::time::Instant;

use routing_support::{Conn, NameServer, SETTLE, free_port, wait_link_ready, wait_listener_ready};
use skupper_e2e::{Env, wait_for};

fn kill(pid: u32) {
    let ok = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -KILL {pid}");
    wait_for(&format!("pid {pid} gone"), routing_support::SETTLE, || {
        if skupper_e2e::site_process_alive(pid) { Err("alive".into()) } else { Ok(()) }
    });
}

/// Kills a router of west and waits until east has noticed: its link `link` to that router is
/// no longer Ready (the link's connection dies with the process; east's router drops the routes
/// through it when it sees that, and its status, written every second, says so after).
fn kill_router(env: &Env, pid: u32, link: &str) {
    kill(pid);
    wait_for(&format!("east to notice that {link} is down"), SETTLE, || {
        let out = env.ns("east", &["link", "status", link]);
        if out.stdout.contains("Status\t: Ready") { Err(out.to_string()) } else { Ok(()) }
    });
}

/// New connections through east's listener reach west's backend, and through west's listener
/// reach east's backend. The first in each direction may be retried until [`SETTLE`] (a router
/// on a loaded machine may take a moment to act on a dead link), every failure named in the
/// message; the next three must then work on the first try.
fn both_directions_work(env: &Env, east_front: u16, west_front: u16, when: &str) {
    let attempt = |port: u16| -> Result<String, String> {
        let mut c = Conn::open(&env.ip, port)?;
        c.echo("hi")?;
        Ok(c.who)
    };
    for (dir, port, want) in
        [("east -> west", east_front, "west-backend"), ("west -> east", west_front, "east-backend")]
    {
        let deadline = Instant::now() + SETTLE;
        let mut failures = Vec::new();
        let who = loop {
            match attempt(port) {
                Ok(who) => break who,
                Err(e) if Instant::now() < deadline => {
                    failures.push(e);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => {
                    failures.push(e);
                    panic!(
                        "{dir} {when}: no connection within {SETTLE:?}; failures: {failures:#?}\n{}",
                        env.log("east")
                    )
                }
            }
        };
        assert_eq!(who, want, "{dir} {when} (after {} failed attempts: {failures:?})", failures.len());
        for i in 1..4 {
            let who = attempt(port).unwrap_or_else(|e| panic!("{dir} #{i} {when}, after a first success: {e}"));
            assert_eq!(who, want, "{dir} #{i} {when}");
        }
    }
}

#[test]
fn token_against_an_ha_site_gives_two_ready_links_and_either_router_can_die() {
    let env = Env::new("ha");
    let west_backend = NameServer::start(&env.ip, "west-backend");
    let east_backend = NameServer::start(&env.ip, "east-backend");
    let out =
        env.ns("west", &["site", "create", "west", "--enable-link-access", "--enable-ha", "--bind-host", &env.ip]);
    out.ok();
    let out = env.ns("west", &["system", "start"]).ok();
    let (w1, w2) = (env.pid("west").expect("first router"), env.pid2("west").expect("second router"));
    assert!(out.stdout.contains(&format!("Site \"west\" is running (pid {w1}).")), "{out}");
    assert!(out.stdout.contains(&format!("Router skupper-router-2 of site \"west\" is running (pid {w2}).")), "{out}");
    let status = env.ns("west", &["system", "status"]).ok();
    assert!(status.stdout.contains(&format!("Router skupper-router-2 is running (pid {w2}): OK.")), "{status}");

    // The site's endpoints list both groups, each with its own ports.
    let site = wait_for("west's status with endpoints of both groups", routing_support::SETTLE, || {
        let out = env.ns("west", &["site", "status", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
        let groups: Vec<&str> = v["status"]["endpoints"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["group"].as_str()).collect())
            .unwrap_or_default();
        if groups == ["skupper-router", "skupper-router", "skupper-router-2", "skupper-router-2"] {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    });
    assert_eq!(site["status"]["sitesInNetwork"], 1, "the two routers are one site: {site:#}");

    let (wb, eb) = (west_backend.port.to_string(), east_backend.port.to_string());
    let (east_front, west_front) = (free_port(&env.ip), free_port(&env.ip));
    let (ef, wf) = (east_front.to_string(), west_front.to_string());
    env.ns("west", &["connector", "create", "backend", &wb, "--routing-key", "to-west", "--host", &env.ip]).ok();
    env.ns("west", &["listener", "create", "wfront", &wf, "--routing-key", "to-east", "--host", &env.ip]).ok();

    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("west", &["token", "issue", "tok.yaml"]).ok();
    let out = env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    let tok = env.yaml(&env.work.join("tok.yaml"))["metadata"]["name"].as_str().expect("token name").to_string();
    let (l1, l2) = (format!("{tok}-1"), format!("{tok}-2"));
    assert_eq!(
        env.resource_files("east").iter().filter(|f| f.starts_with("Link-")).cloned().collect::<Vec<_>>(),
        [format!("Link-{l1}.yaml"), format!("Link-{l2}.yaml")],
        "{out}"
    );
    let link2 = env.yaml(&env.resource("east", "Link", &l2));
    assert_eq!(link2["spec"]["endpoints"][0]["group"], "skupper-router-2", "{link2:#}");
    env.ns("east", &["connector", "create", "backend", &eb, "--routing-key", "to-east", "--host", &env.ip]).ok();
    env.ns("east", &["listener", "create", "front", &ef, "--routing-key", "to-west", "--host", &env.ip]).ok();
    env.start("east");
    wait_link_ready(&env, "east", &l1);
    wait_link_ready(&env, "east", &l2);
    let table = env.ns("east", &["link", "status"]).ok();
    assert_eq!(table.stdout.matches("\tReady\t").count(), 2, "{table}");
    wait_listener_ready(&env, "east", "front");
    wait_listener_ready(&env, "west", "wfront");
    // Both of west's routers know both ways to east's connector before any router dies.
    wait_for("both west routers route to east", routing_support::SETTLE, || {
        let v = routing_support::network(&env, "west");
        let routers = v["routers"].as_array().cloned().unwrap_or_default();
        let ok = routers.len() == 2
            && routers.iter().all(|r| {
                r["network"].as_array().is_some_and(|n| {
                    n.iter().any(|n| n["name"] == "east" && n["reachable"] == true && n["connectors"][0] == "to-east")
                })
            });
        if ok { Ok(()) } else { Err(format!("{v:#}")) }
    });
    both_directions_work(&env, east_front, west_front, "with both routers");

    // The first router dies: the second keeps the site working.
    kill_router(&env, w1, &l1);
    both_directions_work(&env, east_front, west_front, "after killing skupper-router");
    // One router down: `system status` says which and fails (exit 1).
    let status = env.ns("west", &["system", "status"]).code(1);
    assert!(status.stdout.contains("Site \"west\" is not running."), "{status}");
    assert!(status.stdout.contains(&format!("Router skupper-router-2 is running (pid {w2})")), "{status}");

    // `system start` brings back only what is missing; then the second router dies.
    let out = env.ns("west", &["system", "start"]).ok();
    assert!(!out.stdout.contains("skupper-router-2"), "only the first router starts: {out}");
    let w1 = env.pid("west").expect("first router again");
    wait_link_ready(&env, "east", &l1);
    wait_for("west's first router routes to east again", routing_support::SETTLE, || {
        let v = routing_support::network(&env, "west");
        let r = routing_support::router(&v);
        let ok = r["group"] == "skupper-router"
            && r["network"].as_array().is_some_and(|n| n.iter().any(|n| n["name"] == "east" && n["reachable"] == true));
        if ok { Ok(()) } else { Err(format!("{v:#}")) }
    });
    kill_router(&env, w2, &l2);
    both_directions_work(&env, east_front, west_front, "after killing skupper-router-2");
    assert!(skupper_e2e::site_process_alive(w1));

    let out = env.ns("west", &["system", "stop"]).ok();
    assert_eq!(out.stdout, "Site \"west\" has stopped.\n");
    assert!(env.pid("west").is_none() && env.pid2("west").is_none());
}

#[test]
fn enable_ha_needs_link_access_and_toggles_the_second_group_of_endpoints() {
    let env = Env::new("ha-flags");
    let out = env.ns("west", &["site", "create", "west", "--enable-ha"]).code(2);
    assert_eq!(
        out.stdout,
        "--enable-ha needs link access on this platform (the two routers link through it): add --enable-link-access\n"
    );
    assert!(env.resource_files("west").is_empty(), "nothing written on bad input");
    env.site_with_link_access("west");
    let links = |env: &Env| -> Vec<String> {
        let out = env.ns("west", &["link", "generate"]).ok();
        out.stdout
            .split("---\n")
            .filter_map(|d| serde_yaml::from_str::<serde_json::Value>(d).ok())
            .filter(|v| v["kind"] == "Link")
            .filter_map(|v| v["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(links(&env), ["link-west-skupper-router"]);
    let out = env.ns("west", &["site", "update", "--enable-ha"]).ok();
    assert_eq!(out.stdout, "Site \"west\" is updated\n");
    let ports = env.yaml(&env.home("west").join("runtime").join("ports.yaml"));
    assert!(ports["ha"]["interRouter"].as_u64().is_some_and(|p| p != ports["interRouter"]), "{ports:#}");
    assert_eq!(env.yaml(&env.resource("west", "Site", "west"))["spec"]["ha"], true);
    assert_eq!(links(&env), ["link-west-skupper-router", "link-west-skupper-router-2"]);
    // Other updates leave HA alone; --enable-ha=false turns it off and drops the endpoints.
    env.ns("west", &["site", "update", "--endpoint-host", "127.0.0.1"]).ok();
    assert_eq!(links(&env).len(), 2);
    env.ns("west", &["site", "update", "--enable-ha=false"]).ok();
    assert_eq!(links(&env), ["link-west-skupper-router"]);
    assert!(env.yaml(&env.home("west").join("runtime").join("ports.yaml"))["ha"].is_null());
    let out = env.ns("west", &["system", "start", "--group", "skupper-router-2"]).code(2);
    assert!(out.stdout.starts_with("site \"west\" is not an HA site, so it has no router skupper-router-2"), "{out}");
}
