//! `site` commands, global flags, validation texts and exit codes of the real binary.

use std::time::Duration;

use skupper_e2e::{Env, golden, wait_for};

const RESOURCE_RE: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])*)*$";

#[test]
fn site_create_status_delete() {
    let env = Env::new("site-crud");
    let out = env.run(&["site", "status"]).ok();
    assert_eq!(out.stdout, "There is no existing Skupper site resource\n");

    let out = env.run(&["site", "create", "west"]).ok();
    assert_eq!(out.stdout, "Site \"west\" is configured.\n");
    assert!(out.stderr.contains("kubectl skupper system start"), "{out}");
    let site = env.yaml(&env.resource("default", "Site", "west"));
    assert_eq!(site["kind"], "Site");
    assert_eq!(site["metadata"]["name"], "west");
    assert!(site["spec"].get("linkAccess").is_none(), "{site}");
    // The site CA and the site id exist from the start and are kept.
    let id_file = env.home("default").join("runtime").join("site-id");
    let id = std::fs::read_to_string(&id_file).expect("site id");
    assert_eq!(id.trim().len(), 36);

    let out = env.run(&["site", "status"]).ok();
    golden("site_status_not_running.txt", &out.stdout);
    assert!(out.stderr.contains("not running"), "{out}");

    let out = env.run(&["site", "status", "-o", "yaml"]).ok();
    let v: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("yaml");
    assert_eq!(
        (v["status"]["status"].as_str(), v["status"]["message"].as_str()),
        (Some("Pending"), Some("Not Running"))
    );
    let out = env.run(&["site", "status", "--output", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["metadata"]["name"], "west");

    let out = env.run(&["site", "create", "other"]).code(2);
    assert_eq!(out.stdout, "There is already a site created for this namespace\n");

    let out = env.run(&["site", "delete", "nope"]).code(2);
    assert_eq!(out.stdout, "site with name \"nope\" is not available\n");
    let out = env.run(&["site", "delete"]).ok();
    assert_eq!(out.stdout, "Site \"west\" is deleted\n");
    assert!(!env.resource("default", "Site", "west").exists());
    let out = env.run(&["site", "delete"]).code(2);
    assert_eq!(out.stdout, "there is no existing Skupper site resource to delete\n");

    // Re-created, the site keeps its id (and CA): links issued before stay valid.
    env.run(&["site", "create", "west"]).ok();
    assert_eq!(std::fs::read_to_string(&id_file).expect("site id"), id);
    env.run(&["site", "delete", "--all"]).ok();
    assert!(!env.home("default").exists());
}

#[test]
fn validation_errors_exit_2_with_upstream_texts() {
    let env = Env::new("site-validation");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["site", "create"], "site name must not be empty\n".into()),
        (vec!["site", "create", "a", "b"], "only one argument is allowed for this command.\n".into()),
        (
            vec!["site", "create", "Bad_Name"],
            format!("site name is not valid: value does not match this regular expression: {RESOURCE_RE}\n"),
        ),
        (
            vec!["-n", "Bad", "site", "status"],
            "namespace is not valid: value does not match this regular expression: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$\n".into(),
        ),
        (
            vec!["site", "status", "-o", "xml"],
            "output type is not valid: value xml not allowed. It should be one of this options: [json yaml]\n".into(),
        ),
        (
            vec!["site", "create", "west", "--bind-host", "127.0.0.1"],
            "--bind-host and --endpoint-host configure link access: add --enable-link-access\n".into(),
        ),
        (vec!["site", "update"], "there is no existing Skupper site resource to update\n".into()),
        (
            vec!["token", "issue"],
            "file name must be configured\nA site must exist in namespace default before a token can be created\n".into(),
        ),
        (
            vec!["token", "redeem", "missing.yaml"],
            "A site must exist in namespace default before a token can be redeemed\n\
             token file does not exist: No such file or directory (os error 2)\n"
                .into(),
        ),
        (vec!["link", "status"], "there is no skupper site available\n".into()),
        (vec!["link", "generate", "x"], "there is no skupper site in this namespace\narguments are not allowed in this command\n".into()),
        (
            vec!["link", "generate", "--cost", "x"],
            "there is no skupper site in this namespace\nlink cost is not valid: strconv.Atoi: parsing \"x\": invalid syntax\n".into(),
        ),
        (
            vec!["listener", "create", "x"],
            "listener name and port must be configured\nthere is no skupper site in this namespace; create one first with kubectl skupper site create <name>\n".into(),
        ),
        (vec!["connector", "delete"], "connector name must be specified\n".into()),
        (vec!["system", "stop", "x"], "this command does not accept arguments\n".into()),
        (
            vec!["system", "apply"],
            "You need to provide a file to apply or use standard input.\n Example: cat site.yaml | kubectl skupper system apply -f -\n".into(),
        ),
        (
            vec!["--platform", "openshift", "site", "status"],
            "platform \"openshift\" not supported; use --platform kubernetes or --platform local\n".into(),
        ),
    ];
    for (args, expected) in cases {
        let out = env.run(&args);
        assert_eq!(out.code, 2, "{args:?}:\n{out}");
        assert_eq!(out.stdout, expected, "{args:?}");
    }
    // Nothing was written by any of them.
    assert!(!env.home("default").join("input").exists());
    // clap's own usage errors are exit 2 too.
    assert_eq!(env.run(&["site", "create", "--no-such-flag"]).code, 2);
}

#[test]
fn platforms_are_chosen_as_documented() {
    let env = Env::new("site-platforms");
    // Kubernetes asked for with no kubeconfig anywhere: said plainly, with what to do.
    let out = env.run(&["--platform", "kubernetes", "site", "status"]).code(1);
    assert_eq!(
        out.stdout,
        "no Kubernetes configuration found: no --kubeconfig, KUBECONFIG, ~/.kube/config or service account; \
         point --kubeconfig at one, or use --platform local\n",
        "{out}"
    );
    let out = env.run_full(&["site", "status"], None, &[("SKUPPER_PLATFORM", "kubernetes")]).code(1);
    assert!(out.stdout.contains("--platform local"), "{out}");
    // No kubeconfig and no platform named: local.
    let out = env.run(&["site", "status"]).ok();
    assert_eq!(out.stdout, "There is no existing Skupper site resource\n");
    let out = env.run(&["version", "-o", "json"]).ok();
    assert!(out.stdout.contains("\"platform\": \"local\""), "{out}");
    // For scripts: one document ending with one newline, in either format; the table by default.
    assert!(out.stdout.ends_with("}\n") && !out.stdout.ends_with("\n\n"), "{out}");
    let out = env.run(&["version", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("platform: local\n") && !out.stdout.ends_with("\n\n"), "{out}");
    let v: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("version -o yaml is YAML");
    assert_eq!(v["clientVersion"], env!("CARGO_PKG_VERSION"), "{out}");
    let out = env.run(&["version"]).ok();
    assert!(out.stdout.starts_with("client version ") && out.stdout.contains("\nplatform  "), "{out}");
    // A kubeconfig in KUBECONFIG makes kubernetes the default, as for kubectl itself...
    let kubeconfig = env.dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    )
    .expect("kubeconfig");
    let k = kubeconfig.to_str().expect("utf-8");
    let out = env.run_full(&["version", "-o", "json"], None, &[("KUBECONFIG", k)]).ok();
    assert!(out.stdout.contains("\"platform\": \"kubernetes\""), "{out}");
    // ... except for `system`, which is the local platform's, and with an explicit local.
    let out = env.run_full(&["system", "status"], None, &[("KUBECONFIG", k)]);
    assert!(out.stdout.contains("There is no existing Skupper site resource"), "{out}");
    let out = env.run_full(&["--platform", "local", "site", "status"], None, &[("KUBECONFIG", k)]).ok();
    assert_eq!(out.stdout, "There is no existing Skupper site resource\n");
    // Upstream's names for host sites are the local platform, said once.
    let out = env.run(&["--platform", "podman", "site", "status"]).ok();
    assert!(out.stderr.contains("using the local platform"), "{out}");
    // `-p` as upstream spells it, before or after the command, over a kubeconfig.
    let out = env.run_full(&["-p", "linux", "site", "status"], None, &[("KUBECONFIG", k)]).ok();
    assert_eq!(out.stdout, "There is no existing Skupper site resource\n", "{out}");
    let out = env.run_full(&["site", "status", "-p", "docker"], None, &[("KUBECONFIG", k)]).ok();
    assert!(out.stderr.contains("using the local platform"), "{out}");
}

#[test]
fn help_names_kubectl_skupper() {
    let env = Env::new("site-help");
    let out = env.run(&["--help"]).ok();
    assert!(out.stdout.contains("Usage: kubectl skupper [OPTIONS] <COMMAND>"), "{out}");
    let out = env.run(&["site", "create", "--help"]).ok();
    assert!(out.stdout.contains("Usage: kubectl skupper site create [OPTIONS] [NAME]"), "{out}");
    assert!(out.stdout.contains("--enable-link-access"), "{out}");
    let out = env.run(&["token", "issue", "--help"]).ok();
    for flag in ["--expiration-window", "--redemptions-allowed", "--cost", "--timeout", "[default: 15m]"] {
        assert!(out.stdout.contains(flag), "{flag} missing:\n{out}");
    }
}

#[test]
fn site_update_changes_only_what_is_given() {
    let env = Env::new("site-update");
    env.run(&["site", "create", "west"]).ok();
    // Settings and ha added by hand survive an update (upstream drops them).
    let path = env.resource("default", "Site", "west");
    let text = std::fs::read_to_string(&path).expect("site file");
    let text = text
        .replace("spec: {}\n", "")
        .replace("metadata:", "spec:\n  ha: true\n  settings:\n    router-logging: debug\nmetadata:");
    std::fs::write(&path, text).expect("edit site");

    let out = env.run(&["site", "update", "other"]).code(2);
    assert_eq!(out.stdout, "site with name \"other\" is not available\n");
    let out = env.run(&["site", "update", "--enable-link-access", "--bind-host", &env.ip]).ok();
    assert_eq!(out.stdout, "Site \"west\" is updated\n");
    let site = env.yaml(&path);
    assert_eq!(site["spec"]["linkAccess"], "default");
    assert_eq!(site["spec"]["ha"], true);
    assert_eq!(site["spec"]["settings"]["router-logging"], "debug");
    let ports = env.yaml(&env.home("default").join("runtime").join("ports.yaml"));
    assert_eq!(ports["bindHost"], env.ip.as_str());
    assert_eq!(ports["endpointHosts"][0], env.ip.as_str());
    for k in ["interRouter", "edge", "grantServer"] {
        assert!(ports[k].as_u64().is_some_and(|p| p > 0), "{k}: {ports}");
    }
}

#[test]
fn two_sites_on_one_host_get_distinct_ports() {
    let env = Env::new("site-ports");
    env.site_with_link_access("west");
    env.site_with_link_access("east");
    let ports = |ns: &str| {
        let p = env.yaml(&env.home(ns).join("runtime").join("ports.yaml"));
        [&p["interRouter"], &p["edge"], &p["grantServer"]].map(|v| v.as_u64().unwrap_or(0))
    };
    let (w, e) = (ports("west"), ports("east"));
    assert_eq!(w, [55671, 45671, 9090], "first site gets the defaults on a fresh address");
    assert!(w.iter().all(|p| !e.contains(p)), "west {w:?} east {e:?}");
}

#[test]
fn running_site_status_is_ready() {
    let env = Env::new("site-running");
    env.site_with_link_access("west");
    let pid = env.start("west");
    let out = wait_for("site west Ready", Duration::from_secs(30), || {
        let out = env.ns("west", &["site", "status"]);
        if out.stdout.contains("Ready") { Ok(out) } else { Err(out.to_string()) }
    });
    golden("site_status_ready.txt", &out.stdout);
    let out = env.ns("west", &["site", "status", "-o", "yaml"]).ok();
    let v: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("yaml");
    let endpoints = v["status"]["endpoints"].as_array().cloned().unwrap_or_default();
    assert_eq!(endpoints.len(), 2, "{v}");
    assert_eq!(endpoints[0]["host"], env.ip.as_str());
    assert_eq!(v["status"]["sitesInNetwork"], 1);
    let out = env.ns("west", &["system", "status"]).ok();
    assert!(out.stdout.contains(&format!("Site \"west\" is running (pid {pid}).")), "{out}");
    // `site delete` stops the running site first.
    env.ns("west", &["site", "delete"]).ok();
    assert_eq!(env.pid("west"), None);
}

#[test]
fn closed_stdout_is_not_a_failure() {
    let env = Env::new("site-pipe");
    env.run(&["site", "create", "west"]).ok();
    let mut child = env
        .command(skupper_e2e::binary())
        .args(["site", "status", "-o", "yaml"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}
