//! The grant server's store on the local platform: grants are the site's `AccessGrant` files,
//! read afresh for every redemption, and a redemption is recorded by rewriting the grant's file
//! only if it still holds what was read.

use skupper_core::resources::{AccessGrant, Resource};

use super::{Home, read_resource_file, write_atomic};
use crate::grant::server::{GrantSite, GrantStore, StoreError, StoredGrant};
use crate::platform::resources::resource_yaml;

/// Grants and site of one local namespace.
#[derive(Debug, Clone)]
pub(crate) struct LocalGrantStore {
    home: Home,
}

impl LocalGrantStore {
    /// The store of the site in `home`.
    pub(crate) fn new(home: Home) -> Self {
        Self { home }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Failed(anyhow::anyhow!("the grant store's worker failed: {e}")))?
}

impl GrantStore for LocalGrantStore {
    fn namespace(&self) -> &str {
        &self.home.namespace
    }

    async fn grant(&self, uid: &str) -> Result<Option<StoredGrant>, StoreError> {
        let home = self.home.clone();
        let uid = uid.to_string();
        blocking(move || {
            let (res, _) = home.load_lenient().map_err(|e| e.context("cannot read the site's resources"))?;
            let Some(grant) = res.grants.into_values().find(|g| g.metadata.uid.as_deref() == Some(uid.as_str())) else {
                return Ok(None);
            };
            let version = resource_yaml(&Resource::AccessGrant(grant.clone()))?;
            Ok(Some(StoredGrant { grant, version }))
        })
        .await
    }

    async fn site(&self) -> Result<GrantSite, StoreError> {
        let home = self.home.clone();
        blocking(move || {
            let (res, _) = home.load_lenient().map_err(|e| e.context("cannot read the site's resources"))?;
            let Some(site) = res.site else { return Ok(GrantSite::default()) };
            let endpoints = match home.access() {
                Ok(Some(a)) if site.spec.link_access_enabled() => a.endpoints(),
                _ => Vec::new(),
            };
            let ca = home.site_ca(site.name()).ok();
            Ok(GrantSite { site: Some(site), endpoints, ca })
        })
        .await
    }

    async fn record(&self, stored: &StoredGrant, redemptions: i64) -> Result<(), StoreError> {
        let home = self.home.clone();
        let stored = stored.clone();
        blocking(move || {
            let path = home.resource_path(AccessGrant::KIND, stored.grant.name());
            let now = read_resource_file(&path)
                .and_then(|r| resource_yaml(&r))
                .map_err(|e| e.context(format!("reading {}", path.display())))?;
            if now != stored.version {
                return Err(StoreError::Conflict);
            }
            let mut updated = stored.grant;
            updated.status.redemptions = redemptions;
            let text = resource_yaml(&Resource::AccessGrant(updated))?;
            write_atomic(&path, text.as_bytes(), 0o600)?;
            Ok(())
        })
        .await
    }
}
