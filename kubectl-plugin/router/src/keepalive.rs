//! Link keep-alive: each side sends a `Ping` control frame whenever it has sent nothing for
//! [`Keepalive::ping_every`], and gives the link up when nothing at all (data or control)
//! arrived for [`Keepalive::dead_after`]: a frozen or vanished peer is detected in about ten
//! seconds instead of TCP's minutes.
//!
//! Compatibility: the ping interval is announced in the hello (`keepaliveMs`, ignored by older
//! peers). A peer that does not announce one pings every 15 s only when idle, so it is given the
//! old 45 s; the protocol version does not change.

use std::time::Duration;

use crate::limits::env_millis;

/// How often an idle side pings (`SKUPPER_LINK_PING_MS` overrides).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(3);
/// Silence after which the peer is given up (`SKUPPER_LINK_DEAD_MS` overrides).
pub(crate) const DEAD_AFTER: Duration = Duration::from_secs(10);
/// What a peer that announces no interval gets (it pings every 15 s when idle).
pub(crate) const LEGACY_DEAD_AFTER: Duration = Duration::from_secs(45);

/// Keep-alive timings of one router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keepalive {
    /// Send a ping after this long without sending anything.
    pub ping_every: Duration,
    /// Give the peer up after this long without receiving anything.
    pub dead_after: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self { ping_every: PING_EVERY, dead_after: DEAD_AFTER }
    }
}

impl Keepalive {
    /// The defaults, overridden by `SKUPPER_LINK_PING_MS` and `SKUPPER_LINK_DEAD_MS` (tests
    /// and the chaos script use shorter ones).
    pub(crate) fn from_env() -> Self {
        let d = Self::default();
        let ping_every = env_millis("SKUPPER_LINK_PING_MS").unwrap_or(d.ping_every).max(Duration::from_millis(10));
        let dead_after = env_millis("SKUPPER_LINK_DEAD_MS").unwrap_or(d.dead_after).max(ping_every * 2);
        Self { ping_every, dead_after }
    }

    /// The interval announced in our hello, in milliseconds.
    pub(crate) fn announced(&self) -> u32 {
        u32::try_from(self.ping_every.as_millis()).unwrap_or(u32::MAX)
    }

    /// How long a peer that announced `peer_ping_ms` may stay silent: our own limit, but never
    /// less than three of its intervals, so a peer with slower pings is not dropped while idle.
    pub(crate) fn dead_after_for(&self, peer_ping_ms: Option<u32>) -> Duration {
        match peer_ping_ms {
            Some(ms) => self.dead_after.max(Duration::from_millis(u64::from(ms)).saturating_mul(3)),
            None => self.dead_after.max(LEGACY_DEAD_AFTER),
        }
    }

    /// How often the silence is checked.
    pub(crate) fn tick(&self) -> Duration {
        (self.ping_every / 2).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_get_at_least_three_of_their_intervals() {
        let k = Keepalive::default();
        assert_eq!(k.dead_after_for(Some(3_000)), Duration::from_secs(10));
        assert_eq!(k.dead_after_for(Some(5_000)), Duration::from_secs(15));
        // Older peers ping every 15 s when idle.
        assert_eq!(k.dead_after_for(None), LEGACY_DEAD_AFTER);
        assert_eq!(k.announced(), 3_000);
        assert!(k.tick() <= Duration::from_secs(1));
    }
}
