//! Known Links: with `--links-from`, the webhook host watches every Link of the cluster (a kube-runtime
//! reflector on the Kubernetes platform's client, configured the kubectl way) and hands them to
//! the policy as `knownLinks`, so `forbidDuplicatePeers` can refuse a second Link to a peer that
//! a Link of the same namespace already reaches (skupper#2077).
//!
//! The cache answers: a review whose Link shares no endpoint host with another Link of its
//! namespace is evaluated with the cached list. A cache lags the API server by a watch event,
//! so when the cache (or a Link this webhook admitted moments ago and the watch has not shown
//! yet) holds a possible twin, the namespace's Links are read fresh from the API server and the
//! policy decides on those: a deleted or changed Link never causes a refusal, and a Link this
//! webhook admitted just before is not missed while the watch catches up. Left open: two Links
//! admitted concurrently can both pass (admission is not a transaction), and a Link admitted by
//! another replica is known only once the watch shows it (a watch event, typically milliseconds).
//!
//! Without the `kubernetes` feature, `--links-from` is refused at start-up.

use std::path::PathBuf;

/// Where to watch Links from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The pod's service account (what the Deployment from `webhook manifest` uses).
    InCluster,
    /// A kubeconfig file (its current context).
    Kubeconfig(PathBuf),
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Err("give `in-cluster` or the path of a kubeconfig file".into()),
            "in-cluster" => Ok(Self::InCluster),
            path => Ok(Self::Kubeconfig(PathBuf::from(path))),
        }
    }
}

#[cfg(feature = "kubernetes")]
pub(crate) use self::watch::KnownLinks;

#[cfg(feature = "kubernetes")]
mod watch {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use futures::StreamExt as _;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
    use kube::runtime::reflector::{self, Store};
    use kube::runtime::{WatchStreamExt as _, watcher};
    use kube::{Api, ResourceExt as _};
    use serde_json::Value;

    use skupper_webhook_host::known_links::{BoxFuture, LinkCatalog, Reviewed, allowed, known_link, with_known_links};

    use super::Source;
    use crate::platform::kube::client::{self, Selection};

    /// How long start-up waits for the first full list of Links.
    const FIRST_LIST: Duration = Duration::from_secs(30);
    /// How long a fresh read may take inside a review (the API server gives the webhook 5 s by
    /// default); past it the cached view decides.
    const FRESH_READ: Duration = Duration::from_secs(2);
    /// How long a Link this webhook admitted is remembered while the watch has not shown it.
    const RECENT: Duration = Duration::from_secs(60);
    /// Watches hold a request open for minutes.
    const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(295);

    /// A Link this webhook admitted, not yet seen by the watch.
    struct Recent {
        link: Reviewed,
        at: Instant,
    }

    /// The cluster's Links, watched, and the settings the policy gets with them.
    pub(crate) struct KnownLinks {
        store: Store<DynamicObject>,
        client: kube::Client,
        resource: ApiResource,
        /// The policy's own settings (the operator's `--settings`).
        base: Vec<u8>,
        /// Bumped by every watch event.
        generation: Arc<AtomicU64>,
        /// Settings with every cached Link, and the generation they were built at.
        cached: Mutex<(u64, Arc<Vec<u8>>)>,
        recent: Mutex<Vec<Recent>>,
    }

    fn link_resource() -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("skupper.io", "v2alpha1", "Link"), "links")
    }

    fn data_spec(o: &DynamicObject) -> &Value {
        o.data.get("spec").unwrap_or(&Value::Null)
    }

    impl KnownLinks {
        /// Connects as kubectl would (`source`: a kubeconfig file, or the pod's service account),
        /// checks that Links can be listed, starts the watch and waits for its first full list.
        pub(crate) async fn start(source: &Source, base: Vec<u8>) -> anyhow::Result<Arc<Self>> {
            let selection = match source {
                Source::InCluster => {
                    anyhow::ensure!(
                        client::in_cluster(),
                        "--links-from in-cluster works only in a pod (no KUBERNETES_SERVICE_HOST or no service \
                         account token); give the path of a kubeconfig file instead"
                    );
                    Selection::default()
                }
                Source::Kubeconfig(p) => {
                    Selection { kubeconfig: Some(p.display().to_string()), ..Selection::default() }
                }
            };
            let mut target = client::resolve(&selection).await?;
            target.config.read_timeout = Some(WATCH_READ_TIMEOUT);
            let server = target.server();
            let client = kube::Client::try_from(target.config)
                .map_err(|e| anyhow::anyhow!("cannot set up the Kubernetes client for {server}: {e}"))?;
            let resource = link_resource();
            let all: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            // RBAC and connection problems show at start-up, with what to do.
            all.list(&ListParams::default().limit(1)).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot list Links at {server} for the duplicate-peer rule (--links-from): {e}; the webhook \
                     needs get, list and watch on links.skupper.io in every namespace, and the Link CRD installed"
                )
            })?;
            let writer = reflector::store::Writer::new(resource.clone());
            let store = writer.as_reader();
            let generation = Arc::new(AtomicU64::new(0));
            let stream = reflector::reflector(writer, watcher(all, watcher::Config::default()).default_backoff());
            let bumps = generation.clone();
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                let mut failing = false;
                while let Some(event) = stream.next().await {
                    bumps.fetch_add(1, Ordering::SeqCst);
                    match event {
                        Ok(_) => {
                            if std::mem::take(&mut failing) {
                                tracing::info!(target: "webhook", "watching Links works again");
                            }
                        }
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(
                                target: "webhook",
                                "watching Links failed: {e}; retrying, the cached Links stay in use"
                            );
                        }
                        Err(_) => {}
                    }
                }
            });
            tokio::time::timeout(FIRST_LIST, store.wait_until_ready())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("the first list of Links did not arrive within {}s", FIRST_LIST.as_secs())
                })?
                .context("the Links watch stopped")?;
            let links = Arc::new(Self {
                store,
                client,
                resource,
                base,
                generation,
                cached: Mutex::new((u64::MAX, Arc::new(Vec::new()))),
                recent: Mutex::new(Vec::new()),
            });
            tracing::info!(target: "webhook", "watching Links at {server} ({} Links known)", links.store.state().len());
            Ok(links)
        }

        /// The settings for evaluating `review`: the cached Links, or, when the cache or a recent
        /// admission holds a possible twin of the reviewed Link, the namespace's Links read fresh.
        pub(crate) async fn settings_for(&self, review: &[u8]) -> anyhow::Result<Arc<Vec<u8>>> {
            let Some(link) = Reviewed::from_review(review) else { return self.cached() };
            let cached = self.store.state();
            let in_cache = cached
                .iter()
                .any(|o| link.may_duplicate(&o.namespace().unwrap_or_default(), &o.name_any(), data_spec(o)));
            let in_recent = {
                let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
                recent.retain(|r| r.at.elapsed() < RECENT && !self.seen(&r.link));
                recent.iter().any(|r| link.may_duplicate(&r.link.namespace, &r.link.name, &r.link.spec))
            };
            if !in_cache && !in_recent {
                return self.cached();
            }
            match tokio::time::timeout(FRESH_READ, self.fresh(&link.namespace, &cached)).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => {
                    tracing::warn!(target: "webhook", "{e:#}; deciding on the cached Links");
                    self.cached()
                }
                Err(_) => {
                    tracing::warn!(
                        target: "webhook",
                        "reading the Links of {} took over {} ms; deciding on the cached Links",
                        link.namespace,
                        FRESH_READ.as_millis()
                    );
                    self.cached()
                }
            }
        }

        /// Remembers a Link this webhook just admitted (not for dry runs) until the watch shows it.
        pub(crate) fn admitted(&self, review: &[u8], answer: &[u8]) {
            let Some(link) = Reviewed::from_review(review) else { return };
            if link.dry_run || !allowed(answer) {
                return;
            }
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.retain(|r| !(r.link.namespace == link.namespace && r.link.name == link.name));
            recent.push(Recent { link, at: Instant::now() });
        }

        /// Whether the cache holds `link` as admitted (same endpoints).
        fn seen(&self, link: &Reviewed) -> bool {
            self.store.state().iter().any(|o| {
                o.namespace().as_deref() == Some(link.namespace.as_str())
                    && o.name_any() == link.name
                    && data_spec(o).get("endpoints") == link.spec.get("endpoints")
            })
        }

        /// Settings with every cached Link, rebuilt when the watch has changed the cache.
        fn cached(&self) -> anyhow::Result<Arc<Vec<u8>>> {
            let generation = self.generation.load(Ordering::SeqCst);
            let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            if cached.0 != generation {
                let links = self.store.state();
                let settings = self.settings(links.iter().map(|o| o.as_ref()))?;
                *cached = (generation, Arc::new(settings));
            }
            Ok(cached.1.clone())
        }

        /// Settings with the cached Links of other namespaces and `namespace`'s read now.
        async fn fresh(&self, namespace: &str, cached: &[Arc<DynamicObject>]) -> anyhow::Result<Arc<Vec<u8>>> {
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &self.resource);
            let now = api
                .list(&ListParams::default())
                .await
                .with_context(|| format!("cannot list the Links of namespace {namespace}"))?;
            let others = cached.iter().map(|o| o.as_ref()).filter(|o| o.namespace().as_deref() != Some(namespace));
            Ok(Arc::new(self.settings(others.chain(now.items.iter()))?))
        }

        fn settings<'a>(&self, links: impl Iterator<Item = &'a DynamicObject>) -> anyhow::Result<Vec<u8>> {
            let known = links.filter_map(|o| known_link(o.namespace().as_deref(), &o.name_any(), data_spec(o)));
            with_known_links(&self.base, known.collect())
        }
    }

    impl LinkCatalog for KnownLinks {
        fn settings_for<'a>(&'a self, review: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Arc<Vec<u8>>>> {
            Box::pin(Self::settings_for(self, review))
        }

        fn admitted(&self, review: &[u8], answer: &[u8]) {
            Self::admitted(self, review, answer);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_flag_names_in_cluster_or_a_kubeconfig() {
        assert_eq!("in-cluster".parse::<Source>().unwrap(), Source::InCluster);
        assert_eq!("/k".parse::<Source>().unwrap(), Source::Kubeconfig("/k".into()));
        assert!("".parse::<Source>().is_err());
    }
}
