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
        backoff: Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(250) },
    }
}

fn with_access(mut c: RouterConfig, p: &Pki) -> RouterConfig {
    c.link_access = Some(LinkAccessConfig {
        bind_host: "127.0.0.1".into(),
        inter_router_port: 0,
        edge_port: 0,
        tls: p.server.tls(),
    });
    c
}

fn link(remote: &Pki, port: u16, cost: u32) -> LinkConfig {
    LinkConfig { host: "127.0.0.1".into(), port, cost, tls: remote.client.tls(), proxy: None, config_error: None }
}

fn listener(key: &str) -> ListenerConfig {
    ListenerConfig { routing_key: key.into(), host: "127.0.0.1".into(), port: 0 }
}

fn connector(key: &str, port: u16) -> ConnectorConfig {
    ConnectorConfig { routing_key: key.into(), host: "127.0.0.1".into(), port }
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
