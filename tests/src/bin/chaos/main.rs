//! `chaos`: runs the fault scenarios of issue 16 against real local sites and prints what it
//! measured, as a table `scenario | expected | observed`. Run by `scripts/chaos.sh`; not a test
//! (it asserts nothing, it measures; `tests/tests/reliability.rs` asserts the behaviour).
//!
//! Scenarios (names select them): `flood`, hostile grant-server and link-port clients while
//! traffic flows and a token is redeemed (site at 256 open files); `guess`, wrong-code guessing;
//! `delete`, a link deleted under an open connection; `frozen`, a SIGSTOPped peer; `outage`, a
//! peer that returns after an outage (`--outage SECS`, 120 by default); and the local-platform
//! items of [`local`]: `special-files`, `busy-ports`, `big-input`, `interrupted-apply`,
//! `apply-4000`, `long-names`, `umask`, `cert-expiry`, `backend-down`, `duplicate-keys`,
//! `dead-status`. A scenario that fails to set itself up is a row saying so; the others still
//! run. Traffic goes to loopback addresses only; every process it starts is stopped by pid.

mod local;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use skupper_e2e::Env;
use skupper_e2e::attack::{self, Attack, fds, issue, linked_with_traffic, start_limited, token_tls};

struct Row {
    scenario: String,
    expected: String,
    observed: String,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Polls `f` every 50 ms until it is true or `limit` passed; the time it took, if it became true.
fn time_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn link_ready(env: &Env, ns: &str, name: &str) -> bool {
    env.ns(ns, &["link", "status", name]).stdout.contains("Status\t: Ready")
}

fn echo_ok(env: &Env, front: u16) -> bool {
    skupper_e2e::echo_once(&env.ip, front, "chaos").is_ok_and(|s| s == "chaos")
}

fn flood(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-flood");
    let (_, front, west) = linked_with_traffic(&env, |env| start_limited(env, "west", 256, &[]));
    env.ns("south", &["site", "create", "south"]).ok();
    let ports = env.yaml(&env.home("west").join("runtime").join("ports.yaml"));
    let ip: Ipv4Addr = env.ip.parse().expect("ipv4");
    let port = |key: &str| ports[key].as_u64().and_then(|p| u16::try_from(p).ok()).expect("port");
    let attack = Arc::new(Attack::default());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let tls = token_tls(&env, "tok.yaml");
    attack::launch(&rt, 231, 10, 40, SocketAddr::from((ip, port("grantServer"))), Some(tls), &attack);
    attack::launch(&rt, 232, 5, 40, SocketAddr::from((ip, port("interRouter"))), None, &attack);
    let peak = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(fds(west), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(10));
    let tries = 50;
    let ok = (0..tries).filter(|_| echo_ok(&env, front)).count();
    let name = issue(&env, "tok2.yaml");
    let began = Instant::now();
    let redeemed = env.ns("south", &["token", "redeem", "tok2.yaml"]);
    let latency = began.elapsed();
    env.start("south");
    let linked = time_until(Duration::from_secs(60), || link_ready(&env, "south", &name));
    attack.stop.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    rt.shutdown_timeout(Duration::from_secs(5));
    let opened = attack.opened.load(Ordering::Relaxed);
    rows.push(Row {
        scenario: format!("flood: 600 hostile connection slots ({opened} connections opened)"),
        expected: "traffic flows; fds < 256".into(),
        observed: format!("{ok}/{tries} echoes ok; peak {} fds", peak.load(Ordering::Relaxed)),
    });
    rows.push(Row {
        scenario: "flood: redemption of a new token".into(),
        expected: "succeeds within seconds".into(),
        observed: if redeemed.code == 0 {
            format!("ok in {}", secs(latency))
        } else {
            format!("failed: {}", redeemed.stdout.trim())
        },
    });
    rows.push(Row {
        scenario: "flood: new link through the attacked port".into(),
        expected: "Ready within seconds".into(),
        observed: linked.map_or("not Ready within 60 s".into(), |d| format!("Ready after {}", secs(d))),
    });
}

fn brute_force(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-guess");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    issue(&env, "tok.yaml");
    let mut token = env.yaml(&env.work.join("tok.yaml"));
    token["spec"]["code"] = "AAAAAAAAAAAAAAAAAAAAAAAA".into();
    std::fs::write(env.work.join("bad.yaml"), serde_yaml::to_string(&token).expect("yaml")).expect("write");
    // As fast as the CLI goes, for 20 s, with the default policy.
    let (mut wrong, mut throttled, mut other) = (0, 0, 0);
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(20) {
        let out = env.ns("east", &["token", "redeem", "bad.yaml"]);
        if out.stdout.contains("refused the code") {
            wrong += 1;
        } else if out.stdout.contains("HTTP 429") {
            throttled += 1;
        } else {
            other += 1;
        }
    }
    let rate = f64::from(wrong) / began.elapsed().as_secs_f64();
    rows.push(Row {
        scenario: "brute force: one client, 20 s, default policy".into(),
        expected: "few wrong codes checked (was 21-61/s)".into(),
        observed: format!("{wrong} checked ({rate:.2}/s), {throttled} answered 429, {other} other"),
    });
    // Then ten wrong codes in all lock the grant, right code included.
    let env = Env::new("chaos-lock");
    env.site_with_link_access("west");
    env.run_full(&["-n", "west", "system", "start"], None, &[("SKUPPER_GRANT_THROTTLE_MS", "50")]).ok();
    env.ns("east", &["site", "create", "east"]).ok();
    issue(&env, "tok.yaml");
    let mut token = env.yaml(&env.work.join("tok.yaml"));
    token["spec"]["code"] = "AAAAAAAAAAAAAAAAAAAAAAAA".into();
    std::fs::write(env.work.join("bad.yaml"), serde_yaml::to_string(&token).expect("yaml")).expect("write");
    let mut wrong = 0;
    for _ in 0..400 {
        let out = env.ns("east", &["token", "redeem", "bad.yaml"]);
        if out.stdout.contains("refused the code") {
            wrong += 1;
        } else if out.stdout.contains("locked") {
            break;
        }
    }
    let genuine = env.ns("east", &["token", "redeem", "tok.yaml"]);
    rows.push(Row {
        scenario: "brute force: right code after the wrong ones".into(),
        expected: "refused (locked) after 10 wrong codes".into(),
        observed: if genuine.code == 0 {
            format!("redeemed after {wrong} wrong codes")
        } else if genuine.stdout.contains("locked") {
            format!("locked after {wrong} wrong codes")
        } else {
            format!("failed otherwise: {}", genuine.stdout.trim())
        },
    });
}

fn link_delete(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-delete");
    let (name, front, _) = linked_with_traffic(&env, |env| env.start("west"));
    let mut conn = std::net::TcpStream::connect((env.ip.as_str(), front)).expect("connect");
    conn.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    conn.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let _ = conn.read_exact(&mut buf);
    let began = Instant::now();
    env.ns("east", &["link", "delete", &name]).ok();
    conn.set_read_timeout(Some(Duration::from_secs(70))).expect("timeout");
    let mut buf = [0u8; 16];
    let observed = match conn.read(&mut buf) {
        Ok(0) => format!("EOF after {}", secs(began.elapsed())),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => format!("reset after {}", secs(began.elapsed())),
        Err(e) => format!("{e} after {}", secs(began.elapsed())),
        Ok(n) => format!("{n} bytes after {}", secs(began.elapsed())),
    };
    rows.push(Row {
        scenario: "link delete under an open connection".into(),
        expected: "EOF/reset at once (was a 60 s hang)".into(),
        observed,
    });
}

fn frozen_peer(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-frozen");
    let (name, _, west) = linked_with_traffic(&env, |env| env.start("west"));
    Command::new("kill").args(["-STOP", &west.to_string()]).status().expect("kill -STOP");
    let detected = time_until(Duration::from_secs(90), || !link_ready(&env, "east", &name));
    Command::new("kill").args(["-CONT", &west.to_string()]).status().expect("kill -CONT");
    let back = time_until(Duration::from_secs(90), || link_ready(&env, "east", &name));
    rows.push(Row {
        scenario: "SIGSTOP'd peer: detection".into(),
        expected: "~10 s (was ~45 s)".into(),
        observed: detected.map_or("not within 90 s".into(), secs),
    });
    rows.push(Row {
        scenario: "SIGSTOP'd peer: link back after SIGCONT".into(),
        expected: "within ~5 s".into(),
        observed: back.map_or("not within 90 s".into(), secs),
    });
}

fn outage(rows: &mut Vec<Row>, outage: Duration) {
    let env = Env::new("chaos-outage");
    let (name, _, _) = linked_with_traffic(&env, |env| env.start("west"));
    env.ns("west", &["system", "stop"]).ok();
    std::thread::sleep(outage);
    env.start("west");
    let back = time_until(Duration::from_secs(120), || link_ready(&env, "east", &name));
    rows.push(Row {
        scenario: format!("peer back after a {} s outage", outage.as_secs()),
        expected: "Ready within ~5 s (was 19.4 s after 120 s)".into(),
        observed: back.map_or("not within 120 s".into(), secs),
    });
}

/// Every scenario, by the name that selects it, in the issue's order.
const SCENARIOS: &[&str] = &[
    "flood",
    "special-files",
    "delete",
    "busy-ports",
    "big-input",
    "interrupted-apply",
    "apply-4000",
    "long-names",
    "umask",
    "cert-expiry",
    "backend-down",
    "duplicate-keys",
    "dead-status",
    "guess",
    "frozen",
    "outage",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let mut outage_secs = 120;
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--outage" => outage_secs = args.next().and_then(|v| v.parse().ok()).expect("--outage SECS"),
            "-h" | "--help" => {
                println!("usage: chaos [--outage SECS] [SCENARIO]...\nscenarios: {}", SCENARIOS.join(" "));
                return;
            }
            other if SCENARIOS.contains(&other) => only.push(other.to_string()),
            other => {
                eprintln!("chaos: unknown scenario {other:?}; scenarios: {}", SCENARIOS.join(" "));
                std::process::exit(2);
            }
        }
    }
    let began = Instant::now();
    let mut rows = Vec::new();
    for &name in SCENARIOS.iter().filter(|n| only.is_empty() || only.iter().any(|o| o == *n)) {
        let scenario_began = Instant::now();
        eprintln!("chaos: {name}...");
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut got = Vec::new();
            match name {
                "flood" => flood(&mut got),
                "special-files" => local::special_files(&mut got),
                "delete" => link_delete(&mut got),
                "busy-ports" => local::busy_ports(&mut got),
                "big-input" => local::big_input(&mut got),
                "interrupted-apply" => local::interrupted_apply(&mut got),
                "apply-4000" => local::apply_4000(&mut got),
                "long-names" => local::long_names(&mut got),
                "umask" => local::umask(&mut got),
                "cert-expiry" => local::cert_expiry(&mut got),
                "backend-down" => local::backend_down(&mut got),
                "duplicate-keys" => local::duplicate_keys(&mut got),
                "dead-status" => local::dead_status(&mut got),
                "guess" => brute_force(&mut got),
                "frozen" => frozen_peer(&mut got),
                "outage" => outage(&mut got, Duration::from_secs(outage_secs)),
                _ => unreachable!("{name} is in SCENARIOS"),
            }
            got
        }));
        match ran {
            Ok(got) => rows.extend(got),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                let why = why.lines().next().unwrap_or("").to_string();
                rows.push(Row {
                    scenario: name.to_string(),
                    expected: "-".into(),
                    observed: format!("SCENARIO FAILED: {why}"),
                });
            }
        }
        eprintln!("chaos: {name} took {}", secs(scenario_began.elapsed()));
    }
    let rows_len = rows.len();
    let w0 = rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8).max(8);
    let w1 = rows.iter().map(|r| r.expected.len()).max().unwrap_or(8).max(8);
    println!("{:w0$} | {:w1$} | observed", "scenario", "expected");
    println!("{}-|-{}-|-{}", "-".repeat(w0), "-".repeat(w1), "-".repeat(8));
    for r in rows {
        println!("{:w0$} | {:w1$} | {}", r.scenario, r.expected, r.observed);
    }
    println!("({} scenario rows in {})", rows_len, secs(began.elapsed()));
}
