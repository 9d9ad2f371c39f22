//! The ways to reach the echo and sink servers: direct, a plain relay pair, a stunnel pair, our
//! sites over one link and over two hops. One struct per kind; each starts its processes and
//! yields a [`BenchPath`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::procs::{Guard, free_port, read_ports, sh, wait_port};

/// Ports of one way to reach the echo and sink servers.
#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) echo: u16,
    pub(crate) sink: u16,
}

/// One path as the workloads see it.
pub(crate) struct BenchPath {
    pub(crate) name: &'static str,
    pub(crate) ports: Ports,
    /// The processes that make the tunnel (none for direct): their CPU is the tunnel's cost.
    pub(crate) tunnel_pids: Vec<u32>,
    /// A router traffic must cross without ending there (the middle site of two hops).
    pub(crate) transit_pid: Option<u32>,
}

pub(crate) const DIRECT: &str = "direct";
pub(crate) const RELAY: &str = "relay";
pub(crate) const STUNNEL: &str = "stunnel";
pub(crate) const OURS: &str = "ours";
pub(crate) const OURS_2HOPS: &str = "ours, 2 hops";

/// The echo and sink servers in their own process (`linkbench serve`).
pub(crate) struct Servers;

impl Servers {
    pub(crate) fn start(guard: &mut Guard) -> Result<BenchPath> {
        let mut child = Command::new(std::env::current_exe()?).arg("serve").stdout(Stdio::piped()).spawn()?;
        let ports = read_ports(&mut child, 2);
        guard.children.push(child);
        let ports = ports?;
        Ok(BenchPath {
            name: DIRECT,
            ports: Ports { echo: ports[0], sink: ports[1] },
            tunnel_pids: Vec::new(),
            transit_pid: None,
        })
    }

    /// `linkbench serve`: the echo and sink servers, so that the benchmark's own file
    /// descriptors and CPU are not mixed with the servers'. Prints `echo sink` ports.
    pub(crate) fn serve() -> Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        rt.block_on(Self::serve_on())
    }

    async fn serve_on() -> Result<()> {
        {
            let echo = TcpListener::bind("127.0.0.1:0").await?;
            let sink = TcpListener::bind("127.0.0.1:0").await?;
            println!("{} {}", echo.local_addr()?.port(), sink.local_addr()?.port());
            tokio::spawn(async move {
                loop {
                    let Some(s) = accept(&echo).await else { continue };
                    let _ = s.set_nodelay(true);
                    tokio::spawn(async move {
                        let (mut r, mut w) = s.into_split();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                        let _ = w.shutdown().await;
                    });
                }
            });
            loop {
                let Some(mut s) = accept(&sink).await else { continue };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut total = 0u64;
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => total += n as u64,
                        }
                    }
                    let _ = s.write_all(&total.to_be_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        }
    }
}

/// Accepts one connection; an error (a connection reset before it was taken, descriptors
/// running out) is reported and the listener keeps serving after a pause.
async fn accept(listener: &TcpListener) -> Option<TcpStream> {
    match listener.accept().await {
        Ok((s, _)) => Some(s),
        Err(e) => {
            eprintln!("linkbench: accept on {:?}: {e}", listener.local_addr().ok());
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

/// Two plain user-space copy relays without TLS, arranged like the tunnels (client → relay 1 →
/// relay 2 → server): the ceiling any user-space tunnel can reach on this machine.
pub(crate) struct RelayPair;

/// Bytes a relay reads and writes at a time.
const RELAY_BUF: usize = 256 * 1024;

impl RelayPair {
    pub(crate) fn start(direct: Ports, guard: &mut Guard) -> Result<BenchPath> {
        let far = Self::spawn(direct, guard)?;
        let near = Self::spawn(far.0, guard)?;
        Ok(BenchPath { name: RELAY, ports: near.0, tunnel_pids: vec![near.1, far.1], transit_pid: None })
    }

    fn spawn(target: Ports, guard: &mut Guard) -> Result<(Ports, u32)> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["relay", "0", &target.echo.to_string(), "0", &target.sink.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let ports = read_ports(&mut child, 2);
        guard.children.push(child);
        let ports = ports?;
        Ok((Ports { echo: ports[0], sink: ports[1] }, pid))
    }

    /// `linkbench relay LISTEN_PORT TARGET_PORT [LISTEN_PORT TARGET_PORT ...]`: one tokio
    /// worker thread copying each accepted connection to its target both ways (nodelay,
    /// 256 KiB buffers, half-close passed on). Port 0 picks a free port; prints the listening
    /// ports on one line.
    pub(crate) fn relay(args: &[String]) -> Result<()> {
        let pairs: Vec<(u16, u16)> = args
            .chunks(2)
            .map(|c| match c {
                [l, t] => Ok((l.parse()?, t.parse()?)),
                _ => bail!("usage: linkbench relay LISTEN_PORT TARGET_PORT [LISTEN_PORT TARGET_PORT ...]"),
            })
            .collect::<Result<_>>()?;
        if pairs.is_empty() {
            bail!("usage: linkbench relay LISTEN_PORT TARGET_PORT [LISTEN_PORT TARGET_PORT ...]");
        }
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        rt.block_on(async {
            let mut listeners = Vec::new();
            for (l, t) in pairs {
                listeners.push((TcpListener::bind(("127.0.0.1", l)).await?, t));
            }
            let ports: Vec<String> = listeners
                .iter()
                .map(|(l, _)| l.local_addr().map(|a| a.port().to_string()))
                .collect::<Result<_, _>>()?;
            println!("{}", ports.join(" "));
            for (listener, target) in listeners {
                tokio::spawn(async move {
                    loop {
                        if let Some(s) = accept(&listener).await {
                            tokio::spawn(async move {
                                if let Err(e) = Self::forward(s, target).await {
                                    eprintln!("linkbench relay to port {target}: {e:#}");
                                }
                            });
                        }
                    }
                });
            }
            // The relay serves until it is killed.
            std::future::pending::<Result<()>>().await
        })
    }

    async fn forward(client: TcpStream, target: u16) -> Result<()> {
        let server = TcpStream::connect(("127.0.0.1", target)).await?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        tokio::try_join!(Self::copy(cr, sw), Self::copy(sr, cw))?;
        Ok(())
    }

    async fn copy(mut r: impl AsyncReadExt + Unpin, mut w: impl AsyncWriteExt + Unpin) -> Result<()> {
        let mut buf = vec![0u8; RELAY_BUF];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                w.shutdown().await?;
                return Ok(());
            }
            w.write_all(&buf[..n]).await?;
        }
    }
}

/// A stunnel pair with mutual TLS 1.3 (ECDSA P-256, like our links) in front of the servers.
pub(crate) struct Stunnel;

impl Stunnel {
    pub(crate) fn start(work: &Path, direct: Ports, guard: &mut Guard) -> Result<BenchPath> {
        let d = work.join("stunnel");
        std::fs::create_dir_all(&d)?;
        Self::certs(&d)?;
        let (s_echo, s_sink, c_echo, c_sink) = (free_port()?, free_port()?, free_port()?, free_port()?);
        let common = "foreground = yes\nsyslog = no\ndebug = 3\nsslVersionMin = TLSv1.3\n";
        let server = format!(
            "{common}pid = {p}/server.pid\ncert = {p}/server.crt\nkey = {p}/server.key\nCAfile = {p}/ca.crt\nverifyChain = yes\nrequireCert = yes\n\
             [echo]\naccept = 127.0.0.1:{s_echo}\nconnect = 127.0.0.1:{}\n[sink]\naccept = 127.0.0.1:{s_sink}\nconnect = 127.0.0.1:{}\n",
            direct.echo,
            direct.sink,
            p = d.display()
        );
        let client = format!(
            "{common}pid = {p}/client.pid\nclient = yes\ncert = {p}/client.crt\nkey = {p}/client.key\nCAfile = {p}/ca.crt\nverifyChain = yes\ncheckIP = 127.0.0.1\n\
             [echo]\naccept = 127.0.0.1:{c_echo}\nconnect = 127.0.0.1:{s_echo}\n[sink]\naccept = 127.0.0.1:{c_sink}\nconnect = 127.0.0.1:{s_sink}\n",
            p = d.display()
        );
        std::fs::write(d.join("server.conf"), server)?;
        std::fs::write(d.join("client.conf"), client)?;
        let mut pids = Vec::new();
        for conf in ["server.conf", "client.conf"] {
            let log = std::fs::File::create(d.join(format!("{conf}.log")))?;
            let child = Command::new("stunnel4")
                .arg(d.join(conf))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting stunnel4 (apt-get install stunnel4)")?;
            pids.push(child.id());
            guard.children.push(child);
        }
        for p in [s_echo, s_sink, c_echo, c_sink] {
            wait_port(p, "stunnel")?;
        }
        Ok(BenchPath {
            name: STUNNEL,
            ports: Ports { echo: c_echo, sink: c_sink },
            tunnel_pids: pids,
            transit_pid: None,
        })
    }

    fn certs(d: &Path) -> Result<()> {
        let ossl = |args: &str| sh(Command::new("sh").arg("-c").arg(format!("cd {} && openssl {args}", d.display())));
        ossl(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca",
        )?;
        for (name, ext) in [("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")] {
            ossl(&format!(
                "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key -out {name}.csr -subj /CN={name}"
            ))?;
            std::fs::write(d.join(format!("{name}.ext")), ext)?;
            ossl(&format!(
                "x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out {name}.crt -days 2 -extfile {name}.ext"
            ))?;
        }
        Ok(())
    }
}

/// Our sites on the local platform, all in one data directory, driven by the CLI.
pub(crate) struct Sites {
    binary: PathBuf,
    home: PathBuf,
    work: PathBuf,
}

impl Sites {
    pub(crate) fn new(work: &Path, binary: &Path) -> Result<Self> {
        let home = work.join("sites");
        std::fs::create_dir_all(&home)?;
        Ok(Self { binary: binary.to_path_buf(), home, work: work.to_path_buf() })
    }

    fn sk(&self, ns: &str, args: &[&str]) -> Result<String> {
        sh(Command::new(&self.binary).env("XDG_DATA_HOME", &self.home).args(["-n", ns]).args(args))
    }

    pub(crate) fn create(&self, ns: &str, link_access: bool) -> Result<()> {
        let mut args = vec!["site", "create", ns];
        if link_access {
            args.push("--enable-link-access");
        }
        self.sk(ns, &args).map(drop)
    }

    /// `from` links to `to` (which has link access).
    pub(crate) fn link(&self, from: &str, to: &str) -> Result<()> {
        let link = self.sk(to, &["link", "generate"])?;
        let file = self.work.join(format!("link-{from}-{to}.yaml"));
        std::fs::write(&file, link)?;
        self.sk(from, &["system", "apply", "-f", &file.to_string_lossy()]).map(drop)
    }

    /// Connectors to the echo and sink servers under routing keys `{key}-echo` and `{key}-sink`.
    pub(crate) fn connectors(&self, ns: &str, key: &str, direct: Ports) -> Result<()> {
        self.services(ns, "connector", key, direct)
    }

    /// Listeners for the routing keys of [`Sites::connectors`] on free ports.
    pub(crate) fn listeners(&self, ns: &str, key: &str) -> Result<Ports> {
        let ports = Ports { echo: free_port()?, sink: free_port()? };
        self.services(ns, "listener", key, ports)?;
        Ok(ports)
    }

    /// A `kind` (connector or listener) `{key}-echo` on the echo port and `{key}-sink` on the
    /// sink port, each with its name as routing key.
    fn services(&self, ns: &str, kind: &str, key: &str, ports: Ports) -> Result<()> {
        for (what, port) in [("echo", ports.echo), ("sink", ports.sink)] {
            let name = format!("{key}-{what}");
            self.sk(ns, &[kind, "create", &name, &port.to_string(), "--routing-key", &name, "--host", "127.0.0.1"])?;
        }
        Ok(())
    }

    /// `system start`, and `system stop` when the guard drops.
    pub(crate) fn start(&self, ns: &str, guard: &mut Guard) -> Result<u32> {
        self.sk(ns, &["system", "start"])?;
        let (binary, home, ns_owned) = (self.binary.clone(), self.home.clone(), ns.to_string());
        guard.stops.push(Box::new(move || {
            let _ =
                Command::new(&binary).env("XDG_DATA_HOME", &home).args(["-n", &ns_owned, "system", "stop"]).output();
        }));
        self.pid(ns)
    }

    fn pid(&self, ns: &str) -> Result<u32> {
        let f = self.home.join(format!("kubectl-skupper/namespaces/{ns}/runtime/router.pid"));
        Ok(std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?.trim().parse()?)
    }

    /// Waits until `ns` reports `n` links Ready.
    pub(crate) fn wait_links(&self, ns: &str, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.sk(ns, &["link", "status"])?;
            if status.lines().skip(1).filter(|l| l.contains("Ready")).count() >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{ns}: {n} link(s) did not become Ready within 30s:\n{status}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The names of the links `ns` has (first column of `link status`).
    pub(crate) fn link_names(&self, ns: &str) -> Result<Vec<String>> {
        let status = self.sk(ns, &["link", "status"])?;
        Ok(status.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
    }

    pub(crate) fn delete_link(&self, ns: &str, name: &str) -> Result<()> {
        self.sk(ns, &["link", "delete", name]).map(drop)
    }

    /// Waits until a byte is echoed through `port` (the connector's routing key is known there).
    pub(crate) fn wait_flow(port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", port)).ok().and_then(|mut s| {
                use std::io::{Read, Write};
                s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                s.write_all(b"x").ok()?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).ok()
            });
            if ok.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("traffic did not flow through port {port} within 30s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Two sites joined by one link: `west` accepts the link and has the connectors, `east` links
/// to it and has the listeners. Tunnel pids: east (listener site), west (connector site).
pub(crate) struct OneHop;

impl OneHop {
    pub(crate) fn start(sites: &Sites, direct: Ports, guard: &mut Guard) -> Result<BenchPath> {
        sites.create("west", true)?;
        sites.create("east", false)?;
        sites.link("east", "west")?;
        sites.connectors("west", "bench", direct)?;
        let ports = sites.listeners("east", "bench")?;
        let west = sites.start("west", guard)?;
        let east = sites.start("east", guard)?;
        sites.wait_links("east", 1)?;
        Sites::wait_flow(ports.echo)?;
        Ok(BenchPath { name: OURS, ports, tunnel_pids: vec![east, west], transit_pid: None })
    }
}

/// Three sites A–B–C: B has link access, A (listeners) and C (connectors) both link to B and
/// not to each other, so every byte crosses B's router. Tunnel pids: A, B, C.
pub(crate) struct TwoHops;

impl TwoHops {
    pub(crate) fn start(sites: &Sites, direct: Ports, guard: &mut Guard) -> Result<BenchPath> {
        sites.create("hop-b", true)?;
        sites.create("hop-a", false)?;
        sites.create("hop-c", false)?;
        sites.link("hop-a", "hop-b")?;
        sites.link("hop-c", "hop-b")?;
        sites.connectors("hop-c", "bench2", direct)?;
        let ports = sites.listeners("hop-a", "bench2")?;
        let b = sites.start("hop-b", guard)?;
        let c = sites.start("hop-c", guard)?;
        let a = sites.start("hop-a", guard)?;
        sites.wait_links("hop-a", 1)?;
        sites.wait_links("hop-c", 1)?;
        Sites::wait_flow(ports.echo)?;
        Ok(BenchPath { name: OURS_2HOPS, ports, tunnel_pids: vec![a, b, c], transit_pid: Some(b) })
    }
}
