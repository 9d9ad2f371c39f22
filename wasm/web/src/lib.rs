//! Browser bindings over skupper-core: token inspection, redaction and Link validation for
//! JavaScript, through wasm-bindgen.
//!
//! This crate only converts at the edge: text (YAML or JSON, one or more documents) into
//! [`serde_json::Value`] documents, the JS clock (milliseconds) into Unix seconds, and core's
//! results into JSON text. Every rule lives in `skupper-core`. Nothing here reads a clock, the
//! network or storage, and no input makes it trap: bad text becomes a report or a thrown error.
//!
//! # Layout
//! - [`docs`]: multi-document YAML/JSON text to JSON values, with line/column on errors.
//! - [`inspect`], [`redact`], [`validate_link`], [`humanize_seconds`]: the functions exported to
//!   JS; [`redact_text`] and [`validate_link_text`] are the same without JS error values (for
//!   native callers and tests).
//!
//! ```
//! let report = skupper_web::inspect("apiVersion: v1\nkind: ConfigMap\n", 1_700_000_000_000.0);
//! assert!(report.contains("\"type\":\"notAToken\""));
//! let out = skupper_web::validate_link_text("kind: Link\napiVersion: skupper.io/v2alpha1\n", "{}").unwrap();
//! assert!(out.contains("\"ok\":false"));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skupper_core::inspect::{Report, TokenKind, Warning};
use skupper_core::link::{Finding, LinkContext};
use skupper_core::resources::{Link, Resource, Secret};
use wasm_bindgen::prelude::*;

pub mod docs;

/// Milliseconds since the Unix epoch (JS `Date.now()`) to whole Unix seconds. Not-a-number
/// counts as the epoch; out-of-range values saturate.
fn unix_seconds(now_ms: f64) -> i64 {
    // `as` saturates and maps NaN to 0, which is what we want for a clock value.
    (now_ms / 1000.0).floor() as i64
}

/// Inspects a token or link file: `text` is YAML or JSON (one or more documents), `now_ms` the
/// caller's clock (`Date.now()`). Returns core's report as JSON (camelCase fields: `kind`,
/// `url`, `ca`, `expiresAt`, `state`, `secondsLeft`, `warnings`, `redactions`, ...).
///
/// Text that cannot be parsed gives a report of kind `notAToken` whose reason names the
/// problem, a `parse-error` warning, and an extra `parseError: {message, line?, column?}`
/// field (1-based position); it is never thrown.
#[wasm_bindgen]
pub fn inspect(text: &str, now_ms: f64) -> String {
    let now = unix_seconds(now_ms);
    let value = match docs::parse(text) {
        Ok(values) => serde_json::to_value(skupper_core::inspect::inspect(&values, now)),
        Err(problem) => parse_error_report(problem, now),
    };
    // Serializing a Report cannot fail (string keys only); keep a valid answer if it ever did.
    match value {
        Ok(v) => v.to_string(),
        Err(e) => serde_json::json!({"kind": {"type": "notAToken", "reason": e.to_string()}}).to_string(),
    }
}

fn parse_error_report(problem: docs::Problem, now: i64) -> Result<Value, serde_json::Error> {
    let mut report: Report = skupper_core::inspect::inspect(&[], now);
    let at = match (problem.line, problem.column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    };
    let reason = format!("{}{at}: give a token file (AccessToken) or a link file (Link and Secret)", problem.message);
    report.warnings.push(Warning { code: "parse-error".into(), message: format!("{}{at}", problem.message) });
    report.kind = TokenKind::NotAToken { reason };
    let mut value = serde_json::to_value(report)?;
    if let Value::Object(map) = &mut value {
        map.insert("parseError".into(), serde_json::to_value(problem)?);
    }
    Ok(value)
}

/// `12m 30s`, `3h 5m`, `2d 4h`, `45s` for a number of seconds (the sign is ignored), as core
/// prints durations; for the page's countdown. Fractions are truncated, non-finite values count
/// as 0.
#[wasm_bindgen(js_name = humanizeSeconds)]
pub fn humanize_seconds(seconds: f64) -> String {
    let whole = if seconds.is_finite() { seconds.trunc() as i64 } else { 0 };
    skupper_core::inspect::humanize_secs(whole)
}

/// Returns `text` with every secret value (grant codes, private keys, passwords) replaced by
/// `<redacted>`, as YAML documents separated by `---`: what is safe to paste into a ticket.
///
/// # Errors
/// A JS `Error` when `text` cannot be parsed: nothing is returned rather than text whose secrets
/// could not be found.
#[wasm_bindgen]
pub fn redact(text: &str) -> Result<String, JsError> {
    redact_text(text).map_err(|e| JsError::new(&e))
}

/// [`redact`] without the JS error type (usable off wasm).
///
/// # Errors
/// The parse problem, as a message that says what to do.
pub fn redact_text(text: &str) -> Result<String, String> {
    let values = docs::parse(text).map_err(|p| {
        let at = p.line.map(|l| format!(" at line {l}")).unwrap_or_default();
        format!("cannot redact: {}{at}; fix the text and retry", p.message)
    })?;
    let mut out = String::new();
    for doc in skupper_core::inspect::redact(&values) {
        let yaml = serde_yaml::to_string(&doc).map_err(|e| format!("cannot encode the redacted text as YAML: {e}"))?;
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&yaml);
    }
    Ok(out)
}

/// Settings for [`validate_link`], given by JS as a JSON object.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkSettings {
    /// Validate as seen from an edge site (its router uses the `edge` endpoint).
    #[serde(default)]
    edge_site: bool,
}

/// The validation of one Link document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkResult {
    name: String,
    /// Index of the document in the text (0-based).
    document: usize,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
}

/// What [`validate_link`] returns (as JSON).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkValidation {
    /// True when at least one Link was found and none has an error.
    ok: bool,
    links: Vec<LinkResult>,
    /// Problems with the text itself (not YAML, no Link in it).
    problems: Vec<docs::Problem>,
}

/// Validates every Link in `text` (YAML or JSON, one or more documents) with core's Link rules.
///
/// Secrets in the same text are taken as the namespace's Secrets (so a `link generate` file,
/// Link + Secret, gets its TLS Secret checked); without any, Secret checks are skipped. Links in
/// the same text are checked against each other for duplicates. `settings_json` is a JSON
/// object: `{"edgeSite": bool}` (all optional). Returns JSON
/// `{ok, links: [{name, document, errors, warnings}], problems: [{message, line?, column?}]}`.
///
/// # Errors
/// A JS `Error` only when `settings_json` is not such an object (a caller bug); bad `text` is
/// reported in `problems`, never thrown.
#[wasm_bindgen(js_name = validateLink)]
pub fn validate_link(text: &str, settings_json: &str) -> Result<String, JsError> {
    validate_link_text(text, settings_json).map_err(|e| JsError::new(&e))
}

/// [`validate_link`] without the JS error type (usable off wasm).
///
/// # Errors
/// When `settings_json` is not a settings object.
pub fn validate_link_text(text: &str, settings_json: &str) -> Result<String, String> {
    let settings: LinkSettings = if settings_json.trim().is_empty() {
        LinkSettings::default()
    } else {
        serde_json::from_str(settings_json)
            .map_err(|e| format!("validateLink settings: {e} (expected {{\"edgeSite\": boolean}})"))?
    };
    let out = match docs::parse(text) {
        Ok(values) => validate_values(values, settings.edge_site),
        Err(problem) => LinkValidation { ok: false, links: Vec::new(), problems: vec![problem] },
    };
    serde_json::to_string(&out).map_err(|e| format!("cannot encode the result as JSON: {e}"))
}

fn validate_values(values: Vec<Value>, edge_site: bool) -> LinkValidation {
    let mut links: Vec<(usize, Result<Link, String>, String)> = Vec::new();
    let mut secrets: Vec<Secret> = Vec::new();
    let mut saw_secret = false;
    for (i, v) in values.into_iter().enumerate() {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
        let name = docs::object_name(&v);
        match kind.as_str() {
            "Link" => match Resource::decode_kind::<Link>(v, Link::KIND) {
                Ok(Some(l)) => links.push((i, Ok(l), name)),
                Ok(None) => links.push((i, Err("not a Link".into()), name)),
                Err(e) => links.push((i, Err(e.to_string()), name)),
            },
            "Secret" => {
                saw_secret = true;
                if let Ok(Some(s)) = Resource::decode_kind::<Secret>(v, Secret::KIND) {
                    secrets.push(s);
                }
            }
            _ => {}
        }
    }
    let parsed: Vec<Link> = links.iter().filter_map(|(_, l, _)| l.as_ref().ok().cloned()).collect();
    let ctx = LinkContext { secrets: if saw_secret { Some(&secrets) } else { None }, other_links: &parsed, edge_site };
    let mut problems = Vec::new();
    if links.is_empty() {
        problems.push(docs::Problem::new(
            "no Link found: expected a document with apiVersion skupper.io/v2alpha1 and kind Link",
        ));
    }
    let results: Vec<LinkResult> = links
        .into_iter()
        .map(|(document, link, name)| match link {
            Ok(link) => {
                let v = skupper_core::link::validate_link(&link, &ctx);
                LinkResult { name: link.name().to_owned(), document, errors: v.errors, warnings: v.warnings }
            }
            Err(message) => LinkResult {
                name,
                document,
                errors: vec![Finding { field: String::new(), message }],
                warnings: Vec::new(),
            },
        })
        .collect();
    let ok = !results.is_empty() && results.iter().all(|r| r.errors.is_empty());
    LinkValidation { ok, links: results, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "apiVersion: skupper.io/v2alpha1
kind: Link
metadata:
  name: link-west-skupper-router
spec:
  cost: 1
  endpoints:
  - {group: skupper-router, host: west.example.com, name: inter-router, port: \"55671\"}
  - {group: skupper-router, host: west.example.com, name: edge, port: \"45671\"}
  tlsCredentials: link-west
";

    const UPSTREAM_TOKEN: &str = include_str!("../../../js/test/fixtures/upstream-access-token.yaml");
    const EXPIRED_TOKEN: &str = include_str!("../../../js/test/fixtures/expired-token.yaml");
    const LINK_GENERATE: &str = include_str!("../../../js/test/fixtures/link-generate.yaml");
    const SAMPLES: &str = include_str!("../../../js/test/fixtures/samples.json");
    /// 2027-01-01T00:00:00Z in milliseconds: inside the sample certificates' validity.
    const JAN_2027_MS: f64 = 1_798_761_600_000.0;

    fn report(text: &str, now_ms: f64) -> Value {
        serde_json::from_str(&inspect(text, now_ms)).unwrap()
    }

    #[test]
    fn durations_read_as_core_prints_them() {
        assert_eq!(humanize_seconds(750.9), "12m 30s");
        assert_eq!(humanize_seconds(-45.0), "45s");
        assert_eq!(humanize_seconds(f64::NAN), "0s");
        assert_eq!(humanize_seconds(1e300), skupper_core::inspect::humanize_secs(i64::MAX));
    }

    #[test]
    fn the_clock_comes_from_js_milliseconds() {
        assert_eq!(unix_seconds(1_700_000_000_999.0), 1_700_000_000);
        assert_eq!(unix_seconds(-1.0), -1);
        assert_eq!(unix_seconds(f64::NAN), 0);
        assert_eq!(unix_seconds(f64::INFINITY), i64::MAX);
        assert_eq!(report(UPSTREAM_TOKEN, JAN_2027_MS)["now"]["rfc3339"], "2027-01-01T00:00:00Z");
    }

    #[test]
    fn an_upstream_token_is_reported_with_its_ca_and_unknown_expiry() {
        let samples: Value = serde_json::from_str(SAMPLES).unwrap();
        let r = report(UPSTREAM_TOKEN, JAN_2027_MS);
        assert_eq!(r["kind"]["type"], "accessToken", "{r}");
        assert_eq!(r["state"], "unknown");
        assert_eq!(r["url"]["host"], "skupper-grant-server-west.apps.example.com");
        assert_eq!(r["url"]["port"], 9090);
        assert_eq!(r["linkCost"], 1);
        assert_eq!(r["ca"]["subject"], samples["grantCa"]["subject"]);
        assert_eq!(r["ca"]["sha256Fingerprint"], samples["grantCa"]["sha256"]);
        assert_eq!(r["ca"]["notAfter"]["rfc3339"], samples["grantCa"]["notAfter"]);
        assert_eq!(r["redactions"], serde_json::json!(["/0/spec/code"]));
        assert!(r.get("parseError").is_none());
        assert!(!r.to_string().contains("L1qCl2mZ7D81gbXp3ax4YT0K"), "the report must not carry the code");
    }

    #[test]
    fn advisory_annotations_drive_the_state() {
        let expired = report(EXPIRED_TOKEN, JAN_2027_MS);
        assert_eq!(expired["state"], "expired", "{expired}");
        assert_eq!(expired["expiresAt"]["rfc3339"], "2025-03-01T12:15:00Z");
        assert_eq!(expired["redemptionsAllowed"], 1);
        // the same file, five minutes after issue (2025-03-01T12:05:00Z), is still valid
        let early = report(EXPIRED_TOKEN, 1_740_830_700_000.0);
        assert_eq!(early["state"], "valid", "{early}");
        assert_eq!(early["secondsLeft"], 600);
    }

    #[test]
    fn a_static_link_file_shows_links_and_the_private_key() {
        let r = report(LINK_GENERATE, JAN_2027_MS);
        assert_eq!(r["kind"]["type"], "staticLink", "{r}");
        assert_eq!(r["privateKeyPresent"], true);
        assert_eq!(r["links"][0]["name"], "link-west-skupper-router");
        assert_eq!(r["clientCertIssuedByCa"], true);
        assert_eq!(r["state"], "valid");
    }

    #[test]
    fn unparsable_text_is_a_not_a_token_report_with_a_position() {
        let r = report("apiVersion: skupper.io/v2alpha1\nkind: AccessToken\nspec: [oops\n", JAN_2027_MS);
        assert_eq!(r["kind"]["type"], "notAToken", "{r}");
        let reason = r["kind"]["reason"].as_str().unwrap();
        assert!(reason.starts_with("not valid YAML"), "{reason}");
        assert!(r["parseError"]["line"].as_u64().is_some(), "{r}");
        assert_eq!(r["warnings"][0]["code"], "parse-error");
        assert_eq!(r["state"], "unknown");
        for junk in ["", "\u{0}\u{1}", "{{{{", "- a\n- b", "null", "42"] {
            let r = report(junk, 0.0);
            assert_eq!(r["kind"]["type"], "notAToken", "{junk:?}: {r}");
        }
    }

    #[test]
    fn redaction_removes_codes_and_keys_and_stays_yaml() {
        let samples: Value = serde_json::from_str(SAMPLES).unwrap();
        let token = redact_text(UPSTREAM_TOKEN).unwrap();
        assert!(!token.contains("L1qCl2mZ7D81gbXp3ax4YT0K"));
        assert!(token.contains("<redacted>"));
        assert!(token.contains("BEGIN CERTIFICATE"), "the CA is not a secret: {token}");
        let link = redact_text(LINK_GENERATE).unwrap();
        let key = samples["privateKeyBase64"].as_str().unwrap();
        assert!(!link.contains(key));
        let docs = docs::parse(&link).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["data"]["tls.key"], "<redacted>");
        assert_eq!(docs[0]["kind"], "Link");
        let err = redact_text("a: [").unwrap_err();
        assert!(err.starts_with("cannot redact: not valid YAML"), "{err}");
    }

    fn validate(text: &str, settings: &str) -> Value {
        serde_json::from_str(&validate_link_text(text, settings).unwrap()).unwrap()
    }

    #[test]
    fn a_good_link_is_ok() {
        let out = validate(LINK, "{}");
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(out["links"][0]["name"], "link-west-skupper-router");
        assert_eq!(out["links"][0]["errors"], serde_json::json!([]));
        assert_eq!(out["problems"], serde_json::json!([]));
    }

    #[test]
    fn link_errors_come_from_core_with_fields() {
        let bad = LINK.replace("\"55671\"", "\"99999\"");
        let out = validate(&bad, "");
        assert_eq!(out["ok"], false);
        let errors = out["links"][0]["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == "spec.endpoints[0].port"), "{out}");
    }

    #[test]
    fn a_missing_secret_is_reported_only_when_the_text_has_secrets() {
        let without = validate(LINK, "{}");
        assert_eq!(without["ok"], true);
        let other_secret = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: something-else}\ndata: {}\n";
        let with = validate(&format!("{LINK}{other_secret}"), "{}");
        let errors = with["links"][0]["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == "spec.tlsCredentials"), "{with}");
    }

    #[test]
    fn two_links_to_the_same_peer_are_duplicates() {
        let second = LINK.replace("link-west-skupper-router", "link-west-again");
        let out = validate(&format!("{LINK}---\n{second}"), "{}");
        assert_eq!(out["ok"], false, "{out}");
        assert_eq!(out["links"][1]["document"], 1);
    }

    #[test]
    fn text_without_a_link_is_a_problem_not_an_error() {
        let out = validate("apiVersion: v1\nkind: ConfigMap\n", "{}");
        assert_eq!(out["ok"], false);
        assert!(out["problems"][0]["message"].as_str().unwrap().contains("no Link found"));
        let out = validate("a: [1, 2\n", "{}");
        assert_eq!(out["ok"], false);
        assert!(out["problems"][0]["line"].as_u64().is_some(), "{out}");
    }

    #[test]
    fn a_link_of_the_wrong_shape_is_an_error_entry() {
        let out =
            validate("apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata: {name: x}\nspec: {cost: many}\n", "{}");
        assert_eq!(out["ok"], false);
        assert_eq!(out["links"][0]["name"], "x");
        assert!(!out["links"][0]["errors"][0]["message"].as_str().unwrap().is_empty());
    }

    #[test]
    fn edge_site_setting_is_read_and_unknown_settings_are_refused() {
        let no_edge =
            LINK.replace("  - {group: skupper-router, host: west.example.com, name: edge, port: \"45671\"}\n", "");
        let interior = validate(&no_edge, "{}");
        let edge = validate(&no_edge, r#"{"edgeSite": true}"#);
        assert_ne!(interior["links"][0], edge["links"][0], "edgeSite must change the verdict");
        assert!(serde_json::from_str::<LinkSettings>(r#"{"edge": true}"#).is_err());
    }
}
