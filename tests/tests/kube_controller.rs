//! The Kubernetes platform end to end, against a REAL kube-apiserver 1.20 + etcd on 127.0.0.1:
//! namespaces run by `kubectl skupper controller` processes (started and stopped by pid), linked
//! with tokens and generated Links, carrying bytes, routing by cost, through proxies, refusing
//! what they should, surviving a controller restart.
#![allow(clippy::unwrap_used)]

mod kube_support;
mod proxy_support;
mod routing_support;

use std::io::Read as _;
use std::time::{Duration, Instant};

use kube_support::{KSite, Kube, SETTLE, status_of, wait_ready};
use proxy_support::{payload, round_trip};
use routing_support::{Conn, NameServer, free_port};
use serde_json::Value;
use skupper_e2e::{echo_server, wait_for};

/// Every condition carries when it last changed and which generation it answers.
fn assert_conditions_complete(v: &Value) {
    let conditions = v["status"]["conditions"].as_array().unwrap_or_else(|| panic!("no conditions: {v}"));
    for c in conditions {
        assert!(c["lastTransitionTime"].is_string(), "{}: {c}", v["kind"]);
        assert_eq!(c["observedGeneration"], v["metadata"]["generation"], "{}: {c}", v["kind"]);
    }
}

fn token_name(path: &std::path::Path) -> String {
    let v: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["metadata"]["name"].as_str().unwrap().to_string()
}

/// A connector on `from` to an echo server and a listener on `to`; the listener's port once a
/// round trip works.
fn echo_pair(k: &Kube, from: &KSite, to: &KSite, key: &str) -> u16 {
    let backend = echo_server(&from.env.ip).to_string();
    from.ks(&["connector", "create", key, &backend, "--host", &from.env.ip]).ok();
    let port = free_port(&to.env.ip);
    to.ks(&["listener", "create", key, &port.to_string()]).ok();
    wait_for("a round trip through the link", SETTLE, || {
        let got = skupper_e2e::echo_once(&to.env.ip, port, "ping")?;
        if got == "ping" { Ok(()) } else { Err(format!("got {got:?}\n{}", to.log())) }
    });
    let _ = k;
    port
}

#[test]
fn a_token_links_two_namespaces_which_carry_bytes_and_a_generated_link_applied_with_kubectl_connects() {
    let Some(k) = Kube::start() else { return };
    let west = k.site("west", true);
    let east = k.site("east", false);

    let token = west.issue("west.token", &[]);
    let name = token_name(&token);
    let out = east.ks(&["token", "redeem", token.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, format!("Token \"{name}\" has been redeemed\n"), "{out}");
    let link = wait_ready(&k, &east, "link", &name);
    assert_eq!(link["status"]["remoteSiteName"], west.ns.as_str());
    assert_eq!(link["metadata"]["ownerReferences"][0]["kind"], "Site", "owned by the Site: {link}");
    let grant = k.get(&west.ns, &format!("accessgrant/{name}"));
    assert_eq!(grant["status"]["redemptions"], 1);
    for v in [
        &link,
        &grant,
        &k.get(&west.ns, &format!("site/{}", west.ns)),
        &k.get(&east.ns, &format!("accesstoken/{name}")),
    ] {
        assert_conditions_complete(v);
    }

    // What kubectl users see: upstream's columns, and our CLI's table.
    let table = k.cluster.kubectl_ok(&["get", "links", "-n", &east.ns], "").stdout;
    let header: Vec<&str> =
        table.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["NAME", "STATUS", "REMOTE SITE", "MESSAGE"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, [name.as_str(), "Ready", west.ns.as_str(), "OK"]);
    let status = east.ks(&["link", "status"]).ok().stdout;
    assert!(status.starts_with("NAME"), "{status}");
    assert!(status.contains(&format!("{name}\tReady\t1\tOK")), "{status}");
    // West's controller publishes its router's view every few seconds.
    wait_for("west to show east's link as incoming", SETTLE, || {
        let out = west.ks(&["link", "status"]).ok().stdout;
        if out.contains("Incoming links:") && out.contains(&east.ns) { Ok(()) } else { Err(out) }
    });

    // 1 MiB through a listener on east and a connector on west, byte-exact.
    let port = echo_pair(&k, &west, &east, "backend");
    let data = payload(1 << 20, 7);
    assert!(round_trip(&east.env.ip, port, &data).unwrap() == data, "1 MiB did not come back byte-exact");
    let listener = wait_ready(&k, &east, "listener", "backend");
    assert_eq!(listener["status"]["hasMatchingConnector"], true);
    assert_conditions_complete(&listener);

    // `link generate` on west, `kubectl apply -f` in a third namespace.
    let south = k.site("south", false);
    let generated = west.ks(&["link", "generate"]).ok().stdout;
    k.cluster.kubectl_ok(&["apply", "-n", &south.ns, "-f", "-"], &generated);
    let link = wait_ready(&k, &south, "link", &format!("link-{}-skupper-router", west.ns));
    assert_eq!(link["status"]["remoteSiteName"], west.ns.as_str());

    // One controller per namespace: a second one exits at once naming the holder.
    let out = k.ks(&west.env, &["-n", &west.ns, "controller", "--bind-host", &west.env.ip]).code(1);
    assert!(out.stdout.starts_with(&format!("another controller runs namespace {} (holder ", west.ns)), "{out}");
}

#[test]
fn refused_tokens_fail_fast_with_the_reason_and_a_three_use_grant_counts_exactly_three() {
    let Some(k) = Kube::start() else { return };
    let west = k.site("west", true);
    let east = k.site("east", false);
    let north = k.site("north", false);

    // Used up: the second redemption of a one-use token.
    let token = west.issue("once.token", &[]);
    let name = token_name(&token);
    east.ks(&["token", "redeem", token.to_str().unwrap()]).ok();
    let start = Instant::now();
    let out = north.ks(&["token", "redeem", token.to_str().unwrap()]).code(1);
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}: {out}", start.elapsed());
    let sentence = format!(
        "Token \"{name}\" is used up: it was already redeemed as many times as it allows.\nAsk the issuing site for \
         a new token (kubectl skupper token issue <file> on that site); use --redemptions-allowed to allow more \
         redemptions."
    );
    assert_eq!(out.stdout, format!("{sentence}\n"), "the local platform's sentence: {out}");
    let t = k.get(&north.ns, &format!("accesstoken/{name}"));
    let cond = t["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Redeemed").unwrap().clone();
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some("Error")), "{t}");
    assert_eq!(cond["message"], sentence.as_str());
    assert!(cond["lastTransitionTime"].is_string() && cond["observedGeneration"].is_number(), "{cond}");

    // Expired: the grant's expiry moved into the past.
    let token = west.issue("late.token", &[]);
    let late = token_name(&token);
    k.cluster.kubectl_ok(
        &[
            "patch",
            "-n",
            &west.ns,
            &format!("accessgrant/{late}"),
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"expirationTime":"2020-01-01T00:00:00Z"}}"#,
        ],
        "",
    );
    let start = Instant::now();
    let out = north.ks(&["token", "redeem", token.to_str().unwrap()]).code(1);
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}: {out}", start.elapsed());
    assert!(out.stdout.starts_with(&format!("Token \"{late}\" has expired (at 2020-01-01T00:00:00Z)")), "{out}");

    // 50 parallel HTTPS redemptions (from 10 source addresses) of a three-use grant.
    let token = west.issue("three.token", &["--redemptions-allowed", "3"]);
    let three = token_name(&token);
    let t: Value = serde_yaml::from_str(&std::fs::read_to_string(&token).unwrap()).unwrap();
    let ca = west.file("ca.pem");
    std::fs::write(&ca, t["spec"]["ca"].as_str().unwrap()).unwrap();
    let url = t["spec"]["url"].as_str().unwrap().to_string();
    let code = t["spec"]["code"].as_str().unwrap().to_string();
    let base = west.env.ip.rsplit_once('.').unwrap().0.to_string();
    let children: Vec<_> = (0..50)
        .map(|i| {
            let mut c = skupper_e2e::command("curl");
            c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "--cacert"])
                .arg(&ca)
                .args(["--interface", &format!("{base}.{}", 210 + i % 10)])
                .args(["-H", &format!("name: r-{i}"), "-H", &format!("subject: s-{i}"), "--data-binary", &code, &url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let mut codes = std::collections::BTreeMap::new();
    for c in children {
        let out = skupper_e2e::wait_output(c, "curl");
        *codes.entry(out.stdout).or_insert(0) += 1;
    }
    assert_eq!(codes.get("200"), Some(&3), "{codes:?}");
    assert_eq!(codes.values().sum::<i32>(), 50);
    assert!(codes.keys().all(|c| c == "200" || c == "410"), "only successes and used-up answers: {codes:?}");
    let grant = k.get(&west.ns, &format!("accessgrant/{three}"));
    assert_eq!(grant["status"]["redemptions"], 3, "{grant}");
}

#[test]
fn a_local_connector_wins_a_remote_backup_takes_over_while_it_is_down_then_gives_way() {
    let Some(k) = Kube::start() else { return };
    let west = k.site("west", true);
    let east = k.site("east", false);
    let mut local = NameServer::start(&east.env.ip, "local");
    let remote = NameServer::start(&west.env.ip, "remote");
    east.ks(&["connector", "create", "backend", &local.port.to_string(), "--host", &east.env.ip]).ok();
    west.ks(&["connector", "create", "backend", &remote.port.to_string(), "--host", &west.env.ip]).ok();
    let port = free_port(&east.env.ip);
    east.ks(&["listener", "create", "backend", &port.to_string()]).ok();
    let token = west.issue("backup.token", &["--cost", "99999"]);
    east.ks(&["token", "redeem", token.to_str().unwrap()]).ok();
    let link = wait_ready(&k, &east, "link", &token_name(&token));
    assert_eq!(link["spec"]["cost"], 99999);
    // The router knows the remote target before the local one goes away.
    wait_for("west's connector to be known on east", SETTLE, || {
        let c = k.get(&west.ns, "connector/backend");
        if c["status"]["hasMatchingListener"] == true { Ok(()) } else { Err(format!("{c}")) }
    });

    let who = |n: usize| (0..n).map(|_| Conn::open(&east.env.ip, port).map(|c| c.who)).collect::<Result<Vec<_>, _>>();
    assert_eq!(who(5).unwrap(), vec!["local"; 5], "a local connector costs 0");
    local.stop();
    wait_for("connections to fail over to the remote backup", SETTLE, || match who(1) {
        Ok(w) if w == ["remote"] => Ok(()),
        other => Err(format!("{other:?}")),
    });
    assert_eq!(who(3).unwrap(), vec!["remote"; 3], "whatever its cost");
    local.restart();
    wait_for("connections to come back to the local connector", SETTLE, || match who(1) {
        Ok(w) if w == ["local"] => Ok(()),
        other => Err(format!("{other:?}")),
    });
}

#[test]
fn a_proxy_secret_edit_is_applied_without_an_annotation_and_the_annotation_alone_reapplies_a_link() {
    proxy_support::ensure_installed();
    let Some(k) = Kube::start() else { return };
    let west = k.site("west", true);
    let east = k.site("east", false);
    let ra = k.get(&west.ns, "routeraccess/skupper-router");
    let port = ra["spec"]["roles"][0]["port"].as_u64().unwrap() as u16;
    let squid = proxy_support::Squid::start(&east.env, "kube-squid", &[port], &[("alice", "right")]);

    let generated = west.ks(&["link", "generate", "--proxy-configuration", "corp"]).ok().stdout;
    let secret = |password: &str| proxy_support::proxy_secret("corp", &squid.ip, squid.port, Some(("alice", password)));
    k.cluster.kubectl_ok(&["apply", "-n", &east.ns, "-f", "-"], &secret("wrong"));
    k.cluster.kubectl_ok(&["apply", "-n", &east.ns, "-f", "-"], &generated);
    let name = format!("link-{}-skupper-router", west.ns);
    wait_for("the link to fail with the proxy's answer", SETTLE, || {
        let v = k.get(&east.ns, &format!("link/{name}"));
        let (s, m) = status_of(&v);
        if s != "Ready" && m.contains("407") { Ok(()) } else { Err(format!("{s}: {m}")) }
    });
    // The right password, no annotation: the Secret's change is applied by itself.
    k.cluster.kubectl_ok(&["apply", "-n", &east.ns, "-f", "-"], &secret("right"));
    wait_ready(&k, &east, "link", &name);

    // The reconcile annotation alone re-applies the link: a new tunnel through the proxy.
    let tunnels = || squid.access_log().lines().filter(|l| l.contains("CONNECT")).count();
    let before = tunnels();
    k.cluster.kubectl_ok(&["annotate", "-n", &east.ns, &format!("link/{name}"), "reconcile=1", "--overwrite"], "");
    wait_for("the annotated link to be dialled again", SETTLE, || {
        let log = east.log();
        if log.contains(&format!("link {name} re-applied")) && tunnels() > before {
            Ok(())
        } else {
            Err(format!("{} tunnels (was {before})\n{log}", tunnels()))
        }
    });
    wait_ready(&k, &east, "link", &name);
}

#[test]
fn a_restarted_controller_keeps_ports_ca_and_unredeemed_tokens_and_deleting_a_link_closes_its_connection() {
    let Some(k) = Kube::start() else { return };
    let mut west = k.site("west", true);
    let east = k.site("east", false);
    let north = k.site("north", false);
    let token = west.issue("first.token", &[]);
    let first = token_name(&token);
    east.ks(&["token", "redeem", token.to_str().unwrap()]).ok();
    wait_ready(&k, &east, "link", &first);
    let later = west.issue("later.token", &[]);
    let ca = k.get(&west.ns, "secret/skupper-site-ca")["data"]["tls.crt"].clone();
    let ports = k.get(&west.ns, "routeraccess/skupper-router")["spec"]["roles"].clone();

    west.stop_controller();
    wait_for("east to see the link go", SETTLE, || {
        let (s, m) = status_of(&k.get(&east.ns, &format!("link/{first}")));
        if s != "Ready" { Ok(()) } else { Err(m) }
    });
    west.start_controller();
    assert_eq!(k.get(&west.ns, "secret/skupper-site-ca")["data"]["tls.crt"], ca, "the CA is kept");
    assert_eq!(k.get(&west.ns, "routeraccess/skupper-router")["spec"]["roles"], ports, "the ports are kept");
    wait_ready(&k, &east, "link", &first);
    north.ks(&["token", "redeem", later.to_str().unwrap()]).ok();
    wait_ready(&k, &north, "link", &token_name(&later));

    // An open connection through east's link ends when east's Link is deleted.
    let backend = NameServer::start(&west.env.ip, "west");
    west.ks(&["connector", "create", "backend", &backend.port.to_string(), "--host", &west.env.ip]).ok();
    let port = free_port(&east.env.ip);
    east.ks(&["listener", "create", "backend", &port.to_string()]).ok();
    let mut conn = wait_for("a connection through the link", SETTLE, || Conn::open(&east.env.ip, port));
    conn.echo("still there").unwrap();
    east.ks(&["link", "delete", &first]).ok();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let mut stream = conn.into_stream();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let ended = stream.read(&mut buf);
    assert!(matches!(ended, Ok(0) | Err(_)), "the connection still flows: {ended:?}");
    assert!(start.elapsed() < Duration::from_secs(15), "ended only after {:?}", start.elapsed());
}

#[test]
fn a_multikeylistener_on_kubernetes_takes_the_first_key_with_a_destination_and_says_so_in_its_status() {
    let Some(k) = Kube::start() else { return };
    let west = k.site("mkl-west", true);
    let east = k.site("mkl-east", false);
    let mut primary = NameServer::start(&west.env.ip, "primary");
    let secondary = NameServer::start(&east.env.ip, "secondary");
    west.ks(&["connector", "create", "primary", &primary.port.to_string(), "--host", &west.env.ip]).ok();
    east.ks(&["connector", "create", "secondary", &secondary.port.to_string(), "--host", &east.env.ip]).ok();
    let token = west.issue("mkl.token", &[]);
    east.ks(&["token", "redeem", token.to_str().unwrap()]).ok();
    wait_ready(&k, &east, "link", &token_name(&token));
    let port = free_port(&east.env.ip);
    east.ks(&[
        "multikeylistener",
        "create",
        "front",
        &port.to_string(),
        "--priority-keys",
        "nowhere,primary,secondary",
    ])
    .ok();
    let who = |n: usize| (0..n).map(|_| Conn::open(&east.env.ip, port).map(|c| c.who)).collect::<Result<Vec<_>, _>>();
    wait_for("connections to the remote primary", SETTLE, || match who(1) {
        Ok(w) if w == ["primary"] => Ok(()),
        other => Err(format!("{other:?}\n{}", east.log())),
    });
    assert_eq!(who(5).unwrap(), vec!["primary"; 5], "the first key with a destination, though remote");
    let m = wait_ready(&k, &east, "multikeylistener", "front");
    assert_eq!(m["status"]["hasDestination"], true, "{m}");
    assert_eq!(
        m["status"]["strategy"]["priority"]["routingKeysReachable"],
        serde_json::json!(["primary", "secondary"])
    );
    assert_conditions_complete(&m);
    primary.stop();
    west.ks(&["connector", "delete", "primary"]).ok();
    wait_for("connections to move to the next key", SETTLE, || match who(1) {
        Ok(w) if w == ["secondary"] => Ok(()),
        other => Err(format!("{other:?}")),
    });
    wait_for("the status to list only the key left", SETTLE, || {
        let m = k.get(&east.ns, "multikeylistener/front");
        let keys = &m["status"]["strategy"]["priority"]["routingKeysReachable"];
        if *keys == serde_json::json!(["secondary"]) { Ok(()) } else { Err(format!("{m}")) }
    });
}
