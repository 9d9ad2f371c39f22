//! Reconnect delays of outgoing links: exponential from `initial` up to `max`, with "equal
//! jitter" (half the delay fixed, half random) so that many sites that lost the same peer do
//! not all redial it at the same instant.

use std::time::Duration;

use crate::model::Backoff;

/// The default largest delay (the upstream router waits up to 60 s; we measured a 19 s wait
/// after a 2-minute outage with 30 s).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);

/// The delay before retry number `attempt` (0 for the first retry), using `random` for the
/// jitter. Always within `[d/2, d]` where `d = min(max, initial * 2^attempt)`.
pub(crate) fn delay(policy: Backoff, attempt: u32, random: u64) -> Duration {
    let initial = policy.initial.max(Duration::from_millis(1));
    let max = policy.max.max(initial);
    let exp = initial.saturating_mul(1u32 << attempt.min(30)).min(max);
    let half = exp / 2;
    let spread = u64::try_from((exp - half).as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % spread.saturating_add(1))
}

/// A random number for [`delay`]; without an OS random source the jitter is simply zero.
pub(crate) fn random() -> u64 {
    getrandom::u64().unwrap_or(0)
}

impl Default for Backoff {
    /// 200 ms doubling up to 5 s (with jitter: 2.5-5 s between attempts once there), so a peer
    /// that returns after a long outage is linked again within about five seconds; a failed
    /// attempt costs the peer one TCP connection, a refused TLS handshake at worst.
    fn default() -> Self {
        Self { initial: Duration::from_millis(200), max: MAX_DELAY }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(30) }
    }

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let p = policy();
        assert!(delay(p, 0, u64::MAX - 1) <= Duration::from_millis(200));
        assert_eq!(delay(p, 0, 0), Duration::from_millis(100));
        assert_eq!(delay(p, 3, 0), Duration::from_millis(800));
        assert_eq!(delay(p, 20, 0), Duration::from_secs(15));
        assert_eq!(delay(p, u32::MAX, 0), Duration::from_secs(15));
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let p = policy();
        for attempt in 0..40 {
            let full = Duration::from_millis(200).saturating_mul(1 << attempt.min(30)).min(p.max);
            for r in [0, 1, 12345, 999_999_999, u64::MAX / 3, u64::MAX] {
                let d = delay(p, attempt, r);
                assert!(d >= full / 2 && d <= full, "attempt {attempt} random {r}: {d:?} vs {full:?}");
            }
        }
    }

    #[test]
    fn by_default_a_returning_peer_is_retried_within_five_seconds() {
        let p = Backoff::default();
        for attempt in [10, 20, 1_000, u32::MAX] {
            for r in [0, 7, u64::MAX / 2, u64::MAX] {
                let d = delay(p, attempt, r);
                assert!(d <= Duration::from_secs(5) && d >= Duration::from_millis(2_500), "{attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn degenerate_policies_do_not_spin_or_panic() {
        let zero = Backoff { initial: Duration::ZERO, max: Duration::ZERO };
        assert!(delay(zero, 0, 7) >= Duration::from_micros(500));
        let inverted = Backoff { initial: Duration::from_secs(5), max: Duration::from_secs(1) };
        assert!(delay(inverted, 9, u64::MAX) <= Duration::from_secs(5));
        let huge = Backoff { initial: Duration::MAX, max: Duration::MAX };
        let _ = delay(huge, 31, u64::MAX);
    }
}
