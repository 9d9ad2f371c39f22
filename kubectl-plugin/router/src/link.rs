//! Links: the dialer of each outgoing link (direct or through a proxy, reconnecting forever
//! with backoff) and the acceptor of the link-access ports. Both end in a [`session`].

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use tokio_util::sync::CancellationToken;

use super::lanes::{self, Plan};
use super::log::{Throttle, log};
use super::net::{ConnectError, authority, connect_tcp};
use super::proxy::ProxyError;
use super::state::{Origin, Shared};
use super::{backoff, mux, proxy, session, tls};
use crate::model::{LinkAccessConfig, LinkConfig, LinkPhase};
use tracing::Instrument as _;

use crate::error::describe;
use crate::limits::Permit;

/// Time to resolve and connect (to the endpoint or the proxy, and for the CONNECT exchange).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the TLS handshake of a link this site dials.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt to connect an outgoing link failed: the texts are the link's status message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// The link's client certificate, key or CA is unusable (in the words of [`tls`]).
    #[error("invalid TLS credentials for the link: {0}")]
    Credentials(String),
    /// The link's host is not a valid TLS server name (in the words of [`tls`]).
    #[error("{0}")]
    ServerName(String),
    /// No TCP connection to the link's endpoint.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// No tunnel through the link's proxy.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The TLS handshake failed: `text` says why and what to change.
    #[error("{text}")]
    Handshake {
        /// The failure in words.
        text: String,
        /// The handshake's error.
        #[source]
        source: io::Error,
    },
    /// No TLS handshake within [`HANDSHAKE_TIMEOUT`].
    #[error("timed out in the TLS handshake with {addr}{}", if *proxied { " behind the proxy" } else { "" })]
    HandshakeTimeout {
        /// The endpoint, `host:port`.
        addr: String,
        /// Whether the link goes through a proxy.
        proxied: bool,
    },
}

/// Why the link-access ports could not be opened: the texts are the status's
/// `link_access_error`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccessError {
    /// The server certificate, key or CA is unusable (in the words of [`tls`]).
    #[error("invalid link access TLS credentials: {0}")]
    Credentials(String),
    /// A port could not be bound.
    #[error("cannot listen for links on {addr}: {source}; free the port or choose another one in the RouterAccess")]
    Bind {
        /// `host:port`.
        addr: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// Keeps one outgoing link connected until `token` is cancelled or the link's generation is
/// replaced.
pub(crate) async fn run_link(shared: Arc<Shared>, name: String, generation: u64, token: CancellationToken) {
    let mut attempt = 0u32;
    let mut throttle = Throttle::default();
    loop {
        let Some(cfg) = shared.link_config(&name, generation) else { return };
        if let Some(err) = &cfg.config_error {
            shared.set_link_state(&name, generation, LinkPhase::Error, err);
            log!("link {name}: {err}");
            token.cancelled().await;
            return;
        }
        let outcome = tokio::select! {
            r = dial(&shared, &name, generation, &cfg, &token) => r,
            _ = token.cancelled() => return,
        };
        let message = match outcome {
            Ok(end) if end.ready => {
                attempt = 0;
                throttle.reset();
                format!("link lost: {}; reconnecting", end.error)
            }
            Ok(end) => end.error,
            Err(e) => e.to_string(),
        };
        if token.is_cancelled() {
            return;
        }
        shared.set_link_state(&name, generation, LinkPhase::Error, &message);
        throttle.log(&format!("link {name}: {message}"));
        let policy = shared.lock().backoff;
        let delay = backoff::delay(policy, attempt, backoff::random());
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = token.cancelled() => return,
        }
    }
}

/// One attempt: connect, handshake, run the session until it ends.
async fn dial(
    shared: &Arc<Shared>,
    name: &str,
    generation: u64,
    cfg: &LinkConfig,
    token: &CancellationToken,
) -> Result<session::SessionEnd, LinkError> {
    let client = tls::client_config(&cfg.tls).map_err(|e| LinkError::Credentials(describe(&e)))?;
    let server_name = tls::server_name(&cfg.host).map_err(|e| LinkError::ServerName(e.to_string()))?;
    let parts = connect(cfg, TlsConnector::from(client.clone()), server_name.clone()).await?;
    // Data connections go the same way as the first: same address, proxy and certificate.
    let plan = match shared.link_connections.saturating_sub(1) {
        0 => Plan::None,
        extra => {
            let cfg = Arc::new(cfg.clone());
            let connector = TlsConnector::from(client);
            let dial: lanes::Dialer = Arc::new(move || {
                let (cfg, connector, server_name) = (cfg.clone(), connector.clone(), server_name.clone());
                Box::pin(async move { connect(&cfg, connector, server_name).await.map_err(Into::into) })
            });
            Plan::Dial { extra, dial }
        }
    };
    let origin = Origin::Link { name: name.to_string(), generation };
    Ok(session::run(shared.clone(), parts, origin, Some(cfg.host.clone()), token.child_token(), plan).await)
}

/// Connects to the link's endpoint (through its proxy, if any) and does the TLS handshake.
async fn connect(
    cfg: &LinkConfig,
    connector: TlsConnector,
    server_name: rustls_pki_types::ServerName<'static>,
) -> Result<mux::Parts, LinkError> {
    let tcp = match &cfg.proxy {
        None => connect_tcp(&cfg.host, cfg.port, CONNECT_TIMEOUT).await?,
        Some((secret, p)) => proxy::connect(p, secret, &cfg.host, cfg.port, CONNECT_TIMEOUT).await?,
    };
    let addr = authority(&cfg.host, cfg.port);
    let tcp = BufReader::with_capacity(session::IO_BUFFER, tcp);
    let handshake = connector.connect(server_name, tcp);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(s)) => Ok(mux::parts(TlsStream::Client(s))),
        Ok(Err(source)) => {
            let text = describe_handshake(&source, &cfg.host, &addr, cfg.proxy.is_some());
            Err(LinkError::Handshake { text, source })
        }
        Err(_) => Err(LinkError::HandshakeTimeout { addr, proxied: cfg.proxy.is_some() }),
    }
}

fn describe_handshake(e: &io::Error, host: &str, addr: &str, proxied: bool) -> String {
    if let Some(t) = tls::rustls_error(e) {
        let text = tls::describe_client_error(t, host);
        // The proxy relays bytes only: a TLS failure is between this site and the remote one.
        return if proxied {
            text.replacen("TLS handshake failed", "TLS handshake failed behind the proxy", 1)
        } else {
            text
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe if proxied => {
            format!("proxy closed the tunnel to {addr} before the TLS handshake finished")
        }
        _ if proxied => format!("TLS handshake failed behind the proxy: {e}"),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            format!("{addr} closed the connection during the TLS handshake; check that it is a link access port")
        }
        _ => format!("TLS handshake with {addr} failed: {e}"),
    }
}

/// The bound link-access ports.
pub(crate) struct Access {
    /// `inter-router` and `edge` listeners (`None`: the role is not listened for).
    pub listeners: [Option<TcpListener>; 2],
    /// Server TLS.
    pub tls: TlsAcceptor,
}

/// Binds the link-access ports.
pub(crate) async fn bind_access(cfg: &LinkAccessConfig) -> Result<Access, AccessError> {
    let server = tls::server_config(&cfg.tls).map_err(|e| AccessError::Credentials(describe(&e)))?;
    let bind = |port: Option<u16>| async move {
        let Some(port) = port else { return Ok(None) };
        let addr = authority(&cfg.bind_host, port);
        TcpListener::bind(&addr).await.map(Some).map_err(|source| AccessError::Bind { addr, source })
    };
    let inter = bind(cfg.inter_router_port).await?;
    let edge = bind(cfg.edge_port).await?;
    Ok(Access { listeners: [inter, edge], tls: TlsAcceptor::from(server) })
}

/// Accepts links on one port until `token` is cancelled; sessions live under `sessions`.
pub(crate) async fn run_acceptor(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: TlsAcceptor,
    token: CancellationToken,
    sessions: CancellationToken,
) {
    // Shared by the connections of this port; messages name the peer's address without its
    // port so that a site retrying with a bad certificate is logged once, not every attempt.
    let throttle = Arc::new(Mutex::new(Throttle::default()));
    let limits = shared.access_limits.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = token.cancelled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                // Anyone can connect: hold no more unauthenticated connections than the caps.
                let permit = match limits.gate.admit(peer.ip()) {
                    Ok(p) => p,
                    Err(why) => {
                        limits.gate.refused(peer, &why);
                        drop(tcp);
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let conn = Incoming { peer, permit, timeout: limits.handshake_timeout };
                let task = incoming(shared.clone(), tcp, conn, tls.clone(), sessions.child_token(), throttle.clone());
                shared.spawn(task.instrument(tracing::info_span!("incoming link", peer = %peer)));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                log_throttled(&throttle, &format!("accepting links failed: {e}"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = token.cancelled() => return,
                }
            }
        }
    }
}

fn log_throttled(throttle: &Mutex<Throttle>, message: &str) {
    throttle.lock().unwrap_or_else(|e| e.into_inner()).log(message);
}

/// An accepted connection of a link-access port, before its handshake.
struct Incoming {
    peer: SocketAddr,
    /// Its place among the unauthenticated connections, released once the handshake is done.
    permit: Permit,
    timeout: Duration,
}

async fn incoming(
    shared: Arc<Shared>,
    tcp: TcpStream,
    conn: Incoming,
    tls: TlsAcceptor,
    token: CancellationToken,
    throttle: Arc<Mutex<Throttle>>,
) {
    let Incoming { peer, permit, timeout } = conn;
    let from = peer.ip();
    let handshake = tls.accept(BufReader::with_capacity(session::IO_BUFFER, tcp)).into_fallible();
    let stream = tokio::select! {
        r = tokio::time::timeout(timeout, handshake) => r,
        _ = permit.evicted() => return,
        _ = token.cancelled() => return,
    };
    let mut stream = match stream {
        Ok(Ok(stream)) => stream,
        Ok(Err((e, tcp))) => {
            log_throttled(&throttle, &format!("link from {from}: {}", tls::describe_server_error(&e)));
            close_gracefully(tcp.into_inner()).await;
            return;
        }
        Err(_) => {
            log_throttled(&throttle, &format!("link from {from}: no TLS handshake within {}ms", timeout.as_millis()));
            return;
        }
    };
    // The first bytes tell a new link from a data connection of an existing one.
    let opening = tokio::select! {
        r = tokio::time::timeout(timeout, read_opening(&mut stream)) => r,
        _ = permit.evicted() => return,
        _ = token.cancelled() => return,
    };
    drop(permit);
    let opening = match opening {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            let why = session::describe_io_error(&e, None);
            log_throttled(&throttle, &format!("incoming link from {from} failed: {why}"));
            return;
        }
        Err(_) => {
            let ms = timeout.as_millis();
            log_throttled(&throttle, &format!("link from {from}: nothing sent within {ms}ms of the TLS handshake"));
            return;
        }
    };
    let mut parts = mux::parts(TlsStream::Server(stream));
    let peer_cert =
        parts.tls.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec()).unwrap_or_default();
    match opening {
        Opening::Session(first) => {
            parts.plain = first;
            let plan = Plan::Accept { peer_cert };
            let end = session::run(shared, parts, Origin::Incoming { peer }, None, token, plan).await;
            if end.ready {
                log!("incoming link from {peer} ended: {}", end.error);
            } else {
                log_throttled(&throttle, &format!("incoming link from {from} failed: {}", end.error));
            }
        }
        Opening::Lane(key) => {
            if let Err(why) = shared.lanes.join(&key, &peer_cert, parts) {
                log_throttled(&throttle, &format!("data connection from {from} refused: {why}"));
            }
        }
    }
}

/// What an incoming connection starts with.
enum Opening {
    /// A new link: the first bytes of its preface.
    Session(Vec<u8>),
    /// A data connection of the link whose session has this key.
    Lane(lanes::Key),
}

async fn read_opening(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> io::Result<Opening> {
    let mut first = vec![0u8; lanes::JOIN.len()];
    stream.read_exact(&mut first).await?;
    if first[..] != lanes::JOIN[..] {
        return Ok(Opening::Session(first));
    }
    let mut key = [0u8; lanes::KEY_LEN];
    stream.read_exact(&mut key).await?;
    Ok(Opening::Lane(key))
}

/// Closes a connection whose handshake we refused so that the peer reads our TLS alert rather
/// than a reset: closing with unread data in the receive buffer would send RST, and the dialer
/// would lose the alert that tells it why.
async fn close_gracefully(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}
