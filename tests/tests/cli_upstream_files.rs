//! Files and habits as upstream Skupper has them, on the local platform: `spec:` with no value,
//! `-n` over `metadata.namespace`, kinds upstream's system sites store but do not run,
//! selector-only Connectors refused with upstream's text, `connector create` aiming at
//! `localhost` by default and `-r` for `--routing-key`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use skupper_e2e::{Env, echo_once, echo_server, free_port, wait_for};

/// Upstream's example files (data only, not in this repository), when on this machine.
fn upstream_inputs(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper/inputs");
    if dir.is_dir() {
        return Some(dir);
    }
    skupper_e2e::skip(test, "../shared/upstream-skupper (upstream's example files) is not on this machine");
    None
}

/// The upstream example file whose name starts with `prefix` (`009-`).
fn upstream_file(dir: &Path, prefix: &str) -> String {
    let f = std::fs::read_dir(dir).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with(prefix));
    f.unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display())).path().to_string_lossy().into_owned()
}

#[test]
fn null_spec_is_empty_and_dash_n_decides_the_namespace() {
    let env = Env::new("upstream-null");
    // `spec:` with no value, null members, and a namespace the file names that is not -n's.
    let site = "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n  namespace: elsewhere\n  labels:\nspec:\n";
    let listener = "---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: front\n  namespace: elsewhere\n\
                    spec:\n  routingKey: k\n  port: 9090\n  host: null\n  settings: null\n";
    let out =
        env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&format!("{site}{listener}"))).ok();
    assert_eq!(out.stdout, "Site west added\nListener front added\nCustom resources are applied.\n", "{out}");
    // One line says what was replaced.
    let notes: Vec<&str> = out.stderr.lines().filter(|l| l.contains("metadata.namespace")).collect();
    assert_eq!(
        notes,
        [
            "Note: metadata.namespace \"elsewhere\" replaced by \"west\" (-n decides the namespace) for: Site west, Listener front"
        ],
        "{out}"
    );
    let stored = env.yaml(&env.resource("west", "Site", "west"));
    assert_eq!(stored["metadata"]["namespace"], "west", "{stored}");
    assert!(stored.get("spec").is_none_or(|s| s.as_object().is_some_and(|m| m.is_empty())), "{stored}");
    let stored = env.yaml(&env.resource("west", "Listener", "front"));
    assert_eq!((stored["metadata"]["namespace"].as_str(), stored["spec"]["port"].as_u64()), (Some("west"), Some(9090)));
    // The site is usable: the empty spec is a plain site.
    let out = env.ns("west", &["site", "status"]).ok();
    assert!(out.stdout.contains("west"), "{out}");
    // The namespace -n names, or none: nothing to say.
    let same =
        "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata: {name: two, namespace: west}\nspec: {port: 9091}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(same)).ok();
    assert!(!out.stderr.contains("metadata.namespace"), "{out}");
    // Many: the line stays one line.
    let many: String = (0..8)
        .map(|i| format!("---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata: {{name: m{i}, namespace: a}}\nspec: {{port: 1}}\n"))
        .collect();
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&many)).ok();
    let notes: Vec<&str> = out.stderr.lines().filter(|l| l.contains("metadata.namespace")).collect();
    assert_eq!(notes.len(), 1, "{out}");
    assert!(notes[0].ends_with("Listener m4 and 3 more"), "{out}");
    // Refused input: nothing was replaced, so nothing is said about it.
    let bad = "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata: {name: bad, namespace: a}\nspec: {port: 0}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(bad)).code(1);
    assert!(!out.stderr.contains("metadata.namespace"), "{out}");
    let none = "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata: {name: three}\nspec: {port: 9092}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(none)).ok();
    assert!(!out.stderr.contains("metadata.namespace"), "{out}");
    assert!(env.yaml(&env.resource("west", "Listener", "three"))["metadata"].get("namespace").is_none());
}

#[test]
fn kinds_upstream_stores_but_does_not_run_are_stored_with_a_warning() {
    let env = Env::new("upstream-stored");
    env.site_with_link_access("west");
    let file = "apiVersion: skupper.io/v2alpha1\nkind: Certificate\nmetadata:\n  name: my-cert\n  namespace: other\n\
                spec:\n  ca: skupper-site-ca\n  client: true\n  hosts: [a.example]\n---\n\
                apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata: {name: front}\nspec: {routingKey: k, port: 1}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(file)).ok();
    assert_eq!(
        out.stdout,
        "Listener front added\nCertificate my-cert stored (not run)\nCustom resources are applied.\n"
    );
    assert!(
        out.stderr.contains(
            "Warning: Certificate \"my-cert\" is stored but not run: the local platform does not act on Certificate resources"
        ),
        "{out}"
    );
    // Kept as it came (with -n's namespace).
    let stored = env.yaml(&env.resource("west", "Certificate", "my-cert"));
    assert_eq!(stored["spec"]["hosts"][0], "a.example");
    assert_eq!(stored["metadata"]["namespace"], "west");
    // Every command that reads the namespace still works, and the site runs with it.
    env.ns("west", &["listener", "status"]).ok();
    env.start("west");
    env.ns("west", &["system", "status"]).ok();
    // `system delete` of the same file removes it.
    let out = env.run_with_input(&["-n", "west", "system", "delete", "-f", "-"], Some(file)).ok();
    assert!(out.stdout.contains("Certificate my-cert deleted"), "{out}");
    assert!(!env.resource("west", "Certificate", "my-cert").exists());
    // Refused as any resource is: an obsolete apiVersion, a bad name; nothing written.
    let old = "apiVersion: skupper.io/v1alpha1\nkind: SecuredAccess\nmetadata: {name: s}\nspec: {}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(old)).code(1);
    assert!(out.stdout.contains("apiVersion \"skupper.io/v1alpha1\" is not supported"), "{out}");
    let bad = "apiVersion: skupper.io/v2alpha1\nkind: SecuredAccess\nmetadata: {name: Bad_Name}\nspec: {}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(bad)).code(1);
    assert!(out.stdout.contains("SecuredAccess \"Bad_Name\": name is not valid"), "{out}");
    assert!(out.stdout.contains("Nothing was applied."), "{out}");
    assert!(!env.resource_files("west").iter().any(|f| f.starts_with("SecuredAccess")));

    // Upstream's own samples of the four kinds.
    let Some(dir) = upstream_inputs("kinds_upstream_stores_but_does_not_run_are_stored_with_a_warning") else { return };
    for (prefix, kind) in [
        ("009-", "AttachedConnector"),
        ("010-", "AttachedConnectorBinding"),
        ("011-", "Certificate"),
        ("015-", "SecuredAccess"),
    ] {
        let f = upstream_file(&dir, prefix);
        let out = env.ns("west", &["system", "apply", "-f", &f]).ok();
        assert!(out.stderr.contains(&format!("Warning: {kind} ")), "{f}: {out}");
        assert!(out.stdout.contains(&format!("{kind} ")) && out.stdout.contains("stored (not run)"), "{f}: {out}");
        assert!(env.resource_files("west").iter().any(|n| n.starts_with(&format!("{kind}-"))), "{f}");
    }
    // The running site picked the files up without complaint.
    env.ns("west", &["system", "status"]).ok();
}

#[test]
fn selector_only_connectors_are_refused_with_upstreams_text() {
    let env = Env::new("upstream-selector");
    env.ns("west", &["site", "create", "west"]).ok();
    let file = "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata: {name: backend}\n\
                spec: {routingKey: backend, port: 8080, selector: app=backend}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(file)).code(1);
    assert_eq!(
        out.stdout,
        "Connector \"backend\": connector host and port are required: spec.selector (app=backend) needs the \
         kubernetes platform (pods); on a host, give spec.host\nNothing was applied.\n",
        "{out}"
    );
    assert!(!env.resource("west", "Connector", "backend").exists());
    // Neither a host nor a selector: no target, refused the same way (not a guess at loopback).
    let none = file.replace("selector: app=backend", "tlsCredentials: \"\"");
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&none)).code(1);
    assert!(
        out.stdout.starts_with("Connector \"backend\": connector host and port are required: give spec.host"),
        "{out}"
    );
    assert!(!env.resource("west", "Connector", "backend").exists());
    // With a host, the selector is not what the connector uses: accepted.
    let both = file.replace("selector: app=backend", "selector: app=backend, host: 127.0.0.1");
    env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&both)).ok();
    // The command says it the same way.
    let out = env.ns("west", &["connector", "create", "db", "5432", "--selector", "app=db"]).code(2);
    assert_eq!(
        out.stdout,
        "connector host and port are required: --selector needs the kubernetes platform (pods); on a host, give --host\n",
        "{out}"
    );
    // Upstream's own selector-only example.
    let Some(dir) = upstream_inputs("selector_only_connectors_are_refused_with_upstreams_text") else { return };
    let f = upstream_file(&dir, "003-");
    let out = env.ns("west", &["system", "apply", "-f", &f]).code(1);
    assert!(out.stdout.contains("connector host and port are required"), "{out}");
}

#[test]
fn connector_create_aims_at_localhost_and_r_names_the_routing_key() {
    let env = Env::new("upstream-localhost");
    env.ns("west", &["site", "create", "west"]).ok();
    // The backend listens on 127.0.0.1 only: `localhost` reaches it.
    let backend = echo_server("127.0.0.1");
    let front = free_port(&env.ip);
    let (b, f) = (backend.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "backend", &b, "-r", "echo"]).ok();
    env.ns("west", &["listener", "create", "front", &f, "-r", "echo", "--host", &env.ip]).ok();
    let c = env.yaml(&env.resource("west", "Connector", "backend"));
    assert_eq!((c["spec"]["host"].as_str(), c["spec"]["routingKey"].as_str()), (Some("localhost"), Some("echo")));
    let l = env.yaml(&env.resource("west", "Listener", "front"));
    assert_eq!(l["spec"]["routingKey"], "echo");
    env.start("west");
    wait_for("echo through localhost", Duration::from_secs(30), || {
        let got = echo_once(&env.ip, front, "hello localhost")?;
        if got == "hello localhost" { Ok(()) } else { Err(format!("got {got:?}")) }
    });
    let out = env.ns("west", &["connector", "status", "backend"]).ok();
    assert!(out.stdout.contains("Host:\t\t\tlocalhost"), "{out}");
}

#[test]
fn fields_this_version_does_not_know_survive_round_trips_and_are_named() {
    let env = Env::new("upstream-unknown-fields");
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    // Fields upstream has that do nothing here, and one no version has (yet).
    let services = "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata: {name: front}\n\
                    spec: {routingKey: k, port: 9090, observer: auto, exposePodsByName: true, futureField: {depth: [1, 2]}}\n\
                    ---\napiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata: {name: back}\n\
                    spec: {routingKey: k, port: 8080, host: 127.0.0.1, includeNotReadyPods: true, verifyHostname: false, \
                    futureTimeout: 5s}\n";
    let out = env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(services)).ok();
    assert!(
        out.stderr.contains(
            "Warning: Listener \"front\": spec.futureField is not known to this version of kubectl-skupper: \
             kept as written, not acted on"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("Warning: Connector \"back\": spec.futureTimeout is not known"), "{out}");
    assert!(!out.stderr.contains("observer") && !out.stderr.contains("includeNotReadyPods"), "known fields: {out}");
    let l = env.yaml(&env.resource("east", "Listener", "front"));
    assert_eq!(l["spec"]["futureField"], serde_json::json!({"depth": [1, 2]}));
    assert_eq!((l["spec"]["observer"].as_str(), l["spec"]["exposePodsByName"].as_bool()), (Some("auto"), Some(true)));
    let c = env.yaml(&env.resource("east", "Connector", "back"));
    assert_eq!(c["spec"]["futureTimeout"], "5s");
    assert_eq!(
        (c["spec"]["includeNotReadyPods"].as_bool(), c["spec"]["verifyHostname"].as_bool()),
        (Some(true), Some(false))
    );

    // A Link with an unknown field, changed by a command: the field is still there afterwards.
    let generated = env.ns("west", &["link", "generate", "--cost", "2"]).ok().stdout;
    let with_extra = generated.replace("spec:\n", "spec:\n  futureField: kept\n");
    assert_ne!(with_extra, generated, "the generated Link has a spec: block");
    env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&with_extra)).ok();
    let link = env.resource_files("east").into_iter().find(|f| f.starts_with("Link-")).expect("a Link file");
    let name = link.trim_start_matches("Link-").trim_end_matches(".yaml").to_string();
    env.ns("east", &["link", "update", &name, "--cost", "4"]).ok();
    let stored = env.yaml(&env.resource("east", "Link", &name));
    assert_eq!((stored["spec"]["cost"].as_i64(), stored["spec"]["futureField"].as_str()), (Some(4), Some("kept")));
}
