//! Every upstream example (`../shared/upstream-skupper/inputs`, data only, not in this repository)
//! fed to `system apply` on the local platform gets the outcome it deserves:
//! - refused, with the reason, and nothing written: the obsolete `skupper.io/v1alpha1`;
//!   placeholders (`<remote-host>`, `<grant-url>`, `…`, `___redacted___`, an empty token URL);
//!   selector-only Connectors (pods are a Kubernetes thing); RouterAccess without roles; a Link
//!   whose TLS Secret is not there;
//! - accepted otherwise: every document stored (kinds this platform does not run with a warning
//!   naming them), and the site, started, reports a status for every resource it runs.
//!
//! Hosts that are not on this machine are rewritten to loopback addresses first (the inputs'
//! README): nothing here may reach out, not even to a DNS server.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use skupper_e2e::crd::documents;
use skupper_e2e::{Env, skip, wait_for};

/// Kinds a running local site acts on (and writes a status for).
const RUN: &[&str] = &["Site", "Link", "Listener", "Connector", "MultiKeyListener"];
/// Kinds stored with a warning, not run.
const STORED_ONLY: &[&str] = &["AttachedConnector", "AttachedConnectorBinding", "SecuredAccess", "Certificate"];

fn inputs(test: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper/inputs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        skip(test, "../shared/upstream-skupper (upstream's example files) is not on this machine");
        return None;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    Some(files)
}

/// The reason a file deserves to be refused, as a text the refusal must contain; `None`: accepted.
fn refusal(text: &str, docs: &[Value]) -> Option<&'static str> {
    let kind = |d: &Value| d["kind"].as_str().unwrap_or_default().to_string();
    if docs.iter().any(|d| d["apiVersion"] == "skupper.io/v1alpha1") {
        return Some("apiVersion \"skupper.io/v1alpha1\" is not supported");
    }
    if text.contains("<remote-host>") {
        return Some("\"<remote-host>\" is not a valid host");
    }
    if text.contains("<grant-url>") {
        return Some("token url \"<grant-url>\" is not valid");
    }
    if text.contains('…') {
        return Some("cannot be read");
    }
    if text.contains("___redacted___") {
        return Some("is not valid base64");
    }
    for d in docs {
        match kind(d).as_str() {
            "AccessToken" if d["spec"]["url"].as_str().unwrap_or_default().is_empty() => {
                return Some("token url \"\" is not valid");
            }
            "Connector" if d["spec"]["host"].is_null() && d["spec"]["selector"].is_string() => {
                return Some("connector host and port are required");
            }
            "RouterAccess" if d["spec"]["roles"].as_array().is_none_or(Vec::is_empty) => {
                return Some("spec.roles is required");
            }
            "Link" => {
                let secret = d["spec"]["tlsCredentials"].as_str().unwrap_or_default();
                if !docs.iter().any(|s| s["kind"] == "Secret" && s["metadata"]["name"] == secret) {
                    return Some("not found");
                }
            }
            _ => {}
        }
    }
    None
}

/// Hosts that are not on this machine become loopback addresses, one per distinct name (on a
/// cluster they are distinct Services; here a listener's host is its bind address), in a range
/// of file `i`'s own; placeholders stay, to be refused.
fn local_hosts(text: &str, i: usize) -> String {
    let mut names: Vec<String> = Vec::new();
    text.lines()
        .map(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            match t.strip_prefix("host:").map(str::trim) {
                Some(h) if !h.contains('<') && !h.starts_with("127.") => {
                    let n = names.iter().position(|x| x == h).unwrap_or_else(|| {
                        names.push(h.to_string());
                        names.len() - 1
                    });
                    format!("{}host: 127.254.{i}.{}", &l[..l.len() - t.len()], n + 1)
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn every_upstream_example_gets_the_outcome_it_deserves() {
    let test = "every_upstream_example_gets_the_outcome_it_deserves";
    let Some(files) = inputs(test) else { return };
    let mut wrong = Vec::new();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for (i, f) in files.iter().enumerate() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = local_hosts(&std::fs::read_to_string(f).unwrap(), i);
        let docs = documents(&text);
        // A world per file: the examples' sites and RouterAccesses want the same default ports.
        let env = Env::new(&format!("upstream-input-{i:03}"));
        let ns = format!("u{i:03}");
        if !docs.iter().any(|d| d["kind"] == "Site") {
            env.ns(&ns, &["site", "create", &format!("site-{i:03}")]).ok();
        }
        let before = env.resource_files(&ns);
        let out = env.run_with_input(&["-n", &ns, "system", "apply", "-f", "-"], Some(&text));
        match refusal(&text, &docs) {
            Some(reason) => {
                refused += 1;
                if out.code != 1 || !out.stdout.contains(reason) {
                    wrong.push(format!("{name}: should be refused with {reason:?}:\n{out}"));
                } else if env.resource_files(&ns) != before {
                    wrong.push(format!("{name}: refused, yet files were written: {:?}", env.resource_files(&ns)));
                }
            }
            None => {
                if !out.succeeded() || !out.stdout.contains("Custom resources are applied.") {
                    wrong.push(format!("{name}: should be accepted:\n{out}"));
                    continue;
                }
                for d in &docs {
                    let (kind, n) = (d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap());
                    if !env.resource(&ns, kind, n).exists() {
                        wrong.push(format!("{name}: {kind} {n} was not stored"));
                    }
                    if STORED_ONLY.contains(&kind)
                        && !out.stderr.contains(&format!("Warning: {kind} {n:?} is stored but not run"))
                    {
                        wrong.push(format!("{name}: no warning that {kind} {n} is not run:\n{out}"));
                    }
                }
                accepted.push((name, env, ns, docs));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} examples:\n{}", wrong.len(), files.len(), wrong.join("\n\n"));
    eprintln!("{} upstream examples: {} accepted, {refused} refused with the reason", files.len(), accepted.len());
    assert!(accepted.len() >= 30 && refused >= 15, "{} accepted, {refused} refused", accepted.len());

    // Accepted and running: the started site reports on every resource it runs.
    for (name, env, ns, docs) in &accepted {
        let pid = env.start(ns);
        let want: Vec<(String, String)> = docs
            .iter()
            .filter(|d| RUN.contains(&d["kind"].as_str().unwrap_or_default()))
            .map(|d| (d["kind"].as_str().unwrap().to_string(), d["metadata"]["name"].as_str().unwrap().to_string()))
            .collect();
        wait_for(&format!("{name}: the site's status of {want:?}"), Duration::from_secs(30), || {
            let missing: Vec<&(String, String)> = want
                .iter()
                .filter(|(k, n)| !env.home(ns).join("runtime/status").join(format!("{k}-{n}.yaml")).exists())
                .collect();
            if missing.is_empty() { Ok(()) } else { Err(format!("no status yet for {missing:?}\n{}", env.log(ns))) }
        });
        env.ns(ns, &["system", "stop"]).ok();
        wait_for(&format!("{name}: the site to stop"), Duration::from_secs(20), || {
            if skupper_e2e::site_process_alive(pid) { Err("still running".into()) } else { Ok(()) }
        });
    }
}
