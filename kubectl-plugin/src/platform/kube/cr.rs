//! The `skupper.io/v2alpha1` kinds as API objects whose `spec` and `status` ARE the core types
//! (no second resource model): [`Cr<K>`] pairs Kubernetes' object metadata (resource versions,
//! owner references) with a core spec and status, and converts to and from core's
//! [`Resource`] for the platform-neutral code. [`Kind`] also carries what the CRD of the kind
//! says beyond the types: plural and short names, required fields, printer columns.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use skupper_core::resources::{self as core, Resource};

/// API group of every kind.
pub(crate) const GROUP: &str = "skupper.io";
/// API version of every kind.
pub(crate) const VERSION: &str = "v2alpha1";

/// A printer column of a kind's CRD: name, type, JSON path.
pub(crate) type Column = (&'static str, &'static str, &'static str);

/// One `skupper.io/v2alpha1` kind.
pub(crate) trait Kind: Clone + Debug + Send + Sync + 'static {
    /// The spec type (core's).
    type Spec: Serialize + DeserializeOwned + Default + Clone + Debug + PartialEq + Send + Sync + schemars::JsonSchema;
    /// The status type (core's).
    type Status: Serialize + DeserializeOwned + Default + Clone + Debug + PartialEq + Send + Sync + schemars::JsonSchema;
    /// `Link`.
    const KIND: &'static str;
    /// `links`.
    const PLURAL: &'static str;
    /// `ln`.
    const SHORT_NAMES: &'static [&'static str];
    /// Spec fields the API server requires (upstream's CRD).
    const REQUIRED: &'static [&'static str];
    /// Printer columns (upstream's CRD).
    const COLUMNS: &'static [Column];
    /// The object as a core resource.
    fn into_resource(meta: core::ObjectMeta, spec: Self::Spec, status: Self::Status) -> Resource;
    /// The parts of a core resource of this kind.
    fn from_resource(r: Resource) -> Option<(core::ObjectMeta, Self::Spec, Self::Status)>;
}

/// An object of kind `K`: Kubernetes metadata, core spec and status.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound = "")]
pub(crate) struct Cr<K: Kind> {
    /// `skupper.io/v2alpha1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// The kind's name.
    #[serde(default)]
    pub kind: String,
    /// Object metadata (resourceVersion, ownerReferences, ... kept).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state; a missing spec decodes to the default (upstream allows it for some kinds).
    #[serde(default)]
    pub spec: K::Spec,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<K::Status>,
    #[serde(skip)]
    _kind: PhantomData<K>,
}

fn api_version() -> String {
    format!("{GROUP}/{VERSION}")
}

impl<K: Kind> Cr<K> {
    /// A new object named `name` in `namespace`.
    pub(crate) fn new(name: &str, namespace: &str, spec: K::Spec) -> Self {
        Self {
            api_version: api_version(),
            kind: K::KIND.into(),
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..Default::default() },
            spec,
            status: None,
            _kind: PhantomData,
        }
    }

    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// As a core resource (status defaulted when absent).
    pub(crate) fn to_resource(&self) -> Resource {
        K::into_resource(core_meta(&self.metadata), self.spec.clone(), self.status.clone().unwrap_or_default())
    }

    /// From a core resource of this kind; `None` for another kind.
    pub(crate) fn from_resource(r: Resource) -> Option<Self> {
        let (meta, spec, status) = K::from_resource(r)?;
        let mut cr = Self::new(&meta.name, meta.namespace.as_deref().unwrap_or_default(), spec);
        cr.metadata.namespace = meta.namespace.clone();
        apply_core_meta(&mut cr.metadata, &meta);
        cr.status = (status != K::Status::default()).then_some(status);
        Some(cr)
    }
}

impl<K: Kind> kube::Resource for Cr<K> {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        K::KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        K::PLURAL.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Core metadata from Kubernetes metadata.
pub(crate) fn core_meta(m: &ObjectMeta) -> core::ObjectMeta {
    core::ObjectMeta {
        name: m.name.clone().unwrap_or_default(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        generation: m.generation,
        creation_timestamp: m.creation_timestamp.as_ref().map(|t| skupper_core::time::format_rfc3339(t.0.as_second())),
    }
}

/// Writes what core metadata says (name, labels, annotations) over Kubernetes metadata, keeping
/// what only the API server sets (uid, resourceVersion, generation, owners).
pub(crate) fn apply_core_meta(m: &mut ObjectMeta, c: &core::ObjectMeta) {
    m.name = Some(c.name.clone());
    m.labels = (!c.labels.is_empty()).then(|| c.labels.clone());
    m.annotations = (!c.annotations.is_empty()).then(|| c.annotations.clone());
}

/// A Secret from the API as core's Secret.
pub(crate) fn core_secret(s: &KubeSecret) -> core::Secret {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut data: BTreeMap<String, String> =
        s.data.iter().flatten().map(|(k, v)| (k.clone(), b64.encode(&v.0))).collect();
    // stringData is write-only on a real API server; honour it if an object carries it.
    for (k, v) in s.string_data.iter().flatten() {
        data.insert(k.clone(), b64.encode(v.as_bytes()));
    }
    core::Secret {
        api_version: "v1".into(),
        kind: "Secret".into(),
        metadata: core_meta(&s.metadata),
        type_: s.type_.clone().unwrap_or_default(),
        data,
        string_data: BTreeMap::new(),
    }
}

/// Core's Secret as an API object (data decoded from base64; an undecodable value is an error).
pub(crate) fn kube_secret(s: &core::Secret, namespace: &str) -> anyhow::Result<KubeSecret> {
    let mut data = BTreeMap::new();
    for k in s.data.keys().chain(s.string_data.keys()) {
        let v = s.get(k)?.unwrap_or_default();
        data.insert(k.clone(), ByteString(v));
    }
    let mut metadata = ObjectMeta { namespace: Some(namespace.into()), ..Default::default() };
    apply_core_meta(&mut metadata, &s.metadata);
    Ok(KubeSecret {
        metadata,
        type_: (!s.type_.is_empty()).then(|| s.type_.clone()),
        data: Some(data),
        ..Default::default()
    })
}

macro_rules! kind {
    ($(#[$m:meta])* $marker:ident, $alias:ident, $core:ident, $spec:ty, $status:ty, $plural:literal,
     short: [$($short:literal),*], required: [$($req:literal),*], columns: [$($col:expr),* $(,)?]) => {
        $(#[$m])*
        #[derive(Clone, Debug)]
        pub(crate) struct $marker;

        impl Kind for $marker {
            type Spec = $spec;
            type Status = $status;
            const KIND: &'static str = core::$core::KIND;
            const PLURAL: &'static str = $plural;
            const SHORT_NAMES: &'static [&'static str] = &[$($short),*];
            const REQUIRED: &'static [&'static str] = &[$($req),*];
            const COLUMNS: &'static [Column] = &[$($col),*];
            fn into_resource(metadata: core::ObjectMeta, spec: $spec, status: $status) -> Resource {
                Resource::$core(core::$core {
                    api_version: core::API_VERSION.into(),
                    kind: core::$core::KIND.into(),
                    metadata,
                    spec,
                    status,
                })
            }
            fn from_resource(r: Resource) -> Option<(core::ObjectMeta, $spec, $status)> {
                match r {
                    Resource::$core(x) => Some((x.metadata, x.spec, x.status)),
                    _ => None,
                }
            }
        }

        #[doc = concat!("A `", stringify!($core), "` object.")]
        #[allow(dead_code)]
        pub(crate) type $alias = Cr<$marker>;
    };
}

const STATUS: Column = ("Status", "string", ".status.status");
const MESSAGE: Column = ("Message", "string", ".status.message");

kind!(
    /// `Site`.
    SiteKind, KSite, Site, core::SiteSpec, core::SiteStatus, "sites",
    short: ["st"], required: [],
    columns: [STATUS, ("Sites In Network", "integer", ".status.sitesInNetwork"), MESSAGE]
);
kind!(
    /// `RouterAccess`.
    RouterAccessKind, KRouterAccess, RouterAccess, core::RouterAccessSpec, core::RouterAccessStatus,
    "routeraccesses", short: [], required: ["roles", "tlsCredentials"], columns: [STATUS, MESSAGE]
);
kind!(
    /// `Link`.
    LinkKind, KLink, Link, core::LinkSpec, core::LinkStatus, "links",
    short: ["ln"], required: ["endpoints"],
    columns: [STATUS, ("Remote Site", "string", ".status.remoteSiteName"), MESSAGE]
);
kind!(
    /// `AccessGrant`.
    AccessGrantKind, KAccessGrant, AccessGrant, core::AccessGrantSpec, core::AccessGrantStatus,
    "accessgrants", short: ["grant", "gr"], required: [],
    columns: [
        ("Redemptions Allowed", "integer", ".spec.redemptionsAllowed"),
        ("Redemptions Made", "integer", ".status.redemptions"),
        ("Expiration", "string", ".status.expirationTime"),
        STATUS,
        MESSAGE,
    ]
);
kind!(
    /// `AccessToken`.
    AccessTokenKind, KAccessToken, AccessToken, core::AccessTokenSpec, core::AccessTokenStatus,
    "accesstokens", short: ["token", "to"], required: ["url", "code", "ca"],
    columns: [("URL", "string", ".spec.url"), ("Redeemed", "boolean", ".status.redeemed"), STATUS, MESSAGE]
);
kind!(
    /// `Listener`.
    ListenerKind, KListener, Listener, core::ListenerSpec, core::ServiceStatus, "listeners",
    short: ["lnr"], required: ["routingKey", "host", "port"],
    columns: [
        ("Routing Key", "string", ".spec.routingKey"),
        ("Port", "integer", ".spec.port"),
        ("Host", "string", ".spec.host"),
        STATUS,
        ("Has Matching Connector", "boolean", ".status.hasMatchingConnector"),
        MESSAGE,
    ]
);
kind!(
    /// `Connector`.
    ConnectorKind, KConnector, Connector, core::ConnectorSpec, core::ServiceStatus, "connectors",
    short: ["cnr"], required: ["routingKey", "port"],
    columns: [
        ("Routing Key", "string", ".spec.routingKey"),
        ("Port", "integer", ".spec.port"),
        ("Host", "string", ".spec.host"),
        ("Selector", "string", ".spec.selector"),
        STATUS,
        ("Has Matching Listener", "boolean", ".status.hasMatchingListener"),
        MESSAGE,
    ]
);
kind!(
    /// `MultiKeyListener`.
    MultiKeyListenerKind, KMultiKeyListener, MultiKeyListener, core::MultiKeyListenerSpec,
    core::MultiKeyListenerStatus, "multikeylisteners",
    short: [], required: ["host", "port", "strategy"],
    columns: [
        STATUS,
        MESSAGE,
        ("HasDestination", "boolean", ".status.hasDestination"),
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_round_trip_keeps_kubernetes_metadata() {
        let mut l: KLink = Cr::new("l", "ns", core::LinkSpec { cost: 3, ..Default::default() });
        l.metadata.resource_version = Some("42".into());
        l.metadata.uid = Some("u".into());
        let r = l.to_resource();
        assert_eq!((r.kind(), r.name()), ("Link", "l"));
        let back = KLink::from_resource(r).expect("a link");
        assert_eq!(back.spec.cost, 3);
        assert_eq!(back.status, None, "a default status is left out");
        assert!(KSite::from_resource(back.to_resource()).is_none());
    }

    #[test]
    fn a_missing_spec_and_an_empty_status_decode() {
        let g: KAccessGrant = serde_json::from_value(serde_json::json!({
            "apiVersion": "skupper.io/v2alpha1", "kind": "AccessGrant",
            "metadata": {"name": "g", "namespace": "ns", "resourceVersion": "7"}, "status": {}
        }))
        .expect("decodes");
        assert_eq!(g.spec, core::AccessGrantSpec::default());
        assert_eq!(g.metadata.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn secrets_convert_both_ways() {
        let s = core::Secret::with_data("s", core::SECRET_TYPE_TLS, [("tls.crt", &b"cert"[..])]);
        let k = kube_secret(&s, "ns").expect("kube");
        assert_eq!(k.data.as_ref().and_then(|d| d.get("tls.crt")).map(|b| b.0.clone()), Some(b"cert".to_vec()));
        let back = core_secret(&k);
        assert_eq!(back.get_str("tls.crt").expect("utf-8"), Some("cert".to_string()));
        assert_eq!(back.type_, core::SECRET_TYPE_TLS);
    }
}
