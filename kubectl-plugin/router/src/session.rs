//! One link's session: the multiplexed mutual-TLS connection ([`super::mux`]), the task that
//! drives it, and the control streams (hello, cost updates, link-state flooding, keep-alive).

use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lanes::{self, Plan};
use super::log::log;
use super::mux::{self, Role};
use super::peer::{LinkStream, SessionHandle};
use super::proto::{Control, MAX_CONTROL_FRAME, MAX_HEADER_FRAME, StreamHeader, read_frame, write_frame};
use super::state::{Origin, Shared};
use super::tls;

/// Time for the remote hello.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the first frame of an inbound stream.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How a session ended.
#[derive(Debug)]
pub(crate) struct SessionEnd {
    /// The remote hello had arrived (the link was up).
    pub ready: bool,
    /// Why it ended.
    pub error: String,
}

/// Size of the read buffer under the TLS handshake. rustls reads at most 4 KiB per call, so
/// a buffer below it saves most read syscalls of the handshake; afterwards the multiplexer
/// reads the socket itself.
pub(crate) const IO_BUFFER: usize = 16 * 1024;

/// Runs one session until the connection ends or `token` is cancelled. `host` is the dialed
/// host (for messages) when this side dialed; `plan` says how it gets data connections.
pub(crate) async fn run(
    shared: Arc<Shared>,
    parts: mux::Parts,
    origin: Origin,
    host: Option<String>,
    token: CancellationToken,
    plan: Plan,
) -> SessionEnd {
    let role = match origin {
        Origin::Link { .. } => Role::Dialer,
        Origin::Incoming { .. } => Role::Acceptor,
    };
    let (ctrl_tx, ctrl_rx) = oneshot::channel::<LinkStream>();
    let (mux, driver) = mux::start(parts, role, inbound(&shared, Some(ctrl_tx)));
    let handle =
        SessionHandle { id: shared.next_id(), mux: mux.clone(), lanes: Arc::default(), outbox: Arc::default() };
    // However this future ends (even dropped by a cancelled caller), the session leaves the
    // network view.
    let _registration = Unregister { shared: shared.clone(), id: handle.id };
    let Some(mut hello) = shared.hello_for(&origin, &handle) else {
        return SessionEnd { ready: false, error: "the link was removed".into() };
    };
    // Data connections: the accepting side offers a key, the dialing side uses it.
    let (mut joins, _joins_registration, dialer) = match plan {
        Plan::Accept { peer_cert } => match shared.lanes.register(peer_cert) {
            Some((key, rx, registration)) => {
                hello.lane_key = Some(lanes::key_text(&key));
                (Some(rx), Some(registration), None)
            }
            None => (None, None, None),
        },
        Plan::Dial { extra, dial } => (None, None, Some((extra, dial))),
        Plan::None => (None, None, None),
    };
    let (key_tx, mut key_rx) = oneshot::channel::<Option<String>>();
    let mut key_seen = false;
    let mut lane_tasks: JoinSet<LaneEnd> = JoinSet::new();
    let ready = AtomicBool::new(false);

    let describe = |r: io::Result<()>| match r {
        Ok(()) => "the remote site closed the link".to_string(),
        Err(e) => describe_io_error(&e, host.as_deref()),
    };
    tokio::pin!(driver);
    let control = control(&shared, &handle, &origin, hello, ctrl_rx, &ready, key_tx);
    tokio::pin!(control);
    let (error, close) = loop {
        tokio::select! {
            r = &mut driver => {
                // The peer may have said why it closed: its last control frames are still
                // readable after the connection ended.
                break match tokio::time::timeout(Duration::from_millis(500), &mut control).await {
                    Ok(Err(Ended::Refused(e))) => (e, false),
                    _ => (describe(r), false),
                };
            }
            r = &mut control => break match r {
                Err(Ended::Refused(e)) => (e, true),
                // A broken control stream is usually the connection failing: let the driver say why.
                Err(Ended::Broken(e)) => match tokio::time::timeout(Duration::from_millis(500), &mut driver).await {
                    Ok(Err(err)) => (describe_io_error(&err, host.as_deref()), false),
                    _ => (e, true),
                },
            },
            _ = token.cancelled() => break ("the link was closed by this site".to_string(), true),
            key = &mut key_rx, if !key_seen => {
                key_seen = true;
                let key = key.ok().flatten().as_deref().and_then(lanes::parse_key);
                if let (Some(key), Some((extra, dial))) = (key, &dialer) {
                    for _ in 0..*extra {
                        lane_tasks.spawn(dial_lane(shared.clone(), handle.clone(), dial.clone(), key));
                    }
                }
            }
            parts = async { match joins.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            } } => match parts {
                Some(parts) => {
                    lane_tasks.spawn(run_lane(shared.clone(), handle.clone(), parts, Role::Acceptor));
                }
                None => joins = None,
            },
            Some(end) = lane_tasks.join_next(), if !lane_tasks.is_empty() => match end {
                Ok(LaneEnd::NotOpened(why)) => {
                    let n = plural(handle.lanes.count());
                    log!("a data connection of the link could not be opened: {why}; the link carries on with {n}");
                }
                // Cleanly closed: the peer is closing the link (its first connection says why).
                Ok(LaneEnd::Ended(Ok(()))) => break (describe(Ok(())), true),
                Ok(LaneEnd::Ended(Err(e))) => break (format!("a data connection of the link failed: {}", describe(Err(e))), true),
                // Aborted or panicked: the connection it drove is gone.
                Err(e) => break (format!("a data connection of the link failed: {e}"), true),
            },
        }
    };
    if close {
        // Send what is queued (a refusal, stream closes) and end TLS properly; bounded.
        mux.close();
        for lane in handle.lanes.all() {
            lane.close();
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = (&mut driver).await;
            while lane_tasks.join_next().await.is_some() {}
        })
        .await;
    }
    SessionEnd { ready: ready.load(Ordering::Relaxed), error }
}

fn plural(connections: usize) -> String {
    if connections == 1 { "1 connection".into() } else { format!("{connections} connections") }
}

/// What becomes of the streams the peer opens on a connection of a session: the first
/// connection's first stream may be the control stream, every other stream is data.
fn inbound(shared: &Arc<Shared>, ctrl: Option<oneshot::Sender<LinkStream>>) -> impl FnMut(LinkStream) + Send + use<> {
    let shared = shared.clone();
    let ctrl = Arc::new(Mutex::new(ctrl));
    move |stream: LinkStream| {
        let task = serve_inbound(shared.clone(), stream, ctrl.clone());
        shared.spawn(task);
    }
}

/// How a data connection ended.
enum LaneEnd {
    /// It could not be dialed: the session carries on without it.
    NotOpened(String),
    /// It ran and ended (the session ends with it).
    Ended(io::Result<()>),
}

/// Dials one data connection of an outgoing link and runs it.
async fn dial_lane(shared: Arc<Shared>, handle: SessionHandle, dial: lanes::Dialer, key: lanes::Key) -> LaneEnd {
    let mut parts = match dial().await {
        Ok(p) => p,
        Err(e) => return LaneEnd::NotOpened(e.to_string()),
    };
    parts.opening = lanes::opening(&key);
    run_lane(shared, handle, parts, Role::Dialer).await
}

/// Runs a data connection of the session until it ends.
async fn run_lane(shared: Arc<Shared>, handle: SessionHandle, parts: mux::Parts, role: Role) -> LaneEnd {
    let (mux, driver) = mux::start(parts, role, inbound(&shared, None));
    handle.lanes.add(mux);
    LaneEnd::Ended(driver.await)
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
    lane_key: oneshot::Sender<Option<String>>,
) -> Result<Infallible, Ended> {
    let io_err = |e: io::Error| Ended::Broken(format!("control stream failed: {e}"));
    let keepalive = shared.lock().keepalive;
    let writer = async {
        let mut s = handle.open().map_err(|e| Ended::Broken(e.to_string()))?;
        write_frame(&mut s, &StreamHeader::Control).await.map_err(io_err)?;
        write_frame(&mut s, &Control::Hello(hello)).await.map_err(io_err)?;
        s.flush().await.map_err(io_err)?;
        loop {
            tokio::select! {
                _ = handle.outbox.notify.notified() => {}
                _ = tokio::time::sleep(keepalive.tick()) => {
                    // Nothing sent for a while (data included): tell the peer we are alive.
                    if handle.mux.since_sent() >= keepalive.ping_every {
                        handle.outbox.push_ping();
                    }
                }
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
        let dead_after = keepalive.dead_after_for(remote.keepalive_ms);
        let key = remote.lane_key.clone();
        shared.register_session(handle, origin, remote).map_err(|e| Ended::Refused(e.to_string()))?;
        ready.store(true, Ordering::Relaxed);
        let _ = lane_key.send(key);
        let frames = async {
            loop {
                match read_frame::<_, Control>(&mut s, MAX_CONTROL_FRAME).await {
                    Ok(Some(msg)) => shared.on_control(handle.id, msg).map_err(|e| Ended::Refused(e.to_string()))?,
                    Ok(None) => return Err(Ended::Broken("the remote site closed the link".into())),
                    Err(e) => return Err(io_err(e)),
                }
            }
        };
        // Anything the peer sends (data too) proves it alive; a frozen peer sends nothing.
        let watchdog = async {
            loop {
                tokio::time::sleep(keepalive.tick()).await;
                let quiet = handle.mux.since_received();
                if quiet >= dead_after {
                    return quiet;
                }
            }
        };
        tokio::select! {
            r = frames => r,
            quiet = watchdog => Err(Ended::Refused(format!(
                "the remote site sent nothing for {:.1}s (frozen, or the network dropped the link)",
                quiet.as_secs_f64()
            ))),
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
    // Boxed: the task lives as long as the stream, its header reading need not.
    match Box::pin(header).await {
        Ok(Ok(Some(StreamHeader::Control))) => {
            let tx = ctrl.lock().unwrap_or_else(|e| e.into_inner()).take();
            // A second control stream is a protocol error; dropping it resets it.
            if let Some(tx) = tx {
                let _ = tx.send(stream);
            }
        }
        Ok(Ok(Some(StreamHeader::Data(h)))) => {
            let data_plane = shared.data_plane.clone();
            data_plane.serve(shared, stream, h).await;
        }
        _ => {}
    }
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
