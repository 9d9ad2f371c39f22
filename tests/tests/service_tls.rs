//! Application TLS of listeners and connectors (`spec.tlsCredentials`) between real site
//! processes: a TLS listener serves clients that trust its CA and refuses plain TCP; a connector
//! with `useClientCert` presents its client certificate to a TLS backend that requires one (a
//! small rustls server here); a connector whose `ca.crt` does not match its backend, and a
//! listener or connector whose Secret is missing, say so in their status.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use skupper_e2e::{Env, echo_once, echo_server, free_port, wait_for};

/// Long enough for a site to start, link, probe and write its status (every second).
const SETTLE: Duration = Duration::from_secs(30);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A throwaway CA that issues server and client certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate with its key, in PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    fn issue(&self, sans: &[&str], purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap()).unwrap();
        roots
    }
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().unwrap()
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A TLS Secret document (plain values in `stringData`); `None` leaves a key out.
fn secret(name: &str, crt: Option<&str>, key: Option<&str>, ca: Option<&str>) -> String {
    let mut doc =
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/tls\nstringData:\n");
    for (k, v) in [("tls.crt", crt), ("tls.key", key), ("ca.crt", ca)] {
        if let Some(v) = v {
            doc.push_str(&format!("  {k}: |\n"));
            for line in v.lines() {
                doc.push_str(&format!("    {line}\n"));
            }
        }
    }
    doc
}

fn apply(env: &Env, ns: &str, docs: &[String]) {
    env.run_with_input(&["-n", ns, "system", "apply", "-f", "-"], Some(&docs.join("---\n"))).ok();
}

fn listener(name: &str, ip: &str, port: u16, key: &str, tls: Option<&str>) -> String {
    let tls = tls.map(|t| format!("  tlsCredentials: {t}\n")).unwrap_or_default();
    format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: {name}\nspec:\n  routingKey: {key}\n  host: {ip}\n  port: {port}\n{tls}"
    )
}

fn connector(name: &str, ip: &str, port: u16, key: &str, extra: &str) -> String {
    format!(
        "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: {name}\nspec:\n  routingKey: {key}\n  host: {ip}\n  port: {port}\n{extra}"
    )
}

/// A TLS echo server on `ip` with a certificate of `ca` for `ip`; with `client_ca` it requires a
/// client certificate issued by that CA. Counts the connections that presented one.
fn tls_echo_server(ip: &str, ca: &Ca, client_ca: Option<&Ca>) -> (u16, Arc<AtomicUsize>) {
    let leaf = ca.issue(&[ip], ExtendedKeyUsagePurpose::ServerAuth);
    let builder =
        rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().unwrap();
    let builder = match client_ca {
        Some(c) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(c.roots()), provider())
                .build()
                .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    let config = Arc::new(builder.with_single_cert(certs(&leaf.cert), key(&leaf.key)).unwrap());
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let with_cert = Arc::new(AtomicUsize::new(0));
    let counter = with_cert.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
                let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                let mut counted = false;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if !counted && s.conn.peer_certificates().is_some_and(|c| !c.is_empty()) {
                                counter.fetch_add(1, Ordering::SeqCst);
                                counted = true;
                            }
                            if s.write_all(&buf[..n]).and_then(|_| s.flush()).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    (port, with_cert)
}

/// Sends `msg` over TLS to `ip:port`, trusting `ca` for the name `ip`; what comes back.
fn tls_echo_once(ip: &str, port: u16, ca: &Ca, msg: &str) -> Result<String, String> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    let name = ServerName::try_from(ip.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect((ip, port)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(msg.as_bytes()).and_then(|_| s.flush()).map_err(|e| format!("write: {e}"))?;
    skupper_e2e::read_reply(&mut s, msg.len())
}

/// `<kind> status <name> -o json` of `ns`: its `status` object.
fn status(env: &Env, ns: &str, kind: &str, name: &str) -> serde_json::Value {
    let out = env.ns(ns, &[kind, "status", name, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    v["status"].clone()
}

/// Waits until `kind` `name` of `ns` reports a status for which `want` holds; returns it.
fn wait_status(
    env: &Env,
    ns: &str,
    kind: &str,
    name: &str,
    what: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for(&format!("{kind} {name} of {ns}: {what}"), SETTLE, || {
        let s = status(env, ns, kind, name);
        if want(&s) { Ok(s) } else { Err(format!("{s:#}\n{}", env.log(ns))) }
    })
}

fn ready(s: &serde_json::Value) -> bool {
    s["status"] == "Ready"
}

/// The message of condition `type_`.
fn condition_message(s: &serde_json::Value, type_: &str) -> String {
    s["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn tls_listener_and_client_certificate_connector_across_two_sites() {
    let env = Env::new("svc-tls-two");
    let ip = env.ip.clone();
    let front_ca = Ca::new("front ca");
    let backend_ca = Ca::new("backend ca");
    let (backend, with_cert) = tls_echo_server(&ip, &backend_ca, Some(&backend_ca));

    env.site_with_link_access("b");
    env.ns("a", &["site", "create", "a"]).ok();
    let out = env.ns("b", &["link", "generate", "--tls-credentials", "link-b-from-a"]).ok();
    env.run_with_input(&["-n", "a", "system", "apply", "-f", "-"], Some(&out.stdout)).ok();

    // a: a TLS listener; b: a connector presenting a client certificate to a TLS backend.
    let front = free_port(&ip);
    let server = front_ca.issue(&[&ip], ExtendedKeyUsagePurpose::ServerAuth);
    apply(
        &env,
        "a",
        &[
            secret("front-tls", Some(&server.cert), Some(&server.key), Some(&front_ca.pem)),
            listener("front", &ip, front, "db", Some("front-tls")),
        ],
    );
    let client = backend_ca.issue(&["db-client"], ExtendedKeyUsagePurpose::ClientAuth);
    apply(
        &env,
        "b",
        &[
            secret("db-tls", Some(&client.cert), Some(&client.key), Some(&backend_ca.pem)),
            connector(
                "db",
                &ip,
                backend,
                "db",
                "  tlsCredentials: db-tls\n  useClientCert: true\n  verifyHostname: true\n",
            ),
        ],
    );
    env.start("b");
    env.start("a");
    wait_status(&env, "b", "connector", "db", "Ready", ready);
    wait_status(&env, "a", "listener", "front", "Ready", ready);

    // A client that trusts the listener's CA: through a, the link and b to the backend, which
    // got the connector's client certificate.
    let got = wait_for("an echo through the TLS listener", SETTLE, || {
        tls_echo_once(&ip, front, &front_ca, "hello over tls").map_err(|e| format!("{e}\n{}", env.log("a")))
    });
    assert_eq!(got, "hello over tls");
    assert!(with_cert.load(Ordering::SeqCst) >= 1, "the backend saw no client certificate");

    // Plain TCP to the TLS listener: no echo, and the listener says why.
    let plain = echo_once(&ip, front, "hello in clear");
    assert!(!matches!(&plain, Ok(s) if s == "hello in clear"), "plain TCP got through a TLS listener: {plain:?}");
    wait_for("the listener logs the refused handshake", SETTLE, || {
        let log = env.log("a");
        if log.contains("listener front: TLS handshake with") { Ok(()) } else { Err(log) }
    });
    // A client that trusts another CA does not get through either.
    let other = tls_echo_once(&ip, front, &backend_ca, "hello");
    assert!(other.is_err(), "a client not trusting the listener's certificate got {other:?}");
}

#[test]
fn connector_tls_on_one_site_and_statuses_of_bad_credentials() {
    let env = Env::new("svc-tls-one");
    let ip = env.ip.clone();
    let backend_ca = Ca::new("backend ca");
    let other_ca = Ca::new("other ca");
    let (mutual, with_cert) = tls_echo_server(&ip, &backend_ca, Some(&backend_ca));
    let (server_only, _) = tls_echo_server(&ip, &backend_ca, None);
    let plain_backend = echo_server(&ip);
    let client = backend_ca.issue(&["db-client"], ExtendedKeyUsagePurpose::ClientAuth);
    let (p_mutual, p_nocert, p_plain_listener, p_lost) =
        (free_port(&ip), free_port(&ip), free_port(&ip), free_port(&ip));

    env.ns("w", &["site", "create", "w"]).ok();
    apply(
        &env,
        "w",
        &[
            secret("db-tls", Some(&client.cert), Some(&client.key), Some(&backend_ca.pem)),
            secret("ca-only", None, None, Some(&backend_ca.pem)),
            secret("wrong-ca", None, None, Some(&other_ca.pem)),
            secret("no-key", Some(&client.cert), None, Some(&backend_ca.pem)),
            // Mutual TLS through a local connector.
            listener("mutual", &ip, p_mutual, "mutual", None),
            connector("mutual", &ip, mutual, "mutual", "  tlsCredentials: db-tls\n  useClientCert: true\n"),
            // The same backend without a client certificate: refused.
            listener("nocert", &ip, p_nocert, "nocert", None),
            connector("nocert", &ip, mutual, "nocert", "  tlsCredentials: ca-only\n"),
            // A CA that did not issue the backend's certificate.
            connector("wrongca", &ip, server_only, "wrongca", "  tlsCredentials: wrong-ca\n"),
            // Missing or incomplete Secrets.
            listener("lost", &ip, p_lost, "plain", Some("nowhere")),
            connector("lost", &ip, plain_backend, "lost", "  tlsCredentials: nowhere-either\n"),
            connector("nokey", &ip, mutual, "nokey", "  tlsCredentials: no-key\n  useClientCert: true\n"),
            listener("plain", &ip, p_plain_listener, "plain", None),
            connector("plain", &ip, plain_backend, "plain", ""),
        ],
    );
    // Known before the site runs.
    let s = status(&env, "w", "listener", "lost");
    assert_eq!(condition_message(&s, "Configured"), "TLS credentials secret \"nowhere\" not found", "{s:#}");
    env.start("w");

    wait_status(&env, "w", "connector", "mutual", "Ready", ready);
    let got = wait_for("an echo through the mutual-TLS connector", SETTLE, || {
        match echo_once(&ip, p_mutual, "mutual hello") {
            Ok(s) if s == "mutual hello" => Ok(s),
            other => Err(format!("{other:?}\n{}", env.log("w"))),
        }
    });
    assert_eq!(got, "mutual hello");
    assert!(with_cert.load(Ordering::SeqCst) >= 1, "the backend saw no client certificate");
    let before = with_cert.load(Ordering::SeqCst);
    // Without useClientCert the backend refuses the connection: nothing comes back.
    let refused = echo_once(&ip, p_nocert, "no cert hello");
    assert!(!matches!(&refused, Ok(s) if s == "no cert hello"), "{refused:?}");
    assert_eq!(with_cert.load(Ordering::SeqCst), before);
    // ... and its probe reports the refusal.
    let s = wait_status(&env, "w", "connector", "nocert", "the refused client certificate", |s| {
        s["message"].as_str().is_some_and(|m| m.contains("TLS handshake with"))
    });
    let m = s["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("refused the connection's client certificate (certificate required); set useClientCert: true"),
        "{m}"
    );

    // The wrong CA: the probe's handshake fails and the status says so.
    let s = wait_status(&env, "w", "connector", "wrongca", "TLS verification failure", |s| {
        s["message"].as_str().is_some_and(|m| m.contains("TLS handshake with"))
    });
    assert_ne!(s["status"], "Ready", "{s:#}");
    let m = s["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(&format!("TLS handshake with {ip}:{server_only} failed: invalid peer certificate: UnknownIssuer")),
        "{m}"
    );
    assert!(m.contains("\"wrong-ca\""), "names the Secret: {m}");

    // Missing Secrets and missing keys: not Ready, the Secret named.
    let s = wait_status(&env, "w", "listener", "lost", "an error", |s| s["status"] == "Error");
    assert_eq!(condition_message(&s, "Configured"), "TLS credentials secret \"nowhere\" not found", "{s:#}");
    assert!(
        TcpStream::connect((ip.as_str(), p_lost)).is_err(),
        "a listener without its TLS Secret must not serve plain TCP"
    );
    let s = wait_status(&env, "w", "connector", "lost", "an error", |s| s["status"] == "Error");
    assert_eq!(condition_message(&s, "Configured"), "TLS credentials secret \"nowhere-either\" not found", "{s:#}");
    let s = wait_status(&env, "w", "connector", "nokey", "an error", |s| s["status"] == "Error");
    let m = condition_message(&s, "Configured");
    assert!(m.contains("TLS credentials secret \"no-key\" has no tls.key"), "{m}");

    // A plain listener and connector beside them work as before.
    assert_eq!(echo_once(&ip, p_plain_listener, "plain hello").as_deref(), Ok("plain hello"));
}
