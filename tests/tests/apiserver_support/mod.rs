//! A real kube-apiserver 1.20 + etcd on 127.0.0.1 for one test (scripts/kube-test-cluster.sh,
//! stopped by the pids in its directory when dropped), `kubectl` and `kubectl-skupper` bounded in
//! time against it only (never the user's kubeconfig), and the skip rule of these tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A test that cannot run here says why; with `REQUIRE_ALL_TESTS=1` that is a failure.
pub fn skip(test: &str, reason: &str) {
    assert!(
        !matches!(std::env::var("REQUIRE_ALL_TESTS").as_deref(), Ok("1" | "true" | "yes")),
        "{test} cannot run: {reason} (REQUIRE_ALL_TESTS=1)"
    );
    eprintln!("SKIPPED {test}: {reason}");
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut rnd = [0u8; 6];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut rnd).unwrap();
        let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let p = std::env::temp_dir().join(format!("skupper-{tag}-{hex}"));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The cluster; stopped (apiserver then etcd, by the pids in its directory) on drop.
pub struct Cluster {
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ =
            Command::new(repo_root().join("scripts/kube-test-cluster.sh")).arg("stop").arg(self.dir.path()).status();
    }
}

impl Cluster {
    /// Starts the cluster, or returns the reason it cannot be installed here (exit 3).
    pub fn start() -> Result<Cluster, String> {
        let dir = TempDir::new("kube");
        let script = repo_root().join("scripts/kube-test-cluster.sh");
        let mut child = Command::new(&script)
            .arg("start")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first run builds the apiserver (~4-8 min on 2 cores); later runs take ~5 s.
        let deadline = Instant::now() + Duration::from_secs(20 * 60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let _ = Command::new(&script).arg("stop").arg(dir.path()).status();
                panic!("kube-test-cluster.sh start did not finish within 20 min");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => {}
            Some(3) => return Err(stderr.trim().to_string()),
            other => {
                let _ = Command::new(&script).arg("stop").arg(dir.path()).status();
                panic!("kube-test-cluster.sh start failed ({other:?}):\n{stderr}");
            }
        }
        let kubeconfig = dir.path().join("kubeconfig");
        assert!(kubeconfig.exists(), "no kubeconfig written:\n{stderr}");
        Ok(Cluster { dir, kubeconfig })
    }

    /// `kubectl` against this cluster with `stdin`.
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> Out {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig).arg("--request-timeout=30s").args(args);
        run(cmd, stdin, &format!("kubectl {args:?}"))
    }

    /// `kubectl-skupper --platform kubernetes --kubeconfig <this cluster's>` with `stdin`.
    pub fn skupper(&self, args: &[&str], stdin: &str) -> Out {
        let mut cmd = Command::new(skupper_e2e::binary());
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env_remove("SKUPPER_PLATFORM")
            .arg("--platform")
            .arg("kubernetes")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args);
        run(cmd, stdin, &format!("kubectl-skupper {args:?}"))
    }
}

/// How a command ended.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with `stdin`, bounded to 90 s.
fn run(mut cmd: Command, stdin: &str, what: &str) -> Out {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let pid = child.id();
    // Read both pipes while waiting: a large output must not block the child.
    let out = std::thread::scope(|s| {
        let waiter = s.spawn(|| child.wait_with_output());
        let deadline = Instant::now() + Duration::from_secs(90);
        while !waiter.is_finished() {
            if Instant::now() > deadline {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("{what} did not finish within 90 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        waiter.join().unwrap().unwrap()
    });
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A Link in `ns` to `host` (both roles) with `cost`.
pub fn link_yaml(name: &str, ns: &str, cost: i64, host: &str) -> String {
    format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         spec:\n  cost: {cost}\n  tlsCredentials: {name}\n  endpoints:\n\
         \x20 - {{group: skupper-router, name: inter-router, host: {host}, port: \"55671\"}}\n\
         \x20 - {{group: skupper-router, name: edge, host: {host}, port: \"45671\"}}\n"
    )
}
