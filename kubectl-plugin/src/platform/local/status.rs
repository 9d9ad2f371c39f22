//! Status of a site's resources as the CLI shows it: what the running site last wrote under
//! `runtime/status`, or — when the site is not running — what can be known without it
//! (configuration problems; everything else Pending, e.g. `Not Operational`).

use skupper_core::resources::{
    Condition, Connector, Link, LinkStatus, Listener, MultiKeyListener, MultiKeyListenerStatus, ServiceStatus, Site,
    SiteStatus, Status, condition,
};

use super::Home;
use crate::platform::config::link_config;
use crate::platform::resources::Resources;
use crate::platform::status::{RouterStatusFile, SERVICE_REQUIRED, site_required};

/// The status file of the router snapshot (`runtime/status/router.yaml`).
pub const ROUTER_STATUS: (&str, &str) = ("Router", "status");

/// The site's view of itself: the running site's status, or the offline one.
pub fn site(home: &Home, site: &Site, running: bool) -> Site {
    let mut out = site.clone();
    if running && let Some(s) = home.read_status::<SiteStatus>(Site::KIND, site.name()) {
        out.status = s;
        return out;
    }
    let link_access = site.spec.link_access_enabled();
    let mut st = SiteStatus::default();
    st.status.set_condition(Condition::ready(condition::CONFIGURED), site_required(link_access), None);
    if link_access && let Ok(Some(access)) = home.access() {
        st.endpoints = access.endpoints();
        st.status.set_condition(Condition::ready(condition::RESOLVED), site_required(link_access), None);
    }
    if running {
        // Running but no status yet: the site is still starting.
        st.status.set_condition(Condition::pending(condition::RUNNING, "Starting"), site_required(link_access), None);
    }
    out.status = st;
    out
}

/// A Link with its status.
pub fn link(home: &Home, res: &Resources, link: &Link, running: bool) -> Link {
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
    st.status.set_condition(configured, Link::REQUIRED, None);
    out.status = st;
    out
}

fn offline_service() -> ServiceStatus {
    let mut s = ServiceStatus::default();
    let mut st = Status::default();
    st.set_condition(Condition::ready(condition::CONFIGURED), SERVICE_REQUIRED, None);
    s.status = st;
    s
}

/// A Listener with its status.
pub fn listener(home: &Home, l: &Listener, running: bool) -> Listener {
    let mut out = l.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Listener::KIND, l.name()))
        .flatten()
        .unwrap_or_else(offline_service);
    out
}

/// A MultiKeyListener with its status (offline: `Configured` when its strategy is usable).
pub fn multi_key_listener(home: &Home, m: &MultiKeyListener, running: bool) -> MultiKeyListener {
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
            s.status.set_condition(configured, MultiKeyListener::REQUIRED, None);
            s
        });
    out
}

/// A Connector with its status.
pub fn connector(home: &Home, c: &Connector, running: bool) -> Connector {
    let mut out = c.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Connector::KIND, c.name()))
        .flatten()
        .unwrap_or_else(offline_service);
    out
}

/// The last router snapshot of a running site (incoming links, network).
pub fn router(home: &Home, running: bool) -> Option<RouterStatusFile> {
    if !running {
        return None;
    }
    home.read_status(ROUTER_STATUS.0, ROUTER_STATUS.1)
}
