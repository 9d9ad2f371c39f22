//! Status of a site's resources as the CLI shows it: what the running site last wrote under
//! `runtime/status`, or — when the site is not running — what can be known without it
//! (configuration problems; everything else Pending, e.g. `Not Operational`).

use skupper_core::resources::{
    Condition, Connector, Link, LinkStatus, Listener, ServiceStatus, Site, SiteStatus, Status, condition,
};

use super::Home;
use crate::platform::config::{connector_tls, link_config, listener_tls};
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

/// What is known without the site: its configuration problem (a TLS Secret), if any.
fn offline_service<T>(tls: Result<T, String>) -> ServiceStatus {
    let mut s = ServiceStatus::default();
    let mut st = Status::default();
    let configured = match tls {
        Ok(_) => Condition::ready(condition::CONFIGURED),
        Err(e) => Condition::error(condition::CONFIGURED, e),
    };
    st.set_condition(configured, SERVICE_REQUIRED, None);
    s.status = st;
    s
}

/// A Listener with its status.
pub fn listener(home: &Home, res: &Resources, l: &Listener, running: bool) -> Listener {
    let mut out = l.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Listener::KIND, l.name()))
        .flatten()
        .unwrap_or_else(|| offline_service(listener_tls(l, res)));
    out
}

/// A Connector with its status.
pub fn connector(home: &Home, res: &Resources, c: &Connector, running: bool) -> Connector {
    let mut out = c.clone();
    out.status = running
        .then(|| home.read_status::<ServiceStatus>(Connector::KIND, c.name()))
        .flatten()
        .unwrap_or_else(|| offline_service(connector_tls(c, res)));
    out
}

/// The last router snapshot of a running site (incoming links, network).
pub fn router(home: &Home, running: bool) -> Option<RouterStatusFile> {
    if !running {
        return None;
    }
    home.read_status(ROUTER_STATUS.0, ROUTER_STATUS.1)
}
