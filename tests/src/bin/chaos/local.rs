//! Scenarios of issue 16 against one local site and its files: special files as token targets,
//! busy ports, oversized and deeply nested input, an interrupted apply, a large apply, an
//! over-long name, a permissive umask, generated certificates against their CA, a connector
//! whose backend goes away, duplicate keys, and `system status` of a killed site.
//!
//! Every observed value comes from what the commands did (exit codes, messages, file types and
//! modes, times measured here); the scenarios assert nothing.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skupper_e2e::{Env, Out, binary, site_process_alive, wait_output};

use super::{Row, secs, time_until};

/// Longest any scenario here waits for the site to notice something by itself.
const NOTICE: Duration = Duration::from_secs(30);

/// The first line of what a command printed (stdout, else stderr), at most 70 characters.
fn said(out: &Out) -> String {
    let text = if out.stdout.trim().is_empty() { &out.stderr } else { &out.stdout };
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("(nothing)").trim();
    if line.chars().count() > 70 {
        format!("{}...", line.chars().take(67).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The clause of what a command printed that starts with `start` (up to `:`, `;` or the end of
/// its line), else its first line: the part of a message that shows it is the right refusal.
fn phrase(out: &Out, start: &str) -> String {
    let text = format!("{}\n{}", out.stdout, out.stderr);
    match text.find(start) {
        Some(at) => {
            let rest = &text[at..];
            let end = rest.find([':', ';', '\n']).unwrap_or(rest.len());
            rest[..end].trim_end_matches('.').to_string()
        }
        None => said(out),
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Runs `args` in `env` and measures how long it took.
fn timed(env: &Env, args: &[&str]) -> (Out, Duration) {
    let began = Instant::now();
    let out = env.run(args);
    (out, began.elapsed())
}

/// Staged files (`.Kind-name.yaml.<pid>-<n>.tmp`) in `dir`.
fn staged(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp")))
                .count()
        })
        .unwrap_or(0)
}

fn resources_dir(env: &Env, ns: &str) -> PathBuf {
    env.home(ns).join("input").join("resources")
}

fn listeners(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l{i}\nspec:\n  routingKey: k{i}\n  host: 127.0.0.1\n  port: {}\n",
                10000 + i % 50000
            )
        })
        .collect()
}

/// Item 2: `token issue` onto a FIFO and onto a character device like /dev/full (made here
/// with mknod, so the real one is never at risk).
pub(crate) fn special_files(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-special");
    env.site_with_link_access("west");
    let fifo = env.work.join("fifo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
    let device = env.work.join("full.yaml");
    let have_device = Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "7"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut observed = Vec::new();
    let grants_before = env.resource_files("west").len();
    for (file, path, ok, kind) in [("fifo.yaml", &fifo, made, "FIFO"), ("full.yaml", &device, have_device, "device")] {
        if !ok {
            observed.push(format!("{kind}: could not be made here"));
            continue;
        }
        let out = env.ns("west", &["token", "issue", file]);
        let intact = std::fs::symlink_metadata(path)
            .is_ok_and(|m| if kind == "FIFO" { m.file_type().is_fifo() } else { m.file_type().is_char_device() });
        let refused = out.stdout.contains("is not a regular file");
        observed.push(format!(
            "{kind}: exit {}{}, {}",
            out.code,
            if refused { " \"not a regular file\"" } else { "" },
            if intact { "intact" } else { "REPLACED" }
        ));
    }
    let left = env.resource_files("west").len() - grants_before;
    rows.push(Row {
        scenario: "token issue onto a FIFO / a char device (1,7)".into(),
        expected: "refused (exit 2), file untouched, no grant".into(),
        observed: format!("{}; {left} grants left", observed.join("; ")),
    });
}

/// The inter-router port allocated to `ns`.
fn inter_router_port(env: &Env, ns: &str) -> u16 {
    let ports = env.yaml(&env.home(ns).join("runtime").join("ports.yaml"));
    ports["interRouter"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("interRouter port")
}

/// Item 4: the link-access port and a listener's port are busy when the site starts, then freed.
pub(crate) fn busy_ports(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-bind");
    env.site_with_link_access("west");
    let port = inter_router_port(&env, "west");
    let squatter = std::net::TcpListener::bind((env.ip.as_str(), port)).expect("take the link port");
    let front = std::net::TcpListener::bind((env.ip.as_str(), 0)).expect("take a listener port");
    let front_port = front.local_addr().expect("addr").port();
    env.ns("west", &["listener", "create", "db", &front_port.to_string(), "--host", &env.ip]).ok();
    // A connector for its key: a listener's port accepts connections only while one exists.
    let backend = std::net::TcpListener::bind((env.ip.as_str(), 0)).expect("a backend");
    let backend_port = backend.local_addr().expect("addr").port().to_string();
    env.ns("west", &["connector", "create", "db", &backend_port, "--host", &env.ip]).ok();
    let start = env.ns("west", &["system", "start"]);
    let busy = env.ns("west", &["system", "status"]);
    let says_busy = busy.stdout.contains("cannot listen for links");
    drop((squatter, front));
    let ip = env.ip.clone();
    let bound = time_until(NOTICE, || {
        let status = env.ns("west", &["system", "status"]);
        status.code == 0
            && status.stdout.contains("Router: OK")
            && std::net::TcpStream::connect((ip.as_str(), port)).is_ok()
            && std::net::TcpStream::connect((ip.as_str(), front_port)).is_ok()
    });
    rows.push(Row {
        scenario: "busy link port + listener port at start, then freed".into(),
        expected: "exit 1 while busy; bound within a few s".into(),
        observed: format!(
            "start exit {}, status exit {}{} while busy; {}",
            start.code,
            busy.code,
            if says_busy { " (names the port)" } else { " (SAYS NOTHING)" },
            bound.map_or(format!("not bound within {}", secs(NOTICE)), |d| format!(
                "both bound, status exit 0 {} after freeing",
                secs(d)
            ))
        ),
    });
}

/// Item 5: /dev/zero and a 100 MB file as a token, and a 400 KB deeply nested apply input.
pub(crate) fn big_input(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-input");
    env.run(&["site", "create", "west"]).ok();
    let (zero, zero_took) = timed(&env, &["token", "redeem", "/dev/zero"]);
    rows.push(Row {
        scenario: "token redeem /dev/zero".into(),
        expected: "refused at once (was OOM at 23.7 GB)".into(),
        observed: format!("exit {} in {}: {}", zero.code, ms(zero_took), phrase(&zero, "larger than")),
    });
    let big = env.work.join("big.yaml");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).expect("create"));
        f.write_all(b"apiVersion: skupper.io/v2alpha1\nkind: AccessToken\nmetadata:\n  name: t\n#").expect("write");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).expect("write");
        }
        f.write_all(b"\n").expect("write");
        f.flush().expect("flush");
    }
    let (out, took) = timed(&env, &["token", "redeem", "big.yaml"]);
    let _ = std::fs::remove_file(&big);
    rows.push(Row {
        scenario: "token redeem of a 100 MB token file".into(),
        expected: "refused at once (was parsed 18-44 s)".into(),
        observed: format!("exit {} in {}: {}", out.code, ms(took), phrase(&out, "larger than")),
    });
    std::fs::write(env.work.join("deep.yaml"), "[".repeat(400_000)).expect("write");
    let (out, took) = timed(&env, &["system", "apply", "-f", "deep.yaml"]);
    let left = env.resource_files("default").len();
    rows.push(Row {
        scenario: "system apply of 400 KB of nesting".into(),
        expected: "refused in ms (was 5-24 s)".into(),
        observed: format!(
            "exit {} in {}: {}; {} resources stored",
            out.code,
            ms(took),
            phrase(&out, "nested more than"),
            left.saturating_sub(1)
        ),
    });
}

/// Item 6: a `system apply` killed while it stages its files, then another apply.
pub(crate) fn interrupted_apply(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-tmp");
    env.run(&["site", "create", "west"]).ok();
    std::fs::write(env.work.join("many.yaml"), listeners(20_000)).expect("write");
    let dir = resources_dir(&env, "default");
    let mut cmd = env.command(binary());
    cmd.args(["system", "apply", "-f", "many.yaml"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("system apply");
    let began = Instant::now();
    let mut killed = false;
    while began.elapsed() < Duration::from_secs(60) {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        if staged(&dir) >= 5_000 {
            let _ = child.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let left = staged(&dir);
    let (next, took) = {
        let began = Instant::now();
        let out = env.run_with_input(
            &["system", "apply", "-f", "-"],
            Some("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  port: 15432\n"),
        );
        (out, began.elapsed())
    };
    let after = staged(&dir);
    rows.push(Row {
        scenario: "system apply (20,000 docs) killed by SIGKILL".into(),
        expected: "next apply removes the staged files".into(),
        observed: if killed {
            format!(
                "killed after {}: {left} .tmp files; next apply exit {} in {}: {after} left",
                ms(began.elapsed()),
                next.code,
                ms(took)
            )
        } else {
            format!("apply ended before it could be killed ({left} .tmp files); next: {after} left")
        },
    });
}

/// Item 6: a 4,000-document apply into a fresh site.
pub(crate) fn apply_4000(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-apply");
    env.run(&["site", "create", "west"]).ok();
    std::fs::write(env.work.join("l.yaml"), listeners(4_000)).expect("write");
    let (out, took) = timed(&env, &["system", "apply", "-f", "l.yaml"]);
    let held = env.resource_files("default").len().saturating_sub(1);
    rows.push(Row {
        scenario: "system apply of 4,000 Listeners".into(),
        expected: "a few s at most (was 24 s)".into(),
        observed: format!("exit {} in {}, {held} Listeners stored", out.code, secs(took)),
    });
}

/// Item 7: a 300-character site name.
pub(crate) fn long_names(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-names");
    let long = "a".repeat(300);
    let out = env.run(&["site", "create", &long]);
    let left = env.home("default").exists();
    let ok = "b".repeat(253);
    let valid = env.run(&["site", "create", &ok]);
    rows.push(Row {
        scenario: "site create with a 300-char name (and 253)".into(),
        expected: "refused, nothing left (253 works)".into(),
        observed: format!(
            "exit {}: {}; namespace {}; 253 chars: exit {}",
            out.code,
            phrase(&out, "must be no more than"),
            if left { "LEFT BEHIND" } else { "not created" },
            valid.code
        ),
    });
}

/// Runs the binary in `env` under `umask 000`.
fn run_umask_000(env: &Env, args: &[&str]) -> Out {
    let child = env
        .command("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh");
    wait_output(child, &format!("umask 000 kubectl-skupper {args:?}"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        out.push(e.path());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), out);
        }
    }
}

/// Item 8: a site created, started and given a listener under `umask 000`.
pub(crate) fn umask(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-umask");
    run_umask_000(&env, &["site", "create", "west", "--enable-link-access", "--bind-host", &env.ip]).ok();
    run_umask_000(&env, &["system", "start"]).ok();
    run_umask_000(&env, &["listener", "create", "db", "15432", "--host", &env.ip]).ok();
    let status = env.home("default").join("runtime").join("status").join("Listener-db.yaml");
    let _ = time_until(NOTICE, || status.exists());
    let root = env.data.join("kubectl-skupper");
    let mut all = vec![root.clone()];
    walk(&root, &mut all);
    let (mut dirs, mut files) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
    for p in &all {
        let Ok(m) = std::fs::symlink_metadata(p) else { continue };
        let modes = if m.is_dir() { &mut dirs } else { &mut files };
        *modes.entry(format!("{:o}", m.mode() & 0o777)).or_insert(0) += 1;
    }
    let log = std::fs::metadata(env.home("default").join("runtime").join("router.log"))
        .map_or("absent".to_string(), |m| format!("{:o}", m.mode() & 0o777));
    let show = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter().map(|(mode, n)| format!("{mode} x{n}")).collect::<Vec<_>>().join(", ")
    };
    rows.push(Row {
        scenario: "site under umask 000 (create, start, listener)".into(),
        expected: "dirs 0700, files 0600, log 0600".into(),
        observed: format!("dirs {}; files {}; router.log {log}", show(&dirs), show(&files)),
    });
}

/// Item 9: a generated Link's client certificate against the site CA.
pub(crate) fn cert_expiry(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-certs");
    env.site_with_link_access("west");
    // Certificates have one-second resolution: generate a little later than the CA, as any
    // real `link generate` is.
    std::thread::sleep(Duration::from_millis(1_500));
    let link = env.ns("west", &["link", "generate"]).ok().stdout;
    let out = env.run_with_input(&["token", "inspect", "-", "-o", "json"], Some(&link));
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    let end = |what: &str| report[what]["notAfter"]["unix"].as_i64();
    let warned = report["warnings"]
        .as_array()
        .is_some_and(|w| w.iter().any(|w| w["code"].as_str() == Some("ca-expires-before-token")));
    rows.push(Row {
        scenario: "link generate: client cert vs CA expiry".into(),
        expected: "cert ends no later than CA; no warning".into(),
        observed: match (end("clientCert"), end("ca")) {
            (Some(cert), Some(ca)) => format!(
                "cert ends {} s {} the CA; ca-expires-before-token {}",
                (ca - cert).abs(),
                if cert <= ca { "before or with" } else { "AFTER" },
                if warned { "WARNED" } else { "not warned" }
            ),
            _ => format!("token inspect exit {}: {}", out.code, said(&out)),
        },
    });
}

/// Item 10: a connector's backend goes away and comes back.
pub(crate) fn backend_down(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-connector");
    let backend = std::net::TcpListener::bind((env.ip.as_str(), 0)).expect("backend");
    let port = backend.local_addr().expect("addr").port();
    env.run(&["site", "create", "west"]).ok();
    env.run(&["connector", "create", "db", &port.to_string(), "--host", &env.ip]).ok();
    env.start("default");
    let status = |env: &Env| env.run(&["connector", "status", "db"]).stdout;
    let ready = time_until(NOTICE, || {
        let s = status(&env);
        s.contains("Status:") && !s.contains("Error")
    });
    drop(backend);
    let mut last = String::new();
    let down = time_until(NOTICE, || {
        last = status(&env);
        last.contains("Error")
    });
    let reason = if last.contains("connection refused") { "connection refused" } else { "other error" };
    let when = if last.contains("last connected") { ", says when it last worked" } else { "" };
    let _backend = std::net::TcpListener::bind((env.ip.as_str(), port)).expect("backend again");
    let up = time_until(NOTICE, || !status(&env).contains("Error"));
    let t = |d: Option<Duration>| d.map_or(format!("not within {}", secs(NOTICE)), secs);
    rows.push(Row {
        scenario: "connector backend down, then back".into(),
        expected: "Error within a few s, then OK by itself".into(),
        observed: if ready.is_none() {
            "connector never reported OK with its backend up".into()
        } else {
            format!("Error after {} ({reason}{when}); OK again after {}", t(down), t(up))
        },
    });
}

/// Item 11: a document with a key given twice.
pub(crate) fn duplicate_keys(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-dup");
    env.run(&["site", "create", "west"]).ok();
    let dup = "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  port: 1024\n  port: 5432\n";
    let out = env.run_with_input(&["system", "apply", "-f", "-"], Some(dup));
    let stored = env.resource_files("default").iter().any(|f| f == "Listener-db.yaml");
    rows.push(Row {
        scenario: "system apply with `port` given twice".into(),
        expected: "refused naming the key, nothing stored".into(),
        observed: format!(
            "exit {}: {}; {}",
            out.code,
            phrase(&out, "duplicate key"),
            if stored { "Listener STORED" } else { "nothing stored" }
        ),
    });
}

/// Item 12: `system status` after the site process was killed with SIGKILL.
pub(crate) fn dead_status(rows: &mut Vec<Row>) {
    let env = Env::new("chaos-status");
    env.run(&["site", "create", "west"]).ok();
    let pid = env.start("default");
    let running = env.run(&["system", "status"]);
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    let _ = time_until(NOTICE, || !site_process_alive(pid));
    let out = env.run(&["system", "status"]);
    rows.push(Row {
        scenario: "system status after kill -9 of the site".into(),
        expected: "exit 1, says not running and what to do".into(),
        observed: format!(
            "running: exit {}; killed: exit {}: {}{}",
            running.code,
            out.code,
            said(&out),
            if out.stdout.contains("system start") { " (+ how to start)" } else { "" }
        ),
    });
}
