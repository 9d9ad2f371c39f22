//! The host's side of the AdmissionReview contract: it finds the request uid itself, checks
//! what a (possibly user-supplied) policy module answered, and keeps the answer within what
//! Kubernetes accepts. The rules themselves live in the module (`skupper_core::admission`).

use serde_json::{Map, Value, json};

/// Kubernetes drops or truncates warnings past these sizes (apiserver `filters/warning.go`:
/// 256 runes per warning once the total passes 4096); we enforce them ourselves so what the
/// user sees is predictable.
pub const MAX_WARNING_CHARS: usize = 256;
/// Total size of all warnings of one response, in characters.
pub const MAX_WARNINGS_TOTAL_CHARS: usize = 4096;
/// A deny message longer than this is cut (kubectl prints it on one line).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// The `request.uid` of an AdmissionReview body, or `""` when there is none. Parses without
/// building the object tree.
pub fn request_uid(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Review<'a> {
        #[serde(borrow, default)]
        request: Option<Request<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Request<'a> {
        #[serde(borrow, default)]
        uid: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Review<'_>>(body)
        .ok()
        .and_then(|r| r.request)
        .and_then(|r| r.uid)
        .map(|u| u.into_owned())
        .unwrap_or_default()
}

/// An AdmissionReview v1 response denying the request with `message`.
pub fn deny(uid: &str, message: &str, code: u16) -> Vec<u8> {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": uid,
            "allowed": false,
            "status": { "code": code, "message": truncate_chars(message, MAX_MESSAGE_CHARS) },
        },
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

/// Checks a module's answer for the request `uid` and rebuilds it within Kubernetes' limits.
/// Anything that does not hold (not JSON, wrong uid, no `allowed`, a patch) becomes a deny:
/// a broken policy must fail closed.
pub fn checked_response(answer: &[u8], uid: &str) -> Vec<u8> {
    match check(answer, uid) {
        Ok(response) => serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": response,
        }))
        .unwrap_or_default(),
        Err(why) => deny(uid, &format!("link policy: the policy module's answer is unusable: {why}"), 500),
    }
}

fn check(answer: &[u8], uid: &str) -> Result<Map<String, Value>, String> {
    let v: Value = serde_json::from_slice(answer).map_err(|e| format!("not JSON ({e})"))?;
    if v.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || v.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err("not an admission.k8s.io/v1 AdmissionReview".into());
    }
    let r = v.get("response").and_then(Value::as_object).ok_or("no `response` object")?;
    let got_uid = r.get("uid").and_then(Value::as_str).unwrap_or_default();
    if got_uid != uid {
        return Err(format!("it answers uid {got_uid:?}, the request has uid {uid:?}"));
    }
    let allowed = r.get("allowed").and_then(Value::as_bool).ok_or("no boolean `response.allowed`")?;
    if r.contains_key("patch") || r.contains_key("patchType") {
        return Err("it returned a patch; a validating policy must not mutate".into());
    }

    let mut out = Map::new();
    out.insert("uid".into(), uid.into());
    out.insert("allowed".into(), allowed.into());
    let status = r.get("status").and_then(Value::as_object);
    let message = status
        .and_then(|s| s.get("message"))
        .and_then(Value::as_str)
        .map(|m| truncate_chars(&printable(m), MAX_MESSAGE_CHARS));
    let code = status.and_then(|s| s.get("code")).and_then(Value::as_u64).filter(|c| (400..600).contains(c));
    if !allowed {
        out.insert(
            "status".into(),
            json!({
                "code": code.unwrap_or(403),
                "message": message.unwrap_or_else(|| "denied by the link policy".into()),
            }),
        );
    } else if let Some(m) = message {
        out.insert("status".into(), json!({ "message": m }));
    }
    let warnings = bounded_warnings(r.get("warnings"));
    if !warnings.is_empty() {
        out.insert("warnings".into(), warnings.into());
    }
    if let Some(a) = r.get("auditAnnotations").and_then(Value::as_object) {
        let a: Map<String, Value> =
            a.iter().filter(|(_, v)| v.is_string()).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !a.is_empty() {
            out.insert("auditAnnotations".into(), a.into());
        }
    }
    Ok(out)
}

/// Warnings as Kubernetes will show them: strings only, printable, each at most
/// [`MAX_WARNING_CHARS`], all together at most [`MAX_WARNINGS_TOTAL_CHARS`] (later ones dropped).
fn bounded_warnings(w: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0;
    for w in w.and_then(Value::as_array).into_iter().flatten() {
        let Some(w) = w.as_str() else { continue };
        let w = truncate_chars(printable(w).trim(), MAX_WARNING_CHARS);
        if w.is_empty() {
            continue;
        }
        let n = w.chars().count();
        if total + n > MAX_WARNINGS_TOTAL_CHARS {
            break;
        }
        total += n;
        out.push(w);
    }
    out
}

/// Control characters (newlines included) break the `Warning:` header and terminals.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(3)).collect();
    t.push_str("...");
    t
}

/// A sample AdmissionReview v1 (for the benchmark and tests) for creating a Link like `skupper link generate` emits; `valid`
/// false gives a cost out of bounds and an endpoint without host.
pub fn sample_review(uid: &str, valid: bool) -> Vec<u8> {
    let (cost, host) = if valid { (2, "west.example.com") } else { (5000, "") };
    let link = json!({
        "apiVersion": "skupper.io/v2alpha1",
        "kind": "Link",
        "metadata": { "name": "link-west-skupper-router", "namespace": "east" },
        "spec": {
            "cost": cost,
            "endpoints": [
                { "group": "skupper-router", "host": host, "name": "inter-router", "port": "55671" },
                { "group": "skupper-router", "host": host, "name": "edge", "port": "45671" },
            ],
            "tlsCredentials": "link-west",
        },
    });
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "skupper.io", "version": "v2alpha1", "kind": "Link" },
            "resource": { "group": "skupper.io", "version": "v2alpha1", "resource": "links" },
            "requestKind": { "group": "skupper.io", "version": "v2alpha1", "kind": "Link" },
            "requestResource": { "group": "skupper.io", "version": "v2alpha1", "resource": "links" },
            "name": "link-west-skupper-router",
            "namespace": "east",
            "operation": "CREATE",
            "userInfo": { "username": "admin", "groups": ["system:masters", "system:authenticated"] },
            "object": link,
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" },
        },
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn uid_found_without_tree_and_missing_uid_is_empty() {
        let body = br#"{"kind":"AdmissionReview","request":{"object":{"a":[1,2]},"uid":"u-1"}}"#;
        assert_eq!(request_uid(body), "u-1");
        assert_eq!(request_uid(br#"{"request":{}}"#), "");
        assert_eq!(request_uid(b"not json"), "");
    }

    #[test]
    fn answer_for_another_uid_is_denied() {
        let answer = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "response":{"uid":"other","allowed":true}}"#;
        let out = parse(&checked_response(answer, "mine"));
        assert_eq!(out["response"]["uid"], "mine");
        assert_eq!(out["response"]["allowed"], false);
        let msg = out["response"]["status"]["message"].as_str().unwrap();
        assert!(msg.contains("answers uid \"other\""), "{msg}");
    }

    #[test]
    fn patch_and_non_json_answers_are_denied() {
        let answer = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "response":{"uid":"u","allowed":true,"patchType":"JSONPatch","patch":"W10="}}"#;
        let out = parse(&checked_response(answer, "u"));
        assert_eq!(out["response"]["allowed"], false);
        let out = parse(&checked_response(b"\x00garbage", "u"));
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(out["response"]["status"]["code"], 500);
    }

    #[test]
    fn warnings_are_bounded_and_printable() {
        let long = "x".repeat(1000);
        let mut warnings = vec![Value::from("line1\nline2"), Value::from(7)];
        warnings.extend((0..40).map(|_| Value::from(long.clone())));
        let answer = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u", "allowed": true, "warnings": warnings}});
        let out = parse(&checked_response(&serde_json::to_vec(&answer).unwrap(), "u"));
        let w = out["response"]["warnings"].as_array().unwrap();
        assert_eq!(w[0], "line1 line2");
        let total: usize = w.iter().map(|w| w.as_str().unwrap().chars().count()).sum();
        assert!(total <= MAX_WARNINGS_TOTAL_CHARS);
        assert!(w.iter().all(|w| w.as_str().unwrap().chars().count() <= MAX_WARNING_CHARS));
        assert_eq!(w.len(), 1 + MAX_WARNINGS_TOTAL_CHARS / MAX_WARNING_CHARS - 1);
    }

    #[test]
    fn deny_without_status_gets_code_and_message() {
        let answer = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "response":{"uid":"u","allowed":false}}"#;
        let out = parse(&checked_response(answer, "u"));
        assert_eq!(out["response"]["status"]["code"], 403);
        assert_eq!(out["response"]["status"]["message"], "denied by the link policy");
    }

    proptest::proptest! {
        #![proptest_config(skupper_router::fuzzing::config())]

        /// Any request body: the uid is found or empty; the policy's review (core) and the host's
        /// check of an answer (these same bytes, as a broken module could return them) always
        /// produce an AdmissionReview for that uid.
        #[test]
        fn fuzz_admission_reviews(data in skupper_router::fuzzing::inputs("admission-review", 4096)) {
            let uid = request_uid(&data);
            let answer = skupper_core::admission::review_bytes(&data, &skupper_core::admission::Policy::default());
            proptest::prop_assert_eq!(answer["kind"].as_str(), Some("AdmissionReview"));
            for module_answer in [data.clone(), serde_json::to_vec(&answer).unwrap_or_default()] {
                let out: Value = serde_json::from_slice(&checked_response(&module_answer, &uid)).expect("JSON");
                proptest::prop_assert_eq!(out["response"]["uid"].as_str(), Some(uid.as_str()));
                proptest::prop_assert!(out["response"]["allowed"].is_boolean());
            }
        }
    }

    #[test]
    fn the_admission_review_seeds_replay() {
        for seed in skupper_router::fuzzing::corpus("admission-review") {
            assert!(!request_uid(&seed).is_empty(), "{}", String::from_utf8_lossy(&seed));
            let answer = skupper_core::admission::review_bytes(&seed, &skupper_core::admission::Policy::default());
            assert!(answer["response"]["allowed"].is_boolean(), "{answer}");
        }
    }
}
