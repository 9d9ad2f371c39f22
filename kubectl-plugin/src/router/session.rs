//! One link's session: yamux over the mutual-TLS connection, the driver task that moves its
//! frames, and the control streams (hello, cost updates, link-state flooding, keep-alive).
//!
//! Why yamux: it is symmetric (both ends open streams over one connection, so a listener on
//! either site can use a link whoever dialed it), every stream has its own flow-control window
//! (a slow consumer stalls only its own stream, and nothing is buffered beyond the windows), and
//! it is well kept and widely used (libp2p).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::poll_fn;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_rustls::TlsStream;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};
use tokio_util::sync::CancellationToken;

use super::proto::{Control, Lsa, MAX_CONTROL_FRAME, MAX_HEADER_FRAME, StreamHeader, read_frame, write_frame};
use super::state::{Origin, Shared};
use super::{service, tls};

/// Streams one connection may carry (both directions together).
const MAX_STREAMS: usize = 4096;
/// Streams this side opens at most: below [`MAX_STREAMS`] with room for the peer's concurrent
/// opens and for closed streams yamux has not reaped yet (going over would kill the connection).
const STREAM_LIMIT: usize = MAX_STREAMS - 512;
/// Receive window of the connection: yamux's 256 KiB minimum per stream plus 256 MiB that busy
/// streams may grow into (auto-tuned towards the bandwidth-delay product, e.g. 16 MiB each).
const CONNECTION_WINDOW: usize = MAX_STREAMS * 256 * 1024 + (256 << 20);
/// Largest frame body: with the 12-byte header, one full TLS record (16 KiB of plaintext).
const SPLIT_SEND_SIZE: usize = IO_BUFFER - 12;
/// Time for the remote hello.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A silent peer is given up after this long; we send a ping after [`PING_INTERVAL`] of silence.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Time for the first frame of an inbound stream.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

fn yamux_config() -> yamux::Config {
    let mut cfg = yamux::Config::default();
    // Window first: yamux asserts window >= 256 KiB * max streams on each setter.
    cfg.set_max_connection_receive_window(Some(CONNECTION_WINDOW));
    cfg.set_max_num_streams(MAX_STREAMS);
    cfg.set_split_send_size(SPLIT_SEND_SIZE);
    cfg
}

/// Control messages waiting to be sent to one peer. Coalescing (one pending LSA per origin,
/// one pending cost) keeps it bounded by the size of the network whatever the peer's speed.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    inner: Mutex<Pending>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Pending {
    cost: Option<u32>,
    lsas: BTreeMap<String, Lsa>,
    ping: bool,
    refuse: Option<String>,
}

impl Outbox {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an LSA unless a newer one of the same site is already queued.
    pub(crate) fn push_lsa(&self, lsa: &Lsa) {
        let mut p = self.pending();
        if p.lsas.get(&lsa.site_id).is_none_or(|q| q.seq < lsa.seq) {
            p.lsas.insert(lsa.site_id.clone(), lsa.clone());
        }
        drop(p);
        self.notify.notify_one();
    }

    /// Queues a cost update.
    pub(crate) fn push_cost(&self, cost: u32) {
        self.pending().cost = Some(cost);
        self.notify.notify_one();
    }

    fn push_ping(&self) {
        self.pending().ping = true;
    }

    fn drain(&self) -> Vec<Control> {
        let mut p = self.pending();
        let mut out = Vec::new();
        if let Some(cost) = p.cost.take() {
            out.push(Control::Cost { cost });
        }
        out.extend(std::mem::take(&mut p.lsas).into_values().map(Control::Lsa));
        if std::mem::take(&mut p.ping) {
            out.push(Control::Ping);
        }
        if let Some(reason) = p.refuse.take() {
            out.push(Control::Refuse { reason });
        }
        out
    }

    /// Queues the last message of the session.
    fn push_refuse(&self, reason: &str) {
        self.pending().refuse = Some(reason.to_string());
        self.notify.notify_one();
    }
}

type OpenRequest = oneshot::Sender<Result<yamux::Stream, yamux::ConnectionError>>;

/// What other tasks hold to use a session: open streams, queue control messages.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Session id.
    pub id: u64,
    opener: mpsc::Sender<OpenRequest>,
    live: Arc<AtomicUsize>,
    /// Control messages for the peer.
    pub outbox: Arc<Outbox>,
}

impl SessionHandle {
    /// Opens a stream to the peer.
    pub(crate) async fn open(&self) -> Result<LinkStream, String> {
        if self.live.load(Ordering::Relaxed) >= STREAM_LIMIT {
            return Err(format!("the link already carries {STREAM_LIMIT} connections"));
        }
        let (tx, rx) = oneshot::channel();
        self.opener.send(tx).await.map_err(|_| "the link closed".to_string())?;
        let stream = rx
            .await
            .map_err(|_| "the link closed".to_string())?
            .map_err(|e| format!("cannot open a stream on the link: {e}"))?;
        Ok(LinkStream::new(stream, self.live.clone()))
    }
}

/// A yamux stream as a tokio I/O object, counted while it lives.
#[derive(Debug)]
pub(crate) struct LinkStream {
    io: Compat<yamux::Stream>,
    live: Arc<AtomicUsize>,
}

impl LinkStream {
    fn new(stream: yamux::Stream, live: Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Self { io: stream.compat(), live }
    }
}

impl Drop for LinkStream {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// How a session ended.
#[derive(Debug)]
pub(crate) struct SessionEnd {
    /// The remote hello had arrived (the link was up).
    pub ready: bool,
    /// Why it ended.
    pub error: String,
}

/// The TLS connection of a link. rustls reads at most 4 KiB per call, so a buffer below it
/// saves most read syscalls on busy links.
pub(crate) type LinkIo = TlsStream<BufReader<TcpStream>>;

/// Size of the read buffer under TLS and of the write buffer above it.
pub(crate) const IO_BUFFER: usize = 64 * 1024;

/// yamux writes a frame as two writes (12-byte header, body); the write buffer above TLS joins
/// them so that a frame becomes one TLS record and one syscall instead of two of each.
type Conn = yamux::Connection<Compat<BufWriter<LinkIo>>>;

/// Moves frames: serves open requests and hands inbound streams to `inbound` until the
/// connection ends.
async fn drive(
    conn: &mut Conn,
    opens: &mut mpsc::Receiver<OpenRequest>,
    mut inbound: impl FnMut(yamux::Stream),
) -> Result<(), yamux::ConnectionError> {
    let mut waiting: Option<OpenRequest> = None;
    let mut opens_closed = false;
    poll_fn(|cx| {
        loop {
            if waiting.is_none() && !opens_closed {
                match opens.poll_recv(cx) {
                    Poll::Ready(Some(req)) if req.is_closed() => continue,
                    Poll::Ready(Some(req)) => waiting = Some(req),
                    Poll::Ready(None) => opens_closed = true,
                    Poll::Pending => {}
                }
            }
            let Some(req) = waiting.take() else { break };
            match conn.poll_new_outbound(cx) {
                Poll::Ready(Ok(stream)) => {
                    let _ = req.send(Ok(stream));
                }
                Poll::Ready(Err(e)) => {
                    let _ = req.send(Err(yamux::ConnectionError::Closed));
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    waiting = Some(req);
                    break;
                }
            }
        }
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => inbound(stream),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// Runs one session until the connection ends or `token` is cancelled. `host` is the dialed
/// host (for messages) when this side dialed.
pub(crate) async fn run(
    shared: Arc<Shared>,
    io: LinkIo,
    origin: Origin,
    host: Option<String>,
    token: CancellationToken,
) -> SessionEnd {
    let mode = match origin {
        Origin::Link { .. } => yamux::Mode::Client,
        Origin::Incoming { .. } => yamux::Mode::Server,
    };
    let io = BufWriter::with_capacity(IO_BUFFER, io);
    let mut conn = yamux::Connection::new(io.compat(), yamux_config(), mode);
    let (opener, mut opens) = mpsc::channel(64);
    let handle = SessionHandle { id: shared.next_id(), opener, live: Arc::default(), outbox: Arc::default() };
    // However this future ends (even dropped by a cancelled caller), the session leaves the
    // network view.
    let _registration = Unregister { shared: shared.clone(), id: handle.id };
    let Some(hello) = shared.hello_for(&origin, &handle) else {
        return SessionEnd { ready: false, error: "the link was removed".into() };
    };
    let (ctrl_tx, ctrl_rx) = oneshot::channel::<LinkStream>();
    let ctrl_tx = Arc::new(Mutex::new(Some(ctrl_tx)));
    let ready = AtomicBool::new(false);

    let inbound = {
        let shared = shared.clone();
        let live = handle.live.clone();
        move |stream: yamux::Stream| {
            let stream = LinkStream::new(stream, live.clone());
            let task = serve_inbound(shared.clone(), stream, ctrl_tx.clone());
            shared.spawn(task);
        }
    };
    let describe = |r: Result<(), yamux::ConnectionError>| match r {
        Ok(()) => "the remote site closed the link".to_string(),
        Err(e) => describe_connection_error(&e, host.as_deref()),
    };
    let (error, close) = {
        let driver = drive(&mut conn, &mut opens, inbound);
        let control = control(&shared, &handle, &origin, hello, ctrl_rx, &ready);
        tokio::pin!(driver, control);
        tokio::select! {
            r = &mut driver => {
                // The peer may have said why it closed: its last control frames are still
                // readable after the connection ended.
                match tokio::time::timeout(Duration::from_millis(500), &mut control).await {
                    Ok(Err(Ended::Refused(e))) => (e, false),
                    _ => (describe(r), false),
                }
            }
            r = &mut control => match r {
                Err(Ended::Refused(e)) => (e, true),
                // A broken control stream is usually the connection failing: let the driver say why.
                Err(Ended::Broken(e)) => match tokio::time::timeout(Duration::from_millis(500), &mut driver).await {
                    Ok(Err(err)) => (describe_connection_error(&err, host.as_deref()), false),
                    _ => (e, true),
                },
            },
            _ = token.cancelled() => ("the link was closed by this site".to_string(), true),
        }
    };
    if close {
        // Send what is queued (a refusal, stream closes) and end TLS properly; bounded.
        let _ = tokio::time::timeout(Duration::from_secs(1), poll_fn(|cx| conn.poll_close(cx))).await;
    }
    SessionEnd { ready: ready.load(Ordering::Relaxed), error }
}

/// Unregisters a session when dropped.
struct Unregister {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.shared.unregister_session(self.id);
    }
}

/// Why the control exchange ended.
#[derive(Debug)]
enum Ended {
    /// This side decided to end the session (refused hello, protocol error, silent peer).
    Refused(String),
    /// A control stream failed or closed: the connection is probably going down.
    Broken(String),
}

/// Both control directions: our stream (hello, then the outbox) and the peer's.
async fn control(
    shared: &Arc<Shared>,
    handle: &SessionHandle,
    origin: &Origin,
    hello: super::proto::Hello,
    ctrl_rx: oneshot::Receiver<LinkStream>,
    ready: &AtomicBool,
) -> Result<Infallible, Ended> {
    let io_err = |e: io::Error| Ended::Broken(format!("control stream failed: {e}"));
    let writer = async {
        let mut s = handle.open().await.map_err(Ended::Broken)?;
        write_frame(&mut s, &StreamHeader::Control).await.map_err(io_err)?;
        write_frame(&mut s, &Control::Hello(hello)).await.map_err(io_err)?;
        s.flush().await.map_err(io_err)?;
        loop {
            tokio::select! {
                _ = handle.outbox.notify.notified() => {}
                _ = tokio::time::sleep(PING_INTERVAL) => handle.outbox.push_ping(),
            }
            let mut refused = None;
            for msg in handle.outbox.drain() {
                write_frame(&mut s, &msg).await.map_err(io_err)?;
                if let Control::Refuse { reason } = msg {
                    refused = Some(reason);
                }
            }
            s.flush().await.map_err(io_err)?;
            if let Some(reason) = refused {
                let _ = s.shutdown().await;
                return Err(Ended::Refused(reason));
            }
        }
    };
    let reader = async {
        let mut s = match tokio::time::timeout(HELLO_TIMEOUT, ctrl_rx).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(Ended::Broken("the link closed before the remote site said hello".into())),
            Err(_) => {
                let e = format!("the remote site did not say hello within {}s", HELLO_TIMEOUT.as_secs());
                return Err(Ended::Refused(e));
            }
        };
        let first = tokio::time::timeout(HELLO_TIMEOUT, read_frame::<_, Control>(&mut s, MAX_CONTROL_FRAME)).await;
        let remote = match first {
            Ok(Ok(Some(Control::Hello(h)))) => h,
            Ok(Ok(Some(Control::Refuse { reason }))) => {
                return Err(Ended::Refused(format!("the remote site refused the link: {reason}")));
            }
            Ok(Ok(Some(_))) => {
                return Err(Ended::Refused("protocol error: the remote site did not start with a hello".into()));
            }
            Ok(Ok(None)) => return Err(Ended::Broken("the remote site closed the link before saying hello".into())),
            Ok(Err(e)) => return Err(Ended::Broken(format!("reading the remote hello failed: {e}"))),
            Err(_) => {
                let e = format!("the remote site did not say hello within {}s", HELLO_TIMEOUT.as_secs());
                return Err(Ended::Refused(e));
            }
        };
        shared.register_session(handle, origin, remote).map_err(Ended::Refused)?;
        ready.store(true, Ordering::Relaxed);
        loop {
            match tokio::time::timeout(IDLE_TIMEOUT, read_frame::<_, Control>(&mut s, MAX_CONTROL_FRAME)).await {
                Ok(Ok(Some(msg))) => shared.on_control(handle.id, msg).map_err(Ended::Refused)?,
                Ok(Ok(None)) => return Err(Ended::Broken("the remote site closed the link".into())),
                Ok(Err(e)) => return Err(io_err(e)),
                Err(_) => {
                    return Err(Ended::Refused(format!(
                        "the remote site sent nothing for {}s",
                        IDLE_TIMEOUT.as_secs()
                    )));
                }
            }
        }
    };
    tokio::pin!(writer, reader);
    tokio::select! {
        r = &mut writer => r,
        r = &mut reader => {
            // Tell the peer why before going (bounded: the peer may be the problem).
            if let Err(Ended::Refused(reason)) = &r
                && !reason.starts_with("the remote site refused")
            {
                handle.outbox.push_refuse(reason);
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut writer).await;
            }
            r
        }
    }
}

/// Reads the header of a stream the peer opened and dispatches it.
async fn serve_inbound(
    shared: Arc<Shared>,
    mut stream: LinkStream,
    ctrl: Arc<Mutex<Option<oneshot::Sender<LinkStream>>>>,
) {
    let header = tokio::time::timeout(HEADER_TIMEOUT, read_frame::<_, StreamHeader>(&mut stream, MAX_HEADER_FRAME));
    match header.await {
        Ok(Ok(Some(StreamHeader::Control))) => {
            let tx = ctrl.lock().unwrap_or_else(|e| e.into_inner()).take();
            // A second control stream is a protocol error; dropping it resets it.
            if let Some(tx) = tx {
                let _ = tx.send(stream);
            }
        }
        Ok(Ok(Some(StreamHeader::Data(h)))) => service::serve_stream(shared, stream, h).await,
        _ => {}
    }
}

/// Why a link connection failed, in words. `host` is set on the dialing side.
pub(crate) fn describe_connection_error(e: &yamux::ConnectionError, host: Option<&str>) -> String {
    let io = match e {
        yamux::ConnectionError::Io(io) => io,
        yamux::ConnectionError::Decode(yamux::FrameDecodeError::Io(io)) => io,
        yamux::ConnectionError::Closed => return "the remote site closed the link".into(),
        other => return format!("link protocol error: {other}"),
    };
    describe_io_error(io, host)
}

/// Why a link connection failed, from an I/O error (possibly carrying a TLS error).
pub(crate) fn describe_io_error(io: &io::Error, host: Option<&str>) -> String {
    if let Some(tls_err) = tls::rustls_error(io) {
        return match host {
            Some(h) => tls::describe_client_error(tls_err, h),
            None => tls::describe_server_error(io),
        };
    }
    match io.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            "the remote site closed the connection".into()
        }
        _ => format!("link connection failed: {io}"),
    }
}
