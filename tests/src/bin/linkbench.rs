//! `linkbench`: the same workloads over direct TCP, a stunnel pair with mutual TLS and two of our
//! sites joined by one link, measured in one run on 127.0.0.1, printed as a table with ratios.
//!
//! Workloads: bulk throughput with 1 and 8 streams, new connections per second (connect, one
//! small request/response, close), request/response latency percentiles at low load, and the
//! resident memory a router holds per idle proxied connection. Each workload runs three times
//! (`--runs N`), the paths taking turns, and the table shows the medians. Run it with
//! `scripts/bench.sh` (`--quick` for a smoke run, `--no-stunnel`, `--out FILE`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Workload sizes; `--quick` shrinks them for a smoke run.
#[derive(Clone, Copy)]
struct Sizes {
    bulk_bytes: u64,
    rate_secs: f64,
    rate_concurrency: usize,
    latency_round_trips: usize,
    idle: [usize; 2],
    /// Runs of each workload (the median is reported).
    runs: usize,
}

const FULL: Sizes = Sizes {
    bulk_bytes: 2 << 30,
    rate_secs: 5.0,
    rate_concurrency: 16,
    latency_round_trips: 20_000,
    idle: [1_000, 10_000],
    runs: 3,
};
const QUICK: Sizes = Sizes {
    bulk_bytes: 128 << 20,
    rate_secs: 1.0,
    rate_concurrency: 8,
    latency_round_trips: 2_000,
    idle: [100, 500],
    runs: 1,
};

/// Ports of one way to reach the echo and sink servers.
#[derive(Clone, Copy)]
struct Path2 {
    echo: u16,
    sink: u16,
}

/// Kills a child process on drop (only processes this program started, by pid).
struct Guard(Vec<Child>, Vec<Box<dyn FnMut()>>);

impl Drop for Guard {
    fn drop(&mut self) {
        for f in &mut self.1 {
            f();
        }
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve();
    }
    let quick = args.iter().any(|a| a == "--quick");
    let no_stunnel = args.iter().any(|a| a == "--no-stunnel");
    let out = flag(&args, "--out").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/linkbench/latest.md"));
    let binary =
        flag(&args, "--binary").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/release/kubectl-skupper"));
    if !binary.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p kubectl-skupper` or pass --binary",
            binary.display()
        );
    }
    let mut sizes = if quick { QUICK } else { FULL };
    if let Some(runs) = flag(&args, "--runs") {
        sizes.runs = runs.parse().ok().filter(|&n| n > 0).context("--runs takes a positive number")?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(sizes, &binary, &out, !no_stunnel))
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// `linkbench serve`: the echo and sink servers in their own process, so that the benchmark's
/// own file descriptors and CPU are not mixed with the servers'. Prints `echo sink` ports.
fn serve() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(async {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let sink = TcpListener::bind("127.0.0.1:0").await?;
        println!("{} {}", echo.local_addr()?.port(), sink.local_addr()?.port());
        tokio::spawn(async move {
            while let Ok((s, _)) = echo.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        });
        while let Ok((mut s, _)) = sink.accept().await {
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
        Ok(())
    })
}

async fn run(sizes: Sizes, binary: &Path, out: &Path, with_stunnel: bool) -> Result<()> {
    let work = std::env::temp_dir().join(format!("linkbench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut guard = Guard(Vec::new(), Vec::new());

    let me = std::env::current_exe()?;
    let mut server = Command::new(me).arg("serve").stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().context("server stdout")?),
        &mut line,
    )?;
    let ports: Vec<u16> = line.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    let direct = Path2 { echo: ports[0], sink: ports[1] };
    guard.0.push(server);

    let stunnel = if with_stunnel { Some(start_stunnel(&work, direct, &mut guard)?) } else { None };
    // The two stunnel processes are the children started after the server.
    let stunnel_pids: Vec<u32> = guard.0.iter().skip(1).map(Child::id).collect();
    let (ours, routers) = start_sites(&work, binary, direct, &mut guard)?;

    // Memory first, while the routers hold nothing from the bulk workloads (memory they keep
    // and reuse afterwards would hide what idle connections cost).
    let mut mem = Vec::new();
    for n in sizes.idle {
        // A size the router cannot hold is a finding for the table, not a reason to lose the run.
        match idle_memory(ours.echo, n, &routers).await {
            Ok(kib) => {
                eprintln!("memory per idle connection with {n}: {kib:?} KiB (listener site, connector site)");
                mem.push((n, Ok(kib)));
            }
            Err(e) => {
                eprintln!("idle connections: {n} could not be held open: {e:#}");
                mem.push((n, Err(format!("{e:#}"))));
            }
        }
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut cpu_rows: Vec<Row> = Vec::new();
    // Each path with the processes that make its tunnel (none for direct).
    let mut paths: Vec<(&str, Path2, Vec<u32>)> = vec![("direct", direct, Vec::new())];
    if let Some(s) = stunnel {
        paths.push(("stunnel", s, stunnel_pids));
    }
    paths.push(("ours", ours, routers.to_vec()));

    // Each workload runs `runs` times, the paths taking turns, and the median is reported: on a
    // shared machine one run can be off by a fifth.
    let runs = sizes.runs;
    let gib = sizes.bulk_bytes as f64 / f64::from(1u32 << 30);
    for streams in [1usize, 8] {
        let mut all = vec![Vec::new(); paths.len()];
        let mut cpu = vec![Vec::new(); paths.len()];
        for _ in 0..runs {
            for (i, (name, p, pids)) in paths.iter().enumerate() {
                let cpu0 = cpu_secs(pids);
                let gbps = throughput(p.sink, streams, sizes.bulk_bytes)
                    .await
                    .with_context(|| format!("{name} throughput"))?;
                let used = cpu_secs(pids) - cpu0;
                eprintln!("throughput {streams} stream(s) {name}: {gbps:.2} Gbit/s, tunnel CPU {used:.2} s");
                all[i].push(gbps);
                cpu[i].push(used / gib);
            }
        }
        rows.push(Row::new(
            format!("throughput, {streams} stream(s) (Gbit/s)"),
            all.iter().map(|v| median(v)).collect(),
            true,
        ));
        cpu_rows.push(Row::new(
            format!("CPU seconds per GiB, {streams} stream(s)"),
            cpu.iter().map(|v| median(v)).collect(),
            false,
        ));
    }
    let mut all = vec![Vec::new(); paths.len()];
    let mut cpu = vec![Vec::new(); paths.len()];
    for _ in 0..runs {
        for (i, (name, p, pids)) in paths.iter().enumerate() {
            let cpu0 = cpu_secs(pids);
            let start = Instant::now();
            let r = conn_rate(p.echo, sizes.rate_concurrency, sizes.rate_secs)
                .await
                .with_context(|| format!("{name} rate"))?;
            let used = cpu_secs(pids) - cpu0;
            let conns = r * start.elapsed().as_secs_f64();
            eprintln!("new connections {name}: {r:.0}/s, tunnel CPU {used:.2} s");
            all[i].push(r);
            cpu[i].push(used * 1e6 / conns.max(1.0));
        }
    }
    rows.push(Row::new(
        format!("new connections/s ({} concurrent)", sizes.rate_concurrency),
        all.iter().map(|v| median(v)).collect(),
        true,
    ));
    cpu_rows.push(Row::new("CPU µs per new connection".into(), cpu.iter().map(|v| median(v)).collect(), false));
    let mut per_path: Vec<[Vec<f64>; 3]> = vec![Default::default(); paths.len()];
    for _ in 0..runs {
        for (i, (name, p, _)) in paths.iter().enumerate() {
            let l = latency(p.echo, sizes.latency_round_trips).await.with_context(|| format!("{name} latency"))?;
            eprintln!("latency {name}: p50 {:.1} p99 {:.1} p999 {:.1} µs", l[0], l[1], l[2]);
            for (q, v) in l.iter().enumerate() {
                per_path[i][q].push(*v);
            }
        }
    }
    let lat: Vec<[f64; 3]> = per_path.iter().map(|qs| [median(&qs[0]), median(&qs[1]), median(&qs[2])]).collect();
    for (i, q) in ["p50", "p99", "p99.9"].iter().enumerate() {
        rows.push(Row::new(format!("round-trip latency {q} (µs)"), lat.iter().map(|l| l[i]).collect(), false));
    }
    let added_p99 = lat.last().map(|l| l[1]).unwrap_or(0.0) - lat[0][1];

    let names: Vec<&str> = paths.iter().map(|(n, _, _)| *n).collect();
    let mut report = render(&rows, &names, added_p99, &mem, sizes);
    report += &render_cpu(&cpu_rows, &names);
    println!("{report}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &report)?;
    eprintln!("written to {}", out.display());
    drop(guard);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

struct Row {
    name: String,
    vals: Vec<f64>,
    higher_is_better: bool,
}

impl Row {
    fn new(name: String, vals: Vec<f64>, higher_is_better: bool) -> Self {
        Self { name, vals, higher_is_better }
    }
}

type Memory = (usize, Result<[f64; 2], String>);

fn render(rows: &[Row], names: &[&str], added_p99: f64, mem: &[Memory], sizes: Sizes) -> String {
    let mut s = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    s += &format!(
        "machine: {cores} cores, {cpu}; bulk {} MiB per run; median of {} run(s) per workload\n\n",
        sizes.bulk_bytes >> 20,
        sizes.runs
    );
    s += "| workload |";
    for n in names {
        s += &format!(" {n} |");
    }
    s += " ours/direct |";
    if names.contains(&"stunnel") {
        s += " ours/stunnel |";
    }
    s += "\n|---|";
    for _ in 0..names.len() + if names.contains(&"stunnel") { 2 } else { 1 } {
        s += "---:|";
    }
    s += "\n";
    for r in rows {
        s += &format!("| {} |", r.name);
        for v in &r.vals {
            s += &format!(" {} |", fmt(*v));
        }
        let ours = r.vals.last().copied().unwrap_or(0.0);
        s += &format!(" {:.2}x |", ours / r.vals[0]);
        if names.contains(&"stunnel") {
            s += &format!(" {:.2}x |", ours / r.vals[1]);
        }
        let _ = r.higher_is_better;
        s += "\n";
    }
    s += &format!("\nadded p99 latency over direct: {added_p99:.1} µs\n");
    for (n, kib) in mem {
        match kib {
            Ok(kib) => {
                s += &format!(
                    "memory per idle proxied connection with {n} open: {:.2} KiB (listener site router), {:.2} KiB (connector site router)\n",
                    kib[0], kib[1]
                )
            }
            Err(e) => s += &format!("{n} idle proxied connections could not be held open: {e}\n"),
        }
    }
    s
}

/// The tunnel's CPU per unit of work (both ends together): steadier than wall-clock figures on
/// a shared machine.
fn render_cpu(rows: &[Row], names: &[&str]) -> String {
    let tunnels: Vec<usize> = (0..names.len()).filter(|&i| names[i] != "direct").collect();
    let mut s = String::from("\ntunnel CPU (user + system of both ends, lower is better):\n\n| workload |");
    for &i in &tunnels {
        s += &format!(" {} |", names[i]);
    }
    let stunnel = names.iter().position(|n| *n == "stunnel");
    if stunnel.is_some() {
        s += " ours/stunnel |";
    }
    s += "\n|---|";
    for _ in 0..tunnels.len() + usize::from(stunnel.is_some()) {
        s += "---:|";
    }
    s += "\n";
    for r in rows {
        s += &format!("| {} |", r.name);
        for &i in &tunnels {
            s += &format!(" {} |", fmt(r.vals[i]));
        }
        if let Some(st) = stunnel {
            s += &format!(" {:.2}x |", r.vals.last().copied().unwrap_or(0.0) / r.vals[st]);
        }
        s += "\n";
    }
    s
}

/// CPU time (user + system) the processes used so far, in seconds; a process that is gone
/// counts 0.
fn cpu_secs(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name (which may hold spaces) start at its closing ')'.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            // USER_HZ is 100 on Linux.
            Some((utime + stime) / 100.0)
        })
        .sum()
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

async fn throughput(port: u16, streams: usize, total: u64) -> Result<f64> {
    let per = total / streams as u64;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            let buf = vec![0x5au8; 256 * 1024];
            let mut left = per;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                s.write_all(&buf[..n]).await?;
                left -= n as u64;
            }
            s.shutdown().await?;
            let mut count = [0u8; 8];
            s.read_exact(&mut count).await?;
            let got = u64::from_be_bytes(count);
            if got != per {
                bail!("sink received {got} bytes, sent {per}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per * streams as u64) as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
}

async fn conn_rate(port: u16, concurrency: usize, secs: f64) -> Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 32];
            while Instant::now() < deadline {
                let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
                s.set_nodelay(true)?;
                s.write_all(&[7u8; 32]).await?;
                s.read_exact(&mut buf).await?;
                drop(s);
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn latency(port: u16, n: usize) -> Result<[f64; 3]> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; 64];
    for _ in 0..n / 10 {
        s.write_all(&[1u8; 64]).await?;
        s.read_exact(&mut buf).await?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        s.write_all(&[1u8; 64]).await?;
        s.read_exact(&mut buf).await?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        // Low load: one request at a time with a short pause, not a saturating loop.
        tokio::time::sleep(Duration::from_micros(50)).await;
    }
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    Ok([q(0.50), q(0.99), q(0.999)])
}

fn rss_kib(pid: u32) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// Opens `n` proxied connections that stay idle, and reports the routers' resident memory
/// growth per connection (listener side, connector side).
async fn idle_memory(port: u16, n: usize, routers: &[u32; 2]) -> Result<[f64; 2]> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = [rss_kib(routers[0])?, rss_kib(routers[1])?];
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(&[9]).await?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await?;
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = [rss_kib(routers[0])?, rss_kib(routers[1])?];
    drop(conns);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok([(after[0] - before[0]) / n as f64, (after[1] - before[1]) / n as f64])
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not open port {port} within 20s")
}

fn sh(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A stunnel pair with mutual TLS 1.3 (ECDSA P-256, like our links) in front of the servers.
fn start_stunnel(work: &Path, direct: Path2, guard: &mut Guard) -> Result<Path2> {
    let d = work.join("stunnel");
    std::fs::create_dir_all(&d)?;
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
    for conf in ["server.conf", "client.conf"] {
        let log = std::fs::File::create(d.join(format!("{conf}.log")))?;
        let child = Command::new("stunnel4")
            .arg(d.join(conf))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting stunnel4 (apt-get install stunnel4)")?;
        guard.0.push(child);
    }
    for p in [s_echo, s_sink, c_echo, c_sink] {
        wait_port(p, "stunnel")?;
    }
    Ok(Path2 { echo: c_echo, sink: c_sink })
}

/// Two sites on the local platform: `west` accepts the link and has the connectors, `east`
/// links to it and has the listeners. Returns the listener ports and the routers' pids.
fn start_sites(work: &Path, binary: &Path, direct: Path2, guard: &mut Guard) -> Result<(Path2, [u32; 2])> {
    let home = work.join("sites");
    std::fs::create_dir_all(&home)?;
    let sk = |ns: &str, args: &[&str]| -> Result<String> {
        sh(Command::new(binary).env("XDG_DATA_HOME", &home).args(["-n", ns]).args(args))
    };
    sk("west", &["site", "create", "west", "--enable-link-access"])?;
    sk("east", &["site", "create", "east"])?;
    let link = sk("west", &["link", "generate"])?;
    let link_file = work.join("link.yaml");
    std::fs::write(&link_file, link)?;
    sk("east", &["system", "apply", "-f", &link_file.to_string_lossy()])?;
    let echo = direct.echo.to_string();
    let sink = direct.sink.to_string();
    sk("west", &["connector", "create", "bench-echo", &echo, "--routing-key", "bench-echo", "--host", "127.0.0.1"])?;
    sk("west", &["connector", "create", "bench-sink", &sink, "--routing-key", "bench-sink", "--host", "127.0.0.1"])?;
    let (l_echo, l_sink) = (free_port()?, free_port()?);
    sk(
        "east",
        &[
            "listener",
            "create",
            "bench-echo",
            &l_echo.to_string(),
            "--routing-key",
            "bench-echo",
            "--host",
            "127.0.0.1",
        ],
    )?;
    sk(
        "east",
        &[
            "listener",
            "create",
            "bench-sink",
            &l_sink.to_string(),
            "--routing-key",
            "bench-sink",
            "--host",
            "127.0.0.1",
        ],
    )?;
    for ns in ["west", "east"] {
        sk(ns, &["system", "start"])?;
        let binary = binary.to_path_buf();
        let home = home.clone();
        let ns = ns.to_string();
        guard.1.push(Box::new(move || {
            let _ = Command::new(&binary).env("XDG_DATA_HOME", &home).args(["-n", &ns, "system", "stop"]).output();
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = sk("east", &["link", "status"])?;
        if status.lines().skip(1).any(|l| l.contains("Ready")) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the link did not become Ready within 30s:\n{status}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The listener answers once the connector's routing key is known on east.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = std::net::TcpStream::connect(("127.0.0.1", l_echo)).ok().and_then(|mut s| {
            use std::io::{Read, Write};
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            s.write_all(b"x").ok()?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b).ok()
        });
        if ok.is_some() {
            break;
        }
        if Instant::now() > deadline {
            bail!("traffic did not flow through the link within 30s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = |ns: &str| -> Result<u32> {
        let f = home.join(format!("kubectl-skupper/namespaces/{ns}/runtime/router.pid"));
        Ok(std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?.trim().parse()?)
    };
    Ok((Path2 { echo: l_echo, sink: l_sink }, [pid("east")?, pid("west")?]))
}
