//! The seven `skupper.io/v2alpha1` CustomResourceDefinitions, generated from the core types
//! (their JSON schemas, doc comments as descriptions) with what upstream's CRDs say beyond the
//! types: required fields, printer columns, short names, the `metav1.Condition` item schema and
//! the status subresource. The result is kept as goldens in `kubectl-plugin/assets/crds/` (a
//! test regenerates them with `UPDATE_GOLDEN=1` and fails when they are stale).
//!
//! Kubernetes 1.20 rejects generated `default`s (`...default: Invalid value: "null"`), so every
//! `default` is removed; unsigned integer formats become `int32`/`int64`.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::cr::{
    AccessGrantKind, AccessTokenKind, ConnectorKind, GROUP, Kind, LinkKind, ListenerKind, MultiKeyListenerKind,
    RouterAccessKind, SiteKind, VERSION,
};

/// `metav1.Condition` as upstream's CRDs (and Kubernetes' own types) constrain it.
fn condition_schema() -> Value {
    json!({
        "type": "object",
        "description": "One condition of the resource (metav1.Condition).",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time",
                "description": "When the condition last changed its status."},
            "message": {"type": "string", "maxLength": 32768, "description": "Human-readable details."},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0,
                "description": "The metadata.generation the condition was computed from."},
            "reason": {"type": "string", "maxLength": 1024, "minLength": 1,
                "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                "description": "Machine-readable reason: Ready, Pending or Error."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": {"type": "string", "maxLength": 316,
                "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
                "description": "Condition type, e.g. Configured."}
        }
    })
}

/// The schema of `T` as Kubernetes takes it: OpenAPI v3, everything inline, structural.
fn schema_of<T: schemars::JsonSchema>() -> Value {
    let settings = SchemaSettings::openapi3().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let generator = settings.with_transform(kube_core::schema::StructuralSchemaRewriter).into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    clean(&mut v);
    v
}

/// Removes what Kubernetes refuses or does not need (`default`, `title`, `$schema`,
/// `definitions`, `nullable` on optional fields) and maps integer formats to the ones it knows.
fn clean(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for k in ["default", "title", "$schema", "definitions", "$defs", "nullable", "examples"] {
                o.remove(k);
            }
            if let Some(Value::String(f)) = o.get("format") {
                let f = match f.as_str() {
                    "uint8" | "uint16" | "int8" | "int16" | "uint32" | "int32" | "uint" => Some("int32"),
                    "uint64" | "int64" => Some("int64"),
                    "double" | "float" | "date-time" | "byte" => None,
                    _ => Some(""),
                };
                match f {
                    Some("") => {
                        o.remove("format");
                    }
                    Some(f) => {
                        o.insert("format".into(), f.into());
                    }
                    None => {}
                }
            }
            // An optional field: `type: [T, "null"]` becomes `type: T`.
            if let Some(Value::Array(types)) = o.get("type") {
                let non_null: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
                if non_null.len() == 1 {
                    o.insert("type".into(), non_null[0].clone());
                }
            }
            for (_, child) in o.iter_mut() {
                clean(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(clean),
        _ => {}
    }
}

/// Every `conditions` array below `v` gets upstream's condition item schema.
fn conditions_as_upstream(v: &mut Value) {
    if let Value::Object(o) = v {
        if let Some(Value::Object(props)) = o.get_mut("properties")
            && let Some(Value::Object(conditions)) = props.get_mut("conditions")
        {
            conditions.insert("items".into(), condition_schema());
        }
        for (_, child) in o.iter_mut() {
            conditions_as_upstream(child);
        }
    }
}

/// The CRD of kind `K` as a JSON value.
pub(crate) fn crd_value<K: Kind>() -> Value {
    let mut spec = schema_of::<K::Spec>();
    if !K::REQUIRED.is_empty() {
        spec["required"] = json!(K::REQUIRED);
    }
    if K::KIND == "AccessGrant" {
        spec["properties"]["expirationWindow"]["format"] = json!("duration");
    }
    let mut status = schema_of::<K::Status>();
    conditions_as_upstream(&mut status);
    // Descriptions of the top-level types repeat the field docs; keep the schema compact.
    for s in [&mut spec, &mut status] {
        if let Value::Object(o) = s {
            o.remove("description");
        }
    }
    let columns: Vec<Value> =
        K::COLUMNS.iter().map(|(name, ty, path)| json!({"name": name, "type": ty, "jsonPath": path})).collect();
    let mut names = Map::new();
    names.insert("kind".into(), K::KIND.into());
    names.insert("listKind".into(), format!("{}List", K::KIND).into());
    names.insert("plural".into(), K::PLURAL.into());
    names.insert("singular".into(), K::KIND.to_lowercase().into());
    if !K::SHORT_NAMES.is_empty() {
        names.insert("shortNames".into(), json!(K::SHORT_NAMES));
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{GROUP}", K::PLURAL),
            "labels": {"app.kubernetes.io/part-of": "skupper", "app.kubernetes.io/managed-by": "kubectl-skupper"}
        },
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                        "status": status
                    }
                }}
            }]
        }
    })
}

/// The eight CRDs (Site first), as JSON values.
pub(crate) fn all_values() -> Vec<Value> {
    vec![
        crd_value::<SiteKind>(),
        crd_value::<RouterAccessKind>(),
        crd_value::<LinkKind>(),
        crd_value::<AccessGrantKind>(),
        crd_value::<AccessTokenKind>(),
        crd_value::<ListenerKind>(),
        crd_value::<ConnectorKind>(),
        crd_value::<MultiKeyListenerKind>(),
    ]
}

/// The golden file name of a CRD (`skupper_<kind>_crd.yaml`, upstream's file names).
#[cfg(test)]
fn file_name(crd: &Value) -> String {
    let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str).unwrap_or_default();
    let snake: String = kind
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let lower = c.to_ascii_lowercase();
            if c.is_ascii_uppercase() && i > 0 { vec!['_', lower] } else { vec![lower] }
        })
        .collect();
    // Upstream writes this one's name as one word.
    let snake = if kind == "MultiKeyListener" { "multikeylistener".to_string() } else { snake };
    format!("skupper_{snake}_crd.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use std::path::Path;

    fn walk(v: &Value, path: &str, f: &mut dyn FnMut(&str, &Map<String, Value>)) {
        match v {
            Value::Object(o) => {
                f(path, o);
                for (k, c) in o {
                    walk(c, &format!("{path}/{k}"), f);
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| walk(c, &format!("{path}/{i}"), f)),
            _ => {}
        }
    }

    #[test]
    fn crds_are_structural_without_defaults() {
        for crd in all_values() {
            let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            walk(schema, "", &mut |path, o| {
                assert!(!o.contains_key("default"), "{path}: default");
                assert!(!o.contains_key("$ref") && !o.contains_key("anyOf"), "{path}: not inline: {o:?}");
                let in_properties = path.rsplit('/').nth(1) == Some("properties") || path.ends_with("/items");
                if in_properties {
                    assert!(o.contains_key("type"), "{path}: no type: {o:?}");
                }
            });
        }
        let typed: Vec<CustomResourceDefinition> =
            all_values().into_iter().map(|v| serde_json::from_value(v).expect("a CRD")).collect();
        assert_eq!(typed.len(), 8);
    }

    #[test]
    fn overlay_as_upstream() {
        let link = crd_value::<LinkKind>();
        let v = &link["spec"]["versions"][0];
        assert_eq!(v["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"], json!(["endpoints"]));
        assert_eq!(link["spec"]["names"]["shortNames"], json!(["ln"]));
        assert_eq!(v["additionalPrinterColumns"][1]["jsonPath"], ".status.remoteSiteName");
        let cond = &v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]["items"];
        assert_eq!(cond["required"][0], "lastTransitionTime");
        assert_eq!(file_name(&crd_value::<AccessGrantKind>()), "skupper_access_grant_crd.yaml");
        let port = &crd_value::<ListenerKind>()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["port"];
        assert_eq!((port["type"].as_str(), port["format"].as_str()), (Some("integer"), Some("int32")));
    }

    /// The committed CRDs are what the types generate (`UPDATE_GOLDEN=1` rewrites them).
    #[test]
    fn committed_crds_are_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/crds");
        let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        let mut stale = Vec::new();
        for crd in all_values() {
            let path = dir.join(file_name(&crd));
            let text = format!(
                "# Generated from the skupper-core types by kubectl-skupper (`kubectl skupper install`).\n\
                 # Regenerate: UPDATE_GOLDEN=1 cargo test -p kubectl-skupper --lib crd\n{}",
                serde_yaml::to_string(&crd).expect("yaml")
            );
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                if update {
                    std::fs::create_dir_all(&dir).expect("mkdir");
                    std::fs::write(&path, &text).expect("write");
                    eprintln!("updated {}", path.display());
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
        assert!(stale.is_empty(), "stale CRDs (regenerate with UPDATE_GOLDEN=1): {stale:?}");
    }
}
