//! Shared by the routing and HA end-to-end tests: backends that say who they are, long-lived
//! client connections, linking sites with a cost, and reading `network status -o json`.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use skupper_e2e::{Env, wait_for};

/// Bound for links to come up and routes to settle.
pub(crate) const SETTLE: Duration = Duration::from_secs(60);

/// A TCP backend that first writes its name and a newline, then echoes; stoppable and
/// restartable on the same port.
pub(crate) struct NameServer {
    /// Its port.
    pub port: u16,
    ip: String,
    name: String,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl NameServer {
    /// Starts on `ip`, port chosen by the OS.
    pub(crate) fn start(ip: &str, name: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).expect("bind backend");
        let port = listener.local_addr().expect("backend addr").port();
        let mut s = Self { port, ip: ip.into(), name: name.into(), stop: Arc::default(), accept: None };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking backend");
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        let name = self.name.clone();
        self.accept = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let name = name.clone();
                        std::thread::spawn(move || serve_one(stream, &name));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }

    /// Stops accepting (the port refuses connections); open connections keep going.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }

    /// Accepts again on the same port.
    pub(crate) fn restart(&mut self) {
        let listener = TcpListener::bind((self.ip.as_str(), self.port)).expect("rebind backend");
        self.serve(listener);
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_one(mut s: TcpStream, name: &str) {
    let _ = s.set_nonblocking(false);
    if s.write_all(format!("{name}\n").as_bytes()).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// A client connection through a listener, kept open.
pub(crate) struct Conn {
    /// Name of the backend that answered.
    pub who: String,
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `ip:port` and reads the backend's name (bounded by 10 s).
    pub(crate) fn open(ip: &str, port: u16) -> Result<Self, String> {
        let addr: SocketAddr = format!("{ip}:{port}").parse().map_err(|e| format!("{ip}:{port}: {e}"))?;
        let s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(s);
        let mut who = String::new();
        reader.read_line(&mut who).map_err(|e| format!("reading the backend's name: {e}"))?;
        if !who.ends_with('\n') {
            return Err(format!("the connection closed before the backend answered (got {who:?})"));
        }
        Ok(Self { who: who.trim_end().to_string(), reader })
    }

    /// The connection itself (for reading until it ends).
    pub(crate) fn into_stream(self) -> TcpStream {
        self.reader.into_inner()
    }

    /// Sends `msg` and reads it back: the connection still flows.
    pub(crate) fn echo(&mut self, msg: &str) -> Result<(), String> {
        self.reader.get_mut().write_all(msg.as_bytes()).map_err(|e| format!("write: {e}"))?;
        let mut got = vec![0u8; msg.len()];
        self.reader.read_exact(&mut got).map_err(|e| format!("read: {e}"))?;
        if got == msg.as_bytes() { Ok(()) } else { Err(format!("echoed {:?}", String::from_utf8_lossy(&got))) }
    }
}

/// A free port on `ip` (bound then released).
pub(crate) fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// `from` links to `to` (which has link access) with `link generate --cost cost` applied on
/// `from`; returns the Link's name.
pub(crate) fn link(env: &Env, from: &str, to: &str, cost: u32) -> String {
    let secret = format!("link-{to}-from-{from}");
    let out = env.ns(to, &["link", "generate", "--cost", &cost.to_string(), "--tls-credentials", &secret]).ok();
    env.run_with_input(&["-n", from, "system", "apply", "-f", "-"], Some(&out.stdout)).ok();
    format!("link-{to}-skupper-router")
}

/// `network status -o json` of `ns`.
pub(crate) fn network(env: &Env, ns: &str) -> serde_json::Value {
    let out = env.ns(ns, &["network", "status", "-o", "json"]).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("network status json: {e}\n{out}"))
}

/// The first router's view in `network status -o json`.
pub(crate) fn router(v: &serde_json::Value) -> &serde_json::Value {
    &v["routers"][0]
}

/// The router id of site `name` (its first router) in a router's view.
pub(crate) fn id_of(view: &serde_json::Value, name: &str) -> Option<String> {
    view["network"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name && n["group"] == "skupper-router")
        .and_then(|n| n["id"].as_str())
        .map(str::to_string)
}

/// Waits until `ns` reaches site `target` at path cost `cost` through site `via` and sees its
/// connector for `key`; returns the network view.
pub(crate) fn wait_route(env: &Env, ns: &str, target: &str, cost: u64, via: &str, key: &str) -> serde_json::Value {
    wait_for(&format!("{ns} reaches {target} at cost {cost} via {via}"), SETTLE, || {
        let v = network(env, ns);
        let r = router(&v);
        let node = r["network"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["name"] == target && n["group"] == "skupper-router"));
        let via_id = id_of(r, via);
        match node {
            Some(n)
                if n["reachable"] == true
                    && n["cost"] == cost
                    && via_id.is_some()
                    && n["nextHop"].as_str() == via_id.as_deref()
                    && n["connectors"].as_array().is_some_and(|c| c.iter().any(|k| k == key)) =>
            {
                Ok(v.clone())
            }
            _ => Err(format!("{r:#}\n{}", env.log(ns))),
        }
    })
}

/// Waits until `ns`'s link `name` reports Ready.
pub(crate) fn wait_link_ready(env: &Env, ns: &str, name: &str) {
    wait_for(&format!("link {name} of {ns} Ready"), SETTLE, || {
        let out = env.ns(ns, &["link", "status", name]);
        if out.stdout.contains("Status\t: Ready") { Ok(()) } else { Err(format!("{out}\n{}", env.log(ns))) }
    });
}

/// Waits until the listener's port accepts connections that reach a backend; returns the
/// first such connection.
pub(crate) fn first_conn(env: &Env, ns: &str, port: u16) -> Conn {
    wait_for(&format!("a connection through {ns}'s listener"), SETTLE, || {
        Conn::open(&env.ip, port).map_err(|e| format!("{e}\n{}", env.log(ns)))
    })
}

/// Waits until `ns`'s listener `name` is Ready (bound, and a connector for its key reachable).
pub(crate) fn wait_listener_ready(env: &Env, ns: &str, name: &str) {
    wait_for(&format!("listener {name} of {ns} Ready"), SETTLE, || {
        let out = env.ns(ns, &["listener", "status", name, "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
        if v["status"]["status"] == "Ready" { Ok(()) } else { Err(format!("{v:#}\n{}", env.log(ns))) }
    });
}

/// The routing counters of listener `name` in a router's view.
pub(crate) fn listener<'a>(view: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &view["listeners"][name]
}

/// Waits until the status `ns` writes (every second) counts `total` routed connections for
/// listener `name`; returns the first router's view.
pub(crate) fn wait_counted(env: &Env, ns: &str, name: &str, total: u64) -> serde_json::Value {
    wait_for(&format!("{total} connections counted for listener {name} of {ns}"), SETTLE, || {
        let v = network(env, ns);
        let routed: u64 = router(&v)["listeners"][name]["routed"]
            .as_object()
            .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0);
        if routed == total { Ok(router(&v).clone()) } else { Err(format!("{v:#}")) }
    })
}
