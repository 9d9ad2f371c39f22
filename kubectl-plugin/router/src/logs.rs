//! Log lines of long-running processes (site processes, controllers): one line per event on
//! stderr, `<UTC time> <component>: <message>` for people or one JSON object per line
//! (`{"time", "component", "msg"}`) for log collectors (`controller --log-format json`).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Writes every later line as JSON (`true`) or for people (`false`, the default).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Now as `2026-01-02T03:04:05.678Z`.
fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// The line for `component` and `message` in the current format.
fn format_line(component: &str, message: &str, json: bool) -> String {
    if json {
        serde_json::json!({"time": now(), "component": component, "msg": message}).to_string()
    } else {
        format!("{} {component}: {message}", now())
    }
}

/// Writes one line.
pub fn write(component: &str, args: std::fmt::Arguments<'_>) {
    let line = format_line(component, &args.to_string(), JSON.load(Ordering::Relaxed));
    let mut err = std::io::stderr().lock();
    // Nothing useful can be done when stderr itself is gone.
    let _ = writeln!(err, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_and_json_lines() {
        let h = format_line("controller", "link west up", false);
        assert!(h.ends_with("Z controller: link west up"), "{h}");
        let j: serde_json::Value =
            serde_json::from_str(&format_line("router", "a \"quoted\" word", true)).expect("json");
        assert_eq!((j["component"].as_str(), j["msg"].as_str()), (Some("router"), Some("a \"quoted\" word")));
        assert!(j["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
