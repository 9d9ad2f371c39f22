//! Markdown tables: the workload matrix with ratios, tunnel CPU per unit of work, the load
//! generator's own CPU, and the scaling tables.

use crate::paths::{DIRECT, OURS, OURS_2HOPS, RELAY, STUNNEL};

/// One line of a table: a label and one figure per path (NaN where not measured).
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) vals: Vec<f64>,
}

/// The middle value (the mean of the two middle ones for an even count).
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(crate) fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A markdown table; the first column is left-aligned, the others right-aligned.
pub(crate) fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|---|", header.join(" | "));
    s += &"---:|".repeat(header.len().saturating_sub(1));
    s += "\n";
    for r in rows {
        s += &format!("| {} |\n", r.join(" | "));
    }
    s
}

/// The ratio columns that apply to the paths present: (heading, numerator, denominator).
fn ratios(names: &[&str], tunnels_only: bool) -> Vec<(String, usize, usize)> {
    let pos = |n: &str| names.iter().position(|x| *x == n);
    let mut out = Vec::new();
    let Some(ours) = pos(OURS) else { return out };
    let mut against = vec![STUNNEL, RELAY];
    if !tunnels_only {
        against.insert(0, DIRECT);
    }
    for other in against {
        if let Some(o) = pos(other) {
            out.push((format!("ours/{other}"), ours, o));
        }
    }
    if let Some(two) = pos(OURS_2HOPS) {
        out.push(("2 hops/1 hop".into(), two, ours));
    }
    out
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 { "–".into() } else { format!("{:.2}x", a / b) }
}

/// A table of one figure per path, with the ratio columns; `cols` selects the paths shown.
fn matrix(rows: &[Row], names: &[&str], cols: &[usize], tunnels_only: bool) -> String {
    let ratios = ratios(names, tunnels_only);
    let mut header = vec!["workload".to_string()];
    header.extend(cols.iter().map(|&i| names[i].to_string()));
    header.extend(ratios.iter().map(|r| r.0.clone()));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.name.clone()];
            cells.extend(cols.iter().map(|&i| fmt(r.vals[i])));
            cells.extend(ratios.iter().map(|&(_, a, b)| ratio(r.vals[a], r.vals[b])));
            cells
        })
        .collect();
    table(&header, &body)
}

pub(crate) fn header(bulk_mib: u64, many_mib: u64, runs: usize) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "machine: {cores} cores, {cpu}; bulk {bulk_mib} MiB per run ({many_mib} MiB with 64 and 512 streams); \
         median of {runs} run(s) per workload, the paths taking turns\n\n"
    )
}

/// The workload matrix: every path, higher is better for rates, lower for latency.
pub(crate) fn render_main(rows: &[Row], names: &[&str]) -> String {
    let cols: Vec<usize> = (0..names.len()).collect();
    matrix(rows, names, &cols, false)
}

/// The tunnel's CPU per unit of work (all its processes together): steadier than wall-clock
/// figures on a shared machine.
pub(crate) fn render_cpu(rows: &[Row], names: &[&str]) -> String {
    let tunnels: Vec<usize> = (0..names.len()).filter(|&i| names[i] != DIRECT).collect();
    format!(
        "\ntunnel CPU (user + system of all the tunnel's processes, lower is better):\n\n{}",
        matrix(rows, names, &tunnels, true)
    )
}

/// The load generator's own CPU (this process) per workload and path: CPU seconds, and cores
/// busy (CPU seconds over wall seconds) against the machine's cores.
pub(crate) fn render_client(rows: &[(String, Vec<(f64, f64)>)], names: &[&str]) -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mut header = vec!["workload".to_string()];
    header.extend(names.iter().map(|n| n.to_string()));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, cells)| {
            let mut out = vec![name.clone()];
            out.extend(cells.iter().map(|(secs, busy)| format!("{secs:.2} s ({busy:.2})")));
            out
        })
        .collect();
    format!(
        "\nload generator CPU (this benchmark process: CPU seconds per run, and in brackets cores busy = CPU s / wall s, of {cores}):\n\n{}",
        table(&header, &body)
    )
}
