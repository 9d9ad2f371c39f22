//! Reliability and security of real site processes under faults and abuse: hostile clients of
//! the grant server and the link ports while a link carries traffic and a token is redeemed (at a
//! lowered open-file limit, so exhaustion would come fast), wrong-code guessing, a link deleted
//! under an open connection, a frozen peer, and certificates against their CA.
//!
//! Bounds are generous (a loaded 2-core machine); `scripts/chaos.sh` measures the figures.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use skupper_e2e::attack::{
    self, Attack, LINK_UP, echo_through, fds, free_port, issue, linked_with_traffic, start_limited, token_tls,
    wait_link_ready,
};
use skupper_e2e::{Env, wait_for};

/// Open-file limit of the attacked site: small, so that unbounded connections would exhaust it
/// within seconds.
const NOFILE: u32 = 256;

#[test]
fn hostile_clients_do_not_starve_links_traffic_or_redemptions() {
    let env = Env::new("rel-flood");
    let (_name, front, west) = linked_with_traffic(&env, |env| start_limited(env, "west", NOFILE, &[]));
    let limits = std::fs::read_to_string(format!("/proc/{west}/limits")).expect("limits");
    assert!(limits.lines().any(|l| l.starts_with("Max open files") && l.contains(&NOFILE.to_string())), "{limits}");
    env.ns("south", &["site", "create", "south"]).ok();
    let ports = env.yaml(&env.home("west").join("runtime").join("ports.yaml"));
    let ip: Ipv4Addr = env.ip.parse().expect("ipv4");
    let port = |key: &str| ports[key].as_u64().and_then(|p| u16::try_from(p).ok()).expect("port");
    let grant_server = SocketAddr::from((ip, port("grantServer")));
    let inter_router = SocketAddr::from((ip, port("interRouter")));
    let tls = token_tls(&env, "tok.yaml");

    // Ten sources each try to hold 40 grant-server connections (TLS and half a request head,
    // then silence), five more hold 40 bare connections each on the inter-router port: 600
    // connections against 256 descriptors.
    let attack = Arc::new(Attack::default());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    attack::launch(&rt, 231, 10, 40, grant_server, Some(tls), &attack);
    attack::launch(&rt, 232, 5, 40, inter_router, None, &attack);
    let max_fds = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (attack, max_fds) = (attack.clone(), max_fds.clone());
        std::thread::spawn(move || {
            while !attack.stop.load(Ordering::Relaxed) {
                max_fds.fetch_max(fds(west), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Let the attack reach its full size (before the limits, the site ran out of descriptors here).
    wait_for("the attack is under way", Duration::from_secs(60), || {
        let opened = attack.opened.load(Ordering::Relaxed);
        if opened >= 400 { Ok(()) } else { Err(format!("{opened} connections opened")) }
    });
    std::thread::sleep(Duration::from_secs(3));

    // Traffic through the existing link keeps flowing.
    for i in 0..5 {
        echo_through(&env, front, &format!("under attack {i}"));
    }
    // A legitimate redemption works, and the new link comes up through the attacked port.
    let second = issue(&env, "tok2.yaml");
    let began = Instant::now();
    env.ns("south", &["token", "redeem", "tok2.yaml"]).ok();
    eprintln!("redemption under attack took {:?}", began.elapsed());
    env.start("south");
    wait_link_ready(&env, "south", &second, LINK_UP);
    echo_through(&env, front, "after the redemption");

    attack.stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    rt.shutdown_timeout(Duration::from_secs(5));
    let log = env.log("west");
    let peak = max_fds.load(Ordering::Relaxed);
    eprintln!(
        "west held at most {peak} descriptors; {} hostile connections opened",
        attack.opened.load(Ordering::Relaxed)
    );
    assert!(peak < NOFILE as usize, "west reached its descriptor limit ({peak})");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("grant server: closed a connection from 127.231.0."), "refusals are logged: {log}");
    assert!(log.contains("link access: closed a connection from 127.232.0."), "refusals are logged: {log}");
}

#[test]
fn guessing_codes_is_throttled_then_locks_the_grant() {
    let env = Env::new("rel-guess");
    env.site_with_link_access("west");
    // Short waits between wrong codes so that ten of them take seconds, not minutes.
    env.run_full(&["-n", "west", "system", "start"], None, &[("SKUPPER_GRANT_THROTTLE_MS", "50")]).ok();
    env.ns("east", &["site", "create", "east"]).ok();
    let name = issue(&env, "tok.yaml");
    let mut token = env.yaml(&env.work.join("tok.yaml"));
    token["spec"]["code"] = "AAAAAAAAAAAAAAAAAAAAAAAA".into();
    std::fs::write(env.work.join("bad.yaml"), serde_yaml::to_string(&token).expect("yaml")).expect("write");

    let (mut wrong, mut throttled) = (0, 0);
    let locked = loop {
        let out = env.ns("east", &["token", "redeem", "bad.yaml"]).code(1);
        if out.stdout.contains("refused the code") {
            wrong += 1;
        } else if out.stdout.contains("HTTP 429") {
            throttled += 1;
            std::thread::sleep(Duration::from_millis(50));
        } else if out.stdout.contains("locked") {
            break out;
        } else {
            panic!("unexpected answer: {out}");
        }
        assert!(wrong + throttled < 500, "never locked: {wrong} wrong codes, {throttled} throttled");
    };
    assert_eq!(wrong, 10, "the grant locks at the tenth wrong code");
    assert!(throttled > 0, "guessing as fast as the client can is throttled");
    assert!(locked.stdout.contains("token issue"), "says what to do: {locked}");
    // The genuine token no longer works either: someone was guessing it.
    let out = env.ns("east", &["token", "redeem", "tok.yaml"]).code(1);
    assert!(out.stdout.contains(&format!("Token \"{name}\" could not be redeemed")), "{out}");
    assert!(out.stdout.contains("locked the token after 10 wrong codes"), "{out}");
    assert_eq!(env.resource_files("east"), ["Site-east.yaml"]);
    let log = env.log("west");
    assert!(log.contains("wrong code for grant") && log.contains("from 127.0.0.1:"), "logged with the peer: {log}");
    // A new token works, once this client waited out its own throttle (it guessed too).
    issue(&env, "new.yaml");
    wait_for("the new token redeemed", Duration::from_secs(60), || {
        let out = env.ns("east", &["token", "redeem", "new.yaml"]);
        match out.code {
            0 => Ok(()),
            _ if out.stdout.contains("HTTP 429") => Err(out.to_string()),
            _ => panic!("the new token was refused: {out}"),
        }
    });
}

/// Resumes a stopped process when dropped, so a failing test does not leave it frozen.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

#[test]
fn a_frozen_site_is_detected_within_seconds_and_relinked_when_it_resumes() {
    let env = Env::new("rel-frozen");
    let (name, front, west) = linked_with_traffic(&env, |env| env.start("west"));
    let frozen = Instant::now();
    Command::new("kill").args(["-STOP", &west.to_string()]).status().expect("kill -STOP");
    let resume = Resume(west);
    // About 10 s (45 s before the keep-alive): a generous bound, far below the old figure.
    wait_for("east gives the frozen site up", Duration::from_secs(30), || {
        let out = env.ns("east", &["link", "status", &name]);
        if out.stdout.contains("Status\t: Ready") { Err(out.to_string()) } else { Ok(()) }
    });
    eprintln!("frozen peer detected after {:?}", frozen.elapsed());
    let resumed = Instant::now();
    drop(resume);
    wait_link_ready(&env, "east", &name, LINK_UP);
    eprintln!("link ready again {:?} after the peer resumed", resumed.elapsed());
    echo_through(&env, front, "after the peer resumed");
}

#[test]
fn deleting_a_link_closes_its_open_connections_at_once() {
    let env = Env::new("rel-delete");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let name = issue(&env, "tok.yaml");
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    env.start("east");
    wait_link_ready(&env, "east", &name, LINK_UP);
    // An echo server that reports when its connection ends.
    let server = std::net::TcpListener::bind((env.ip.as_str(), 0)).expect("bind");
    let backend = server.local_addr().expect("addr").port();
    let ended = Arc::new(AtomicBool::new(false));
    let ended_flag = ended.clone();
    std::thread::spawn(move || {
        for s in server.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 1024];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            ended_flag.store(true, Ordering::Relaxed);
        }
    });
    let front = free_port(&env.ip);
    env.ns(
        "west",
        &["connector", "create", "backend", &backend.to_string(), "--routing-key", "echo", "--host", &env.ip],
    )
    .ok();
    env.ns("east", &["listener", "create", "front", &front.to_string(), "--routing-key", "echo", "--host", &env.ip])
        .ok();
    let mut conn = wait_for("a connection through the link", LINK_UP, || {
        let mut s = std::net::TcpStream::connect((env.ip.as_str(), front)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        s.write_all(b"ping").map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).map_err(|e| e.to_string())?;
        if &buf == b"ping" { Ok(s) } else { Err(format!("{buf:?}")) }
    });
    ended.store(false, Ordering::Relaxed);

    env.ns("east", &["link", "delete", &name]).ok();
    // Before: reads and writes hung for 60 s and the far side kept its socket until the site
    // stopped. Now the connection ends as soon as the running site applies the deletion.
    conn.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut buf = [0u8; 16];
    match conn.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the connection did not end when its link was deleted: {other:?}"),
    }
    wait_for("the connector side closes its connection", Duration::from_secs(20), || {
        if ended.load(Ordering::Relaxed) { Ok(()) } else { Err("still open".into()) }
    });
}

#[test]
fn generated_link_credentials_do_not_outlive_their_ca() {
    let env = Env::new("rel-certs");
    env.site_with_link_access("west");
    // Certificates have one-second resolution: issue the client certificate a little later than
    // the CA, as any real `link generate` is.
    std::thread::sleep(Duration::from_millis(1_500));
    let link = env.ns("west", &["link", "generate"]).ok().stdout;
    let out = env.run_with_input(&["token", "inspect", "-", "-o", "json"], Some(&link)).ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(report["ca"].is_object(), "the report covers the CA: {report}");
    assert!(!out.stdout.contains("ca-expires-before-token"), "{report}");
}

/// `notAfter` of a PEM certificate, in seconds since the epoch (openssl and date read it).
fn not_after(pem: &str) -> i64 {
    let mut openssl = Command::new("openssl")
        .args(["x509", "-noout", "-enddate"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    openssl.stdin.take().expect("stdin").write_all(pem.as_bytes()).expect("write");
    let out = openssl.wait_with_output().expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    let date = text.trim().strip_prefix("notAfter=").unwrap_or_else(|| panic!("openssl: {text}"));
    let secs = Command::new("date").args(["-d", date, "+%s"]).output().expect("date");
    String::from_utf8_lossy(&secs.stdout).trim().parse().unwrap_or_else(|e| panic!("date {date}: {e}"))
}

#[test]
fn redeemed_client_certificates_do_not_outlive_the_issuing_ca() {
    let env = Env::new("rel-redeem-certs");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    // One-second resolution: issue the certificate later than the CA, as any real redemption is.
    std::thread::sleep(Duration::from_millis(1_500));
    let name = issue(&env, "tok.yaml");
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    let secret = env.yaml(&env.resource("east", "Secret", &name));
    let pem = |key: &str| {
        let b64 = secret["data"][key].as_str().unwrap_or_else(|| panic!("no {key} in {secret}"));
        let out = Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().expect("stdin").write_all(b64.as_bytes())?;
                c.wait_with_output()
            })
            .expect("base64");
        String::from_utf8(out.stdout).expect("pem")
    };
    let (cert, ca) = (not_after(&pem("tls.crt")), not_after(&pem("ca.crt")));
    assert!(cert <= ca, "the client certificate ends {} s after the CA that signed it", cert - ca);
}
