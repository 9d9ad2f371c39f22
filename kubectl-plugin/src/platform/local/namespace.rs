//! The local platform behind the [`Namespace`] interface: resources are files of the namespace's
//! site directory, status is what the running site process writes (or what can be known without
//! it), grants are processed by the command itself and tokens are redeemed by it directly.

use std::time::Duration;

use skupper_core::resources::{
    AccessGrant, AccessToken, Endpoint, GROUP_PRIMARY, GROUP_SECONDARY, Link, Resource, Site,
};

use super::{Changes, Home, status};
use crate::grant;
use crate::platform::resources::{Resources, StoredOnly};
use crate::platform::status::RouterReport;
use crate::platform::{Change, Namespace, Platform, TokenRedeemError, Until, Waited, now_unix};
use skupper_router::certs::Issued;

/// One namespace of the local platform.
#[derive(Debug, Clone)]
pub(crate) struct LocalNamespace {
    home: Home,
}

impl LocalNamespace {
    /// The namespace whose site directory is `home`.
    pub(crate) fn new(home: Home) -> Self {
        Self { home }
    }

    /// Redeems `token` with the issuing site and returns the changes that store what it answered
    /// (the Secret and the Links, cost from `linkCost`) without making them, so `system apply`
    /// can write them together with the rest of its input. Names already taken in `res` are
    /// refused: the token's own before contacting the issuing site (a refusal never uses up the
    /// token), the answered ones after.
    pub(crate) fn redeem_staged(
        &self,
        res: &Resources,
        token: &AccessToken,
        timeout: Duration,
    ) -> Result<(Vec<Change>, Vec<Link>), TokenRedeemError> {
        let name = token.name();
        let conflict = |n: &str| {
            if res.links.contains_key(n) {
                Some(format!("Link {n:?}"))
            } else if res.secrets.contains_key(n) {
                Some(format!("Secret {n:?}"))
            } else {
                None
            }
        };
        if let Some(what) = conflict(name) {
            return Err(TokenRedeemError::AlreadyRedeemed { what });
        }
        let subject = self.home.site_id()?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
        let mut redeemed = rt.block_on(grant::redeem::redeem(token, &subject, timeout))?;
        if token.spec.link_cost > 0 {
            for l in &mut redeemed.links {
                l.spec.cost = token.spec.link_cost;
            }
        }
        for n in std::iter::once(redeemed.secret.name()).chain(redeemed.links.iter().map(|l| l.name())) {
            if n != name
                && let Some(what) = conflict(n)
            {
                return Err(TokenRedeemError::NameTaken { what, name: n.to_string() });
            }
        }
        let mut changes = vec![Change::Put(Resource::Secret(redeemed.secret))];
        changes.extend(redeemed.links.iter().cloned().map(|l| Change::Put(Resource::Link(l))));
        Ok((changes, redeemed.links))
    }
}

impl LocalNamespace {
    /// [`Namespace::commit`] with resources of stored-only kinds written in the same all-or-nothing step.
    pub(crate) fn commit_with_stored(&self, changes: Vec<Change>, stored: &[StoredOnly]) -> anyhow::Result<()> {
        let mut files = self.changes(changes)?;
        for s in stored {
            let text = crate::platform::resources::value_yaml(&s.value)?;
            files.put(self.home.resource_path(s.kind, &s.name), text.into_bytes());
        }
        files.commit()
    }

    fn changes(&self, changes: Vec<Change>) -> anyhow::Result<Changes> {
        let mut files = Changes::default();
        for c in changes {
            match c {
                Change::Put(r) => files.put_resource(&self.home, &r)?,
                Change::Delete { kind, name } => files.delete(self.home.resource_path(kind, &name)),
            }
        }
        Ok(files)
    }
}

impl Namespace for LocalNamespace {
    fn platform(&self) -> Platform {
        Platform::Local
    }

    fn name(&self) -> &str {
        &self.home.namespace
    }

    fn load(&self) -> anyhow::Result<Resources> {
        self.home.load()
    }

    fn observe(&self, res: &Resources) -> Resources {
        let running = self.running();
        let home = &self.home;
        let mut out = res.clone();
        out.site = res.site.as_ref().map(|s| status::site(home, s, running));
        for (name, l) in &res.links {
            out.links.insert(name.clone(), status::link(home, res, l, running));
        }
        for (name, l) in &res.listeners {
            out.listeners.insert(name.clone(), status::listener(home, res, l, running));
        }
        for (name, c) in &res.connectors {
            out.connectors.insert(name.clone(), status::connector(home, res, c, running));
        }
        for (name, m) in &res.multi_key_listeners {
            out.multi_key_listeners.insert(name.clone(), status::multi_key_listener(home, m, running));
        }
        out
    }

    fn commit(&self, changes: Vec<Change>) -> anyhow::Result<()> {
        self.changes(changes)?.commit()
    }

    fn running(&self) -> bool {
        self.home.running_pid().is_some()
    }

    fn start_command(&self) -> &'static str {
        "system start"
    }

    fn endpoints(&self, site: &Site) -> anyhow::Result<Vec<Endpoint>> {
        if !site.spec.link_access_enabled() {
            return Ok(Vec::new());
        }
        Ok(self.home.access()?.map(|a| a.endpoints()).unwrap_or_default())
    }

    fn site_ca(&self, site: &Site) -> anyhow::Result<Issued> {
        self.home.site_ca(site.name())
    }

    fn issue_grant(&self, _site: &Site, mut grant: AccessGrant, _timeout: Duration) -> anyhow::Result<AccessGrant> {
        // Processed here, as a controller would: the site's grant server answers it while it runs.
        let access = match self.home.access()? {
            Some(a) => a,
            None => self.home.ensure_access(None, &[])?,
        };
        let grant_ca = self.home.grant_ca()?;
        grant::process(&mut grant, &access.grant_url_base(), &grant_ca.cert_pem, now_unix())?;
        self.commit(vec![Change::Put(Resource::AccessGrant(grant.clone()))])?;
        Ok(grant)
    }

    fn redeem(&self, res: &Resources, token: &AccessToken, timeout: Duration) -> Result<Vec<Link>, TokenRedeemError> {
        let (changes, links) = self.redeem_staged(res, token, timeout)?;
        self.commit(changes)?;
        Ok(links)
    }

    fn wait(&self, _kind: &'static str, _name: &str, _until: Until, _timeout: Duration) -> anyhow::Result<Waited> {
        // A running site picks up changes within half a second; nothing reports per change.
        Ok(Waited::Skipped)
    }

    fn routers(&self) -> Vec<RouterReport> {
        let ha = self.home.load().ok().and_then(|r| r.site).is_some_and(|s| s.spec.ha);
        let groups: &[&str] = if ha { &[GROUP_PRIMARY, GROUP_SECONDARY] } else { &[GROUP_PRIMARY] };
        groups
            .iter()
            .filter_map(|g| {
                let home = self.home.for_group(g)?;
                let pid = home.running_pid()?;
                let status = status::router(&home, true)?;
                Some(RouterReport { group: g.to_string(), pid: Some(pid), controller: None, status })
            })
            .collect()
    }

    fn as_local(&self) -> Option<&Home> {
        Some(&self.home)
    }
}
