//! The one document codec of `kubectl-skupper`: text (YAML, JSON, several documents) to
//! [`serde_json::Value`] documents, and documents back to text as upstream prints them.
//!
//! The CLI (`token inspect`, `system apply`, resource files), the grant server and client and the
//! browser page (`wasm/web`) all read documents here, so they agree on every file: a YAML stream
//! (`---` separated, empty documents dropped), a JSON value or a stream of JSON values, a
//! top-level sequence or a `kind: List` counted as one document per item. It does no I/O and
//! knows nothing of Skupper's kinds (`skupper-core` decodes the values).
//!
//! ```
//! let docs = skupper_yaml::parse("---\nkind: Link\n---\n---\nkind: Secret\n").unwrap();
//! assert_eq!(docs.len(), 2);
//! assert_eq!(skupper_yaml::to_yaml(&docs[0]).unwrap(), "kind: Link\n");
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why text could not be read, with the 1-based position when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// What is wrong and what to do.
    pub message: String,
    /// Line (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Problem {
    /// A problem without a position.
    pub fn new(message: impl Into<String>) -> Self {
        Problem { message: message.into(), line: None, column: None }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            (Some(l), None) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for Problem {}

/// Parses `text` as a stream of YAML documents (`---` separated); empty documents are dropped,
/// and a top-level sequence or a `kind: List` object counts as one document per item. Text that
/// looks like JSON and is not valid YAML is read as a stream of JSON values, so concatenated JSON
/// objects work and JSON errors are reported in JSON terms.
///
/// # Errors
/// The first parse error, with its line and column.
pub fn parse(text: &str) -> Result<Vec<Value>, Problem> {
    match parse_yaml(text) {
        Ok(docs) => Ok(docs),
        Err(yaml_problem) => {
            let trimmed = text.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                parse_json_stream(text)
            } else {
                Err(yaml_problem)
            }
        }
    }
}

fn parse_json_stream(text: &str) -> Result<Vec<Value>, Problem> {
    let mut docs = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match v {
            Ok(v) => push_document(&mut docs, v),
            Err(e) => {
                return Err(Problem {
                    message: format!("not valid JSON: {e}"),
                    line: Some(e.line()),
                    column: Some(e.column()),
                });
            }
        }
    }
    Ok(docs)
}

fn parse_yaml(text: &str) -> Result<Vec<Value>, Problem> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        match Value::deserialize(de) {
            Ok(v) => push_document(&mut docs, v),
            Err(e) => {
                let at = e.location();
                // serde_yaml appends " at line L column C" itself; keep the message short and put
                // the position in the fields.
                let mut message = e.to_string();
                if let Some(i) = message.find(" at line ") {
                    message.truncate(i);
                }
                return Err(Problem {
                    message: format!("not valid YAML: {message}"),
                    line: at.as_ref().map(serde_yaml::Location::line),
                    column: at.as_ref().map(serde_yaml::Location::column),
                });
            }
        }
    }
    Ok(docs)
}

fn push_document(docs: &mut Vec<Value>, v: Value) {
    match v {
        Value::Null => {}
        Value::Array(items) => docs.extend(items.into_iter().filter(|i| !i.is_null())),
        // `kubectl get -o yaml` of several objects: `kind: List` with `items`.
        Value::Object(mut o) if o.get("kind").and_then(Value::as_str) == Some("List") && o.contains_key("items") => {
            if let Some(Value::Array(items)) = o.remove("items") {
                docs.extend(items.into_iter().filter(|i| !i.is_null()));
            }
        }
        v => docs.push(v),
    }
}

/// `metadata.name` of a document, or "" when it has none.
pub fn object_name(doc: &Value) -> String {
    doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Why a document could not be written as text.
#[derive(Debug)]
pub struct EncodeError(String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "encoding the document: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Encodes a document as YAML the way upstream's `utils.Encode("yaml", ..)` prints it: keys
/// sorted, empty values left out, no leading `---`.
///
/// # Errors
/// Only for values YAML cannot hold (none that JSON can).
pub fn to_yaml(value: &Value) -> Result<String, EncodeError> {
    serde_yaml::to_string(&omit_empty(value.clone())).map_err(|e| EncodeError(e.to_string()))
}

/// Encodes a document as indented JSON (upstream: two spaces, empty values left out).
///
/// # Errors
/// Never in practice (string keys only); kept for symmetry with [`to_yaml`].
pub fn to_json(value: &Value) -> Result<String, EncodeError> {
    serde_json::to_string_pretty(&omit_empty(value.clone())).map_err(|e| EncodeError(e.to_string()))
}

/// Upstream `omitEmptyValues`: drops nulls, empty strings, zero numbers, false, empty maps and
/// lists from mappings (recursively into nested mappings, not into lists).
fn omit_empty(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !is_zero(v))
                .map(|(k, v)| match v {
                    Value::Object(_) => (k, omit_empty(v)),
                    other => (k, other),
                })
                .collect(),
        ),
        other => other,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn several_yaml_documents_and_empty_ones() {
        let docs = parse("---\na: 1\n---\n---\nb: [x, y]\n...\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": ["x", "y"]})]);
        assert_eq!(parse("").unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn json_input_single_array_and_stream() {
        assert_eq!(parse("{\"kind\": \"Link\"}").unwrap(), vec![json!({"kind": "Link"})]);
        // a tab inside a JSON object is fine for JSON; YAML may or may not accept it
        assert_eq!(parse("[{\"a\":\t1}, {\"b\": 2}]").unwrap(), vec![json!({"a": 1}), json!({"b": 2})]);
        // concatenated JSON objects (not YAML): one document each
        let stream = "{\"kind\":\"Secret\"}\n{\"kind\":\"Link\"}";
        assert_eq!(parse(stream).unwrap(), vec![json!({"kind": "Secret"}), json!({"kind": "Link"})]);
    }

    #[test]
    fn top_level_sequences_and_lists_are_one_document_per_item_in_both_syntaxes() {
        let want = vec![json!({"kind": "Secret"}), json!({"kind": "Link"})];
        assert_eq!(parse("- kind: Secret\n- kind: Link\n").unwrap(), want);
        assert_eq!(parse("[{\"kind\": \"Secret\"}, {\"kind\": \"Link\"}]").unwrap(), want);
        assert_eq!(parse("apiVersion: v1\nkind: List\nitems:\n- kind: Secret\n- kind: Link\n").unwrap(), want);
        // a kind called List without items is just a document
        assert_eq!(parse("kind: List\n").unwrap(), vec![json!({"kind": "List"})]);
    }

    #[test]
    fn yaml_errors_carry_line_and_column() {
        let p = parse("kind: Link\nspec:\n  cost: 1\n bad: [\n").unwrap_err();
        assert!(p.message.starts_with("not valid YAML: "), "{p:?}");
        assert!(!p.message.contains(" at line "), "{p:?}");
        assert_eq!(p.line, Some(4), "{p:?}");
        assert!(p.column.is_some());
        assert!(p.to_string().contains("(line 4, column "), "{p}");
    }

    #[test]
    fn json_errors_carry_line_and_column() {
        // (`{"a": 1, oops}` would be valid YAML: a flow mapping with a null value)
        let p = parse("{\n  \"kind\": \"Link\"\n  \"cost\": 1\n}").unwrap_err();
        assert!(p.message.starts_with("not valid JSON: "), "{p:?}");
        assert_eq!(p.line, Some(3));
    }

    #[test]
    fn non_string_keys_and_tags_are_errors_not_panics() {
        assert!(parse("? [a, b]\n: 1\n").is_err());
        for text in ["!Foo {a: 1}\n", "a: &x [*x]\n", "\u{0}", "- - - - -\n", "'\n", ":\n"] {
            let _ = parse(text); // must not panic, whatever it decides
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
        let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&deep_json).is_err());
    }

    #[test]
    fn object_name_reads_metadata() {
        assert_eq!(object_name(&json!({"metadata": {"name": "n"}})), "n");
        assert_eq!(object_name(&json!({"metadata": 3})), "");
    }

    #[test]
    fn yaml_leaves_out_empty_values_and_sorts_keys() {
        let v = json!({"spec": {"cost": 0, "b": "x", "a": []}, "kind": "Link", "status": {}});
        assert_eq!(to_yaml(&v).unwrap(), "kind: Link\nspec:\n  b: x\n");
        assert_eq!(to_json(&v).unwrap(), "{\n  \"kind\": \"Link\",\n  \"spec\": {\n    \"b\": \"x\"\n  }\n}");
        // round trip of what it writes
        assert_eq!(parse(&to_yaml(&v).unwrap()).unwrap(), vec![json!({"kind": "Link", "spec": {"b": "x"}})]);
    }
}
