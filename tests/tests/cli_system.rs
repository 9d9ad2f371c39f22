//! `system start | stop | status | apply | delete`: background processes, pid files, and
//! all-or-nothing resource changes.

use std::time::Duration;

use skupper_e2e::{Env, wait_for};

const GOOD_LISTENER: &str = "apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: db
spec:
  routingKey: db
  host: 127.0.0.1
  port: 15432
";

const LINK_WITHOUT_SECRET: &str = "apiVersion: skupper.io/v2alpha1
kind: Link
metadata:
  name: to-west
spec:
  tlsCredentials: west-creds
  endpoints:
  - name: inter-router
    host: 127.0.0.1
    port: \"55671\"
";

#[test]
fn apply_checks_everything_before_writing() {
    let env = Env::new("system-apply");
    env.run(&["site", "create", "east"]).ok();
    let bad = format!("{GOOD_LISTENER}---\n{LINK_WITHOUT_SECRET}");
    let out = env.run_with_input(&["system", "apply", "-f", "-"], Some(&bad)).code(1);
    assert!(
        out.stdout
            .starts_with("Link \"to-west\": spec.tlsCredentials: TLS credentials secret \"west-creds\" not found"),
        "{out}"
    );
    assert!(out.stdout.ends_with("\nNothing was applied.\n"), "{out}");
    assert_eq!(env.resource_files("default"), ["Site-east.yaml"], "the good Listener was not written either");

    let out = env.run_with_input(&["system", "apply", "-f", "-"], Some("kind: [")).code(1);
    assert!(out.stdout.starts_with("Failed parsing the custom resources:"), "{out}");
    let out = env
        .run_with_input(&["system", "apply", "-f", "-"], Some("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"))
        .code(1);
    assert!(out.stdout.contains("kind \"Pod\" is not supported"), "{out}");
    std::fs::write(env.work.join("r.txt"), GOOD_LISTENER).expect("write");
    let out = env.run(&["system", "apply", "-f", "r.txt"]).code(2);
    assert_eq!(
        out.stdout,
        "The file has an unsupported extension, it should have one of the following: .yaml, .json\n"
    );
    let out = env.run(&["system", "apply", "-f", "missing.yaml"]).code(2);
    assert_eq!(out.stdout, "The file \"missing.yaml\" does not exist\n");

    std::fs::write(env.work.join("l.yaml"), GOOD_LISTENER).expect("write");
    let out = env.run(&["system", "apply", "-f", "l.yaml"]).ok();
    assert_eq!(out.stdout, "Listener db added\nCustom resources are applied.\n");
    let out = env.run(&["listener", "status"]).ok();
    // Upstream's tabwriter(8, 8, 1, '\t'): columns padded with tabs to the widest cell.
    assert_eq!(
        out.stdout,
        "NAME\tSTATUS\tROUTING-KEY\tHOST\t\tPORT\tMATCHING-CONNECTOR\tMESSAGE\n\
         db\tPending\tdb\t\t127.0.0.1\t15432\tfalse\t\t\tNot Matched\n"
    );
    let out = env.run(&["system", "delete", "-f", "l.yaml"]).ok();
    assert_eq!(out.stdout, "Listener db deleted\nCustom resources deleted.\n");
    assert_eq!(env.resource_files("default"), ["Site-east.yaml"]);
    // A second Site in the namespace is refused.
    let other = "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: other\n";
    let out = env.run_with_input(&["system", "apply", "-f", "-"], Some(other)).code(1);
    assert!(out.stdout.contains("already has site \"east\""), "{out}");
}

#[test]
fn start_stop_status() {
    let env = Env::new("system-lifecycle");
    let out = env.run(&["system", "start"]).code(2);
    assert!(out.stdout.starts_with("there is no skupper site in namespace default"), "{out}");
    env.run(&["site", "create", "west"]).ok();
    // Not running is a failure of `system status` (exit 1), with what to do.
    let out = env.run(&["system", "status"]).code(1);
    assert_eq!(out.stdout, "Site \"west\" is not running.\nStart it with: kubectl skupper system start\n");

    let out = env.run(&["system", "start"]).ok();
    let pid = env.pid("default").expect("running");
    assert!(out.stdout.starts_with(&format!("Site \"west\" is running (pid {pid}).\n")), "{out}");
    assert!(out.stdout.contains("router.log"), "says where the log is: {out}");
    let out = env.run(&["system", "start"]).code(1);
    assert!(out.stdout.contains(&format!("already running (pid {pid})")), "{out}");
    let out = env.run(&["system", "status"]).ok();
    assert!(out.stdout.contains("Router: OK"), "{out}\n{}", env.log("default"));

    let out = env.run(&["system", "stop"]).ok();
    assert_eq!(out.stdout, "Site \"west\" has stopped.\n");
    assert!(!skupper_e2e::site_process_alive(pid));
    assert!(!env.home("default").join("runtime").join("router.pid").exists(), "the pid file is removed");
    let out = env.run(&["system", "stop"]).ok();
    assert_eq!(out.stdout, "Site \"west\" is not running.\n");
    assert!(env.log("default").contains("SIGTERM: stopping"));
}

#[test]
fn running_site_follows_resource_changes() {
    let env = Env::new("system-reload");
    env.run(&["site", "create", "west"]).ok();
    env.start("default");
    // A connector for the key first: a listener's port accepts connections only while one exists.
    env.run(&["connector", "create", "db", "15434", "--host", &env.ip]).ok();
    env.run(&["listener", "create", "db", "15433", "--host", &env.ip]).ok();
    // The running site binds the new listener without a restart.
    wait_for("listener bound", Duration::from_secs(30), || {
        std::net::TcpStream::connect((env.ip.as_str(), 15433)).map(|_| ()).map_err(|e| e.to_string())
    });
    let out = env.run(&["listener", "status", "db"]).ok();
    assert!(out.stdout.starts_with("Name:\t\t\tdb\nStatus:\t\t\t"), "{out}");
    env.run(&["listener", "delete", "db"]).ok();
    wait_for("listener closed", Duration::from_secs(30), || {
        match std::net::TcpStream::connect((env.ip.as_str(), 15433)) {
            Err(_) => Ok(()),
            Ok(_) => Err("still listening".to_string()),
        }
    });
    // Deleting the Site stops the site process.
    let pid = env.pid("default").expect("running");
    std::fs::remove_file(env.resource("default", "Site", "west")).expect("rm site");
    wait_for("site process exits", Duration::from_secs(30), || {
        if skupper_e2e::site_process_alive(pid) { Err("alive".into()) } else { Ok(()) }
    });
}

#[test]
fn applied_grant_is_processed_and_redeemable() {
    let env = Env::new("system-grant");
    env.site_with_link_access("west");
    env.start("west");
    let grant = "apiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: g1\nspec:\n  redemptionsAllowed: 2\n  expirationWindow: 30m\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(grant)).ok();
    assert_eq!(out.stdout, "AccessGrant g1 added\nCustom resources are applied.\n");
    // The running site gives the grant its url, code, CA and expiry, as upstream's controller does.
    let status = wait_for("grant processed", Duration::from_secs(30), || {
        let g = env.yaml(&env.resource("west", "AccessGrant", "g1"));
        if g["status"]["status"] == "Ready" { Ok(g["status"].clone()) } else { Err(g.to_string()) }
    });
    assert!(status["url"].as_str().is_some_and(|u| u.starts_with(&format!("https://{}:", env.ip))), "{status}");
    // A token made by hand from the grant's status (as upstream's `token issue` does) redeems.
    let token = serde_json::json!({
        "apiVersion": "skupper.io/v2alpha1",
        "kind": "AccessToken",
        "metadata": {"name": "by-hand"},
        "spec": {"url": status["url"], "code": status["code"], "ca": status["ca"]},
    });
    std::fs::write(env.work.join("t.yaml"), serde_yaml::to_string(&token).expect("yaml")).expect("write");
    for ns in ["east", "south"] {
        env.ns(ns, &["site", "create", ns]).ok();
        env.ns(ns, &["token", "redeem", "t.yaml"]).ok();
    }
    let out = env.ns("north", &["site", "create", "north"]).ok();
    assert_eq!(out.code, 0);
    let out = env.ns("north", &["token", "redeem", "t.yaml"]).code(1);
    assert!(out.stdout.contains("is used up"), "two redemptions allowed, the third is refused: {out}");
}

#[test]
fn link_access_enabled_while_running() {
    let env = Env::new("system-enable-access");
    env.ns("west", &["site", "create", "west"]).ok();
    env.start("west");
    let out = env.ns("west", &["token", "issue", "t.yaml"]).code(2);
    assert_eq!(out.stdout, "You must enable link access for this site before you can create a token.\n");
    env.ns("west", &["site", "update", "--enable-link-access", "--bind-host", &env.ip]).ok();
    // The running site opens link access and its grant server without a restart.
    wait_for("grant server up", Duration::from_secs(30), || {
        let out = env.ns("west", &["system", "status"]);
        if out.stdout.contains("Grant server: https://") { Ok(()) } else { Err(out.to_string()) }
    });
    env.ns("west", &["token", "issue", "t.yaml"]).ok();
    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("east", &["token", "redeem", "t.yaml"]).ok();
    env.start("east");
    wait_for("link ready", Duration::from_secs(30), || {
        let out = env.ns("east", &["link", "status"]);
        if out.stdout.contains("\tReady\t") { Ok(()) } else { Err(format!("{out}\n{}", env.log("east"))) }
    });
}

/// A reader that stops early (`| head`): the command ends quietly with exit 0, its write error
/// (a closed pipe) is not reported. The completion script is larger than a pipe's buffer, so
/// the command really meets the closed pipe.
#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly() {
    use std::io::Read as _;
    let env = Env::new("closed-pipe");
    let mut cmd = env.command(skupper_e2e::binary());
    cmd.args(["completion", "bash"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut first = [0u8; 16];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("the script starts");
    // stdout is closed now: the rest of the script meets a closed pipe.
    let status = wait_for("completion bash to end after its reader went", Duration::from_secs(20), || {
        child.try_wait().map_err(|e| e.to_string())?.ok_or_else(|| "still running".to_string())
    });
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
    assert_eq!(status.code(), Some(0), "exit code; stderr: {stderr}");
    assert!(stderr.is_empty(), "nothing said about the closed pipe: {stderr}");
}
