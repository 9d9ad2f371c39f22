//! What `kubectl skupper install` puts into a cluster, once, as a cluster administrator: the seven
//! CRDs and two ClusterRoles: `skupper-controller` (what a controller needs in the namespace it
//! runs, bound there by its RoleBinding) and `skupper-edit` (the `skupper.io` resources for people,
//! aggregated into the built-in `edit` and `admin` roles). Applied with server-side apply, so a
//! second install changes nothing; `uninstall` removes exactly these objects.

use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::client::Target;
use super::crd;
use super::errors::{self, Op, explain};

/// Field manager of every write `install` makes.
pub const FIELD_MANAGER: &str = "kubectl-skupper";
/// The controller's ClusterRole.
pub const CONTROLLER_ROLE: &str = "skupper-controller";
/// The ClusterRole for people who manage sites.
pub const EDIT_ROLE: &str = "skupper-edit";
/// How long `install` waits for the CRDs to be Established.
pub const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

const SKUPPER_RESOURCES: [&str; 7] =
    ["sites", "links", "listeners", "connectors", "accessgrants", "accesstokens", "routeraccesses"];

fn labels() -> Value {
    json!({"app.kubernetes.io/part-of": "skupper", "app.kubernetes.io/managed-by": "kubectl-skupper"})
}

/// The controller's ClusterRole (bound per namespace by a RoleBinding).
pub fn controller_role() -> Value {
    let status: Vec<String> = SKUPPER_RESOURCES.iter().map(|r| format!("{r}/status")).collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CONTROLLER_ROLE, "labels": labels()},
        "rules": [
            {"apiGroups": ["skupper.io"], "resources": SKUPPER_RESOURCES,
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["skupper.io"], "resources": status, "verbs": ["get", "update", "patch"]},
            {"apiGroups": [""], "resources": ["secrets", "services"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
        ]
    })
}

/// The ClusterRole for people: every `skupper.io` resource, aggregated into `edit` and `admin`.
pub fn edit_role() -> Value {
    let mut l = labels();
    l["rbac.authorization.k8s.io/aggregate-to-edit"] = json!("true");
    l["rbac.authorization.k8s.io/aggregate-to-admin"] = json!("true");
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": EDIT_ROLE, "labels": l},
        "rules": [
            {"apiGroups": ["skupper.io"], "resources": SKUPPER_RESOURCES,
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]},
            {"apiGroups": ["skupper.io"],
             "resources": SKUPPER_RESOURCES.iter().map(|r| format!("{r}/status")).collect::<Vec<_>>(),
             "verbs": ["get"]}
        ]
    })
}

/// Every object `install` applies: the CRDs, then the ClusterRoles.
pub fn objects() -> Vec<Value> {
    let mut v = crd::all_values();
    v.push(controller_role());
    v.push(edit_role());
    v
}

/// `kind.group/name`, as kubectl names objects in its output.
pub fn kubectl_name(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
    let group = obj["apiVersion"].as_str().unwrap_or_default().split('/').next().unwrap_or_default().to_string();
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if obj["apiVersion"].as_str().is_some_and(|a| a.contains('/')) {
        format!("{kind}.{group}/{name}")
    } else {
        format!("{kind}/{name}")
    }
}

/// `customresourcedefinitions.apiextensions.k8s.io`: the resource (plural) an object is of.
fn resource_name(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
    let group = obj["apiVersion"].as_str().unwrap_or_default().split('/').next().unwrap_or_default().to_string();
    format!("{kind}s.{group}")
}

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed as it is.
    Unchanged,
}

impl Outcome {
    /// kubectl's word.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

async fn apply_one<K>(api: &Api<K>, obj: &Value, dry_run: bool, target: &Target) -> anyhow::Result<Outcome>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let resource = resource_name(obj);
    let op = |verb| Op { verb, resource: &resource, name: Some(name) };
    let before = api.get_opt(name).await.map_err(|e| explain(e, &op("get"), target))?;
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let after = api.patch(name, &params, &Patch::Apply(obj)).await.map_err(|e| explain(e, &op("apply"), target))?;
    Ok(match before {
        None => Outcome::Created,
        Some(b) if b.meta().resource_version == after.meta().resource_version => Outcome::Unchanged,
        Some(_) => Outcome::Configured,
    })
}

/// Applies every object (server-side apply, forced, as field manager `kubectl-skupper`), calling
/// `report` with each object's kubectl name and outcome; with `dry_run` the server checks and
/// reports but stores nothing.
pub async fn install(
    client: &kube::Client,
    target: &Target,
    dry_run: bool,
    mut report: impl FnMut(&str, Outcome),
) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for obj in objects() {
        let outcome = if obj["kind"] == "CustomResourceDefinition" {
            apply_one(&crds, &obj, dry_run, target).await?
        } else {
            apply_one(&roles, &obj, dry_run, target).await?
        };
        report(&kubectl_name(&obj), outcome);
    }
    Ok(())
}

/// Waits until every CRD is Established, up to [`ESTABLISH_TIMEOUT`].
pub async fn wait_established(client: &kube::Client, target: &Target) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = Instant::now() + ESTABLISH_TIMEOUT;
    for obj in crd::all_values() {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        loop {
            let op = Op { verb: "get", resource: "customresourcedefinitions.apiextensions.k8s.io", name: Some(name) };
            let crd = crds.get(name).await.map_err(|e| explain(e, &op, target))?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the CRD {name} is not Established after {}s; check it with kubectl describe crd {name}",
                    ESTABLISH_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// Deletes every object `install` made (a missing one is skipped), calling `report` with each
/// object's kubectl name and whether it existed.
pub async fn uninstall(
    client: &kube::Client,
    target: &Target,
    mut report: impl FnMut(&str, bool),
) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for obj in objects() {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let kname = kubectl_name(&obj);
        let resource = resource_name(&obj);
        let result = if obj["kind"] == "CustomResourceDefinition" {
            crds.delete(name, &DeleteParams::default()).await.map(|_| ())
        } else {
            roles.delete(name, &DeleteParams::default()).await.map(|_| ())
        };
        match result {
            Ok(()) => report(&kname, true),
            Err(e) if errors::is_not_found(&e) => report(&kname, false),
            Err(e) => return Err(explain(e, &Op { verb: "delete", resource: &resource, name: Some(name) }, target)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles() {
        let objs = objects();
        assert_eq!(objs.len(), 9);
        assert_eq!(kubectl_name(&objs[0]), "customresourcedefinition.apiextensions.k8s.io/sites.skupper.io");
        assert_eq!(kubectl_name(&objs[8]), "clusterrole.rbac.authorization.k8s.io/skupper-edit");
        let edit = edit_role();
        assert_eq!(edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
        // Typed decoding proves the objects are well formed.
        let _: ClusterRole = serde_json::from_value(controller_role()).expect("controller role");
        let _: ClusterRole = serde_json::from_value(edit).expect("edit role");
    }
}
