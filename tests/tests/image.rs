//! The OCI image (`scripts/image.sh`, umoci, no container engine), built from the debug binary
//! to keep it quick: two builds of one binary give one digest and the same archive bytes; the
//! config runs the binary as user 65532 with the OCI labels; the root file system holds the
//! binary, exactly the libraries `ldd` names, passwd/group and an empty /tmp, nothing else; the
//! unpacked root file system runs `kubectl-skupper version` under `chroot` (as root, also as
//! user 65532). Tests skip, with the reason, when umoci cannot be installed or chroot is not
//! allowed (not root).
#![allow(clippy::unwrap_used, missing_docs)]

mod incluster_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use incluster_support::{is_root, unpack};
use serde_json::Value;
use skupper_e2e::binary;

/// Fixed inputs of a reproducible build (the script's defaults come from git).
const EPOCH: &str = "1700000000";
const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A test that cannot run here says why (counted; a failure under `REQUIRE_ALL_TESTS=1`).
fn skip(test: &str, reason: &str) {
    skupper_e2e::skip(&format!("image::{test}"), reason);
}

/// This run's directory, `$TMPDIR/image-test-<pid>`; directories of runs that ended are removed
/// first (a run removes its own when its last test is done, see [`Finished`]).
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(pid) = name.strip_prefix("image-test-") else { continue };
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let d = std::env::temp_dir().join(format!("image-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// A fresh directory of this run.
fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = root().join(format!("{tag}-{}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Held by each test: when the last of the file's tests ends, the run's directory goes.
struct Finished;

const TESTS: usize = 4;

impl Drop for Finished {
    fn drop(&mut self) {
        static DONE: AtomicUsize = AtomicUsize::new(0);
        if DONE.fetch_add(1, Ordering::SeqCst) + 1 == TESTS && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(root());
        }
    }
}

/// A copy of the built binary without its debug information (image.sh strips it the same way),
/// taken once: other test processes may rebuild the original while this one packages it.
fn snapshot() -> &'static Path {
    static SNAP: OnceLock<PathBuf> = OnceLock::new();
    SNAP.get_or_init(|| {
        let copy = tempdir("bin").join("kubectl-skupper");
        let stripped = Command::new("strip").arg("--strip-debug").arg("-o").arg(&copy).arg(binary()).status();
        if !stripped.is_ok_and(|s| s.success()) {
            std::fs::copy(binary(), &copy).unwrap();
        }
        copy
    })
}

/// One image build: the archive and the digest the script printed.
#[derive(Debug, Clone)]
struct Built {
    archive: PathBuf,
    digest: String,
}

/// `scripts/image.sh --binary <snapshot> --out <fresh dir>`; `Err` with the reason when umoci
/// cannot be installed here (exit 3).
fn build() -> Result<Built, String> {
    let out = tempdir("dist");
    let run = Command::new("bash")
        .arg(repo().join("scripts/image.sh"))
        .arg("--binary")
        .arg(snapshot())
        .arg("--out")
        .arg(&out)
        .env_remove("VERSION")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("REVISION", REVISION)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    match run.status.code() {
        Some(0) => {}
        Some(3) => return Err(stderr.trim().to_string()),
        other => panic!("image.sh failed ({other:?}):\n{stderr}"),
    }
    let stdout = String::from_utf8(run.stdout).unwrap();
    let mut lines = stdout.lines();
    let archive = PathBuf::from(lines.next().unwrap());
    let digest = lines.next().unwrap().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    Ok(Built { archive, digest })
}

/// The image built once for the tests that only read it.
fn built() -> &'static Result<Built, String> {
    static ONE: OnceLock<Result<Built, String>> = OnceLock::new();
    ONE.get_or_init(build)
}

/// The archive unpacked as an OCI layout (once).
fn layout() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let b = built().as_ref().ok()?;
        let dir = tempdir("layout");
        let ok = Command::new("tar").arg("-xf").arg(&b.archive).arg("-C").arg(&dir).status().unwrap();
        assert!(ok.success());
        Some(dir)
    })
    .as_ref()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join(digest.replace(':', "/"))
}

/// index.json → (manifest, config, its tag).
fn image(layout: &Path) -> (Value, Value, String) {
    let index = json(&layout.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    let m = &index["manifests"][0];
    let tag = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().to_string();
    let manifest = json(&blob(layout, m["digest"].as_str().unwrap()));
    let config = json(&blob(layout, manifest["config"]["digest"].as_str().unwrap()));
    (manifest, config, tag)
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn two_builds_of_one_binary_give_one_digest() {
    let _finished = Finished;
    let first = match built() {
        Ok(b) => b.clone(),
        Err(reason) => return skip("two_builds_of_one_binary_give_one_digest", reason),
    };
    let second = build().unwrap();
    assert_eq!(first.digest, second.digest, "the image digest differs between two builds");
    assert_eq!(sha256(&first.archive), sha256(&second.archive), "the archives differ");
    let name = first.archive.file_name().unwrap().to_str().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(name, format!("kubectl-skupper_v{version}_linux_amd64.oci.tar"));
    // The digest printed is the manifest's in the archive.
    let index = json(&layout().unwrap().join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], first.digest.as_str());
}

#[test]
fn the_config_runs_the_binary_as_user_65532_with_the_oci_labels() {
    let _finished = Finished;
    let Some(layout) = layout() else {
        return skip("the_config_runs_the_binary_as_user_65532_with_the_oci_labels", built().as_ref().unwrap_err());
    };
    let (manifest, config, tag) = image(layout);
    assert_eq!(tag, env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1, "{manifest}");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/kubectl-skupper"]));
    assert!(c.get("Cmd").is_none_or(Value::is_null), "{c}");
    let labels = &c["Labels"];
    let label = |k: &str| labels[format!("org.opencontainers.image.{k}")].as_str().unwrap_or_default().to_string();
    assert_eq!(label("title"), "kubectl-skupper");
    assert_eq!(label("version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(label("source"), "https://github.com/skupper-rs/kubectl-skupper");
    assert_eq!(label("licenses"), "Apache-2.0");
    assert_eq!(label("revision"), REVISION);
    // Every timestamp is SOURCE_DATE_EPOCH (2023-11-14T22:13:20Z).
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    for h in config["history"].as_array().unwrap() {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{h}");
    }
}

#[test]
fn the_root_file_system_holds_the_binary_its_libraries_passwd_group_and_tmp_only() {
    let _finished = Finished;
    let Some(layout) = layout() else {
        return skip(
            "the_root_file_system_holds_the_binary_its_libraries_passwd_group_and_tmp_only",
            built().as_ref().unwrap_err(),
        );
    };
    let (manifest, _, _) = image(layout);
    let layer = blob(layout, manifest["layers"][0]["digest"].as_str().unwrap());
    let out = Command::new("tar").arg("-tvzf").arg(&layer).arg("--numeric-owner").output().unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, date, path) = (cols[0], cols[1], cols[3], cols[5].trim_start_matches("./"));
        assert_eq!(owner, "0/0", "{line}");
        assert_eq!(date, "2023-11-14", "mtime not clamped: {line}");
        if mode.starts_with('d') {
            dirs.insert(path.trim_end_matches('/').to_string());
        } else {
            assert!(mode.starts_with('-'), "only regular files: {line}");
            files.insert(path.to_string());
        }
        if path.trim_end_matches('/') == "tmp" {
            assert_eq!(mode, "drwxrwxrwt", "{line}");
        }
    }
    // What the dynamic loader maps for the binary, at the paths ldd names.
    let ldd = Command::new("ldd").arg(snapshot()).output().unwrap();
    let libs: BTreeSet<String> = String::from_utf8(ldd.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_whitespace().find(|w| w.starts_with('/')).map(|p| p.trim_start_matches('/').to_string())
        })
        .collect();
    assert!(libs.iter().any(|l| l.ends_with("libc.so.6")), "{libs:?}");
    let mut expected: BTreeSet<String> = ["kubectl-skupper", "etc/passwd", "etc/group"].map(String::from).into();
    expected.extend(libs.iter().cloned());
    assert_eq!(files, expected, "files of the image");
    // Directories: the root, tmp and the parents of those files only.
    let mut parents: BTreeSet<String> = [".", "", "tmp"].map(String::from).into();
    for f in &expected {
        let mut p = Path::new(f).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            parents.insert(d.display().to_string());
            p = d.parent();
        }
    }
    assert!(dirs.is_subset(&parents), "unexpected directories: {:?}", dirs.difference(&parents).collect::<Vec<_>>());
    assert!(dirs.contains("tmp"), "{dirs:?}");
}

#[test]
fn the_unpacked_root_file_system_runs_the_binary_under_chroot() {
    let _finished = Finished;
    const TEST: &str = "the_unpacked_root_file_system_runs_the_binary_under_chroot";
    let Some(layout) = layout() else { return skip(TEST, built().as_ref().unwrap_err()) };
    if !is_root() {
        return skip(TEST, "chroot needs root");
    }
    let (_, _, tag) = image(layout);
    let rootfs = unpack(layout, &tag, &tempdir("bundle").join("b"));
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.split(':').nth(2) == Some("65532")), "{passwd}");
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.split(':').nth(2) == Some("65532")), "{group}");
    assert_eq!(std::fs::read_dir(rootfs.join("tmp")).unwrap().count(), 0, "/tmp is empty");
    // As root, and as the image's user (what the pod runs as).
    for userspec in [None, Some("65532:65532")] {
        let mut cmd = Command::new("chroot");
        if let Some(u) = userspec {
            cmd.arg(format!("--userspec={u}"));
        }
        // Only PATH (to find chroot): nothing of this host's configuration reaches the binary.
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        let out = cmd.arg(&rootfs).arg("/kubectl-skupper").arg("version").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "chroot {userspec:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    }
}
