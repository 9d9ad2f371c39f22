//! The Kubernetes platform: a site is a namespace of a cluster, its resources are
//! `skupper.io/v2alpha1` objects (and Secrets) in the API server, and a controller
//! (`kubectl skupper controller`) runs it and writes their status.
//!
//! # Layout
//! - [`client`]: kubectl's rules for kubeconfig, context and namespace.
//! - [`cr`]: the kinds as API objects over the core types.
//! - [`crd`]: the CRDs generated from the core types.
//! - [`errors`]: API failures explained.
//! - [`install`]: the cluster-wide objects of `kubectl skupper install`.
//! - [`manifest`]: the objects that run a site in a cluster (`controller manifest`).

pub(crate) mod client;
pub(crate) mod cr;
pub(crate) mod crd;
pub(crate) mod errors;
pub(crate) mod install;
pub(crate) mod manifest;

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret as KubeSecret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use skupper_core::resources::{AccessGrant, AccessToken, Endpoint, Link, Resource, Site, Status, condition};

use self::client::{Selection, Target};
use self::cr::{
    AccessGrantKind, AccessTokenKind, ConnectorKind, Cr, GROUP, Kind, LinkKind, ListenerKind, MultiKeyListenerKind,
    RouterAccessKind, SiteKind, core_secret, kube_secret,
};
use self::errors::{Op, explain};
use crate::platform::resources::Resources;
use crate::platform::status::{RouterReport, RouterStatusFile};
use crate::platform::{Change, Namespace, Platform, SITE_CA, TokenRedeemError, Until, Waited};
use skupper_router::certs::Issued;

/// Name of the Lease a controller holds while it runs a namespace's site.
pub(crate) const CONTROLLER_LEASE: &str = "skupper-controller";
/// The ConfigMap where a controller publishes its router's view of the network.
pub(crate) const NETWORK_STATUS: &str = "skupper-network-status";
/// Its key holding the router snapshot (YAML).
pub(crate) const NETWORK_STATUS_KEY: &str = "router.yaml";

/// How often an update that lost a race with another writer is retried.
const CONFLICT_RETRIES: usize = 5;

/// How often waits look at the object again.
const POLL: Duration = Duration::from_millis(500);

/// One namespace of a cluster.
pub(crate) struct KubeNamespace {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    target: Target,
    /// Who holds the controller Lease, once asked (a command asks at most once).
    controller: std::sync::OnceLock<Option<String>>,
}

impl KubeNamespace {
    /// Connects (lazily: the first request reaches the API server) as kubectl would.
    pub(crate) fn connect(selection: &Selection) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let target = rt.block_on(client::resolve(selection))?;
        let client = {
            let _guard = rt.enter();
            kube::Client::try_from(target.config.clone())
                .map_err(|e| anyhow::anyhow!("cannot set up the Kubernetes client: {e}"))?
        };
        Ok(Self { rt, client, target, controller: std::sync::OnceLock::new() })
    }

    /// The controller that runs this namespace's site now (its identity), if any.
    pub(crate) fn controller(&self) -> Option<String> {
        self.controller.get_or_init(|| self.rt.block_on(self.lease_holder())).clone()
    }

    /// What to say when nothing runs the site.
    fn no_controller(&self) -> String {
        let ns = &self.target.namespace;
        format!(
            "no controller runs namespace {ns}: start one with kubectl skupper -n {ns} controller, or deploy one \
             in the cluster (kubectl skupper -n {ns} controller manifest | kubectl apply -f -)"
        )
    }

    /// Polls the object until `done` says the wait is over, up to `timeout`, showing `message`.
    async fn poll<K: Kind, T>(
        &self,
        name: &str,
        message: &str,
        timeout: Duration,
        mut done: impl FnMut(Option<&Cr<K>>) -> Option<T>,
    ) -> anyhow::Result<Option<T>> {
        let api = self.api::<K>();
        let resource = format!("{}.{GROUP}", K::PLURAL);
        let op = Op { verb: "get", resource: &resource, name: Some(name) };
        let mut progress = crate::output::Progress::start(message);
        let deadline = tokio::time::Instant::now() + timeout;
        let result = loop {
            let obj = match api.get_opt(name).await {
                Ok(o) => o,
                Err(e) => {
                    progress.finish();
                    return Err(explain(e, &op, &self.target));
                }
            };
            if let Some(v) = done(obj.as_ref()) {
                break Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                break None;
            }
            progress.tick();
            tokio::time::sleep(POLL).await;
        };
        progress.finish();
        Ok(result)
    }

    /// Where this namespace is.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The client (for commands that reach beyond one namespace, such as `install`).
    pub(crate) fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Runs `f` on this namespace's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn api<K: Kind>(&self) -> Api<Cr<K>> {
        Api::namespaced(self.client.clone(), &self.target.namespace)
    }

    fn secrets(&self) -> Api<KubeSecret> {
        Api::namespaced(self.client.clone(), &self.target.namespace)
    }

    async fn list<K: Kind>(&self) -> anyhow::Result<Vec<Cr<K>>> {
        let resource = format!("{}.{GROUP}", K::PLURAL);
        let op = Op { verb: "list", resource: &resource, name: None };
        let list = self.api::<K>().list(&ListParams::default()).await.map_err(|e| explain(e, &op, &self.target))?;
        Ok(list.items)
    }

    async fn load_all(&self) -> anyhow::Result<Resources> {
        let mut res = Resources::default();
        // The oldest Site is the active one (upstream); the others are reported by the controller.
        let mut sites = self.list::<SiteKind>().await?;
        sites.sort_by(|a, b| {
            (a.metadata.creation_timestamp.as_ref().map(|t| t.0), a.name())
                .cmp(&(b.metadata.creation_timestamp.as_ref().map(|t| t.0), b.name()))
        });
        if let Some(site) = sites.first() {
            res.insert(site.to_resource());
        }
        for r in self.list::<LinkKind>().await?.iter().map(Cr::to_resource) {
            res.insert(r);
        }
        for r in self.list::<AccessGrantKind>().await?.iter().map(Cr::to_resource) {
            res.insert(r);
        }
        for r in self.list::<AccessTokenKind>().await?.iter().map(Cr::to_resource) {
            res.insert(r);
        }
        for r in self.list::<ListenerKind>().await?.iter().map(Cr::to_resource) {
            res.insert(r);
        }
        for r in self.list::<ConnectorKind>().await?.iter().map(Cr::to_resource) {
            res.insert(r);
        }
        for r in self.list::<RouterAccessKind>().await?.iter().map(Cr::to_resource) {
            res.insert(r);
        }
        // A cluster installed before MultiKeyListeners existed has no such CRD: none to list.
        match self.api::<MultiKeyListenerKind>().list(&ListParams::default()).await {
            Ok(list) => list.items.iter().map(Cr::to_resource).for_each(|r| res.insert(r)),
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => {
                let resource = format!("{}.{GROUP}", MultiKeyListenerKind::PLURAL);
                return Err(explain(e, &Op { verb: "list", resource: &resource, name: None }, &self.target));
            }
        }
        let op = Op { verb: "list", resource: "secrets", name: None };
        let secrets = self.secrets().list(&ListParams::default()).await.map_err(|e| explain(e, &op, &self.target))?;
        for s in &secrets.items {
            res.insert(Resource::Secret(core_secret(s)));
        }
        Ok(res)
    }

    /// Creates `cr`, or replaces the spec, labels and annotations of the object of that name,
    /// re-reading it when another writer got there first.
    async fn put<K: Kind>(&self, cr: Cr<K>) -> anyhow::Result<()> {
        let api = self.api::<K>();
        let resource = format!("{}.{GROUP}", K::PLURAL);
        let name = cr.name().to_string();
        let op = |verb| Op { verb, resource: &resource, name: Some(&name) };
        match api.create(&PostParams::default(), &cr).await {
            Ok(_) => return Ok(()),
            Err(e) if errors::is_already_exists(&e) => {}
            Err(e) => return Err(explain(e, &op("create"), &self.target)),
        }
        let mut last = None;
        for _ in 0..CONFLICT_RETRIES {
            let mut current = api.get(&name).await.map_err(|e| explain(e, &op("get"), &self.target))?;
            current.spec = cr.spec.clone();
            current.metadata.labels = cr.metadata.labels.clone();
            current.metadata.annotations = cr.metadata.annotations.clone();
            match api.replace(&name, &PostParams::default(), &current).await {
                Ok(_) => return Ok(()),
                Err(e) if errors::is_conflict(&e) => last = Some(e),
                Err(e) => return Err(explain(e, &op("update"), &self.target)),
            }
        }
        Err(match last {
            Some(e) => explain(e, &op("update"), &self.target),
            None => anyhow::anyhow!("{} could not be updated", op("update")),
        })
    }

    async fn put_secret(&self, s: KubeSecret) -> anyhow::Result<()> {
        let api = self.secrets();
        let name = s.metadata.name.clone().unwrap_or_default();
        let op = |verb| Op { verb, resource: "secrets", name: Some(&name) };
        match api.create(&PostParams::default(), &s).await {
            Ok(_) => return Ok(()),
            Err(e) if errors::is_already_exists(&e) => {}
            Err(e) => return Err(explain(e, &op("create"), &self.target)),
        }
        let mut current = api.get(&name).await.map_err(|e| explain(e, &op("get"), &self.target))?;
        current.data = s.data.clone();
        current.type_ = s.type_.clone();
        current.metadata.labels = s.metadata.labels.clone();
        current.metadata.annotations = s.metadata.annotations.clone();
        api.replace(&name, &PostParams::default(), &current)
            .await
            .map_err(|e| explain(e, &op("update"), &self.target))?;
        Ok(())
    }

    async fn delete<K: Kind>(&self, name: &str) -> anyhow::Result<()> {
        let resource = format!("{}.{GROUP}", K::PLURAL);
        match self.api::<K>().delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if errors::is_not_found(&e) => Ok(()),
            Err(e) => Err(explain(e, &Op { verb: "delete", resource: &resource, name: Some(name) }, &self.target)),
        }
    }

    async fn apply(&self, change: Change) -> anyhow::Result<()> {
        let ns = self.target.namespace.as_str();
        let with_ns = |mut r: Resource| {
            set_namespace(&mut r, ns);
            r
        };
        match change {
            Change::Put(Resource::Secret(s)) => self.put_secret(kube_secret(&s, ns)?).await,
            Change::Put(r) => match with_ns(r) {
                r @ Resource::Site(_) => self.put(Cr::<SiteKind>::from_resource(r).expect("a Site")).await,
                r @ Resource::Link(_) => self.put(Cr::<LinkKind>::from_resource(r).expect("a Link")).await,
                r @ Resource::AccessGrant(_) => {
                    self.put(Cr::<AccessGrantKind>::from_resource(r).expect("an AccessGrant")).await
                }
                r @ Resource::AccessToken(_) => {
                    self.put(Cr::<AccessTokenKind>::from_resource(r).expect("an AccessToken")).await
                }
                r @ Resource::Listener(_) => self.put(Cr::<ListenerKind>::from_resource(r).expect("a Listener")).await,
                r @ Resource::Connector(_) => {
                    self.put(Cr::<ConnectorKind>::from_resource(r).expect("a Connector")).await
                }
                r @ Resource::RouterAccess(_) => {
                    self.put(Cr::<RouterAccessKind>::from_resource(r).expect("a RouterAccess")).await
                }
                r @ Resource::MultiKeyListener(_) => {
                    self.put(Cr::<MultiKeyListenerKind>::from_resource(r).expect("a MultiKeyListener")).await
                }
                Resource::Secret(_) => unreachable!("handled above"),
            },
            Change::Delete { kind, name } => match kind {
                "Site" => self.delete::<SiteKind>(&name).await,
                "Link" => self.delete::<LinkKind>(&name).await,
                "AccessGrant" => self.delete::<AccessGrantKind>(&name).await,
                "AccessToken" => self.delete::<AccessTokenKind>(&name).await,
                "Listener" => self.delete::<ListenerKind>(&name).await,
                "Connector" => self.delete::<ConnectorKind>(&name).await,
                "RouterAccess" => self.delete::<RouterAccessKind>(&name).await,
                "MultiKeyListener" => self.delete::<MultiKeyListenerKind>(&name).await,
                "Secret" => match self.secrets().delete(&name, &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(e) if errors::is_not_found(&e) => Ok(()),
                    Err(e) => {
                        Err(explain(e, &Op { verb: "delete", resource: "secrets", name: Some(&name) }, &self.target))
                    }
                },
                other => Err(anyhow::anyhow!("unknown kind {other}")),
            },
        }
    }

    /// Who holds this namespace's controller Lease now, if anyone does.
    async fn lease_holder(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.target.namespace);
        let Ok(Some(lease)) = leases.get_opt(CONTROLLER_LEASE).await else { return None };
        let spec = lease.spec.unwrap_or_default();
        let (Some(renewed), Some(secs)) = (spec.renew_time, spec.lease_duration_seconds) else { return None };
        let expires = renewed.0.as_second() + i64::from(secs);
        spec.holder_identity.filter(|h| !h.is_empty() && expires >= crate::platform::now_unix())
    }
}

/// Whether `link` is one of the Links a redemption of token `token` made: named like it, or
/// `<token>-<n>` for the groups of an HA site (`grant::links_for_grant`).
pub(crate) fn is_link_of(token: &str, link: &str) -> bool {
    link == token
        || link.strip_prefix(token).and_then(|r| r.strip_prefix('-')).is_some_and(|n| n.parse::<u32>().is_ok())
}

fn set_namespace(r: &mut Resource, ns: &str) {
    let meta = match r {
        Resource::Site(x) => &mut x.metadata,
        Resource::Link(x) => &mut x.metadata,
        Resource::Secret(x) => &mut x.metadata,
        Resource::AccessToken(x) => &mut x.metadata,
        Resource::AccessGrant(x) => &mut x.metadata,
        Resource::Listener(x) => &mut x.metadata,
        Resource::Connector(x) => &mut x.metadata,
        Resource::RouterAccess(x) => &mut x.metadata,
        Resource::MultiKeyListener(x) => &mut x.metadata,
    };
    meta.namespace = Some(ns.to_string());
}

/// The certificate, key and CA of a TLS Secret (a CA's: the certificate and key that sign).
pub(crate) fn issued_from_secret(s: &KubeSecret) -> Option<Issued> {
    let data = s.data.as_ref()?;
    let text = |k: &str| data.get(k).and_then(|v| String::from_utf8(v.0.clone()).ok());
    let cert_pem = text("tls.crt")?;
    let key_pem = text("tls.key")?;
    let ca_pem = text("ca.crt").unwrap_or_else(|| cert_pem.clone());
    Some(Issued { cert_pem, key_pem, ca_pem })
}

impl Debug for KubeNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNamespace")
            .field("server", &self.target.server())
            .field("context", &self.target.context)
            .field("namespace", &self.target.namespace)
            .finish()
    }
}

impl Namespace for KubeNamespace {
    fn platform(&self) -> Platform {
        Platform::Kubernetes
    }

    fn name(&self) -> &str {
        &self.target.namespace
    }

    fn load(&self) -> anyhow::Result<Resources> {
        self.rt.block_on(self.load_all())
    }

    fn observe(&self, res: &Resources) -> Resources {
        // The controller writes every status to the API server.
        res.clone()
    }

    fn commit(&self, changes: Vec<Change>) -> anyhow::Result<()> {
        self.rt.block_on(async {
            for c in changes {
                self.apply(c).await?;
            }
            Ok(())
        })
    }

    fn running(&self) -> bool {
        self.controller().is_some()
    }

    fn start_command(&self) -> &'static str {
        "controller"
    }

    fn endpoints(&self, site: &Site) -> anyhow::Result<Vec<Endpoint>> {
        Ok(site.status.endpoints.clone())
    }

    fn site_ca(&self, site: &Site) -> anyhow::Result<Issued> {
        let name = if site.spec.default_issuer.is_empty() { SITE_CA } else { site.spec.default_issuer.as_str() };
        let op = Op { verb: "get", resource: "secrets", name: Some(name) };
        let secret = self.rt.block_on(self.secrets().get_opt(name)).map_err(|e| explain(e, &op, &self.target))?;
        let Some(secret) = secret else {
            anyhow::bail!(
                "the site's CA (Secret {name:?}) does not exist yet in namespace {}: the controller creates it when \
                 it runs the site",
                self.target.namespace
            );
        };
        issued_from_secret(&secret).ok_or_else(|| anyhow::anyhow!("Secret {name:?} is not a CA (tls.crt and tls.key)"))
    }

    fn issue_grant(&self, _site: &Site, grant: AccessGrant, timeout: Duration) -> anyhow::Result<AccessGrant> {
        // Without a controller nothing would process the grant: say so at once, create nothing.
        if !self.running() {
            anyhow::bail!("{}", self.no_controller());
        }
        let name = grant.name().to_string();
        let mut g = grant;
        g.metadata.uid = None; // the API server assigns it
        self.commit(vec![Change::Put(Resource::AccessGrant(g))])?;
        let processed =
            self.rt.block_on(self.poll::<AccessGrantKind, _>(&name, "Waiting for token status ...", timeout, |g| {
                let g = g?;
                let st = g.status.as_ref()?;
                let processed = st.status.condition(skupper_core::resources::condition::PROCESSED)?;
                if processed.reason == "Error" {
                    return Some(Err(processed.message.clone()));
                }
                (!st.url.is_empty() && !st.code.is_empty() && !st.ca.is_empty() && st.status.status == "Ready")
                    .then(|| Ok(g.to_resource()))
            }))?;
        match processed {
            Some(Ok(Resource::AccessGrant(g))) => Ok(g),
            Some(Ok(_)) => anyhow::bail!("grant {name:?} is not a grant"),
            Some(Err(msg)) => {
                let _ = self.commit(vec![Change::Delete { kind: AccessGrant::KIND, name: name.clone() }]);
                anyhow::bail!("grant {name:?} cannot be used: {msg}")
            }
            None => anyhow::bail!("grant {name:?} not ready yet, check the status for more information"),
        }
    }

    fn redeem(&self, res: &Resources, token: &AccessToken, timeout: Duration) -> Result<Vec<Link>, TokenRedeemError> {
        let name = token.name().to_string();
        if let Some(existing) = res.tokens.get(&name) {
            if existing.status.redeemed {
                return Err(TokenRedeemError::AlreadyRedeemed { what: format!("AccessToken {name:?}") });
            }
        } else if res.links.contains_key(&name) {
            return Err(TokenRedeemError::AlreadyRedeemed { what: format!("Link {name:?}") });
        } else if res.secrets.contains_key(&name) {
            return Err(TokenRedeemError::AlreadyRedeemed { what: format!("Secret {name:?}") });
        }
        if !self.running() {
            return Err(TokenRedeemError::Other(anyhow::anyhow!("{}", self.no_controller())));
        }
        let failed_before = res
            .tokens
            .get(&name)
            .and_then(|t| t.status.status.condition(skupper_core::resources::condition::REDEEMED))
            .is_some_and(|c| c.reason == "Error");
        if failed_before {
            // A new attempt with the same file: the old object's refusal is final, so start afresh.
            self.commit(vec![Change::Delete { kind: AccessToken::KIND, name: name.clone() }])?;
        }
        let mut t = token.clone();
        t.status = Default::default();
        t.metadata.uid = None;
        self.commit(vec![Change::Put(Resource::AccessToken(t))])?;
        let outcome =
            self.rt.block_on(self.poll::<AccessTokenKind, _>(&name, "Waiting for token status ...", timeout, |t| {
                let st = t?.status.as_ref()?;
                let c = st.status.condition(skupper_core::resources::condition::REDEEMED)?;
                if st.redeemed {
                    Some(Ok(()))
                } else if c.reason == "Error" {
                    Some(Err(c.message.clone()))
                } else {
                    None
                }
            }))?;
        match outcome {
            Some(Ok(())) => {
                let links = self.load()?.links.into_values().filter(|l| is_link_of(&name, l.name())).collect();
                Ok(links)
            }
            Some(Err(msg)) => Err(TokenRedeemError::Reported(msg)),
            None => {
                let last = self
                    .load()
                    .ok()
                    .and_then(|r| r.tokens.get(&name).map(|t| t.status.status.message.clone()))
                    .filter(|m| !m.is_empty());
                Err(TokenRedeemError::Reported(match last {
                    Some(m) => format!("Token {name:?} redeem not ready yet: {m}"),
                    None => format!("Token {name:?} redeem not ready yet, check the status for more information"),
                }))
            }
        }
    }

    fn wait(&self, kind: &'static str, name: &str, until: Until, timeout: Duration) -> anyhow::Result<Waited> {
        fn check<K: Kind>(o: Option<&Cr<K>>, until: Until, status_of: fn(&K::Status) -> &Status) -> Option<Waited> {
            let o = o?;
            let st = status_of(o.status.as_ref()?);
            // Only a status computed from the latest spec answers this change.
            let current = st.conditions.iter().all(|c| c.observed_generation >= o.metadata.generation);
            if st.conditions.is_empty() || !current {
                return None;
            }
            let configured = st.condition(condition::CONFIGURED);
            if let Some(c) = configured.filter(|c| c.reason == "Error") {
                return Some(Waited::Failed(c.message.clone()));
            }
            let done = match until {
                Until::Ready => st.status == "Ready",
                Until::Configured => configured.is_some_and(|c| c.is_true()),
            };
            done.then_some(Waited::Reached)
        }
        let message = "Waiting for status...";
        let got = self.rt.block_on(async {
            match kind {
                "Site" => self.poll::<SiteKind, _>(name, message, timeout, |o| check(o, until, |s| &s.status)).await,
                "Link" => self.poll::<LinkKind, _>(name, message, timeout, |o| check(o, until, |s| &s.status)).await,
                "Listener" => {
                    self.poll::<ListenerKind, _>(name, message, timeout, |o| check(o, until, |s| &s.status)).await
                }
                "Connector" => {
                    self.poll::<ConnectorKind, _>(name, message, timeout, |o| check(o, until, |s| &s.status)).await
                }
                "MultiKeyListener" => {
                    self.poll::<MultiKeyListenerKind, _>(name, message, timeout, |o| check(o, until, |s| &s.status))
                        .await
                }
                other => Err(anyhow::anyhow!("cannot wait for a {other}")),
            }
        })?;
        Ok(match got {
            Some(w) => w,
            None => {
                let res = self.load()?;
                let msg = match kind {
                    "Site" => res.site.map(|s| s.status.status.message),
                    "Link" => res.links.get(name).map(|l| l.status.status.message.clone()),
                    "Listener" => res.listeners.get(name).map(|l| l.status.status.message.clone()),
                    "MultiKeyListener" => res.multi_key_listeners.get(name).map(|l| l.status.status.message.clone()),
                    _ => res.connectors.get(name).map(|c| c.status.status.message.clone()),
                };
                Waited::TimedOut(msg.unwrap_or_default())
            }
        })
    }

    fn routers(&self) -> Vec<RouterReport> {
        let Some(controller) = self.controller() else { return Vec::new() };
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.target.namespace);
        let Ok(Some(cm)) = self.rt.block_on(maps.get_opt(NETWORK_STATUS)) else { return Vec::new() };
        let Some(text) = cm.data.as_ref().and_then(|d| d.get(NETWORK_STATUS_KEY)) else { return Vec::new() };
        let Ok(status) = serde_yaml::from_str::<RouterStatusFile>(text) else { return Vec::new() };
        vec![RouterReport {
            group: skupper_core::resources::GROUP_PRIMARY.into(),
            pid: None,
            controller: Some(controller),
            status,
        }]
    }

    fn as_kube(&self) -> Option<&KubeNamespace> {
        Some(self)
    }
}
