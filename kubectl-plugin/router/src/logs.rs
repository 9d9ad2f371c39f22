//! The log lines of long-running processes (site processes, controllers, the webhook): every
//! component logs through the `tracing` facade and [`install`] writes each event as one line on
//! stderr, in one format for the whole process:
//!
//! - for people (the default): `<UTC time> <component>: <message>`, then the fields of the spans
//!   the event happened in, if any: ` [link=to-west peer=127.0.0.1:55671]`;
//! - for log collectors (`controller --log-format json`, [`set_json`]): one JSON object per line,
//!   `{"time", "level", "component", "msg"}` plus the span fields.
//!
//! The component is the event's `target` (`tracing::info!(target: "grant server", ...)`), or its
//! `component` field when it is only known at run time (the connection gates).

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

static JSON: AtomicBool = AtomicBool::new(false);

/// Writes every later line as JSON (`true`) or for people (`false`, the default).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Makes [`Lines`] on stderr this process's log subscriber, for events at INFO and above (the
/// libraries underneath, such as the Kubernetes client, trace at DEBUG and below). Once per
/// process; later calls (and a process that has another subscriber) change nothing.
pub fn install() {
    let subscriber = tracing_subscriber::registry().with(Lines.with_filter(LevelFilter::INFO));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The layer that writes one line per event on stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lines;

/// The fields of one span, kept in its extensions: `key=value` pairs in order.
#[derive(Debug, Default)]
struct SpanFields(Vec<(&'static str, String)>);

/// Collects an event's message and fields, or a span's fields.
#[derive(Default)]
struct Collect {
    message: String,
    component: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "component" => self.component = Some(value.to_string()),
            name => self.fields.push((name, value.to_string())),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "component" => self.component = Some(format!("{value:?}")),
            name => self.fields.push((name, format!("{value:?}"))),
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Lines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut c = Collect::default();
        attrs.record(&mut c);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(c.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let line = render(event, &ctx, JSON.load(Ordering::Relaxed));
        let mut err = std::io::stderr().lock();
        // Nothing useful can be done when stderr itself is gone.
        let _ = writeln!(err, "{line}");
    }
}

/// The line of `event`, with the fields of the spans it happened in (outermost first).
fn render<S: Subscriber + for<'a> LookupSpan<'a>>(event: &Event<'_>, ctx: &Context<'_, S>, json: bool) -> String {
    let mut c = Collect::default();
    event.record(&mut c);
    let mut fields = Vec::new();
    for span in ctx.event_scope(event).into_iter().flat_map(|scope| scope.from_root()) {
        if let Some(f) = span.extensions().get::<SpanFields>() {
            fields.extend(f.0.iter().cloned());
        }
    }
    fields.append(&mut c.fields);
    let meta = event.metadata();
    let component = c.component.as_deref().unwrap_or(meta.target());
    format_line(*meta.level(), component, &c.message, &fields, json)
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

/// The line of one event in the current format.
fn format_line(level: Level, component: &str, message: &str, fields: &[(&str, String)], json: bool) -> String {
    if json {
        let mut o = serde_json::Map::new();
        o.insert("time".into(), now().into());
        o.insert("level".into(), level.as_str().to_ascii_lowercase().into());
        o.insert("component".into(), component.into());
        o.insert("msg".into(), message.into());
        for (k, v) in fields {
            o.insert((*k).to_string(), v.clone().into());
        }
        serde_json::Value::Object(o).to_string()
    } else {
        let mut line = format!("{} {component}: {message}", now());
        if !fields.is_empty() {
            line.push_str(" [");
            for (i, (k, v)) in fields.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let _ = write!(line, "{sep}{k}={v}");
            }
            line.push(']');
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_and_json_lines() {
        let h = format_line(Level::INFO, "controller", "link west up", &[], false);
        assert!(h.ends_with("Z controller: link west up"), "{h}");
        let f = [("link", "to-west".to_string()), ("peer", "127.0.0.1:1".to_string())];
        let h = format_line(Level::INFO, "router", "up", &f, false);
        assert!(h.ends_with("Z router: up [link=to-west peer=127.0.0.1:1]"), "{h}");
        let j: serde_json::Value =
            serde_json::from_str(&format_line(Level::WARN, "router", "a \"quoted\" word", &f, true)).expect("json");
        assert_eq!((j["component"].as_str(), j["msg"].as_str()), (Some("router"), Some("a \"quoted\" word")));
        assert_eq!((j["level"].as_str(), j["link"].as_str()), (Some("warn"), Some("to-west")));
        assert!(j["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    /// Events through the layer: the component from the target or the `component` field, the
    /// message, and the fields of the spans around the event.
    #[test]
    fn events_carry_their_component_and_span_fields() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Seen(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
            fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
                self.0.lock().expect("lines").push(render(event, &ctx, false));
            }
        }
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(Lines).with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "grant server", "redeemed {}", 1);
            let span = tracing::info_span!("link", link = "to-west", peer = %"127.0.0.1:9");
            let _in = span.enter();
            tracing::warn!(component = "link access", "closed a connection");
        });
        let lines = seen.0.lock().expect("lines").clone();
        assert!(lines[0].ends_with("Z grant server: redeemed 1"), "{lines:?}");
        assert!(lines[1].ends_with("Z link access: closed a connection [link=to-west peer=127.0.0.1:9]"), "{lines:?}");
    }
}
