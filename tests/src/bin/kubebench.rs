//! The Kubernetes platform's benchmark, on a real kube-apiserver 1.20 + etcd on 127.0.0.1: each
//! figure beside the same thing on the local platform, measured in the same run (the two
//! platforms take turns; medians), and their ratio:
//! - redeem to Ready: `token redeem` until the Link reports Ready (the CLI's wait included);
//! - idle memory: resident size of a controller (router, grant server, watches, one link) and of
//!   a local site process (router, grant server, one link), after 10 s without traffic;
//! - N Listeners applied in one go (`kubectl apply -f`; `system apply -f`) until every one
//!   reports Configured.
//!
//! Run it with `scripts/kube-bench.sh` (release build; `--runs N`, `--listeners N`). It prints a
//! Markdown table and writes it to `target/kubebench/latest.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use skupper_e2e::kube::Cluster;
use skupper_e2e::{Daemon, Env, binary, wait_for};

const SETTLE: Duration = Duration::from_secs(120);

fn main() {
    let mut runs = 5usize;
    let mut listeners = 1000usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<usize>().ok()).filter(|v| *v > 0);
        match a.as_str() {
            "--runs" => runs = value().expect("--runs N (N > 0)"),
            "--listeners" => listeners = value().expect("--listeners N (N > 0)"),
            other => panic!("unknown argument {other:?}: kubebench [--runs N] [--listeners N]"),
        }
    }
    let Some(cluster) = Cluster::start() else {
        eprintln!("kubebench: no test API server can run on this machine");
        std::process::exit(1);
    };
    let kubeconfig = cluster.kubeconfig().to_str().expect("utf-8 path").to_string();
    let kube_env = |tag: &str| Env::new(tag);
    let ks = |env: &Env, args: &[&str]| env.run_full(args, None, &[("KUBECONFIG", kubeconfig.as_str())]);
    ks(&kube_env("kb-install"), &["install"]).ok();

    // Two Kubernetes sites and two local sites.
    let controller = |env: &Env, ns: &str| {
        cluster.kubectl_ok(&["create", "namespace", ns], "");
        let log = std::fs::File::create(env.dir.join("controller.log")).expect("log");
        let mut cmd = env.command(binary());
        cmd.env("KUBECONFIG", &kubeconfig)
            .args(["-n", ns, "controller", "--bind-host", &env.ip])
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let d = Daemon::spawn(&mut cmd, &format!("controller of {ns}"));
        wait_for("the controller to start", SETTLE, || {
            let text = std::fs::read_to_string(env.dir.join("controller.log")).unwrap_or_default();
            if text.contains("runs namespace") { Ok(()) } else { Err(text) }
        });
        d
    };
    let (kw, ke) = (kube_env("kb-west"), kube_env("kb-east"));
    let _cw = controller(&kw, "west");
    let ce = controller(&ke, "east");
    ks(&kw, &["-n", "west", "site", "create", "west", "--enable-link-access"]).ok();
    ks(&ke, &["-n", "east", "site", "create", "east"]).ok();
    let local = Env::new("kb-local");
    local.site_with_link_access("lwest");
    local.ns("least", &["site", "create", "least"]).ok();
    local.start("lwest");
    local.start("least");

    let mut kube_ms = Vec::new();
    let mut local_ms = Vec::new();
    for run in 0..runs {
        let file = kw.work.join(format!("t{run}.token"));
        ks(&kw, &["-n", "west", "token", "issue", file.to_str().expect("utf-8")]).ok();
        let name = token_name(&file);
        let t0 = Instant::now();
        ks(&ke, &["-n", "east", "token", "redeem", file.to_str().expect("utf-8")]).ok();
        wait_for("the Link to be Ready", SETTLE, || {
            let out = cluster.kubectl_ok(&["get", "link", &name, "-n", "east", "-o", "json"], "");
            let v: Value = serde_json::from_str(&out.stdout).map_err(|e| e.to_string())?;
            if v["status"]["status"] == "Ready" { Ok(()) } else { Err(v["status"].to_string()) }
        });
        kube_ms.push(t0.elapsed().as_secs_f64() * 1000.0);

        let file = local.work.join(format!("l{run}.token"));
        local.ns("lwest", &["token", "issue", file.to_str().expect("utf-8")]).ok();
        let name = token_name(&file);
        let t0 = Instant::now();
        local.ns("least", &["token", "redeem", file.to_str().expect("utf-8")]).ok();
        wait_for("the local Link to be Ready", SETTLE, || {
            let out = local.ns("least", &["link", "status", &name, "-o", "json"]);
            let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
            if v["status"]["status"] == "Ready" { Ok(()) } else { Err(v["status"].to_string()) }
        });
        local_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }

    std::thread::sleep(Duration::from_secs(10));
    let kube_rss = rss_kib(ce.id());
    let local_rss = local.pid("least").map(rss_kib).unwrap_or(0);

    // N Listeners in one go, on each platform, until every one is Configured.
    let (kl, _cl) = {
        let env = kube_env("kb-listeners");
        let d = controller(&env, "many");
        ks(&env, &["-n", "many", "site", "create", "many"]).ok();
        (env, d)
    };
    let yaml = |host: &str| {
        let mut s = String::new();
        for i in 0..listeners {
            let _ = write!(
                s,
                "---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l{i}\nspec:\n  routingKey: k{i}\n  \
                 host: {host}\n  port: {}\n",
                20000 + i
            );
        }
        s
    };
    let t0 = Instant::now();
    cluster.kubectl_ok(&["apply", "-n", "many", "-f", "-"], &yaml("backend"));
    wait_for("every Listener to be Configured", SETTLE * 5, || {
        let out = cluster.kubectl_ok(&["get", "listeners", "-n", "many", "-o", "json"], "");
        let v: Value = serde_json::from_str(&out.stdout).map_err(|e| e.to_string())?;
        let n = configured(v["items"].as_array().map(Vec::as_slice).unwrap_or_default());
        if n == listeners { Ok(()) } else { Err(format!("{n} of {listeners}")) }
    });
    let kube_apply = t0.elapsed().as_secs_f64();
    let _ = &kl;
    local.ns("lmany", &["site", "create", "lmany"]).ok();
    local.start("lmany");
    let t0 = Instant::now();
    local.run_with_input(&["-n", "lmany", "system", "apply", "-f", "-"], Some(&yaml(&local.ip))).ok();
    wait_for("every local Listener to be Configured", SETTLE * 5, || {
        let out = local.ns("lmany", &["listener", "status", "-o", "json"]);
        let docs = skupper_yaml::parse(&out.stdout).map_err(|e| e.to_string())?;
        let n = configured(&docs);
        if n == listeners { Ok(()) } else { Err(format!("{n} of {listeners}")) }
    });
    let local_apply = t0.elapsed().as_secs_f64();

    let (km, lm) = (median(&mut kube_ms), median(&mut local_ms));
    let mut table = String::new();
    let _ = writeln!(table, "| measurement | kubernetes | local | kubernetes/local |");
    let _ = writeln!(table, "|---|---:|---:|---:|");
    let _ = writeln!(table, "| redeem to Ready, median of {runs} (ms) | {km:.0} | {lm:.0} | {:.2}x |", km / lm);
    let _ = writeln!(
        table,
        "| idle resident memory (MiB) | {:.1} | {:.1} | {:.2}x |",
        kube_rss as f64 / 1024.0,
        local_rss as f64 / 1024.0,
        kube_rss as f64 / local_rss.max(1) as f64
    );
    let _ = writeln!(
        table,
        "| {listeners} Listeners applied until Configured (s) | {kube_apply:.1} | {local_apply:.1} | {:.2}x |",
        kube_apply / local_apply
    );
    print!("{table}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kubebench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("latest.md"), &table);
}

fn token_name(path: &Path) -> String {
    let v: Value = serde_yaml::from_str(&std::fs::read_to_string(path).expect("token")).expect("token yaml");
    v["metadata"]["name"].as_str().expect("token name").to_string()
}

fn configured(items: &[Value]) -> usize {
    items
        .iter()
        .filter(|l| {
            l["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Configured" && c["status"] == "True"))
        })
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(str::to_string)))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
