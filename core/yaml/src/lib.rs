//! The one document codec of `kubectl-skupper`: text (YAML, JSON, several documents) to
//! [`serde_json::Value`] documents, and documents back to text as upstream prints them.
//!
//! The CLI (`token inspect`, `system apply`, resource files), the grant server and client and the
//! browser page (`wasm/web`) all read documents here, so they agree on every file: a YAML stream
//! (`---` separated, empty documents dropped), a JSON value or a stream of JSON values, a
//! top-level sequence or a `kind: List` counted as one document per item. It does no I/O and
//! knows nothing of Skupper's kinds (`skupper-core` decodes the values).
//!
//! Two rules hold for every caller: a mapping with the same key twice is refused, naming the key
//! (YAML and JSON parsers keep the last value silently, so `cost: 1` then `cost: 5` read as 5),
//! and text nested deeper than [`MAX_DEPTH`] is refused by a linear scan before any parser sees
//! it (the YAML parser's own limit comes after a scan whose cost grows with the depth: a 400 KB
//! document took seconds to minutes to fail).
//!
//! ```
//! let docs = skupper_yaml::parse("---\nkind: Link\n---\n---\nkind: Secret\n").unwrap();
//! assert_eq!(docs.len(), 2);
//! assert_eq!(skupper_yaml::to_yaml(&docs[0]).unwrap(), "kind: Link\n");
//! ```

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// Deepest nesting of collections accepted in a document. Skupper resources are a few levels
/// deep; the parsers themselves stop at 128.
pub const MAX_DEPTH: usize = 64;

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
        Self { message: message.into(), line: None, column: None }
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
/// The first parse error, with its line and column; a duplicate key in a mapping; nesting deeper
/// than [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Vec<Value>, Problem> {
    check_depth(text)?;
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
    for v in serde_json::Deserializer::from_str(text).into_iter::<Document>() {
        match v {
            Ok(Document(v)) => push_document(&mut docs, v),
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
        match Document::deserialize(de) {
            Ok(Document(v)) => push_document(&mut docs, v),
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

/// A document as a [`Value`], read like `Value` itself except that a mapping with the same key
/// twice is an error naming the key (the parsers add the position, serde_yaml the path).
struct Document(Value);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocumentVisitor).map(Document)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML or JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Number::deserialize(de::value::I128Deserializer::new(v)).map(Value::Number)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Number::deserialize(de::value::U128Deserializer::new(v)).map(Value::Number)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // As `Value`: NaN and infinities have no JSON number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Document::deserialize(d).map(|d| d.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(Document(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key {key:?}: each key may appear once in a mapping; remove one of them"
                )));
            }
            let Document(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Refuses text nested deeper than [`MAX_DEPTH`], in one pass and without parsing it: flow
/// collections (`[`, `{`, so JSON too) are counted outside quoted scalars and comments, block
/// collections by their indentation levels and the `- ` entries that open a line. The count is an
/// estimate that errs on the high side for odd but valid text (within a factor of two), which
/// [`MAX_DEPTH`] leaves room for.
fn check_depth(text: &str) -> Result<(), Problem> {
    let b = text.as_bytes();
    let too_deep = |i: usize| {
        let line = 1 + b[..i].iter().filter(|c| **c == b'\n').count();
        let column = 1 + i - b[..i].iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
        Problem {
            message: format!(
                "the document is nested more than {MAX_DEPTH} levels deep; Skupper resources are a few levels deep"
            ),
            line: Some(line),
            column: Some(column),
        }
    };
    // Indentation of the enclosing block collections, innermost last.
    let mut blocks: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // Indentation of the line that opened a block scalar (`|`, `>`): deeper lines are its text.
    let mut block_scalar: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        // At the start of a line.
        let start = i;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let indent = i - start;
        let blank = i >= b.len() || matches!(b[i], b'\n' | b'\r' | b'#');
        if let Some(parent) = block_scalar {
            if blank || indent > parent {
                i = next_line(b, i);
                continue;
            }
            block_scalar = None;
        }
        if blank {
            i = next_line(b, i);
            continue;
        }
        let mut depth_here = 0;
        if flow == 0 {
            if indent == 0 && (b[i..].starts_with(b"---") || b[i..].starts_with(b"...")) {
                blocks.clear();
            }
            while blocks.last().is_some_and(|top| *top >= indent) {
                blocks.pop();
            }
            blocks.push(indent);
            if blocks.len() > MAX_DEPTH {
                return Err(too_deep(i));
            }
            // Entries of nested sequences on one line: `- - - x`.
            while i + 1 < b.len() && b[i] == b'-' && matches!(b[i + 1], b' ' | b'\n' | b'\r') {
                depth_here += 1;
                if blocks.len() + depth_here > MAX_DEPTH {
                    return Err(too_deep(i));
                }
                i += 1;
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
            }
        }
        // The rest of the line (and of quoted scalars that go on over several lines).
        // `token_start`: the next character would begin a node (a quote there opens a scalar).
        let mut token_start = true;
        let mut last = 0u8;
        while i < b.len() && b[i] != b'\n' {
            let c = b[i];
            match c {
                b'#' if token_start || last == b' ' || last == b'\t' => {
                    i = next_line(b, i) - 1;
                    break;
                }
                b'"' | b'\'' if token_start => {
                    i = skip_quoted(b, i);
                    token_start = false;
                    last = c;
                    continue;
                }
                b'[' | b'{' if flow > 0 || token_start => {
                    flow += 1;
                    if blocks.len() + depth_here + flow > MAX_DEPTH {
                        return Err(too_deep(i));
                    }
                    token_start = true;
                }
                b']' | b'}' if flow > 0 => {
                    flow -= 1;
                    token_start = false;
                }
                b',' if flow > 0 => token_start = true,
                b' ' | b'\t' | b'\r' => {
                    if matches!(last, b':' | b'-' | b'?') {
                        token_start = true;
                    }
                }
                _ => token_start = false,
            }
            last = c;
            i += 1;
        }
        if flow == 0 && opens_block_scalar(&b[start..i.min(b.len())]) {
            block_scalar = Some(indent);
        }
        i = next_line(b, i);
    }
    Ok(())
}

/// The index just past the end of the line `i` is on.
fn next_line(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..].iter().position(|c| *c == b'\n').map_or(b.len(), |p| i + p + 1)
}

/// The index just past the quoted scalar that opens at `i` (or the end of the text).
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if quote == b'"' => j += 2,
            b'\'' if quote == b'\'' && b.get(j + 1) == Some(&b'\'') => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// Whether a line ends with a block scalar header (`key: |`, `- >-`, `|2+`), comment aside.
fn opens_block_scalar(line: &[u8]) -> bool {
    let line = match line.windows(2).position(|w| w == b" #") {
        Some(p) => &line[..p],
        None => line,
    };
    let text = line.trim_ascii_end();
    let header = text.iter().rposition(|c| *c == b' ').map_or(text, |p| &text[p + 1..]);
    matches!(header.first(), Some(b'|' | b'>'))
        && header[1..].iter().all(|c| matches!(c, b'+' | b'-') || c.is_ascii_digit())
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

/// Encodes a document for storage: keys sorted, only nulls left out. Unlike [`to_yaml`] a
/// `false`, `0` or `""` the document holds is kept, because some fields mean something else when
/// absent (`verifyHostname: false` against its default of true; an unknown field kept as written).
///
/// # Errors
/// Only for values YAML cannot hold (none that JSON can).
pub fn to_yaml_stored(value: &Value) -> Result<String, EncodeError> {
    let mut v = value.clone();
    let mut todo = vec![&mut v];
    while let Some(x) = todo.pop() {
        match x {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                todo.extend(m.iter_mut().map(|(_, x)| x));
            }
            Value::Array(a) => todo.extend(a.iter_mut()),
            _ => {}
        }
    }
    serde_yaml::to_string(&v).map_err(|e| EncodeError(e.to_string()))
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
    fn duplicate_keys_are_refused_naming_the_key() {
        let p = parse("kind: Link\nspec:\n  cost: 1\n  cost: 5\n").unwrap_err();
        assert!(p.message.contains("duplicate key \"cost\""), "{p:?}");
        assert!(p.message.contains("spec"), "says where: {p:?}");
        // The position is the mapping's (serde_yaml marks errors with the current node).
        assert_eq!(p.line, Some(3), "{p:?}");
        let p = parse("{\"kind\": \"Link\", \"kind\": \"Secret\"}").unwrap_err();
        assert!(p.message.contains("duplicate key \"kind\""), "{p:?}");
        let p = parse("{\"a\": 1}\n{\"b\": {\"c\": 1, \"c\": 2}}").unwrap_err();
        assert!(p.message.contains("duplicate key \"c\""), "{p:?}");
        // The same key in different mappings, and repeated values, are fine.
        let docs = parse("a: {x: 1}\nb: {x: 1}\nc: [1, 1]\n").unwrap();
        assert_eq!(docs, vec![json!({"a": {"x": 1}, "b": {"x": 1}, "c": [1, 1]})]);
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: .nan\ng: [x, {h: 18446744073709551615}]\n";
        let docs = parse(text).unwrap();
        let plain: Vec<Value> =
            serde_yaml::Deserializer::from_str(text).map(|d| Value::deserialize(d).unwrap()).collect();
        assert_eq!(docs, plain);
    }

    #[test]
    fn nesting_is_measured_before_parsing() {
        // 400 KB of each shape: refused by the scan (the YAML parser took seconds to minutes).
        for deep in ["[".repeat(400_000), "{a: ".repeat(100_000), "- ".repeat(200_000), "{\"a\":".repeat(80_000)] {
            let began = std::time::Instant::now();
            let p = parse(&deep).unwrap_err();
            assert!(p.message.contains("nested more than 64 levels"), "{p:?}");
            assert!(began.elapsed() < std::time::Duration::from_secs(5), "{:?}", began.elapsed());
        }
        let mut indented = String::new();
        for i in 0..100 {
            indented.push_str(&" ".repeat(i));
            indented.push_str("a:\n");
        }
        let p = parse(&indented).unwrap_err();
        assert!(p.message.contains("nested more than"), "{p:?}");
        assert_eq!(p.line, Some(MAX_DEPTH + 1));
        // At the limit it is the parser's to judge, and it reads it.
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn nesting_scan_is_not_fooled_by_scalars() {
        // Brackets in quoted and plain scalars, comments and block scalars are text.
        let many = "[".repeat(200);
        let text = format!(
            "a: \"{many}\"\nb: '{many}'\nc: x{many}\n# {many}\nd: |\n  {many}\n  - - - - -\ne: >-\n    {many}\nf: [\"]]\", '[[']\n"
        );
        let docs = parse(&text).unwrap();
        assert_eq!(docs[0]["d"], format!("{many}\n- - - - -\n"));
        // A real resource with a PEM block and lists.
        let link = "kind: Link\nspec:\n  endpoints:\n  - name: inter-router\n    host: h\n    port: \"1\"\n  settings: {a: [1, {b: [2]}]}\n---\ndata:\n  ca.crt: |\n    -----BEGIN CERTIFICATE-----\n    [x]\n";
        assert_eq!(parse(link).unwrap().len(), 2);
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
