//! Processes: starting and stopping them, their CPU time and resident memory, ports.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Stops what this program started on drop: the stop hooks first (sites' `system stop`), then
/// the children, by pid.
#[derive(Default)]
pub(crate) struct Guard {
    pub(crate) children: Vec<Child>,
    pub(crate) stops: Vec<Box<dyn FnMut()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for f in &mut self.stops {
            f();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// CPU time (user + system) of one `/proc/<pid>/stat` file, in seconds.
fn stat_cpu(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at its closing ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}

/// CPU time (user + system) the processes used so far, in seconds; a process that is gone
/// counts 0.
pub(crate) fn cpu_secs(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|pid| stat_cpu(&format!("/proc/{pid}/stat"))).sum()
}

/// CPU time this benchmark process (the load generator) used so far, all threads.
pub(crate) fn self_cpu_secs() -> f64 {
    stat_cpu("/proc/self/stat").unwrap_or(0.0)
}

pub(crate) fn rss_kib(pid: u32) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn wait_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not open port {port} within 20s")
}

pub(crate) fn sh(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads the first stdout line of a child that prints its ports once it listens.
pub(crate) fn read_ports(child: &mut Child, want: usize) -> Result<Vec<u16>> {
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().context("child stdout")?), &mut line)?;
    let ports: Vec<u16> = line.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    if ports.len() != want {
        bail!("expected {want} ports from {child:?}, got {line:?}");
    }
    Ok(ports)
}
