//! The policy module committed at kubectl-plugin/assets/skupper-policy.wasm (embedded in the
//! binary) must be what scripts/build-policy.sh builds from today's sources (wasm/policy and
//! core). A counted skip when the wasm toolchain is not installed (a failure under
//! `REQUIRE_ALL_TESTS=1`, which scripts/test.sh sets after installing the toolchain).
#![cfg(feature = "webhook")]

use std::path::Path;
use std::process::Command;

#[test]
fn committed_policy_module_is_built_from_current_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let script = root.join("scripts/build-policy.sh");
    let probe = Command::new(&script).arg("--probe").status().unwrap();
    if probe.code() == Some(3) {
        return skupper_e2e::skip(
            "committed_policy_module_is_built_from_current_sources",
            "the wasm toolchain is not installed (scripts/wasm-toolchain.sh install)",
        );
    }
    assert_eq!(probe.code(), Some(0), "scripts/build-policy.sh --probe: {probe:?}");
    let out = Command::new(&script).arg("--check").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scripts/build-policy.sh --check failed:\n{stderr}");
    assert!(stderr.contains("up to date"), "{stderr}");
}
