//! The router's view of the network for the CLI: the same snapshot the local site process writes
//! to its status file ([`RouterStatusFile`]: routers, links and costs, incoming links, listener
//! routing), kept in the ConfigMap `skupper-network-status` (upstream keeps its network status in
//! a ConfigMap of that name too), rewritten only when it changes.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::PostParams;

use crate::platform::kube::errors;
use crate::platform::kube::{NETWORK_STATUS, NETWORK_STATUS_KEY};
use crate::platform::status::RouterStatusFile;

/// Writes the snapshot unless the ConfigMap holds it already; `last` is what was written last.
pub(crate) async fn publish(
    client: &kube::Client,
    namespace: &str,
    snapshot: &RouterStatusFile,
    owner: &OwnerReference,
    last: &mut Option<String>,
) -> anyhow::Result<()> {
    let text = serde_yaml::to_string(snapshot)?;
    if last.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(NETWORK_STATUS.into()),
            owner_references: Some(vec![owner.clone()]),
            labels: Some([("app.kubernetes.io/managed-by".to_string(), "kubectl-skupper".to_string())].into()),
            ..Default::default()
        },
        data: Some([(NETWORK_STATUS_KEY.to_string(), text.clone())].into()),
        ..Default::default()
    };
    let written = match api.get_opt(NETWORK_STATUS).await? {
        None => api.create(&PostParams::default(), &cm).await.map(|_| ()),
        Some(old) => {
            cm.metadata.resource_version = old.metadata.resource_version;
            api.replace(NETWORK_STATUS, &PostParams::default(), &cm).await.map(|_| ())
        }
    };
    match written {
        Ok(()) => {
            *last = Some(text);
            Ok(())
        }
        Err(e) if errors::is_conflict(&e) || errors::is_already_exists(&e) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("writing the ConfigMap {NETWORK_STATUS}: {e}")),
    }
}
