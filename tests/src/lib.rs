//! Helpers for the end-to-end tests: temporary site homes, the built binary, child-process guards.
//!
//! Every [`Env`] is a fresh temporary directory used as `XDG_DATA_HOME` (so its sites never see
//! another test's), with its own loopback address for link access (so sites of tests running in
//! parallel never compete for ports). Dropping an `Env` stops, by pid, every site process its
//! sites started, then removes the directory (kept when `KEEP_TEST_DIRS` is set).
//!
//! Every command a test runs gets a hermetic environment ([`command`]): `KUBECONFIG` pinned to a
//! path that does not exist (a test opts in with a cluster's kubeconfig), `SKUPPER_PLATFORM` and
//! `SKUPPER_HOME` removed unless the test sets them, so a valid `~/.kube/config` on the machine
//! changes nothing. Long-lived children are [`Daemon`]s, recorded with the test directories for
//! the sweep of [`procs`], which stops what killed test runs left running.
//!
//! A test that cannot run here calls [`skip`]: counted in a file `scripts/test.sh` reads, shown
//! on stderr, and a failure under `REQUIRE_ALL_TESTS=1` (which `scripts/test.sh` sets).

pub mod attack;
pub mod crd;
pub mod kube;
pub mod procs;

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest a single CLI invocation may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The kubectl-skupper binary: `$KUBECTL_SKUPPER_BIN`, or the workspace's debug build, built
/// (once per test process) with `cargo build -p kubectl-skupper` so it is never stale. When this
/// crate has its `webhook` feature, the binary is built with it too, so all tests share one binary.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    procs::init();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("KUBECTL_SKUPPER_BIN") {
            return PathBuf::from(p);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut args = vec!["build", "--quiet", "-p", "kubectl-skupper", "--bin", "kubectl-skupper"];
        if cfg!(feature = "webhook") {
            args.extend(["--features", "webhook"]);
        }
        let status = Command::new(cargo)
            .args(&args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .status()
            .expect("running cargo build for kubectl-skupper");
        assert!(status.success(), "cargo build -p kubectl-skupper failed");
        let bin = target_dir().join("debug").join("kubectl-skupper");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"))
}

/// Writes `line` to this process's stderr even inside a passing test (libtest captures only
/// `print!`/`eprint!`): for what must be seen, skips and golden updates.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Whether the environment variable `name` is set to a true value: `1`, `true` or `yes` (any
/// case). `0`, `false`, empty or anything else is false.
pub fn env_true(name: &str) -> bool {
    truthy(std::env::var(name).ok().as_deref())
}

fn truthy(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// Whether every test must run (`REQUIRE_ALL_TESTS`, set by `scripts/test.sh`): then a test
/// that cannot run here is a failure, not a skip.
pub fn require_all_tests() -> bool {
    env_true("REQUIRE_ALL_TESTS")
}

/// Where skips are counted: `$SKUPPER_E2E_SKIP_LOG`, else `skupper-e2e-skips.tsv` in the target
/// directory. One line per skip: `suite<TAB>test<TAB>reason`.
pub fn skip_log() -> PathBuf {
    std::env::var_os("SKUPPER_E2E_SKIP_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("skupper-e2e-skips.tsv"))
}

/// The test binary's name without cargo's hash (`webhook_kube`).
fn suite() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(Path::file_name).and_then(OsStr::to_str).unwrap_or("unknown");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem.to_owned(),
    }
}

/// The one way a test says it cannot run here: `test` did not run because of `reason`. Under
/// `REQUIRE_ALL_TESTS=1` this panics (a missing tool fails the run); otherwise the skip is
/// written to stderr and counted in [`skip_log`], and the caller returns.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    skip_to(require_all_tests(), &skip_log(), test, reason, &mut std::io::stderr().lock());
}

#[track_caller]
fn skip_to(required: bool, log: &Path, test: &str, reason: &str, out: &mut dyn std::io::Write) {
    let suite = suite();
    let reason = reason.replace(['\t', '\n'], " ");
    if required {
        panic!(
            "{suite}::{test} cannot run: {reason}\n(REQUIRE_ALL_TESTS=1: a test that cannot run is a failure; \
             install what is missing, or run without REQUIRE_ALL_TESTS to count it as a skip)"
        );
    }
    let _ = writeln!(out, "SKIPPED {suite}::{test}: {reason}");
    let line = format!("{suite}\t{test}\t{reason}\n");
    let written = log
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(log)?.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("recording the skip of {suite}::{test} in {}: {e}", log.display());
    }
}

/// Whether the tests write golden files instead of comparing with them: `UPDATE_GOLDEN` set to
/// a true value ([`env_true`]). `UPDATE_GOLDEN=0` compares.
pub fn update_goldens() -> bool {
    env_true("UPDATE_GOLDEN")
}

/// Writes a golden file (when it differs) and says so on stderr.
pub fn write_golden(path: &Path, content: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return;
    }
    let existed = path.exists();
    std::fs::create_dir_all(path.parent().expect("golden dir")).expect("mkdir golden");
    std::fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    say(&format!("UPDATE_GOLDEN: {} {}", if existed { "updated" } else { "created" }, path.display()));
}

/// Removes a golden file that no longer has a test, and says so on stderr.
pub fn remove_golden(path: &Path) {
    std::fs::remove_file(path).unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
    say(&format!("UPDATE_GOLDEN: removed {}", path.display()));
}

/// The `KUBECONFIG` every test command gets unless it opts in to a cluster: a path that does
/// not exist, so neither kubectl nor the plugin falls back to `~/.kube/config`.
pub fn no_kubeconfig() -> PathBuf {
    std::env::temp_dir().join("skupper-e2e-no-kubeconfig").join("config")
}

/// A command with the hermetic test environment: `KUBECONFIG` is [`no_kubeconfig`],
/// `SKUPPER_PLATFORM`, `SKUPPER_HOME` and `CLICOLOR_FORCE` are removed. Set them afterwards to
/// opt in (`.env("KUBECONFIG", cluster.kubeconfig())`).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    procs::init();
    let mut cmd = Command::new(program);
    cmd.env("KUBECONFIG", no_kubeconfig())
        .env_remove("SKUPPER_PLATFORM")
        .env_remove("SKUPPER_HOME")
        .env_remove("CLICOLOR_FORCE");
    cmd
}

/// Runs `cmd` to completion (its own process group, `input` on stdin) within
/// [`COMMAND_TIMEOUT`], collecting its output; on timeout its whole process group is killed.
pub fn run_command(cmd: &mut Command, input: Option<&str>) -> Out {
    run_command_within(cmd, input, COMMAND_TIMEOUT)
}

/// [`run_command`] with another bound.
pub fn run_command_within(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> Out {
    let what = describe(cmd);
    cmd.process_group(0)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A child that exits without reading all of it is judged by its output, not here.
        let _ = stdin.write_all(text.as_bytes());
    }
    wait_output_within(child, &what, timeout)
}

/// `program arg arg` of a command, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Out {
    /// The command, for messages.
    pub command: String,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Panics (showing everything) unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed:\n{self}");
        self
    }
    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }
    /// Whether it exited with 0.
    pub fn succeeded(&self) -> bool {
        self.code == 0
    }
}

/// Waits for `child` (stdout and stderr piped) within [`COMMAND_TIMEOUT`], collecting its
/// output; kills it (its process group when it leads one) and panics, naming it `what`, when
/// it takes longer.
pub fn wait_output(child: Child, what: &str) -> Out {
    wait_output_within(child, what, COMMAND_TIMEOUT)
}

/// [`wait_output`] with another bound.
pub fn wait_output_within(mut child: Child, what: &str, timeout: Duration) -> Out {
    let mut out_pipe = child.stdout.take().expect("stdout piped");
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for a child process") {
            break s;
        }
        if Instant::now() > deadline {
            kill_tree(&mut child);
            panic!("{what} did not finish within {timeout:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        command: what.to_owned(),
        code: status.code().unwrap_or(-1),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Kills `child` with SIGKILL (its whole process group when it leads one) and reaps it.
fn kill_tree(child: &mut Child) {
    let pid = child.id();
    if procs::group_of(pid) == Some(pid) {
        procs::signal(pid, "-KILL", true);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A long-lived child process (a proxy, `webhook serve`, ...): recorded for the sweep as soon
/// as it is spawned, stopped on drop (SIGTERM, then SIGKILL) and waited for.
pub struct Daemon {
    child: Child,
    what: String,
}

impl Daemon {
    /// Spawns `cmd` and records it; panics (naming `what`) when it cannot be started.
    pub fn spawn(cmd: &mut Command, what: &str) -> Self {
        procs::init();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what} ({}): {e}", describe(cmd)));
        let mut d = Self { child, what: what.to_owned() };
        if let Err(e) = procs::record_child(d.child.id()) {
            // Gone already, or the record cannot be written: nothing is left running either way.
            d.stop();
            panic!("recording {what} (pid {}) for cleanup: {e}", d.child.id());
        }
        d
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it: SIGTERM, SIGKILL when it has not ended after 15 s; then waits for it.
    pub fn stop(&mut self) {
        if self.alive() {
            procs::signal(self.child.id(), "-TERM", false);
            let deadline = Instant::now() + Duration::from_secs(15);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(25));
            }
            if self.alive() {
                say(&format!("{} (pid {}) ignored SIGTERM for 15 s: killed", self.what, self.child.id()));
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        procs::forget_child(self.child.id());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes a test directory whose processes are stopped; with `KEEP_TEST_DIRS` keeps it, with
/// its `.owner` mark removed, so that the next run's sweep leaves it for you to look at.
pub fn release_test_dir(dir: &Path) {
    if std::env::var_os("KEEP_TEST_DIRS").is_some() {
        let _ = std::fs::remove_file(dir.join(".owner"));
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A fresh directory `$TMPDIR/kse2e-<tag>-<pid>-<n>-<nanos>` marked as this test process's
/// (`.owner`), so the sweep can stop what it holds if this process dies.
pub fn test_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("kse2e-{tag}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    procs::mark_dir(&dir);
    dir
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.command.is_empty() {
            writeln!(f, "$ {}", self.command)?;
        }
        write!(f, "exit code {}\n--- stdout ---\n{}--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A marked test directory ([`test_dir`]) that is released ([`release_test_dir`]) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        Self(test_dir(tag))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        release_test_dir(&self.0);
    }
}

/// One test's world: a data directory, a work directory and a loopback address.
pub struct Env {
    /// Root of the temporary directory.
    pub dir: PathBuf,
    /// `XDG_DATA_HOME` of every command.
    pub data: PathBuf,
    /// Working directory of every command (token files go here).
    pub work: PathBuf,
    /// Loopback address for this test's link access (`--bind-host`).
    pub ip: String,
}

impl Env {
    /// A fresh world; `tag` names the directory.
    pub fn new(tag: &str) -> Self {
        static IPS: AtomicU32 = AtomicU32::new(0);
        let n = IPS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = test_dir(tag);
        let data = dir.join("data");
        let work = dir.join("work");
        std::fs::create_dir_all(&data).expect("create data dir");
        std::fs::create_dir_all(&work).expect("create work dir");
        // 127.<pid-derived>.<n>.<n>: distinct per test in this process, and very likely across processes.
        let ip = format!("127.{}.{}.{}", 10 + pid % 200, (n / 200) % 250 + 1, n % 200 + 2);
        Self { dir, data, work, ip }
    }

    /// The site directory of namespace `ns`.
    pub fn home(&self, ns: &str) -> PathBuf {
        self.data.join("kubectl-skupper").join("namespaces").join(ns)
    }

    /// A resource file of namespace `ns`.
    pub fn resource(&self, ns: &str, kind: &str, name: &str) -> PathBuf {
        self.home(ns).join("input").join("resources").join(format!("{kind}-{name}.yaml"))
    }

    /// The names of the files in `ns`'s `input/resources`, sorted.
    pub fn resource_files(&self, ns: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.home(ns).join("input").join("resources"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Runs the binary with `args` (no stdin), bounded by [`COMMAND_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with_input(args, None)
    }

    /// Runs the binary with `args` and `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Out {
        self.run_full(args, input, &[])
    }

    /// Runs the binary with `args`, `input` on stdin and extra environment variables (which
    /// win over the hermetic ones: `KUBECONFIG`, `SKUPPER_PLATFORM`, `SKUPPER_HOME`).
    pub fn run_full(&self, args: &[&str], input: Option<&str>, envs: &[(&str, &str)]) -> Out {
        let mut cmd = self.command(binary());
        cmd.args(args).envs(envs.iter().copied());
        run_command(&mut cmd, input)
    }

    /// A hermetic [`command`] in this test's world: working directory [`Env::work`],
    /// `XDG_DATA_HOME` [`Env::data`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = command(program);
        cmd.current_dir(&self.work).env("XDG_DATA_HOME", &self.data);
        cmd
    }

    /// Runs in namespace `ns`.
    pub fn ns(&self, ns: &str, args: &[&str]) -> Out {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Creates site `name` in namespace `name` with link access on this test's address.
    pub fn site_with_link_access(&self, name: &str) {
        self.ns(name, &["site", "create", name, "--enable-link-access", "--bind-host", &self.ip]).ok();
    }

    /// Starts the site of `ns` in the background and returns its pid.
    pub fn start(&self, ns: &str) -> u32 {
        self.ns(ns, &["system", "start"]).ok();
        self.pid(ns).expect("a started site writes its pid file")
    }

    /// The pid of `ns`'s running site, if its pid file names a live site process.
    pub fn pid(&self, ns: &str) -> Option<u32> {
        let pid: u32 =
            std::fs::read_to_string(self.home(ns).join("runtime").join("router.pid")).ok()?.trim().parse().ok()?;
        site_process_alive(pid).then_some(pid)
    }

    /// The pid of the second router (`skupper-router-2`) of `ns`'s HA site, if it runs.
    pub fn pid2(&self, ns: &str) -> Option<u32> {
        let pid: u32 =
            std::fs::read_to_string(self.home(ns).join("runtime").join("router-2.pid")).ok()?.trim().parse().ok()?;
        site_process_alive(pid).then_some(pid)
    }

    /// Reads a YAML file as a JSON value.
    pub fn yaml(&self, path: &Path) -> serde_json::Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    }

    /// The router log of `ns` (for failure messages).
    pub fn log(&self, ns: &str) -> String {
        std::fs::read_to_string(self.home(ns).join("runtime").join("router.log")).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.data.join("kubectl-skupper").join("namespaces")) else {
            release_test_dir(&self.dir);
            return;
        };
        for e in entries.flatten() {
            // `router-2.pid`: the second router of an HA site.
            for file in ["router-2.pid", "router.pid"] {
                let Ok(text) = std::fs::read_to_string(e.path().join("runtime").join(file)) else { continue };
                let Ok(pid) = text.trim().parse::<u32>() else { continue };
                stop_pid(pid);
            }
        }
        release_test_dir(&self.dir);
    }
}

/// Whether `pid` is a live (not zombie) `kubectl-skupper ... --foreground` site process.
pub fn site_process_alive(pid: u32) -> bool {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else { return false };
    if stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])) {
        return false;
    }
    std::fs::read(dir.join("cmdline")).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"--foreground"))
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Stops a site process this test started: SIGTERM, then SIGKILL after 10 s.
pub fn stop_pid(pid: u32) {
    if !site_process_alive(pid) {
        return;
    }
    signal(pid, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while site_process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if site_process_alive(pid) {
        signal(pid, "-KILL");
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what`
/// and the last value seen by `describe`.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => panic!("timed out waiting for {what}; last: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Replaces what changes from run to run (UUIDs, RFC 3339 times, the temporary directory).
pub fn redact(text: &str, env: &Env) -> String {
    let mut s = text.replace(&env.dir.display().to_string(), "<DIR>");
    s = replace_uuids(&s);
    replace_times(&s)
}

fn replace_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push_str("<UUID>");
            i += 36;
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

fn replace_times(s: &str) -> String {
    // YYYY-MM-DDTHH:MM:SSZ
    let b = s.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let m = i + shape.len() <= b.len()
            && shape.iter().zip(&b[i..]).all(|(p, c)| if *p == b'd' { c.is_ascii_digit() } else { p == c });
        if m {
            out.push_str("<TIME>");
            i += shape.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Compares `actual` with `tests/golden/<name>`; with `UPDATE_GOLDEN=1` ([`update_goldens`])
/// writes it instead, saying so on stderr when it changed.
#[track_caller]
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name);
    if update_goldens() {
        write_golden(&path, actual);
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// A free port on `ip` (bound, then released for the caller to use).
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A TCP echo server on `ip` (port chosen by the OS), for traffic through links. Runs until the
/// test process ends.
pub fn echo_server(ip: &str) -> u16 {
    echo_server_at(ip, 0)
}

/// [`echo_server`] on `ip:port` (0: any free port); the port.
pub fn echo_server_at(ip: &str, port: u16) -> u16 {
    let listener = std::net::TcpListener::bind((ip, port)).expect("bind echo server");
    let port = listener.local_addr().expect("echo addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

/// Sends `msg` to `ip:port` and returns what comes back (one read round, bounded by 5 s).
pub fn echo_once(ip: &str, port: u16, msg: &str) -> Result<String, String> {
    let addr = format!("{ip}:{port}");
    let sock: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    s.write_all(msg.as_bytes()).map_err(|e| format!("write: {e}"))?;
    read_reply(&mut s, msg.len())
}

/// Reads until `want` bytes came or the peer closed: the reply of an echo, as text.
pub fn read_reply(s: &mut impl std::io::Read, want: usize) -> Result<String, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    String::from_utf8(got).map_err(|e| e.to_string())
}

/// A minimal HTTP CONNECT proxy on `ip` (port chosen by the OS) for links that go through a
/// proxy. Returns its port and the list of `host:port` targets it was asked to CONNECT to.
pub fn connect_proxy(ip: &str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind((ip, 0)).expect("bind proxy");
    let port = listener.local_addr().expect("proxy addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || proxy_one(client, &record));
        }
    });
    (port, seen)
}

fn proxy_one(mut client: std::net::TcpStream, seen: &std::sync::Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let Some(target) = text.strip_prefix("CONNECT ").and_then(|r| r.split(' ').next()).map(str::to_string) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    if let Ok(mut v) = seen.lock() {
        v.push(target.clone());
    }
    let Ok(upstream) = std::net::TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err() {
        return;
    }
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else { return };
    let mut upstream = upstream;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut upstream);
        let _ = upstream.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut u2, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        let env = Env::new("redact");
        let t = format!("west-0f7c0c9e-8d5d-4a8e-9a1c-2b9e3f3d1a11 at 2026-07-23T10:00:00Z in {}/x", env.dir.display());
        assert_eq!(redact(&t, &env), "west-<UUID> at <TIME> in <DIR>/x");
    }

    #[test]
    fn only_true_values_are_true() {
        for v in ["1", "true", "TRUE", "yes", " Yes "] {
            assert!(truthy(Some(v)), "{v:?}");
        }
        for v in [None, Some(""), Some("0"), Some("false"), Some("no"), Some("2")] {
            assert!(!truthy(v), "{v:?}");
        }
    }

    #[test]
    fn a_skip_is_counted_or_is_a_failure_when_every_test_is_required() {
        let env = Env::new("skip");
        let log = env.dir.join("sub").join("skips.tsv");
        let mut said = Vec::new();
        skip_to(false, &log, "first", "no\tshell\nhere", &mut said);
        skip_to(false, &log, "second", "no browser", &mut said);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let suite = suite();
        assert_eq!(text, format!("{suite}\tfirst\tno shell here\n{suite}\tsecond\tno browser\n"));
        assert_eq!(
            String::from_utf8_lossy(&said),
            format!("SKIPPED {suite}::first: no shell here\nSKIPPED {suite}::second: no browser\n")
        );
        let failed = std::panic::catch_unwind(|| skip_to(true, &log, "third", "no kubectl", &mut Vec::new()));
        let msg = failed.err().and_then(|p| p.downcast_ref::<String>().cloned()).unwrap_or_default();
        assert!(msg.contains("::third cannot run: no kubectl") && msg.contains("REQUIRE_ALL_TESTS=1"), "{msg:?}");
        assert_eq!(std::fs::read_to_string(&log).unwrap_or_default(), text, "a failure is not a skip");
    }

    #[test]
    fn commands_are_hermetic() {
        let cmd = command("env");
        let envs: Vec<(String, Option<String>)> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
            .collect();
        let kubeconfig = no_kubeconfig().display().to_string();
        assert!(envs.contains(&("KUBECONFIG".into(), Some(kubeconfig.clone()))), "{envs:?}");
        for removed in ["SKUPPER_PLATFORM", "SKUPPER_HOME", "CLICOLOR_FORCE"] {
            assert!(envs.contains(&(removed.into(), None)), "{removed} not removed: {envs:?}");
        }
        assert!(!no_kubeconfig().exists());
        let out = run_command(&mut command("env"), None).ok();
        assert!(out.stdout.lines().any(|l| l == format!("KUBECONFIG={kubeconfig}")), "{out}");
        assert!(!out.stdout.lines().any(|l| l.starts_with("SKUPPER_PLATFORM=")), "{out}");
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let env = Env::new("timeout");
        let pidfile = env.dir.join("grandchild.pid");
        let script = format!("sleep 600 & echo $! > {}; wait", pidfile.display());
        let mut cmd = command("bash");
        cmd.arg("-c").arg(script);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_command_within(&mut cmd, None, Duration::from_secs(2))
        }));
        assert!(r.is_err(), "the command should have timed out");
        let pid: u32 = std::fs::read_to_string(&pidfile).unwrap_or_default().trim().parse().unwrap_or(0);
        assert!(pid > 0, "no grandchild pid");
        wait_for("the grandchild killed with its group", Duration::from_secs(5), || {
            if procs::Ident::of(pid).is_some_and(procs::Ident::alive) { Err(format!("{pid} alive")) } else { Ok(()) }
        });
    }
}
