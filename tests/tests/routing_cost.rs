//! Cost-based routing between real site processes (reference §5): a local connector first and a
//! cost-99999 backup used only while the local target is down; two remote paths of cost 1 and 5
//! sharing long-lived connections exactly as §5.4 says; `link update --cost` rerouting new
//! connections while an old one keeps flowing. Proven by which backend answered and by the
//! counters of `network status -o json`.

mod routing_support;

use routing_support::{
    Conn, NameServer, free_port, link, listener, network, router, wait_counted, wait_link_ready, wait_listener_ready,
    wait_route,
};
use skupper_e2e::Env;

#[test]
fn local_connector_first_and_the_costly_remote_one_only_while_it_is_down() {
    let env = Env::new("route-backup");
    let mut local = NameServer::start(&env.ip, "local");
    let remote = NameServer::start(&env.ip, "remote");
    env.site_with_link_access("b");
    env.ns("a", &["site", "create", "a"]).ok();
    // The backup link's cost comes from the token (`token issue --cost`, AccessToken linkCost).
    env.ns("b", &["token", "issue", "tok.yaml", "--cost", "99999"]).ok();
    env.start("b");
    env.ns("a", &["token", "redeem", "tok.yaml"]).ok();
    let front = free_port(&env.ip);
    let (lp, rp, fp) = (local.port.to_string(), remote.port.to_string(), front.to_string());
    env.ns("b", &["connector", "create", "svc-b", &rp, "--routing-key", "svc", "--host", &env.ip]).ok();
    env.ns("a", &["connector", "create", "svc-a", &lp, "--routing-key", "svc", "--host", &env.ip]).ok();
    env.ns("a", &["listener", "create", "front", &fp, "--routing-key", "svc", "--host", &env.ip]).ok();
    env.start("a");
    wait_route(&env, "a", "b", 99999, "b", "svc");
    wait_listener_ready(&env, "a", "front");

    // Long-lived connections all go local: open + 0 stays below 0 + 99999.
    let mut held = Vec::new();
    for _ in 0..4 {
        let c = Conn::open(&env.ip, front).expect("connection");
        assert_eq!(c.who, "local");
        held.push(c);
    }
    let r = wait_counted(&env, "a", "front", 4);
    let a_id = routing_support::id_of(&r, "a").expect("a's id");
    let b_id = routing_support::id_of(&r, "b").expect("b's id");
    let l = listener(&r, "front");
    assert_eq!(l["routed"], serde_json::json!({ a_id.clone(): 4 }), "{l:#}");
    assert_eq!(l["openByNextHop"][&a_id], 4, "{l:#}");
    let reasons = &l["paths"][0]["reasons"];
    assert_eq!((&reasons["idle-local"], &reasons["lowest-score"]), (&1.into(), &3.into()), "{l:#}");

    // The local server goes down: new connections succeed through the remote one.
    local.stop();
    for _ in 0..2 {
        let c = Conn::open(&env.ip, front).expect("connection while the local server is down");
        assert_eq!(c.who, "remote");
        held.push(c);
    }
    let r = wait_counted(&env, "a", "front", 6);
    let l = listener(&r, "front");
    assert_eq!(l["routed"][&b_id], 2, "{l:#}");
    let to_b = l["paths"].as_array().and_then(|p| p.iter().find(|p| p["target"] == b_id.as_str())).expect("path to b");
    assert_eq!((&to_b["nextHop"], &to_b["reasons"]["failover"]), (&b_id.as_str().into(), &2.into()), "{l:#}");
    let last = &l["lastDecision"];
    assert_eq!(last["reason"], "failover", "{last:#}");
    assert!(last["failed"][0].as_str().is_some_and(|f| f.starts_with("connector svc-a:")), "{last:#}");
    // Explained in words too.
    let text = env.ns("a", &["listener", "status", "front"]).ok();
    assert!(text.stdout.contains("failover 2"), "{text}");
    assert!(text.stdout.contains("failover: a better target failed"), "{text}");

    // It comes back: new connections go local again.
    local.restart();
    let c = Conn::open(&env.ip, front).expect("connection after the local server is back");
    assert_eq!(c.who, "local");
    held.push(c);
    for c in &mut held {
        c.echo("still there").expect("every held connection still flows");
    }
}

#[test]
fn two_paths_of_cost_1_and_5_share_long_lived_connections_as_the_formula_says() {
    let env = Env::new("route-split");
    let cheap = NameServer::start(&env.ip, "cheap");
    let dear = NameServer::start(&env.ip, "dear");
    env.site_with_link_access("b");
    env.site_with_link_access("c");
    env.ns("a", &["site", "create", "a"]).ok();
    link(&env, "a", "b", 1);
    link(&env, "a", "c", 5);
    let front = free_port(&env.ip);
    let (bp, cp, fp) = (cheap.port.to_string(), dear.port.to_string(), front.to_string());
    env.ns("b", &["connector", "create", "svc", &bp, "--host", &env.ip]).ok();
    env.ns("c", &["connector", "create", "svc", &cp, "--host", &env.ip]).ok();
    env.ns("a", &["listener", "create", "front", &fp, "--routing-key", "svc", "--host", &env.ip]).ok();
    for s in ["b", "c", "a"] {
        env.start(s);
    }
    wait_route(&env, "a", "b", 1, "b", "svc");
    wait_route(&env, "a", "c", 5, "c", "svc");
    wait_listener_ready(&env, "a", "front");

    // N sequential long-lived connections: open + cost levels out (water-filling); ties go to
    // the cheaper path. Cheap takes 1..5 (scores 1..5 vs 5), then they alternate.
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(Conn::open(&env.ip, front).expect("connection"));
    }
    let answers: Vec<&str> = held.iter().map(|c| c.who.as_str()).collect();
    assert_eq!(answers, ["cheap", "cheap", "cheap", "cheap", "cheap", "dear", "cheap", "dear", "cheap", "dear"]);

    let r = wait_counted(&env, "a", "front", 10);
    let (b, c) = (routing_support::id_of(&r, "b").expect("b"), routing_support::id_of(&r, "c").expect("c"));
    let l = listener(&r, "front");
    assert_eq!(l["routed"], serde_json::json!({ b.clone(): 7, c.clone(): 3 }), "{l:#}");
    assert_eq!(l["openByNextHop"], serde_json::json!({ b.clone(): 7, c.clone(): 3 }), "{l:#}");
    // The 10th connection: b scored 7 open + cost 1 = 8, c 2 + 5 = 7.
    let last = &l["lastDecision"];
    assert_eq!((&last["target"], &last["reason"]), (&c.as_str().into(), &"lowest-score".into()), "{last:#}");
    let scores: Vec<(u64, u64, u64)> = last["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|x| {
            (x["open"].as_u64().unwrap_or(0), x["pathCost"].as_u64().unwrap_or(0), x["score"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(scores, [(7, 1, 8), (2, 5, 7)]);
    let text = env.ns("a", &["network", "status"]).ok();
    assert!(text.stdout.contains("lowest-score 7"), "{text}");
    assert!(text.stdout.contains("c via c (lowest open connections + path cost)"), "{text}");
    for conn in &mut held {
        conn.echo("ping").expect("held connection flows");
    }
}

#[test]
fn link_update_cost_reroutes_new_connections_and_keeps_old_ones() {
    let env = Env::new("route-update");
    let sb = NameServer::start(&env.ip, "b");
    let sc = NameServer::start(&env.ip, "c");
    env.site_with_link_access("b");
    env.site_with_link_access("c");
    env.ns("a", &["site", "create", "a"]).ok();
    let to_b = link(&env, "a", "b", 1);
    link(&env, "a", "c", 3);
    let front = free_port(&env.ip);
    let (bp, cp, fp) = (sb.port.to_string(), sc.port.to_string(), front.to_string());
    env.ns("b", &["connector", "create", "svc", &bp, "--host", &env.ip]).ok();
    env.ns("c", &["connector", "create", "svc", &cp, "--host", &env.ip]).ok();
    env.ns("a", &["listener", "create", "front", &fp, "--routing-key", "svc", "--host", &env.ip]).ok();
    for s in ["b", "c", "a"] {
        env.start(s);
    }
    wait_route(&env, "a", "b", 1, "b", "svc");
    wait_route(&env, "a", "c", 3, "c", "svc");
    wait_listener_ready(&env, "a", "front");

    let mut old = Conn::open(&env.ip, front).expect("first connection");
    assert_eq!(old.who, "b", "cost 1 beats cost 3");
    let mut second = Conn::open(&env.ip, front).expect("second connection");
    assert_eq!(second.who, "b", "1 open + 1 = 2 still beats 3");

    let out = env.ns("a", &["link", "update", &to_b, "--cost", "10"]).ok();
    assert_eq!(out.stdout, format!("Link {to_b:?} is updated\n"));
    // The running site applies it without reconnecting: the cost reaches both ends.
    wait_route(&env, "a", "b", 10, "b", "svc");
    skupper_e2e::wait_for("b sees the new cost of the incoming link", routing_support::SETTLE, || {
        let v = network(&env, "b");
        let cost = router(&v)["incoming"][0]["cost"].clone();
        if cost == 10 { Ok(()) } else { Err(format!("{v:#}")) }
    });
    wait_link_ready(&env, "a", &to_b);
    let new = Conn::open(&env.ip, front).expect("connection after the update");
    assert_eq!(new.who, "c", "0 open + 3 now beats 2 open + 10");
    old.echo("after the update").expect("the old connection keeps flowing over the same link");
    second.echo("after the update").expect("the second one too");
    let r = wait_counted(&env, "a", "front", 3);
    let link_state = &r["links"][&to_b];
    assert_eq!((&link_state["phase"], &link_state["cost"]), (&"Ready".into(), &10.into()), "{r:#}");
    let text = env.ns("a", &["network", "status"]).ok();
    assert!(text.stdout.contains(&to_b) && text.stdout.contains("Ready"), "{text}");
}
