//! Scaling of our routers: resident memory and 1-stream throughput against the number of open
//! idle connections and against the number of links. Measured once each (not interleaved).

use std::time::Duration;

use anyhow::Result;

use crate::paths::{BenchPath, Sites};
use crate::procs::{Guard, rss_kib};
use crate::report::{fmt, table};
use crate::workloads::{open_idle, throughput};

/// Memory and throughput with `n` idle connections open through the one-hop sites.
pub(crate) struct IdleRow {
    n: usize,
    /// Result: routers' RSS in KiB (listener site, connector site) with the connections open,
    /// growth per connection in KiB, and Gbit/s of a 1-stream bulk run beside them.
    outcome: Result<([f64; 2], [f64; 2], f64), String>,
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn rss2(pids: &[u32]) -> Result<[f64; 2]> {
    Ok([rss_kib(pids[0])?, rss_kib(pids[1])?])
}

async fn idle_once(ours: &BenchPath, n: usize, bulk: u64) -> Result<([f64; 2], [f64; 2], f64)> {
    settle().await;
    let before = rss2(&ours.tunnel_pids)?;
    let conns = open_idle(ours.ports.echo, n).await?;
    settle().await;
    let after = rss2(&ours.tunnel_pids)?;
    let gbps = throughput(ours.ports.sink, 1, bulk).await?;
    drop(conns);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per = |i: usize| if n == 0 { f64::NAN } else { (after[i] - before[i]) / n as f64 };
    Ok((after, [per(0), per(1)], gbps))
}

/// Runs first, before the bulk workloads: memory the routers keep and reuse after those would
/// hide what idle connections cost.
pub(crate) async fn idle(ours: &BenchPath, counts: &[usize], bulk: u64) -> Vec<IdleRow> {
    let mut rows = Vec::new();
    for &n in counts {
        // A size the router cannot hold is a finding for the table, not a reason to lose the run.
        let outcome = idle_once(ours, n, bulk).await.map_err(|e| format!("{e:#}"));
        match &outcome {
            Ok((rss, per, gbps)) => eprintln!(
                "idle connections {n}: RSS {:.1}/{:.1} MiB, {} / {} KiB per connection, 1 stream {gbps:.2} Gbit/s",
                rss[0] / 1024.0,
                rss[1] / 1024.0,
                fmt(per[0]),
                fmt(per[1])
            ),
            Err(e) => eprintln!("idle connections: {n} could not be held open: {e}"),
        }
        rows.push(IdleRow { n, outcome });
    }
    rows
}

pub(crate) fn render_idle(rows: &[IdleRow]) -> String {
    let header: Vec<String> = [
        "idle connections open",
        "listener site router RSS (MiB)",
        "connector site router RSS (MiB)",
        "KiB per idle connection (listener, connector)",
        "throughput, 1 stream beside them (Gbit/s)",
    ]
    .map(String::from)
    .to_vec();
    let mut body = Vec::new();
    let mut lines = String::new();
    for r in rows {
        match &r.outcome {
            Ok((rss, per, gbps)) => {
                body.push(vec![
                    r.n.to_string(),
                    format!("{:.1}", rss[0] / 1024.0),
                    format!("{:.1}", rss[1] / 1024.0),
                    format!("{}, {}", fmt(per[0]), fmt(per[1])),
                    fmt(*gbps),
                ]);
                if r.n > 0 {
                    lines += &format!(
                        "memory per idle proxied connection with {} open: {:.2} KiB (listener site router), {:.2} KiB (connector site router)\n",
                        r.n, per[0], per[1]
                    );
                }
            }
            Err(e) => lines += &format!("{} idle proxied connections could not be held open: {e}\n", r.n),
        }
    }
    format!("\nscaling with idle connections (ours, one hop; one run):\n\n{}\n{lines}", table(&header, &body))
}

/// Memory of the listener site's router and throughput with it linked to 1 and to `1 + extra`
/// sites: (links, RSS in KiB, Gbit/s).
pub(crate) struct LinkRows {
    rows: Vec<(usize, f64, f64)>,
}

/// Links `east` (the one-hop listener site, running) to `extra` more sites with link access,
/// then removes those links and stops the sites. Runs first, on routers that have carried no
/// bulk yet (the buffers they keep afterwards dwarf a link's memory); each RSS is taken before
/// the bulk run beside it.
pub(crate) async fn links(sites: &Sites, ours: &BenchPath, extra: usize, bulk: u64) -> Result<LinkRows> {
    settle().await;
    let rss_one = rss_kib(ours.tunnel_pids[0])?;
    let before = sites.link_names("east")?;
    let mut guard = Guard::default();
    for i in 1..=extra {
        let far = format!("far{i}");
        sites.create(&far, true)?;
        sites.start(&far, &mut guard)?;
        sites.link("east", &far)?;
    }
    sites.wait_links("east", 1 + extra)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_many = rss_kib(ours.tunnel_pids[0])?;
    let gbps_many = throughput(ours.ports.sink, 1, bulk).await?;
    eprintln!("links {}: east RSS {:.1} MiB, 1 stream {gbps_many:.2} Gbit/s", 1 + extra, rss_many / 1024.0);
    for name in sites.link_names("east")?.iter().filter(|n| !before.contains(n)) {
        sites.delete_link("east", name)?;
    }
    // The guard stops the extra sites here.
    drop(guard);
    settle().await;
    let gbps_one = throughput(ours.ports.sink, 1, bulk).await?;
    eprintln!("links 1: east RSS {:.1} MiB (before any bulk), 1 stream {gbps_one:.2} Gbit/s", rss_one / 1024.0);
    Ok(LinkRows { rows: vec![(1, rss_one, gbps_one), (1 + extra, rss_many, gbps_many)] })
}

pub(crate) fn render_links(l: &LinkRows) -> String {
    let header: Vec<String> =
        ["links from the listener site", "its router RSS (MiB)", "KiB per added link", "throughput, 1 stream (Gbit/s)"]
            .map(String::from)
            .to_vec();
    let base = l.rows.first().map(|r| (r.0, r.1));
    let body: Vec<Vec<String>> = l
        .rows
        .iter()
        .map(|&(n, rss, gbps)| {
            let per = match base {
                Some((n0, rss0)) if n > n0 => fmt((rss - rss0) / (n - n0) as f64),
                _ => "–".into(),
            };
            vec![n.to_string(), format!("{:.1}", rss / 1024.0), per, fmt(gbps)]
        })
        .collect();
    format!("\nscaling with links (ours; one run):\n\n{}", table(&header, &body))
}
