//! Strict validation of objects against CustomResourceDefinitions, as an API server with
//! `fieldValidation=Strict` would do it (the test API server is 1.20, which prunes unknown fields
//! in silence instead of refusing them). Covered: `type` (with `x-kubernetes-int-or-string`),
//! `properties` and unknown fields (`additionalProperties`, `x-kubernetes-preserve-unknown-fields`),
//! `required`, `items`, `enum`, `pattern`, `minLength`/`maxLength`, `minimum`/`maximum`,
//! `format: date-time`, `nullable`. Not covered: CEL rules (`x-kubernetes-validations`).
//! `metadata` is checked for the fields of `ObjectMeta` only; the API server owns the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The top-level members of `ObjectMeta`.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// The `openAPIV3Schema` of every kind of a set of CRDs, by `(apiVersion, kind)`.
pub struct Schemas(BTreeMap<(String, String), Value>);

impl Schemas {
    /// Upstream Skupper's CRDs from `../shared/upstream-skupper/crds`, when that folder is on this
    /// machine (the tests that use them skip with the reason otherwise).
    pub fn upstream() -> Option<Self> {
        let dir = crate::repo_root().join("../shared/upstream-skupper/crds");
        dir.is_dir().then(|| Self::load(&dir))
    }

    /// Every CRD (`*.yaml`) in `dir`.
    pub fn load(dir: &Path) -> Self {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut out = BTreeMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
            for crd in documents(&text) {
                let group = crd["spec"]["group"].as_str().unwrap_or_default().to_string();
                let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default().to_string();
                for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
                    let version = v["name"].as_str().unwrap_or_default();
                    out.insert((format!("{group}/{version}"), kind.clone()), v["schema"]["openAPIV3Schema"].clone());
                }
            }
        }
        assert!(!out.is_empty(), "no CRDs in {}", dir.display());
        Self(out)
    }

    /// The kinds these CRDs define.
    pub fn kinds(&self) -> Vec<String> {
        self.0.keys().map(|(_, k)| k.clone()).collect()
    }

    /// Whether an object of this apiVersion and kind has a CRD here.
    pub fn covers(&self, doc: &Value) -> bool {
        self.0.contains_key(&key(doc))
    }

    /// Every violation in `doc` (empty: valid), each as `<path>: <what>`.
    pub fn violations(&self, doc: &Value) -> Vec<String> {
        let Some(schema) = self.0.get(&key(doc)) else {
            return vec![format!("no CRD for apiVersion {} kind {}", doc["apiVersion"], doc["kind"])];
        };
        let mut out = Vec::new();
        let Some(obj) = doc.as_object() else { return vec!["the object is not a mapping".into()] };
        for (k, v) in obj {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => meta(v, &mut out),
                _ => match schema["properties"].get(k) {
                    Some(s) => check(s, v, k, &mut out),
                    None => out.push(format!("{k}: unknown field")),
                },
            }
        }
        required(schema, obj, "", &mut out);
        out
    }
}

fn key(doc: &Value) -> (String, String) {
    (doc["apiVersion"].as_str().unwrap_or_default().to_string(), doc["kind"].as_str().unwrap_or_default().to_string())
}

/// The YAML documents of `text` as JSON values (empty documents left out).
pub fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn meta(v: &Value, out: &mut Vec<String>) {
    let Some(m) = v.as_object() else { return out.push("metadata: not a mapping".into()) };
    for (k, v) in m {
        if !OBJECT_META.contains(&k.as_str()) {
            out.push(format!("metadata.{k}: unknown field"));
        }
        if matches!(k.as_str(), "labels" | "annotations")
            && !v.as_object().is_some_and(|m| m.values().all(Value::is_string))
        {
            out.push(format!("metadata.{k}: must map strings to strings"));
        }
    }
}

fn required(schema: &Value, obj: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<String>) {
    for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(r) {
            out.push(format!("{}: required field missing", join(path, r)));
        }
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() { k.to_string() } else { format!("{path}.{k}") }
}

fn check(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if v.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            out.push(format!("{path}: null is not allowed"));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == Value::Bool(true) {
        if !(v.is_i64() || v.is_u64() || v.is_string()) {
            out.push(format!("{path}: must be an integer or a string, not {v}"));
        }
        return;
    }
    let ty = schema["type"].as_str().unwrap_or_default();
    match ty {
        "object" => {
            let Some(obj) = v.as_object() else { return out.push(format!("{path}: must be an object, not {v}")) };
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
            for (k, child) in obj {
                let p = join(path, k);
                match (schema["properties"].get(k), &schema["additionalProperties"]) {
                    (Some(s), _) => check(s, child, &p, out),
                    (None, Value::Object(_)) => check(&schema["additionalProperties"], child, &p, out),
                    (None, Value::Bool(true)) => {}
                    (None, _) if preserve => {}
                    (None, _) => out.push(format!("{p}: unknown field")),
                }
            }
            required(schema, obj, path, out);
        }
        "array" => {
            let Some(items) = v.as_array() else { return out.push(format!("{path}: must be an array, not {v}")) };
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                out.push(format!("{path}: more than {max} items"));
            }
        }
        "string" => {
            let Some(s) = v.as_str() else { return out.push(format!("{path}: must be a string, not {v}")) };
            let len = s.chars().count() as u64;
            if schema["maxLength"].as_u64().is_some_and(|m| len > m) {
                out.push(format!("{path}: longer than {}", schema["maxLength"]));
            }
            if schema["minLength"].as_u64().is_some_and(|m| len < m) {
                out.push(format!("{path}: shorter than {}", schema["minLength"]));
            }
            if let Some(p) = schema["pattern"].as_str() {
                let re = regex::Regex::new(p).unwrap_or_else(|e| panic!("pattern {p:?} of {path}: {e}"));
                if !re.is_match(s) {
                    out.push(format!("{path}: {s:?} does not match {p:?}"));
                }
            }
            if schema["format"] == "date-time" && !date_time(s) {
                out.push(format!("{path}: {s:?} is not an RFC 3339 date-time"));
            }
        }
        "integer" => {
            let Some(n) = v.as_i64() else { return out.push(format!("{path}: must be an integer, not {v}")) };
            if schema["minimum"].as_i64().is_some_and(|m| n < m) {
                out.push(format!("{path}: {n} is below the minimum {}", schema["minimum"]));
            }
            if schema["maximum"].as_i64().is_some_and(|m| n > m) {
                out.push(format!("{path}: {n} is above the maximum {}", schema["maximum"]));
            }
        }
        "number" => {
            if !v.is_number() {
                out.push(format!("{path}: must be a number, not {v}"));
            }
        }
        "boolean" => {
            if !v.is_boolean() {
                out.push(format!("{path}: must be a boolean, not {v}"));
            }
        }
        "" => {}
        other => out.push(format!("{path}: the schema has a type this checker does not know: {other}")),
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {}", Value::Array(allowed.clone())));
    }
}

/// `2026-11-29T16:45:52Z` or with a fraction and/or an offset.
fn date_time(s: &str) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$").expect("re");
    re.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas() -> Schemas {
        let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  group: skupper.io
  names: {kind: Thing}
  versions:
  - name: v2alpha1
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [port]
            properties:
              port: {type: integer, minimum: 1}
              mode: {type: string, enum: [a, b]}
              settings: {type: object, additionalProperties: {type: string}}
              free: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  required: [lastTransitionTime, reason]
                  properties:
                    lastTransitionTime: {type: string, format: date-time}
                    reason: {type: string, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$'}
"#;
        let mut out = BTreeMap::new();
        for d in documents(crd) {
            out.insert(
                ("skupper.io/v2alpha1".to_string(), "Thing".to_string()),
                d["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone(),
            );
        }
        Schemas(out)
    }

    fn violations(yaml: &str) -> Vec<String> {
        schemas().violations(&documents(yaml)[0])
    }

    #[test]
    fn a_valid_object_passes() {
        let ok = "apiVersion: skupper.io/v2alpha1\nkind: Thing\nmetadata: {name: t, labels: {a: b}}\n\
                  spec: {port: 1, mode: a, settings: {x: y}, free: {any: [1]}}\n\
                  status: {conditions: [{lastTransitionTime: '2026-11-29T16:45:52Z', reason: Ready}]}\n";
        assert_eq!(violations(ok), Vec::<String>::new());
    }

    #[test]
    fn every_kind_of_violation_is_found() {
        let bad = "apiVersion: skupper.io/v2alpha1\nkind: Thing\nmetadata: {name: t, color: red}\n\
                   spec: {mode: c, extra: 1, settings: {x: 1}}\n\
                   status: {routing: {}, conditions: [{lastTransitionTime: yesterday, reason: 'not ok'}, {reason: R}]}\n";
        let v = violations(bad);
        for want in [
            "metadata.color: unknown field",
            "spec.port: required field missing",
            "spec.mode: \"c\" is not one of [\"a\",\"b\"]",
            "spec.extra: unknown field",
            "spec.settings.x: must be a string, not 1",
            "status.routing: unknown field",
            "status.conditions[0].lastTransitionTime: \"yesterday\" is not an RFC 3339 date-time",
            "status.conditions[1].lastTransitionTime: required field missing",
        ] {
            assert!(v.iter().any(|x| x == want), "missing {want:?} in {v:#?}");
        }
        assert!(v.iter().any(|x| x.starts_with("status.conditions[0].reason: \"not ok\" does not match")), "{v:#?}");
        let unknown_kind = documents("apiVersion: skupper.io/v2alpha1\nkind: Other\n");
        assert_eq!(schemas().violations(&unknown_kind[0]).len(), 1);
    }
}
