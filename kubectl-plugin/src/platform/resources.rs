//! A namespace's resource set and its text form, the same on every platform: `Resources` (what a
//! namespace declares, by kind and name), documents to resources and back through the one codec
//! (`skupper-yaml`), so files, the grant protocol and the API server agree.

use std::collections::BTreeMap;

use anyhow::Context as _;
use skupper_core::resources::{
    API_VERSION, AccessGrant, AccessToken, Connector, Link, Listener, MultiKeyListener, Resource, ResourceError,
    RouterAccess, Secret, Site,
};

/// Everything a namespace declares, by kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Resources {
    /// The site (at most one per namespace).
    pub site: Option<Site>,
    /// Links by name.
    pub links: BTreeMap<String, Link>,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Access tokens by name.
    pub tokens: BTreeMap<String, AccessToken>,
    /// Access grants by name.
    pub grants: BTreeMap<String, AccessGrant>,
    /// Listeners by name.
    pub listeners: BTreeMap<String, Listener>,
    /// Connectors by name.
    pub connectors: BTreeMap<String, Connector>,
    /// Multi-key listeners by name.
    pub multi_key_listeners: BTreeMap<String, MultiKeyListener>,
    /// Router accesses by name (accepted, not used by the local router).
    pub router_accesses: BTreeMap<String, RouterAccess>,
    /// Resources of [`STORED_ONLY_KINDS`] by kind and name, as they were applied.
    pub stored_only: BTreeMap<(&'static str, String), serde_json::Value>,
}

/// Kinds that upstream's system sites (podman, docker, linux) store but do not run, and the
/// local platform the same: accepted in a file with a warning, kept, never acted on.
pub(crate) const STORED_ONLY_KINDS: [&str; 4] =
    ["AttachedConnector", "AttachedConnectorBinding", "SecuredAccess", "Certificate"];

/// One document of a file: a resource, or one of a kind that is only stored.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Document {
    /// A resource this project runs.
    Resource(Resource),
    /// A resource of one of [`STORED_ONLY_KINDS`].
    StoredOnly(StoredOnly),
}

/// A resource of one of [`STORED_ONLY_KINDS`], kept as it came (nulls dropped).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredOnly {
    /// Its kind, one of [`STORED_ONLY_KINDS`].
    pub kind: &'static str,
    /// `metadata.name`.
    pub name: String,
    /// The whole document.
    pub value: serde_json::Value,
}

impl Document {
    /// Decodes one document value: a stored-only kind of `skupper.io/v2alpha1`, else a resource.
    pub(crate) fn from_value(mut value: serde_json::Value) -> Result<Self, ResourceError> {
        let stored = value
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .and_then(|k| STORED_ONLY_KINDS.iter().copied().find(|s| *s == k));
        let Some(kind) = stored else { return Resource::from_value(value).map(Document::Resource) };
        skupper_core::resources::drop_nulls(&mut value);
        let name = value.pointer("/metadata/name").and_then(serde_json::Value::as_str).unwrap_or("").to_string();
        let api = value.get("apiVersion").and_then(serde_json::Value::as_str).unwrap_or("");
        if api != API_VERSION {
            return Err(ResourceError::ApiVersion {
                kind: kind.into(),
                name,
                found: api.into(),
                expected: API_VERSION,
            });
        }
        if !value.get("metadata").is_some_and(serde_json::Value::is_object) {
            return Err(ResourceError::NotAnObject(format!("{kind}: field `metadata` is not a mapping")));
        }
        Ok(Self::StoredOnly(StoredOnly { kind, name, value }))
    }

    /// Kind name.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Resource(r) => r.kind(),
            Self::StoredOnly(s) => s.kind,
        }
    }

    /// Object name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Resource(r) => r.name(),
            Self::StoredOnly(s) => &s.name,
        }
    }
}

impl Resources {
    /// Adds or replaces one resource.
    pub(crate) fn insert(&mut self, r: Resource) {
        match r {
            Resource::Site(x) => self.site = Some(x),
            Resource::Link(x) => {
                self.links.insert(x.name().into(), x);
            }
            Resource::Secret(x) => {
                self.secrets.insert(x.name().into(), x);
            }
            Resource::AccessToken(x) => {
                self.tokens.insert(x.name().into(), x);
            }
            Resource::AccessGrant(x) => {
                self.grants.insert(x.name().into(), x);
            }
            Resource::Listener(x) => {
                self.listeners.insert(x.name().into(), x);
            }
            Resource::Connector(x) => {
                self.connectors.insert(x.name().into(), x);
            }
            Resource::RouterAccess(x) => {
                self.router_accesses.insert(x.name().into(), x);
            }
            Resource::MultiKeyListener(x) => {
                self.multi_key_listeners.insert(x.name().into(), x);
            }
        }
    }

    /// Whether a resource of that kind and name is declared.
    pub(crate) fn contains(&self, kind: &str, name: &str) -> bool {
        match kind {
            "Site" => self.site.as_ref().is_some_and(|s| s.name() == name),
            "Link" => self.links.contains_key(name),
            "Secret" => self.secrets.contains_key(name),
            "AccessToken" => self.tokens.contains_key(name),
            "AccessGrant" => self.grants.contains_key(name),
            "Listener" => self.listeners.contains_key(name),
            "Connector" => self.connectors.contains_key(name),
            "RouterAccess" => self.router_accesses.contains_key(name),
            "MultiKeyListener" => self.multi_key_listeners.contains_key(name),
            _ => self.stored_only.keys().any(|(k, n)| *k == kind && n == name),
        }
    }
}

/// Decodes text (a YAML stream, JSON values, a top-level list) into resources.
pub(crate) fn parse_documents(text: &str) -> anyhow::Result<Vec<Resource>> {
    let mut out = Vec::new();
    for (i, value) in parse_values(text)?.into_iter().enumerate() {
        let r = Resource::from_value(value).with_context(|| format!("document {}", i + 1))?;
        out.push(r);
    }
    Ok(out)
}

/// Decodes text into documents: resources, and resources of [`STORED_ONLY_KINDS`].
pub(crate) fn parse_stored_documents(text: &str) -> anyhow::Result<Vec<Document>> {
    let mut out = Vec::new();
    for (i, value) in parse_values(text)?.into_iter().enumerate() {
        out.push(Document::from_value(value).with_context(|| format!("document {}", i + 1))?);
    }
    Ok(out)
}

/// Decodes text into document values (empty documents skipped), with the position of the first
/// syntax error.
pub(crate) fn parse_values(text: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    skupper_yaml::parse(text).map_err(anyhow::Error::new)
}

/// The YAML text of any document value, as [`resource_yaml`] writes a resource.
pub(crate) fn value_yaml(v: &serde_json::Value) -> anyhow::Result<String> {
    Ok(skupper_yaml::to_yaml(v)?)
}

/// The YAML text of a resource as stored in a file and sent by the grant server: everything the
/// resource holds but nulls (a `verifyHostname: false` or an unknown field's `false` is not
/// dropped as upstream's printer drops empty values; `-o yaml` prints with [`value_yaml`]).
pub(crate) fn resource_yaml(r: &Resource) -> anyhow::Result<String> {
    Ok(skupper_yaml::to_yaml_stored(&r.to_value())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_yaml_and_json_streams() {
        let y = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\n---\napiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: l\n";
        let docs = parse_documents(y).expect("yaml");
        assert_eq!(docs.iter().map(|d| d.kind()).collect::<Vec<_>>(), ["Secret", "Link"]);
        let j = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}
{"apiVersion":"skupper.io/v2alpha1","kind":"Link","metadata":{"name":"l"}}"#;
        assert_eq!(parse_documents(j).expect("json").len(), 2);
        assert!(parse_documents("kind: [").is_err());
        assert!(parse_documents("apiVersion: v1\nkind: Pod\n").is_err());
        // A top-level list is one resource per item, as the browser page reads it.
        let list = "- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n";
        assert_eq!(parse_documents(list).expect("list").len(), 1);
    }

    #[test]
    fn null_objects_are_empty_as_go_decodes_them() {
        let y = "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: w\n  labels:\nspec:\nstatus:\n";
        let docs = parse_documents(y).expect("null spec");
        let Resource::Site(s) = &docs[0] else { panic!("not a site") };
        assert_eq!((s.name(), &s.spec), ("w", &Default::default()));
        let y = "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata: {name: l}\nspec:\n  endpoints:\n  - {name: inter-router, host: h, port: '1', group: null}\n  settings: null\n  cost: null\n";
        let Resource::Link(l) = &parse_documents(y).expect("null members")[0] else { panic!("not a link") };
        assert_eq!((l.spec.endpoints[0].group.as_str(), l.spec.cost, l.spec.settings.len()), ("", 0, 0));
    }
}
