//! What the tests leave running, and the sweep that stops it when a test process did not get to.
//!
//! A test process that is killed (its `cargo test` got SIGKILL, CI's timeout, the OOM killer)
//! runs no `Drop`: the site processes it started (each in its own process group), the etcd and
//! kube-apiserver of its clusters and its other long-lived children keep running. So every test
//! process records what it starts:
//!
//! * `$TMPDIR/skupper-e2e-state/<pid>-<start>/owner`: its own pid and start time, its parent's
//!   (cargo's) pid and start time, its command line;
//! * `.../children/<pid>`: every long-lived child ([`crate::Daemon`]) with its start time and
//!   command line, removed when the child is stopped;
//! * `.owner` in every test directory (`$TMPDIR/kse2e-*`: an [`crate::Env`], a
//!   [`crate::kube::Cluster`]): the same identity, so site pid files and cluster pid files can be
//!   traced to the process that made them.
//!
//! The first use of the harness in a test process sweeps what earlier processes left: a record
//! is stale when its process is gone, or its parent is (cargo was killed: the orphaned test
//! process is killed with its descendants). A pid is signalled only while `/proc/PID` still shows
//! the recorded start time (and, for recorded children, the recorded command line), so a reused
//! pid is never hit. Directories without an `.owner` file (made by something else) are left alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A process as `/proc` knows it: pid and start time (clock ticks after boot), which together
/// name one process for the machine's uptime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    /// Process id.
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat`.
    pub start: u64,
}

impl Ident {
    /// The process with `pid`, if it exists (zombies included: they hold their pid).
    pub fn of(pid: u32) -> Option<Self> {
        stat_fields(pid).and_then(|f| f.get(19).and_then(|s| s.parse().ok())).map(|start| Self { pid, start })
    }

    /// Whether this very process still runs (same pid and start time, not a zombie).
    pub fn alive(self) -> bool {
        let Some(f) = stat_fields(self.pid) else { return false };
        let zombie = f.first().is_some_and(|s| s == "Z" || s == "X");
        !zombie && f.get(19).and_then(|s| s.parse::<u64>().ok()) == Some(self.start)
    }

    fn parse(text: &str) -> Option<Self> {
        let (pid, start) = text.trim().split_once(' ')?;
        Some(Self { pid: pid.parse().ok()?, start: start.parse().ok()? })
    }
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.pid, self.start)
    }
}

/// The fields of `/proc/PID/stat` after the command name: index 0 is field 3 (state), 1 the
/// parent pid, 2 the process group, 19 the start time.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The parent pid of `pid`.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The process group of `pid`.
pub fn group_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// `/proc/PID/cmdline` (NUL-separated arguments).
pub fn cmdline(pid: u32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/cmdline")).ok()
}

/// The command line of a child that was just spawned. `posix_spawn` lets the parent go on
/// while the child is still inside `execve`: `/proc/PID/cmdline` may then read empty, or still
/// show the parent's. Waits (up to 2 s) until it is neither.
pub fn spawned_cmdline(pid: u32) -> Option<Vec<u8>> {
    let parent = cmdline(std::process::id()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let c = cmdline(pid)?;
        if (!c.is_empty() && c != parent) || Instant::now() > deadline {
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Who owns a record: a test process and its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The test process.
    pub me: Ident,
    /// Its parent (cargo, or whatever ran the test binary).
    pub parent: Option<Ident>,
}

impl Owner {
    fn text(&self) -> String {
        match self.parent {
            Some(p) => format!("{}\n{}\n", self.me, p),
            None => format!("{}\n", self.me),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let me = Ident::parse(lines.next()?)?;
        let parent = lines.next().and_then(Ident::parse);
        Some(Self { me, parent })
    }

    /// The state directory name of this owner.
    fn key(&self) -> String {
        format!("{}-{}", self.me.pid, self.me.start)
    }

    /// Nothing will clean up after this owner any more: it is gone, or its parent is.
    fn stale(&self) -> bool {
        !self.me.alive() || self.parent.is_some_and(|p| !p.alive())
    }
}

/// This test process as recorded in its state directory.
pub fn me() -> Owner {
    static ME: OnceLock<Owner> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id();
        let me = Ident::of(pid).unwrap_or(Ident { pid, start: 0 });
        let parent = parent_of(pid).filter(|p| *p > 1).and_then(Ident::of);
        Owner { me, parent }
    })
}

/// Where every test process keeps its records.
pub fn state_root() -> PathBuf {
    std::env::temp_dir().join("skupper-e2e-state")
}

fn my_state_dir() -> PathBuf {
    state_root().join(me().key())
}

/// Records this process (once) and sweeps what earlier test processes left running. Called by
/// the first use of the harness in every test process.
pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let dir = my_state_dir();
        let made = std::fs::create_dir_all(dir.join("children"))
            .and_then(|()| std::fs::write(dir.join("cmdline"), cmdline(std::process::id()).unwrap_or_default()))
            .and_then(|()| std::fs::write(dir.join("owner"), me().text()));
        if let Err(e) = made {
            panic!("recording this test process in {}: {e}", dir.display());
        }
        sweep();
    });
}

/// Marks a test directory (`kse2e-*`) as this process's, for the sweep.
pub fn mark_dir(dir: &Path) {
    init();
    if let Err(e) = std::fs::write(dir.join(".owner"), me().text()) {
        panic!("writing {}/.owner: {e}", dir.display());
    }
}

/// A long-lived child recorded for the sweep; [`forget_child`] removes the record.
pub fn record_child(pid: u32) -> std::io::Result<()> {
    init();
    let id = Ident::of(pid).ok_or_else(|| std::io::Error::other(format!("child {pid} is already gone")))?;
    let mut text = format!("{id}\n").into_bytes();
    text.extend(spawned_cmdline(pid).unwrap_or_default());
    std::fs::write(my_state_dir().join("children").join(pid.to_string()), text)
}

/// The child `pid` has been stopped (and waited for): no record any more.
pub fn forget_child(pid: u32) {
    let _ = std::fs::remove_file(my_state_dir().join("children").join(pid.to_string()));
}

/// Sends `sig` (`-TERM`, `-KILL`) to `pid`, or to process group `pid` when `group`.
pub fn signal(pid: u32, sig: &str, group: bool) {
    let target = if group { format!("-{pid}") } else { pid.to_string() };
    let _ = Command::new("kill")
        .args([sig, "--", &target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops `id` (SIGTERM, then SIGKILL after `grace`) and waits, bounded, until it is gone.
pub fn stop(id: Ident, grace: Duration) {
    if !id.alive() {
        return;
    }
    signal(id.pid, "-TERM", false);
    let deadline = Instant::now() + grace;
    while id.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    if id.alive() {
        signal(id.pid, "-KILL", false);
        let deadline = Instant::now() + Duration::from_secs(5);
        while id.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Every live process and its parent.
fn process_table() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect()
}

/// The descendants of `pid` (children, their children, ...), each with its identity.
fn descendants(pid: u32) -> Vec<Ident> {
    let table = process_table();
    let mut out: Vec<Ident> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, _) in table.iter().filter(|(_, parent)| *parent == p) {
            if let Some(id) = Ident::of(*child) {
                out.push(id);
                frontier.push(*child);
            }
        }
    }
    out
}

/// What a sweep stopped, for messages and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Test processes whose cargo was gone, killed with their descendants.
    pub orphans: Vec<u32>,
    /// Recorded children and descendants of dead or orphaned test processes.
    pub children: Vec<u32>,
    /// Site processes of stale test directories.
    pub sites: Vec<u32>,
    /// etcd and kube-apiserver processes of stale clusters.
    pub cluster: Vec<u32>,
}

impl Swept {
    fn is_empty(&self) -> bool {
        self.orphans.is_empty() && self.children.is_empty() && self.sites.is_empty() && self.cluster.is_empty()
    }
}

/// Stops what stale owners left (see the module documentation) and removes their records and
/// directories. Never touches a live owner's records or this process's.
pub fn sweep() -> Swept {
    let mut swept = Swept::default();
    let mine = me();
    if let Ok(entries) = std::fs::read_dir(state_root()) {
        for e in entries.flatten() {
            let dir = e.path();
            let Some(owner) = std::fs::read_to_string(dir.join("owner")).ok().and_then(|t| Owner::parse(&t)) else {
                continue;
            };
            if owner.me == mine.me || !owner.stale() {
                continue;
            }
            sweep_state(&dir, owner, &mut swept);
        }
    }
    for dir in test_dirs() {
        let Some(owner) = std::fs::read_to_string(dir.join(".owner")).ok().and_then(|t| Owner::parse(&t)) else {
            continue;
        };
        if owner.me == mine.me || !owner.stale() {
            continue;
        }
        sweep_test_dir(&dir, &mut swept);
    }
    if !swept.is_empty() {
        crate::say(&format!(
            "skupper-e2e: stopped what killed test runs left running: {} orphaned test process(es) {:?}, \
             children {:?}, site processes {:?}, etcd/kube-apiserver {:?}",
            swept.orphans.len(),
            swept.orphans,
            swept.children,
            swept.sites,
            swept.cluster
        ));
    }
    swept
}

/// The `kse2e-*` directories in the temporary directory.
fn test_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("kse2e-")))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

fn sweep_state(dir: &Path, owner: Owner, swept: &mut Swept) {
    let recorded_cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    if owner.me.alive() && cmdline(owner.me.pid).is_some_and(|c| c == recorded_cmdline) {
        // Orphaned: its cargo is gone. Its descendants are listed first (they are re-parented
        // once it dies), then it is killed so it starts nothing more, then they are.
        let below = descendants(owner.me.pid);
        signal(owner.me.pid, "-KILL", false);
        swept.orphans.push(owner.me.pid);
        for id in below {
            if id.alive() {
                signal(id.pid, "-KILL", false);
                swept.children.push(id.pid);
            }
        }
    }
    if let Ok(children) = std::fs::read_dir(dir.join("children")) {
        for c in children.flatten() {
            let Ok(bytes) = std::fs::read(c.path()) else { continue };
            let Some(nl) = bytes.iter().position(|b| *b == b'\n') else { continue };
            let Some(id) = std::str::from_utf8(&bytes[..nl]).ok().and_then(Ident::parse) else { continue };
            let recorded = &bytes[nl + 1..];
            if id.alive() && cmdline(id.pid).is_some_and(|c| c == recorded) {
                stop(id, Duration::from_secs(5));
                swept.children.push(id.pid);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Stops the site processes (pid files under `data/`) and the cluster (`apiserver.pid`,
/// `etcd.pid`) of a stale test directory, then removes it (`.owner` only, with `KEEP_TEST_DIRS`).
fn sweep_test_dir(dir: &Path, swept: &mut Swept) {
    let data = dir.join("data");
    for id in site_processes(&data) {
        stop(id, Duration::from_secs(5));
        swept.sites.push(id.pid);
    }
    // The apiserver first: without etcd it hangs on SIGTERM, retrying.
    for file in ["apiserver.pid", "etcd.pid"] {
        if let Some(id) = cluster_process(dir, file) {
            stop(id, Duration::from_secs(5));
            swept.cluster.push(id.pid);
        }
    }
    if std::env::var_os("KEEP_TEST_DIRS").is_some() {
        let _ = std::fs::remove_file(dir.join(".owner"));
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The live site processes whose pid files are under `data` (an `XDG_DATA_HOME`): each a
/// `--foreground` site process whose environment has that `XDG_DATA_HOME`.
pub fn site_processes(data: &Path) -> Vec<Ident> {
    let mut out = Vec::new();
    let Ok(namespaces) = std::fs::read_dir(data.join("kubectl-skupper").join("namespaces")) else { return out };
    let want = {
        let mut v = b"XDG_DATA_HOME=".to_vec();
        v.extend(data.as_os_str().as_encoded_bytes());
        v
    };
    for ns in namespaces.flatten() {
        let Ok(files) = std::fs::read_dir(ns.path().join("runtime")) else { continue };
        for f in files.flatten() {
            let name = f.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.starts_with("router") && name.ends_with(".pid")) {
                continue;
            }
            let Some(pid) = std::fs::read_to_string(f.path()).ok().and_then(|t| t.trim().parse::<u32>().ok()) else {
                continue;
            };
            let Some(id) = Ident::of(pid).filter(|id| id.alive()) else { continue };
            let is_site = cmdline(pid).is_some_and(|c| c.split(|b| *b == 0).any(|a| a == b"--foreground"));
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if is_site && env.split(|b| *b == 0).any(|v| v == want.as_slice()) {
                out.push(id);
            }
        }
    }
    out
}

/// The process in `dir/<file>` if it is live and its command line names `dir` (etcd's data
/// directory, the apiserver's token file).
pub fn cluster_process(dir: &Path, file: &str) -> Option<Ident> {
    let pid: u32 = std::fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()?;
    let id = Ident::of(pid).filter(|id| id.alive())?;
    let needle = dir.as_os_str().as_encoded_bytes();
    let c = cmdline(pid)?;
    c.windows(needle.len()).any(|w| w == needle).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_and_see_this_process() {
        let me = me();
        assert!(me.me.alive());
        assert_eq!(Owner::parse(&me.text()), Some(me));
        assert!(!me.stale());
        let gone = Owner { me: Ident { pid: me.me.pid, start: me.me.start + 1 }, parent: me.parent };
        assert!(gone.stale(), "another start time is another process");
    }
}
