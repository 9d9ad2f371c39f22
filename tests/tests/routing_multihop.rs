//! Multi-hop routing between real site processes: a listener on A reaches a connector on C
//! through B (A and C are not linked); when B goes away, new connections take the other path
//! A–D–C whatever its cost.

mod routing_support;

use routing_support::{Conn, NameServer, free_port, id_of, link, wait_counted, wait_listener_ready, wait_route};
use skupper_e2e::Env;

#[test]
fn a_b_c_transit_and_failover_to_a_d_c_when_b_goes_away() {
    let env = Env::new("route-multihop");
    let backend = NameServer::start(&env.ip, "c");
    for s in ["b", "c", "d"] {
        env.site_with_link_access(s);
    }
    env.ns("a", &["site", "create", "a"]).ok();
    link(&env, "a", "b", 1);
    link(&env, "b", "c", 1);
    link(&env, "a", "d", 3);
    link(&env, "d", "c", 1);
    let front = free_port(&env.ip);
    let (cp, fp) = (backend.port.to_string(), front.to_string());
    env.ns("c", &["connector", "create", "svc", &cp, "--host", &env.ip]).ok();
    env.ns("a", &["listener", "create", "front", &fp, "--routing-key", "svc", "--host", &env.ip]).ok();
    for s in ["c", "b", "d", "a"] {
        env.start(s);
    }
    // A knows C only through link state flooded by B and D: path cost 1 + 1 via B.
    let v = wait_route(&env, "a", "c", 2, "b", "svc");
    let r = routing_support::router(&v);
    let c_node = r["network"].as_array().and_then(|n| n.iter().find(|n| n["name"] == "c")).expect("c");
    assert_eq!(c_node["hops"], 2, "{c_node:#}");
    wait_listener_ready(&env, "a", "front");

    let mut through_b = Conn::open(&env.ip, front).expect("connection through b");
    assert_eq!(through_b.who, "c");
    through_b.echo("transit").expect("bytes flow through b");
    let r = wait_counted(&env, "a", "front", 1);
    let (b, c, d) = (id_of(&r, "b").expect("b"), id_of(&r, "c").expect("c"), id_of(&r, "d").expect("d"));
    let paths = &r["listeners"]["front"]["paths"];
    assert_eq!((&paths[0]["target"], &paths[0]["nextHop"]), (&c.as_str().into(), &b.as_str().into()), "{r:#}");
    // B forwards it: B's own view routes to C directly.
    let vb = routing_support::network(&env, "b");
    let rb = routing_support::router(&vb);
    let c_from_b = rb["network"].as_array().and_then(|n| n.iter().find(|n| n["name"] == "c")).expect("c from b");
    assert_eq!((&c_from_b["cost"], &c_from_b["nextHop"]), (&1.into(), &c.as_str().into()), "{rb:#}");

    // B goes away: A's routes converge on A-D-C (cost 3 + 1) and new connections take it.
    env.ns("b", &["system", "stop"]).ok();
    wait_route(&env, "a", "c", 4, "d", "svc");
    let mut through_d = Conn::open(&env.ip, front).expect("connection through d");
    assert_eq!(through_d.who, "c");
    through_d.echo("other path").expect("bytes flow through d");
    let r = wait_counted(&env, "a", "front", 2);
    let via_d = r["listeners"]["front"]["paths"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["nextHop"] == d.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!((&via_d["target"], &via_d["connections"]), (&c.as_str().into(), &1.into()), "{r:#}");
    let text = env.ns("a", &["network", "status"]).ok();
    assert!(text.stdout.contains("c via d (lowest open connections + path cost)"), "{text}");
}
