//! A link made of several TLS connections between real site processes: with
//! `SKUPPER_LINK_CONNECTIONS=3` the dialing site opens three connections to the other site's
//! link port (seen in /proc, by the owning process), and proxied connections flow over them.

mod routing_support;

use std::collections::HashSet;

use routing_support::{Conn, NameServer, SETTLE, free_port, link, wait_listener_ready};
use skupper_e2e::{Env, wait_for};

/// A TCP socket of a process: local and remote `ip:port` (hex, as /proc writes them) and state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Socket {
    local: String,
    remote: String,
    state: String,
}

/// The IPv4 TCP sockets process `pid` holds open.
fn sockets(pid: u32) -> Vec<Socket> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|t| {
                    let t = t.to_string_lossy().into_owned();
                    t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote, state, inode) = (f.get(1)?, f.get(2)?, f.get(3)?, f.get(9)?);
            inodes.contains(*inode).then(|| Socket {
                local: local.to_string(),
                remote: remote.to_string(),
                state: state.to_string(),
            })
        })
        .collect()
}

/// TCP states as /proc/net/tcp writes them.
const LISTEN: &str = "0A";
const ESTABLISHED: &str = "01";

/// Established connections from `from` to a port `to` listens on.
fn connections_between(from: u32, to: u32) -> usize {
    let listening: HashSet<String> = sockets(to).into_iter().filter(|s| s.state == LISTEN).map(|s| s.local).collect();
    sockets(from).iter().filter(|s| s.state == ESTABLISHED && listening.contains(&s.remote)).count()
}

#[test]
fn a_link_told_to_open_three_connections_opens_three_and_carries_traffic_over_them() {
    let env = Env::new("link-conns");
    let backend = NameServer::start(&env.ip, "west");
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    link(&env, "east", "west", 1);
    let front = free_port(&env.ip);
    let (bp, fp) = (backend.port.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "svc", &bp, "--host", &env.ip]).ok();
    env.ns("east", &["listener", "create", "front", &fp, "--routing-key", "svc", "--host", &env.ip]).ok();
    let west = env.start("west");
    env.run_full(&["-n", "east", "system", "start"], None, &[("SKUPPER_LINK_CONNECTIONS", "3")]).ok();
    let east = env.pid("east").expect("east runs");
    wait_listener_ready(&env, "east", "front");
    wait_for("three connections from east to west's link port", SETTLE, || match connections_between(east, west) {
        3 => Ok(()),
        n => Err(format!("{n} connections\n{}", env.log("east"))),
    });
    // The accepting side holds the same three.
    let east_ends: HashSet<String> = sockets(east).into_iter().map(|s| s.local).collect();
    let accepted = sockets(west).iter().filter(|s| s.state == ESTABLISHED && east_ends.contains(&s.remote)).count();
    assert_eq!(accepted, 3, "west's end of the link's connections");

    let mut conns: Vec<Conn> =
        (0..9).map(|_| Conn::open(&env.ip, front).unwrap_or_else(|e| panic!("{e}\n{}", env.log("east")))).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.who, "west");
        c.echo(&format!("over one of three connections, #{i}")).expect("bytes flow");
    }
    // Still three: streams ride on the link's connections, they do not add any.
    assert_eq!(connections_between(east, west), 3);
}
