//! What runs a site inside a cluster: the objects `kubectl skupper controller manifest` prints
//! (ServiceAccount, RoleBinding to the `skupper-controller` ClusterRole of `install`, and the
//! controller's Deployment running `kubectl-skupper controller --in-cluster`).

use serde_json::Value;

/// Default image of the controller (the release's OCI image).
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/skupper-rs/kubectl-skupper:", env!("CARGO_PKG_VERSION"));

/// Labels of the controller's pod: the Deployment's selector and every Service the controller
/// puts in front of it select exactly these.
pub const POD_LABELS: [(&str, &str); 2] =
    [("app.kubernetes.io/name", "skupper-controller"), ("app.kubernetes.io/part-of", "skupper")];

/// Port of the controller's health endpoints (`/livez`, `/readyz`, plain HTTP).
pub const HEALTH_PORT: u16 = 9091;

/// The objects that run the site of `namespace` with `image`.
pub fn controller(namespace: &str, image: &str) -> Vec<Value> {
    let _ = (namespace, image);
    Vec::new()
}
