//! Status of a site's resources as the CLI shows it: what the running site last wrote under
//! `runtime/status`, or — when the site is not running — what can be known without it
//! (configuration problems; everything else Pending, e.g. `Not Operational`).

use skupper_core::resources::{
    Condition, Connector, Link, LinkStatus, Listener, MultiKeyListener, MultiKeyListenerStatus, ServiceStatus, Site,
    SiteStatus, Status, condition,
};

use super::Home;
use crate::platform::config::{connector_tls, link_config, listener_tls};
use crate::platform::resources::Resources;
use crate::platform::status::{RouterStatusFile, SERVICE_REQUIRED, site_required};

/// The status file of the router snapshot (`runtime/status/router.yaml`).
pub(crate) const ROUTER_STATUS: (&str, &str) = ("Router", "status");

/// When an offline view's conditions last changed, as far as can be known without the site:
/// the later of when the resource was last written and when the site last wrote a status (about
/// when it stopped). Upstream's CRDs require `lastTransitionTime` on every condition.
fn offline_since(home: &Home, kind: &str, name: &str) -> String {
    let modified = |p: std::path::PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let latest =
        [modified(home.resource_path(kind, name)), modified(home.status_path(ROUTER_STATUS.0, ROUTER_STATUS.1))]
            .into_iter()
            .flatten()
            .max();
    let unix = latest
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(crate::platform::now_unix, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    skupper_core::time::format_rfc3339(unix)
}

/// The site's view of itself: the running site's status, or the offline one.
pub(crate) fn site(home: &Home, site: &Site, running: bool) -> Site {
    let mut out = site.clone();
    if running && let Some(s) = home.read_status::<SiteStatus>(Site::KIND, site.name()) {
        out.status = s;
        return out;
    }
    let since = offline_since(home, Site::KIND, site.name());
    let now = Some(since.as_str());
    let link_access = site.spec.link_access_enabled();
    let mut st = SiteStatus::default();
    st.status.set_condition(Condition::ready(condition::CONFIGURED), site_required(link_access), now);
    if link_access && let Ok(Some(access)) = home.access() {
        st.endpoints = access.endpoints();
        st.status.set_condition(Condition::ready(condition::RESOLVED), site_required(link_access), now);
    }
    if running {
        // Running but no status yet: the site is still starting.
        st.status.set_condition(Condition::pending(condition::RUNNING, "Starting"), site_required(link_access), now);
    }
    out.status = st;
    out
}

/// A Link with its status.
pub(crate) fn link(home: &Home, res: &Resources, link: &Link, running: bool) -> Link {
    let mut out = link.clone();
    if running && let Some(s) = home.read_status::<LinkStatus>(Link::KIND, link.name()) {
        out.status = s;
        return out;
    }
    let edge = res.site.as_ref().is_some_and(|s| s.spec.edge);
    let mut st = LinkStatus::default();
    let configured = match link_config(link, res, edge).config_error {
        Some(e) => Condition::error(condition::CONFIGURED, e),
        None => Condition::ready(condition::CONFIGURED),
    };
    let since = offline_since(home, Link::KIND, link.name());
    st.status.set_condition(configured, Link::REQUIRED, Some(&since));
    out.status = st;
    out
}

/// What is known without the site: its configuration problem (a TLS Secret), if any.
fn offline_service<T>(home: &Home, kind: &str, name: &str, tls: Result<T, String>) -> ServiceStatus {
    let mut s = ServiceStatus::default();
    let mut st = Status::default();
    let configured = match tls {
        Ok(_) => Condition::ready(condition::CONFIGURED),
        Err(e) => Condition::error(condition::CONFIGURED, e),
    };
    let since = offline_since(home, kind, name);
    st.set_condition(configured, SERVICE_REQUIRED, Some(&since));
    s.status = st;
    s
}

/// A Listener with its status.
pub(crate) fn listener(home: &Home, res: &Resources, l: &Listener, running: bool) -> Listener {
    let mut out = l.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Listener::KIND, l.name()))
        .flatten()
        .unwrap_or_else(|| offline_service(home, Listener::KIND, l.name(), listener_tls(l, res)));
    out
}

/// A MultiKeyListener with its status (offline: `Configured` when its strategy is usable).
pub(crate) fn multi_key_listener(home: &Home, m: &MultiKeyListener, running: bool) -> MultiKeyListener {
    let mut out = m.clone();
    out.status = running
        .then(|| home.read_status::<MultiKeyListenerStatus>(MultiKeyListener::KIND, m.name()))
        .flatten()
        .unwrap_or_else(|| {
            let mut s = MultiKeyListenerStatus::default();
            let configured = match m.spec.strategy.problem() {
                Some(p) => Condition::error(condition::CONFIGURED, format!("spec.strategy: {p}")),
                None => Condition::ready(condition::CONFIGURED),
            };
            let since = offline_since(home, MultiKeyListener::KIND, m.name());
            s.status.set_condition(configured, MultiKeyListener::REQUIRED, Some(&since));
            s
        });
    out
}

/// A Connector with its status.
pub(crate) fn connector(home: &Home, res: &Resources, c: &Connector, running: bool) -> Connector {
    let mut out = c.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Connector::KIND, c.name()))
        .flatten()
        .unwrap_or_else(|| offline_service(home, Connector::KIND, c.name(), connector_tls(c, res)));
    out
}

/// The last router snapshot of a running site (incoming links, network).
pub(crate) fn router(home: &Home, running: bool) -> Option<RouterStatusFile> {
    if !running {
        return None;
    }
    home.read_status(ROUTER_STATUS.0, ROUTER_STATUS.1)
}
