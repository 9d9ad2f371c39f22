//! In-process tests of the router: real routers on 127.0.0.1 (port 0), real TLS with fresh CAs,
//! real TCP servers behind the connectors. Readiness is awaited by polling status, bounded.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;
use crate::certs::{DEFAULT_VALIDITY, Issued, issue_client, issue_server, new_ca};

/// Upper bound for anything a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// A site's CA with a server certificate for 127.0.0.1/localhost and a client certificate.
struct Pki {
    server: Issued,
    client: Issued,
}

fn pki(name: &str) -> Pki {
    let ca = new_ca(&format!("{name} site CA"), DEFAULT_VALIDITY).unwrap();
    let hosts = ["127.0.0.1".to_string(), "localhost".to_string()];
    let server = issue_server(&ca, "skupper-router", &hosts, DEFAULT_VALIDITY).unwrap();
    let client = issue_client(&ca, &format!("client-{name}"), DEFAULT_VALIDITY).unwrap();
    Pki { server, client }
}

fn config(id: &str) -> RouterConfig {
    RouterConfig {
        site_id: format!("id-{id}"),
        site_name: id.to_string(),
        namespace: "ns".to_string(),
        group: "skupper-router".to_string(),
        link_access: None,
        links: BTreeMap::new(),
        listeners: BTreeMap::new(),
        connectors: BTreeMap::new(),
        multi_key_listeners: BTreeMap::new(),
        backoff: Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(250) },
    }
}

fn with_access(mut c: RouterConfig, p: &Pki) -> RouterConfig {
    c.link_access = Some(LinkAccessConfig {
        bind_host: "127.0.0.1".into(),
        inter_router_port: Some(0),
        edge_port: Some(0),
        tls: p.server.tls(),
    });
    c
}

fn link(remote: &Pki, port: u16, cost: u32) -> LinkConfig {
    LinkConfig { host: "127.0.0.1".into(), port, cost, tls: remote.client.tls(), proxy: None, config_error: None }
}

fn listener(key: &str) -> ListenerConfig {
    ListenerConfig { routing_key: key.into(), host: "127.0.0.1".into(), port: 0, tls: None, config_error: None }
}

fn connector(key: &str, port: u16) -> ConnectorConfig {
    ConnectorConfig { routing_key: key.into(), host: "127.0.0.1".into(), port, tls: None, config_error: None }
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Polls `router`'s status until `f` returns something.
async fn wait_for<T>(what: &str, router: &Router, f: impl Fn(&RouterStatus) -> Option<T>) -> T {
    let poll = async {
        loop {
            if let Some(v) = f(&router.status()) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match tokio::time::timeout(PATIENCE, poll).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}; status: {:#?}", router.status()),
    }
}

fn access_port(r: &Router) -> u16 {
    r.status().link_access_ports.expect("link access bound").inter_router
}

async fn listener_port(r: &Router, name: &str) -> u16 {
    wait_for("listener bound", r, |s| s.listeners.get(name).and_then(|l| l.port)).await
}

async fn wait_ready(r: &Router, link: &str) -> LinkState {
    wait_for(&format!("link {link} ready"), r, |s| s.links.get(link).filter(|l| l.phase == LinkPhase::Ready).cloned())
        .await
}

async fn wait_matched(r: &Router, name: &str) {
    wait_for(&format!("listener {name} matched"), r, |s| s.listeners.get(name).filter(|l| l.matched).map(|_| ())).await
}

/// An echo server: writes back what it reads, then closes its side after the client's EOF.
async fn echo_server() -> (u16, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    (port, task)
}

/// A server that says its name on connect, then keeps the connection until the client closes.
async fn name_server(name: &'static str) -> (u16, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let _ = s.write_all(format!("{name}\n").as_bytes()).await;
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            });
        }
    });
    (port, task)
}

/// Connects to a listener and reads the name line of the server that answered.
async fn who_answers(port: u16) -> (String, TcpStream) {
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    bounded("a server's name", r.read_line(&mut line)).await.unwrap();
    (line.trim().to_string(), r.into_inner())
}

/// Sends `data`, half-closes, and returns everything read until the server closed.
async fn round_trip(port: u16, data: Vec<u8>) -> Vec<u8> {
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    drop(writer.await.unwrap());
    got
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A (link access, connector to an echo server) and B (link to A, listener), linked.
async fn two_sites(key: &str, echo_port: u16) -> (Router, Router, Pki) {
    let pa = pki("a");
    let mut ca = with_access(config("a"), &pa);
    ca.connectors.insert("backend".into(), connector(key, echo_port));
    let a = Router::start(ca).await.unwrap();
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, access_port(&a), 1));
    cb.listeners.insert("front".into(), listener(key));
    let b = Router::start(cb).await.unwrap();
    (a, b, pa)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_link_and_carry_100_concurrent_echo_connections() {
    let (echo, _echo_task) = echo_server().await;
    let (a, b, _) = two_sites("echo", echo).await;

    let state = wait_ready(&b, "to-a").await;
    assert_eq!(state.message, "OK");
    assert_eq!(state.remote_site_id, "id-a");
    assert_eq!(state.remote_site_name, "a");
    assert_eq!(state.cost, 1);
    let incoming = wait_for("incoming link on a", &a, |s| s.incoming.first().cloned()).await;
    assert_eq!((incoming.remote_site_id.as_str(), incoming.link_name.as_str()), ("id-b", "to-a"));
    wait_matched(&b, "front").await;
    wait_for("connector matched on a", &a, |s| s.connectors["backend"].matched.then_some(())).await;
    let view = b.status().network;
    assert_eq!(view["id-a"].cost, Some(1));
    assert_eq!(view["id-a"].connectors, ["echo"]);

    let port = listener_port(&b, "front").await;
    let clients: Vec<_> = (0..100)
        .map(|i| {
            tokio::spawn(async move {
                let data = pattern(i, 1 << 20);
                let got = round_trip(port, data.clone()).await;
                assert!(got == data, "connection {i}: {} bytes back, content differs", got.len());
            })
        })
        .collect();
    bounded("100 echo connections", async {
        for c in clients {
            c.await.unwrap();
        }
    })
    .await;

    let st = b.status();
    assert_eq!(st.listeners["front"].routing.get("id-a"), Some(&100));
    assert_eq!(st.listeners["front"].unrouted, 0);
    // Counters go back to zero once the connections closed.
    wait_for("connector counters back to 0", &a, |s| (s.connectors["backend"].open == 0).then_some(())).await;
    b.shutdown().await;
    a.shutdown().await;
}

/// A server that answers only after the client's EOF: proves half-close travels end to end.
#[tokio::test]
async fn half_close_reaches_the_server_and_the_answer_still_comes_back() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_port = l.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                s.read_to_end(&mut all).await.unwrap();
                s.write_all(format!("got {} bytes", all.len()).as_bytes()).await.unwrap();
            });
        }
    });
    let (a, b, _) = two_sites("count", server_port).await;
    wait_matched(&b, "front").await;
    let port = listener_port(&b, "front").await;
    let got = bounded("half-closed round trip", round_trip(port, vec![7u8; 300_000])).await;
    assert_eq!(String::from_utf8(got).unwrap(), "got 300000 bytes");
    b.shutdown().await;
    a.shutdown().await;
}

/// B dials A with `tls`; returns the message of B's link once it settled in Error, and checks
/// it never became Ready.
async fn link_error(a_pki: &Pki, tls: TlsMaterial, host: &str) -> String {
    let a = Router::start(with_access(config("a"), a_pki)).await.unwrap();
    let mut cb = config("b");
    let mut l = link(a_pki, access_port(&a), 1);
    l.tls = tls;
    l.host = host.into();
    cb.links.insert("to-a".into(), l);
    let b = Router::start(cb).await.unwrap();
    let msg = wait_for("link error", &b, |s| {
        let l = &s.links["to-a"];
        assert_ne!(l.phase, LinkPhase::Ready, "the link must not come up");
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    // A few more attempts: still not ready, same diagnosis.
    let again = wait_for("second failed attempt", &b, |s| {
        let l = &s.links["to-a"];
        assert_ne!(l.phase, LinkPhase::Ready, "the link must not come up");
        (l.phase == LinkPhase::Error && l.message == msg).then_some(())
    });
    again.await;
    assert!(a.status().incoming.is_empty());
    b.shutdown().await;
    a.shutdown().await;
    msg
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_rejected_by_the_remote_site() {
    let pa = pki("a");
    let rogue = pki("rogue");
    let mut tls = rogue.client.tls();
    tls.ca_pem = pa.client.ca_pem.clone().into_bytes(); // trusts A, but signed by another CA
    let msg = link_error(&pa, tls, "127.0.0.1").await;
    assert!(msg.starts_with("TLS handshake failed: the remote site rejected this link's client certificate"), "{msg}");
}

#[tokio::test]
async fn server_certificate_not_trusted_by_the_link_ca() {
    let pa = pki("a");
    let other = pki("other");
    let mut tls = pa.client.tls();
    tls.ca_pem = other.client.ca_pem.clone().into_bytes();
    let msg = link_error(&pa, tls, "127.0.0.1").await;
    assert!(
        msg.starts_with(
            "TLS handshake failed: the server's certificate is not trusted by the link's CA (unknown issuer)"
        ),
        "{msg}"
    );
}

#[tokio::test]
async fn server_certificate_for_another_host_name() {
    // A server certificate that does not name 127.0.0.1, the host the link dials.
    let ca = new_ca("a2 site CA", DEFAULT_VALIDITY).unwrap();
    let server = issue_server(&ca, "skupper-router", &["west.example.com".to_string()], DEFAULT_VALIDITY).unwrap();
    let client = issue_client(&ca, "client", DEFAULT_VALIDITY).unwrap();
    let p = Pki { server, client };
    let msg = link_error(&p, p.client.tls(), "127.0.0.1").await;
    assert!(msg.contains("not valid for 127.0.0.1 (host name mismatch)"), "{msg}");
}

#[tokio::test]
async fn connection_refused_and_configuration_errors_are_reported() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let pa = pki("a");
    let mut cb = config("b");
    cb.links.insert("refused".into(), link(&pa, closed, 1));
    let mut broken = link(&pa, 55671, 1);
    broken.config_error = Some("Secret not found for proxy configuration".into());
    cb.links.insert("misconfigured".into(), broken);
    let b = Router::start(cb).await.unwrap();
    let msg = wait_for("refused", &b, |s| {
        let l = &s.links["refused"];
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    assert_eq!(msg, format!("connection refused by 127.0.0.1:{closed}"));
    let l = &b.status().links["misconfigured"];
    assert_eq!((l.phase, l.message.as_str()), (LinkPhase::Error, "Secret not found for proxy configuration"));
    b.shutdown().await;
}

#[tokio::test]
async fn cost_update_keeps_open_connections_flowing() {
    let (echo, _echo_task) = echo_server().await;
    let (a, b, pa) = two_sites("echo", echo).await;
    wait_ready(&b, "to-a").await;
    wait_matched(&b, "front").await;
    let port = listener_port(&b, "front").await;

    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = [0u8; 5];
    conn.write_all(b"hello").await.unwrap();
    bounded("first echo", conn.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"hello");

    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, access_port(&a), 7));
    cb.listeners.insert("front".into(), listener("echo"));
    b.apply(cb).await.unwrap();
    wait_for("cost 7 on b", &b, |s| {
        (s.links["to-a"].cost == 7 && s.network.get("id-a").and_then(|n| n.cost) == Some(7)).then_some(())
    })
    .await;
    wait_for("cost 7 on a", &a, |s| {
        (s.incoming.len() == 1 && s.incoming[0].cost == 7 && s.network.get("id-b").and_then(|n| n.cost) == Some(7))
            .then_some(())
    })
    .await;
    assert_eq!(b.status().links["to-a"].phase, LinkPhase::Ready);

    conn.write_all(b"again").await.unwrap();
    bounded("echo after the cost change", conn.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"again");
    // Still the same single link session on A.
    assert_eq!(a.status().incoming.len(), 1);
    b.shutdown().await;
    a.shutdown().await;
}

/// A link's cost has one owner (its config); everything that reads it follows a change: the
/// link's status, the network view and routing decisions on both sides, up and down, and a link
/// that is not connected reports the new setting.
#[tokio::test]
async fn a_cost_change_reaches_every_reader() {
    let (echo, _echo_task) = echo_server().await;
    let (a, b, pa) = two_sites("echo", echo).await;
    wait_ready(&b, "to-a").await;
    wait_matched(&b, "front").await;
    let port = listener_port(&b, "front").await;
    // A closed port: a link that never connects.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let with_costs = |to_a: u32, down: u32| {
        let mut cb = config("b");
        cb.links.insert("to-a".into(), link(&pa, access_port(&a), to_a));
        cb.links.insert("down".into(), link(&pa, closed, down));
        cb.listeners.insert("front".into(), listener("echo"));
        cb
    };
    let routed_cost = || async {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut buf = [0u8; 2];
        conn.write_all(b"hi").await.unwrap();
        bounded("echo", conn.read_exact(&mut buf)).await.unwrap();
        let decision = b.status().listeners["front"].last_decision.clone().unwrap();
        assert_eq!(decision.target, "id-a");
        decision.candidates.iter().find(|c| c.target == "id-a").map(|c| c.path_cost)
    };
    for (to_a, down) in [(1, 3), (6, 9), (2, 4)] {
        b.apply(with_costs(to_a, down)).await.unwrap();
        let what = format!("cost {to_a} everywhere");
        wait_for(&what, &b, |s| {
            (s.links["to-a"].cost == to_a
                && s.links["to-a"].phase == LinkPhase::Ready
                && s.network.get("id-a").and_then(|n| n.cost) == Some(u64::from(to_a))
                && s.network.get("id-b").is_some_and(|n| n.links.get("id-a") == Some(&to_a)))
            .then_some(())
        })
        .await;
        wait_for(&what, &a, |s| {
            (s.incoming.len() == 1
                && s.incoming[0].cost == to_a
                && s.network.get("id-b").and_then(|n| n.cost) == Some(u64::from(to_a)))
            .then_some(())
        })
        .await;
        assert_eq!(routed_cost().await, Some(u64::from(to_a)));
        let down_link = &b.status().links["down"];
        assert_ne!(down_link.phase, LinkPhase::Ready);
        assert_eq!(down_link.cost, down);
    }
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sites_route_through_the_middle_one() {
    // A -> B <- C: A's listener reaches C's connector through B.
    let (echo, _echo_task) = echo_server().await;
    let pb = pki("b");
    let b = Router::start(with_access(config("b"), &pb)).await.unwrap();
    let bport = access_port(&b);
    let mut ca = config("a");
    ca.links.insert("to-b".into(), link(&pb, bport, 2));
    ca.listeners.insert("front".into(), listener("db"));
    let a = Router::start(ca).await.unwrap();
    let mut cc = config("c");
    cc.links.insert("to-b".into(), link(&pb, bport, 3));
    cc.connectors.insert("db".into(), connector("db", echo));
    let c = Router::start(cc).await.unwrap();

    wait_matched(&a, "front").await;
    let view = a.status().network;
    assert_eq!(view["id-c"].cost, Some(5));
    assert_eq!(view["id-c"].next_hop.as_deref(), Some("id-b"));
    assert_eq!(view["id-c"].connectors, ["db"]);
    // C's connector knows a listener exists somewhere in the network.
    wait_for("connector matched on c", &c, |s| s.connectors["db"].matched.then_some(())).await;

    let port = listener_port(&a, "front").await;
    let data = pattern(3, 200_000);
    let got = bounded("echo through b", round_trip(port, data.clone())).await;
    assert!(got == data);
    assert_eq!(a.status().listeners["front"].routing.get("id-c"), Some(&1));

    // C goes away: A's listener loses its match and stops listening: new connections are
    // refused by the kernel (not accepted and closed), and nothing is counted as unrouted.
    c.shutdown().await;
    wait_for("listener unmatched", &a, |s| {
        let l = &s.listeners["front"];
        (!l.matched && !l.listening && l.port == Some(port)).then_some(())
    })
    .await;
    let refused = bounded("refused connection", TcpStream::connect(("127.0.0.1", port))).await;
    assert_eq!(refused.map(drop).map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionRefused));
    assert_eq!(a.status().listeners["front"].unrouted, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheaper_path_fills_first_then_connections_alternate() {
    let (cheap_port, _t1) = name_server("cheap").await;
    let (dear_port, _t2) = name_server("dear").await;
    let pb = pki("b");
    let pc = pki("c");
    let mut cb = with_access(config("b"), &pb);
    cb.connectors.insert("svc".into(), connector("svc", cheap_port));
    let b = Router::start(cb).await.unwrap();
    let mut cc = with_access(config("c"), &pc);
    cc.connectors.insert("svc".into(), connector("svc", dear_port));
    let c = Router::start(cc).await.unwrap();
    let mut ca = config("a");
    ca.links.insert("to-b".into(), link(&pb, access_port(&b), 1));
    ca.links.insert("to-c".into(), link(&pc, access_port(&c), 5));
    ca.listeners.insert("front".into(), listener("svc"));
    let a = Router::start(ca).await.unwrap();
    wait_for("both targets known", &a, |s| {
        let known =
            |id: &str, cost: u64| s.network.get(id).is_some_and(|n| n.cost == Some(cost) && n.connectors == ["svc"]);
        (known("id-b", 1) && known("id-c", 5)).then_some(())
    })
    .await;
    let port = listener_port(&a, "front").await;
    let mut open = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..10 {
        let (who, conn) = who_answers(port).await;
        answers.push(who);
        open.push(conn);
    }
    let expect = ["cheap", "cheap", "cheap", "cheap", "cheap", "dear", "cheap", "dear", "cheap", "dear"];
    assert_eq!(answers, expect);
    let routing = a.status().listeners["front"].routing.clone();
    assert_eq!(routing, BTreeMap::from([("id-b".to_string(), 7), ("id-c".to_string(), 3)]));
    drop(open);
    for r in [a, b, c] {
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_connector_first_and_failover_to_remote_when_it_is_down() {
    let (local_port, local_task) = name_server("local").await;
    let (remote_port, _t) = name_server("remote").await;
    let pb = pki("b");
    let mut cb = with_access(config("b"), &pb);
    cb.connectors.insert("svc".into(), connector("svc", remote_port));
    let b = Router::start(cb).await.unwrap();
    let mut ca = config("a");
    ca.links.insert("to-b".into(), link(&pb, access_port(&b), 1));
    ca.listeners.insert("front".into(), listener("svc"));
    ca.connectors.insert("svc-local".into(), connector("svc", local_port));
    let a = Router::start(ca).await.unwrap();
    wait_for("remote target known", &a, |s| s.network.get("id-b").filter(|n| n.connectors == ["svc"]).map(|_| ()))
        .await;
    let port = listener_port(&a, "front").await;

    let (who, conn) = who_answers(port).await;
    assert_eq!(who, "local");
    drop(conn);
    wait_for("local connection closed", &a, |s| (s.connectors["svc-local"].open == 0).then_some(())).await;
    let (who, _conn) = who_answers(port).await;
    assert_eq!(who, "local", "an idle local connector wins over any remote one");

    // The local server goes down: its port refuses, and the connection fails over.
    local_task.abort();
    let _ = local_task.await;
    let (who, _conn2) = who_answers(port).await;
    assert_eq!(who, "remote");
    let st = a.status();
    assert!(st.connectors["svc-local"].message.contains("connection refused"), "{:?}", st.connectors["svc-local"]);
    assert_eq!(st.listeners["front"].routing.get("id-b"), Some(&1));
    assert_eq!(st.listeners["front"].routing.get("id-a"), Some(&2));
    a.shutdown().await;
    b.shutdown().await;
}

/// A tiny HTTP CONNECT proxy; answers 407 unless the request carries `auth` (when set).
async fn connect_proxy(auth: Option<&'static str>) -> (u16, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push(line);
                }
                let target = head[0].split(' ').nth(1).unwrap_or_default().to_string();
                let authorized =
                    auth.is_none_or(|a| head.iter().any(|h| h.trim() == format!("Proxy-Authorization: Basic {a}")));
                let mut s = r.into_inner();
                if !head[0].starts_with("CONNECT ") || !authorized {
                    let _ = s
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut up) = TcpStream::connect(&target).await else {
                    let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                // No reason phrase: accepted as well.
                s.write_all(b"HTTP/1.1 200\r\nVia: test\r\n\r\n").await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn links_through_an_http_connect_proxy() {
    let (echo, _echo_task) = echo_server().await;
    // base64("alice:s3cret")
    let (proxy_port, _p) = connect_proxy(Some("YWxpY2U6czNjcmV0")).await;
    let pa = pki("a");
    let mut ca = with_access(config("a"), &pa);
    ca.connectors.insert("backend".into(), connector("echo", echo));
    let a = Router::start(ca).await.unwrap();
    let settings = |pass: &str| ProxySettings {
        host: "127.0.0.1".into(),
        port: proxy_port,
        username: Some("alice".into()),
        password: Some(pass.into()),
    };
    let mut cb = config("b");
    let mut good = link(&pa, access_port(&a), 1);
    good.proxy = Some(("corp-proxy".into(), settings("s3cret")));
    cb.links.insert("via-proxy".into(), good);
    let mut wrong = link(&pa, access_port(&a), 1);
    wrong.proxy = Some(("corp-proxy".into(), settings("wrong")));
    cb.links.insert("wrong-password".into(), wrong);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let mut gone = link(&pa, access_port(&a), 1);
    gone.proxy = Some(("corp-proxy".into(), ProxySettings { port: closed, ..settings("s3cret") }));
    cb.links.insert("proxy-down".into(), gone);
    cb.listeners.insert("front".into(), listener("echo"));
    let b = Router::start(cb).await.unwrap();

    let state = wait_ready(&b, "via-proxy").await;
    assert_eq!(state.proxy.as_deref(), Some("corp-proxy"));
    wait_matched(&b, "front").await;
    let port = listener_port(&b, "front").await;
    let data = pattern(9, 100_000);
    assert!(bounded("echo through the proxy", round_trip(port, data.clone())).await == data);

    let msg = wait_for("407", &b, |s| {
        let l = &s.links["wrong-password"];
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    assert!(msg.starts_with("proxy authentication required (407)"), "{msg}");
    assert!(msg.contains("corp-proxy"), "{msg}");
    let msg = wait_for("proxy down", &b, |s| {
        let l = &s.links["proxy-down"];
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    assert_eq!(msg, format!("proxy unreachable: connection refused by 127.0.0.1:{closed}"));
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn bind_errors_are_reported_in_status_and_retried_on_apply() {
    let taken1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (p1, p2) = (taken1.local_addr().unwrap().port(), taken2.local_addr().unwrap().port());
    let pa = pki("a");
    let mut ca = with_access(config("a"), &pa);
    if let Some(access) = ca.link_access.as_mut() {
        access.inter_router_port = Some(p1);
    }
    ca.listeners.insert("front".into(), ListenerConfig { port: p2, ..listener("k") });
    let a = Router::start(ca.clone()).await.unwrap();
    let st = a.status();
    let err = st.link_access_error.expect("link access error");
    assert!(err.contains(&format!("cannot listen for links on 127.0.0.1:{p1}")), "{err}");
    let l = &st.listeners["front"];
    assert!(!l.ok && l.message.contains(&format!("cannot listen on 127.0.0.1:{p2}")), "{l:?}");

    // Once the ports are free, applying the same config again binds them.
    drop((taken1, taken2));
    a.apply(ca).await.unwrap();
    let st = a.status();
    assert_eq!(st.link_access_error, None);
    assert_eq!(st.link_access_ports.map(|p| p.inter_router), Some(p1));
    assert!(st.listeners["front"].ok);
    assert_eq!(st.listeners["front"].port, Some(p2));
    a.shutdown().await;
}

#[tokio::test]
async fn failed_binds_are_tried_again_until_they_succeed_without_an_apply() {
    let taken1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (p1, p2) = (taken1.local_addr().unwrap().port(), taken2.local_addr().unwrap().port());
    let pa = pki("a");
    let mut ca = with_access(config("a"), &pa);
    if let Some(access) = ca.link_access.as_mut() {
        access.inter_router_port = Some(p1);
    }
    ca.listeners.insert("front".into(), ListenerConfig { port: p2, ..listener("k") });
    // A destination for its key: a listener listens only while it has one.
    ca.connectors.insert("k".into(), connector("k", p1));
    let a = Router::start(ca).await.unwrap();
    let errors = a.status().bind_errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with(&format!("link access: cannot listen for links on 127.0.0.1:{p1}")), "{errors:?}");
    assert!(errors[1].starts_with(&format!("listener front: cannot listen on 127.0.0.1:{p2}")), "{errors:?}");
    // Still failing a while later: the listener keeps its entry (and error) between tries.
    tokio::time::sleep(REBIND_FIRST * 2).await;
    assert_eq!(a.status().bind_errors().len(), 2);
    assert!(a.status().listeners.contains_key("front"));

    // The ports free up: bound by the router itself.
    drop((taken1, taken2));
    wait_for("both bound", &a, |s| s.bind_errors().is_empty().then_some(())).await;
    let st = a.status();
    assert_eq!(st.link_access_ports.map(|p| p.inter_router), Some(p1));
    assert_eq!(st.listeners["front"].port, Some(p2));
    wait_for("listening", &a, |s| s.listeners["front"].listening.then_some(())).await;
    TcpStream::connect(("127.0.0.1", p2)).await.expect("the listener accepts");
    a.shutdown().await;
}

#[tokio::test]
async fn a_connector_reports_its_target_down_within_seconds_and_recovers() {
    let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = backend.local_addr().unwrap().port();
    let mut c = config("a");
    c.connectors.insert("db".into(), connector("k", port));
    let a = Router::start(c).await.unwrap();
    bounded("a first probe reaches the target", async {
        while a.shared.lock().connectors["db"].last_ok.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(a.status().connectors["db"].ok);
    drop(backend);
    let began = std::time::Instant::now();
    let down = wait_for("the target reported down", &a, |s| {
        let c = &s.connectors["db"];
        (!c.ok).then(|| c.message.clone())
    })
    .await;
    assert!(began.elapsed() < service::PROBE_EVERY * 3, "{:?}", began.elapsed());
    assert!(down.contains(&format!("connection refused by 127.0.0.1:{port}")), "{down}");
    assert!(down.contains("(last connected 20"), "{down}");
    let _backend = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    wait_for("the target back", &a, |s| s.connectors["db"].ok.then_some(())).await;
    a.shutdown().await;
}

#[tokio::test]
async fn the_router_and_its_futures_can_move_across_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let start = Router::start(config("a"));
    send(&start);
    let r = start.await.unwrap();
    send_sync(&r);
    let apply = r.apply(config("a"));
    send(&apply);
    apply.await.unwrap();
    let shutdown = r.shutdown();
    send(&shutdown);
    shutdown.await;
}

#[tokio::test]
async fn apply_adds_and_removes_links_listeners_and_connectors() {
    let (echo, _echo_task) = echo_server().await;
    let pa = pki("a");
    let a = Router::start(with_access(config("a"), &pa)).await.unwrap();
    let b = Router::start(config("b")).await.unwrap();
    assert!(b.status().links.is_empty());

    let mut ca = with_access(config("a"), &pa);
    ca.connectors.insert("backend".into(), connector("echo", echo));
    a.apply(ca).await.unwrap();
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, access_port(&a), 1));
    cb.listeners.insert("front".into(), listener("echo"));
    b.apply(cb.clone()).await.unwrap();
    wait_ready(&b, "to-a").await;
    wait_matched(&b, "front").await;
    let port = listener_port(&b, "front").await;
    assert!(round_trip(port, b"ping".to_vec()).await == b"ping");

    // Removing the link drops the session; A forgets B.
    cb.links.clear();
    b.apply(cb).await.unwrap();
    assert!(b.status().links.is_empty());
    wait_for("incoming gone", &a, |s| s.incoming.is_empty().then_some(())).await;
    wait_for("listener unmatched", &b, |s| (!s.listeners["front"].matched).then_some(())).await;
    // Site id changes are refused without touching anything.
    let mut other = config("b");
    other.site_id = "someone-else".into();
    assert!(b.apply(other).await.is_err());
    assert!(b.status().listeners.contains_key("front"));
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn link_reconnects_when_the_remote_site_comes_back() {
    let (echo, _echo_task) = echo_server().await;
    let (a, b, pa) = two_sites("echo", echo).await;
    wait_ready(&b, "to-a").await;
    let port = access_port(&a);
    a.shutdown().await;
    let msg = wait_for("link lost", &b, |s| {
        let l = &s.links["to-a"];
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    assert!(msg.starts_with("link lost: ") || msg.starts_with("connection refused by"), "{msg}");
    wait_for("listener unmatched", &b, |s| (!s.listeners["front"].matched).then_some(())).await;

    // A comes back on the same port (a new process would: its config names the port).
    let mut ca = with_access(config("a"), &pa);
    if let Some(access) = ca.link_access.as_mut() {
        access.inter_router_port = Some(port);
    }
    ca.connectors.insert("backend".into(), connector("echo", echo));
    let a = Router::start(ca).await.unwrap();
    assert_eq!(a.status().link_access_error, None);
    wait_ready(&b, "to-a").await;
    wait_matched(&b, "front").await;
    let lport = listener_port(&b, "front").await;
    assert!(bounded("echo after reconnect", round_trip(lport, b"back".to_vec())).await == b"back");
    b.shutdown().await;
    a.shutdown().await;
}

/// A port nothing listens on: connections to it are refused.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Sites b (cost 1, its connector's target refuses) and c (cost 10, connector to `c_target`)
/// and site a linked to both with listener "front" for their routing key, once a knows both
/// targets: (a, b, c, front's port).
async fn b_refuses_c_takes(c_target: u16) -> (Router, Router, Router, u16) {
    let refused = closed_port().await;
    let (pb, pc) = (pki("b"), pki("c"));
    let mut cb = with_access(config("b"), &pb);
    cb.connectors.insert("svc".into(), connector("svc", refused));
    let b = Router::start(cb).await.unwrap();
    let mut cc = with_access(config("c"), &pc);
    cc.connectors.insert("svc".into(), connector("svc", c_target));
    let c = Router::start(cc).await.unwrap();
    let mut ca = config("a");
    ca.links.insert("to-b".into(), link(&pb, access_port(&b), 1));
    ca.links.insert("to-c".into(), link(&pc, access_port(&c), 10));
    ca.listeners.insert("front".into(), listener("svc"));
    let a = Router::start(ca).await.unwrap();
    wait_for("both targets known", &a, |s| {
        let known = |id: &str| s.network.get(id).is_some_and(|n| n.cost.is_some() && n.connectors == ["svc"]);
        (known("id-b") && known("id-c")).then_some(())
    })
    .await;
    let port = listener_port(&a, "front").await;
    (a, b, c, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_target_that_refuses_fails_over_to_the_next_site() {
    let (dear_port, _t) = name_server("dear").await;
    let (a, b, c, port) = b_refuses_c_takes(dear_port).await;
    let (who, _conn) = who_answers(port).await;
    assert_eq!(who, "dear", "b is cheaper but its target refuses");
    let st = a.status();
    assert_eq!(st.listeners["front"].routing, BTreeMap::from([("id-c".to_string(), 1)]));
    wait_for("b reports its connector error", &b, |s| {
        s.connectors["svc"].message.contains("connection refused").then_some(())
    })
    .await;
    for r in [a, b, c] {
        r.shutdown().await;
    }
}

#[tokio::test]
async fn a_clients_first_bytes_go_on_to_the_next_site_when_the_cheaper_one_refuses() {
    // The client writes at once, more than goes out ahead of an answer (EARLY_LIMIT): what b
    // was sent before it refused must reach c, ahead of the rest and unchanged.
    let (echo_port, _t) = echo_server().await;
    let (a, b, c, port) = b_refuses_c_takes(echo_port).await;
    let data = pattern(7, 3 * crate::open::EARLY_LIMIT + 123);
    let got = bounded("the echo through c", round_trip(port, data.clone())).await;
    assert!(
        got == data,
        "{} bytes back of {}, first difference at {:?}",
        got.len(),
        data.len(),
        got.iter().zip(&data).position(|(x, y)| x != y)
    );
    let st = a.status();
    let last = st.listeners["front"].last_decision.clone().unwrap();
    assert_eq!(last.target, "id-c");
    assert!(last.failed.iter().any(|f| f.starts_with("site id-b: ") && f.contains("refused")), "{last:?}");
    for r in [a, b, c] {
        r.shutdown().await;
    }
}

#[tokio::test]
async fn a_clients_first_bytes_go_to_the_local_connector_when_a_remote_site_refuses() {
    // Local costs 0 and b 1: b is chosen once local holds more open connections than b's cost.
    // b's target refuses; that connection's first bytes must reach the local echo server.
    let (echo_port, _t) = echo_server().await;
    let refused = closed_port().await;
    let pb = pki("b");
    let mut cb = with_access(config("b"), &pb);
    cb.connectors.insert("svc".into(), connector("svc", refused));
    let b = Router::start(cb).await.unwrap();
    let mut ca = config("a");
    ca.links.insert("to-b".into(), link(&pb, access_port(&b), 1));
    ca.listeners.insert("front".into(), listener("svc"));
    ca.connectors.insert("svc-local".into(), connector("svc", echo_port));
    let a = Router::start(ca).await.unwrap();
    wait_for("remote target known", &a, |s| s.network.get("id-b").filter(|n| n.connectors == ["svc"]).map(|_| ()))
        .await;
    let port = listener_port(&a, "front").await;
    let mut held = Vec::new();
    let mut refused_by_b = false;
    for i in 0..8 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let data = pattern(100 + i, 5000);
        s.write_all(&data).await.unwrap();
        let mut back = vec![0u8; data.len()];
        bounded("the echo", s.read_exact(&mut back)).await.unwrap();
        assert!(back == data, "connection {i}: the echo differs");
        held.push(s);
        let last = a.status().listeners["front"].last_decision.clone().unwrap();
        assert_eq!(last.target, "id-a", "connection {i}");
        if last.failed.iter().any(|f| f.starts_with("site id-b: ")) {
            refused_by_b = true;
            break;
        }
    }
    assert!(refused_by_b, "no connection was offered to b: {:?}", a.status().listeners["front"].last_decision);
    a.shutdown().await;
    b.shutdown().await;
}

/// CPU time (user + system) of this process so far, from /proc (0 where unavailable).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// Not a test: rough throughput and connection-rate figures (run with
/// `cargo test --release -p kubectl-skupper router::tests::bench -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_throughput_and_connection_rate() {
    // A sink server: reads everything, then answers one byte.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.write_all(b"k").await;
            });
        }
    });
    let (a, b, _) = two_sites("sink", sink).await;
    wait_matched(&b, "front").await;
    let port = listener_port(&b, "front").await;

    for (what, p) in [("direct to the server", sink), ("through two routers", port)] {
        let total: usize = 2 << 30;
        let cpu0 = cpu_seconds();
        let start = std::time::Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", p)).await.unwrap();
        let chunk = vec![0x5au8; 256 * 1024];
        let mut sent = 0;
        while sent < total {
            s.write_all(&chunk).await.unwrap();
            sent += chunk.len();
        }
        s.shutdown().await.unwrap();
        let mut k = [0u8; 1];
        s.read_exact(&mut k).await.unwrap();
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let gbit = total as f64 * 8.0 / 1e9;
        println!("{what}: single stream {:.2} Gbit/s, {:.2} Gbit per CPU second", gbit / secs, gbit / cpu);

        let n = 5000;
        let cpu0 = cpu_seconds();
        let start = std::time::Instant::now();
        for _ in 0..n {
            let mut s = TcpStream::connect(("127.0.0.1", p)).await.unwrap();
            s.shutdown().await.unwrap();
            s.read_exact(&mut k).await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        println!("{what}: connect, close, answer: {:.0} conn/s, {:.0} per CPU second", n as f64 / secs, n as f64 / cpu);
    }
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn a_link_is_pending_until_its_first_attempt_completes() {
    // A port that accepts TCP but never answers the TLS handshake.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let pa = pki("a");
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, port, 4));
    let b = Router::start(cb).await.unwrap();
    let (_conn, _) = bounded("the link's TCP connection", silent.accept()).await.unwrap();
    let l = b.status().links["to-a"].clone();
    assert_eq!(l.phase, LinkPhase::Pending);
    assert_eq!(l.message, format!("connecting to 127.0.0.1:{port}"));
    assert_eq!(l.cost, 4);
    b.shutdown().await;
}

#[tokio::test]
async fn a_link_to_the_site_itself_is_refused() {
    let pa = pki("a");
    let a = Router::start(with_access(config("a"), &pa)).await.unwrap();
    let mut ca = with_access(config("a"), &pa);
    ca.links.insert("loop".into(), link(&pa, access_port(&a), 1));
    a.apply(ca).await.unwrap();
    let msg = wait_for("self link refused", &a, |s| {
        let l = &s.links["loop"];
        assert_ne!(l.phase, LinkPhase::Ready);
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    assert!(msg.contains("the link points at this site itself"), "{msg}");
    assert!(a.status().incoming.is_empty());
    assert_eq!(a.status().network.len(), 1);
    a.shutdown().await;
}

#[tokio::test]
async fn switching_link_access_off_drops_incoming_links_and_tls_changes_restart_a_link() {
    let pa = pki("a");
    let a = Router::start(with_access(config("a"), &pa)).await.unwrap();
    let port = access_port(&a);
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, port, 1));
    let b = Router::start(cb.clone()).await.unwrap();
    wait_ready(&b, "to-a").await;

    // New client credentials from another CA: only this link restarts, and fails.
    let rogue = pki("rogue");
    let mut l = link(&pa, port, 1);
    l.tls.cert_pem = rogue.client.tls().cert_pem;
    l.tls.key_pem = rogue.client.tls().key_pem;
    cb.links.insert("to-a".into(), l);
    b.apply(cb.clone()).await.unwrap();
    let msg = wait_for("restarted link fails", &b, |s| {
        let l = &s.links["to-a"];
        (l.phase == LinkPhase::Error).then(|| l.message.clone())
    })
    .await;
    assert!(msg.contains("rejected this link's client certificate"), "{msg}");
    // Back to the right credentials: ready again.
    cb.links.insert("to-a".into(), link(&pa, port, 1));
    b.apply(cb).await.unwrap();
    wait_ready(&b, "to-a").await;
    wait_for("incoming on a", &a, |s| (s.incoming.len() == 1).then_some(())).await;

    a.apply(config("a")).await.unwrap();
    let st = a.status();
    assert_eq!((st.link_access_ports, st.link_access_error), (None, None));
    wait_for("incoming dropped", &a, |s| s.incoming.is_empty().then_some(())).await;
    wait_for("link down on b", &b, |s| (s.links["to-a"].phase == LinkPhase::Error).then_some(())).await;
    b.shutdown().await;
    a.shutdown().await;
}

/// A server that echoes and reports on `ended` when a connection of it ends.
async fn reporting_echo() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = tx.send(());
            });
        }
    });
    (port, rx)
}

/// Reads until the connection ends (EOF or reset); `Err` when data arrives instead.
async fn ends(s: &mut TcpStream) -> Result<(), String> {
    let mut buf = [0u8; 64];
    match s.read(&mut buf).await {
        Ok(0) | Err(_) => Ok(()),
        Ok(n) => Err(format!("{n} unexpected bytes")),
    }
}

/// How long a connection may take to end once its link is gone (it ends in milliseconds; the
/// bound only has to be far below the 60 s the connections used to hang).
const ENDS_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_link_ends_its_connections_on_both_sides_at_once() {
    let (port, mut ended) = reporting_echo().await;
    let (a, b, _) = two_sites("echo", port).await;
    wait_ready(&b, "to-a").await;
    wait_matched(&b, "front").await;
    let front = listener_port(&b, "front").await;
    let mut client = TcpStream::connect(("127.0.0.1", front)).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    bounded("echo through the link", client.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"ping");

    // The Link is deleted on B (the site that dialed it); the listener stays.
    let mut cb = config("b");
    cb.listeners.insert("front".into(), listener("echo"));
    b.apply(cb).await.unwrap();
    // The application's connection on B's side ends: no read or write hangs.
    match tokio::time::timeout(ENDS_WITHIN, ends(&mut client)).await {
        Ok(r) => r.unwrap(),
        Err(_) => panic!("the connection through the deleted link still hangs after {ENDS_WITHIN:?}"),
    }
    // And on A's side, its connection to the server is closed too.
    match tokio::time::timeout(ENDS_WITHIN, ended.recv()).await {
        Ok(r) => r.unwrap(),
        Err(_) => panic!("the connector side still holds the connection after {ENDS_WITHIN:?}"),
    }
    b.shutdown().await;
    a.shutdown().await;
}

/// A TCP relay that can be frozen: while frozen it moves no byte either way and keeps its
/// sockets open, as a SIGSTOPped peer does.
async fn freezable_relay(target: u16) -> (u16, tokio::sync::watch::Sender<bool>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((inbound, _)) = l.accept().await {
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)).await else { continue };
            let (ir, iw) = inbound.into_split();
            let (or, ow) = outbound.into_split();
            for (mut r, mut w) in [(ir, ow), (or, iw)] {
                let mut frozen = rx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        if frozen.wait_for(|f| !*f).await.is_err() {
                            return;
                        }
                        let n = match r.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if frozen.wait_for(|f| !*f).await.is_err() || w.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    (port, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_peer_is_detected_within_seconds_and_the_link_comes_back() {
    let pa = pki("a");
    let a = Router::start(with_access(config("a"), &pa)).await.unwrap();
    let (relay, freeze) = freezable_relay(access_port(&a)).await;
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, relay, 1));
    let b = Router::start(cb).await.unwrap();
    wait_ready(&b, "to-a").await;
    wait_for("incoming link on a", &a, |s| s.incoming.first().cloned()).await;

    // Default keep-alive timings: ~10 s (45 s before).
    let frozen_at = std::time::Instant::now();
    freeze.send(true).unwrap();
    let message = wait_for("b gives the frozen link up", &b, |s| {
        let l = &s.links["to-a"];
        (l.phase != LinkPhase::Ready).then(|| l.message.clone())
    })
    .await;
    let detected = frozen_at.elapsed();
    assert!(message.contains("sent nothing"), "{message}");
    assert!(detected >= Duration::from_secs(9), "not before the dead-peer time: {detected:?}");
    // A gives the incoming side up as well.
    wait_for("a drops the frozen incoming link", &a, |s| s.incoming.is_empty().then_some(())).await;

    freeze.send(false).unwrap();
    wait_ready(&b, "to-a").await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_of_the_link_port_are_capped_and_real_links_still_connect() {
    let pa = pki("a");
    let a = Router::start(with_access(config("a"), &pa)).await.unwrap();
    let port = access_port(&a);
    let per_source = a.shared.access_limits.gate.config().max_per_source;
    let from = |last: u8| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, last], 0))).unwrap();
        socket.connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap()
    };
    let mut held = Vec::new();
    for _ in 0..per_source {
        held.push(from(2).await);
    }
    let mut one_too_many = from(2).await;
    match tokio::time::timeout(ENDS_WITHIN, ends(&mut one_too_many)).await {
        Ok(r) => r.unwrap(),
        Err(_) => panic!("a connection beyond the per-source cap was kept"),
    }
    // A real site (from another address) links while the silent ones are held.
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, port, 1));
    let b = Router::start(cb).await.unwrap();
    wait_ready(&b, "to-a").await;
    // The silent clients are dropped at the handshake deadline (5 s).
    for s in &mut held {
        bounded("silent client dropped at the deadline", ends(s)).await.unwrap();
    }
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn unusable_tls_is_a_configuration_error_not_a_bind_failure() {
    let p = pki("a");
    let mut ca = config("a");
    let missing = "TLS credentials secret \"nowhere\" not found".to_string();
    ca.listeners.insert("lost".into(), ListenerConfig { config_error: Some(missing.clone()), ..listener("k") });
    // A bundle whose ca.crt is not PEM: found by the router when it builds the TLS config.
    let mut junk = p.client.tls();
    junk.ca_pem = b"junk".to_vec();
    let tls = ServiceTls { secret: "junk".into(), material: junk, verify_hostname: false, use_client_cert: false };
    ca.connectors.insert("bad".into(), ConnectorConfig { tls: Some(tls), ..connector("k", 1) });
    let a = Router::start(ca.clone()).await.unwrap();
    let st = a.status();
    let l = &st.listeners["lost"];
    assert_eq!((l.ok, l.config_error, l.port, l.message.as_str()), (false, true, None, missing.as_str()));
    assert!(st.bind_errors().is_empty(), "{:?}", st.bind_errors());
    assert!(!a.shared.bind_failed(), "a configuration error is not tried again");
    let c = &st.connectors["bad"];
    assert!(!c.ok && c.config_error, "{c:?}");
    assert_eq!(c.message, "TLS credentials secret \"junk\": ca.crt holds no certificate");
    // Not a target: the listener has no connector to match.
    assert!(!l.matched);
    a.shutdown().await;
}

/// The name of the server that answers a new connection through `port` (the connection is
/// closed then).
async fn who(port: u16) -> String {
    bounded("an answer", who_answers(port)).await.0
}

fn multi(strategy: KeyStrategy) -> MultiKeyListenerConfig {
    MultiKeyListenerConfig { listener: listener(""), strategy }
}

async fn multi_port(r: &Router, name: &str) -> u16 {
    wait_for("multi-key listener listening", r, |s| {
        s.multi_key_listeners.get(name).filter(|l| l.listening).and_then(|l| l.port)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_takes_the_first_key_with_a_destination_and_returns_to_it() {
    let (pa, _a) = name_server("a").await;
    let (pb, _b) = name_server("b").await;
    let mut c = config("a");
    c.connectors.insert("ca".into(), connector("ka", pa));
    c.connectors.insert("cb".into(), connector("kb", pb));
    let keys = ["missing", "ka", "kb"].map(String::from).to_vec();
    c.multi_key_listeners.insert("front".into(), multi(KeyStrategy::Priority(keys)));
    let r = Router::start(c.clone()).await.unwrap();
    let port = multi_port(&r, "front").await;
    for _ in 0..5 {
        assert_eq!(who(port).await, "a");
    }
    let st = r.status().multi_key_listeners["front"].clone();
    let key = st.last_decision.and_then(|d| d.key).unwrap();
    assert_eq!(key.routing_key, "ka");
    assert_eq!(key.reason, "priority: first key with a destination (missing has none)");
    assert_eq!(st.keys_reachable, [("ka".to_string(), 0), ("kb".to_string(), 0)]);

    let mut without_a = c.clone();
    without_a.connectors.remove("ca");
    r.apply(without_a).await.unwrap();
    for _ in 0..5 {
        assert_eq!(who(port).await, "b");
    }
    r.apply(c).await.unwrap();
    for _ in 0..5 {
        assert_eq!(who(port).await, "a");
    }
    assert_eq!(r.status().multi_key_listeners["front"].by_key, BTreeMap::from([("ka".into(), 10), ("kb".into(), 5)]));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_splits_exactly_by_weight_among_keys_with_a_destination() {
    let (pa, _a) = name_server("a").await;
    let (pb, _b) = name_server("b").await;
    let mut c = config("a");
    c.connectors.insert("ca".into(), connector("ka", pa));
    c.connectors.insert("cb".into(), connector("kb", pb));
    let keys = vec![("ka".to_string(), 1), ("kb".to_string(), 2), ("missing".to_string(), 5)];
    c.multi_key_listeners.insert("front".into(), multi(KeyStrategy::Weighted(keys)));
    let r = Router::start(c).await.unwrap();
    let port = multi_port(&r, "front").await;
    let mut count: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..300 {
        *count.entry(who(port).await).or_default() += 1;
    }
    // Smooth weighted round-robin: exact over every whole round of 3.
    assert_eq!(count, BTreeMap::from([("a".into(), 100), ("b".into(), 200)]));
    let d = r.status().multi_key_listeners["front"].last_decision.clone().unwrap();
    assert!(d.key.unwrap().reason.starts_with("weighted 1:2 "));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_without_a_destination_refuses_connections_until_one_appears() {
    let (pa, _a) = name_server("a").await;
    let mut c = config("a");
    c.listeners.insert("front".into(), listener("k"));
    c.multi_key_listeners.insert("multi".into(), multi(KeyStrategy::Priority(vec!["k".into()])));
    let r = Router::start(c.clone()).await.unwrap();
    let st = r.status();
    let (l, m) = (&st.listeners["front"], &st.multi_key_listeners["multi"]);
    assert!(l.ok && !l.matched && !l.listening, "{l:?}");
    assert!(m.ok && !m.matched && !m.listening, "{m:?}");
    for port in [l.port.unwrap(), m.port.unwrap()] {
        let refused = TcpStream::connect(("127.0.0.1", port)).await.map(drop).map_err(|e| e.kind());
        assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    }
    c.connectors.insert("c".into(), connector("k", pa));
    r.apply(c).await.unwrap();
    let port = listener_port(&r, "front").await;
    wait_for("listening", &r, |s| s.listeners["front"].listening.then_some(())).await;
    assert_eq!(who(port).await, "a");
    assert_eq!(who(multi_port(&r, "multi").await).await, "a");
    r.shutdown().await;
}

/// The typed errors read as the texts the status and the end-to-end goldens show, and keep the
/// I/O error underneath as their source.
#[test]
fn error_texts_are_the_status_texts() {
    use std::error::Error as _;
    use std::io;

    use crate::link::{AccessError, LinkError};
    use crate::net::{ConnectError, ListenError};
    use crate::proxy::ProxyError;
    use crate::state::{ListenerError, SessionError};

    let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
    let in_use = || io::Error::from(io::ErrorKind::AddrInUse);
    let connect = ConnectError::Refused { addr: "10.0.0.1:55671".into(), source: refused() };
    assert_eq!(connect.to_string(), "connection refused by 10.0.0.1:55671");
    assert!(connect.source().is_some());
    let failed = ConnectError::Failed { addr: "h:1".into(), source: io::Error::other("boom") };
    assert_eq!(failed.to_string(), "cannot connect to h:1: boom");
    let proxy = ProxyError::Unreachable(ConnectError::NotResolvable { host: "proxy".into(), source: None });
    assert_eq!(proxy.to_string(), "proxy unreachable: proxy not resolvable");
    assert!(proxy.source().is_some());
    let upstream = ProxyError::TargetUnreachable { target: "w:1".into(), status: "503 Service Unavailable".into() };
    assert_eq!(
        upstream.to_string(),
        "proxy could not connect to w:1 (503 Service Unavailable); check that the remote site runs and that the \
         proxy can reach it"
    );
    let timeout = |proxied| LinkError::HandshakeTimeout { addr: "w:1".into(), proxied }.to_string();
    assert_eq!(timeout(false), "timed out in the TLS handshake with w:1");
    assert_eq!(timeout(true), "timed out in the TLS handshake with w:1 behind the proxy");
    assert_eq!(LinkError::from(connect).to_string(), "connection refused by 10.0.0.1:55671");
    let access = AccessError::Bind { addr: "0.0.0.0:55671".into(), source: in_use() };
    assert_eq!(
        access.to_string(),
        format!(
            "cannot listen for links on 0.0.0.0:55671: {}; free the port or choose another one in the RouterAccess",
            in_use()
        )
    );
    let listen = ListenerError::from(ListenError { addr: "127.0.0.1:8080".into(), source: in_use() });
    assert_eq!(
        listen.to_string(),
        format!("cannot listen on 127.0.0.1:8080: {}; free the port or choose another one for the listener", in_use())
    );
    assert!(listen.source().is_some(), "the I/O error is its source");
    assert_eq!(
        SessionError::Version { remote: 1 }.to_string(),
        format!(
            "the remote site speaks link protocol version 1 and this site {PROTOCOL_VERSION}; run the same \
             kubectl-skupper version on both sites"
        )
    );
    assert_eq!(SessionError::Refused { reason: "no".into() }.to_string(), "the remote site refused the link: no");
}

/// Streams on each connection of each session of `r` (the first connection first).
fn streams_per_connection(r: &Router) -> Vec<Vec<usize>> {
    let st = r.shared.lock();
    st.sessions
        .values()
        .map(|s| std::iter::once(s.handle.mux.live()).chain(s.handle.lanes.all().iter().map(|m| m.live())).collect())
        .collect()
}

async fn wait_connections(what: &str, r: &Router, n: usize) -> u64 {
    bounded(what, async {
        loop {
            let sessions = streams_per_connection(r);
            if sessions.len() == 1 && sessions[0].len() == n {
                return r.shared.lock().sessions.keys().next().copied().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_with_three_connections_spreads_its_streams_and_comes_back_whole() {
    let (echo, _echo_task) = echo_server().await;
    let pa = pki("a");
    let mut ca = with_access(config("a"), &pa);
    ca.connectors.insert("backend".into(), connector("echo", echo));
    let a = Router::start(ca).await.unwrap();
    let mut cb = config("b");
    cb.links.insert("to-a".into(), link(&pa, access_port(&a), 1));
    cb.listeners.insert("front".into(), listener("echo"));
    let b = Router::start_with(cb, StartOptions { link_connections: 3, ..StartOptions::default() }).await.unwrap();
    wait_ready(&b, "to-a").await;
    wait_matched(&b, "front").await;
    let first = wait_connections("3 connections on the dialing side", &b, 3).await;
    wait_connections("3 connections on the accepting side", &a, 3).await;
    let port = listener_port(&b, "front").await;

    // 30 connections held open: each of the three carries its share.
    let mut held = Vec::new();
    for i in 0..30u8 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(&[i]).await.unwrap();
        let mut back = [0u8; 1];
        bounded("an echo", s.read_exact(&mut back)).await.unwrap();
        assert_eq!(back, [i]);
        held.push(s);
    }
    for (side, r) in [("dialing", &b), ("accepting", &a)] {
        let per = streams_per_connection(r).remove(0);
        // The first connection also carries the two control streams.
        assert_eq!(per.iter().sum::<usize>(), 32, "{side} side: {per:?}");
        assert!(per.iter().all(|&n| n >= 8), "{side} side spreads streams over its connections: {per:?}");
    }
    drop(held);

    // Bulk data both ways over all three, byte exact.
    let clients: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(async move {
                let data = pattern(100 + i, 4 << 20);
                assert!(round_trip(port, data.clone()).await == data, "connection {i}: content differs");
            })
        })
        .collect();
    bounded("6 bulk echo connections", async {
        for c in clients {
            c.await.unwrap();
        }
    })
    .await;

    // One data connection ends: the link goes down with it and comes back with all three.
    let lane = b.shared.lock().sessions.values().next().unwrap().handle.lanes.all()[0].clone();
    lane.close();
    let again = bounded("a new session with 3 connections", async {
        loop {
            let id = wait_connections("3 connections again", &b, 3).await;
            if id != first {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_ne!(again, first);
    wait_matched(&b, "front").await;
    assert!(bounded("echo after the link came back", round_trip(port, b"whole".to_vec())).await == b"whole");
    b.shutdown().await;
    a.shutdown().await;
}
