//! `kubectl skupper webhook bench` (hidden): a benchmark, not a test. Runs the real server
//! in-process on 127.0.0.1 with a throwaway certificate, drives it with N keep-alive HTTPS
//! clients, and measures the per-review cost of a fresh wasm instance against the same rules
//! called natively. Prints a Markdown table and writes it to `--out`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::json;

use skupper_router::tls;
use skupper_webhook_host::runtime::{Limits, Origin, PolicyRuntime};
use skupper_webhook_host::{review, server};

/// `kubectl skupper webhook bench`
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// Policy module to measure; default: the built-in one.
    #[arg(long, value_name = "FILE.wasm")]
    pub policy: Option<PathBuf>,
    /// Concurrent keep-alive clients, one load run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub clients: Vec<u32>,
    /// Requests per load run.
    #[arg(long, default_value_t = 4000)]
    pub requests: u32,
    /// Calls per path in the wasm-vs-native comparison.
    #[arg(long, default_value_t = 5000)]
    pub iterations: u32,
    /// Where to write the result table (Markdown).
    #[arg(long, default_value = "target/webhook-bench.md")]
    pub out: PathBuf,
}

/// The settings the benchmark evaluates with: every rule switched on.
pub(crate) fn bench_settings() -> serde_json::Value {
    json!({
        "allowedHosts": ["*.example.com", "10.0.0.0/8"],
        "minCost": 1,
        "maxCost": 100,
        "requireProxy": false,
        "forbidDuplicatePeers": true,
    })
}

struct LoadResult {
    clients: u32,
    requests: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    per_sec: f64,
}

/// Runs the benchmark and prints/writes its table.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let settings = serde_json::to_vec(&bench_settings())?;
    let max_clients = args.clients.iter().copied().max().unwrap_or(1).max(1);
    let (wasm, origin) = match &args.policy {
        Some(p) => (std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?, Origin::File(p.clone())),
        None => (skupper_webhook_host::BUILT_IN_POLICY.to_vec(), Origin::BuiltIn),
    };
    let limits = Limits { concurrency: max_clients, ..Limits::default() };
    let t = Instant::now();
    let rt = Arc::new(PolicyRuntime::load(&wasm, origin, settings.clone(), limits)?);
    let compile = t.elapsed();

    // Per-review cost, sequential, one core.
    let bodies = [review::sample_review("b-valid", true), review::sample_review("b-bad", false)];
    let n = args.iterations.max(1);
    let native_policy: skupper_core::admission::Policy =
        serde_json::from_slice(&settings).context("the benchmark settings do not parse as a core Policy")?;
    let native = time_per_call(n, |i| {
        let body = &bodies[i % 2];
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let out = skupper_core::admission::review(&v, &native_policy);
        serde_json::to_vec(&out).map(|b| b.len()).unwrap_or_default()
    });
    let wasm_eval = time_per_call(n, |i| rt.evaluate(&bodies[i % 2]).map(|b| b.len()).unwrap_or_default());
    let wasm_full = time_per_call(n, |i| rt.review(&bodies[i % 2]).len());
    let instantiate = time_per_call(n, |_| usize::from(rt.instantiate_only().is_ok()));

    // Load over HTTPS.
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let tls = server::tls_config_from_pem(key.cert.pem().as_bytes(), key.signing_key.serialize_pem().as_bytes())?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(server::State::new(rt.clone(), server::DEFAULT_MAX_BODY_BYTES));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, tls, state, async {
        let _ = stop_rx.await;
    }));
    let ca_pem = key.cert.pem();
    let check =
        tls::ServerCheck { roots_pem: ca_pem.as_bytes(), roots_name: "the benchmark's CA", verify_hostname: true };
    let client_tls = Arc::new(tls::client(tls::Versions::Tls12And13, check, None)?);
    let mut loads = Vec::new();
    for &c in &args.clients {
        let c = c.max(1);
        // Warm-up: connections, pool slots, caches.
        load(addr, client_tls.clone(), c, (c * 20).min(args.requests)).await?;
        loads.push(load(addr, client_tls.clone(), c, args.requests).await?);
    }
    let _ = stop_tx.send(());
    let _ = server.await;

    let table = render(
        &rt,
        compile,
        n,
        [("native", native), ("instantiate", instantiate), ("wasm", wasm_eval), ("full", wasm_full)],
        &loads,
    );
    print!("{table}");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&args.out, &table).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn time_per_call(n: u32, mut f: impl FnMut(usize) -> usize) -> Duration {
    let mut sink = 0usize;
    for i in 0..(n / 10).max(1) as usize {
        sink = sink.wrapping_add(f(i));
    }
    let t = Instant::now();
    for i in 0..n as usize {
        sink = sink.wrapping_add(f(i));
    }
    let d = t.elapsed() / n;
    std::hint::black_box(sink);
    d
}

async fn load(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    clients: u32,
    requests: u32,
) -> anyhow::Result<LoadResult> {
    let per_client = (requests / clients).max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move { client(addr, tls, c, per_client).await }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("a load client panicked")??);
    }
    let wall = start.elapsed();
    latencies.sort_unstable();
    let pick = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    Ok(LoadResult {
        clients,
        requests: latencies.len(),
        p50: pick(50),
        p99: pick(99),
        max: latencies.last().copied().unwrap_or_default(),
        per_sec: latencies.len() as f64 / wall.as_secs_f64(),
    })
}

/// One keep-alive HTTPS connection sending `n` reviews back to back.
async fn client(addr: SocketAddr, tls: Arc<rustls::ClientConfig>, id: u32, n: u32) -> anyhow::Result<Vec<Duration>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let stream = tokio_rustls::TlsConnector::from(tls).connect(ServerName::IpAddress(addr.ip().into()), tcp).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let valid = i % 2 == 0;
        let body = Bytes::from(review::sample_review(&format!("c{id}-{i}"), valid));
        let req = hyper::Request::post("/validate")
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let t = Instant::now();
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        out.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        let allowed = v["response"]["allowed"].as_bool();
        if !status.is_success() || allowed != Some(valid) {
            anyhow::bail!("unexpected answer ({status}): {v}");
        }
    }
    Ok(out)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn render(
    rt: &PolicyRuntime,
    compile: Duration,
    n: u32,
    per_call: [(&str, Duration); 4],
    loads: &[LoadResult],
) -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let [(_, native), (_, instantiate), (_, wasm), (_, full)] = per_call;
    let ratio = |d: Duration| us(d) / us(native).max(1e-9);
    let mut s = String::new();
    s.push_str(&format!(
        "# Link admission webhook benchmark\n\n{} on {cpus} CPU(s), {} build; server and clients \
         share the machine. Policy: {}; settings with every rule on; reviews alternate a valid \
         Link and an invalid one (~1.2 KB).\n\n",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        rt.origin()
    ));
    s.push_str("## Per-review cost (sequential, one thread)\n\n");
    s.push_str("| path | per review (us) | vs native |\n|---|---:|---:|\n");
    s.push_str(&format!(
        "| native `skupper_core::admission::review` (parse + review + serialize) | {:.2} | 1.0x |\n",
        us(native)
    ));
    s.push_str(&format!(
        "| wasm: fresh Store + WASI context + instantiate, no call | {:.2} | {:.1}x |\n",
        us(instantiate),
        ratio(instantiate)
    ));
    s.push_str(&format!(
        "| wasm: fresh Store + instantiate + call + copy out | {:.2} | {:.1}x |\n",
        us(wasm),
        ratio(wasm)
    ));
    s.push_str(&format!(
        "| wasm + host checks (uid, answer, limits): what `/validate` runs | {:.2} | {:.1}x |\n",
        us(full),
        ratio(full)
    ));
    s.push_str(&format!("\nModule compiled once at start-up in {:.1} ms; {n} calls per path.\n\n", ms(compile)));
    s.push_str("## HTTPS load (keep-alive, 127.0.0.1)\n\n");
    s.push_str(
        "| clients | requests | p50 (ms) | p99 (ms) | max (ms) | requests/s |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    for l in loads {
        s.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.0} |\n",
            l.clients,
            l.requests,
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            l.per_sec
        ));
    }
    s
}
