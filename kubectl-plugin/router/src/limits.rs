//! Connection limits of the site's servers: the process's open-file budget (the soft
//! RLIMIT_NOFILE raised to the hard limit at start, with a reserve kept for the data plane) and
//! [`Gate`], which caps the connections that have not authenticated yet, in total and per source
//! address, and closes excess connections at once.
//!
//! Servers that anyone can reach (the grant server, the link-access ports, the webhook) admit
//! each accepted connection through a gate before doing any work for it, so unauthenticated
//! clients can hold only a bounded share of the process's file descriptors and the router keeps
//! the rest for links and application connections. Defaults and the environment variables that
//! override them are listed in the README's "Security model" section.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Sets the soft open-file limit once per process and returns it: `SKUPPER_NOFILE` when set
/// (never above the hard limit), else the hard limit. A site opens a descriptor per link,
/// application connection and client; Debian's default soft limit of 1024 is reached by a few
/// hundred proxied connections, long before the hard limit.
pub fn prepare_process() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let now = getrlimit(Resource::Nofile);
        let hard = now.maximum;
        let wanted = match env_u64("SKUPPER_NOFILE") {
            Some(n) => hard.map_or(n, |h| n.min(h)),
            // Unlimited hard limits exist; a soft limit that large only makes poll sets huge.
            None => hard.unwrap_or(1 << 20).min(1 << 20),
        };
        if Some(wanted) != now.current {
            let _ = setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: hard });
        }
        getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
    })
}

/// File descriptors this process has open now (0 where `/proc` cannot be read).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Descriptors kept free for the data plane: when fewer than this remain, the servers that take
/// unauthenticated clients close new connections at once. `SKUPPER_FD_RESERVE`, else a quarter of
/// the limit (at least 16).
pub fn fd_reserve(limit: u64) -> u64 {
    env_u64("SKUPPER_FD_RESERVE").unwrap_or((limit / 4).max(16))
}

/// A default cap that grows with the open-file limit: `limit / divisor` within `[min, max]`.
pub fn scaled(limit: u64, divisor: u64, min: usize, max: usize) -> usize {
    usize::try_from(limit / divisor.max(1)).unwrap_or(max).clamp(min, max)
}

/// A number from the environment (`None` when unset or not a number).
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// A duration in milliseconds from the environment.
pub fn env_millis(name: &str) -> Option<Duration> {
    env_u64(name).map(Duration::from_millis)
}

/// Caps of one [`Gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Connections admitted at once.
    pub max_total: usize,
    /// Connections admitted at once from one source address.
    pub max_per_source: usize,
    /// The process's open-file limit and the reserve below it that the gate leaves alone;
    /// `None` disables the check (tests of the caps alone).
    pub fds: Option<(u64, u64)>,
}

impl GateConfig {
    /// Caps from `SKUPPER_<prefix>_MAX_CONNECTIONS` and `SKUPPER_<prefix>_MAX_PER_SOURCE`, else
    /// the defaults, with the process's open-file budget.
    pub fn from_env(prefix: &str, max_total: usize, max_per_source: usize) -> Self {
        let limit = prepare_process();
        let get = |what: &str, default: usize| {
            env_u64(&format!("SKUPPER_{prefix}_{what}")).and_then(|n| usize::try_from(n).ok()).unwrap_or(default)
        };
        Self {
            max_total: get("MAX_CONNECTIONS", max_total).max(1),
            max_per_source: get("MAX_PER_SOURCE", max_per_source).max(1),
            fds: Some((limit, fd_reserve(limit))),
        }
    }
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Its source already holds `max_per_source` connections.
    Source(usize),
    /// `max_total` connections are held and none can be evicted (all authenticated).
    Full(usize),
    /// The process is within its reserve of the open-file limit.
    Descriptors {
        /// Descriptors open.
        open: usize,
        /// The soft limit.
        limit: u64,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(n) => write!(f, "the source already holds {n} connections"),
            Self::Full(n) => write!(f, "{n} connections are open"),
            Self::Descriptors { open, limit } => {
                write!(f, "{open} of {limit} file descriptors are in use (the rest is kept for links and traffic)")
            }
        }
    }
}

/// Admits connections within caps. A full gate evicts the oldest unauthenticated connection of
/// the source holding the most of them, so a client with one connection is not starved by
/// others holding many; once a connection is authenticated it is never evicted.
#[derive(Debug)]
pub struct Gate {
    name: &'static str,
    config: GateConfig,
    state: Mutex<GateState>,
    log: Mutex<RefusalLog>,
}

#[derive(Debug, Default)]
struct GateState {
    next: u64,
    total: usize,
    per_source: HashMap<IpAddr, usize>,
    /// Connections not authenticated yet, in admission order: who may be evicted.
    pending: BTreeMap<u64, (IpAddr, CancellationToken)>,
}

/// Refusals are logged as a summary at most every [`LOG_EVERY`]: a flood must not fill the log.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    count: u64,
    sample: Option<String>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl Gate {
    /// A gate; `name` prefixes its log lines (`grant server`, `link access`, `webhook`).
    pub fn new(name: &'static str, config: GateConfig) -> Arc<Self> {
        Arc::new(Self { name, config, state: Mutex::default(), log: Mutex::default() })
    }

    /// Its caps.
    #[cfg(test)]
    pub fn config(&self) -> GateConfig {
        self.config
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections admitted now (evicted ones count until their task lets go).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.state().total
    }

    /// Admits a connection from `peer`, or says why it must be closed now. The caller logs the
    /// refusal with [`Gate::refused`].
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refused> {
        if let Some((limit, reserve)) = self.config.fds {
            let open = open_fds();
            if (open as u64).saturating_add(reserve) >= limit {
                return Err(Refused::Descriptors { open, limit });
            }
        }
        let mut st = self.state();
        let mine = st.per_source.get(&peer).copied().unwrap_or(0);
        if mine >= self.config.max_per_source {
            return Err(Refused::Source(mine));
        }
        if st.total >= self.config.max_total {
            // Evicted connections still count until their tasks end: never hold more than
            // twice the cap, whatever the churn.
            if st.total >= self.config.max_total.saturating_mul(2) {
                return Err(Refused::Full(st.total));
            }
            let Some(victim) = victim(&st.pending) else { return Err(Refused::Full(st.total)) };
            if let Some((_, token)) = st.pending.remove(&victim) {
                token.cancel();
            }
        }
        let id = st.next;
        st.next += 1;
        st.total += 1;
        *st.per_source.entry(peer).or_default() += 1;
        let evicted = CancellationToken::new();
        st.pending.insert(id, (peer, evicted.clone()));
        Ok(Permit { gate: self.clone(), id, source: peer, evicted })
    }

    /// Logs a refusal (summarised: at most one line per 10 s, with the count and one example).
    pub fn refused(&self, peer: SocketAddr, why: &Refused) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.count += 1;
        if log.sample.is_none() {
            log.sample = Some(format!("closed a connection from {peer} at once: {why}"));
        }
        let now = Instant::now();
        if log.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            return;
        }
        let sample = log.sample.take().unwrap_or_default();
        let n = std::mem::take(&mut log.count);
        log.last = Some(now);
        let more =
            if n > 1 { format!(" (and {} more in the last {}s)", n - 1, LOG_EVERY.as_secs()) } else { String::new() };
        tracing::warn!(component = self.name, "{sample}{more}");
    }
}

/// The oldest pending connection of the source with the most pending connections.
fn victim(pending: &BTreeMap<u64, (IpAddr, CancellationToken)>) -> Option<u64> {
    let mut by_source: HashMap<IpAddr, (usize, u64)> = HashMap::new();
    for (id, (ip, _)) in pending {
        let e = by_source.entry(*ip).or_insert((0, *id));
        e.0 += 1;
    }
    // Most connections first; on a tie, the source whose oldest connection is oldest.
    by_source.into_values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1))).map(|(_, oldest)| oldest)
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    id: u64,
    source: IpAddr,
    evicted: CancellationToken,
}

impl Permit {
    /// Completes when the gate evicted this connection to make room: close it then.
    pub fn evicted(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.evicted.cancelled()
    }

    /// The client proved who it is (or sent its request): it is never evicted from now on.
    pub fn authenticated(&self) {
        self.gate.state().pending.remove(&self.id);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.gate.state();
        st.pending.remove(&self.id);
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.per_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.per_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_source: usize) -> Arc<Gate> {
        Gate::new("test", GateConfig { max_total: total, max_per_source: per_source, fds: None })
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn per_source_cap_refuses_at_once_and_frees_on_drop() {
        let g = gate(10, 2);
        let a = g.admit(ip(1)).expect("first");
        let _b = g.admit(ip(1)).expect("second");
        assert_eq!(g.admit(ip(1)).expect_err("third"), Refused::Source(2));
        let _other = g.admit(ip(2)).expect("another source");
        drop(a);
        let _c = g.admit(ip(1)).expect("room again");
        assert_eq!(g.held(), 3);
    }

    #[test]
    fn a_full_gate_evicts_the_oldest_connection_of_the_busiest_source() {
        let g = gate(4, 3);
        let hog: Vec<Permit> = (0..3).map(|_| g.admit(ip(1)).expect("hog")).collect();
        let quiet = g.admit(ip(2)).expect("quiet");
        // Full: a newcomer evicts the busiest source's oldest connection, not the quiet one.
        let newcomer = g.admit(ip(3)).expect("newcomer");
        assert!(hog[0].evicted.is_cancelled());
        assert!(!hog[1].evicted.is_cancelled() && !quiet.evicted.is_cancelled());
        drop(hog);
        assert_eq!(g.held(), 2);
        drop(newcomer);
    }

    #[test]
    fn authenticated_connections_are_never_evicted() {
        let g = gate(2, 2);
        let a = g.admit(ip(1)).expect("a");
        let b = g.admit(ip(2)).expect("b");
        a.authenticated();
        b.authenticated();
        assert_eq!(g.admit(ip(3)).expect_err("full"), Refused::Full(2));
        assert!(!a.evicted.is_cancelled() && !b.evicted.is_cancelled());
    }

    #[test]
    fn churn_never_holds_more_than_twice_the_cap() {
        let g = gate(3, 100);
        // Evicted permits that are not dropped yet (their task has not run) still count.
        let kept: Vec<Permit> = (0..20).filter_map(|_| g.admit(ip(1)).ok()).collect();
        assert_eq!(kept.len(), 6);
        assert_eq!(g.held(), 6);
    }

    #[test]
    fn the_descriptor_reserve_closes_new_connections() {
        let open = open_fds() as u64;
        let g = Gate::new("test", GateConfig { max_total: 10, max_per_source: 10, fds: Some((open + 5, 10)) });
        assert!(matches!(g.admit(ip(1)), Err(Refused::Descriptors { .. })));
        let g = Gate::new("test", GateConfig { max_total: 10, max_per_source: 10, fds: Some((open + 1000, 10)) });
        assert!(g.admit(ip(1)).is_ok());
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = prepare_process();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(Some(limit), now.current);
        if std::env::var_os("SKUPPER_NOFILE").is_none() {
            assert_eq!(now.current, now.maximum.map(|m| m.min(1 << 20)));
        }
    }
}
