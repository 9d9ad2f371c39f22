//! Reliability of the local platform against hostile or unlucky input and environments (issue 16):
//! token files that are not regular files, ports that are busy when the site starts, input files
//! of any size or shape, interrupted applies, names at the length limits, a permissive umask, a
//! connector whose backend goes away, duplicate YAML keys, and `system status` of a dead site.
//!
//! Each test fails on the code before its fix. No timing is asserted beyond generous bounds on
//! things that happen by themselves (a retried bind, a probed backend).

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use skupper_e2e::{Env, Out, binary, wait_for, wait_output};

/// Longest the site may take to notice something by itself (a freed port, a backend that went
/// or came back): a few seconds by design, generous for a loaded machine.
const NOTICE: Duration = Duration::from_secs(30);

fn listener_yaml(name: &str, port: u16) -> String {
    format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: {name}\nspec:\n  routingKey: {name}\n  host: 127.0.0.1\n  port: {port}\n"
    )
}

/// Runs the binary in `env` under `umask 000` (through `sh`, which sets it before exec).
fn run_umask_000(env: &Env, args: &[&str]) -> Out {
    let child = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(binary())
        .args(args)
        .current_dir(&env.work)
        .env("XDG_DATA_HOME", &env.data)
        .env_remove("SKUPPER_HOME")
        .env_remove("SKUPPER_PLATFORM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kubectl-skupper under sh");
    wait_output(child, &format!("umask 000 kubectl-skupper {args:?}"))
}

/// Runs the binary in `env` with `input` on standard input, which it may stop reading early
/// (the harness's writer takes that as a failure).
fn run_with_endless_stdin(env: &Env, args: &[&str], input: String) -> Out {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(&env.work)
        .env("XDG_DATA_HOME", &env.data)
        .env_remove("SKUPPER_HOME")
        .env_remove("SKUPPER_PLATFORM")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kubectl-skupper");
    let mut stdin = child.stdin.take().expect("stdin piped");
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = wait_output(child, &format!("kubectl-skupper {args:?}"));
    let _ = writer.join();
    out
}

/// Every file and directory under `dir`, depth first.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        }
    }
}

// Item 2: `token issue FILE` writes regular files only.
#[test]
fn token_issue_refuses_what_is_not_a_regular_file() {
    let env = Env::new("rel-token-file");
    env.site_with_link_access("west");
    let fifo = env.work.join("fifo.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let target = env.work.join("target.yaml");
    std::fs::write(&target, "precious\n").expect("write");
    let link = env.work.join("link.yaml");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    // A character device like /dev/full (1,7), made here so the real one is never at risk.
    let device = env.work.join("full.yaml");
    let have_device = Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "7"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut cases = vec![("fifo.yaml", "a FIFO"), ("link.yaml", "a symbolic link")];
    if have_device {
        cases.push(("full.yaml", "a character device"));
    } else {
        skupper_e2e::skip(
            "reliability_local::token_issue_refuses_what_is_not_a_regular_file (the device case)",
            "mknod is not permitted here",
        );
    }
    for (file, what) in cases {
        let out = env.ns("west", &["token", "issue", file]).code(2);
        assert!(out.stdout.contains("is not a regular file") && out.stdout.contains(what), "{file}: {out}");
        assert_eq!(env.resource_files("west"), ["Site-west.yaml"], "{file}: no grant is left behind");
    }
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo(), "the FIFO is still one");
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink(), "the link is still one");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "precious\n", "the link's target is untouched");
    if have_device {
        assert!(std::fs::symlink_metadata(&device).expect("dev").file_type().is_char_device(), "still a device");
    }
    // A regular file is replaced as before, and a new one is created.
    std::fs::write(env.work.join("old.yaml"), "old\n").expect("write");
    env.ns("west", &["token", "issue", "old.yaml"]).ok();
    assert!(std::fs::read_to_string(env.work.join("old.yaml")).expect("token").contains("kind: AccessToken"));
    env.ns("west", &["token", "issue", "new.yaml"]).ok();
}

/// The inter-router port allocated to `ns`.
fn inter_router_port(env: &Env, ns: &str) -> u16 {
    let ports = env.yaml(&env.home(ns).join("runtime").join("ports.yaml"));
    ports["interRouter"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("interRouter port")
}

// Item 4: binds that fail are retried, and status tells the truth meanwhile.
#[test]
fn busy_ports_are_retried_and_reported_until_bound() {
    let env = Env::new("rel-bind");
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

    let out = env.ns("west", &["system", "start"]).code(1);
    assert!(out.stdout.contains("Site \"west\" is running (pid "), "{out}");
    assert!(out.stdout.contains(&format!("cannot listen for links on {}:{port}", env.ip)), "{out}");
    assert!(out.stdout.contains(&format!("listener db: cannot listen on {}:{front_port}", env.ip)), "{out}");
    let status = env.ns("west", &["system", "status"]).code(1);
    assert!(!status.stdout.contains("Router: OK"), "{status}");
    assert!(status.stdout.contains(&format!("cannot listen for links on {}:{port}", env.ip)), "{status}");
    let listener = env.ns("west", &["listener", "status", "db"]).ok();
    assert!(listener.stdout.contains("Error") && listener.stdout.contains("cannot listen on"), "{listener}");

    // The ports free up: the site binds them by itself, and says so.
    drop((squatter, front));
    wait_for("system status OK", NOTICE, || {
        let out = env.ns("west", &["system", "status"]);
        if out.code == 0 && out.stdout.contains("Router: OK") { Ok(()) } else { Err(out.to_string()) }
    });
    std::net::TcpStream::connect((env.ip.as_str(), port)).expect("the link port is bound");
    std::net::TcpStream::connect((env.ip.as_str(), front_port)).expect("the listener is bound");
    let listener = env.ns("west", &["listener", "status", "db"]).ok();
    assert!(!listener.stdout.contains("cannot listen"), "{listener}");
}

// Item 5: input is read with a bound, and deep nesting is refused before parsing.
#[test]
fn input_files_are_bounded_and_deep_nesting_is_refused() {
    let env = Env::new("rel-input");
    env.run(&["site", "create", "west"]).ok();
    for args in [["token", "redeem", "/dev/zero"], ["token", "inspect", "/dev/zero"]] {
        let out = env.run(&args).code(1);
        assert!(out.stdout.contains("larger than 64 KiB"), "{args:?}: {out}");
    }
    // A token file of 1 MB is refused before it is parsed.
    let big = format!("kind: AccessToken\nmetadata:\n  name: t\n# {}\n", "x".repeat(1 << 20));
    std::fs::write(env.work.join("big.yaml"), &big).expect("write");
    let out = env.run(&["token", "redeem", "big.yaml"]).code(1);
    assert!(out.stdout.contains("larger than 64 KiB"), "{out}");
    // `system apply` takes up to 8 MiB, from a file or standard input.
    let huge = format!("# {}\n", "x".repeat(9 << 20));
    let out = run_with_endless_stdin(&env, &["system", "apply", "-f", "-"], huge.clone()).code(1);
    assert!(out.stdout.contains("larger than 8 MiB"), "{out}");
    std::fs::write(env.work.join("huge.yaml"), &huge).expect("write");
    let out = env.run(&["system", "apply", "-f", "huge.yaml"]).code(1);
    assert!(out.stdout.contains("larger than 8 MiB"), "{out}");
    // 400 KB of nesting: refused for its depth (it took 5-24 s to fail before).
    for deep in ["[".repeat(400_000), "- ".repeat(200_000), "{a: ".repeat(100_000)] {
        std::fs::write(env.work.join("deep.yaml"), &deep).expect("write");
        let out = env.run(&["system", "apply", "-f", "deep.yaml"]).code(1);
        assert!(out.stdout.contains("nested more than"), "{out}");
    }
    assert_eq!(env.resource_files("default"), ["Site-west.yaml"]);
}

// Item 6: staged files of an interrupted apply are cleaned by the next apply or start.
#[test]
fn temporary_files_of_an_interrupted_apply_are_cleaned_up() {
    let env = Env::new("rel-tmp");
    env.run(&["site", "create", "west"]).ok();
    let dir = env.home("default").join("input").join("resources");
    // What a killed apply leaves: staged files of a process that no longer exists (the format
    // before this fix had no pid; after it, the pid of the writer).
    let stale = |n: usize| {
        for i in 0..n {
            std::fs::write(dir.join(format!(".Listener-l{i}.yaml.{i:012x}.tmp")), "x").expect("write");
            std::fs::write(dir.join(format!(".Listener-m{i}.yaml.4194304-{i:012x}.tmp")), "x").expect("write");
        }
    };
    stale(50);
    let out = env.run_with_input(&["system", "apply", "-f", "-"], Some(&listener_yaml("db", 15432))).ok();
    assert!(out.stdout.contains("Listener db added"), "{out}");
    assert_eq!(env.resource_files("default"), ["Listener-db.yaml", "Site-west.yaml"]);
    stale(50);
    env.start("default");
    assert_eq!(env.resource_files("default"), ["Listener-db.yaml", "Site-west.yaml"]);
}

// Item 7: names as long as Kubernetes allows work; longer ones are refused with nothing left.
#[test]
fn names_up_to_the_kubernetes_limits_work_and_longer_ones_leave_nothing() {
    let env = Env::new("rel-names");
    let long = "a".repeat(300);
    let out = env.run(&["site", "create", &long]).code(2);
    assert!(out.stdout.contains("must be no more than 253 characters"), "{out}");
    assert!(!env.home("default").exists(), "nothing is left of the namespace");
    let ns64 = "n".repeat(64);
    let out = env.run(&["-n", &ns64, "site", "create", "west"]).code(2);
    assert!(out.stdout.contains("must be no more than 63 characters"), "{out}");
    assert!(!env.home(&ns64).exists());

    // The longest valid names: a 253-character site in a 63-character namespace.
    let ns = "n".repeat(63);
    let site = format!("{}.{}", "s".repeat(126), "t".repeat(126));
    assert_eq!(site.len(), 253);
    env.ns(&ns, &["site", "create", &site]).ok();
    let out = env.ns(&ns, &["site", "status", "-o", "yaml"]).ok();
    assert!(out.stdout.contains(&site), "{out}");
    for len in [230, 240, 251, 253] {
        let name = "l".repeat(len);
        env.ns(&ns, &["listener", "create", &name, "15000"]).ok();
        let out = env.ns(&ns, &["listener", "status", &name]).ok();
        assert!(out.stdout.contains(&name), "{out}");
    }
    let files = env.resource_files(&ns);
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(files.iter().all(|f| f.len() <= 255 && !f.starts_with('.')), "{files:?}");
    for len in [230, 240, 251, 253] {
        env.ns(&ns, &["listener", "delete", &"l".repeat(len)]).ok();
    }
    assert_eq!(env.resource_files(&ns).len(), 1);
    env.start(&ns);
    env.ns(&ns, &["system", "status"]).ok();
}

// Item 8: directories 0700 and files (the log too) 0600 whatever the umask.
#[test]
fn modes_do_not_follow_a_permissive_umask() {
    let env = Env::new("rel-umask");
    run_umask_000(&env, &["site", "create", "west", "--enable-link-access", "--bind-host", &env.ip]).ok();
    run_umask_000(&env, &["system", "start"]).ok();
    run_umask_000(&env, &["listener", "create", "db", "15432", "--host", &env.ip]).ok();
    wait_for("listener status written", NOTICE, || {
        let p = env.home("default").join("runtime").join("status").join("Listener-db.yaml");
        if p.exists() { Ok(()) } else { Err("not yet".into()) }
    });
    let mut all = vec![env.data.join("kubectl-skupper")];
    walk(&all[0].clone(), &mut all);
    let log = env.home("default").join("runtime").join("router.log");
    assert!(all.contains(&log), "{all:?}");
    for p in &all {
        let m = std::fs::symlink_metadata(p).expect("stat");
        let mode = m.mode() & 0o777;
        if m.is_dir() {
            assert_eq!(mode, 0o700, "{}: {mode:o}", p.display());
        } else {
            assert_eq!(mode & 0o077, 0, "{}: {mode:o}", p.display());
        }
    }
}

// Item 10: a connector reports a backend it cannot reach, and recovers by itself.
#[test]
fn connector_status_follows_its_backend() {
    let env = Env::new("rel-connector");
    let backend = std::net::TcpListener::bind((env.ip.as_str(), 0)).expect("backend");
    let port = backend.local_addr().expect("addr").port();
    env.run(&["site", "create", "west"]).ok();
    env.run(&["connector", "create", "db", &port.to_string(), "--host", &env.ip]).ok();
    env.start("default");
    let status = |env: &Env| env.run(&["connector", "status", "db"]).ok().stdout;
    wait_for("connector status written", NOTICE, || {
        let s = status(&env);
        if s.contains("Status:") && !s.contains("Error") { Ok(()) } else { Err(s) }
    });
    drop(backend);
    let down = wait_for("the connector reports its backend down", NOTICE, || {
        let s = status(&env);
        if s.contains("Error") && s.contains("connection refused") { Ok(s) } else { Err(s) }
    });
    assert!(down.contains("last connected"), "says when it last worked: {down}");
    let _backend = std::net::TcpListener::bind((env.ip.as_str(), port)).expect("backend again");
    wait_for("the connector recovers", NOTICE, || {
        let s = status(&env);
        if !s.contains("Error") { Ok(()) } else { Err(s) }
    });
}

// Item 11: duplicate keys are refused, naming the key, in every reader.
#[test]
fn duplicate_keys_are_refused_everywhere() {
    let env = Env::new("rel-dup");
    env.run(&["site", "create", "west"]).ok();
    let dup = "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  port: 1024\n  port: 5432\n";
    let out = env.run_with_input(&["system", "apply", "-f", "-"], Some(dup)).code(1);
    assert!(out.stdout.contains("duplicate key \"port\""), "{out}");
    assert_eq!(env.resource_files("default"), ["Site-west.yaml"]);
    let json = r#"{"apiVersion": "skupper.io/v2alpha1", "kind": "Listener", "kind": "Connector"}"#;
    let out = env.run_with_input(&["token", "inspect", "-"], Some(json)).code(1);
    assert!(out.stdout.contains("duplicate key \"kind\""), "{out}");
    // A resource file with a duplicate key is reported by name.
    std::fs::write(env.resource("default", "Listener", "db"), dup).expect("write");
    let out = env.run(&["listener", "status"]).code(1);
    assert!(out.stdout.contains("Listener-db.yaml") && out.stdout.contains("duplicate key \"port\""), "{out}");
}

// Item 12: `system status` fails when the site does not run, and says what to do.
#[test]
fn system_status_fails_when_the_site_is_not_running() {
    let env = Env::new("rel-status");
    env.run(&["site", "create", "west"]).ok();
    let out = env.run(&["system", "status"]).code(1);
    assert!(out.stdout.starts_with("Site \"west\" is not running.\n"), "{out}");
    assert!(out.stdout.contains("system start"), "{out}");
    let pid = env.start("default");
    env.run(&["system", "status"]).ok();
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    wait_for("the site is gone", NOTICE, || {
        if skupper_e2e::site_process_alive(pid) { Err("alive".into()) } else { Ok(()) }
    });
    let out = env.run(&["system", "status"]).code(1);
    assert!(out.stdout.starts_with("Site \"west\" is not running"), "{out}");
    assert!(out.stdout.contains(&format!("pid {pid}")) && out.stdout.contains("system start"), "{out}");
}
