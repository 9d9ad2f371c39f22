//! The HTTPS grant server (reference §2.2, with [`skupper_core::grant`]): one `POST /<grant uid>`
//! per redemption, handled one at a time per server. Grants come from a [`GrantStore`] (the local
//! site's files; the API server on Kubernetes), read afresh for every request; the redemption
//! count is recorded only after the client certificate, Secret and Links were produced, and only
//! if the grant did not change meanwhile (a conflict restarts the redemption from the read). The
//! limits that keep it available under abuse are in [`super::limits`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use skupper_core::resources::{AccessGrant, Endpoint, Resource, SECRET_TYPE_TLS, Secret, Site};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::limits::{CONNECTION_TIMEOUT, Defences, REQUEST_TIMEOUT};
use skupper_core::grant::{GrantState, Refusal};
use skupper_router::certs::{self, Issued};
use skupper_router::tls;

/// Largest request body accepted (a code is 24 characters).
pub(crate) const MAX_BODY: usize = 4096;

/// How often a redemption is retried when its grant changed while it was being redeemed.
/// Every conflict is another writer's progress (a redemption through a second server, a
/// controller's status write), so a request can legitimately meet as many conflicts as the grant
/// has redemptions plus the status writes in between: 5 was reachable with a three-use grant and
/// two servers (the test below met it on a loaded CI machine). The bound only guards against a
/// store that never stops changing.
const CONFLICT_RETRIES: usize = 32;

/// A grant as the store holds it, with the version its record must match.
#[derive(Debug, Clone)]
pub(crate) struct StoredGrant {
    /// The grant (processed: url, code, expiry in its status).
    pub grant: AccessGrant,
    /// The store's version of it (a resourceVersion; a file's content), checked by `record`.
    pub version: String,
}

/// What a redemption hands out besides the grant: the site, where it accepts links and the CA
/// that signs the client certificate. Missing parts become upstream's 500 answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrantSite {
    /// The active Site, if any.
    pub site: Option<Site>,
    /// Its endpoints (empty without link access).
    pub endpoints: Vec<Endpoint>,
    /// Its CA, if it could be read.
    pub ca: Option<Issued>,
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The grant changed since it was read (another redemption, an edit): read it again.
    #[error("the grant changed while it was being redeemed")]
    Conflict,
    /// Anything else: the redemption fails with 503 and is not counted.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Where the grant server reads grants and records redemptions.
pub(crate) trait GrantStore: Send + Sync + 'static {
    /// Namespace of the site, for messages.
    fn namespace(&self) -> &str;
    /// The grant whose `metadata.uid` is `uid`, as stored now.
    fn grant(&self, uid: &str) -> impl Future<Output = Result<Option<StoredGrant>, StoreError>> + Send;
    /// The site that answers redemptions.
    fn site(&self) -> impl Future<Output = Result<GrantSite, StoreError>> + Send;
    /// Records `redemptions` as the grant's count, unless the grant changed since `grant` was
    /// read (then [`StoreError::Conflict`]).
    fn record(&self, grant: &StoredGrant, redemptions: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the handler needs: the store, a clock, and the lock that serialises redemptions.
pub(crate) struct GrantContext<S> {
    /// Grants and the site.
    pub store: S,
    /// Current time, Unix seconds.
    pub now: fn() -> i64,
    lock: tokio::sync::Mutex<()>,
}

impl<S: GrantStore> GrantContext<S> {
    /// A context over `store`.
    pub(crate) fn new(store: S, now: fn() -> i64) -> Self {
        Self { store, now, lock: tokio::sync::Mutex::new(()) }
    }
}

/// A running grant server.
pub(crate) struct GrantServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GrantServer {
    /// Binds `host:port` and serves with the server certificate `cert`, with the limits of
    /// [`Defences::from_env`].
    pub(crate) async fn start<S: GrantStore>(
        ctx: Arc<GrantContext<S>>,
        host: &str,
        port: u16,
        cert: &Issued,
    ) -> anyhow::Result<Self> {
        Self::start_with(ctx, host, port, cert, Defences::from_env()).await
    }

    /// [`GrantServer::start`] with explicit limits.
    pub(crate) async fn start_with<S: GrantStore>(
        ctx: Arc<GrantContext<S>>,
        host: &str,
        port: u16,
        cert: &Issued,
        defences: Arc<Defences>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((host, port)).await.with_context(|| {
            format!(
                "the grant server cannot listen on {host}:{port}; free the port or re-create the site's link access \
                 (remove runtime/ports.yaml and run kubectl skupper site update --enable-link-access)"
            )
        })?;
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(server_tls(cert)?));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, acceptor, ctx, defences, rx));
        Ok(Self { addr, shutdown: tx, task })
    }

    /// Stops accepting and waits for the accept loop to end.
    pub(crate) async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The server TLS configuration: TLS 1.3, the given certificate.
pub(crate) fn server_tls(cert: &Issued) -> anyhow::Result<rustls::ServerConfig> {
    let identity = tls::Identity {
        cert_pem: cert.cert_pem.as_bytes(),
        key_pem: cert.key_pem.as_bytes(),
        cert_name: "the grant server certificate",
        key_name: "its key",
    };
    Ok(tls::server(tls::Versions::Tls13, identity, None)?)
}

/// Accepts connections until `shutdown` turns true. Each connection must pass the gate (or is
/// closed at once), finish its TLS handshake and request head within the request timeout, and
/// carries one request; wrong codes are throttled per source and per grant before the code is
/// even looked at.
pub(crate) async fn serve<S: GrantStore>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<GrantContext<S>>,
    defences: Arc<Defences>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(target: "grant server", "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let permit = match defences.gate.admit(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                defences.gate.refused(peer, &why);
                drop(tcp);
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ctx = ctx.clone();
        let defences = defences.clone();
        tokio::spawn(async move {
            let permit = Arc::new(permit);
            let started = tokio::time::Instant::now();
            let deadline = defences.request_timeout;
            let handshake = tokio::select! {
                r = tokio::time::timeout(deadline, acceptor.accept(tcp)) => r,
                _ = permit.evicted() => return,
            };
            let tls = match handshake {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    tracing::warn!(target: "grant server", "TLS handshake with {peer} failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            let head_time = deadline.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
            let in_service = permit.clone();
            let service = hyper::service::service_fn(move |req| {
                // The request head arrived: this connection is no longer a slow client.
                in_service.authenticated();
                let ctx = ctx.clone();
                let defences = defences.clone();
                async move { Ok::<_, Infallible>(guarded(ctx, &defences, peer, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(head_time)
                .keep_alive(false)
                .serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn) => {}
                _ = permit.evicted() => {}
            }
        });
    }
}

/// [`handle`] behind the wrong-code throttle of `defences`: refuses throttled sources and
/// locked grants, counts wrong codes and unknown grants, and logs each with the peer address.
async fn guarded<S: GrantStore>(
    ctx: Arc<GrantContext<S>>,
    defences: &Defences,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return handle(ctx, req).await;
    }
    let key = req.uri().path().trim_start_matches('/').to_string();
    let guesses = &defences.guesses;
    if let Err(refusal) = guesses.check(peer.ip(), &key, std::time::Instant::now()) {
        if let Refusal::Locked { .. } = refusal {
            tracing::warn!(target: "grant server", "refused a redemption of {key:?} from {peer}: {refusal}");
        }
        let mut r = text(refusal.http_status(), &refusal.body());
        if let Refusal::Throttled { retry_after } = refusal {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from(retry_after));
        }
        return r;
    }
    let response = handle(ctx, req).await;
    let now = std::time::Instant::now();
    match response.status().as_u16() {
        403 => {
            let strike = guesses.wrong(peer.ip(), Some(&key), now);
            let lock_after = guesses.config().lock_after;
            tracing::warn!(
                target: "grant server",
                "wrong code for grant {key:?} from {peer} ({} of {lock_after} before it locks)",
                strike.grant_wrong
            );
            if strike.locked {
                tracing::warn!(
                    target: "grant server",
                    "grant {key:?} locked after {} wrong codes; it redeems nothing until the site restarts; \
                     issue a new token",
                    strike.grant_wrong
                );
            }
        }
        404 => {
            guesses.wrong(peer.ip(), None, now);
            tracing::info!(target: "grant server", "unknown grant {key:?} asked for by {peer}");
        }
        200 => guesses.redeemed(peer.ip()),
        _ => {}
    }
    response
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Answers one request.
pub(crate) async fn handle<S: GrantStore>(ctx: Arc<GrantContext<S>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return text(405, "Only POST is supported");
    }
    let key = req.uri().path().trim_start_matches('/').to_string();
    let name = header(&req, "name");
    let subject = header(&req, "subject");
    // A body that trickles in would hold the connection: it gets the head's deadline again.
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, Limited::new(req.into_body(), MAX_BODY).collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return text(413, "Request body too large"),
        Ok(Err(_)) => return text(400, "Request body not valid"),
        Err(_) => return text(408, "Request body not received in time"),
    };
    let Ok(code) = String::from_utf8(body.to_vec()) else { return text(400, "Request body not valid") };
    match redeem(&ctx, &key, &code, name, subject).await {
        (200, body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut()
                .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/yaml"));
            r
        }
        (status, body) => text(status, &body),
    }
}

fn yaml(r: Resource) -> anyhow::Result<String> {
    crate::platform::resources::resource_yaml(&r)
}

/// The redemption itself, serialised by the context lock: read, check, issue, record; a conflict
/// on record starts again from the read.
async fn redeem<S: GrantStore>(
    ctx: &GrantContext<S>,
    key: &str,
    code: &str,
    name: Option<String>,
    subject: Option<String>,
) -> (u16, String) {
    let _guard = ctx.lock.lock().await;
    for _ in 0..CONFLICT_RETRIES {
        match attempt(ctx, key, code, name.clone(), subject.clone()).await {
            Err(StoreError::Conflict) => continue,
            Err(StoreError::Failed(e)) => {
                tracing::warn!(target: "grant server", "{e:#}");
                return (503, "Internal error".into());
            }
            Ok(answer) => return answer,
        }
    }
    tracing::warn!(target: "grant server", "grant {key:?} kept changing during its redemption; giving up");
    (503, "Internal error".into())
}

async fn attempt<S: GrantStore>(
    ctx: &GrantContext<S>,
    key: &str,
    code: &str,
    name: Option<String>,
    subject: Option<String>,
) -> Result<(u16, String), StoreError> {
    let now = (ctx.now)();
    let refuse = |r: Refusal| {
        tracing::warn!(target: "grant server", "refused a redemption of {key:?}: {r}");
        Ok((r.http_status(), r.body()))
    };
    let found = if key.is_empty() { None } else { ctx.store.grant(key).await? };
    let Some(stored) = found else { return refuse(Refusal::Unknown) };
    let grant = &stored.grant;
    let mut state = match GrantState::from_grant(grant) {
        Ok(s) => s,
        Err(r) => return refuse(r),
    };
    if let Err(r) = state.check(code.trim(), now) {
        return refuse(r);
    }
    let site = ctx.store.site().await?;
    let Some(site_resource) = &site.site else {
        return Ok((500, format!("Site not yet defined for {}", ctx.store.namespace())));
    };
    if site_resource.spec.edge {
        return Ok((500, "Edge sites cannot accept incoming links from remote sites".into()));
    }
    if site.endpoints.is_empty() {
        return Ok((500, "No valid endpoints found for site".into()));
    }
    let name = name.unwrap_or_else(|| grant.name().to_string());
    if let Err(e) = skupper_core::names::validate_resource_name(&name) {
        return Ok((400, format!("name header is not a valid resource name: {e}")));
    }
    let subject = subject.unwrap_or_else(|| name.clone());
    // The subject becomes the certificate's CN (X.509 allows at most 64 characters).
    if subject.chars().count() > 64 || subject.chars().any(char::is_control) {
        return Ok((400, "subject header must be at most 64 printable characters".into()));
    }
    let Some(ca) = &site.ca else {
        return Ok((500, "Could not get issuer for requested certificate".into()));
    };
    let client = match certs::issue_client(ca, &subject, certs::DEFAULT_VALIDITY) {
        Ok(c) => c,
        Err(e) => return Ok((500, format!("Could not issue the link certificate: {e:#}"))),
    };
    let secret = Secret::with_data(
        name.clone(),
        SECRET_TYPE_TLS,
        [
            ("tls.crt", client.cert_pem.as_bytes()),
            ("tls.key", client.key_pem.as_bytes()),
            ("ca.crt", client.ca_pem.as_bytes()),
        ],
    );
    let mut body = String::new();
    let docs = std::iter::once(Resource::Secret(secret))
        .chain(super::links_for_grant(&name, &site.endpoints).into_iter().map(Resource::Link));
    for doc in docs {
        match yaml(doc) {
            Ok(y) => {
                body.push_str("---\n");
                body.push_str(&y);
            }
            Err(e) => return Ok((500, format!("Could not encode the response: {e:#}"))),
        }
    }
    // Count the redemption only now that the credential exists (upstream counts first).
    state.commit();
    ctx.store.record(&stored, state.redemptions).await.map_err(|e| match e {
        StoreError::Conflict => StoreError::Conflict,
        StoreError::Failed(e) => {
            StoreError::Failed(e.context(format!("cannot record the redemption of grant {}", grant.name())))
        }
    })?;
    tracing::info!(target: "grant server", "grant {} redeemed by {subject:?} as {name:?} ({}/{})",
            grant.name(),
            state.redemptions,
            state.redemptions_allowed);
    Ok((200, body))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use skupper_core::resources::{Site, SiteSpec};

    use super::redeem as serve_redemption;
    use super::*;
    use crate::grant::limits::Throttling;
    use crate::grant::redeem::{RedeemError, redeem};
    use crate::platform::local::grants::LocalGrantStore;
    use crate::platform::local::{Changes, Home};
    use skupper_core::grant::RedeemFailure;
    use skupper_router::limits::GateConfig;

    struct Fixture {
        base: std::path::PathBuf,
        home: Home,
        server: GrantServer,
        grant: AccessGrant,
        grant_ca: Issued,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    /// Generous limits: what the tests that are not about limits run with.
    fn relaxed() -> Arc<Defences> {
        Defences::new(
            GateConfig { max_total: 64, max_per_source: 64, fds: None },
            REQUEST_TIMEOUT,
            Throttling::default(),
        )
    }

    /// A site "west" with link access, one processed grant, and its grant server on port 0.
    async fn fixture(redemptions: i64) -> Fixture {
        fixture_with(redemptions, relaxed()).await
    }

    async fn fixture_with(redemptions: i64, defences: Arc<Defences>) -> Fixture {
        let base = std::env::temp_dir().join(format!("ks-grant-{}", crate::platform::uuid_v4().expect("uuid")));
        let home = Home::at(base.clone(), "west");
        let site = Site::new("west", SiteSpec { link_access: "default".into(), ..Default::default() });
        let mut c = Changes::default();
        c.put_resource(&home, &Resource::Site(site)).expect("site");
        c.commit().expect("commit");
        let access = home.ensure_access(Some("127.0.0.1"), &[]).expect("access");
        home.site_ca("west").expect("site ca");
        let grant_ca = home.grant_ca().expect("grant ca");
        let now = crate::platform::now_unix();
        let mut grant =
            crate::grant::new_grant("west-g", "uid-1", redemptions, skupper_core::duration::GoDuration::from_secs(600));
        crate::grant::process(&mut grant, &access.grant_url_base(), &grant_ca.cert_pem, now).expect("process");
        let cert = certs::issue_server(&grant_ca, "g", &["127.0.0.1".into()], certs::DEFAULT_VALIDITY).expect("cert");
        let ctx = Arc::new(GrantContext::new(LocalGrantStore::new(home.clone()), crate::platform::now_unix));
        let server = GrantServer::start_with(ctx, "127.0.0.1", 0, &cert, defences).await.expect("start");
        grant.status.url = format!("https://127.0.0.1:{}/uid-1", server.addr.port());
        let mut c = Changes::default();
        c.put_resource(&home, &Resource::AccessGrant(grant.clone())).expect("grant");
        c.commit().expect("commit");
        Fixture { base, home, server, grant, grant_ca }
    }

    fn token(f: &Fixture) -> skupper_core::resources::AccessToken {
        crate::grant::token_for(&f.grant, "west", 0, 0)
    }

    /// A client of the fixture's grant server, trusting its grant CA.
    fn grant_client(f: &Fixture) -> rustls::ClientConfig {
        let check = tls::ServerCheck {
            roots_pem: f.grant_ca.cert_pem.as_bytes(),
            roots_name: "grant CA",
            verify_hostname: true,
        };
        tls::client(tls::Versions::Tls13, check, None).expect("a client of the grant server")
    }

    fn client_tls(f: &Fixture) -> tokio_rustls::TlsConnector {
        let cfg = grant_client(f);
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    }

    /// A TCP connection to the fixture's server from the loopback address `source`.
    async fn tcp_from(f: &Fixture, source: [u8; 4]) -> tokio::net::TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::from((source, 0))).expect("bind a loopback source");
        socket.connect(f.server.addr).await.expect("connect")
    }

    /// Whether the server ends the connection (EOF or reset) within `within`.
    async fn closed_within<S: tokio::io::AsyncRead + Unpin>(s: &mut S, within: Duration) -> bool {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 256];
        let until_closed = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(within, until_closed).await.is_ok()
    }

    /// `POST /uid-1` with `code` from 127.0.0.1: (status, Retry-After, body).
    async fn post_code(f: &Fixture, code: &str) -> (u16, Option<String>, String) {
        let tcp = tokio::net::TcpStream::connect(f.server.addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let tls = client_tls(f).connect(name, tcp).await.expect("tls");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("http");
        tokio::spawn(conn);
        let req = Request::builder()
            .method("POST")
            .uri("/uid-1")
            .header(hyper::header::HOST, "127.0.0.1")
            .body(Full::new(Bytes::from(code.to_string())))
            .expect("request");
        let resp = sender.send_request(req).await.expect("send");
        let status = resp.status().as_u16();
        let retry = resp.headers().get(hyper::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, retry, String::from_utf8_lossy(&body).into_owned())
    }

    /// One raw HTTPS request to the fixture's server: (status, body).
    async fn raw(f: &Fixture, method: &str, body: Vec<u8>) -> (u16, String) {
        let cfg = grant_client(f);
        let tcp = tokio::net::TcpStream::connect(f.server.addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.expect("tls");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("http");
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri("/uid-1")
            .header(hyper::header::HOST, "127.0.0.1")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let resp = sender.send_request(req).await.expect("send");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn redemptions(f: &Fixture) -> i64 {
        match crate::platform::local::read_resource_file(&f.home.resource_path(AccessGrant::KIND, "west-g")) {
            Ok(Resource::AccessGrant(g)) => g.status.redemptions,
            other => panic!("grant file: {other:?}"),
        }
    }

    #[tokio::test]
    async fn redemption_issues_credentials_and_counts_once() {
        let f = fixture(1).await;
        let got = redeem(&token(&f), "east-site-id", Duration::from_secs(10)).await.expect("redeemed");
        assert_eq!(got.secret.name(), "west-g");
        let site_ca = f.home.site_ca("west").expect("site ca");
        assert_eq!(got.secret.get_str("ca.crt").expect("ca"), Some(site_ca.cert_pem));
        assert_eq!(got.links.len(), 1);
        assert_eq!(got.links[0].spec.tls_credentials, "west-g");
        assert_eq!(got.links[0].spec.endpoints[0].host, "127.0.0.1");
        assert_eq!(redemptions(&f), 1);
        let again = redeem(&token(&f), "x", Duration::from_secs(10)).await.expect_err("used up");
        assert!(matches!(again, RedeemError::Refused(skupper_core::grant::RedeemFailure::UsedUp { .. })), "{again}");
        assert_eq!(redemptions(&f), 1, "a refusal does not count");
    }

    #[tokio::test]
    async fn wrong_method_and_oversized_body_are_refused() {
        let f = fixture(1).await;
        assert_eq!(raw(&f, "GET", Vec::new()).await, (405, "Only POST is supported\n".into()));
        let (status, body) = raw(&f, "POST", vec![b'a'; MAX_BODY + 1]).await;
        assert_eq!((status, body.as_str()), (413, "Request body too large\n"));
        let (status, body) = raw(&f, "POST", b"not the code".to_vec()).await;
        assert_eq!((status, body.as_str()), (403, "Redemption of access token refused\n"));
        assert_eq!(redemptions(&f), 0);
    }

    #[tokio::test]
    async fn nothing_is_handed_out_when_the_redemption_cannot_be_recorded() {
        let f = fixture(1).await;
        // Keep the grant under another file name and put a directory where the server records it.
        let path = f.home.resource_path(AccessGrant::KIND, "west-g");
        std::fs::rename(&path, f.home.resource_path(AccessGrant::KIND, "moved")).expect("move");
        std::fs::create_dir(&path).expect("dir in the way");
        let (status, body) = raw(&f, "POST", f.grant.status.code.clone().into_bytes()).await;
        assert_eq!((status, body.as_str()), (503, "Internal error\n"));
    }

    /// A grant store in memory whose every write bumps a version, like the API server's
    /// resourceVersion; `stale_records` writes are answered with a conflict first, as when
    /// someone else changed the grant.
    struct MemStore {
        grant: std::sync::Mutex<(AccessGrant, u64)>,
        site: GrantSite,
        stale_records: std::sync::atomic::AtomicUsize,
    }

    /// A processed grant `west-g` (uid `uid-1`) of `uses` redemptions in a [`MemStore`] whose
    /// first `stale` records conflict; with its code.
    fn mem_store(uses: i64, stale: usize) -> (MemStore, String) {
        let ca = certs::new_ca("west site CA", certs::DEFAULT_VALIDITY).expect("ca");
        let site = Site::new("west", SiteSpec { link_access: "default".into(), ..Default::default() });
        let endpoint = skupper_core::resources::Endpoint {
            name: "inter-router".into(),
            host: "127.0.0.1".into(),
            port: "55671".into(),
            group: "skupper-router".into(),
        };
        let mut grant =
            crate::grant::new_grant("west-g", "uid-1", uses, skupper_core::duration::GoDuration::from_secs(600));
        crate::grant::process(&mut grant, "https://127.0.0.1:9090", "CA", crate::platform::now_unix())
            .expect("process");
        let code = grant.status.code.clone();
        let store = MemStore {
            grant: std::sync::Mutex::new((grant, 1)),
            site: GrantSite { site: Some(site), endpoints: vec![endpoint], ca: Some(ca) },
            stale_records: std::sync::atomic::AtomicUsize::new(stale),
        };
        (store, code)
    }

    impl GrantStore for MemStore {
        fn namespace(&self) -> &str {
            "mem"
        }
        async fn grant(&self, uid: &str) -> Result<Option<StoredGrant>, StoreError> {
            tokio::task::yield_now().await;
            let (g, v) = self.grant.lock().expect("lock").clone();
            Ok((g.metadata.uid.as_deref() == Some(uid)).then(|| StoredGrant { grant: g, version: v.to_string() }))
        }
        async fn site(&self) -> Result<GrantSite, StoreError> {
            tokio::task::yield_now().await;
            Ok(self.site.clone())
        }
        async fn record(&self, stored: &StoredGrant, redemptions: i64) -> Result<(), StoreError> {
            tokio::task::yield_now().await;
            let mut cur = self.grant.lock().expect("lock");
            let stale = self
                .stale_records
                .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                    n.checked_sub(1)
                })
                .is_ok();
            if stale {
                cur.1 += 1; // someone else wrote the grant meanwhile
            }
            if cur.1.to_string() != stored.version {
                return Err(StoreError::Conflict);
            }
            cur.0.status.redemptions = redemptions;
            cur.1 += 1;
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_redemptions_of_a_three_use_grant_through_two_servers_count_exactly_three() {
        let (store, code) = mem_store(3, 2);
        let store = Arc::new(store);
        // Two servers over one store (a stray second controller): each serialises its own
        // redemptions, only the store's versions keep them apart.
        struct Shared(Arc<MemStore>);
        impl GrantStore for Shared {
            fn namespace(&self) -> &str {
                self.0.namespace()
            }
            fn grant(&self, uid: &str) -> impl Future<Output = Result<Option<StoredGrant>, StoreError>> + Send {
                self.0.grant(uid)
            }
            fn site(&self) -> impl Future<Output = Result<GrantSite, StoreError>> + Send {
                self.0.site()
            }
            fn record(&self, g: &StoredGrant, n: i64) -> impl Future<Output = Result<(), StoreError>> + Send {
                self.0.record(g, n)
            }
        }
        let servers = [
            Arc::new(GrantContext::new(Shared(store.clone()), crate::platform::now_unix)),
            Arc::new(GrantContext::new(Shared(store.clone()), crate::platform::now_unix)),
        ];
        let mut tasks = Vec::new();
        for i in 0..200 {
            let ctx = servers[i % 2].clone();
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                serve_redemption(&ctx, "uid-1", &code, Some(format!("east-{i}")), None).await
            }));
        }
        let mut statuses = std::collections::BTreeMap::new();
        for t in tasks {
            let (status, _) = t.await.expect("task");
            *statuses.entry(status).or_insert(0) += 1;
        }
        assert_eq!(statuses.get(&200), Some(&3), "{statuses:?}");
        assert_eq!(statuses.get(&410), Some(&197), "used up: {statuses:?}");
        assert_eq!(store.grant.lock().expect("lock").0.status.redemptions, 3);
    }

    #[tokio::test]
    async fn a_redemption_outlasts_as_many_conflicts_as_a_busy_grant_produces() {
        // Ten writes by others between this redemption's read and its record (a three-use grant
        // redeemed through two servers can produce five; status writes add more).
        let (store, code) = mem_store(1, 10);
        let ctx = GrantContext::new(store, crate::platform::now_unix);
        let (status, _) = serve_redemption(&ctx, "uid-1", &code, Some("east".into()), None).await;
        assert_eq!(status, 200);
        assert_eq!(ctx.store.grant.lock().expect("lock").0.status.redemptions, 1);
    }

    #[tokio::test]
    async fn connections_beyond_the_caps_are_closed_and_a_redemption_still_goes_through() {
        // A long request deadline: whatever closes connections here is the caps.
        let caps = GateConfig { max_total: 6, max_per_source: 3, fds: None };
        let f = fixture_with(1, Defences::new(caps, Duration::from_secs(60), Throttling::default())).await;
        let mut hog = Vec::new();
        for _ in 0..3 {
            hog.push(tcp_from(&f, [127, 0, 0, 2]).await);
        }
        let mut fourth = tcp_from(&f, [127, 0, 0, 2]).await;
        assert!(closed_within(&mut fourth, Duration::from_secs(10)).await, "the per-source cap closes it at once");
        let mut others = Vec::new();
        for _ in 0..3 {
            others.push(tcp_from(&f, [127, 0, 0, 3]).await);
        }
        // The gate is full of silent clients; a real redemption makes room (evicting the oldest
        // silent connection of the busiest source) and succeeds.
        let got = redeem(&token(&f), "east", Duration::from_secs(20)).await.expect("redeemed while full");
        assert_eq!(got.links.len(), 1);
        let mut evicted = 0;
        for s in hog.iter_mut().chain(others.iter_mut()) {
            if closed_within(s, Duration::from_millis(200)).await {
                evicted += 1;
            }
        }
        assert_eq!(evicted, 1, "exactly one silent connection made room");
    }

    #[tokio::test]
    async fn silent_and_half_sent_requests_are_cut_off_at_the_deadline() {
        let caps = GateConfig { max_total: 64, max_per_source: 64, fds: None };
        let f = fixture_with(1, Defences::new(caps, Duration::from_millis(500), Throttling::default())).await;
        let mut silent = tcp_from(&f, [127, 0, 0, 2]).await;
        let tcp = tcp_from(&f, [127, 0, 0, 2]).await;
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let mut tls = client_tls(&f).connect(name, tcp).await.expect("tls");
        use tokio::io::AsyncWriteExt as _;
        tls.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\n").await.expect("half a head");
        tls.flush().await.expect("flush");
        // Upstream (and this server before) held both for 60 s.
        assert!(closed_within(&mut silent, Duration::from_secs(10)).await, "no handshake: closed");
        assert!(closed_within(&mut tls, Duration::from_secs(10)).await, "no complete head: closed");
        // The server still answers.
        assert_eq!(raw(&f, "GET", Vec::new()).await.0, 405);
    }

    #[tokio::test]
    async fn wrong_codes_are_throttled_with_retry_after() {
        let caps = GateConfig { max_total: 64, max_per_source: 64, fds: None };
        // The default policy, with a first wait long enough for a loaded machine.
        let slow = Throttling { first_wait: Duration::from_secs(5), ..Throttling::default() };
        let f = fixture_with(1, Defences::new(caps, REQUEST_TIMEOUT, slow)).await;
        for _ in 0..3 {
            let (status, retry, _) = post_code(&f, "AAAAAAAAAAAAAAAAAAAAAAAA").await;
            assert_eq!((status, retry), (403, None));
        }
        // The grant has seen three wrong codes: the next attempt waits, right code or not.
        let (status, retry, body) = post_code(&f, &f.grant.status.code).await;
        assert_eq!(status, 429, "{body}");
        let secs: u64 = retry.expect("Retry-After").parse().expect("seconds");
        assert!((1..=5).contains(&secs), "{secs}");
        assert!(body.starts_with("Too many wrong codes: retry after "), "{body}");
        let err = redeem(&token(&f), "east", Duration::from_secs(10)).await.expect_err("throttled");
        assert!(matches!(&err, RedeemError::Refused(failure) if failure.is_retryable()), "{err}");
        tokio::time::sleep(Duration::from_millis(5_100)).await;
        redeem(&token(&f), "east", Duration::from_secs(10)).await.expect("the right code works after the wait");
    }

    #[tokio::test]
    async fn a_grant_is_locked_after_ten_wrong_codes() {
        let caps = GateConfig { max_total: 64, max_per_source: 64, fds: None };
        let fast = Throttling { first_wait: Duration::ZERO, ..Throttling::default() };
        let f = fixture_with(1, Defences::new(caps, REQUEST_TIMEOUT, fast)).await;
        for _ in 0..10 {
            assert_eq!(post_code(&f, "AAAAAAAAAAAAAAAAAAAAAAAA").await.0, 403);
        }
        let (status, _, body) = post_code(&f, &f.grant.status.code).await;
        assert_eq!(status, 423, "{body}");
        let err = redeem(&token(&f), "east", Duration::from_secs(10)).await.expect_err("locked");
        assert!(matches!(err, RedeemError::Refused(RedeemFailure::Locked { wrong_codes: Some(10) })), "{err}");
        assert!(err.to_string().contains("token issue"), "says what to do: {err}");
        assert_eq!(redemptions(&f), 0);
    }
}
