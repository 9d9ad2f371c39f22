//! Text to documents: one or more YAML documents (JSON is accepted too) turned into
//! [`serde_json::Value`]s for core, and parse failures turned into a [`Problem`] with a position.

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

/// Parses `text` as a stream of YAML documents (`---` separated); empty documents are dropped
/// and a top-level sequence counts as one document per item. Text that looks like JSON and is not
/// valid YAML is tried as JSON, so JSON errors are reported in JSON terms.
///
/// # Errors
/// The first parse error, with its line and column.
pub fn parse(text: &str) -> Result<Vec<Value>, Problem> {
    match parse_yaml(text) {
        Ok(docs) => Ok(docs),
        Err(yaml_problem) => {
            let trimmed = text.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                match serde_json::from_str::<Value>(text) {
                    Ok(v) => {
                        let mut docs = Vec::new();
                        push_document(&mut docs, v);
                        Ok(docs)
                    }
                    Err(e) => Err(Problem {
                        message: format!("not valid JSON: {e}"),
                        line: Some(e.line()),
                        column: Some(e.column()),
                    }),
                }
            } else {
                Err(yaml_problem)
            }
        }
    }
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
        v => docs.push(v),
    }
}

/// `metadata.name` of a document, or "" when it has none.
pub fn object_name(doc: &Value) -> String {
    doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned()
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
    fn json_input_single_and_array() {
        assert_eq!(parse("{\"kind\": \"Link\"}").unwrap(), vec![json!({"kind": "Link"})]);
        // a tab inside a JSON object is fine for JSON; YAML may or may not accept it
        assert_eq!(parse("[{\"a\":\t1}, {\"b\": 2}]").unwrap(), vec![json!({"a": 1}), json!({"b": 2})]);
    }

    #[test]
    fn yaml_errors_carry_line_and_column() {
        let p = parse("kind: Link\nspec:\n  cost: 1\n bad: [\n").unwrap_err();
        assert!(p.message.starts_with("not valid YAML: "), "{p:?}");
        assert!(!p.message.contains(" at line "), "{p:?}");
        assert_eq!(p.line, Some(4), "{p:?}");
        assert!(p.column.is_some());
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
}
