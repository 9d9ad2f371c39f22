//! The krew manifest: the shipped one follows krew's rules and is rendered from the current
//! template, and the release script renders each platform's sha256 from the archive it really
//! built; that archive installs (LICENSE and a runnable `kubectl-skupper`, as krew's `files`
//! and `bin` say) and is reproducible.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_yaml::Value;
use sha2::{Digest, Sha256};
use skupper_e2e::binary;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A copy of the built binary, taken once: other test processes may rebuild the original while
/// this one packages it.
fn snapshot() -> &'static Path {
    static SNAP: OnceLock<PathBuf> = OnceLock::new();
    SNAP.get_or_init(|| {
        let dir = tempdir("bin");
        let copy = dir.join("kubectl-skupper");
        std::fs::copy(binary(), &copy).unwrap();
        copy
    })
}

/// `scripts/release.sh --binary <snapshot> --out <out> --manifest <out>/skupper.yaml`.
fn package(out: &Path, envs: &[(&str, &str)]) -> Output {
    skupper_e2e::command("bash")
        .arg(repo().join("scripts/release.sh"))
        .arg("--binary")
        .arg(snapshot())
        .arg("--out")
        .arg(out)
        .arg("--manifest")
        .arg(out.join("skupper.yaml"))
        .env_remove("VERSION")
        .env_remove("URL_BASE")
        // A debug binary is ~100 MB: the fastest gzip keeps the tests quick (same format).
        .env("GZIP_LEVEL", "1")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

/// The snapshot packaged once for the tests that only read the result: its directory and manifest.
fn packaged() -> &'static (PathBuf, Value) {
    static DONE: OnceLock<(PathBuf, Value)> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = tempdir("dist");
        let run = package(&out, &[]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let m = load(&out.join("skupper.yaml"));
        (out, m)
    })
}

fn archive_of(out: &Path, platform: &Value) -> PathBuf {
    out.join(platform["uri"].as_str().unwrap().rsplit('/').next().unwrap())
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

/// The shipped manifest is the template rendered: everything but the platform entries is the
/// template's text with its version and homepage (so an edited template cannot be forgotten).
#[test]
fn shipped_manifest_is_rendered_from_the_template() {
    let shipped = std::fs::read_to_string(repo().join("krew-manifest.yaml")).unwrap();
    let template = std::fs::read_to_string(repo().join("packaging/krew/skupper.yaml.tmpl")).unwrap();
    let m: Value = serde_yaml::from_str(&shipped).unwrap();
    let (head, tail) = template.split_once("@PLATFORMS@\n").unwrap();
    assert_eq!(tail, "", "the template ends with its platforms");
    let head = head
        .replace("@VERSION@", m["spec"]["version"].as_str().unwrap())
        .replace("@HOMEPAGE@", m["spec"]["homepage"].as_str().unwrap());
    assert!(
        shipped.starts_with(&head),
        "krew-manifest.yaml is not the current template rendered: run scripts/release.sh"
    );
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let version = cargo.lines().find_map(|l| l.strip_prefix("version = \"")).unwrap().trim_end_matches('"');
    assert_eq!(
        m["spec"]["version"].as_str().unwrap(),
        format!("v{version}"),
        "manifest version is not the workspace's"
    );
}

#[test]
fn release_script_renders_the_real_checksum() {
    let (out, m) = packaged();
    assert_eq!(manifest_problems(m), Vec::<String>::new());
    let platforms = m["spec"]["platforms"].as_sequence().unwrap();
    assert_eq!(platforms.len(), 1, "--binary packages the host platform only");
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    for pl in platforms {
        let archive = archive_of(out, pl);
        let sum = hex(&Sha256::digest(std::fs::read(&archive).unwrap()));
        assert_eq!(pl["sha256"].as_str().unwrap(), sum, "{}", archive.display());
        let name = archive.file_name().unwrap().to_str().unwrap();
        assert!(sums.lines().any(|l| l == format!("{sum}  {name}")), "{name} not in SHA256SUMS:\n{sums}");
        let listing = Command::new("tar").arg("-tzf").arg(&archive).output().unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        for f in ["kubectl-skupper", "LICENSE"] {
            assert!(listing.lines().any(|l| l == f), "{f} missing from {listing}");
        }
    }
}

/// What krew does with the archive: extract it, keep the `files`, run `bin`.
#[test]
fn archive_installs_and_runs_like_krew_would() {
    let (out, m) = packaged();
    let pl = &m["spec"]["platforms"][0];
    let unpacked = tempdir("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let st = Command::new("tar").arg("-xzf").arg(archive_of(out, pl)).arg("-C").arg(&unpacked).status().unwrap();
    assert!(st.success());
    for f in pl["files"].as_sequence().unwrap() {
        let from = f["from"].as_str().unwrap();
        assert!(unpacked.join(from).is_file(), "files: {from} is not in the archive");
    }
    assert_eq!(
        std::fs::read(unpacked.join("LICENSE")).unwrap(),
        std::fs::read(repo().join("LICENSE")).unwrap(),
        "the archive's LICENSE is the repository's"
    );
    let bin = unpacked.join(pl["bin"].as_str().unwrap());
    let v = skupper_e2e::command(&bin).args(["version", "-o", "json"]).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(format!("v{}", v["clientVersion"].as_str().unwrap()), m["spec"]["version"].as_str().unwrap());
    assert_eq!(
        (v["os"].as_str().unwrap(), v["arch"].as_str().unwrap()),
        (
            pl["selector"]["matchLabels"]["os"].as_str().unwrap(),
            pl["selector"]["matchLabels"]["arch"].as_str().unwrap()
        ),
        "the selector names the platform the binary was built for"
    );
    std::fs::remove_dir_all(unpacked).unwrap();
}

#[test]
fn packaging_is_reproducible_and_versions_are_checked() {
    let (a, _) = packaged();
    let b = tempdir("again");
    let run = package(&b, &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let sums = |d: &Path| std::fs::read_to_string(d.join("SHA256SUMS")).unwrap();
    assert_eq!(sums(a), sums(&b), "the same binary packaged twice gives different archives");
    // A version without the leading v (krew requires it) is refused before anything is written.
    let c = tempdir("badversion");
    let run = package(&c, &[("VERSION", "0.1.0")]);
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("not semver with a leading v"));
    assert!(!c.join("skupper.yaml").exists());
    for d in [b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fresh directory for this test process (removed by the harness's sweep once the process
/// has ended: the snapshot and the packaged archive are shared by the tests of one process).
fn tempdir(tag: &str) -> PathBuf {
    skupper_e2e::test_dir(&format!("krew-{tag}"))
}
