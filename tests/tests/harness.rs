//! The test harness itself (tests/src): the shared test cluster ([`Cluster`]), the hermetic
//! environment of every test command (a valid kubeconfig in `$HOME` changes nothing), and the
//! sweep that stops what killed test processes left running.
//!
//! `scripts/check-no-leaks.sh` SIGKILLs `cargo test` while
//! `a_valid_kubeconfig_in_home_changes_nothing_for_local_sites` has a cluster and a site up, and
//! checks that the next run stops all of it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use skupper_e2e::kube::Cluster;
use skupper_e2e::procs::{self, Ident};
use skupper_e2e::{Daemon, Env, binary, run_command, wait_for};

fn alive(pid: u32) -> bool {
    Ident::of(pid).is_some_and(Ident::alive)
}

fn gone_soon(what: &str, pid: u32) {
    wait_for(&format!("{what} (pid {pid}) gone"), Duration::from_secs(20), || {
        if alive(pid) { Err("alive".into()) } else { Ok(()) }
    });
}

#[test]
fn cluster_gives_fresh_namespaces_and_is_stopped_by_pid_on_drop() {
    let Some(cluster) = Cluster::start() else { return };
    let (apiserver, etcd) = cluster.pids();
    let (apiserver, etcd) = (apiserver.expect("apiserver runs"), etcd.expect("etcd runs"));
    let (a, b) = (cluster.create_namespace(), cluster.create_namespace());
    assert_ne!(a, b);
    cluster.kubectl_ok(&["create", "configmap", "probe", "-n", &a, "--from-literal=k=v"], "");
    let listed = cluster.kubectl_ok(&["get", "configmaps", "-n", &b, "-o", "name"], "");
    assert!(!listed.stdout.contains("probe"), "a fresh namespace is empty: {listed}");
    // stdin reaches kubectl.
    let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-stdin\ndata:\n  k: stdin\n";
    cluster.kubectl_ok(&["apply", "-n", &b, "-f", "-"], doc);
    let got = cluster.kubectl_ok(&["get", "configmap", "from-stdin", "-n", &b, "-o", "jsonpath={.data.k}"], "");
    assert_eq!(got.stdout, "stdin");
    // A failing kubectl is an Out to look at, with the command in its description.
    let missing = cluster.kubectl(&["get", "configmap", "nope", "-n", &a], "");
    assert!(!missing.succeeded() && missing.stderr.contains("not found"), "{missing}");
    assert!(missing.to_string().starts_with("$ kubectl --request-timeout=30s get configmap nope"), "{missing}");

    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    assert!(!alive(apiserver) && !alive(etcd), "drop stops the apiserver and etcd");
    assert!(!dir.exists(), "drop removes {}", dir.display());
}

#[test]
fn a_valid_kubeconfig_in_home_changes_nothing_for_local_sites() {
    let Some(cluster) = Cluster::start() else { return };
    let env = Env::new("hermetic");
    let home = env.dir.join("home");
    std::fs::create_dir_all(home.join(".kube")).unwrap();
    std::fs::copy(cluster.kubeconfig(), home.join(".kube").join("config")).unwrap();
    let home = home.to_str().unwrap();

    // The kubeconfig in that HOME is valid: kubectl uses it when nothing else is said...
    let mut plain = Command::new("kubectl");
    plain.env("HOME", home).env_remove("KUBECONFIG").args(["get", "namespace", "default", "-o", "name"]);
    assert_eq!(run_command(&mut plain, None).ok().stdout, "namespace/default\n");
    // ... but not from a test's environment (KUBECONFIG pinned to a missing file) ...
    let pinned = run_command(env.command("kubectl").env("HOME", home).args(["get", "namespace", "default"]), None);
    assert!(!pinned.succeeded(), "a test command reached the cluster of ~/.kube/config:\n{pinned}");
    // ... unless the test opts in.
    let mut opted = env.command("kubectl");
    opted.env("HOME", home).env("KUBECONFIG", cluster.kubeconfig()).args(["get", "namespace", "default", "-o", "name"]);
    assert_eq!(run_command(&mut opted, None).ok().stdout, "namespace/default\n");

    // The plugin: local platform, a local site created and running next to the cluster.
    let with_home = [("HOME", home)];
    let version = env.run_full(&["version", "-o", "json"], None, &with_home).ok();
    let v: serde_json::Value = serde_json::from_str(&version.stdout).unwrap();
    assert_eq!(v["platform"], "local", "{version}");
    env.run_full(
        &["-n", "west", "site", "create", "west", "--enable-link-access", "--bind-host", &env.ip],
        None,
        &with_home,
    )
    .ok();
    env.run_full(&["-n", "west", "system", "start"], None, &with_home).ok();
    let pid = env.pid("west").expect("the site runs");
    let status = env.run_full(&["-n", "west", "site", "status", "-o", "json"], None, &with_home).ok();
    let site: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(site["metadata"]["name"], "west", "{status}");
    assert!(env.home("west").join("input").join("resources").join("Site-west.yaml").is_file());
    let in_cluster = cluster.kubectl(&["get", "namespace", "west"], "");
    assert!(!in_cluster.succeeded(), "the local site touched the cluster:\n{in_cluster}");
    drop(env);
    assert!(!skupper_e2e::site_process_alive(pid), "Env's drop stops the site");
}

/// Writes the records of a test process that is not this one, in the format of
/// [`skupper_e2e::procs`]: `owner` (its identity, then its parent's), `cmdline`, `children/`.
fn fake_state(owner: Ident, parent: Ident, children: &[(Ident, &[u8])]) {
    let dir = procs::state_root().join(format!("{}-{}", owner.pid, owner.start));
    std::fs::create_dir_all(dir.join("children")).unwrap();
    std::fs::write(dir.join("owner"), format!("{owner}\n{parent}\n")).unwrap();
    std::fs::write(dir.join("cmdline"), procs::spawned_cmdline(owner.pid).unwrap_or_default()).unwrap();
    for (id, cmdline) in children {
        let mut text = format!("{id}\n").into_bytes();
        text.extend_from_slice(cmdline);
        std::fs::write(dir.join("children").join(id.pid.to_string()), text).unwrap();
    }
}

/// A `kse2e-*` directory owned by `owner` (its `.owner` file).
fn fake_test_dir(env: &Env, name: &str, owner: Ident, parent: Ident) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kse2e-{name}-{}", env.ip));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".owner"), format!("{owner}\n{parent}\n")).unwrap();
    dir
}

fn sleeper(what: &str) -> (Daemon, Ident) {
    let d = Daemon::spawn(Command::new("sleep").arg("600"), what);
    procs::spawned_cmdline(d.id());
    let id = Ident::of(d.id()).unwrap();
    (d, id)
}

/// Starts a site under `data` (an XDG_DATA_HOME outside any Env) and returns its pid.
fn site_under(data: &Path, ip: &str) -> u32 {
    let run = |args: &[&str]| {
        let mut cmd = skupper_e2e::command(binary());
        cmd.env("XDG_DATA_HOME", data).args(args);
        run_command(&mut cmd, None).ok();
    };
    run(&["-n", "west", "site", "create", "west", "--enable-link-access", "--bind-host", ip]);
    run(&["-n", "west", "system", "start"]);
    let file = data.join("kubectl-skupper/namespaces/west/runtime/router.pid");
    std::fs::read_to_string(file).unwrap().trim().parse().unwrap()
}

#[test]
fn the_sweep_stops_what_dead_and_orphaned_test_processes_left_and_nothing_else() {
    // Other test processes on this machine sweep too (any run of this harness, in any checkout):
    // the fake records below stay live (their "cargo" and "test process" run) until just before
    // this test's own sweep, so that only this sweep can find them stale.
    let env = Env::new("sweep");
    let (mut cargo, cargo_id) = sleeper("a fake cargo, killed before the sweep");

    // An orphaned test process (alive, its cargo gone) with a recorded child and a test
    // directory holding a running site and a "cluster" process naming that directory.
    let (mut orphan, orphan_id) = sleeper("a fake orphaned test process");
    let (mut child, child_id) = sleeper("its recorded child");
    fake_state(orphan_id, cargo_id, &[(child_id, &procs::spawned_cmdline(child_id.pid).unwrap())]);
    let dir = fake_test_dir(&env, "sweep-orphan", orphan_id, cargo_id);
    let site = site_under(&dir.join("data"), &env.ip);
    let mut etcd = Daemon::spawn(
        Command::new("python3").args(["-c", "import time; time.sleep(600)", dir.to_str().unwrap()]),
        "a fake etcd",
    );
    std::fs::write(dir.join("etcd.pid"), etcd.id().to_string()).unwrap();

    // A test process that dies with a recorded child still running, and a record whose pid now
    // runs another program (a reused pid: never signalled).
    let (mut test_process, dead_test) = sleeper("a fake test process, killed before the sweep");
    let (mut left, left_id) = sleeper("a child a dead test process left");
    let (mut other, other_id) = sleeper("a process that merely has a recorded pid");
    fake_state(
        dead_test,
        cargo_id,
        &[(left_id, &procs::spawned_cmdline(left_id.pid).unwrap()), (other_id, b"squid\0-N\0")],
    );

    // What this (live) process owns is left alone: a site of its own Env.
    env.site_with_link_access("mine");
    let mine = env.start("mine");

    // Now the fake cargo and the fake test process die: their records are stale.
    cargo.stop();
    test_process.stop();
    let swept = procs::sweep();
    assert!(swept.orphans.contains(&orphan_id.pid), "{swept:?}");
    assert!(swept.children.contains(&child_id.pid) && swept.children.contains(&left_id.pid), "{swept:?}");
    assert!(swept.sites.contains(&site), "{swept:?}");
    assert!(swept.cluster.contains(&etcd.id()), "{swept:?}");
    assert!(!orphan.alive() && !child.alive() && !left.alive() && !etcd.alive(), "{swept:?}");
    gone_soon("the orphan's site", site);
    assert!(!dir.exists(), "the stale test directory is removed");
    let state = procs::state_root();
    for id in [orphan_id, dead_test] {
        assert!(!state.join(format!("{}-{}", id.pid, id.start)).exists(), "stale records are removed");
    }
    assert!(other.alive(), "a pid whose command line is not the recorded one is not signalled");
    assert!(skupper_e2e::site_process_alive(mine), "this process's site is not touched");
    assert!(env.dir.join(".owner").is_file());
}
