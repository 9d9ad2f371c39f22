//! `linkbench`: the same workloads over direct TCP, a plain relay pair (no TLS), a stunnel pair
//! with mutual TLS 1.3, two of our sites joined by one link, and three of our sites A–B–C (two
//! hops), measured in one run on 127.0.0.1, printed as markdown tables with ratios.
//!
//! Workloads (each runs `--runs N` times, default 3, the paths taking turns; medians shown):
//! - `throughput`: bulk upload to a sink with 1, 8, 64 and 512 streams (the bytes split across
//!   the streams; half the bulk size with 64 and 512 streams).
//! - `rate`: new connections per second, 16 concurrent loops of connect, one request echoed
//!   (64 B and 16 KiB), close.
//! - `rr`: round trips per second on 16 kept-open connections (64 B and 16 KiB requests).
//! - `latency`: round-trip latency percentiles at low load (one 64 B request at a time), and
//!   those of a whole short connection (connect, one 64 B request echoed, close; one at a time).
//! - `links`: the listener site's router memory and 1-stream throughput when linked to 1 and to
//!   4 sites (runs first, once, on routers that carried no bulk yet).
//! - `idle`: our routers' memory (RSS) and 1-stream throughput with 0, 1,000 and 10,000 idle
//!   connections open through them (runs second, once).
//!
//! Besides the figures: CPU seconds per GiB and CPU µs per connection or round trip of each
//! tunnel (its processes only), the load generator's own CPU for every workload (to show it is
//! not the bottleneck), and the middle router's CPU during the 2-hop runs (proof the route
//! crosses it; A and C are not linked to each other).
//!
//! The relay path is `linkbench relay LISTEN_PORT TARGET_PORT [LISTEN_PORT TARGET_PORT ...]`
//! twice, one for each end (one tokio worker thread each, 256 KiB buffers, nodelay):
//! the ceiling of any user-space tunnel on this machine (two extra processes, four extra socket
//! copies, no crypto).
//!
//! Run it with `scripts/bench.sh` (raise `ulimit -n` first for 10,000 idle connections). Flags:
//! `--binary PATH` (kubectl-skupper, default target/release), `--quick` (a smoke run, under two
//! minutes), `--runs N`, `--only throughput,rate,rr,latency,idle,links` (parts to run),
//! `--no-stunnel`, `--out FILE` (default target/linkbench/latest.md).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "linkbench/paths.rs"]
mod paths;
#[path = "linkbench/procs.rs"]
mod procs;
#[path = "linkbench/report.rs"]
mod report;
#[path = "linkbench/scaling.rs"]
mod scaling;
#[path = "linkbench/workloads.rs"]
mod workloads;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use paths::{BenchPath, OneHop, Ports, RelayPair, Servers, Sites, Stunnel, TwoHops};
use procs::{Guard, cpu_secs, self_cpu_secs};
use report::{Row, median};

/// Workload sizes; `--quick` shrinks them for a smoke run.
#[derive(Clone, Copy)]
struct Sizes {
    bulk_bytes: u64,
    /// Bulk with 64 and 512 streams.
    many_bulk_bytes: u64,
    rate_secs: f64,
    rate_concurrency: usize,
    latency_round_trips: usize,
    idle: [usize; 3],
    /// Bulk beside idle connections and extra links.
    scaling_bulk_bytes: u64,
    extra_links: usize,
    /// Runs of each workload (the median is reported).
    runs: usize,
}

const FULL: Sizes = Sizes {
    bulk_bytes: 2 << 30,
    many_bulk_bytes: 1 << 30,
    rate_secs: 3.0,
    rate_concurrency: 16,
    latency_round_trips: 10_000,
    idle: [0, 1_000, 10_000],
    scaling_bulk_bytes: 1 << 30,
    extra_links: 3,
    runs: 3,
};
const QUICK: Sizes = Sizes {
    bulk_bytes: 128 << 20,
    many_bulk_bytes: 64 << 20,
    rate_secs: 0.5,
    rate_concurrency: 16,
    latency_round_trips: 2_000,
    idle: [0, 100, 500],
    scaling_bulk_bytes: 64 << 20,
    extra_links: 3,
    runs: 1,
};

const PARTS: [&str; 6] = ["throughput", "rate", "rr", "latency", "idle", "links"];

struct Options {
    sizes: Sizes,
    binary: PathBuf,
    out: PathBuf,
    stunnel: bool,
    only: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
        let mut sizes = if args.iter().any(|a| a == "--quick") { QUICK } else { FULL };
        if let Some(runs) = flag("--runs") {
            sizes.runs = runs.parse().ok().filter(|&n| n > 0).context("--runs takes a positive number")?;
        }
        let only: Vec<String> = match flag("--only") {
            Some(list) => list.split(',').map(str::to_string).collect(),
            None => PARTS.iter().map(|p| p.to_string()).collect(),
        };
        if let Some(bad) = only.iter().find(|p| !PARTS.contains(&p.as_str())) {
            bail!("--only: unknown part {bad:?}; choose from {}", PARTS.join(","));
        }
        let binary =
            flag("--binary").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/release/kubectl-skupper"));
        if !binary.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p kubectl-skupper` or pass --binary",
                binary.display()
            );
        }
        Ok(Self {
            sizes,
            binary,
            out: flag("--out").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/linkbench/latest.md")),
            stunnel: !args.iter().any(|a| a == "--no-stunnel"),
            only,
        })
    }

    fn runs(&self, part: &str) -> bool {
        self.only.iter().any(|p| p == part)
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => return Servers::serve(),
        Some("relay") => return RelayPair::relay(&args[2..]),
        _ => {}
    }
    let opts = Options::parse(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(&opts))
}

/// What one run of a workload on one path produced: its figures, and the units of work (GiB,
/// connections, round trips) its CPU is divided by.
struct Outcome {
    values: Vec<f64>,
    work: f64,
}

impl Outcome {
    /// A rate (per second) measured since `start`: the units it counted are the work.
    fn rate(rate: f64, start: Instant) -> Self {
        Self { values: vec![rate], work: rate * start.elapsed().as_secs_f64() }
    }
}

/// Everything measured, by path (in the order of `names`).
#[derive(Default)]
struct Results {
    rows: Vec<Row>,
    cpu_rows: Vec<Row>,
    client: Vec<(String, Vec<(f64, f64)>)>,
    /// CPU seconds of the middle router during each 2-hop workload (median of the runs).
    transit: Vec<(String, f64)>,
}

/// Medians over the runs of one workload, per path.
struct Measured {
    values: Vec<Vec<f64>>,
    cpu_per_work: Vec<f64>,
    client: Vec<(f64, f64)>,
    transit: Option<f64>,
}

/// Runs `work` `runs` times on every path, the paths taking turns, and takes the medians.
async fn measure<F, Fut>(paths: &[BenchPath], runs: usize, label: &str, work: F) -> Result<Measured>
where
    F: Fn(Ports) -> Fut,
    Fut: Future<Output = Result<Outcome>>,
{
    let n = paths.len();
    let (mut values, mut cpu, mut client, mut transit) =
        (vec![Vec::<Vec<f64>>::new(); n], vec![Vec::new(); n], vec![Vec::new(); n], Vec::new());
    for _ in 0..runs {
        for (i, p) in paths.iter().enumerate() {
            let (tunnel0, self0, start) = (cpu_secs(&p.tunnel_pids), self_cpu_secs(), Instant::now());
            let transit0 = p.transit_pid.map(|pid| cpu_secs(&[pid]));
            let o = work(p.ports).await.with_context(|| format!("{label}, {}", p.name))?;
            let wall = start.elapsed().as_secs_f64();
            let (used, own) = (cpu_secs(&p.tunnel_pids) - tunnel0, self_cpu_secs() - self0);
            let shown: Vec<String> = o.values.iter().map(|v| report::fmt(*v)).collect();
            eprint!("{label} {}: {}, tunnel CPU {used:.2} s, client CPU {own:.2} s", p.name, shown.join(" / "));
            if let (Some(t0), Some(pid)) = (transit0, p.transit_pid) {
                let t = cpu_secs(&[pid]) - t0;
                eprint!(", middle router CPU {t:.2} s");
                transit.push(t);
            }
            eprintln!();
            values[i].push(o.values);
            cpu[i].push(used / o.work.max(f64::MIN_POSITIVE));
            client[i].push((own, own / wall));
        }
    }
    let width = values.first().and_then(|v| v.first()).map_or(0, Vec::len);
    Ok(Measured {
        values: values
            .iter()
            .map(|runs| (0..width).map(|q| median(&runs.iter().map(|r| r[q]).collect::<Vec<_>>())).collect())
            .collect(),
        cpu_per_work: cpu.iter().map(|v| median(v)).collect(),
        client: client
            .iter()
            .map(|v| {
                (median(&v.iter().map(|c| c.0).collect::<Vec<_>>()), median(&v.iter().map(|c| c.1).collect::<Vec<_>>()))
            })
            .collect(),
        transit: (!transit.is_empty()).then(|| median(&transit)),
    })
}

impl Results {
    /// Files one workload's medians: its row in the main table, its CPU row (if any), its load
    /// generator row and the middle router's CPU.
    fn add(&mut self, label: &str, m: &Measured, rows: &[String], cpu_row: Option<String>) {
        for (q, name) in rows.iter().enumerate() {
            self.rows.push(Row { name: name.clone(), vals: m.values.iter().map(|v| v[q]).collect() });
        }
        if let Some(name) = cpu_row {
            self.cpu_rows.push(Row { name, vals: m.cpu_per_work.clone() });
        }
        self.client.push((label.to_string(), m.client.clone()));
        if let Some(t) = m.transit {
            self.transit.push((label.to_string(), t));
        }
    }
}

async fn throughput_part(paths: &[BenchPath], s: Sizes, res: &mut Results) -> Result<()> {
    for streams in [1usize, 8, 64, 512] {
        let bytes = if streams >= 64 { s.many_bulk_bytes } else { s.bulk_bytes };
        let gib = bytes as f64 / f64::from(1u32 << 30);
        let label = format!("throughput {streams} stream(s)");
        let m = measure(paths, s.runs, &label, |p| async move {
            Ok(Outcome { values: vec![workloads::throughput(p.sink, streams, bytes).await?], work: gib })
        })
        .await?;
        res.add(
            &label,
            &m,
            &[format!("throughput, {streams} stream(s) (Gbit/s)")],
            Some(format!("CPU seconds per GiB, {streams} stream(s)")),
        );
    }
    Ok(())
}

/// Payload sizes of the request/response workloads, with their label.
const PAYLOADS: [(usize, &str); 2] = [(64, "64 B"), (16 << 10, "16 KiB")];

async fn rate_part(paths: &[BenchPath], s: Sizes, res: &mut Results) -> Result<()> {
    let c = std::env::var("RC").ok().and_then(|v| v.parse().ok()).unwrap_or(s.rate_concurrency);
    for (payload, size) in PAYLOADS {
        let label = format!("new connections, {size}");
        let m = measure(paths, s.runs, &label, |p| async move {
            let start = Instant::now();
            Ok(Outcome::rate(workloads::conn_rate(p.echo, c, s.rate_secs, payload).await?, start))
        })
        .await?;
        // The 64 B rows keep the names they had before the payload sizes were added.
        let (row, cpu) = if payload == 64 {
            (format!("new connections/s ({c} concurrent)"), "CPU µs per new connection".to_string())
        } else {
            (format!("new connections/s, {size} echoed ({c} concurrent)"), format!("CPU µs per new connection, {size}"))
        };
        res.add(&label, &per_micro(m), &[row], Some(cpu));
    }
    Ok(())
}

/// CPU seconds per unit as µs per unit.
fn per_micro(mut m: Measured) -> Measured {
    for v in &mut m.cpu_per_work {
        *v *= 1e6;
    }
    m
}

async fn rr_part(paths: &[BenchPath], s: Sizes, res: &mut Results) -> Result<()> {
    let c = s.rate_concurrency;
    for (payload, size) in PAYLOADS {
        let label = format!("round trips, {size}");
        let m = measure(paths, s.runs, &label, |p| async move {
            let start = Instant::now();
            Ok(Outcome::rate(workloads::round_trip_rate(p.echo, c, s.rate_secs, payload).await?, start))
        })
        .await?;
        res.add(
            &label,
            &per_micro(m),
            &[format!("round trips/s, {size} ({c} open connections)")],
            Some(format!("CPU µs per round trip, {size}")),
        );
    }
    Ok(())
}

async fn latency_part(paths: &[BenchPath], s: Sizes, res: &mut Results) -> Result<()> {
    let n = s.latency_round_trips;
    let m = measure(paths, s.runs, "latency p50/p99/p99.9 µs", |p| async move {
        Ok(Outcome { values: workloads::latency(p.echo, n).await?.to_vec(), work: n as f64 })
    })
    .await?;
    let rows = ["p50", "p99", "p99.9"].map(|q| format!("round-trip latency {q} (µs)"));
    res.add("latency", &m, &rows, None);
    let n = s.latency_round_trips / 5;
    let m = measure(paths, s.runs, "new-connection latency p50/p99/p99.9 µs", |p| async move {
        Ok(Outcome { values: workloads::connect_latency(p.echo, n).await?.to_vec(), work: n as f64 })
    })
    .await?;
    let rows = ["p50", "p99", "p99.9"].map(|q| format!("new connection + 64 B echo {q} (µs)"));
    res.add("new-connection latency", &m, &rows, None);
    Ok(())
}

async fn run(opts: &Options) -> Result<()> {
    let work = std::env::temp_dir().join(format!("linkbench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut guard = Guard::default();
    let s = opts.sizes;

    eprintln!("starting the servers, the relay pair, stunnel and five sites");
    let direct = Servers::start(&mut guard)?;
    let mut paths = vec![RelayPair::start(direct.ports, &mut guard)?];
    if opts.stunnel {
        paths.push(Stunnel::start(&work, direct.ports, &mut guard)?);
    }
    let sites = Sites::new(&work, &opts.binary)?;
    let ours = OneHop::start(&sites, direct.ports, &mut guard)?;
    let two = TwoHops::start(&sites, direct.ports, &mut guard)?;
    paths.insert(0, direct);
    paths.push(ours);
    paths.push(two);
    let ours = &paths[paths.len() - 2];

    let mut report = report::header(s.bulk_bytes >> 20, s.many_bulk_bytes >> 20, s.runs);
    // The scaling parts first, on routers that have carried no bulk yet (memory they keep and
    // reuse afterwards would hide what links and idle connections cost).
    let links = if opts.runs("links") {
        Some(scaling::links(&sites, ours, s.extra_links, s.scaling_bulk_bytes).await?)
    } else {
        None
    };
    let idle = if opts.runs("idle") { Some(scaling::idle(ours, &s.idle, s.scaling_bulk_bytes).await) } else { None };

    let mut res = Results::default();
    if opts.runs("throughput") {
        throughput_part(&paths, s, &mut res).await?;
    }
    if opts.runs("rate") {
        rate_part(&paths, s, &mut res).await?;
    }
    if opts.runs("rr") {
        rr_part(&paths, s, &mut res).await?;
    }
    if opts.runs("latency") {
        latency_part(&paths, s, &mut res).await?;
    }

    let names: Vec<&str> = paths.iter().map(|p| p.name).collect();
    report += &render(&res, &names);
    if let Some(idle) = idle {
        report += &scaling::render_idle(&idle);
    }
    if let Some(links) = links {
        report += &scaling::render_links(&links);
    }
    println!("{report}");
    write_out(&opts.out, &report)?;
    drop(guard);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn render(res: &Results, names: &[&str]) -> String {
    let mut s = String::new();
    if !res.rows.is_empty() {
        s += &report::render_main(&res.rows, names);
    }
    let p99 = res.rows.iter().find(|r| r.name.contains("p99 "));
    let ours = names.iter().position(|n| *n == paths::OURS);
    if let (Some(r), Some(o)) = (p99, ours) {
        s += &format!("\nadded p99 latency over direct: {:.1} µs\n", r.vals[o] - r.vals[0]);
    }
    if !res.transit.is_empty() {
        let least = res.transit.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map_or(0.0, |t| t.1);
        let each: Vec<String> = res.transit.iter().map(|(w, t)| format!("{w} {t:.2} s")).collect();
        let verdict = if least > 0.0 { "the route crosses it" } else { "WARNING: some ran without it" };
        s += &format!(
            "\n2-hop route check, middle router (B) CPU during each workload: {}; {verdict}\n",
            each.join(", ")
        );
    }
    if !res.cpu_rows.is_empty() {
        s += &report::render_cpu(&res.cpu_rows, names);
    }
    if !res.client.is_empty() {
        s += &report::render_client(&res.client, names);
    }
    s
}

fn write_out(out: &Path, report: &str) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, report)?;
    eprintln!("written to {}", out.display());
    Ok(())
}
