//! Hostile clients and fault helpers for the reliability tests and `scripts/chaos.sh`: slots
//! that hold connections to a server (bare TCP, or TLS and half a request head) and reopen them
//! when closed, a site started under a lowered open-file limit, descriptor counts.
//! Traffic goes only to loopback addresses.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{Env, binary, echo_once, echo_server, wait_for, wait_output};

/// How long a link may take to come up in these scenarios.
pub const LINK_UP: Duration = Duration::from_secs(30);

/// Starts `ns`'s site under `prlimit --nofile=N:N` with extra environment variables; returns
/// its pid.
pub fn start_limited(env: &Env, ns: &str, nofile: u32, envs: &[(&str, &str)]) -> u32 {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={nofile}:{nofile}")).arg(binary()).args(["-n", ns, "system", "start"]);
    cmd.current_dir(&env.work)
        .env("XDG_DATA_HOME", &env.data)
        .env_remove("SKUPPER_HOME")
        .env_remove("SKUPPER_PLATFORM");
    cmd.envs(envs.iter().copied());
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("prlimit");
    wait_output(child, "prlimit ... system start").ok();
    env.pid(ns).expect("a started site writes its pid file")
}

/// File descriptors `pid` has open.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A TLS client configuration trusting the CA of the token file `file` (in the work directory).
pub fn token_tls(env: &Env, file: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject as _;
    let ca = env.yaml(&env.work.join(file))["spec"]["ca"].as_str().expect("ca").to_string();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// What the hostile clients did, and the switch that stops them.
#[derive(Debug, Default)]
pub struct Attack {
    /// Connections opened.
    pub opened: AtomicUsize,
    /// Connections that reached the point of holding (TLS and half a request, or plain TCP).
    pub held: AtomicUsize,
    /// Set to stop every slot.
    pub stop: AtomicBool,
}

/// One hostile connection slot from `source`, until the attack stops: connect, (TLS handshake
/// and half a request head,) hold the connection until the server closes it, and again (at
/// most 20 times a second).
pub async fn hostile_slot(
    source: Ipv4Addr,
    target: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    attack: Arc<Attack>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    while !attack.stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return };
        if socket.bind(SocketAddr::from((source, 0))).is_err() {
            return;
        }
        let connected = tokio::time::timeout(Duration::from_secs(3), socket.connect(target)).await;
        if let Ok(Ok(mut tcp)) = connected {
            attack.opened.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 512];
            let hold = async {
                match &tls {
                    Some(cfg) => {
                        let name = rustls_pki_types::ServerName::IpAddress(target.ip().into());
                        let connector = tokio_rustls::TlsConnector::from(cfg.clone());
                        let Ok(mut s) = connector.connect(name, tcp).await else { return };
                        if s.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\n").await.is_err() {
                            return;
                        }
                        let _ = s.flush().await;
                        attack.held.fetch_add(1, Ordering::Relaxed);
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 {
                                return;
                            }
                        }
                    }
                    None => {
                        attack.held.fetch_add(1, Ordering::Relaxed);
                        while let Ok(n) = tcp.read(&mut buf).await {
                            if n == 0 {
                                return;
                            }
                        }
                    }
                }
            };
            let stopped = async {
                while !attack.stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            tokio::select! {
                _ = hold => {}
                _ = stopped => return,
            }
        }
        let spent = began.elapsed();
        if spent < Duration::from_millis(50) {
            tokio::time::sleep(Duration::from_millis(50) - spent).await;
        }
    }
}

/// Starts `sources` x `slots` hostile slots against `target` on `rt`, the sources being
/// `127.<net>.0.1..`.
pub fn launch(
    rt: &tokio::runtime::Runtime,
    net: u8,
    sources: u8,
    slots: usize,
    target: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    attack: &Arc<Attack>,
) {
    for s in 1..=sources {
        for _ in 0..slots {
            rt.spawn(hostile_slot(Ipv4Addr::new(127, net, 0, s), target, tls.clone(), attack.clone()));
        }
    }
}

/// A free port on `ip` (bound then released).
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Waits until `ns`'s link `name` reports `Ready`.
pub fn wait_link_ready(env: &Env, ns: &str, name: &str, within: Duration) {
    wait_for(&format!("link {name} of {ns} Ready"), within, || {
        let out = env.ns(ns, &["link", "status", name]);
        if out.stdout.contains("Status\t: Ready") { Ok(()) } else { Err(format!("{out}\n{}", env.log(ns))) }
    });
}

/// Issues a token on `west` into `file` and returns the token's name.
pub fn issue(env: &Env, file: &str) -> String {
    env.ns("west", &["token", "issue", file]).ok();
    env.yaml(&env.work.join(file))["metadata"]["name"].as_str().expect("token name").to_string()
}

/// west (link access, started by `start_west`) and east linked by a redeemed token, with an
/// echo service on west reachable through a listener on east. Returns (link name, front port,
/// west's pid).
pub fn linked_with_traffic(env: &Env, start_west: impl FnOnce(&Env) -> u32) -> (String, u16, u32) {
    env.site_with_link_access("west");
    let west = start_west(env);
    env.ns("east", &["site", "create", "east"]).ok();
    let name = issue(env, "tok.yaml");
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    env.start("east");
    wait_link_ready(env, "east", &name, LINK_UP);
    let backend = echo_server(&env.ip).to_string();
    let front = free_port(&env.ip);
    env.ns("west", &["connector", "create", "backend", &backend, "--routing-key", "echo", "--host", &env.ip]).ok();
    env.ns("east", &["listener", "create", "front", &front.to_string(), "--routing-key", "echo", "--host", &env.ip])
        .ok();
    echo_through(env, front, "first");
    (name, front, west)
}

/// Waits until an echo through the listener on `front` comes back (`label` names the moment).
pub fn echo_through(env: &Env, front: u16, label: &str) {
    wait_for(&format!("echo through the link ({label})"), LINK_UP, || {
        let got = echo_once(&env.ip, front, "hello skupper")?;
        if got == "hello skupper" { Ok(()) } else { Err(format!("got {got:?}")) }
    });
}
