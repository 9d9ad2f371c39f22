//! The `skupper.io/v2alpha1` resource model and the Kubernetes Secrets it uses.
//!
//! Shapes follow upstream Skupper's `pkg/apis/skupper/v2alpha1/types.go` so files written by
//! upstream tools load here and ours load there. Unknown fields are ignored, Go's empty
//! `status: {}` and `creationTimestamp: null` are accepted. Decoding is format-agnostic (serde);
//! callers turn YAML or JSON text into values at their edge.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// API version of every Skupper resource.
pub const API_VERSION: &str = "skupper.io/v2alpha1";
/// API version of core Kubernetes objects (Secret).
pub const V1: &str = "v1";
/// Message of a Ready status (upstream `STATUS_OK`).
pub const STATUS_OK: &str = "OK";

/// Secret type holding a certificate, its key and the CA (`tls.crt`, `tls.key`, `ca.crt`).
pub const SECRET_TYPE_TLS: &str = "kubernetes.io/tls";
/// Secret type holding proxy credentials (`host`, `port`, `username`, `password`).
pub const SECRET_TYPE_BASIC_AUTH: &str = "kubernetes.io/basic-auth";

/// Role name of interior router links.
pub const ROLE_INTER_ROUTER: &str = "inter-router";
/// Role name of edge router links.
pub const ROLE_EDGE: &str = "edge";
/// Default port of the inter-router role.
pub const DEFAULT_INTER_ROUTER_PORT: u16 = 55671;
/// Default port of the edge role.
pub const DEFAULT_EDGE_PORT: u16 = 45671;
/// Default grant server port.
pub const DEFAULT_GRANT_SERVER_PORT: u16 = 9090;
/// Router group of the first (or only) router of a site.
pub const GROUP_PRIMARY: &str = "skupper-router";
/// Router group of the second router of a high-availability site.
pub const GROUP_SECONDARY: &str = "skupper-router-2";
/// The Link setting naming a `kubernetes.io/basic-auth` Secret that configures an HTTP CONNECT proxy.
pub const SETTING_PROXY_CONFIGURATION: &str = "proxy-configuration";

/// Condition types used by Skupper resources.
pub mod condition {
    /// Configuration was applied.
    pub const CONFIGURED: &str = "Configured";
    /// Endpoints are known.
    pub const RESOLVED: &str = "Resolved";
    /// The router runs.
    pub const RUNNING: &str = "Running";
    /// A listener has a connector, or the reverse.
    pub const MATCHED: &str = "Matched";
    /// A grant was accepted.
    pub const PROCESSED: &str = "Processed";
    /// A token was redeemed.
    pub const REDEEMED: &str = "Redeemed";
    /// A link is up.
    pub const OPERATIONAL: &str = "Operational";
    /// The synthetic aggregate.
    pub const READY: &str = "Ready";
}

/// `metadata` of any object. Only the fields this project reads are typed; others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Namespace, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Unique id assigned by the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Generation counter (bumped on spec changes by Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// RFC 3339 creation time; Go writes `null` for unset, which is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

impl ObjectMeta {
    /// Metadata with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

/// One condition (`metav1.Condition`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Operational`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason: `Ready`, `Error` or `Pending` in Skupper.
    #[serde(default)]
    pub reason: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Generation the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339 time of the last change of `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Condition {
    /// `{status: True, reason: Ready, message: OK}`.
    pub fn ready(type_: &str) -> Self {
        Self::new(type_, "True", "Ready", STATUS_OK)
    }
    /// `{status: False, reason: Error, message}`.
    pub fn error(type_: &str, message: impl Into<String>) -> Self {
        Self::new(type_, "False", "Error", message)
    }
    /// `{status: False, reason: Pending, message}`.
    pub fn pending(type_: &str, message: impl Into<String>) -> Self {
        Self::new(type_, "False", "Pending", message)
    }
    fn new(type_: &str, status: &str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: None,
        }
    }
    /// Whether `status` is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The aggregated state of a resource (`status.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// All required conditions are true.
    Ready,
    /// A required condition is missing or pending.
    Pending,
    /// A required condition reports an error.
    Error,
}

impl Phase {
    /// The string upstream writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Pending => "Pending",
            Self::Error => "Error",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status block every Skupper resource embeds.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `Ready`, `Pending` or `Error`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// `OK` when ready, otherwise the reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Conditions, including the synthetic `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Status {
    /// The condition of that type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Sets (replaces or adds) a condition and recomputes `Ready`, `status` and `message`
    /// from the `required` condition types (reference §1.0):
    /// the first required condition that is missing gives Pending / "Not <Type>", the first
    /// that is not true copies its reason and message, otherwise Ready / OK.
    /// `now` (RFC 3339) becomes `lastTransitionTime` when the condition's status changes.
    pub fn set_condition(&mut self, mut c: Condition, required: &[&str], now: Option<&str>) {
        match self.conditions.iter_mut().find(|x| x.type_ == c.type_) {
            Some(old) => {
                if old.status == c.status {
                    c.last_transition_time = old.last_transition_time.take();
                } else {
                    c.last_transition_time = now.map(ToString::to_string);
                }
                *old = c;
            }
            None => {
                c.last_transition_time = now.map(ToString::to_string);
                self.conditions.push(c);
            }
        }
        self.recompute(required, now);
    }

    /// Recomputes the synthetic `Ready` condition and the top-level fields.
    pub fn recompute(&mut self, required: &[&str], now: Option<&str>) {
        let (phase, message) = compute_ready(&self.conditions, required);
        let ready = match phase {
            Phase::Ready => Condition::ready(condition::READY),
            Phase::Pending => Condition::pending(condition::READY, message.clone()),
            Phase::Error => Condition::error(condition::READY, message.clone()),
        };
        self.status = phase.as_str().into();
        self.message = message;
        match self.conditions.iter_mut().find(|x| x.type_ == condition::READY) {
            Some(old) => {
                let ltt = if old.status == ready.status {
                    old.last_transition_time.take()
                } else {
                    now.map(ToString::to_string)
                };
                *old = Condition { last_transition_time: ltt, ..ready };
            }
            None => self.conditions.push(Condition { last_transition_time: now.map(ToString::to_string), ..ready }),
        }
    }

    /// The aggregated phase, parsed from `status` (unknown text counts as Pending).
    pub fn phase(&self) -> Phase {
        match self.status.as_str() {
            "Ready" => Phase::Ready,
            "Error" => Phase::Error,
            _ => Phase::Pending,
        }
    }
}

/// Ready computation over a condition list (reference §1.0).
pub fn compute_ready(conditions: &[Condition], required: &[&str]) -> (Phase, String) {
    for r in required {
        match conditions.iter().find(|c| c.type_ == *r) {
            None => return (Phase::Pending, alloc::format!("Not {r}")),
            Some(c) if !c.is_true() => {
                let phase = if c.reason == "Error" { Phase::Error } else { Phase::Pending };
                return (phase, c.message.clone());
            }
            Some(_) => {}
        }
    }
    (Phase::Ready, STATUS_OK.into())
}

/// One reachable address of a site (`status.endpoints`, `Link.spec.endpoints`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    /// Role: `inter-router` or `edge` (system sites upstream use `<routeraccess>-<role>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host name or IP address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Port, a string as upstream writes it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port: String,
    /// Router group: `skupper-router` or `skupper-router-2`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
}

/// A settings map (`spec.settings`).
pub type Settings = BTreeMap<String, String>;

macro_rules! resource {
    ($(#[$m:meta])* $name:ident, $kind:literal, $spec:ty, $status:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Always `skupper.io/v2alpha1`.
            #[serde(default = "api_version")]
            pub api_version: String,
            /// Always the kind's name.
            #[serde(default = "String::new")]
            pub kind: String,
            /// Object metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// Desired state.
            #[serde(default)]
            pub spec: $spec,
            /// Observed state; `status: {}` and absence both decode to the default.
            #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "is_default")]
            pub status: $status,
        }

        impl $name {
            /// Kind name.
            pub const KIND: &'static str = $kind;
            /// A new object with this name and spec.
            pub fn new(name: impl Into<String>, spec: $spec) -> Self {
                Self {
                    api_version: API_VERSION.into(),
                    kind: $kind.into(),
                    metadata: ObjectMeta::named(name),
                    spec,
                    status: Default::default(),
                }
            }
            /// The object's name.
            pub fn name(&self) -> &str {
                &self.metadata.name
            }
        }
    };
}

fn api_version() -> String {
    API_VERSION.into()
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `Site.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteSpec {
    /// Service account (Kubernetes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account: String,
    /// `none`, `default`, `route`, `loadbalancer`, ...; non-empty and not `none` enables link access.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub link_access: String,
    /// CA Secret that signs link certificates; default `skupper-site-ca`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_issuer: String,
    /// Edge-mode router: cannot accept links.
    #[serde(default, skip_serializing_if = "is_default")]
    pub edge: bool,
    /// Two routers (groups `skupper-router`, `skupper-router-2`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub ha: bool,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl SiteSpec {
    /// Whether link access is enabled (`linkAccess` set and not `none`).
    pub fn link_access_enabled(&self) -> bool {
        !self.link_access.is_empty() && self.link_access != "none"
    }
}

/// One link of a site record in `Site.status.network`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRecord {
    /// Link name.
    // Left out when unknown: a Kubernetes 1.20 API server refuses an empty string here.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Id of the site at the other end.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_site_id: String,
    /// Name of the site at the other end.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_site_name: String,
    /// Whether the link is up.
    #[serde(default)]
    pub operational: bool,
}

/// A service of a site record in `Site.status.network`: a routing key with the site's
/// connectors and listeners for it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    /// Routing key.
    #[serde(default)]
    pub routing_key: String,
    /// Names of connectors with that key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connectors: Vec<String>,
    /// Names of listeners with that key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<String>,
}

/// The controller that runs a site (`Site.status.controller`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerRecord {
    /// Its name (pod or process).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// A pod a Connector's selector resolved to.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedPod {
    /// Pod name.
    #[serde(default)]
    pub name: String,
    /// Pod IP.
    #[serde(default)]
    pub ip: String,
}

/// One site of `Site.status.network`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteRecord {
    /// Site id.
    #[serde(default)]
    pub id: String,
    /// Site name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `kubernetes`, `local`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// Software version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Outgoing links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkRecord>,
    /// Services (routing keys) with the site's connectors and listeners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRecord>,
}

/// `Site.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// Where the site accepts links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// Number of sites this site knows.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sites_in_network: i64,
    /// The known network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<SiteRecord>,
    /// Effective default issuer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_issuer: String,
    /// The controller that runs the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<ControllerRecord>,
}

resource!(
    /// A site: one namespace (or host namespace) joined to the application network.
    Site, "Site", SiteSpec, SiteStatus
);

/// One role of a RouterAccess.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterAccessRole {
    /// `inter-router` or `edge`.
    pub name: String,
    /// Port; 0 means the role's default (`RouterAccessRole.GetPort`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u16,
}

impl RouterAccess {
    /// What is wrong with this RouterAccess, each as `spec.<field>: <why and what to do>`:
    /// upstream's CRD requires `roles`, and a role is `inter-router` or `edge`, once each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.spec.roles.is_empty() {
            out.push(
                "spec.roles is required: list the roles to listen for, e.g. roles: [{name: inter-router, port: 55671}, \
                 {name: edge, port: 45671}]"
                    .into(),
            );
        }
        for (i, r) in self.spec.roles.iter().enumerate() {
            if r.name != ROLE_INTER_ROUTER && r.name != ROLE_EDGE {
                out.push(alloc::format!(
                    "spec.roles[{i}].name {:?} is not a role: use {ROLE_INTER_ROUTER} or {ROLE_EDGE}",
                    r.name
                ));
            } else if self.spec.roles[..i].iter().any(|o| o.name == r.name) {
                out.push(alloc::format!("spec.roles[{i}]: role {:?} is listed twice", r.name));
            }
        }
        out
    }
}

impl RouterAccessRole {
    /// The port in effect: explicit, else 45671 for `edge` and 55671 for anything else.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.name.as_str()) {
            (0, ROLE_EDGE) => DEFAULT_EDGE_PORT,
            (0, _) => DEFAULT_INTER_ROUTER_PORT,
            (p, _) => p,
        }
    }
}

/// `RouterAccess.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterAccessSpec {
    /// `local`, `route`, `loadbalancer`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_type: String,
    /// Roles to listen for.
    #[serde(default)]
    pub roles: Vec<RouterAccessRole>,
    /// Secret with the server certificate.
    #[serde(default)]
    pub tls_credentials: String,
    /// Whether the controller issues the server certificate.
    #[serde(default, skip_serializing_if = "is_default")]
    pub generate_tls_credentials: bool,
    /// CA Secret that issues it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// Interface to listen on; default all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bind_host: String,
    /// Extra SANs for the server certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alternative_names: Vec<String>,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `RouterAccess.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterAccessStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// Resolved endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
}

resource!(
    /// Where and how a site accepts links.
    RouterAccess, "RouterAccess", RouterAccessSpec, RouterAccessStatus
);

/// `Link.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkSpec {
    /// Endpoints of the remote site; the router uses the one named after its role.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Secret with the client certificate, key and the remote site's CA.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_credentials: String,
    /// Routing cost; values below 1 count as 1.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cost: i64,
    /// Settings, e.g. `proxy-configuration`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl LinkSpec {
    /// The cost in effect: `cost`, or 1 when absent or below 1 (upstream `internal/site/link.go`).
    pub fn effective_cost(&self) -> u32 {
        u32::try_from(self.cost).ok().filter(|c| *c >= 1 && *c <= i32::MAX as u32).unwrap_or(1)
    }
    /// The endpoint for a router role.
    pub fn endpoint_for_role(&self, role: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == role)
    }
    /// The proxy Secret named by `settings.proxy-configuration`.
    pub fn proxy_configuration(&self) -> Option<&str> {
        self.settings.get(SETTING_PROXY_CONFIGURATION).map(String::as_str).filter(|s| !s.is_empty())
    }
}

/// `Link.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// Id of the site at the other end.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_site_id: String,
    /// Name of the site at the other end.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_site_name: String,
}

resource!(
    /// An outgoing link to another site.
    Link, "Link", LinkSpec, LinkStatus
);

impl Link {
    /// Conditions that make a Link Ready.
    pub const REQUIRED: &'static [&'static str] = &[condition::CONFIGURED, condition::OPERATIONAL];
}

/// `AccessGrant.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantSpec {
    /// How many redemptions are allowed; 0 means 1.
    #[serde(default, skip_serializing_if = "is_default")]
    pub redemptions_allowed: i64,
    /// Go duration, e.g. `15m0s`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expiration_window: String,
    /// Fixed code; random when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// CA Secret that signs redeemed certificates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `AccessGrant.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// Redemption URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Secret code.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// PEM CA of the grant server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    /// Redemptions made.
    #[serde(default, skip_serializing_if = "is_default")]
    pub redemptions: i64,
    /// RFC 3339 expiry.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expiration_time: String,
}

resource!(
    /// Permission for remote sites to obtain link credentials with a code.
    AccessGrant, "AccessGrant", AccessGrantSpec, AccessGrantStatus
);

/// `AccessToken.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenSpec {
    /// Grant URL (https).
    #[serde(default)]
    pub url: String,
    /// Secret code, sent as the POST body.
    #[serde(default)]
    pub code: String,
    /// PEM CA that verifies the grant server.
    #[serde(default)]
    pub ca: String,
    /// When above 0, the cost of every Link received.
    #[serde(default, skip_serializing_if = "is_default")]
    pub link_cost: i64,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `AccessToken.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// Whether the token was redeemed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub redeemed: bool,
}

resource!(
    /// A token: what a remote site needs to redeem a grant.
    AccessToken, "AccessToken", AccessTokenSpec, AccessTokenStatus
);

/// `Listener.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    /// Routing key matched against connectors.
    #[serde(default)]
    pub routing_key: String,
    /// Host (Kubernetes: service name; local: bind address).
    #[serde(default)]
    pub host: String,
    /// Port to listen on.
    #[serde(default)]
    pub port: u16,
    /// TLS Secret for application TLS, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_credentials: String,
    /// `tcp` (the only type).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Expose each pod as its own service (Kubernetes only; kept, not acted on).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expose_pods_by_name: bool,
    /// How the listener inspects traffic for telemetry: `auto`, `none`, `http1`, `http2` (kept, not
    /// acted on: this router produces no application telemetry).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub observer: String,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `Listener.status` and `Connector.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// Listener: a connector with the routing key exists somewhere.
    #[serde(default, skip_serializing_if = "is_default")]
    pub has_matching_connector: bool,
    /// Connector: a listener with the routing key exists somewhere.
    #[serde(default, skip_serializing_if = "is_default")]
    pub has_matching_listener: bool,
    /// Pods a Connector's selector resolved to (Kubernetes only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected_pods: Vec<SelectedPod>,
}

resource!(
    /// Accepts client connections and forwards them to connectors with the same routing key.
    Listener, "Listener", ListenerSpec, ServiceStatus
);

/// `Connector.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSpec {
    /// Routing key matched against listeners.
    #[serde(default)]
    pub routing_key: String,
    /// Target host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Target port.
    #[serde(default)]
    pub port: u16,
    /// Pod selector (Kubernetes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// TLS Secret for application TLS, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_credentials: String,
    /// `tcp` (the only type).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// Expose each pod as its own service (Kubernetes only; kept, not acted on).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expose_pods_by_name: bool,
    /// Include pods that are not Ready among the selector's targets (Kubernetes only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub include_not_ready_pods: bool,
    /// Present the client certificate of `tlsCredentials` to the target (mutual TLS).
    #[serde(default, skip_serializing_if = "is_default")]
    pub use_client_cert: bool,
    /// Require the target's certificate to match its host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_hostname: Option<bool>,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

resource!(
    /// Sends connections for a routing key to a target host and port.
    Connector, "Connector", ConnectorSpec, ServiceStatus
);

/// `MultiKeyListener.spec.strategy.priority`: routing keys, highest priority first.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityStrategy {
    /// Every new connection goes to the first key with a reachable connector.
    #[serde(default)]
    pub routing_keys: Vec<String>,
}

/// `MultiKeyListener.spec.strategy.weighted`: routing keys and their weights.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedStrategy {
    /// Connections are split in proportion to the weights among keys with a reachable connector.
    #[serde(default)]
    pub routing_keys: BTreeMap<String, i64>,
}

/// `MultiKeyListener.spec.strategy`: exactly one of `priority` and `weighted`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiKeyStrategy {
    /// Ordered keys: all traffic to the first one with a destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityStrategy>,
    /// Weighted keys: traffic split by weight among keys with a destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<WeightedStrategy>,
}

impl MultiKeyStrategy {
    /// Every routing key the strategy names (priority order, or by name for weighted).
    pub fn keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(p) = &self.priority {
            out.extend(p.routing_keys.iter().cloned());
        }
        if let Some(w) = &self.weighted {
            out.extend(w.routing_keys.keys().cloned());
        }
        out
    }

    /// Why the strategy cannot be used, if it cannot (upstream's CRD rules: exactly one of
    /// `priority` and `weighted`, 1 to 256 keys).
    pub fn problem(&self) -> Option<String> {
        let n = match (&self.priority, &self.weighted) {
            (Some(p), None) => p.routing_keys.len(),
            (None, Some(w)) => w.routing_keys.len(),
            _ => return Some("exactly one of the fields in [priority weighted] must be set".into()),
        };
        if n == 0 || n > 256 {
            return Some("strategy needs 1 to 256 routing keys".into());
        }
        if let Some(w) = &self.weighted
            && let Some((k, _)) = w.routing_keys.iter().find(|(_, v)| **v < 0)
        {
            return Some(alloc::format!("weight of routing key {k:?} is negative; use 0 or more"));
        }
        None
    }
}

/// `MultiKeyListener.spec`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiKeyListenerSpec {
    /// Host (Kubernetes: service name; local: bind address).
    #[serde(default)]
    pub host: String,
    /// Port to listen on.
    #[serde(default)]
    pub port: u16,
    /// TLS Secret for client-to-listener TLS, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_credentials: String,
    /// Clients must present a certificate (kept, not acted on yet).
    #[serde(default, skip_serializing_if = "is_default")]
    pub require_client_cert: bool,
    /// Free-form settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: Settings,
    /// `auto`, `none`, `http1`, `http2` (kept, not acted on).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub observer: String,
    /// How connections are matched to routing keys.
    #[serde(default)]
    pub strategy: MultiKeyStrategy,
    /// Fields this version does not know, kept as they came so that a round trip loses nothing
    /// (`system apply` names them in a warning; they are not acted on).
    #[serde(flatten)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `MultiKeyListener.status.strategy.priority`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityStrategyStatus {
    /// Keys with a reachable connector, in priority order.
    #[serde(default)]
    pub routing_keys_reachable: Vec<String>,
}

/// `MultiKeyListener.status.strategy.weighted`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedStrategyStatus {
    /// Keys with a reachable connector, with their weights.
    #[serde(default)]
    pub routing_keys_reachable: BTreeMap<String, i64>,
}

/// `MultiKeyListener.status.strategy`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiKeyStrategyStatus {
    /// Priority status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityStrategyStatus>,
    /// Weighted status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<WeightedStrategyStatus>,
}

/// `MultiKeyListener.status`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiKeyListenerStatus {
    /// Common status.
    #[serde(flatten)]
    pub status: Status,
    /// At least one key of the strategy has a reachable connector.
    #[serde(default, skip_serializing_if = "is_default")]
    pub has_destination: bool,
    /// Which keys are reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<MultiKeyStrategyStatus>,
}

resource!(
    /// Accepts client connections and forwards them to connectors of several routing keys,
    /// chosen by a priority or weighted strategy.
    MultiKeyListener, "MultiKeyListener", MultiKeyListenerSpec, MultiKeyListenerStatus
);

impl MultiKeyListener {
    /// Conditions that make a MultiKeyListener Ready (upstream: `Configured`, `Operational`).
    pub const REQUIRED: &'static [&'static str] = &[condition::CONFIGURED, condition::OPERATIONAL];
}

/// A Kubernetes Secret (`v1`). `data` values are base64, `stringData` plain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Always `v1`.
    #[serde(default = "v1")]
    pub api_version: String,
    /// Always `Secret`.
    #[serde(default = "String::new")]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `kubernetes.io/tls`, `kubernetes.io/basic-auth`, `Opaque`, ...
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Base64 values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values (write-only on Kubernetes; merged over `data` when read here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
}

fn v1() -> String {
    V1.into()
}

impl Secret {
    /// Kind name.
    pub const KIND: &'static str = "Secret";

    /// A Secret of `type_` with the given binary values (stored base64 in `data`).
    pub fn with_data<'a>(
        name: impl Into<String>,
        type_: &str,
        values: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Self {
        let data =
            values.into_iter().map(|(k, v)| (k.into(), base64::engine::general_purpose::STANDARD.encode(v))).collect();
        Self {
            api_version: V1.into(),
            kind: Self::KIND.into(),
            metadata: ObjectMeta::named(name),
            type_: type_.into(),
            data,
            string_data: BTreeMap::new(),
        }
    }

    /// The Secret's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The value of `key`: `stringData` first, then decoded `data`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ResourceError> {
        if let Some(v) = self.string_data.get(key) {
            return Ok(Some(v.as_bytes().to_vec()));
        }
        match self.data.get(key) {
            None => Ok(None),
            Some(v) => {
                let cleaned: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()).map(Some).map_err(|_| {
                    ResourceError::Field {
                        kind: Self::KIND,
                        name: self.metadata.name.clone(),
                        field: alloc::format!("data.{key}"),
                        problem: "is not valid base64".into(),
                    }
                })
            }
        }
    }

    /// The value of `key` as UTF-8 text.
    pub fn get_str(&self, key: &str) -> Result<Option<String>, ResourceError> {
        match self.get(key)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b).map(Some).map_err(|_| ResourceError::Field {
                kind: Self::KIND,
                name: self.metadata.name.clone(),
                field: alloc::format!("data.{key}"),
                problem: "is not UTF-8 text".into(),
            }),
        }
    }

    /// The TLS material of a `kubernetes.io/tls` (or Opaque with the same keys) Secret.
    pub fn tls(&self) -> Result<TlsMaterial, ResourceError> {
        let need = |k: &str| -> Result<Vec<u8>, ResourceError> {
            self.get(k)?.filter(|v| !v.is_empty()).ok_or_else(|| ResourceError::Field {
                kind: Self::KIND,
                name: self.metadata.name.clone(),
                field: alloc::format!("data[{k:?}]"),
                problem: "is missing; a TLS Secret needs tls.crt, tls.key and ca.crt".into(),
            })
        };
        Ok(TlsMaterial { cert_pem: need("tls.crt")?, key_pem: need("tls.key")?, ca_pem: need("ca.crt")? })
    }

    /// The proxy settings of a `kubernetes.io/basic-auth` Secret (reference §4.1).
    pub fn proxy(&self) -> Result<ProxySettings, ResourceError> {
        let field = |field: &str, problem: &str| ResourceError::Field {
            kind: Self::KIND,
            name: self.metadata.name.clone(),
            field: field.into(),
            problem: problem.into(),
        };
        let host = self.get_str("host")?.filter(|h| !h.trim().is_empty());
        let host = host.ok_or_else(|| field("data.host", "is missing: name the proxy host"))?;
        let port = self.get_str("port")?.ok_or_else(|| field("data.port", "is missing: name the proxy port"))?;
        let port: u16 = port
            .trim()
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| field("data.port", "is not a port number (1-65535)"))?;
        Ok(ProxySettings {
            host: host.trim().into(),
            port,
            username: self.get_str("username")?.filter(|u| !u.is_empty()),
            password: self.get_str("password")?.filter(|p| !p.is_empty()),
        })
    }
}

/// PEM material of a TLS Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// `tls.crt`.
    pub cert_pem: Vec<u8>,
    /// `tls.key`.
    pub key_pem: Vec<u8>,
    /// `ca.crt`.
    pub ca_pem: Vec<u8>,
}

/// HTTP CONNECT proxy settings from a basic-auth Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy host.
    pub host: String,
    /// Proxy port.
    pub port: u16,
    /// User name for `Proxy-Authorization: Basic`.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

/// Any resource this project understands, as found in a file or a YAML stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Resource {
    /// A Site.
    Site(Site),
    /// A RouterAccess.
    RouterAccess(RouterAccess),
    /// A Link.
    Link(Link),
    /// An AccessGrant.
    AccessGrant(AccessGrant),
    /// An AccessToken.
    AccessToken(AccessToken),
    /// A Listener.
    Listener(Listener),
    /// A Connector.
    Connector(Connector),
    /// A MultiKeyListener.
    MultiKeyListener(MultiKeyListener),
    /// A Secret.
    Secret(Secret),
}

/// Removes every `null` member of every mapping in `value`: what a missing field decodes to is
/// what Go decodes a `null` to, the zero value. Iterative: a deep document costs no stack.
pub fn drop_nulls(value: &mut serde_json::Value) {
    let mut todo = alloc::vec![value];
    while let Some(v) = todo.pop() {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                todo.extend(m.iter_mut().map(|(_, x)| x));
            }
            serde_json::Value::Array(a) => todo.extend(a.iter_mut()),
            _ => {}
        }
    }
}

/// Why a document is not a resource we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// The document is not a mapping with `apiVersion` and `kind`.
    #[error("document is not a Kubernetes object: {0}")]
    NotAnObject(String),
    /// `apiVersion` is not the one the kind needs.
    #[error("{kind} {name:?}: apiVersion {found:?} is not supported (expected {expected:?})")]
    ApiVersion {
        /// Kind.
        kind: String,
        /// Object name.
        name: String,
        /// What the document says.
        found: String,
        /// What we support.
        expected: &'static str,
    },
    /// `kind` is not one we handle.
    #[error(
        "kind {0:?} is not supported (expected one of Site, RouterAccess, Link, AccessGrant, AccessToken, Listener, Connector, MultiKeyListener, Secret)"
    )]
    UnknownKind(String),
    /// A field has the wrong shape.
    #[error("{kind} {name:?}: {message}")]
    Decode {
        /// Kind.
        kind: String,
        /// Object name, when readable.
        name: String,
        /// Decoder message, naming the field.
        message: String,
    },
    /// A field's value is not acceptable.
    #[error("{kind} {name:?}: {field} {problem}")]
    Field {
        /// Kind.
        kind: &'static str,
        /// Object name.
        name: String,
        /// Field path.
        field: String,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// Checks a document's head: a mapping with a kind this model has and that kind's apiVersion;
/// a `null` anywhere is dropped first (Go's zero value). Returns the kind and the name.
fn head(value: &mut serde_json::Value) -> Result<(String, String), ResourceError> {
    drop_nulls(value);
    let obj =
        value.as_object().ok_or_else(|| ResourceError::NotAnObject("expected a mapping at the top level".into()))?;
    let kind = obj
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or_else(|| ResourceError::NotAnObject("field `kind` is missing".into()))?
        .to_string();
    let api = obj
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .ok_or_else(|| ResourceError::NotAnObject("field `apiVersion` is missing".into()))?
        .to_string();
    let name = obj.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap_or("").to_string();
    let expected = if kind == Secret::KIND { V1 } else { API_VERSION };
    let known = matches!(
        kind.as_str(),
        "Site"
            | "RouterAccess"
            | "Link"
            | "AccessGrant"
            | "AccessToken"
            | "Listener"
            | "Connector"
            | "MultiKeyListener"
            | "Secret"
    );
    if !known {
        return Err(ResourceError::UnknownKind(kind));
    }
    if api != expected {
        return Err(ResourceError::ApiVersion { kind, name, found: api, expected });
    }
    Ok((kind, name))
}

fn decode<T: DeserializeOwned>(v: serde_json::Value, kind: &str, name: &str) -> Result<T, ResourceError> {
    serde_json::from_value(v).map_err(|e| ResourceError::Decode {
        kind: kind.into(),
        name: name.into(),
        message: e.to_string(),
    })
}

impl Resource {
    /// The `spec` fields of this resource that this version does not know (kept, not acted on),
    /// as `spec.<name>`.
    pub fn unknown_fields(&self) -> Vec<String> {
        let extra = match self {
            Self::Site(x) => &x.spec.extra,
            Self::RouterAccess(x) => &x.spec.extra,
            Self::Link(x) => &x.spec.extra,
            Self::AccessGrant(x) => &x.spec.extra,
            Self::AccessToken(x) => &x.spec.extra,
            Self::Listener(x) => &x.spec.extra,
            Self::Connector(x) => &x.spec.extra,
            Self::MultiKeyListener(x) => &x.spec.extra,
            Self::Secret(_) => return Vec::new(),
        };
        extra.keys().map(|k| alloc::format!("spec.{k}")).collect()
    }

    /// Decodes one document (already turned into a JSON value by the caller). As Go decodes
    /// it, a `null` anywhere (`spec:` with no value, `settings: null`) is the field's zero value.
    pub fn from_value(mut value: serde_json::Value) -> Result<Self, ResourceError> {
        let (kind, name) = head(&mut value)?;
        Ok(match kind.as_str() {
            "Site" => Self::Site(decode(value, &kind, &name)?),
            "RouterAccess" => Self::RouterAccess(decode(value, &kind, &name)?),
            "Link" => Self::Link(decode(value, &kind, &name)?),
            "AccessGrant" => Self::AccessGrant(decode(value, &kind, &name)?),
            "AccessToken" => Self::AccessToken(decode(value, &kind, &name)?),
            "Listener" => Self::Listener(decode(value, &kind, &name)?),
            "Connector" => Self::Connector(decode(value, &kind, &name)?),
            "MultiKeyListener" => Self::MultiKeyListener(decode(value, &kind, &name)?),
            _ => Self::Secret(decode(value, &kind, &name)?),
        })
    }

    /// Decodes one document as [`Resource::from_value`] does, if it is of kind `kind` (`Ok(None)`
    /// for another kind). Only `T`'s decoder is built into a program that decodes this way: the
    /// Wasm page and the policy module read Links and Secrets only, and every kind's decoder is
    /// tens of KiB of Wasm.
    pub fn decode_kind<T: DeserializeOwned>(
        mut value: serde_json::Value,
        kind: &str,
    ) -> Result<Option<T>, ResourceError> {
        let (found, name) = head(&mut value)?;
        if found != kind {
            return Ok(None);
        }
        decode(value, &found, &name).map(Some)
    }

    /// Encodes to a JSON value (for YAML or JSON output at the caller's edge).
    pub fn to_value(&self) -> serde_json::Value {
        let r = match self {
            Self::Site(x) => serde_json::to_value(x),
            Self::RouterAccess(x) => serde_json::to_value(x),
            Self::Link(x) => serde_json::to_value(x),
            Self::AccessGrant(x) => serde_json::to_value(x),
            Self::AccessToken(x) => serde_json::to_value(x),
            Self::Listener(x) => serde_json::to_value(x),
            Self::Connector(x) => serde_json::to_value(x),
            Self::MultiKeyListener(x) => serde_json::to_value(x),
            Self::Secret(x) => serde_json::to_value(x),
        };
        // Serializing these plain structs cannot fail: all keys are strings.
        r.unwrap_or(serde_json::Value::Null)
    }

    /// Kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Site(_) => Site::KIND,
            Self::RouterAccess(_) => RouterAccess::KIND,
            Self::Link(_) => Link::KIND,
            Self::AccessGrant(_) => AccessGrant::KIND,
            Self::AccessToken(_) => AccessToken::KIND,
            Self::Listener(_) => Listener::KIND,
            Self::Connector(_) => Connector::KIND,
            Self::MultiKeyListener(_) => MultiKeyListener::KIND,
            Self::Secret(_) => Secret::KIND,
        }
    }

    /// Object name.
    pub fn name(&self) -> &str {
        match self {
            Self::Site(x) => x.name(),
            Self::RouterAccess(x) => x.name(),
            Self::Link(x) => x.name(),
            Self::AccessGrant(x) => x.name(),
            Self::AccessToken(x) => x.name(),
            Self::Listener(x) => x.name(),
            Self::Connector(x) => x.name(),
            Self::MultiKeyListener(x) => x.name(),
            Self::Secret(x) => x.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_rules() {
        let mut s = Status::default();
        s.recompute(Link::REQUIRED, None);
        assert_eq!((s.status.as_str(), s.message.as_str()), ("Pending", "Not Configured"));
        s.set_condition(Condition::ready(condition::CONFIGURED), Link::REQUIRED, None);
        assert_eq!(s.message, "Not Operational");
        s.set_condition(Condition::error(condition::OPERATIONAL, "TLS refused"), Link::REQUIRED, Some("t1"));
        assert_eq!((s.phase(), s.message.as_str()), (Phase::Error, "TLS refused"));
        s.set_condition(Condition::ready(condition::OPERATIONAL), Link::REQUIRED, Some("t2"));
        assert_eq!((s.phase(), s.message.as_str()), (Phase::Ready, "OK"));
        let ready = s.condition(condition::READY).expect("ready condition");
        assert_eq!(ready.last_transition_time.as_deref(), Some("t2"));
    }

    #[test]
    fn empty_status_and_null_timestamp_are_tolerated() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"apiVersion":"skupper.io/v2alpha1","kind":"Link","metadata":{"name":"l","creationTimestamp":null},
               "spec":{"endpoints":[{"name":"inter-router","host":"h","port":"55671"}],"cost":3,"extra":1},"status":{}}"#,
        )
        .expect("json");
        let Resource::Link(l) = Resource::from_value(v).expect("decodes") else { panic!("not a link") };
        assert_eq!(l.spec.effective_cost(), 3);
        assert_eq!(l.status, LinkStatus::default());
        let v: serde_json::Value = serde_json::from_str(
            r#"{"apiVersion":"skupper.io/v2alpha1","kind":"Link","metadata":{"name":"l"},"status":null}"#,
        )
        .expect("json");
        assert!(Resource::from_value(v).is_ok());
    }

    #[test]
    fn null_objects_decode_as_empty() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"apiVersion":"skupper.io/v2alpha1","kind":"Connector","metadata":{"name":"c","labels":null},
               "spec":null,"status":null}"#,
        )
        .expect("json");
        let Resource::Connector(c) = Resource::from_value(v).expect("decodes") else { panic!("not a connector") };
        assert_eq!((c.name(), &c.spec), ("c", &ConnectorSpec::default()));
        let v: serde_json::Value = serde_json::from_str(
            r#"{"apiVersion":"skupper.io/v2alpha1","kind":"RouterAccess","metadata":{"name":"r"},
               "spec":{"roles":[{"name":"edge","port":null}],"settings":null,"bindHost":null}}"#,
        )
        .expect("json");
        let Resource::RouterAccess(r) = Resource::from_value(v).expect("decodes") else { panic!("not a ra") };
        assert_eq!((r.spec.roles[0].effective_port(), r.spec.bind_host.as_str()), (DEFAULT_EDGE_PORT, ""));
    }

    #[test]
    fn secret_values_and_errors() {
        let s = Secret::with_data("p", SECRET_TYPE_BASIC_AUTH, [("host", &b"127.0.0.1"[..]), ("port", b"3128")]);
        let p = s.proxy().expect("proxy");
        assert_eq!((p.host.as_str(), p.port, p.username), ("127.0.0.1", 3128, None));
        let bad = Secret::with_data("p", SECRET_TYPE_BASIC_AUTH, [("host", &b"h"[..]), ("port", b"x")]);
        let e = bad.proxy().expect_err("bad port").to_string();
        assert!(e.contains("data.port"), "{e}");
        let tls = Secret::with_data("t", SECRET_TYPE_TLS, [("tls.crt", &b"c"[..])]);
        assert!(tls.tls().expect_err("missing").to_string().contains("tls.key"));
    }

    #[test]
    fn wrong_api_version_and_kind_are_named() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"apiVersion":"skupper.io/v1","kind":"Link","metadata":{"name":"x"}}"#)
                .expect("json");
        assert!(matches!(Resource::from_value(v), Err(ResourceError::ApiVersion { .. })));
        let v: serde_json::Value = serde_json::from_str(r#"{"apiVersion":"v1","kind":"Pod"}"#).expect("json");
        assert!(matches!(Resource::from_value(v), Err(ResourceError::UnknownKind(_))));
    }
}
