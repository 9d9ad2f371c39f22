//! AccessGrants on Kubernetes: the controller processes each grant once (url, code, CA, expiry:
//! the same [`crate::grant::process`] as the local platform) and its grant server redeems them
//! through [`KubeGrantStore`]: the grant read fresh from the API server, the redemption recorded
//! with a status write that carries the resourceVersion it read, so a redemption is counted
//! exactly once however many requests (or controllers) race.

use std::sync::{Arc, RwLock};

use kube::Api;
use kube::api::PostParams;
use kube::runtime::reflector::Store;
use skupper_core::resources::{Condition, condition};

use super::status::{observed, write_status};
use crate::grant::server::{GrantSite, GrantStore, StoreError, StoredGrant};
use crate::grant::{GRANT_REQUIRED, process};
use crate::platform::kube::cr::{AccessGrantKind, Cr, KAccessGrant};
use crate::platform::kube::errors;
use crate::platform::{now_rfc3339, now_unix};

/// The grant server's view of the namespace.
#[derive(Clone)]
pub(crate) struct KubeGrantStore {
    namespace: String,
    api: Api<KAccessGrant>,
    grants: Store<KAccessGrant>,
    site: Arc<RwLock<GrantSite>>,
}

impl KubeGrantStore {
    /// A store over the namespace's grants; `site` is kept current by the controller.
    pub(crate) fn new(
        client: &kube::Client,
        namespace: &str,
        grants: Store<KAccessGrant>,
        site: Arc<RwLock<GrantSite>>,
    ) -> Self {
        Self { namespace: namespace.into(), api: Api::namespaced(client.clone(), namespace), grants, site }
    }
}

impl GrantStore for KubeGrantStore {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    async fn grant(&self, uid: &str) -> Result<Option<StoredGrant>, StoreError> {
        let Some(cached) = self.grants.find(|g| g.metadata.uid.as_deref() == Some(uid)) else { return Ok(None) };
        // The cache may lag: the count and its version come from the API server itself.
        let fresh = match self.api.get(cached.name()).await {
            Ok(g) => g,
            Err(e) if errors::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(StoreError::Failed(anyhow::anyhow!("reading grant {}: {e}", cached.name()))),
        };
        if fresh.metadata.uid.as_deref() != Some(uid) {
            return Ok(None);
        }
        let version = fresh.metadata.resource_version.clone().unwrap_or_default();
        let skupper_core::resources::Resource::AccessGrant(grant) = fresh.to_resource() else {
            return Ok(None);
        };
        Ok(Some(StoredGrant { grant, version }))
    }

    async fn site(&self) -> Result<GrantSite, StoreError> {
        Ok(self.site.read().map_err(|_| StoreError::Failed(anyhow::anyhow!("the site state is poisoned")))?.clone())
    }

    async fn record(&self, stored: &StoredGrant, redemptions: i64) -> Result<(), StoreError> {
        let Some(mut obj) =
            Cr::<AccessGrantKind>::from_resource(skupper_core::resources::Resource::AccessGrant(stored.grant.clone()))
        else {
            return Err(StoreError::Failed(anyhow::anyhow!("not a grant")));
        };
        obj.metadata.namespace = Some(self.namespace.clone());
        obj.metadata.uid = stored.grant.metadata.uid.clone();
        obj.metadata.resource_version = Some(stored.version.clone());
        let mut status = stored.grant.status.clone();
        status.redemptions = redemptions;
        obj.status = Some(status);
        match self.api.replace_status(stored.grant.name(), &PostParams::default(), &obj).await {
            Ok(_) => Ok(()),
            Err(e) if errors::is_conflict(&e) => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::Failed(anyhow::anyhow!("recording the redemption: {e}"))),
        }
    }
}

/// What grants are processed against: the grant server's URL base and CA, or why there is none.
pub(crate) enum GrantIssuer<'a> {
    /// The site accepts links: grants get `url_base/<uid>` and the CA.
    Ready {
        /// `https://host:port`.
        url_base: &'a str,
        /// PEM of the grant server's CA.
        ca_pem: &'a str,
    },
    /// No active site, an edge site or no link access: the condition to report.
    Unavailable(Condition),
}

/// Processes every grant that needs it (new, or issued for another URL or CA) and writes its
/// status; a grant that cannot be processed gets the reason in its status.
pub(crate) async fn process_all(api: &Api<KAccessGrant>, grants: &Store<KAccessGrant>, issuer: &GrantIssuer<'_>) {
    let now = now_rfc3339();
    for g in grants.state() {
        let mut status = g.status.clone().unwrap_or_default();
        match issuer {
            GrantIssuer::Ready { url_base, ca_pem } => {
                let uid = g.metadata.uid.clone().unwrap_or_default();
                let processed = status.status.condition(condition::PROCESSED).is_some();
                if processed && status.url == format!("{url_base}/{uid}") && status.ca == *ca_pem {
                    continue;
                }
                let skupper_core::resources::Resource::AccessGrant(mut core) = g.to_resource() else { continue };
                if let Err(e) = process(&mut core, url_base, ca_pem, now_unix()) {
                    tracing::warn!(target: "controller", "grant {}: {e:#}", g.name());
                    continue;
                }
                status = core.status;
            }
            GrantIssuer::Unavailable(c) => {
                if status.status.condition(&c.type_).is_some_and(|x| x.message == c.message && x.status == c.status) {
                    continue;
                }
                status.status.set_condition(c.clone(), GRANT_REQUIRED, Some(&now));
            }
        }
        observed(&mut status.status, g.metadata.generation);
        let url = status.url.clone();
        match write_status(api, &g, status).await {
            Ok(true) if !url.is_empty() => {
                tracing::info!(target: "controller", "grant {} processed: {url}", g.name())
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "controller", "grant {}: {e:#}", g.name()),
        }
    }
}
