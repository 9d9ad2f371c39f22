//! What the controller knows of its namespace: a reflector (watch + local cache) per kind and
//! for Secrets, each event waking the reconcile loop, and the namespace as core `Resources`
//! for the platform-neutral code (router configuration, status rules).

use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, Secret as KubeSecret, Service};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::Notify;

use crate::platform::kube::cr::{
    Cr, KAccessGrant, KAccessToken, KConnector, KLink, KListener, KMultiKeyListener, KRouterAccess, KSite, Kind,
    core_secret,
};
use crate::platform::resources::Resources;
use skupper_core::resources::Resource;

/// The caches of every kind the controller reads.
#[derive(Clone)]
pub(crate) struct Stores {
    /// Sites.
    pub sites: Store<KSite>,
    /// Links.
    pub links: Store<KLink>,
    /// AccessGrants.
    pub grants: Store<KAccessGrant>,
    /// AccessTokens.
    pub tokens: Store<KAccessToken>,
    /// Listeners.
    pub listeners: Store<KListener>,
    /// Connectors.
    pub connectors: Store<KConnector>,
    /// MultiKeyListeners; `None` where the cluster lacks their CRD (installed before there was
    /// one: `kubectl skupper install` adds it).
    pub multi_key_listeners: Option<Store<KMultiKeyListener>>,
    /// RouterAccesses.
    pub accesses: Store<KRouterAccess>,
    /// Secrets.
    pub secrets: Store<KubeSecret>,
    /// Pods (what Connector selectors pick from).
    pub pods: Store<Pod>,
    /// Services (in-cluster mode: the controller's own, for link access and listeners).
    pub services: Option<Store<Service>>,
}

/// Starts a reflector over `api`; every change notifies `notify`.
fn reflect<K>(api: Api<K>, notify: Arc<Notify>, what: &'static str) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut failing = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(target: "controller", "watching {what} works again");
                    }
                    notify.notify_one();
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(target: "controller", "watching {what} failed: {e}; retrying");
                }
                Err(_) => {}
            }
        }
    });
    reader
}

impl Stores {
    /// Starts watching `namespace` (and its Services, `with_services`) and waits until every cache
    /// holds its first full list.
    pub(crate) async fn start(
        client: &kube::Client,
        namespace: &str,
        notify: Arc<Notify>,
        with_services: bool,
    ) -> anyhow::Result<Self> {
        let c = || client.clone();
        // A cluster installed before MultiKeyListener existed has no such CRD: run without it
        // (watching a kind the API server does not know would never list, and block the start).
        let mkl_api: Api<KMultiKeyListener> = Api::namespaced(c(), namespace);
        let with_mkl = match mkl_api.list(&kube::api::ListParams::default().limit(1)).await {
            Err(kube::Error::Api(e)) if e.code == 404 => {
                tracing::warn!(
                    target: "controller",
                    "MultiKeyListeners are not watched: the cluster has no CRD for them; run kubectl skupper install"
                );
                false
            }
            _ => true,
        };
        let stores = Self {
            sites: reflect::<KSite>(Api::namespaced(c(), namespace), notify.clone(), "sites"),
            links: reflect::<KLink>(Api::namespaced(c(), namespace), notify.clone(), "links"),
            grants: reflect::<KAccessGrant>(Api::namespaced(c(), namespace), notify.clone(), "accessgrants"),
            tokens: reflect::<KAccessToken>(Api::namespaced(c(), namespace), notify.clone(), "accesstokens"),
            listeners: reflect::<KListener>(Api::namespaced(c(), namespace), notify.clone(), "listeners"),
            connectors: reflect::<KConnector>(Api::namespaced(c(), namespace), notify.clone(), "connectors"),
            multi_key_listeners: with_mkl.then(|| reflect(mkl_api, notify.clone(), "multikeylisteners")),
            accesses: reflect::<KRouterAccess>(Api::namespaced(c(), namespace), notify.clone(), "routeraccesses"),
            secrets: reflect::<KubeSecret>(Api::namespaced(c(), namespace), notify.clone(), "secrets"),
            pods: reflect::<Pod>(Api::namespaced(c(), namespace), notify.clone(), "pods"),
            services: with_services.then(|| reflect::<Service>(Api::namespaced(c(), namespace), notify, "services")),
        };
        let ready = async {
            stores.sites.wait_until_ready().await?;
            stores.links.wait_until_ready().await?;
            stores.grants.wait_until_ready().await?;
            stores.tokens.wait_until_ready().await?;
            stores.listeners.wait_until_ready().await?;
            stores.connectors.wait_until_ready().await?;
            if let Some(s) = &stores.multi_key_listeners {
                s.wait_until_ready().await?;
            }
            stores.accesses.wait_until_ready().await?;
            stores.pods.wait_until_ready().await?;
            if let Some(s) = &stores.services {
                s.wait_until_ready().await?;
            }
            stores.secrets.wait_until_ready().await
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), ready)
            .await
            .map_err(|_| anyhow::anyhow!("the API server did not list the namespace's resources within 60s"))?
            .map_err(|e| anyhow::anyhow!("watching the namespace failed: {e}"))?;
        Ok(stores)
    }

    /// The active Site: the oldest (upstream), by creation time then name.
    pub(crate) fn active_site(&self) -> Option<Arc<KSite>> {
        let mut sites = self.sites.state();
        sites.sort_by_key(|s| (s.metadata.creation_timestamp.as_ref().map(|t| t.0), s.name().to_string()));
        sites.into_iter().next()
    }

    /// The namespace as core resources, with the active Site only.
    pub(crate) fn resources(&self) -> Resources {
        let mut res = Resources::default();
        if let Some(site) = self.active_site() {
            res.insert(site.to_resource());
        }
        fn add<K: Kind>(res: &mut Resources, store: &Store<Cr<K>>) {
            for o in store.state() {
                res.insert(o.to_resource());
            }
        }
        add(&mut res, &self.links);
        add(&mut res, &self.grants);
        add(&mut res, &self.tokens);
        add(&mut res, &self.listeners);
        add(&mut res, &self.connectors);
        if let Some(m) = &self.multi_key_listeners {
            add(&mut res, m);
        }
        add(&mut res, &self.accesses);
        for s in self.secrets.state() {
            res.insert(Resource::Secret(core_secret(&s)));
        }
        res
    }

    /// A Secret by name.
    pub(crate) fn secret(&self, name: &str) -> Option<Arc<KubeSecret>> {
        self.secrets.find(|s| s.metadata.name.as_deref() == Some(name))
    }
}

/// The object named `name` in a store.
pub(crate) fn by_name<K: Kind>(store: &Store<Cr<K>>, name: &str) -> Option<Arc<Cr<K>>> {
    store.find(|o| o.name() == name)
}
