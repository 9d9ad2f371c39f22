//! Log lines of the router: `tracing` events of component `router` (written as one line each by
//! [`crate::logs`]; the platform sends stderr to the site's log file), and a throttle so a link
//! retrying forever does not flood the log.

use std::time::{Duration, Instant};

/// Logs one event of the router: `2026-01-02T03:04:05.678Z router: <message>`.
macro_rules! log {
    ($($arg:tt)*) => {
        ::tracing::info!(target: "router", $($arg)*)
    };
}
pub(crate) use log;

/// How often an unchanged message is repeated.
const REPEAT_EVERY: Duration = Duration::from_secs(300);

/// Logs a message when it differs from the previous one, and an unchanged message at most every
/// five minutes with the number of repeats in between.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last: Option<(String, Instant)>,
    repeats: u64,
}

impl Throttle {
    /// Logs `message` unless it repeats the last one within the quiet period.
    pub(crate) fn log(&mut self, message: &str) {
        if let Some(line) = self.check(message, Instant::now()) {
            log!("{line}");
        }
    }

    /// The line to write for `message` at `now`, if any.
    fn check(&mut self, message: &str, now: Instant) -> Option<String> {
        match &mut self.last {
            Some((last, at)) if last == message => {
                if now.duration_since(*at) < REPEAT_EVERY {
                    self.repeats += 1;
                    return None;
                }
                *at = now;
                let n = std::mem::take(&mut self.repeats);
                Some(format!("{message} (repeated {n} times)"))
            }
            _ => {
                self.last = Some((message.to_string(), now));
                self.repeats = 0;
                Some(message.to_string())
            }
        }
    }

    /// Forgets the last message, so the next one is logged whatever it is.
    pub(crate) fn reset(&mut self) {
        self.last = None;
        self.repeats = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_suppressed_then_summarised() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(t.check("a", t0).as_deref(), Some("a"));
        assert_eq!(t.check("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(t.check("a", t0 + Duration::from_secs(2)), None);
        assert_eq!(t.check("a", t0 + REPEAT_EVERY).as_deref(), Some("a (repeated 2 times)"));
        assert_eq!(t.check("b", t0 + REPEAT_EVERY).as_deref(), Some("b"));
        assert_eq!(t.check("a", t0 + REPEAT_EVERY).as_deref(), Some("a"));
        t.reset();
        assert_eq!(t.check("a", t0 + REPEAT_EVERY).as_deref(), Some("a"));
    }
}
