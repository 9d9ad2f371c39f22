//! The Link admission policy as a WASI preview 1 module: a thin ABI over
//! [`skupper_core::admission::review`], so the webhook host, Kubewarden and tests all run the
//! very rules core unit-tests. It holds no rule of its own and does no I/O.
//!
//! # Layout
//! - this file: the pure entry points ([`review_json`], [`settings_json`],
//!   [`kubewarden_validate`]), unit-tested natively.
//! - `abi`: the C ABI our webhook host calls (`skupper_alloc`, `skupper_free`,
//!   `skupper_validate`, `skupper_validate_settings`, `skupper_abi_version`); wasm32 only.
//! - `wapc`: the waPC guest exports Kubewarden's policy-server calls (`__guest_call`,
//!   `wapc_init`; operations `validate`, `validate_settings`, `protocol_version`); wasm32 only.
//!
//! # Why a reactor with a C ABI, not a stdin→stdout command
//! A command module (`_start`) must be instantiated for every call *and* run its whole
//! start-up (args, env, stdio plumbing through WASI pipes), and it can answer exactly once.
//! A reactor keeps the per-review work to one `InstancePre::instantiate` plus two `memcpy`s and
//! one call: measured in wasm-pipeline.md §5 at ~24 µs (pooling) against ~40 µs for the command
//! form, and the same instance can also be driven over waPC by Kubewarden.
#![deny(unsafe_code)]

use serde_json::{Value, json};
use skupper_core::admission::{self, ADMISSION_V1, AdmissionResponse, AdmissionReview, Policy, ResponseStatus};

// Their functions are the module's exports, reached by symbol name (`no_mangle`), not by path.
#[cfg(target_arch = "wasm32")]
#[allow(unreachable_pub, reason = "exported from the Wasm module by symbol name")]
mod abi;
#[cfg(target_arch = "wasm32")]
#[allow(unreachable_pub, reason = "exported from the Wasm module by symbol name")]
mod wapc;

/// Version of the C ABI below; the host refuses a module with another one.
pub const ABI_VERSION: u32 = skupper_core::admission::POLICY_ABI_VERSION;

/// Parses policy settings (camelCase JSON, see [`Policy`]) and checks them: empty input or
/// `null` means "no settings" (the built-in Link rules only).
pub fn parse_settings(settings: &[u8]) -> Result<Policy, String> {
    let trimmed = settings.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(Policy::default());
    }
    let value: Value =
        serde_json::from_slice(trimmed).map_err(|e| format!("policy settings are not valid: not JSON: {e}"))?;
    Policy::from_value(&value).map_err(|e| name_the_field(&value).unwrap_or(e))
}

/// serde's errors from a `Value` carry no path; find the setting that does not parse on its
/// own so the message can name it (`maxCost: invalid type: string "many", expected i64`).
fn name_the_field(settings: &Value) -> Option<String> {
    let obj = settings.as_object()?;
    obj.iter().find_map(|(key, v)| {
        let single = json!({ key.as_str(): v });
        serde_json::from_value::<Policy>(single).err().map(|e| format!("policy settings are not valid: {key}: {e}"))
    })
}

/// One AdmissionReview (JSON bytes) in, the AdmissionReview response (JSON bytes) out. Never
/// fails: malformed input and bad settings are denies that echo whatever uid could be read.
pub fn review_json(review: &[u8], settings: &[u8]) -> Vec<u8> {
    let out = match parse_settings(settings) {
        Ok(policy) => admission::review_bytes(review, &policy),
        Err(e) => {
            let uid = serde_json::from_slice::<Value>(review)
                .ok()
                .and_then(|v| v.pointer("/request/uid").and_then(Value::as_str).map(String::from))
                .unwrap_or_default();
            settings_denial(uid, e)
        }
    };
    serde_json::to_vec(&out).unwrap_or_default()
}

/// The deny for a review that cannot be judged because the settings are broken: the cluster
/// admin's mistake, so 500 and a message saying where to look.
fn settings_denial(uid: String, why: String) -> Value {
    let review = AdmissionReview {
        api_version: ADMISSION_V1.into(),
        kind: "AdmissionReview".into(),
        request: None,
        response: Some(AdmissionResponse {
            uid,
            allowed: false,
            status: Some(ResponseStatus {
                code: Some(500),
                message: format!("{why}; fix the webhook's policy settings"),
                reason: "InternalError".into(),
            }),
            warnings: Vec::new(),
        }),
    };
    serde_json::to_value(review).unwrap_or(Value::Null)
}

/// Settings check, answered in Kubewarden's `SettingsValidationResponse` shape:
/// `{"valid": true}` or `{"valid": false, "message": "..."}`.
pub fn settings_json(settings: &[u8]) -> Vec<u8> {
    let answer = match parse_settings(settings) {
        Ok(_) => json!({ "valid": true }),
        Err(message) => json!({ "valid": false, "message": message }),
    };
    serde_json::to_vec(&answer).unwrap_or_default()
}

/// Kubewarden's `validate`: a `ValidationRequest` (`{"request": AdmissionRequest,
/// "settings": ...}`) in, a `ValidationResponse` (`{"accepted", "message", "code",
/// "warnings"}`) out. The request is wrapped into an AdmissionReview and run through the same
/// [`admission::review`] as the C ABI, then its answer is mapped back.
pub fn kubewarden_validate(payload: &[u8]) -> Vec<u8> {
    let response = match serde_json::from_slice::<Value>(payload) {
        Err(e) => rejected(&format!("the validation request is not JSON: {e}"), 400),
        Ok(mut req) => {
            let settings = req.get("settings").cloned().unwrap_or(Value::Null);
            let settings = serde_json::to_vec(&settings).unwrap_or_default();
            match parse_settings(&settings) {
                Err(e) => rejected(&e, 500),
                Ok(policy) => {
                    let request = req.get_mut("request").map(Value::take).unwrap_or(Value::Null);
                    let review = json!({
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "request": request,
                    });
                    to_validation_response(&admission::review(&review, &policy))
                }
            }
        }
    };
    serde_json::to_vec(&response).unwrap_or_default()
}

fn rejected(message: &str, code: u16) -> Value {
    json!({ "accepted": false, "message": message, "code": code })
}

/// AdmissionReview response → Kubewarden `ValidationResponse`.
fn to_validation_response(review: &Value) -> Value {
    let r = &review["response"];
    let accepted = r["allowed"].as_bool().unwrap_or(false);
    let mut out = json!({ "accepted": accepted });
    if !accepted {
        out["message"] = r["status"]["message"].clone();
        out["code"] = r["status"]["code"].clone();
    }
    if let Some(w) = r.get("warnings").filter(|w| w.is_array()) {
        out["warnings"] = w.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(uid: &str, cost: i64, host: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": uid, "operation": "CREATE", "namespace": "east", "name": "l1",
                "kind": {"group": "skupper.io", "version": "v2alpha1", "kind": "Link"},
                "resource": {"group": "skupper.io", "version": "v2alpha1", "resource": "links"},
                "object": {
                    "apiVersion": "skupper.io/v2alpha1", "kind": "Link",
                    "metadata": {"name": "l1", "namespace": "east"},
                    "spec": {"cost": cost, "tlsCredentials": "l1",
                        "endpoints": [{"name": "inter-router", "host": host, "port": "55671"},
                                      {"name": "edge", "host": host, "port": "45671"}]},
                },
            },
        }))
        .unwrap()
    }

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn valid_link_is_allowed_and_uid_echoed() {
        let out = parse(&review_json(&review("u-1", 1, "west.example.com"), b"{}"));
        assert_eq!(out["response"]["uid"], "u-1");
        assert_eq!(out["response"]["allowed"], true, "{out}");
    }

    #[test]
    fn settings_apply_and_bad_settings_deny_with_uid() {
        let settings = br#"{"maxCost": 5}"#;
        let out = parse(&review_json(&review("u-2", 9, "west.example.com"), settings));
        assert_eq!(out["response"]["allowed"], false, "{out}");
        let out = parse(&review_json(&review("u-3", 1, "west.example.com"), br#"{"maxCost": "lots"}"#));
        assert_eq!(out["response"]["uid"], "u-3");
        assert_eq!(out["response"]["allowed"], false);
        let msg = out["response"]["status"]["message"].as_str().unwrap();
        assert!(msg.contains("policy settings are not valid: maxCost: invalid type"), "{msg}");
    }

    #[test]
    fn non_json_request_is_denied_not_a_panic() {
        let out = parse(&review_json(b"{not json", b""));
        assert_eq!(out["response"]["allowed"], false);
        let msg = out["response"]["status"]["message"].as_str().unwrap();
        assert!(msg.contains("not JSON"), "{msg}");
    }

    #[test]
    fn settings_answer_has_kubewarden_shape() {
        assert_eq!(parse(&settings_json(b"")), json!({"valid": true}));
        let bad = parse(&settings_json(b"[1]"));
        assert_eq!(bad["valid"], false);
        assert!(bad["message"].as_str().unwrap().contains("settings"));
        let crossed = parse(&settings_json(br#"{"minCost": 5, "maxCost": 2}"#));
        assert_eq!(crossed["valid"], false);
        assert!(crossed["message"].as_str().unwrap().contains("minCost 5"));
    }

    #[test]
    fn kubewarden_validate_maps_both_ways() {
        let mut rv = parse(&review("u-4", 9, "west.example.com"));
        let payload = json!({"request": rv["request"].take(), "settings": {"maxCost": 5}});
        let out = parse(&kubewarden_validate(&serde_json::to_vec(&payload).unwrap()));
        assert_eq!(out["accepted"], false, "{out}");
        assert!(out["message"].as_str().is_some_and(|m| !m.is_empty()));
        let mut rv = parse(&review("u-5", 1, "west.example.com"));
        let payload = json!({"request": rv["request"].take(), "settings": null});
        let out = parse(&kubewarden_validate(&serde_json::to_vec(&payload).unwrap()));
        assert_eq!(out["accepted"], true, "{out}");
        let out = parse(&kubewarden_validate(b"nope"));
        assert_eq!(out["accepted"], false);
        assert_eq!(out["code"], 400);
    }
}
