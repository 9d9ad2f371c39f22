//! Known Links for the duplicate-peer rule (`forbidDuplicatePeers`, skupper#2077): what the
//! policy reads of a Link, the settings with `knownLinks`, which reviews may meet a twin, and the
//! [`LinkCatalog`] a host that watches the cluster's Links provides (the plugin's `--links-from`,
//! which also documents how its cache stays honest).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// The settings JSON with `knownLinks` = the settings' own `knownLinks` plus `links`.
pub fn with_known_links(settings: &[u8], links: Vec<Value>) -> anyhow::Result<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(settings).context("settings are not JSON")?;
    let Some(obj) = v.as_object_mut() else {
        bail!("settings are not a JSON object");
    };
    let known = obj.entry("knownLinks").or_insert_with(|| json!([]));
    match known.as_array_mut() {
        Some(arr) => arr.extend(links),
        None => bail!("settings knownLinks is not a list"),
    }
    Ok(serde_json::to_vec(&v)?)
}

/// What the duplicate check reads of a Link (namespace, name, endpoints), in the shape the
/// policy takes; `None` when its endpoints cannot be read as a Link's (such a Link could break
/// every evaluation's settings, and it reaches no peer the router would use).
pub fn known_link(namespace: Option<&str>, name: &str, spec: &Value) -> Option<Value> {
    let v = json!({
        "apiVersion": "skupper.io/v2alpha1",
        "kind": "Link",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"endpoints": spec.get("endpoints").cloned().unwrap_or_else(|| json!([]))},
    });
    match skupper_core::resources::Resource::from_value(v.clone()) {
        Ok(skupper_core::resources::Resource::Link(_)) => Some(v),
        _ => None,
    }
}

/// Host as the duplicate rule compares it (`skupper_core::link`): lower case, no brackets, no
/// final dot.
fn host_key(host: &str) -> String {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

/// The endpoint hosts of a Link's spec, as compared.
fn hosts(spec: &Value) -> Vec<String> {
    spec.get("endpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("host").and_then(Value::as_str))
        .filter(|h| !h.trim().is_empty())
        .map(host_key)
        .collect()
}

/// A Link CREATE or UPDATE under review.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its spec.
    pub spec: Value,
    /// Whether the request is a dry run (nothing will be stored).
    pub dry_run: bool,
}

impl Reviewed {
    /// The Link of a review body, when it is a Link CREATE or UPDATE (not of a subresource).
    pub fn from_review(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let r = v.get("request")?;
        let kind = r.get("kind")?;
        let is_link = kind.get("group").and_then(Value::as_str) == Some("skupper.io")
            && kind.get("kind").and_then(Value::as_str) == Some("Link");
        let op = r.get("operation").and_then(Value::as_str).unwrap_or_default();
        let sub = r.get("subResource").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !is_link || !matches!(op, "CREATE" | "UPDATE") || sub {
            return None;
        }
        let object = r.get("object")?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .or_else(|| r.get("name").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        let namespace = r
            .get("namespace")
            .and_then(Value::as_str)
            .or_else(|| object.pointer("/metadata/namespace").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        Some(Self {
            namespace,
            name,
            spec: object.get("spec").cloned().unwrap_or(Value::Null),
            dry_run: r.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Whether `other` (namespace, name, spec) may be a twin: another Link of the same namespace
    /// with an endpoint host in common (the policy makes the exact comparison).
    pub fn may_duplicate(&self, namespace: &str, name: &str, spec: &Value) -> bool {
        if namespace != self.namespace || name == self.name {
            return false;
        }
        let mine = hosts(&self.spec);
        hosts(spec).iter().any(|h| mine.contains(h))
    }
}

/// Whether an AdmissionReview answer allows the request.
pub fn allowed(answer: &[u8]) -> bool {
    serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v.pointer("/response/allowed").and_then(Value::as_bool))
        .unwrap_or(false)
}

/// The cluster's Links as a webhook host knows them (`--links-from`: the plugin watches them on
/// the Kubernetes platform), for the duplicate-peer rule.
pub trait LinkCatalog: Send + Sync {
    /// The policy settings for `review`: the host's own settings with the Links that may be its
    /// twins as `knownLinks`.
    fn settings_for<'a>(&'a self, review: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Arc<Vec<u8>>>>;

    /// After an answer: a Link admitted now is a known Link from now on.
    fn admitted(&self, review: &[u8], answer: &[u8]);
}

/// The future [`LinkCatalog::settings_for`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_links_are_appended_to_settings() {
        let s = with_known_links(
            br#"{"maxCost": 3, "knownLinks": [{"metadata": {"name": "a"}}]}"#,
            vec![json!({"metadata": {"name": "b"}})],
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["maxCost"], 3);
        let names: Vec<_> =
            v["knownLinks"].as_array().unwrap().iter().map(|l| l["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(with_known_links(b"[]", vec![]).is_err());
    }

    fn review(op: &str, ns: &str, name: &str, host: &str, dry_run: bool) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u", "kind": {"group": "skupper.io", "version": "v2alpha1", "kind": "Link"},
                "operation": op, "namespace": ns, "name": name, "dryRun": dry_run,
                "object": {"metadata": {"name": name}, "spec": {"endpoints": [
                    {"name": "inter-router", "host": host, "port": "55671"}]}},
            },
        }))
        .unwrap()
    }

    #[test]
    fn reviews_of_links_are_read_and_possible_twins_found() {
        let r = Reviewed::from_review(&review("CREATE", "west", "a", "Peer.Example.com.", true)).unwrap();
        assert_eq!((r.namespace.as_str(), r.name.as_str(), r.dry_run), ("west", "a", true));
        let spec = |h: &str| json!({"endpoints": [{"name": "edge", "host": h, "port": "1"}]});
        assert!(r.may_duplicate("west", "b", &spec("peer.example.com")));
        assert!(r.may_duplicate("west", "b", &spec("[PEER.example.com]")));
        assert!(!r.may_duplicate("east", "b", &spec("peer.example.com")), "other namespace");
        assert!(!r.may_duplicate("west", "a", &spec("peer.example.com")), "its own old version");
        assert!(!r.may_duplicate("west", "b", &spec("other.example.com")));
        assert!(Reviewed::from_review(&review("DELETE", "west", "a", "h", false)).is_none());
        assert!(Reviewed::from_review(b"not json").is_none());
        assert!(allowed(br#"{"response": {"allowed": true}}"#));
        assert!(!allowed(br#"{"response": {"allowed": false}}"#) && !allowed(b"x"));
    }

    #[test]
    fn only_links_the_policy_can_read_are_known() {
        let good = json!({"endpoints": [{"name": "inter-router", "host": "h", "port": "55671"}]});
        let k = known_link(Some("west"), "a", &good).unwrap();
        assert_eq!(k["metadata"]["namespace"], "west");
        assert_eq!(k["spec"]["endpoints"], good["endpoints"]);
        assert!(known_link(Some("west"), "a", &json!({"endpoints": "nope"})).is_none());
    }
}
