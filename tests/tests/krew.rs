//! The krew manifest: the shipped one follows krew's rules, and the release script renders each
//! platform's sha256 from the archive it really built.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let bin = target.join("debug/kubectl-skupper");
    if !bin.exists() {
        let ok = Command::new(env!("CARGO")).args(["build", "-p", "kubectl-skupper"]).current_dir(repo()).status();
        assert!(ok.unwrap().success(), "building kubectl-skupper failed");
    }
    bin
}

/// Every rule krew-index checks that can be checked offline; returns the problems found.
fn manifest_problems(m: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let s = |v: &Value, path: &str| v.get(path).and_then(Value::as_str).map(str::to_owned);
    if s(m, "apiVersion").as_deref() != Some("krew.googlecontainertools.github.com/v1alpha2") {
        p.push("apiVersion must be krew.googlecontainertools.github.com/v1alpha2".into());
    }
    if s(m, "kind").as_deref() != Some("Plugin") {
        p.push("kind must be Plugin".into());
    }
    // The binary is kubectl-skupper, so kubectl dispatches `kubectl skupper`: the plugin name must be skupper.
    if m.get("metadata").and_then(|md| s(md, "name")).as_deref() != Some("skupper") {
        p.push("metadata.name must be skupper (the binary is kubectl-skupper)".into());
    }
    let spec = m.get("spec").cloned().unwrap_or(Value::Null);
    let version = s(&spec, "version").unwrap_or_default();
    let semver = version.strip_prefix('v').is_some_and(|v| {
        let core = v.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<_> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
    });
    if !semver {
        p.push(format!("spec.version {version:?} must be semver with a leading v"));
    }
    for f in ["shortDescription", "description", "homepage"] {
        if s(&spec, f).is_none_or(|v| v.trim().is_empty()) {
            p.push(format!("spec.{f} is missing"));
        }
    }
    let platforms = spec.get("platforms").and_then(Value::as_sequence).cloned().unwrap_or_default();
    if platforms.is_empty() {
        p.push("spec.platforms is empty".into());
    }
    for (i, pl) in platforms.iter().enumerate() {
        let labels = pl.get("selector").and_then(|x| x.get("matchLabels"));
        let os = labels.and_then(|l| s(l, "os")).unwrap_or_default();
        let arch = labels.and_then(|l| s(l, "arch")).unwrap_or_default();
        if !["linux", "darwin", "windows"].contains(&os.as_str()) || !["amd64", "arm64", "arm"].contains(&arch.as_str())
        {
            p.push(format!("platforms[{i}].selector.matchLabels must name a known os and arch, got {os}/{arch}"));
        }
        let uri = s(pl, "uri").unwrap_or_default();
        if !uri.starts_with("https://") || !(uri.ends_with(".tar.gz") || uri.ends_with(".zip")) {
            p.push(format!("platforms[{i}].uri {uri:?} must be an https .tar.gz or .zip"));
        }
        if !uri.contains(&version) {
            p.push(format!("platforms[{i}].uri does not name version {version}"));
        }
        let sum = s(pl, "sha256").unwrap_or_default();
        if sum.len() != 64 || !sum.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            p.push(format!("platforms[{i}].sha256 {sum:?} is not 64 lower-case hex digits"));
        }
        let bin = s(pl, "bin").unwrap_or_default();
        let want = if os == "windows" { "kubectl-skupper.exe" } else { "kubectl-skupper" };
        if bin != want {
            p.push(format!("platforms[{i}].bin must be {want}"));
        }
        let files = pl.get("files").and_then(Value::as_sequence).cloned().unwrap_or_default();
        if !files.iter().any(|f| s(f, "from").as_deref() == Some("LICENSE")) {
            p.push(format!("platforms[{i}].files must extract LICENSE"));
        }
    }
    p
}

fn load(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn shipped_manifest_follows_krew_rules() {
    let m = load(&repo().join("krew-manifest.yaml"));
    assert_eq!(manifest_problems(&m), Vec::<String>::new());
}

#[test]
fn validator_catches_broken_manifests() {
    let mut m = load(&repo().join("krew-manifest.yaml"));
    m["spec"]["version"] = "0.1.0".into();
    m["spec"]["platforms"][0]["sha256"] = "abc".into();
    m["metadata"]["name"] = "kubectl-skupper".into();
    m["spec"]["platforms"][0]["files"] = serde_yaml::from_str("[{from: kubectl-skupper, to: .}]").unwrap();
    let problems = manifest_problems(&m);
    for want in ["metadata.name", "spec.version", "sha256", "LICENSE"] {
        assert!(problems.iter().any(|p| p.contains(want)), "no problem about {want}: {problems:?}");
    }
    assert_eq!(problems.len(), 4, "{problems:?}");
}

#[test]
fn release_script_renders_the_real_checksum() {
    let out = tempdir();
    let manifest = out.join("skupper.yaml");
    let st = Command::new("bash")
        .arg(repo().join("scripts/release.sh"))
        .arg("--binary")
        .arg(binary())
        .arg("--out")
        .arg(&out)
        .arg("--manifest")
        .arg(&manifest)
        .status()
        .unwrap();
    assert!(st.success());
    let m = load(&manifest);
    assert_eq!(manifest_problems(&m), Vec::<String>::new());
    for pl in m["spec"]["platforms"].as_sequence().unwrap() {
        let uri = pl["uri"].as_str().unwrap();
        let archive = out.join(uri.rsplit('/').next().unwrap());
        let sum = hex(&Sha256::digest(std::fs::read(&archive).unwrap()));
        assert_eq!(pl["sha256"].as_str().unwrap(), sum, "{}", archive.display());
        let listing = Command::new("tar").arg("-tzf").arg(&archive).output().unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        for f in ["kubectl-skupper", "LICENSE"] {
            assert!(listing.lines().any(|l| l == f), "{f} missing from {listing}");
        }
    }
    std::fs::remove_dir_all(out).unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("krew-test-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
