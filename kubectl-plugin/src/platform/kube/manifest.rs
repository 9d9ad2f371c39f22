//! What runs a site inside a cluster: the objects `kubectl skupper controller manifest` prints
//! (ServiceAccount, RoleBinding to the `skupper-controller` ClusterRole of `install`, and the
//! controller's Deployment running `kubectl-skupper controller --in-cluster`).
//!
//! The Deployment is the controller's whole contract with the cluster: its pod labels are what
//! the controller's Services select, its ports are the ones `--in-cluster` binds, and its probes
//! call the health endpoints on [`HEALTH_PORT`]. The pod runs as the image's non-root user with a
//! read-only root file system; `/tmp` is an `emptyDir`.

use serde_json::{Map, Value, json};

use super::install::CONTROLLER_ROLE;

/// Default image of the controller (the release's OCI image).
pub(crate) const DEFAULT_IMAGE: &str = concat!("ghcr.io/skupper-rs/kubectl-skupper:", env!("CARGO_PKG_VERSION"));

/// Labels of the controller's pod: the Deployment's selector and every Service the controller
/// puts in front of it select exactly these.
pub(crate) const POD_LABELS: [(&str, &str); 2] =
    [("app.kubernetes.io/name", "skupper-controller"), ("app.kubernetes.io/part-of", "skupper")];

/// Port of the controller's health endpoints (`/livez`, `/readyz`, plain HTTP).
pub(crate) const HEALTH_PORT: u16 = 9091;

/// Name of the ServiceAccount, RoleBinding and Deployment.
pub(crate) const NAME: &str = "skupper-controller";

/// Name of the controller's container in the pod.
pub(crate) const CONTAINER: &str = "controller";

/// The user and group the controller runs as (the image's `/etc/passwd` names it `skupper`).
pub(crate) const RUN_AS: i64 = 65532;

/// Where the image puts the binary (its entrypoint).
pub(crate) const BINARY_PATH: &str = "/kubectl-skupper";

/// Ports of the controller's container, as `(name, port)`: link access (`inter-router`, `edge`),
/// the grant server and the health endpoints. `--in-cluster` binds exactly these.
pub(crate) const PORTS: [(&str, u16); 4] =
    [("inter-router", 55671), ("edge", 45671), ("grant-server", 9090), ("health", HEALTH_PORT)];

/// The pod labels as a JSON map.
pub(crate) fn pod_labels() -> Map<String, Value> {
    POD_LABELS.iter().map(|(k, v)| ((*k).to_string(), Value::from(*v))).collect()
}

/// Labels of every object of the manifest (the pod's: they name the controller and say it is
/// part of Skupper).
fn labels() -> Value {
    Value::Object(pod_labels())
}

/// The objects that run the site of `namespace` with `image`: ServiceAccount, RoleBinding,
/// Deployment, in the order `kubectl apply` should create them.
pub(crate) fn controller(namespace: &str, image: &str) -> Vec<Value> {
    vec![service_account(namespace), role_binding(namespace), deployment(namespace, image)]
}

fn metadata(namespace: &str) -> Value {
    json!({"name": NAME, "namespace": namespace, "labels": labels()})
}

fn service_account(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(namespace)})
}

/// The namespace's grant of the `skupper-controller` ClusterRole to the controller's account.
fn role_binding(namespace: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CONTROLLER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    })
}

/// The controller's container: what the Deployment runs and what the e2e test compares.
pub(crate) fn container(image: &str) -> Value {
    let field = |path: &str| json!({"fieldRef": {"apiVersion": "v1", "fieldPath": path}});
    let probe = |path: &str, period: u32, failures: u32| {
        json!({
            "httpGet": {"path": path, "port": "health", "scheme": "HTTP"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        })
    };
    json!({
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [BINARY_PATH],
        "args": ["controller", "--in-cluster"],
        "env": [
            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
            {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
        ],
        "ports": PORTS
            .iter()
            .map(|(name, port)| json!({"name": name, "containerPort": port, "protocol": "TCP"}))
            .collect::<Vec<_>>(),
        // Ready once the router runs and the Lease is held; alive while the loop turns.
        "readinessProbe": probe("/readyz", 5, 3),
        "livenessProbe": probe("/livez", 10, 6),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    })
}

fn deployment(namespace: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(namespace),
        "spec": {
            // One router per namespace (the Lease enforces it): never two pods at once.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels()},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "serviceAccountName": NAME,
                    "enableServiceLinks": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container(image)],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::RoleBinding;

    use super::*;

    fn typed() -> (ServiceAccount, RoleBinding, Deployment) {
        let objs = controller("west", "registry.example.com/ks:1");
        assert_eq!(objs.len(), 3);
        (
            serde_json::from_value(objs[0].clone()).unwrap(),
            serde_json::from_value(objs[1].clone()).unwrap(),
            serde_json::from_value(objs[2].clone()).unwrap(),
        )
    }

    #[test]
    fn objects_decode_as_typed_kubernetes_objects_in_the_namespace() {
        let (sa, rb, d) = typed();
        for meta in [&sa.metadata, &rb.metadata, &d.metadata] {
            assert_eq!(meta.name.as_deref(), Some(NAME));
            assert_eq!(meta.namespace.as_deref(), Some("west"));
            assert_eq!(meta.labels.as_ref().unwrap()["app.kubernetes.io/part-of"], "skupper");
        }
        assert_eq!(rb.role_ref.kind, "ClusterRole");
        assert_eq!(rb.role_ref.name, CONTROLLER_ROLE);
        let subject = &rb.subjects.as_ref().unwrap()[0];
        assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("ServiceAccount", NAME));
        assert_eq!(subject.namespace.as_deref(), Some("west"));
        // Nothing is lost in the typed round trip: every field has its Kubernetes name.
        for (obj, back) in controller("west", "registry.example.com/ks:1").iter().zip([
            serde_json::to_value(&sa).unwrap(),
            serde_json::to_value(&rb).unwrap(),
            serde_json::to_value(&d).unwrap(),
        ]) {
            assert_eq!(obj, &back);
        }
    }

    #[test]
    fn pod_labels_are_the_selector() {
        let (_, _, d) = typed();
        let spec = d.spec.unwrap();
        let expected: std::collections::BTreeMap<String, String> =
            POD_LABELS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(spec.selector.match_labels.as_ref(), Some(&expected));
        assert_eq!(spec.template.metadata.unwrap().labels.as_ref(), Some(&expected));
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    }

    #[test]
    fn the_container_runs_the_controller_in_cluster_as_non_root() {
        let (_, _, d) = typed();
        let pod = d.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
        let c = &pod.containers[0];
        assert_eq!(c.name, CONTAINER);
        assert_eq!(c.image.as_deref(), Some("registry.example.com/ks:1"));
        assert_eq!(c.command.as_deref(), Some(&["/kubectl-skupper".to_string()][..]));
        assert_eq!(c.args.as_deref(), Some(&["controller".to_string(), "--in-cluster".to_string()][..]));
        let env: Vec<(&str, &str)> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path.as_str()))
            .collect();
        assert_eq!(env, [("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")]);
        let ports: Vec<(&str, i32)> =
            c.ports.iter().flatten().map(|p| (p.name.as_deref().unwrap(), p.container_port)).collect();
        assert_eq!(ports, [("inter-router", 55671), ("edge", 45671), ("grant-server", 9090), ("health", 9091)]);
        for (probe, path) in [(&c.readiness_probe, "/readyz"), (&c.liveness_probe, "/livez")] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.path.as_deref(), Some(path));
            assert_eq!(get.port, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("health".into()));
        }
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!((sc.run_as_user, sc.run_as_group), (Some(RUN_AS), Some(RUN_AS)));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
        assert!(c.resources.as_ref().unwrap().requests.as_ref().unwrap().contains_key("memory"));
    }
}
