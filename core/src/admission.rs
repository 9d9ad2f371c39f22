//! Kubernetes admission (`admission.k8s.io/v1` AdmissionReview) for Links: the types shared by
//! the webhook host and the Wasm policy guest, a [`Policy`] and [`review`], which turns any
//! review into a response and never panics — a malformed review is denied with a message, not
//! trapped on.
//!
//! Rules: [`validate_link`] without Secret checks (a Link may arrive before its Secret), then the
//! policy (allowed hosts, cost bounds, proxy requirement). Other kinds, and DELETE/CONNECT, are
//! allowed untouched.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::link::{Finding, LinkContext, Validation, validate_link};
use crate::resources::{Link, Resource};

/// Version of the policy module's C ABI (`skupper_abi_version`): the module exports it, the
/// webhook host refuses a module with another. One definition for both sides.
pub const POLICY_ABI_VERSION: u32 = 1;

/// API version of the reviews we answer.
pub const ADMISSION_V1: &str = "admission.k8s.io/v1";
/// Older API version with the same shape, answered in kind.
pub const ADMISSION_V1BETA1: &str = "admission.k8s.io/v1beta1";
/// Kubernetes asks that each warning stay within 120 characters; longer ones are cut.
pub const MAX_WARNING_CHARS: usize = 120;
/// Bound on the total size of all warnings (the API server drops warnings beyond about 4 KiB).
pub const MAX_WARNINGS_BYTES: usize = 4096;
/// Bound on the denial message.
pub const MAX_MESSAGE_BYTES: usize = 8192;

/// `metav1.GroupVersionKind`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group (`skupper.io`; empty for core).
    #[serde(default)]
    pub group: String,
    /// Version (`v2alpha1`).
    #[serde(default)]
    pub version: String,
    /// Kind (`Link`).
    #[serde(default)]
    pub kind: String,
}

/// `metav1.GroupVersionResource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Resource (plural, `links`).
    #[serde(default)]
    pub resource: String,
}

/// `authenticationv1.UserInfo` of the requester.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// User id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// `AdmissionRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Request id; the response must echo it.
    pub uid: String,
    /// Kind of the object.
    #[serde(default)]
    pub kind: GroupVersionKind,
    /// Resource of the object.
    #[serde(default)]
    pub resource: GroupVersionResource,
    /// Subresource, e.g. `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    /// Kind as requested (before conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    /// Resource as requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    #[serde(default)]
    pub operation: String,
    /// Who asks.
    #[serde(default)]
    pub user_info: UserInfo,
    /// The new object (CREATE, UPDATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// The old object (UPDATE, DELETE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_object: Option<Value>,
    /// Whether the request is a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Operation options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// `metav1.Status` as used in a response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// HTTP-like code: 400 malformed, 403 refused by policy, 422 invalid Link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Human message (shown by kubectl).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// `BadRequest`, `Forbidden` or `Invalid`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// `AdmissionResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// Verdict.
    pub allowed: bool,
    /// Why not, when denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// Warnings shown to the client (kubectl prints them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `AdmissionReview`: a request in, a response out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// `admission.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `AdmissionReview`.
    #[serde(default)]
    pub kind: String,
    /// The request (from the API server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    /// The response (from us).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

/// What a cluster administrator allows for Links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    /// Host patterns every endpoint host must match: exact names or IPs, or `*.example.com`
    /// (any name below example.com, not example.com itself). Empty: any host.
    pub allowed_hosts: Vec<String>,
    /// Smallest effective cost allowed.
    pub min_cost: Option<i64>,
    /// Largest effective cost allowed.
    pub max_cost: Option<i64>,
    /// Every Link must use an HTTP CONNECT proxy (`spec.settings.proxy-configuration`).
    pub require_proxy: bool,
    /// Refuse a Link that connects to the same host, port and role as a known Link (#2077).
    pub forbid_duplicate_peers: bool,
    /// Links already in the cluster (from the webhook host's cache), for the duplicate check.
    /// Links of other namespaces are ignored.
    pub known_links: Vec<Link>,
    /// The namespace's site is an edge site (its router uses `edge` endpoints).
    pub edge_site: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            min_cost: None,
            max_cost: None,
            require_proxy: false,
            forbid_duplicate_peers: true,
            known_links: Vec::new(),
            edge_site: false,
        }
    }
}

impl Policy {
    /// Reads a policy from its JSON form (camelCase fields, all optional).
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let p: Self = serde_json::from_value(v.clone()).map_err(|e| format!("policy settings are not valid: {e}"))?;
        p.check()?;
        Ok(p)
    }

    /// Consistency of the settings themselves.
    pub fn check(&self) -> Result<(), String> {
        if let (Some(min), Some(max)) = (self.min_cost, self.max_cost)
            && min > max
        {
            return Err(format!("policy settings are not valid: minCost {min} is above maxCost {max}"));
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|p| p.is_empty() || p.chars().skip(1).any(|c| c == '*')) {
            return Err(format!(
                "policy settings are not valid: allowedHosts pattern {bad:?}: use a host, an IP address, or *.domain"
            ));
        }
        Ok(())
    }

    /// Whether `host` matches one of [`Policy::allowed_hosts`] (always true when empty).
    pub fn host_allowed(&self, host: &str) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let norm = |h: &str| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
        };
        let host = norm(host);
        self.allowed_hosts.iter().any(|p| {
            let p = norm(p);
            match p.strip_prefix('*') {
                Some(suffix) if suffix.starts_with('.') => host.len() > suffix.len() && host.ends_with(suffix),
                _ => host == p,
            }
        })
    }

    /// Errors of the policy rules (not of Link validity) for a Link.
    pub fn findings(&self, link: &Link) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, e) in link.spec.endpoints.iter().enumerate() {
            if !e.host.is_empty() && !self.host_allowed(&e.host) {
                out.push(Finding {
                    field: format!("spec.endpoints[{i}].host"),
                    message: format!(
                        "host {:?} is not allowed by policy (allowed: {}): link only to approved sites",
                        e.host,
                        self.allowed_hosts.join(", ")
                    ),
                });
            }
        }
        let cost = i64::from(link.spec.effective_cost());
        if let Some(min) = self.min_cost
            && cost < min
        {
            out.push(Finding {
                field: "spec.cost".into(),
                message: format!("cost {cost} is below the policy minimum {min}: set spec.cost to at least {min}"),
            });
        }
        if let Some(max) = self.max_cost
            && cost > max
        {
            out.push(Finding {
                field: "spec.cost".into(),
                message: format!("cost {cost} is above the policy maximum {max}: set spec.cost to at most {max}"),
            });
        }
        if self.require_proxy && link.spec.proxy_configuration().is_none() {
            out.push(Finding {
                field: "spec.settings.proxy-configuration".into(),
                message: "policy requires an HTTP proxy for links: set spec.settings.proxy-configuration to the \
                          name of a kubernetes.io/basic-auth Secret with the proxy's host and port"
                    .into(),
            });
        }
        out
    }
}

/// Validation plus policy for a Link in `namespace`: `(validation, policy findings)`.
pub fn evaluate(link: &Link, namespace: Option<&str>, policy: &Policy) -> (Validation, Vec<Finding>) {
    let known: Vec<Link> = if policy.forbid_duplicate_peers {
        policy
            .known_links
            .iter()
            .filter(|l| match (l.metadata.namespace.as_deref(), namespace) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let ctx = LinkContext { secrets: None, other_links: &known, edge_site: policy.edge_site };
    (validate_link(link, &ctx), policy.findings(link))
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn cut_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Replaces control characters (not allowed in HTTP warning headers) and cuts to `max` chars.
fn warning_text(s: &str, max: usize) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= max {
        return clean;
    }
    let mut out: String = clean.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Warnings within Kubernetes' limits: each cut to [`MAX_WARNING_CHARS`], the list stopped
/// before [`MAX_WARNINGS_BYTES`] with a note of how many were left out.
pub fn bounded_warnings(all: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0;
    for (i, w) in all.iter().enumerate() {
        let w = warning_text(w, MAX_WARNING_CHARS);
        if total + w.len() > MAX_WARNINGS_BYTES - 64 {
            out.push(format!("{} more warnings not shown", all.len() - i));
            break;
        }
        total += w.len();
        out.push(w);
    }
    out
}

fn deny(uid: &str, code: u16, reason: &str, message: &str, warnings: Vec<String>) -> AdmissionResponse {
    AdmissionResponse {
        uid: uid.into(),
        allowed: false,
        status: Some(ResponseStatus {
            code: Some(code),
            message: cut_bytes(message, MAX_MESSAGE_BYTES),
            reason: reason.into(),
        }),
        warnings,
    }
}

fn allow(uid: &str, warnings: Vec<String>) -> AdmissionResponse {
    AdmissionResponse { uid: uid.into(), allowed: true, status: None, warnings }
}

/// The verdict for a review (see [`review`] for the wire form).
pub fn decide(review: &Value, policy: &Policy) -> AdmissionResponse {
    let uid = review.pointer("/request/uid").and_then(Value::as_str).unwrap_or("");
    let malformed = |m: &str| deny(uid, 400, "BadRequest", &format!("malformed AdmissionReview: {m}"), Vec::new());
    let Some(obj) = review.as_object() else { return malformed("expected a JSON object") };
    match obj.get("kind").and_then(Value::as_str) {
        Some("AdmissionReview") => {}
        other => return malformed(&format!("kind is {other:?}, expected \"AdmissionReview\"")),
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(ADMISSION_V1 | ADMISSION_V1BETA1) => {}
        other => return malformed(&format!("apiVersion is {other:?}, expected {ADMISSION_V1:?}")),
    }
    let Some(request) = obj.get("request").filter(|r| r.is_object()) else {
        return malformed("the request is missing");
    };
    let req: AdmissionRequest = match serde_json::from_value(request.clone()) {
        Ok(r) => r,
        Err(e) => return malformed(&format!("request: {e}")),
    };
    if req.uid.is_empty() {
        return malformed("request.uid is empty");
    }
    if let Err(e) = policy.check() {
        return deny(uid, 500, "InternalError", &format!("{e}; fix the webhook's policy"), Vec::new());
    }
    let is_link = req.kind.group == "skupper.io" && req.kind.kind == Link::KIND;
    if !is_link || !matches!(req.operation.as_str(), "CREATE" | "UPDATE") || req.sub_resource.is_some() {
        return allow(uid, Vec::new());
    }
    let Some(object) = req.object.as_ref().filter(|o| !o.is_null()) else {
        return malformed(&format!("request.object is missing for {}", req.operation));
    };
    let link = match Resource::decode_kind::<Link>(object.clone(), Link::KIND) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
            return malformed(&format!("the object is a {kind}, but request.kind says Link"));
        }
        Err(e) => return deny(uid, 400, "BadRequest", &format!("the Link cannot be read: {e}"), Vec::new()),
    };
    let (validation, policy_errors) = evaluate(&link, req.namespace.as_deref(), policy);
    let warnings: Vec<String> = validation.warnings.iter().map(ToString::to_string).collect();
    let warnings = bounded_warnings(&warnings);
    if validation.errors.is_empty() && policy_errors.is_empty() {
        return allow(uid, warnings);
    }
    let (code, reason) = if validation.errors.is_empty() { (403, "Forbidden") } else { (422, "Invalid") };
    let message = validation.errors.iter().chain(&policy_errors).map(ToString::to_string).collect::<Vec<_>>();
    let message = format!("Link {:?} refused: {}", link.name(), message.join("; "));
    deny(uid, code, reason, &message, warnings)
}

/// Answers an AdmissionReview (any JSON value) with an AdmissionReview holding the response.
/// Never panics: anything malformed is denied with a message saying what is wrong, echoing
/// `request.uid` when it can be found.
pub fn review(review: &Value, policy: &Policy) -> Value {
    let api_version = match review.get("apiVersion").and_then(Value::as_str) {
        Some(v @ (ADMISSION_V1 | ADMISSION_V1BETA1)) => v,
        _ => ADMISSION_V1,
    };
    let out = AdmissionReview {
        api_version: api_version.into(),
        kind: "AdmissionReview".into(),
        request: None,
        response: Some(decide(review, policy)),
    };
    serde_json::to_value(out).unwrap_or(Value::Null)
}

/// [`review`] over raw bytes (the webhook body, or the Wasm guest's input).
pub fn review_bytes(input: &[u8], policy: &Policy) -> Value {
    match serde_json::from_slice::<Value>(input) {
        Ok(v) => review(&v, policy),
        Err(e) => {
            let out = AdmissionReview {
                api_version: ADMISSION_V1.into(),
                kind: "AdmissionReview".into(),
                request: None,
                response: Some(deny(
                    "",
                    400,
                    "BadRequest",
                    &format!("malformed AdmissionReview: the body is not JSON: {e}"),
                    Vec::new(),
                )),
            };
            serde_json::to_value(out).unwrap_or(Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use serde_json::json;

    fn link_object(host: &str, cost: i64) -> Value {
        json!({"apiVersion": "skupper.io/v2alpha1", "kind": "Link",
               "metadata": {"name": "link-west-skupper-router", "namespace": "east"},
               "spec": {"cost": cost, "tlsCredentials": "link-west", "endpoints": [
                   {"name": "inter-router", "host": host, "port": "55671", "group": "skupper-router"},
                   {"name": "edge", "host": host, "port": "45671", "group": "skupper-router"}]}})
    }

    fn request(object: Value) -> Value {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                   "kind": {"group": "skupper.io", "version": "v2alpha1", "kind": "Link"},
                   "resource": {"group": "skupper.io", "version": "v2alpha1", "resource": "links"},
                   "name": "link-west-skupper-router", "namespace": "east", "operation": "CREATE",
                   "userInfo": {"username": "admin", "groups": ["system:authenticated"]},
                   "object": object, "oldObject": null, "dryRun": false}})
    }

    fn response(v: &Value) -> AdmissionResponse {
        assert_eq!(v["apiVersion"], json!(ADMISSION_V1));
        assert_eq!(v["kind"], json!("AdmissionReview"));
        serde_json::from_value(v["response"].clone()).expect("response")
    }

    #[test]
    fn a_valid_link_is_allowed_with_its_uid() {
        let r = response(&review(&request(link_object("west.example.com", 1)), &Policy::default()));
        assert!(r.allowed && r.status.is_none() && r.warnings.is_empty(), "{r:?}");
        assert_eq!(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    }

    #[test]
    fn invalid_links_are_denied_with_every_message() {
        let mut obj = link_object("bad host", -1);
        obj["spec"]["endpoints"][1]["name"] = json!("peer");
        let r = response(&review(&request(obj), &Policy::default()));
        assert!(!r.allowed);
        let s = r.status.expect("status");
        assert_eq!((s.code, s.reason.as_str()), (Some(422), "Invalid"));
        assert!(s.message.starts_with("Link \"link-west-skupper-router\" refused: spec.endpoints[0].host"));
        assert!(s.message.contains("; spec.endpoints[1].host") && s.message.contains("; spec.cost: cost -1"));
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].starts_with("spec.endpoints[1].name: unknown endpoint name"));
        assert!(r.warnings[0].chars().count() <= MAX_WARNING_CHARS);
    }

    #[test]
    fn cost_zero_is_allowed_with_a_warning() {
        let r = response(&review(&request(link_object("west.example.com", 0)), &Policy::default()));
        assert!(r.allowed);
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].starts_with("spec.cost: cost is not set"));
    }

    #[test]
    fn policy_rules() {
        let policy = Policy {
            allowed_hosts: vec!["*.corp.example".into(), "10.0.0.1".into()],
            min_cost: Some(5),
            max_cost: Some(100),
            require_proxy: true,
            ..Policy::default()
        };
        let r = response(&review(&request(link_object("west.other.example", 1)), &policy));
        let s = r.status.expect("denied");
        assert_eq!((s.code, s.reason.as_str()), (Some(403), "Forbidden"));
        for part in ["not allowed by policy", "below the policy minimum 5", "requires an HTTP proxy"] {
            assert!(s.message.contains(part), "{part}: {}", s.message);
        }
        let mut ok = link_object("west.corp.example", 5);
        ok["spec"]["settings"] = json!({"proxy-configuration": "corp-proxy"});
        assert!(response(&review(&request(ok.clone()), &policy)).allowed);
        ok["spec"]["cost"] = json!(101);
        assert!(!response(&review(&request(ok), &policy)).allowed);
        assert!(policy.host_allowed("WEST.corp.example."));
        assert!(policy.host_allowed("[10.0.0.1]"));
        assert!(!policy.host_allowed("corp.example"));
        assert!(!policy.host_allowed("evilcorp.example"));
        assert!(Policy::default().host_allowed("anything"));
    }

    #[test]
    fn duplicates_use_known_links_of_the_same_namespace() {
        let existing: Link = serde_json::from_value(json!({"apiVersion": "skupper.io/v2alpha1", "kind": "Link",
            "metadata": {"name": "older", "namespace": "east"},
            "spec": {"tlsCredentials": "x", "endpoints": [
                {"name": "inter-router", "host": "west.example.com", "port": "55671"}]}}))
        .expect("link");
        let mut policy = Policy { known_links: vec![existing.clone()], ..Policy::default() };
        let r = response(&review(&request(link_object("west.example.com", 1)), &policy));
        assert!(!r.allowed);
        assert!(r.status.expect("status").message.contains("duplicate link: Link \"older\""));
        policy.forbid_duplicate_peers = false;
        assert!(response(&review(&request(link_object("west.example.com", 1)), &policy)).allowed);
        let mut elsewhere = existing;
        elsewhere.metadata.namespace = Some("other".into());
        let policy = Policy { known_links: vec![elsewhere], ..Policy::default() };
        assert!(response(&review(&request(link_object("west.example.com", 1)), &policy)).allowed);
    }

    #[test]
    fn other_kinds_and_operations_pass() {
        let mut v = request(json!({"apiVersion": "v1", "kind": "Secret"}));
        v["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Secret"});
        assert!(response(&review(&v, &Policy::default())).allowed);
        let mut v = request(Value::Null);
        v["request"]["operation"] = json!("DELETE");
        v["request"]["oldObject"] = link_object("bad host", -1);
        assert!(response(&review(&v, &Policy::default())).allowed);
        let mut v = request(link_object("bad host", 1));
        v["request"]["subResource"] = json!("status");
        assert!(response(&review(&v, &Policy::default())).allowed);
    }

    #[test]
    fn malformed_reviews_are_denied_not_trapped() {
        let cases = [
            (json!(null), ""),
            (json!("x"), ""),
            (json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}), ""),
            (json!({"kind": "Pod", "apiVersion": "v1", "request": {"uid": "u1"}}), "u1"),
            (json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"uid": 5}}), ""),
            (json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"uid": ""}}), ""),
        ];
        for (input, uid) in cases {
            let r = response(&review(&input, &Policy::default()));
            assert!(!r.allowed, "{input}");
            assert_eq!(r.uid, uid);
            let s = r.status.expect("status");
            assert_eq!(s.code, Some(400));
            assert!(s.message.starts_with("malformed AdmissionReview"), "{}", s.message);
        }
        let mut v = request(json!({"apiVersion": "skupper.io/v2alpha1", "kind": "Link", "spec": {"cost": "high"}}));
        let r = response(&review(&v, &Policy::default()));
        assert!(!r.allowed && r.status.expect("status").message.contains("cannot be read"));
        v["request"]["object"] = Value::Null;
        assert!(!response(&review(&v, &Policy::default())).allowed);
        let r = response(&review_bytes(b"{not json", &Policy::default()));
        assert!(!r.allowed && r.status.expect("status").message.contains("not JSON"));
    }

    #[test]
    fn v1beta1_is_answered_in_kind() {
        let mut v = request(link_object("west.example.com", 1));
        v["apiVersion"] = json!(ADMISSION_V1BETA1);
        assert_eq!(review(&v, &Policy::default())["apiVersion"], json!(ADMISSION_V1BETA1));
    }

    #[test]
    fn inconsistent_policy_fails_closed() {
        let p = Policy { min_cost: Some(10), max_cost: Some(1), ..Policy::default() };
        let r = response(&review(&request(link_object("west.example.com", 5)), &p));
        assert!(!r.allowed && r.status.expect("status").message.contains("minCost 10 is above maxCost 1"));
        assert!(Policy::from_value(&json!({"allowedHosts": ["a.*.b"]})).is_err());
        assert!(Policy::from_value(&json!({"minCost": "x"})).is_err());
        let p = Policy::from_value(&json!({"allowedHosts": ["*.corp.example"]})).expect("policy");
        assert!(p.forbid_duplicate_peers, "defaults to true");
    }

    #[test]
    fn warnings_and_messages_are_bounded_on_char_boundaries() {
        let many: Vec<String> = (0..200).map(|i| format!("{i}: {}", "é".repeat(300))).collect();
        let w = bounded_warnings(&many);
        assert!(w.iter().map(String::len).sum::<usize>() <= MAX_WARNINGS_BYTES);
        assert!(w.last().expect("note").ends_with("more warnings not shown"));
        assert!(w.iter().all(|x| x.chars().count() <= MAX_WARNING_CHARS));
        assert_eq!(warning_text("a\nb", 10), "a b");
        let cut = cut_bytes(&"é".repeat(10), 8);
        assert!(cut.len() <= 8 && cut.ends_with('…'));
        assert_eq!(cut_bytes("short", 8), "short");
    }
}
