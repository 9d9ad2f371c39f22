//! A controller inside the cluster (`--in-cluster`): the Services in front of its pod, and the
//! pods behind Connector selectors.
//!
//! - Link access: Service `skupper-router` (inter-router 55671, edge 45671, grant server 9090)
//!   of the type the Site asks for: `default`/`loadbalancer` a LoadBalancer, whose address (from
//!   its status, once the cloud gives one) is the site's endpoint host; `nodeport` a NodePort,
//!   reached on `--endpoint-host` at the node ports; `local` a ClusterIP, reached by its cluster
//!   DNS name.
//! - Listeners: a Service named after the listener's host, in front of the controller pod's port.
//! - Connectors with a `selector`: the Ready pods that match (first by name), re-resolved on
//!   every change.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::Store;
use skupper_core::resources::{DEFAULT_EDGE_PORT, DEFAULT_GRANT_SERVER_PORT, DEFAULT_INTER_ROUTER_PORT, SelectedPod};

use crate::platform::kube::cr::KListener;
use crate::platform::kube::errors;
use crate::platform::kube::manifest::POD_LABELS;
use crate::platform::resources::Resources;

/// The Service of link access (upstream's name).
pub(crate) const LINK_SERVICE: &str = "skupper-router";
/// Label of a listener's Service: the Listener it serves.
pub(crate) const LISTENER_LABEL: &str = "skupper.io/listener";
/// Label of every Service the controller makes.
const MANAGED: (&str, &str) = ("app.kubernetes.io/managed-by", "kubectl-skupper");

/// Where remote sites reach the site, as its Service says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Exposure {
    /// Hosts remote sites use (empty while a load balancer has no address).
    pub hosts: Vec<String>,
    /// Port of the `inter-router` role on those hosts.
    pub inter_router: u16,
    /// Port of the `edge` role.
    pub edge: u16,
    /// Port of the grant server.
    pub grant: u16,
    /// Why there are no hosts yet.
    pub waiting: Option<String>,
}

fn selector() -> BTreeMap<String, String> {
    POD_LABELS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn port(name: &str, port: u16) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: i32::from(port),
        target_port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Creates `desired`, or updates the existing Service of that name where its type, ports or
/// selector differ (keeping what the API server assigned: cluster IP, node ports). Returns the
/// Service as the API server has it.
async fn apply(api: &Api<Service>, existing: Option<&Service>, desired: Service) -> anyhow::Result<Service> {
    let name = desired.metadata.name.clone().unwrap_or_default();
    let Some(old) = existing else {
        return api
            .create(&PostParams::default(), &desired)
            .await
            .map_err(|e| anyhow::anyhow!("creating Service {name}: {e}"));
    };
    let (want, have) = (desired.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
    let ports = |s: &ServiceSpec| -> Vec<(Option<String>, i32)> {
        s.ports.iter().flatten().map(|p| (p.name.clone(), p.port)).collect()
    };
    if want.type_ == have.type_ && ports(&want) == ports(&have) && want.selector == have.selector {
        return Ok(old.clone());
    }
    let mut updated = old.clone();
    let spec = updated.spec.get_or_insert_with(Default::default);
    let same_type = spec.type_ == want.type_;
    spec.type_ = want.type_.clone();
    spec.selector = want.selector.clone();
    spec.ports = want.ports.map(|ps| {
        ps.into_iter()
            .map(|mut p| {
                // Keep an assigned node port while the type stays.
                if same_type && let Some(o) = have.ports.iter().flatten().find(|o| o.name == p.name && o.port == p.port)
                {
                    p.node_port = o.node_port;
                }
                p
            })
            .collect()
    });
    api.replace(&name, &PostParams::default(), &updated)
        .await
        .map_err(|e| anyhow::anyhow!("updating Service {name}: {e}"))
}

/// The link-access Service for a Site whose `linkAccess` is `access_type`, and where it is reached.
pub(crate) async fn link_access(
    client: &kube::Client,
    namespace: &str,
    services: &Store<Service>,
    access_type: &str,
    owner: &OwnerReference,
    endpoint_hosts: &[String],
) -> anyhow::Result<Exposure> {
    let ty = match access_type {
        "default" | "loadbalancer" => "LoadBalancer",
        "nodeport" => "NodePort",
        "local" => "ClusterIP",
        other => anyhow::bail!(
            "link access type {other:?} is not supported by this controller; use default, loadbalancer, nodeport or local"
        ),
    };
    if ty == "NodePort" && endpoint_hosts.is_empty() {
        anyhow::bail!("nodeport link access needs --endpoint-host: the address of a node remote sites can reach");
    }
    let desired = Service {
        metadata: ObjectMeta {
            name: Some(LINK_SERVICE.into()),
            namespace: Some(namespace.into()),
            labels: Some([(MANAGED.0.to_string(), MANAGED.1.to_string())].into()),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(ty.into()),
            selector: Some(selector()),
            ports: Some(vec![
                port("inter-router", DEFAULT_INTER_ROUTER_PORT),
                port("edge", DEFAULT_EDGE_PORT),
                port("grant-server", DEFAULT_GRANT_SERVER_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let existing = services.find(|s| s.metadata.name.as_deref() == Some(LINK_SERVICE));
    let svc = apply(&api, existing.as_deref(), desired).await?;
    let node_port = |name: &str| {
        svc.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|ps| ps.iter().find(|p| p.name.as_deref() == Some(name)))
            .and_then(|p| p.node_port)
            .and_then(|p| u16::try_from(p).ok())
    };
    let mut e = Exposure {
        inter_router: DEFAULT_INTER_ROUTER_PORT,
        edge: DEFAULT_EDGE_PORT,
        grant: DEFAULT_GRANT_SERVER_PORT,
        ..Default::default()
    };
    match ty {
        "LoadBalancer" => {
            let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.clone());
            e.hosts = ingress.iter().flatten().filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone())).collect();
            if e.hosts.is_empty() {
                e.waiting = Some(format!("waiting for a load balancer address for Service {LINK_SERVICE}"));
            }
        }
        "NodePort" => {
            e.hosts = endpoint_hosts.to_vec();
            match (node_port("inter-router"), node_port("edge"), node_port("grant-server")) {
                (Some(i), Some(ed), Some(g)) => (e.inter_router, e.edge, e.grant) = (i, ed, g),
                _ => e.waiting = Some(format!("waiting for node ports of Service {LINK_SERVICE}")),
            }
        }
        _ => e.hosts = vec![format!("{LINK_SERVICE}.{namespace}.svc")],
    }
    Ok(e)
}

/// Services in front of the controller pod for every Listener (named after its host); the
/// controller's Services of Listeners that are gone are deleted. Returns the Listeners whose
/// Service cannot be made, with why.
pub(crate) async fn listeners(
    client: &kube::Client,
    namespace: &str,
    services: &Store<Service>,
    listeners: &[std::sync::Arc<KListener>],
    owner: &OwnerReference,
) -> BTreeMap<String, String> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let mut problems = BTreeMap::new();
    let mut wanted = BTreeSet::new();
    for l in listeners {
        let host = if l.spec.host.is_empty() { l.name().to_string() } else { l.spec.host.clone() };
        if l.spec.port == 0 {
            continue;
        }
        let existing = services.find(|s| s.metadata.name.as_deref() == Some(host.as_str()));
        fn owner_of(s: &Service) -> Option<&str> {
            s.metadata.labels.as_ref().and_then(|m| m.get(LISTENER_LABEL)).map(String::as_str)
        }
        if let Some(s) = &existing
            && owner_of(s) != Some(l.name())
        {
            problems.insert(
                l.name().to_string(),
                format!("Service {host:?} exists and is not this listener's; choose another --host for it"),
            );
            continue;
        }
        wanted.insert(host.clone());
        let desired = Service {
            metadata: ObjectMeta {
                name: Some(host.clone()),
                namespace: Some(namespace.into()),
                labels: Some(
                    [
                        (MANAGED.0.to_string(), MANAGED.1.to_string()),
                        (LISTENER_LABEL.to_string(), l.name().to_string()),
                    ]
                    .into(),
                ),
                owner_references: Some(vec![owner.clone()]),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(selector()),
                ports: Some(vec![port("tcp", l.spec.port)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Err(e) = apply(&api, existing.as_deref(), desired).await {
            problems.insert(l.name().to_string(), format!("{e:#}"));
        }
    }
    // The test clusters have no garbage collector: delete what no Listener needs.
    for s in services.state() {
        let name = s.metadata.name.clone().unwrap_or_default();
        let labelled = s.metadata.labels.as_ref().is_some_and(|m| m.contains_key(LISTENER_LABEL));
        if labelled && !wanted.contains(&name) {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(target: "controller", "deleted Service {name} (its listener is gone)"),
                Err(e) if errors::is_not_found(&e) => {}
                Err(e) => tracing::warn!(target: "controller", "deleting Service {name}: {e}"),
            }
        }
    }
    problems
}

/// `app=web,tier=front`: equality-based label selectors (what `connector create --selector` takes).
fn parse_selector(sel: &str) -> Option<Vec<(String, String)>> {
    sel.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.strip_prefix('=').unwrap_or(v);
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn ready(p: &Pod) -> bool {
    let status = p.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The Connectors with a selector get the first (by name) matching Ready pod's IP as their host
/// (every matching pod is listed in `selectedPods`); those with no such pod are left out of
/// `res` (nothing to dial) and returned with why.
pub(crate) fn resolve_selectors(
    res: &mut Resources,
    pods: &Store<Pod>,
) -> (BTreeMap<String, Vec<SelectedPod>>, BTreeMap<String, String>) {
    let mut selected = BTreeMap::new();
    let mut problems = BTreeMap::new();
    let mut all: Vec<_> = pods.state();
    all.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for (name, c) in res.connectors.iter_mut() {
        if c.spec.selector.is_empty() || !c.spec.host.is_empty() {
            continue;
        }
        let Some(terms) = parse_selector(&c.spec.selector) else {
            problems.insert(
                name.clone(),
                format!("selector {:?} is not valid: use key=value[,key=value]", c.spec.selector),
            );
            continue;
        };
        let matching: Vec<SelectedPod> = all
            .iter()
            .filter(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                terms.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .filter(|p| c.spec.include_not_ready_pods || ready(p))
            .filter_map(|p| {
                let ip = p.status.as_ref()?.pod_ip.clone()?;
                Some(SelectedPod { name: p.metadata.name.clone().unwrap_or_default(), ip })
            })
            .collect();
        match matching.first() {
            Some(first) => {
                c.spec.host = first.ip.clone();
                selected.insert(name.clone(), matching);
            }
            None => {
                problems.insert(name.clone(), format!("No ready pods match selector {}", c.spec.selector));
            }
        }
    }
    for name in problems.keys() {
        res.connectors.remove(name);
    }
    (selected, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_as_kubectl_writes_them() {
        assert_eq!(parse_selector("app=web"), Some(vec![("app".into(), "web".into())]));
        assert_eq!(
            parse_selector("app==web, tier=front"),
            Some(vec![("app".into(), "web".into()), ("tier".into(), "front".into())])
        );
        assert_eq!(parse_selector("app"), None);
    }
}
