//! MultiKeyListeners between real site processes, and listeners that refuse connections while
//! their routing key has no destination: three sites on one loopback address, `a` linked to `b`
//! and `c`; backends behind connectors on `b` and `c` count the connections that reach them.

mod routing_support;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use routing_support::{Conn, SETTLE, free_port, link};
use serde_json::Value;
use skupper_e2e::{Env, skip, wait_for};

/// A backend that writes its name, then counts the connection once the client sent a byte
/// (connector probes, which send nothing, are not counted), and echoes.
struct Backend {
    port: u16,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    fn start(ip: &str, name: &'static str) -> Self {
        let listener = TcpListener::bind((ip, 0)).expect("bind backend");
        listener.set_nonblocking(true).expect("nonblocking backend");
        let port = listener.local_addr().expect("backend addr").port();
        let (count, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let c = c.clone();
                        std::thread::spawn(move || serve(stream, name, &c));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self { port, count, stop }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mut s: TcpStream, name: &str, count: &AtomicU64) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    if s.write_all(format!("{name}\n").as_bytes()).is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    let mut counted = false;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !counted {
                    count.fetch_add(1, Ordering::SeqCst);
                    counted = true;
                }
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// One connection through `port` that reaches a backend and flows: the backend's name.
fn through(ip: &str, port: u16) -> Result<String, String> {
    let mut c = Conn::open(ip, port)?;
    c.echo("x")?;
    Ok(c.who)
}

/// `a` linked to `b` and `c` (both with link access); none started.
fn three_sites(env: &Env) {
    env.site_with_link_access("b");
    env.site_with_link_access("c");
    env.ns("a", &["site", "create", "a"]).ok();
    link(env, "a", "b", 1);
    link(env, "a", "c", 1);
}

fn start_all(env: &Env) {
    for s in ["c", "b", "a"] {
        env.start(s);
    }
}

/// `multikeylistener status NAME -o json` of `a`.
fn mkl_status(env: &Env, name: &str) -> Value {
    let out = env.ns("a", &["multikeylistener", "status", name, "-o", "json"]).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("multikeylistener status json: {e}\n{out}"))
}

/// Waits until every connection of `n` goes to backend `who` (after the routes settled), and
/// checks that the next `n` all reach it, counted at the backends.
fn all_go_to(env: &Env, port: u16, who: &str, backends: &[(&str, &Backend)], n: u64) {
    wait_for(&format!("connections through {port} reach {who}"), SETTLE, || match through(&env.ip, port) {
        Ok(w) if w == who => Ok(()),
        Ok(w) => Err(format!("reached {w}\n{}", env.log("a"))),
        Err(e) => Err(format!("{e}\n{}", env.log("a"))),
    });
    let before: Vec<u64> = backends.iter().map(|(_, b)| b.count()).collect();
    for i in 0..n {
        let w = through(&env.ip, port).unwrap_or_else(|e| panic!("connection {i}: {e}\n{}", env.log("a")));
        assert_eq!(w, who, "connection {i}");
    }
    for ((name, b), before) in backends.iter().zip(before) {
        let want = if *name == who { n } else { 0 };
        assert_eq!(b.count() - before, want, "counted at backend {name}");
    }
}

#[test]
fn priority_goes_to_the_first_key_with_a_destination_and_plain_listeners_refuse_without_one() {
    let env = Env::new("mkl-priority");
    let (ba, bb) = (Backend::start(&env.ip, "A"), Backend::start(&env.ip, "B"));
    three_sites(&env);
    let (pa, pb) = (ba.port.to_string(), bb.port.to_string());
    env.ns("b", &["connector", "create", "ka", &pa, "--host", &env.ip]).ok();
    env.ns("c", &["connector", "create", "kb", &pb, "--host", &env.ip]).ok();
    let (front, plain) = (free_port(&env.ip), free_port(&env.ip));
    // kz has no connector anywhere: skipped.
    let created =
        env.ns("a", &["multikeylistener", "create", "front", &front.to_string(), "--priority-keys", "kz,ka,kb"]).ok();
    assert!(created.stdout.contains("MultiKeyListener \"front\" is configured."), "{created}");
    env.ns("a", &["multikeylistener", "create", "front", "1", "--host", &env.ip]).code(2);
    env.ns("a", &["multikeylistener", "delete", "front"]).ok();
    let fp = front.to_string();
    let args = ["multikeylistener", "create", "front", &fp, "--priority-keys", "kz,ka,kb", "--host", &env.ip];
    env.ns("a", &args).ok();
    env.ns("a", &["listener", "create", "plain", &plain.to_string(), "--routing-key", "kn", "--host", &env.ip]).ok();
    start_all(&env);
    let backends = [("A", &ba), ("B", &bb)];

    all_go_to(&env, front, "A", &backends, 20);
    // The site writes its status every second: it catches up with the traffic.
    let why = "key ka (priority: first key with a destination (kz has none))";
    wait_for("network status explains the key", SETTLE, || {
        let text = env.ns("a", &["network", "status"]).ok();
        if text.stdout.contains(why) { Ok(()) } else { Err(text.to_string()) }
    });
    let st = wait_for("multikeylistener front Ready", SETTLE, || {
        let st = mkl_status(&env, "front");
        if st["status"]["status"] == "Ready" { Ok(st) } else { Err(format!("{st:#}")) }
    });
    assert_eq!(st["status"]["hasDestination"], true, "{st:#}");
    assert_eq!(st["status"]["strategy"]["priority"]["routingKeysReachable"], serde_json::json!(["ka", "kb"]));
    validates_against_upstream("priority status", &st);

    // The plain listener: configured (its port held) but no connector for kn anywhere, so the
    // port refuses connections rather than accepting and closing them.
    wait_for("listener plain configured", SETTLE, || {
        let out = env.ns("a", &["listener", "status", "plain", "-o", "json"]);
        let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
        let configured = v["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Configured" && c["status"] == "True"));
        if configured && v["status"]["message"] == "No matching connectors" { Ok(()) } else { Err(format!("{v:#}")) }
    });
    let refused = TcpStream::connect((env.ip.as_str(), plain)).map(drop).map_err(|e| e.kind());
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    env.ns("c", &["connector", "create", "kn", &pb, "--host", &env.ip]).ok();
    wait_for("the plain listener accepts once kn has a connector", SETTLE, || {
        through(&env.ip, plain).map_err(|e| format!("{e}\n{}", env.log("a")))
    });

    // Connectors know of listeners on other sites (the demo showed "No matching listeners"):
    // kn's on c matches a's plain listener, ka's on b a's multi-key listener.
    for (site, connector) in [("c", "kn"), ("b", "ka")] {
        wait_for(&format!("connector {connector} of {site} matched"), SETTLE, || {
            let out = env.ns(site, &["connector", "status", connector, "-o", "json"]);
            let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
            let ready = v["status"]["hasMatchingListener"] == true && v["status"]["status"] == "Ready";
            if ready { Ok(()) } else { Err(format!("{v:#}")) }
        });
    }

    // A's connector goes: every connection to kb; it comes back: to ka again.
    env.ns("b", &["connector", "delete", "ka"]).ok();
    all_go_to(&env, front, "B", &backends, 20);
    wait_for("only kb reachable", SETTLE, || {
        let st = mkl_status(&env, "front");
        let keys = &st["status"]["strategy"]["priority"]["routingKeysReachable"];
        if *keys == serde_json::json!(["kb"]) { Ok(()) } else { Err(format!("{st:#}")) }
    });
    env.ns("b", &["connector", "create", "ka", &pa, "--host", &env.ip]).ok();
    all_go_to(&env, front, "A", &backends, 20);
}

#[test]
fn weighted_splits_connections_by_weight_among_keys_with_a_destination() {
    let env = Env::new("mkl-weighted");
    let (ba, bb) = (Backend::start(&env.ip, "A"), Backend::start(&env.ip, "B"));
    three_sites(&env);
    env.ns("b", &["connector", "create", "ka", &ba.port.to_string(), "--host", &env.ip]).ok();
    env.ns("c", &["connector", "create", "kb", &bb.port.to_string(), "--host", &env.ip]).ok();
    let front = free_port(&env.ip);
    let fp = front.to_string();
    // kz has the largest weight but no connector anywhere: skipped.
    let args = ["multikeylistener", "create", "w", &fp, "--weighted-keys", "ka=1,kb=2,kz=5", "--host", &env.ip];
    env.ns("a", &args).ok();
    start_all(&env);
    let reachable = serde_json::json!({"ka": 1, "kb": 2});
    wait_for("ka and kb reachable", SETTLE, || {
        let st = mkl_status(&env, "w");
        let ok = st["status"]["strategy"]["weighted"]["routingKeysReachable"] == reachable;
        if ok { Ok(st) } else { Err(format!("{st:#}\n{}", env.log("a"))) }
    });
    // The listening port may lag the status by a moment.
    wait_for("w accepts", SETTLE, || through(&env.ip, front));
    let before = (ba.count(), bb.count());
    const N: u64 = 3000;
    for i in 0..N {
        through(&env.ip, front).unwrap_or_else(|e| panic!("connection {i}: {e}\n{}", env.log("a")));
    }
    let (a, b) = (ba.count() - before.0, bb.count() - before.1);
    skupper_e2e::say(&format!("weighted ka=1,kb=2 over {N} connections: ka {a}, kb {b}"));
    assert_eq!(a + b, N, "every connection reached ka's or kb's backend");
    // 1:2 within 10%: a third to ka, two thirds to kb.
    assert!((900..=1100).contains(&a) && (1800..=2200).contains(&b), "ka {a}, kb {b}");
    let why = "(weighted 1:2 among the keys with a destination (ka=1, kb=2))";
    wait_for("network status explains the split", SETTLE, || {
        let text = env.ns("a", &["network", "status"]).ok();
        if text.stdout.contains(why) { Ok(()) } else { Err(text.to_string()) }
    });
    let st = mkl_status(&env, "w");
    assert_eq!(st["status"]["status"], "Ready", "{st:#}");
    validates_against_upstream("weighted status", &st);
}

/// Upstream's MultiKeyListener CRD, when the upstream files are on this machine.
fn upstream_crd(test: &str) -> Option<Value> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper/crds");
    let file = dir.join("skupper_multikeylistener_crd.yaml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        skip(test, "../shared/upstream-skupper/crds (upstream's CRDs) is not on this machine");
        return None;
    };
    Some(serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// Checks `obj` (without our extra `status.routing`) against the schema of upstream's CRD.
fn validates_against_upstream(what: &str, obj: &Value) {
    let Some(crd) = upstream_crd(what) else { return };
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut obj = obj.clone();
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        status.remove("routing");
    }
    let mut problems = Vec::new();
    check(schema, &obj, "", &mut problems);
    assert!(problems.is_empty(), "{what} does not validate against upstream's CRD: {problems:#?}\n{obj:#}");
}

/// The structural part of OpenAPI v3 validation a CRD does: types, properties (unknown ones are
/// errors, as the API server prunes them), required fields, items, additionalProperties, enums,
/// minLength.
fn check(schema: &Value, v: &Value, path: &str, problems: &mut Vec<String>) {
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        _ => true,
    };
    if !ok {
        problems.push(format!("{path}: expected {ty}, got {v}"));
        return;
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        problems.push(format!("{path}: {v} is not one of {e:?}"));
    }
    if let (Some(min), Some(s)) = (schema["minLength"].as_u64(), v.as_str())
        && (s.len() as u64) < min
    {
        problems.push(format!("{path}: shorter than {min}"));
    }
    if let Some(o) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !o.contains_key(r) {
                problems.push(format!("{path}: required field {r} missing"));
            }
        }
        let props = schema["properties"].as_object();
        let extra = &schema["additionalProperties"];
        for (k, x) in o {
            let p = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, x, &p, problems),
                None if extra.is_object() => check(extra, x, &p, problems),
                // metadata is `type: object` without properties: anything goes.
                None if props.is_none() => {}
                None => problems.push(format!("{p}: not in upstream's schema")),
            }
        }
    }
    if let Some(a) = v.as_array() {
        for (i, x) in a.iter().enumerate() {
            check(&schema["items"], x, &format!("{path}[{i}]"), problems);
        }
    }
}

#[test]
fn upstreams_samples_apply_and_show() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-skupper/inputs");
    let Some(file) = std::fs::read_dir(&dir)
        .ok()
        .and_then(|d| d.flatten().find(|e| e.file_name().to_string_lossy().starts_with("013-")))
        .map(|e| e.path())
    else {
        skip("upstreams_samples_apply_and_show", "../shared/upstream-skupper/inputs is not on this machine");
        return;
    };
    let env = Env::new("mkl-samples");
    env.ns("west", &["site", "create", "west"]).ok();
    let out = env.ns("west", &["system", "apply", "-f", file.to_str().expect("a UTF-8 path")]).ok();
    assert!(out.stdout.contains("MultiKeyListener backend-priority added"), "{out}");
    assert!(out.stdout.contains("MultiKeyListener backend-weighted added"), "{out}");
    let out = env.ns("west", &["multikeylistener", "status"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("HAS-DESTINATION"), "{out}");
    assert!(out.stdout.contains("priority backend-primary, backend-secondary"), "{out}");
    assert!(out.stdout.contains("weighted backend-double=2, backend-single=1"), "{out}");
    let out = env.ns("west", &["multikeylistener", "status", "backend-weighted", "-o", "yaml"]).ok();
    let v: Value = serde_yaml::from_str(&out.stdout).expect("status -o yaml is YAML");
    assert_eq!(v["spec"]["strategy"]["weighted"]["routingKeys"]["backend-double"], 2, "{out}");
    // Refused with a reason: both strategies, or none.
    let both = "apiVersion: skupper.io/v2alpha1\nkind: MultiKeyListener\nmetadata: {name: both}\n\
                spec: {host: h, port: 1, strategy: {priority: {routingKeys: [a]}, weighted: {routingKeys: {a: 1}}}}\n";
    let out = env.run_with_input(&["-n", "west", "system", "apply", "-f", "-"], Some(both)).code(1);
    assert!(out.stdout.contains("exactly one of the fields in [priority weighted] must be set"), "{out}");
    env.ns("west", &["multikeylistener", "delete", "backend-weighted"]).ok();
    let out = env.ns("west", &["multikeylistener", "status", "backend-weighted"]).code(2);
    assert!(out.stdout.contains("multikeylistener backend-weighted does not exist in namespace west"), "{out}");
}
