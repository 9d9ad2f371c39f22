//! Shared by the `proxy_*` tests: real HTTP CONNECT proxies from Debian packages (squid with
//! basic auth, tinyproxy), each with its own configuration in the test's directory, listening on
//! the test's loopback address, run in the foreground and stopped by pid; plus link helpers
//! (status polling, a proxy Secret, byte-exact traffic through a listener/connector pair).
//!
//! The packages are installed by `scripts/install-test-deps.sh` when missing.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use skupper_e2e::{Daemon, Env, wait_for};

/// Longest a link may take to reach a state (connect, fail, recover after a backoff).
pub(crate) const LINK_WAIT: Duration = Duration::from_secs(60);
/// Longest a proxy may take to start listening.
const PROXY_START: Duration = Duration::from_secs(30);

/// The link `link generate` on site `west` names.
pub(crate) const LINK: &str = "link-west-skupper-router";

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn ncsa_helper() -> Option<PathBuf> {
    ["/usr/lib/squid/basic_ncsa_auth", "/usr/lib64/squid/basic_ncsa_auth", "/usr/libexec/squid/basic_ncsa_auth"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn installed() -> bool {
    ["squid", "tinyproxy", "htpasswd"].iter().all(|p| find_program(p).is_some()) && ncsa_helper().is_some()
}

/// Installs squid, apache2-utils and tinyproxy with `scripts/install-test-deps.sh` when one is
/// missing (once per test process); panics with what to do when that is not possible.
pub(crate) fn ensure_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if installed() {
            return;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scripts").join("install-test-deps.sh");
        let status = Command::new("bash").arg(&script).stdin(Stdio::null()).status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()) && installed(),
            "squid, basic_ncsa_auth, htpasswd and tinyproxy are needed; run {} as root ({status:?})",
            script.display()
        );
    });
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd").is_ok_and(|p| p.lines().any(|l| l.split(':').next() == Some(name)))
}

/// A free port on `ip` (bound, then released).
pub(crate) fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A directory every user may write (squid started as root works as its effective user).
fn shared_dir(env: &Env, tag: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = env.dir.join(tag);
    std::fs::create_dir_all(&dir).expect("proxy dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod proxy dir");
    dir
}

/// A proxy process: a [`Daemon`] (recorded for the harness's sweep, stopped by pid: SIGTERM,
/// then SIGKILL after 15 s).
struct Guard {
    daemon: Daemon,
}

impl Guard {
    fn alive(&mut self) -> bool {
        self.daemon.alive()
    }

    fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// Starts `cmd` (output to `out`) and waits until `ip:port` accepts connections.
fn spawn_listening(mut cmd: Command, what: &str, out: &Path, ip: &str, port: u16, log: &Path) -> Guard {
    let file = std::fs::File::create(out).expect("proxy output file");
    let err = file.try_clone().expect("proxy output file");
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    let mut guard = Guard { daemon: Daemon::spawn(&mut cmd, what) };
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().expect("proxy address");
    let deadline = Instant::now() + PROXY_START;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return guard;
        }
        let dump = || {
            format!(
                "{}\n{}",
                std::fs::read_to_string(out).unwrap_or_default(),
                std::fs::read_to_string(log).unwrap_or_default()
            )
        };
        if !guard.alive() {
            panic!("{what} exited before listening on {addr}:\n{}", dump());
        }
        if Instant::now() > deadline {
            guard.stop();
            panic!("{what} did not listen on {addr} within {PROXY_START:?}:\n{}", dump());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real squid on the test's address: basic auth from an htpasswd file, CONNECT allowed only to
/// the given ports and only for authenticated users, no cache, foreground (`-N`).
pub(crate) struct Squid {
    /// Listening address.
    pub ip: String,
    /// Listening port.
    pub port: u16,
    /// Its directory (configuration, logs, pid file).
    pub dir: PathBuf,
    guard: Option<Guard>,
}

impl Squid {
    /// Configures and starts squid allowing CONNECT to `ports` for `users` (name, password).
    pub(crate) fn start(env: &Env, tag: &str, ports: &[u16], users: &[(&str, &str)]) -> Self {
        ensure_installed();
        let dir = shared_dir(env, tag);
        let passwd = dir.join("passwd");
        for (i, (user, pass)) in users.iter().enumerate() {
            let create = if i == 0 { "-bc" } else { "-b" };
            let out = Command::new(find_program("htpasswd").expect("htpasswd"))
                .args([create, &passwd.display().to_string(), user, pass])
                .output()
                .expect("running htpasswd");
            assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        if users.is_empty() {
            std::fs::write(&passwd, "").expect("empty passwd");
        }
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).expect("chmod passwd");
        }
        let port = free_port(&env.ip);
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let d = dir.display();
        let mut conf = format!(
            "http_port {ip}:{port}\n\
             pid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\n\
             access_log stdio:{d}/access.log\n\
             buffered_logs off\n\
             logfile_rotate 0\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             coredump_dir {d}\n\
             pinger_enable off\n\
             netdb_filename none\n\
             shutdown_lifetime 0 seconds\n\
             auth_param basic program {helper} {d}/passwd\n\
             auth_param basic children 2 startup=1\n\
             auth_param basic realm skupper-e2e\n\
             acl authenticated proxy_auth REQUIRED\n\
             acl SSL_ports port {ports}\n\
             acl Safe_ports port {ports}\n\
             acl CONNECT method CONNECT\n\
             http_access deny !Safe_ports\n\
             http_access deny CONNECT !SSL_ports\n\
             http_access allow CONNECT authenticated\n\
             http_access deny all\n",
            ip = env.ip,
            helper = ncsa_helper().expect("basic_ncsa_auth").display(),
            ports = ports.join(" "),
        );
        if running_as_root() {
            // Squid started as root drops privileges; the directory is writable for everyone.
            let user = if user_exists("proxy") { "proxy" } else { "nobody" };
            conf.push_str(&format!("cache_effective_user {user}\n"));
        }
        std::fs::write(dir.join("squid.conf"), conf).expect("squid.conf");
        let mut s = Self { ip: env.ip.clone(), port, dir, guard: None };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(find_program("squid").expect("squid"));
        cmd.arg("-N").arg("-f").arg(self.dir.join("squid.conf"));
        let log = self.dir.join("cache.log");
        let guard = spawn_listening(cmd, "squid", &self.dir.join("squid.out"), &self.ip, self.port, &log);
        self.guard = Some(guard);
    }

    /// Stops squid (by pid) and waits until it has exited.
    pub(crate) fn stop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.stop();
        }
    }

    /// Starts squid again, same configuration and port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The access log so far.
    pub(crate) fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// `host:port` of the proxy.
    pub(crate) fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// A real tinyproxy on the test's address without authentication, CONNECT allowed only to the
/// given ports, foreground (`-d`).
pub(crate) struct Tinyproxy {
    /// Listening address.
    pub ip: String,
    /// Listening port.
    pub port: u16,
    /// Its directory.
    pub dir: PathBuf,
    guard: Option<Guard>,
}

impl Tinyproxy {
    /// Configures and starts tinyproxy allowing CONNECT to `ports`.
    pub(crate) fn start(env: &Env, tag: &str, ports: &[u16]) -> Self {
        ensure_installed();
        let dir = shared_dir(env, tag);
        let port = free_port(&env.ip);
        let d = dir.display();
        let mut conf = format!(
            "Port {port}\nListen {ip}\nTimeout 3600\nMaxClients 50\nLogLevel Info\n\
             LogFile \"{d}/tinyproxy.log\"\nPidFile \"{d}/tinyproxy.pid\"\n",
            ip = env.ip
        );
        for p in ports {
            conf.push_str(&format!("ConnectPort {p}\n"));
        }
        std::fs::write(dir.join("tinyproxy.conf"), conf).expect("tinyproxy.conf");
        let mut cmd = Command::new(find_program("tinyproxy").expect("tinyproxy"));
        cmd.arg("-d").arg("-c").arg(dir.join("tinyproxy.conf"));
        let log = dir.join("tinyproxy.log");
        let guard = spawn_listening(cmd, "tinyproxy", &dir.join("tinyproxy.out"), &env.ip, port, &log);
        Self { ip: env.ip.clone(), port, dir, guard: Some(guard) }
    }

    /// Its log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    /// `host:port` of the proxy.
    pub(crate) fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.stop();
        }
    }
}

/// A `kubernetes.io/basic-auth` proxy Secret document (reference §4.1), credentials optional.
pub(crate) fn proxy_secret(name: &str, host: &str, port: u16, credentials: Option<(&str, &str)>) -> String {
    let mut s = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/basic-auth\n\
         stringData:\n  host: \"{host}\"\n  port: \"{port}\"\n"
    );
    if let Some((user, pass)) = credentials {
        s.push_str(&format!("  username: {user}\n  password: {pass}\n"));
    }
    s
}

/// The same Secret with base64 `data` instead of `stringData`.
pub(crate) fn proxy_secret_data(name: &str, host: &str, port: u16, user: &str, password: &str) -> String {
    let b = |v: &str| base64(v.as_bytes());
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/basic-auth\ndata:\n  \
         host: {}\n  port: {}\n  username: {}\n  password: {}\n",
        b(host),
        b(&port.to_string()),
        b(user),
        b(password)
    )
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `system apply -f -` of `yaml` in `ns`.
pub(crate) fn apply(env: &Env, ns: &str, yaml: &str) -> skupper_e2e::Out {
    env.run_with_input(&["-n", ns, "system", "apply", "-f", "-"], Some(yaml))
}

/// The inter-router port of `ns`'s link access.
pub(crate) fn inter_router_port(env: &Env, ns: &str) -> u16 {
    let v = env.yaml(&env.home(ns).join("runtime").join("ports.yaml"));
    v["interRouter"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("interRouter port")
}

/// Given west with link access: creates east, which gets west's generated Link (naming proxy
/// Secret `proxy`) and the proxy Secret `secret`. Nothing is started.
pub(crate) fn proxied_pair(env: &Env, proxy: &str, secret: &str) {
    env.ns("east", &["site", "create", "east"]).ok();
    let generated = env.ns("west", &["link", "generate", "--proxy-configuration", proxy]).ok();
    apply(env, "east", &format!("{}{secret}", generated.stdout)).ok();
}

/// `link status <name> -o json` of `ns`.
pub(crate) fn link_json(env: &Env, ns: &str, name: &str) -> Result<serde_json::Value, String> {
    let out = env.ns(ns, &["link", "status", name, "-o", "json"]);
    serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))
}

/// Status and message of a link status document.
pub(crate) fn status_of(v: &serde_json::Value) -> (String, String) {
    let s = |k: &str| v["status"][k].as_str().unwrap_or_default().to_string();
    (s("status"), s("message"))
}

/// Polls `ns`'s link until `check(status, message)`; returns the last document.
#[track_caller]
pub(crate) fn wait_link(
    env: &Env,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&str, &str) -> bool,
) -> serde_json::Value {
    wait_for(&format!("link {name} of {ns}: {what}"), LINK_WAIT, || {
        let v = link_json(env, ns, name)?;
        let (status, message) = status_of(&v);
        if check(&status, &message) {
            Ok(v)
        } else {
            Err(format!("status {status:?}, message {message:?}\n{}", tail(&env.log(ns), 20)))
        }
    })
}

/// Waits until `ns`'s link is Ready.
#[track_caller]
pub(crate) fn wait_ready(env: &Env, ns: &str, name: &str) -> serde_json::Value {
    wait_link(env, ns, name, "Ready", |s, _| s == "Ready")
}

/// Waits until `ns`'s link reports `message` exactly (and is not Ready).
#[track_caller]
pub(crate) fn wait_message(env: &Env, ns: &str, name: &str, message: &str) -> serde_json::Value {
    wait_link(env, ns, name, &format!("message {message:?}"), |s, m| s != "Ready" && m == message)
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A connector on west to an echo server and a listener on east with the same routing key;
/// returns the listener's port once a round trip works.
pub(crate) fn echo_service(env: &Env) -> u16 {
    let backend = skupper_e2e::echo_server(&env.ip);
    let front = free_port(&env.ip);
    let (b, f) = (backend.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "backend", &b, "--routing-key", "echo", "--host", &env.ip]).ok();
    env.ns("east", &["listener", "create", "front", &f, "--routing-key", "echo", "--host", &env.ip]).ok();
    wait_for("a round trip through the link", LINK_WAIT, || {
        let got = skupper_e2e::echo_once(&env.ip, front, "hello through the proxy")?;
        if got == "hello through the proxy" { Ok(()) } else { Err(format!("got {got:?}")) }
    });
    front
}

/// `n` bytes that are not a repeating short pattern (a simple LCG).
pub(crate) fn payload(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

/// Sends `data` to the echo service at `ip:port` while reading it back; returns what came back
/// (all of it, or what arrived before the connection ended or 30 s passed without a byte).
pub(crate) fn round_trip(ip: &str, port: u16, data: &[u8]) -> Result<Vec<u8>, String> {
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().map_err(|e| format!("{e}"))?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let to_send = data.to_vec();
    let writer = std::thread::spawn(move || w.write_all(&to_send).map_err(|e| format!("write: {e}")));
    let mut r = s;
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 64 << 10];
    while got.len() < data.len() {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read after {} bytes: {e}", got.len())),
        }
    }
    writer.join().map_err(|_| "writer panicked".to_string())??;
    Ok(got)
}

#[test]
fn base64_matches_the_rfc_examples() {
    assert_eq!(
        ["", "f", "fo", "foo", "foob", "fooba", "foobar"].map(|s| base64(s.as_bytes())),
        ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"]
    );
}
