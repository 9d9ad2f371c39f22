//! The HTTPS front: TLS (rustls), HTTP/1.1 (hyper), `POST /validate` with a body limit, and
//! `GET /healthz`. Evaluations run on the blocking pool, at most `concurrency` at once, so a
//! slow policy never stalls the accept loop. Connections are capped in total and per source
//! ([`skupper_router::limits::Gate`]). `serve` takes a bound listener and a shutdown future so tests and
//! the benchmark run the real server in-process.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use skupper_router::limits::{self, Gate, GateConfig};
use skupper_router::tls;

use crate::known_links::LinkCatalog;
use crate::runtime::PolicyRuntime;

/// Default cap on an AdmissionReview body. Kubernetes objects are at most ~1.5 MiB in etcd
/// and a review can carry the object twice (UPDATE: object + oldObject).
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 << 20;

/// Slow clients must not hold connections and tasks forever (the API server is never this slow).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one source may hold at once (`SKUPPER_WEBHOOK_MAX_PER_SOURCE`): the API server
/// is one source and opens a connection per concurrent review.
const MAX_PER_SOURCE: usize = 256;

/// The connection caps of the webhook: `SKUPPER_WEBHOOK_MAX_CONNECTIONS` (default: the open-file
/// limit / 4, within 64..=1024) and [`MAX_PER_SOURCE`]. Connections that sent no request yet are
/// evicted first when it is full.
pub fn gate() -> Arc<Gate> {
    let limit = limits::prepare_process();
    Gate::new("webhook", GateConfig::from_env("WEBHOOK", limits::scaled(limit, 4, 64, 1024), MAX_PER_SOURCE))
}
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the request handlers share.
pub struct State {
    /// The compiled policy.
    pub runtime: Arc<PolicyRuntime>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Bounds concurrent evaluations to the runtime's instance pool.
    pub permits: Arc<Semaphore>,
    /// The cluster's Links for the duplicate-peer rule (`--links-from`).
    pub links: Option<Arc<dyn LinkCatalog>>,
}

impl State {
    /// Shares `runtime` with one evaluation slot per pooled instance.
    pub fn new(runtime: Arc<PolicyRuntime>, max_body_bytes: usize) -> Self {
        let n = runtime.limits().concurrency.max(1) as usize;
        Self { runtime, max_body_bytes, permits: Arc::new(Semaphore::new(n)), links: None }
    }

    /// Evaluates with the cluster's Links as `links` knows them.
    pub fn with_links(mut self, links: Arc<dyn LinkCatalog>) -> Self {
        self.links = Some(links);
        self
    }

    /// The settings for this review: the cluster's Links when they are watched, else the
    /// runtime's own. A failure to build them denies the review (fail closed).
    async fn settings_for(&self, body: &[u8]) -> Result<Arc<Vec<u8>>, String> {
        if let Some(links) = &self.links {
            return links.settings_for(body).await.map_err(|e| format!("the known Links cannot be used: {e:#}"));
        }
        Ok(self.runtime.settings())
    }

    /// After an answer: a Link admitted now is a known Link from now on.
    fn answered(&self, body: &[u8], answer: &[u8]) {
        if let Some(links) = &self.links {
            links.admitted(body, answer);
        }
    }
}

/// Builds the rustls server configuration from PEM files (HTTP/1.1 only, TLS 1.2 and 1.3).
pub fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_pem =
        std::fs::read(cert).with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
    let key_pem = std::fs::read(key).with_context(|| format!("cannot read the TLS private key {}", key.display()))?;
    tls_config_from_pem(&cert_pem, &key_pem)
        .with_context(|| format!("cannot use --tls-cert {} with --tls-key {}", cert.display(), key.display()))
}

/// Same as [`tls_config`], from PEM text.
pub fn tls_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<Arc<ServerConfig>> {
    let identity = tls::Identity { cert_pem, key_pem, cert_name: "the certificate file", key_name: "the key file" };
    let mut config = tls::server(tls::Versions::Tls12And13, identity, None)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves until `shutdown` completes, then stops accepting and returns.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_with(listener, tls, state, gate(), shutdown).await
}

/// [`serve`] with explicit connection caps.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    state: Arc<State>,
    gate: Arc<Gate>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: keep serving the open connections.
                Err(e) => {
                    tracing::warn!(target: "webhook", "accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match gate.admit(peer.ip()) {
            Ok(p) => Arc::new(p),
            Err(why) => {
                gate.refused(peer, &why);
                drop(tcp);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            // A failed or stalled handshake (scanner, wrong CA) concerns that client only.
            let handshake = tokio::select! {
                r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => r,
                _ = permit.evicted() => return,
            };
            let Ok(Ok(tls)) = handshake else { return };
            let in_service = permit.clone();
            let service = hyper::service::service_fn(move |req| {
                // A client that sends requests is not a slow client: never evicted.
                in_service.authenticated();
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, &state).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = conn => {}
                _ = permit.evicted() => {}
            }
        });
    }
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn problem(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": status.as_u16(), "message": message,
    });
    respond(status, "application/json", serde_json::to_vec(&body).unwrap_or_default())
}

async fn handle(req: Request<Incoming>, state: &State) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/validate") => validate(req, state).await,
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n"),
        (_, "/validate") | (_, "/healthz") => {
            problem(StatusCode::METHOD_NOT_ALLOWED, "use POST /validate (AdmissionReview v1) or GET /healthz")
        }
        _ => problem(StatusCode::NOT_FOUND, "not found: the webhook serves POST /validate and GET /healthz"),
    }
}

/// Why a request body was not taken.
enum BodyError {
    TooLarge,
    Read(hyper::Error),
}

/// Reads at most `limit` bytes. Past it, keeps reading and discarding up to `drain_cap` bytes
/// so the client finishes sending and can read our 413 (instead of a reset mid-upload).
async fn read_body(mut body: Incoming, limit: usize, drain_cap: usize) -> Result<Bytes, BodyError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > drain_cap {
            return Err(BodyError::TooLarge);
        }
        if seen <= limit {
            buf.extend_from_slice(&data);
        }
    }
    if seen > limit { Err(BodyError::TooLarge) } else { Ok(buf.into()) }
}

async fn validate(req: Request<Incoming>, state: &State) -> Response<Body> {
    let limit = state.max_body_bytes;
    let too_large = || {
        let mut r = problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the AdmissionReview is larger than the webhook's limit of {limit} bytes"),
        );
        r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        r
    };
    let drain_cap = limit.saturating_mul(4).min(16 << 20).max(limit);
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > drain_cap as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(BODY_TIMEOUT, read_body(req.into_body(), limit, drain_cap)).await {
        Err(_) => {
            return problem(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
            );
        }
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLarge)) => return too_large(),
        Ok(Err(BodyError::Read(e))) => {
            return problem(StatusCode::BAD_REQUEST, &format!("cannot read the request body: {e}"));
        }
    };
    let settings = match state.settings_for(&body).await {
        Ok(s) => s,
        Err(why) => {
            let uid = crate::review::request_uid(&body);
            return respond(StatusCode::OK, "application/json", crate::review::deny(&uid, &why, 500));
        }
    };
    let Ok(permit) = state.permits.clone().acquire_owned().await else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "the webhook is shutting down");
    };
    let runtime = state.runtime.clone();
    let review = body.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        runtime.review_with(&review, &settings)
    })
    .await;
    match answer {
        Ok(json) => {
            state.answered(&body, &json);
            respond(StatusCode::OK, "application/json", json)
        }
        // The evaluation thread panicked: a host bug. Deny rather than fail open.
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("link policy evaluation failed: {e}")),
    }
}
