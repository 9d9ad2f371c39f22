//! The upstream CLI surface added for fidelity (reference §3, §7): `site generate`, `listener |
//! connector update | generate`, `--tls-credentials` / `--type`, delete waits, `link generate
//! --name/--host`, `system reload | install | uninstall | generate-bundle` and `debug dump`.
//! Every bad-input case checks that nothing was written.
#![allow(missing_docs)]

mod kube_support;

use std::path::Path;
use std::time::Duration;

use skupper_e2e::{Env, echo_once, echo_server, free_port, wait_for};

const UP: Duration = Duration::from_secs(30);

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Unpacks a .tar.gz with the system's tar into a new directory `into`.
fn untar(env: &Env, file: &str, into: &str) -> std::path::PathBuf {
    let dir = env.work.join(into);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let out = skupper_e2e::run_command(
        env.command("tar").args(["xzf", &env.work.join(file).display().to_string(), "-C", &dir.display().to_string()]),
        None,
    );
    assert!(out.succeeded(), "tar xzf {file}: {out}");
    dir
}

/// Every file under `dir` with its text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("under").display().to_string();
                out.push((rel, String::from_utf8_lossy(&std::fs::read(&p).expect("read")).into_owned()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn listener_and_connector_update_generate_tls_and_type() {
    let env = Env::new("surface-services");
    env.run(&["site", "create", "west"]).ok();

    // generate prints, stores nothing.
    let out = env.run(&["listener", "generate", "db", "5432", "--tls-credentials", "db-tls", "--type", "tcp"]).ok();
    let v: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("YAML");
    assert_eq!(v["kind"], "Listener", "{out}");
    assert_eq!(v["metadata"]["name"], "db");
    assert_eq!(v["spec"]["port"], 5432);
    assert_eq!(v["spec"]["routingKey"], "db");
    assert_eq!(v["spec"]["host"], "127.0.0.1");
    assert_eq!(v["spec"]["tlsCredentials"], "db-tls");
    assert_eq!(v["spec"]["type"], "tcp");
    let out =
        env.run(&["connector", "generate", "be", "8080", "-r", "backend", "--host", "10.0.0.5", "-o", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["kind"], "Connector");
    assert_eq!(v["spec"]["routingKey"], "backend");
    assert_eq!(v["spec"]["host"], "10.0.0.5");
    assert_eq!(env.resource_files("default"), ["Site-west.yaml"], "generate stores nothing");

    // --type: tcp only, everywhere, with the allowed value named; nothing written.
    for args in [
        &["listener", "generate", "db", "5432", "--type", "udp"][..],
        &["listener", "create", "db", "5432", "--type", "udp"],
        &["connector", "create", "be", "8080", "--type", "http"],
    ] {
        let out = env.run(args).code(2);
        assert!(out.stdout.contains("type is not valid: value "), "{args:?}: {out}");
        assert!(out.stdout.contains("It should be one of this options: [tcp]"), "{args:?}: {out}");
    }
    assert_eq!(env.resource_files("default"), ["Site-west.yaml"]);

    env.run(&["listener", "create", "db", "5432", "--tls-credentials", "db-tls"]).ok();
    let file = env.resource("default", "Listener", "db");
    assert_eq!(env.yaml(&file)["spec"]["tlsCredentials"], "db-tls");

    // update: only what is given changes.
    let out = env.run(&["listener", "update", "db", "--port", "5433", "-r", "db2", "--type", "tcp"]).ok();
    assert_eq!(out.stdout, "Listener \"db\" is updated\n");
    let spec = env.yaml(&file)["spec"].clone();
    assert_eq!(spec["port"], 5433);
    assert_eq!(spec["routingKey"], "db2");
    assert_eq!(spec["type"], "tcp");
    assert_eq!(spec["host"], "127.0.0.1", "host unchanged");
    assert_eq!(spec["tlsCredentials"], "db-tls", "TLS credentials unchanged");
    env.run(&["listener", "update", "db", "--tls-credentials", ""]).ok();
    assert!(env.yaml(&file)["spec"].get("tlsCredentials").is_none(), "--tls-credentials \"\" removes them");

    // Bad input: every problem reported, the file untouched.
    let before = read(&file);
    let out = env.run(&["listener", "update", "db", "--port", "70000", "--type", "udp", "--host", "a b"]).code(2);
    assert!(out.stdout.contains("listener port is not valid: value must be between 1 and 65535"), "{out}");
    assert!(out.stdout.contains("listener type is not valid"), "{out}");
    assert!(out.stdout.contains("host is not valid"), "{out}");
    assert_eq!(read(&file), before, "nothing half-written");

    // A missing resource: upstream's text (a validation error: exit 2), nothing created.
    let out = env.run(&["listener", "update", "nope", "--port", "1"]).code(2);
    assert_eq!(out.stdout, "listener nope must exist in namespace default to be updated\n");
    let out = env.run(&["connector", "update", "nope", "--host", "x"]).code(2);
    assert_eq!(out.stdout, "connector nope must exist in namespace default to be updated\n");
    assert!(!env.resource("default", "Listener", "nope").exists());
    assert!(!env.resource("default", "Connector", "nope").exists());

    env.run(&["connector", "create", "be", "8080", "--type", "tcp"]).ok();
    let out = env.run(&["connector", "update", "be", "--host", "db.internal", "--tls-credentials", "be-tls"]).ok();
    assert_eq!(out.stdout, "Connector \"be\" is updated\n");
    let spec = env.yaml(&env.resource("default", "Connector", "be"))["spec"].clone();
    assert_eq!(spec["host"], "db.internal");
    assert_eq!(spec["port"], 8080);
    assert_eq!(spec["tlsCredentials"], "be-tls");
    assert_eq!(spec["type"], "tcp");

    // Deletes with --timeout/--wait: a bad timeout deletes nothing; without a running site there
    // is nothing to wait for.
    let out = env.run(&["connector", "delete", "be", "--timeout", "5s"]).code(2);
    assert!(out.stdout.contains("timeout"), "{out}");
    assert!(env.resource("default", "Connector", "be").exists());
    let out = env.run(&["connector", "delete", "be", "--wait=false", "--timeout", "20s"]).ok();
    assert_eq!(out.stdout, "Connector \"be\" deleted\n");
    assert!(!env.resource("default", "Connector", "be").exists());
}

#[test]
fn site_generate_prints_a_site_that_system_apply_takes() {
    let env = Env::new("surface-site");
    let out = env.ns("west", &["site", "generate", "west", "--enable-link-access"]).ok();
    let generated = out.stdout.clone();
    let v: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("YAML");
    assert_eq!(v["kind"], "Site");
    assert_eq!(v["metadata"]["name"], "west");
    assert_eq!(v["spec"]["linkAccess"], "default");
    assert!(env.resource_files("west").is_empty(), "generate stores nothing");
    let json = env.ns("west", &["site", "generate", "west", "--enable-ha", "--enable-link-access", "-o", "json"]).ok();
    let j: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(j["spec"]["ha"], true);

    let out = env.ns("west", &["site", "generate", "West_1", "--link-access-type", "route"]).code(2);
    assert!(out.stdout.contains("site name is not valid"), "{out}");
    assert!(out.stdout.contains("--enable-link-access option must be set to true"), "{out}");
    assert!(env.resource_files("west").is_empty());

    let applied = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(&generated)).ok();
    assert!(applied.stdout.contains("Site west added"), "{applied}");
    // With a site there, generate still works (it stores nothing).
    env.ns("west", &["site", "generate", "other"]).ok();
    assert_eq!(env.resource_files("west"), ["Site-west.yaml"]);
}

#[test]
fn link_generate_names_the_link_and_overrides_the_host() {
    let env = Env::new("surface-link-generate");
    env.site_with_link_access("west");
    let out = env.ns("west", &["link", "generate", "--name", "to-west", "--host", "west.example.com"]).ok();
    let docs: Vec<serde_json::Value> =
        out.stdout.split("\n---\n").map(|d| serde_yaml::from_str(d).expect("YAML document")).collect();
    assert_eq!(docs.len(), 2, "{out}");
    assert_eq!(docs[0]["kind"], "Link");
    assert_eq!(docs[0]["metadata"]["name"], "to-west");
    assert_eq!(docs[0]["spec"]["tlsCredentials"], "to-west");
    let eps = docs[0]["spec"]["endpoints"].as_array().expect("endpoints");
    assert!(!eps.is_empty());
    assert!(eps.iter().all(|e| e["host"] == "west.example.com"), "{out}");
    assert_eq!(docs[1]["kind"], "Secret");
    assert_eq!(docs[1]["metadata"]["name"], "to-west");
    assert!(out.stderr.contains("\"west.example.com\" is not one of the hosts"), "{out}");
    // --tls-credentials still names the Secret.
    let out = env.ns("west", &["link", "generate", "--name", "to-west", "--tls-credentials", "creds"]).ok();
    assert!(out.stdout.contains("tlsCredentials: creds") && out.stdout.contains("name: creds"), "{out}");
    assert!(out.stdout.contains(&format!("host: {}", env.ip)), "the site's host without --host: {out}");

    let out = env.ns("west", &["link", "generate", "--name", "Bad_Name", "--host", "not a host"]).code(2);
    assert!(out.stdout.contains("link name is not valid"), "{out}");
    assert!(out.stdout.contains("host is not valid"), "{out}");
}

#[test]
fn running_site_updates_reloads_and_waits_for_deletions() {
    let env = Env::new("surface-running");
    env.site_with_link_access("west");
    env.start("west");
    let backend = echo_server(&env.ip);
    let front = free_port(&env.ip);
    let (b, f) = (backend.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "be", &b, "--routing-key", "echo", "--host", &env.ip]).ok();
    env.ns("west", &["listener", "create", "fe", &f, "--routing-key", "echo", "--host", &env.ip]).ok();
    let answers = |port: u16| {
        wait_for(&format!("echo through port {port}"), UP, || {
            let got = echo_once(&env.ip, port, "hello")?;
            if got == "hello" { Ok(()) } else { Err(format!("got {got:?}")) }
        })
    };
    answers(front);

    // update moves the running listener.
    let moved = free_port(&env.ip);
    env.ns("west", &["listener", "update", "fe", "--port", &moved.to_string()]).ok();
    answers(moved);
    wait_for("old port closed", UP, || match echo_once(&env.ip, front, "x") {
        Err(_) => Ok(()),
        Ok(_) => Err("still answering".into()),
    });

    // reload: a file put into input/resources by hand is applied and its status written before
    // the command returns.
    let third = free_port(&env.ip);
    let listener = format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: by-hand\nspec:\n  routingKey: echo\n  \
         host: {}\n  port: {third}\n",
        env.ip
    );
    std::fs::write(env.resource("west", "Listener", "by-hand"), listener).expect("write listener");
    let out = env.ns("west", &["system", "reload"]).ok();
    assert!(out.stdout.starts_with("Site \"west\" reloaded (pid "), "{out}");
    assert!(out.stdout.contains("2 listeners, 1 connectors; statuses refreshed."), "{out}");
    assert!(env.home("west").join("runtime/status/Listener-by-hand.yaml").exists(), "status written by the reload");
    let state = env.yaml(&env.home("west").join("runtime/state.yaml"));
    assert_eq!(state["reloads"], 1, "{state}");
    assert!(env.log("west").contains("SIGHUP: re-reading the resources now"), "{}", env.log("west"));
    answers(third);
    assert!(env.pid("west").is_some(), "the site still runs after reload");

    // A reload refuses unreadable files: nothing reloaded.
    std::fs::write(env.resource("west", "Listener", "broken"), "kind: [").expect("write");
    let out = env.ns("west", &["system", "reload"]).code(1);
    assert!(out.stdout.contains("Listener-broken.yaml") && out.stdout.contains("Nothing was reloaded."), "{out}");
    assert_eq!(env.yaml(&env.home("west").join("runtime/state.yaml"))["reloads"], 1);
    std::fs::remove_file(env.resource("west", "Listener", "broken")).expect("remove");

    // connector delete waits until the running site has dropped the connector.
    let status = env.home("west").join("runtime/status/Connector-be.yaml");
    wait_for("connector status", UP, || if status.exists() { Ok(()) } else { Err("no status yet".into()) });
    let out = env.ns("west", &["connector", "delete", "be", "--timeout", "30s"]).ok();
    assert_eq!(out.stdout, "Connector \"be\" deleted\n");
    assert!(!status.exists(), "the site dropped the connector before the command returned");

    // link delete --timeout: a Link of west's own (to itself) is enough to delete.
    let link = env.ns("west", &["link", "generate", "--name", "loop"]).ok().stdout;
    env.run_with_input(&["-n", "east", "site", "create", "east"], None).ok();
    env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&link)).ok();
    env.start("east");
    let link_status = env.home("east").join("runtime/status/Link-loop.yaml");
    wait_for("link status", UP, || if link_status.exists() { Ok(()) } else { Err("no status yet".into()) });
    let out = env.ns("east", &["link", "delete", "loop", "--timeout", "5s"]).code(2);
    assert!(out.stdout.contains("timeout"), "{out}");
    assert!(env.resource("east", "Link", "loop").exists(), "a bad timeout deletes nothing");
    let out = env.ns("east", &["link", "delete", "loop", "--timeout", "30s"]).ok();
    assert_eq!(out.stdout, "Link \"loop\" is deleted\n");
    assert!(!link_status.exists(), "the site dropped the link before the command returned");
}

#[test]
fn system_install_uninstall_and_bundle() {
    let env = Env::new("surface-bundle");
    let out = env.run(&["system", "install"]).ok();
    assert!(out.stdout.starts_with("Not needed here: "), "{out}");
    env.run(&["system", "install", "--reload-type", "auto"]).ok();
    let out = env.run(&["system", "install", "--reload-type", "manual"]).code(2);
    assert!(out.stdout.contains("reload type manual is not available"), "{out}");
    let out = env.run(&["system", "install", "--reload-type", "x"]).code(2);
    assert!(out.stdout.contains("It should be one of this options: [manual auto]"), "{out}");
    let out = env.run(&["system", "uninstall"]).ok();
    assert!(out.stdout.starts_with("Not needed here: "), "{out}");

    // Nothing to bundle without a site: no file.
    let out = env.ns("west", &["system", "generate-bundle", "b.tar.gz"]).code(1);
    assert!(out.stdout.contains("there is no Site"), "{out}");
    assert!(!env.work.join("b.tar.gz").exists());

    env.ns("west", &["site", "create", "west", "--enable-link-access", "--bind-host", &env.ip]).ok();
    env.ns("west", &["listener", "create", "db", "5432"]).ok();
    env.ns("west", &["connector", "create", "be", "8080", "--host", "10.1.2.3"]).ok();
    let out = env.ns("west", &["system", "generate-bundle", "b.tar.gz", "--type", "shell-script"]).code(2);
    assert!(out.stdout.contains("bundle type shell-script is not available"), "{out}");
    assert!(!env.work.join("b.tar.gz").exists());

    let out = env.ns("west", &["system", "generate-bundle", "b.tar.gz"]).ok();
    assert!(out.stdout.starts_with("Site bundle written to b.tar.gz (3 resources"), "{out}");
    let dir = untar(&env, "b.tar.gz", "bundle");
    let names: Vec<String> = files_under(&dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "README.txt",
            "input/resources/Connector-be.yaml",
            "input/resources/Listener-db.yaml",
            "input/resources/Site-west.yaml",
            "resources.yaml"
        ]
    );
    let all = read(&dir.join("resources.yaml"));
    assert!(all.starts_with("apiVersion: skupper.io/v2alpha1\nkind: Site\n"), "Site first: {all}");
    assert!(!all.contains("namespace:"), "no namespace: {all}");

    // A fresh namespace takes the bundle.
    let out = env.ns("copy", &["system", "apply", "-f", &dir.join("resources.yaml").display().to_string()]).ok();
    assert!(out.stdout.contains("Site west added"), "{out}");
    assert_eq!(env.resource_files("copy"), ["Connector-be.yaml", "Listener-db.yaml", "Site-west.yaml"]);
    assert_eq!(env.yaml(&env.resource("copy", "Connector", "be"))["spec"]["host"], "10.1.2.3");

    // --input: another directory of resource files.
    let only_site = env.work.join("only-site");
    std::fs::create_dir_all(&only_site).expect("mkdir");
    std::fs::copy(dir.join("input/resources/Site-west.yaml"), only_site.join("Site-west.yaml")).expect("copy");
    let input = only_site.display().to_string();
    let out = env.ns("west", &["system", "generate-bundle", "d.tar.gz", "--input", &input]).ok();
    assert!(out.stdout.starts_with("Site bundle written to d.tar.gz (1 resources"), "{out}");
    let out = env.ns("west", &["system", "generate-bundle", "e.tar.gz", "--input", "no-such-dir"]).code(2);
    assert!(out.stdout.contains("input directory no-such-dir does not exist"), "{out}");
    assert!(!env.work.join("e.tar.gz").exists());

    // An unreadable resource file: refused, no bundle.
    std::fs::write(env.resource("west", "Listener", "broken"), "kind: [").expect("write");
    let out = env.ns("west", &["system", "generate-bundle", "c.tar.gz"]).code(1);
    assert!(out.stdout.contains("Listener-broken.yaml") && out.stdout.contains("No bundle was written."), "{out}");
    assert!(!env.work.join("c.tar.gz").exists());
}

#[test]
fn debug_dump_holds_resources_logs_version_and_no_private_key() {
    let env = Env::new("surface-dump");
    env.site_with_link_access("west");
    let link = env.ns("west", &["link", "generate"]).ok().stdout;
    env.ns("east", &["site", "create", "east"]).ok();
    env.run_with_input(&["-n", "east", "system", "apply", "-f", "-"], Some(&link)).ok();
    let secret = env.yaml(&env.resource("east", "Secret", "link-west"));
    let key = secret["data"]["tls.key"].as_str().expect("a stored private key").to_string();
    env.start("east");

    let out = env.ns("east", &["debug", "dump", "a", "b"]).code(2);
    assert!(out.stdout.contains("only one argument"), "{out}");
    assert!(!env.work.join("a").exists());

    let out = env.ns("east", &["debug", "dump", "east.tar.gz"]).ok();
    assert_eq!(out.stdout, "Skupper dump details written to compressed archive: east.tar.gz\n");
    let dir = untar(&env, "east.tar.gz", "dump");
    let files = files_under(&dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "README.txt",
        "version.yaml",
        "routers.json",
        "resources/Site-east.yaml",
        "resources/Secret-link-west.yaml",
        "status/Link-link-west-skupper-router.yaml",
        "logs/router.log",
        "runtime/state.yaml",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for (name, text) in &files {
        assert!(!text.contains(&key), "{name} holds the private key");
        assert!(!text.contains("PRIVATE KEY"), "{name} holds private key text");
        assert!(!text.contains("LS0tLS1CRUdJTi"), "{name} holds base64 PEM");
    }
    let secret = read(&dir.join("resources/Secret-link-west.yaml"));
    for k in ["tls.key: REDACTED", "tls.crt: REDACTED", "ca.crt: REDACTED"] {
        assert!(secret.contains(k), "keys kept, values replaced: {secret}");
    }
    assert!(read(&dir.join("version.yaml")).contains("clientVersion:"));
    assert!(read(&dir.join("logs/router.log")).contains("site running"));
    let routers: serde_json::Value = serde_json::from_str(&read(&dir.join("routers.json"))).expect("JSON");
    assert_eq!(routers.as_array().map(Vec::len), Some(1), "{routers}");
}

#[test]
fn on_kubernetes_update_generate_and_delete_wait_go_through_the_platform_seam() {
    let Some(k) = kube_support::Kube::start() else { return };
    let site = k.site("surface-kube", false);
    site.ks(&["listener", "create", "db", "5432"]).ok();
    // The Secret the update names: the controller serves the listener with it (and says so when
    // it is missing, which `update` then reports).
    let cert = rcgen::generate_simple_self_signed(vec!["db".to_string()]).expect("certificate");
    let (crt, key) = (site.env.dir.join("db.crt"), site.env.dir.join("db.key"));
    std::fs::write(&crt, cert.cert.pem()).expect("write crt");
    std::fs::write(&key, cert.signing_key.serialize_pem()).expect("write key");
    k.cluster.kubectl_ok(
        &[
            "create",
            "secret",
            "tls",
            "db-tls",
            "-n",
            &site.ns,
            "--cert",
            crt.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        "",
    );
    let out =
        site.ks(&["listener", "update", "db", "--port", "5433", "--tls-credentials", "db-tls", "--type", "tcp"]).ok();
    assert_eq!(out.stdout, "Listener \"db\" is updated\n", "{out}");
    let v = k.get(&site.ns, "listener/db");
    assert_eq!(v["spec"]["port"], 5433, "{v}");
    assert_eq!(v["spec"]["tlsCredentials"], "db-tls", "{v}");
    assert_eq!(v["spec"]["type"], "tcp", "{v}");
    assert_eq!(v["spec"]["routingKey"], "db", "unchanged: {v}");

    let out = site.ks(&["listener", "update", "nope", "--port", "1"]).code(2);
    assert_eq!(out.stdout, format!("listener nope must exist in namespace {} to be updated\n", site.ns));
    let out = site.ks(&["listener", "update", "db", "--type", "udp"]).code(2);
    assert!(out.stdout.contains("[tcp]"), "{out}");
    assert_eq!(k.get(&site.ns, "listener/db")["spec"]["port"], 5433, "unchanged on bad input");

    // generate: the Kubernetes defaults (a listener's host is its Service, the name), nothing stored.
    let out = site.ks(&["listener", "generate", "web", "8080"]).ok();
    let g: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("YAML");
    assert_eq!(g["spec"]["host"], "web", "{out}");
    let out = site.ks(&["listener", "status", "web"]).code(2);
    assert!(out.stdout.contains("does not exist"), "{out}");

    site.ks(&["connector", "create", "be", "8080", "--host", "10.1.2.3"]).ok();
    let out = site.ks(&["connector", "delete", "be", "--timeout", "30s"]).ok();
    assert_eq!(out.stdout, "Connector \"be\" deleted\n", "{out}");
    let out = site.ks(&["connector", "status", "be"]).code(2);
    assert!(out.stdout.contains("does not exist"), "{out}");

    let out = site.ks(&["site", "generate", "other", "-o", "json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(s["metadata"]["name"], "other");
}
