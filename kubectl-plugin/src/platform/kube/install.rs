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
pub(crate) const FIELD_MANAGER: &str = "kubectl-skupper";
/// The controller's ClusterRole.
pub(crate) const CONTROLLER_ROLE: &str = "skupper-controller";
/// The ClusterRole for people who manage sites.
pub(crate) const EDIT_ROLE: &str = "skupper-edit";
/// How long `install` waits for the CRDs to be Established.
pub(crate) const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

const SKUPPER_RESOURCES: [&str; 8] = [
    "sites",
    "links",
    "listeners",
    "connectors",
    "accessgrants",
    "accesstokens",
    "routeraccesses",
    "multikeylisteners",
];

fn labels() -> Value {
    json!({"app.kubernetes.io/part-of": "skupper", "app.kubernetes.io/managed-by": "kubectl-skupper"})
}

/// The controller's ClusterRole (bound per namespace by a RoleBinding).
pub(crate) fn controller_role() -> Value {
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
pub(crate) fn edit_role() -> Value {
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
pub(crate) fn objects() -> Vec<Value> {
    let mut v = crd::all_values();
    v.push(controller_role());
    v.push(edit_role());
    v
}

/// `kind.group/name`, as kubectl names objects in its output.
pub(crate) fn kubectl_name(obj: &Value) -> String {
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
pub(crate) enum Outcome {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed as it is.
    Unchanged,
}

impl Outcome {
    /// kubectl's word.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
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
pub(crate) async fn install(
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
pub(crate) async fn wait_established(client: &kube::Client, target: &Target) -> anyhow::Result<()> {
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
pub(crate) async fn uninstall(
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

/// The Link admission webhook (`install --with-webhook`): the in-cluster objects of
/// `webhook manifest` in namespace `skupper` (created if missing), with the serving certificate in
/// the Secret `skupper-link-policy-tls`, issued by a CA made here whose certificate becomes the
/// ValidatingWebhookConfiguration's `caBundle`. An existing Secret (a second install) is kept,
/// so installing again changes nothing. The webhook fails closed (`failurePolicy: Fail`).
#[cfg(feature = "webhook")]
pub(crate) mod webhook {
    use anyhow::Context as _;
    use base64::Engine as _;
    use k8s_openapi::api::core::v1::Secret;
    use kube::Api;
    use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind};
    use serde_json::{Value, json};

    use super::{Outcome, Target, apply_one, errors, explain, kubectl_name};
    use crate::platform::kube::errors::Op;
    use crate::webhook::manifest::{self, ManifestArgs};
    use skupper_router::certs::{self, Issued};

    /// Namespace of the webhook's objects.
    pub(crate) const NAMESPACE: &str = manifest::DEFAULT_NAMESPACE;

    /// A new CA and a serving certificate for the webhook's Service names.
    pub(crate) fn new_tls(args: &ManifestArgs) -> anyhow::Result<Issued> {
        let ca = certs::new_ca(&format!("{}-ca", args.name), certs::DEFAULT_VALIDITY)?;
        certs::issue_server(&ca, &args.name, &manifest::service_hosts(args, NAMESPACE), certs::DEFAULT_VALIDITY)
    }

    /// Every object, in the order to apply them: the Namespace, the TLS Secret, then the objects
    /// of `webhook manifest` with `caBundle` set (the ValidatingWebhookConfiguration last).
    pub(crate) fn objects(args: &ManifestArgs, tls: &Issued) -> anyhow::Result<Vec<Value>> {
        let mut v = vec![
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "skupper"}},
            }),
            manifest::tls_secret(args, NAMESPACE, tls),
        ];
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&tls.ca_pem);
        v.extend(manifest::objects(args, NAMESPACE, Some(ca_bundle))?);
        Ok(v)
    }

    /// The serving certificate already in the cluster, if complete.
    pub(crate) async fn existing_tls(
        client: &kube::Client,
        target: &Target,
        args: &ManifestArgs,
    ) -> anyhow::Result<Option<Issued>> {
        let name = manifest::tls_secret_name(args);
        let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
        let op = Op { verb: "get", resource: "secrets", name: Some(&name) };
        let Some(secret) = secrets.get_opt(&name).await.map_err(|e| explain(e, &op, target))? else {
            return Ok(None);
        };
        let data = secret.data.unwrap_or_default();
        let text = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned()).filter(|s| !s.is_empty());
        Ok(match (text("tls.crt"), text("tls.key"), text("ca.crt")) {
            (Some(cert_pem), Some(key_pem), Some(ca_pem)) => Some(Issued { cert_pem, key_pem, ca_pem }),
            _ => None,
        })
    }

    /// The API of an object of [`objects`].
    fn api_for(client: &kube::Client, obj: &Value) -> anyhow::Result<Api<DynamicObject>> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = obj["kind"].as_str().unwrap_or_default();
        let plural = match kind {
            "Namespace" => "namespaces",
            "Secret" => "secrets",
            "ConfigMap" => "configmaps",
            "ServiceAccount" => "serviceaccounts",
            "Service" => "services",
            "Deployment" => "deployments",
            "ClusterRole" => "clusterroles",
            "ClusterRoleBinding" => "clusterrolebindings",
            "ValidatingWebhookConfiguration" => "validatingwebhookconfigurations",
            other => anyhow::bail!("no API known for kind {other}"),
        };
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        Ok(match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        })
    }

    /// Applies the webhook's objects (server-side apply, as `install` does), reusing the serving
    /// certificate of an earlier install. With `dry_run`, objects of a namespace that does not
    /// exist yet are reported as skipped (the server cannot dry-run them).
    pub(crate) async fn install(
        client: &kube::Client,
        target: &Target,
        args: &ManifestArgs,
        dry_run: bool,
        mut report: impl FnMut(&str, Option<Outcome>),
    ) -> anyhow::Result<()> {
        let tls = match existing_tls(client, target, args).await? {
            Some(t) => t,
            None => new_tls(args).context("issuing the webhook's serving certificate")?,
        };
        let mut namespace_missing = false;
        for obj in objects(args, &tls)? {
            if dry_run && namespace_missing && obj.pointer("/metadata/namespace").is_some() {
                report(&kubectl_name(&obj), None);
                continue;
            }
            let outcome = apply_one(&api_for(client, &obj)?, &obj, dry_run, target).await?;
            if obj["kind"] == "Namespace" && outcome == Outcome::Created {
                namespace_missing = true;
            }
            report(&kubectl_name(&obj), Some(outcome));
        }
        Ok(())
    }

    /// Deletes the webhook's objects that exist (the registration first, so Link changes are
    /// not refused while its pods go), calling `report` with each deleted object's name. The
    /// namespace stays.
    pub(crate) async fn uninstall(
        client: &kube::Client,
        target: &Target,
        mut report: impl FnMut(&str),
    ) -> anyhow::Result<()> {
        let args = manifest::defaults();
        let placeholder = Issued { cert_pem: String::new(), key_pem: String::new(), ca_pem: String::new() };
        let mut objs = objects(&args, &placeholder)?;
        objs.retain(|o| o["kind"] != "Namespace");
        for obj in objs.iter().rev() {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            let kname = kubectl_name(obj);
            match api_for(client, obj)?.delete(name, &DeleteParams::default()).await {
                Ok(_) => report(&kname),
                Err(e) if errors::is_not_found(&e) => {}
                Err(e) => {
                    let resource = kname.split('/').next().unwrap_or_default();
                    return Err(explain(e, &Op { verb: "delete", resource, name: Some(name) }, target));
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]
        use super::*;

        #[test]
        fn the_webhook_is_registered_with_its_own_ca_and_fails_closed() {
            let args = manifest::defaults();
            let tls = new_tls(&args).unwrap();
            let objs = objects(&args, &tls).unwrap();
            let kinds: Vec<&str> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
            assert_eq!(kinds.first(), Some(&"Namespace"));
            assert_eq!(kinds[1], "Secret");
            assert_eq!(kinds.last(), Some(&"ValidatingWebhookConfiguration"));
            let vwc = objs.last().unwrap();
            let hook = &vwc["webhooks"][0];
            assert_eq!(hook["failurePolicy"], "Fail");
            assert_eq!(hook["clientConfig"]["service"]["name"], "skupper-link-policy");
            assert_eq!(hook["clientConfig"]["service"]["namespace"], NAMESPACE);
            let bundle = base64::engine::general_purpose::STANDARD
                .decode(hook["clientConfig"]["caBundle"].as_str().unwrap())
                .unwrap();
            assert_eq!(String::from_utf8(bundle).unwrap(), tls.ca_pem);
            // The serving certificate chains to that CA and names the Service as the API server calls it.
            let secret: Secret = serde_json::from_value(objs[1].clone()).unwrap();
            let data = secret.data.unwrap();
            assert_eq!(String::from_utf8(data["ca.crt"].0.clone()).unwrap(), tls.ca_pem);
            use rustls::client::danger::ServerCertVerifier as _;
            use skupper_router::tls as setup;
            let roots = setup::root_store(tls.ca_pem.as_bytes(), "ca.crt").unwrap();
            let leaf = setup::certificates(&data["tls.crt"].0, "tls.crt").unwrap().remove(0);
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                setup::provider(),
            )
            .build()
            .unwrap();
            let name = rustls_pki_types::ServerName::try_from("skupper-link-policy.skupper.svc").unwrap();
            verifier
                .verify_server_cert(&leaf, &[], &name, &[], rustls_pki_types::UnixTime::now())
                .expect("the serving certificate is valid for the Service name under the CA");
            for o in &objs {
                if o["kind"] != "Namespace"
                    && !o["kind"].as_str().unwrap().starts_with("Cluster")
                    && o["kind"] != "ValidatingWebhookConfiguration"
                {
                    assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles() {
        let objs = objects();
        assert_eq!(objs.len(), 10);
        assert_eq!(kubectl_name(&objs[0]), "customresourcedefinition.apiextensions.k8s.io/sites.skupper.io");
        assert_eq!(kubectl_name(&objs[9]), "clusterrole.rbac.authorization.k8s.io/skupper-edit");
        let edit = edit_role();
        assert_eq!(edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
        // Typed decoding proves the objects are well formed.
        let _: ClusterRole = serde_json::from_value(controller_role()).expect("controller role");
        let _: ClusterRole = serde_json::from_value(edit).expect("edit role");
    }
}
