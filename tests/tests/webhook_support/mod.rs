//! Shared by the webhook end-to-end tests: the built binary, a throwaway CA and serving
//! certificate, a running `kubectl-skupper webhook serve` (a [`Daemon`]: recorded for cleanup as
//! soon as it is spawned, stopped on drop), an HTTPS client and AdmissionReview fixtures.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use skupper_e2e::Daemon;

/// The kubectl-skupper binary, built with the `webhook` feature (see [`skupper_e2e::binary`]).
pub(crate) fn binary() -> PathBuf {
    skupper_e2e::binary()
}

pub(crate) use skupper_e2e::TempDir;

/// A fresh CA and a serving certificate for 127.0.0.1 and localhost, as PEM files in `dir`.
pub(crate) struct Pki {
    pub ca_pem: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub(crate) fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "webhook-test-ca");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let p = Pki { ca_pem: ca_cert.pem(), ca: dir.join("ca.crt"), cert: dir.join("tls.crt"), key: dir.join("tls.key") };
    std::fs::write(&p.ca, &p.ca_pem).unwrap();
    std::fs::write(&p.cert, cert.pem()).unwrap();
    std::fs::write(&p.key, key.serialize_pem()).unwrap();
    p
}

/// A running `kubectl-skupper webhook serve`, stopped (by pid) on drop.
pub(crate) struct Server {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    pub pki: Pki,
    pub dir: TempDir,
}

/// Starts `webhook serve` on 127.0.0.1:<free port> with `extra` arguments and waits (bounded)
/// until it prints its address.
pub(crate) fn serve(extra: &[&str]) -> Server {
    let dir = TempDir::new("webhook");
    let pki = pki(dir.path());
    let mut cmd = skupper_e2e::command(binary());
    cmd.args(["webhook", "serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Recorded for cleanup before anything here can panic; a panic below drops it (stopped).
    let mut daemon = Daemon::spawn(&mut cmd, "webhook serve");
    let stdout = daemon.child().stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
        panic!("webhook serve printed no address within 60 s");
    };
    let addr = line
        .trim()
        .strip_prefix("listening on https://")
        .and_then(|r| r.strip_suffix("/validate"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            let status = daemon.child().try_wait().ok().flatten();
            panic!("unexpected first line from webhook serve: {line:?} (exit: {status:?})")
        });
    Server { daemon, addr, pki, dir }
}

/// Runs the binary to completion (bounded, hermetic environment) and returns (exit code,
/// stdout, stderr).
pub(crate) fn run(args: &[&str]) -> (i32, String, String) {
    let mut cmd = skupper_e2e::command(binary());
    cmd.args(args);
    let out = skupper_e2e::run_command(&mut cmd, None);
    (out.code, out.stdout, out.stderr)
}

/// One keep-alive HTTPS connection to the webhook, trusting only the test CA.
pub(crate) struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

impl Client {
    pub(crate) async fn connect(server: &Server) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(server.pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(rustls_pki_types::ServerName::IpAddress(server.addr.ip().into()), tcp)
            .await
            .unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        Self { sender, addr: server.addr }
    }

    /// Sends one request; returns the status and body.
    pub(crate) async fn send(&mut self, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(30), self.sender.send_request(req))
            .await
            .expect("the webhook did not answer within 30 s")
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, body)
    }

    /// POSTs an AdmissionReview to /validate; expects HTTP 200 and returns `response`.
    pub(crate) async fn review(&mut self, review: &Value) -> Value {
        let (status, body) = self.send("POST", "/validate", serde_json::to_vec(review).unwrap()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v}");
        assert_eq!(v["kind"], "AdmissionReview", "{v}");
        v["response"].clone()
    }
}

/// A Link object like `skupper link generate` emits, with `spec` merged over the defaults.
pub(crate) fn link(name: &str, spec_overrides: Value) -> Value {
    let mut spec = json!({
        "cost": 1,
        "endpoints": [
            { "group": "skupper-router", "host": "west.example.com", "name": "inter-router", "port": "55671" },
            { "group": "skupper-router", "host": "west.example.com", "name": "edge", "port": "45671" },
        ],
        "tlsCredentials": "link-west",
    });
    if let (Some(s), Some(o)) = (spec.as_object_mut(), spec_overrides.as_object()) {
        for (k, v) in o {
            if v.is_null() {
                s.remove(k);
            } else {
                s.insert(k.clone(), v.clone());
            }
        }
    }
    json!({
        "apiVersion": "skupper.io/v2alpha1",
        "kind": "Link",
        "metadata": { "name": name, "namespace": "east" },
        "spec": spec,
    })
}

/// An AdmissionReview v1 request as the API server sends it for a Link.
pub(crate) fn review(uid: &str, operation: &str, object: Value) -> Value {
    let name = object["metadata"]["name"].clone();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "skupper.io", "version": "v2alpha1", "kind": "Link" },
            "resource": { "group": "skupper.io", "version": "v2alpha1", "resource": "links" },
            "requestKind": { "group": "skupper.io", "version": "v2alpha1", "kind": "Link" },
            "requestResource": { "group": "skupper.io", "version": "v2alpha1", "resource": "links" },
            "name": name,
            "namespace": "east",
            "operation": operation,
            "userInfo": { "username": "admin", "groups": ["system:masters"] },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" },
        },
    })
}

/// A WAT policy module that speaks the host ABI: version 1, a bump allocator, settings always
/// valid, and `validate_body` as the body of `skupper_validate` (which must return an i64).
pub(crate) fn wat_policy(validate_body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 1024))
  (data (i32.const 16) "{{\"valid\":true}}")
  (func (export "skupper_abi_version") (result i32) (i32.const 1))
  (func (export "skupper_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (func (export "skupper_validate_settings") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 14)))
  (func (export "skupper_validate") (param i32 i32 i32 i32) (result i64)
    {validate_body}))"#
    );
    wat::parse_str(text).unwrap()
}
