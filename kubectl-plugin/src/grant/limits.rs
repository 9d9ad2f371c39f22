//! What keeps the grant server available and its codes unguessable in practice: a connection
//! [`Gate`] (total and per-source caps, the open-file reserve), a deadline for the TLS handshake
//! and request head, and [`Guesses`], which throttles wrong codes per source and per grant and
//! locks a grant after [`Throttling::lock_after`] wrong codes.
//!
//! The counts live in the grant server's memory: a restart of the site forgets them (a locked
//! grant can be redeemed again after a restart; issue a new token and delete the old grant to be
//! sure).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use skupper_core::grant::Refusal;

use skupper_router::limits::{Gate, GateConfig, env_millis, env_u64, prepare_process, scaled};

/// Time for the TLS handshake and the request head together, and then again for the body.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection lives once its request arrived (the redemption itself, the answer).
pub(crate) const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections one source may hold at once.
pub(crate) const MAX_PER_SOURCE: usize = 8;

/// Everything the accept loop and the request path of one grant server share.
#[derive(Debug)]
pub(crate) struct Defences {
    /// Caps on open connections.
    pub gate: Arc<Gate>,
    /// Handshake + request head deadline; the body gets the same again.
    pub request_timeout: Duration,
    /// Wrong-code accounting.
    pub guesses: Guesses,
}

impl Defences {
    /// The defaults, overridden by `SKUPPER_GRANT_MAX_CONNECTIONS` (default: the open-file limit
    /// / 8, within 16..=256), `SKUPPER_GRANT_MAX_PER_SOURCE` (8), `SKUPPER_GRANT_REQUEST_TIMEOUT_MS`
    /// (5000), `SKUPPER_GRANT_LOCK_AFTER` (10 wrong codes) and `SKUPPER_GRANT_THROTTLE_MS` (the
    /// first wait after the free wrong codes, 1000; it doubles per further wrong code).
    pub(crate) fn from_env() -> Arc<Self> {
        let limit = prepare_process();
        let gate = Gate::new("grant server", GateConfig::from_env("GRANT", scaled(limit, 8, 16, 256), MAX_PER_SOURCE));
        let mut throttling = Throttling::default();
        if let Some(n) = env_u64("SKUPPER_GRANT_LOCK_AFTER").and_then(|n| u32::try_from(n).ok()) {
            throttling.lock_after = n.max(1);
        }
        if let Some(d) = env_millis("SKUPPER_GRANT_THROTTLE_MS") {
            throttling.first_wait = d;
        }
        Arc::new(Self {
            gate,
            request_timeout: env_millis("SKUPPER_GRANT_REQUEST_TIMEOUT_MS").unwrap_or(REQUEST_TIMEOUT),
            guesses: Guesses::new(throttling),
        })
    }

    /// Explicit settings (tests).
    #[cfg(test)]
    pub(crate) fn new(gate: GateConfig, request_timeout: Duration, throttling: Throttling) -> Arc<Self> {
        Arc::new(Self { gate: Gate::new("grant server", gate), request_timeout, guesses: Guesses::new(throttling) })
    }
}

/// How wrong codes are slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttling {
    /// Wrong codes (or unknown grants) one source may send before it has to wait.
    pub source_free: u32,
    /// Wrong codes for one grant before every further attempt on it has to wait.
    pub grant_free: u32,
    /// The first wait; it doubles with every further wrong code, up to `max_wait`.
    pub first_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
    /// Wrong codes after which a grant is locked until a new token is issued.
    pub lock_after: u32,
    /// A source that sent no wrong code for this long starts afresh.
    pub forget_after: Duration,
}

impl Default for Throttling {
    fn default() -> Self {
        Self {
            source_free: 5,
            grant_free: 3,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            lock_after: 10,
            forget_after: Duration::from_secs(15 * 60),
        }
    }
}

/// Sources remembered at most; past it the quietest are forgotten first.
const MAX_SOURCES: usize = 10_000;

/// Wrong codes per source and per grant.
#[derive(Debug)]
pub(crate) struct Guesses {
    config: Throttling,
    inner: Mutex<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    sources: HashMap<IpAddr, Strikes>,
    grants: HashMap<String, Strikes>,
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    wrong: u32,
    last: Instant,
}

/// What a wrong code (or a request for an unknown grant) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Strike {
    /// Wrong codes counted for the grant so far (0 for an unknown grant).
    pub grant_wrong: u32,
    /// The grant is locked from now on.
    pub locked: bool,
}

impl Guesses {
    /// Empty accounting.
    pub(crate) fn new(config: Throttling) -> Self {
        Self { config, inner: Mutex::default() }
    }

    /// The settings.
    pub(crate) fn config(&self) -> Throttling {
        self.config
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait(&self, wrong: u32, free: u32) -> Duration {
        if wrong < free {
            return Duration::ZERO;
        }
        let doublings = (wrong - free).min(30);
        self.config.first_wait.saturating_mul(1u32 << doublings).min(self.config.max_wait)
    }

    /// Whether a redemption of grant `key` from `source` may be tried at `now` (before the code
    /// is looked at, so a throttled client learns nothing about it).
    pub(crate) fn check(&self, source: IpAddr, key: &str, now: Instant) -> Result<(), Refusal> {
        let tally = self.tally();
        if let Some(g) = tally.grants.get(key) {
            if g.wrong >= self.config.lock_after {
                return Err(Refusal::Locked { wrong_codes: g.wrong });
            }
            let until = g.last + self.wait(g.wrong, self.config.grant_free);
            if until > now {
                return Err(Refusal::Throttled { retry_after: seconds_up(until - now) });
            }
        }
        if let Some(s) = tally.sources.get(&source)
            && now.duration_since(s.last) < self.config.forget_after
        {
            let until = s.last + self.wait(s.wrong, self.config.source_free);
            if until > now {
                return Err(Refusal::Throttled { retry_after: seconds_up(until - now) });
            }
        }
        Ok(())
    }

    /// Counts a wrong code for grant `key` (`Some`) or a request for an unknown grant (`None`)
    /// from `source`.
    pub(crate) fn wrong(&self, source: IpAddr, key: Option<&str>, now: Instant) -> Strike {
        let mut tally = self.tally();
        if tally.sources.len() >= MAX_SOURCES && !tally.sources.contains_key(&source) {
            let forget = self.config.forget_after;
            tally.sources.retain(|_, s| now.duration_since(s.last) < forget);
            if tally.sources.len() >= MAX_SOURCES
                && let Some(quietest) = tally.sources.iter().min_by_key(|(_, s)| s.last).map(|(ip, _)| *ip)
            {
                tally.sources.remove(&quietest);
            }
        }
        let forget = self.config.forget_after;
        let s = tally.sources.entry(source).or_insert(Strikes { wrong: 0, last: now });
        if now.duration_since(s.last) >= forget {
            s.wrong = 0;
        }
        s.wrong = s.wrong.saturating_add(1);
        s.last = now;
        let Some(key) = key else { return Strike { grant_wrong: 0, locked: false } };
        let g = tally.grants.entry(key.to_string()).or_insert(Strikes { wrong: 0, last: now });
        g.wrong = g.wrong.saturating_add(1);
        g.last = now;
        Strike { grant_wrong: g.wrong, locked: g.wrong >= self.config.lock_after }
    }

    /// A redemption succeeded: the source's earlier mistakes are forgiven.
    pub(crate) fn redeemed(&self, source: IpAddr) {
        self.tally().sources.remove(&source);
    }
}

fn seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn a_source_waits_longer_after_each_wrong_code_past_the_free_ones() {
        let g = Guesses::new(Throttling::default());
        let t0 = Instant::now();
        let key = |i: u32| format!("grant-{i}");
        // Five wrong codes (each for another grant) at full speed.
        for i in 0..5 {
            assert_eq!(g.check(ip(1), &key(i), t0), Ok(()));
            g.wrong(ip(1), Some(&key(i)), t0);
        }
        assert_eq!(g.check(ip(1), "other", t0), Err(Refusal::Throttled { retry_after: 1 }));
        // Another source is not affected.
        assert_eq!(g.check(ip(2), "other", t0), Ok(()));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(g.check(ip(1), "other", t1), Ok(()));
        g.wrong(ip(1), Some("other"), t1);
        assert_eq!(g.check(ip(1), "x", t1), Err(Refusal::Throttled { retry_after: 2 }));
        // Waits are capped, and forgotten after a quiet period.
        for _ in 0..40 {
            g.wrong(ip(1), None, t1);
        }
        assert_eq!(g.check(ip(1), "x", t1), Err(Refusal::Throttled { retry_after: 60 }));
        assert_eq!(g.check(ip(1), "x", t1 + Duration::from_secs(15 * 60)), Ok(()));
        g.redeemed(ip(1));
        assert_eq!(g.check(ip(1), "x", t1), Ok(()));
    }

    #[test]
    fn a_grant_is_throttled_then_locked_whoever_guesses() {
        let cfg = Throttling { first_wait: Duration::ZERO, source_free: u32::MAX, ..Throttling::default() };
        let g = Guesses::new(cfg);
        let now = Instant::now();
        for n in 1..=9u8 {
            assert_eq!(g.check(ip(n), "west-g", now), Ok(()));
            assert_eq!(g.wrong(ip(n), Some("west-g"), now), Strike { grant_wrong: u32::from(n), locked: false });
        }
        assert_eq!(g.wrong(ip(10), Some("west-g"), now), Strike { grant_wrong: 10, locked: true });
        // Locked for everyone, for good (until a new token, that is a new grant).
        let later = now + Duration::from_secs(3600);
        assert_eq!(g.check(ip(99), "west-g", later), Err(Refusal::Locked { wrong_codes: 10 }));
        assert_eq!(g.check(ip(99), "west-new", later), Ok(()));
    }

    #[test]
    fn grant_waits_double_after_the_free_attempts() {
        let cfg = Throttling { source_free: u32::MAX, ..Throttling::default() };
        let g = Guesses::new(cfg);
        let now = Instant::now();
        for _ in 0..3 {
            g.wrong(ip(1), Some("k"), now);
        }
        assert_eq!(g.check(ip(2), "k", now), Err(Refusal::Throttled { retry_after: 1 }));
        g.wrong(ip(1), Some("k"), now);
        assert_eq!(g.check(ip(2), "k", now), Err(Refusal::Throttled { retry_after: 2 }));
        assert_eq!(g.check(ip(2), "k", now + Duration::from_secs(2)), Ok(()));
    }

    #[test]
    fn remembered_sources_are_bounded() {
        let cfg = Throttling::default();
        let g = Guesses::new(cfg);
        let now = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 50) {
            g.wrong(IpAddr::from(std::net::Ipv6Addr::from(u128::from(i))), None, now);
        }
        assert!(g.tally().sources.len() <= MAX_SOURCES);
    }
}
