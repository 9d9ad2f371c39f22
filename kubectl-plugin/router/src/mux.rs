//! The link multiplexer: many streams over one mutual-TLS connection.
//!
//! Why our own and not yamux: a router's streams are short-lived proxied connections whose cost
//! is dominated by per-stream and per-frame overhead, not by features. This one opens a stream
//! without a round trip (the first data can follow the open in the same TLS record), keeps no
//! buffer for an idle stream (an idle proxied connection costs a few hundred bytes here), has no
//! small fixed stream cap, and drives TLS itself: a reader task decrypts and dispatches while a
//! writer task batches every queued frame into as few TLS records and `write` calls as it can,
//! so that reading and writing run on both cores and a busy link makes one syscall per batch.
//!
//! A link may carry several such connections ([`super::lanes`]); each is a multiplexer of its
//! own, with its own TLS state and tasks.
//!
//! Wire format, inside TLS: both sides first send [`PREFACE`] (a data connection's dialer sends
//! its join request before it), then frames of a 12-byte header
//! (kind `u8`, three zero bytes, stream id `u32` BE, length `u32` BE) and, for `DATA`, that many
//! bytes. The dialer opens odd stream ids, the accepting side even ones. Flow control is per
//! stream and credit based: each side may have [`WINDOW`] bytes unread by the other, and the
//! reader returns credit (`WINDOW` frames) as the application consumes data. `FIN` ends one
//! direction (a TCP half-close), `RESET` aborts both.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io::{self, BufRead, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};

/// First bytes each side sends: a peer speaking anything else (another version) is told apart
/// from a broken connection.
pub(crate) const PREFACE: &[u8; 8] = b"SKRMUX1\n";
/// Bytes of a frame header.
const HEADER: usize = 12;
/// Largest `DATA` payload.
pub(crate) const MAX_FRAME: usize = 64 * 1024;
/// Bytes one side may send on a stream before the other returns credit.
pub(crate) const WINDOW: u32 = 1 << 20;
/// Credit is returned once this much was consumed (so a busy stream always has
/// `WINDOW - GRANT_AT` bytes in flight).
const GRANT_AT: u32 = WINDOW / 4;
/// Streams one connection carries at most (both directions together). A stream the peer opens
/// beyond it is reset; this side's opens fail with an error.
pub(crate) const MAX_STREAMS: usize = 1 << 17;
/// Plaintext the writer gathers into one batch (one `write` of the resulting TLS records).
const BATCH: usize = 256 * 1024;
/// Ciphertext read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

const OPEN: u8 = 1;
const DATA: u8 = 2;
const CREDIT: u8 = 3;
const FIN: u8 = 4;
const RESET: u8 = 5;

/// Which end of the link this is: decides the parity of the stream ids this side opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Dialed the link: odd ids.
    Dialer,
    /// Accepted the link: even ids.
    Acceptor,
}

/// What the writer task sends.
enum Out {
    /// A frame without payload.
    Frame(u8, u32, u32),
    /// A `DATA` frame.
    Data(u32, Bytes),
    /// Send `close_notify` after what is queued, then shut the connection down.
    Close,
}

/// Per-stream state shared by the stream's owner and the connection's reader task.
#[derive(Debug, Default)]
struct StreamState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Received data not read yet.
    recv: VecDeque<Bytes>,
    /// Bytes in `recv`.
    queued: usize,
    /// Consumed since credit was last returned.
    consumed: u32,
    /// The peer ended its direction.
    recv_fin: bool,
    /// The stream was reset (by the peer, or the connection ended).
    reset: bool,
    /// Bytes this side may still send.
    credit: u32,
    /// This side ended its direction.
    sent_fin: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl StreamState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new() -> Arc<Self> {
        Arc::new(Self { inner: Mutex::new(Inner { credit: WINDOW, ..Inner::default() }) })
    }
}

impl Inner {
    fn wake(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

#[derive(Debug, Default)]
struct Streams {
    map: HashMap<u32, Arc<StreamState>>,
    next_id: u32,
    /// The connection ended: no stream can be opened.
    closed: bool,
}

/// The connection's state shared by its streams, its handle and its tasks.
#[derive(Debug)]
struct Shared {
    streams: Mutex<Streams>,
    out: mpsc::UnboundedSender<Out>,
    activity: Activity,
}

/// When the connection last received and sent bytes (for the keep-alive), in milliseconds
/// since it started.
#[derive(Debug)]
struct Activity {
    start: Instant,
    received: AtomicU64,
    sent: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), received: AtomicU64::new(0), sent: AtomicU64::new(0) }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn since(&self, at: &AtomicU64) -> Duration {
        Duration::from_millis(self.now().saturating_sub(at.load(Ordering::Relaxed)))
    }
}

/// Resets every stream when the connection's driver ends, however it ends: finished, failed,
/// or dropped by a session that was told to stop (a deleted link). Without it the streams of a
/// dropped driver would wait forever for data that cannot come.
struct ShutOnDrop(Arc<Shared>);

impl Drop for ShutOnDrop {
    fn drop(&mut self) {
        self.0.shut();
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Frame(k, id, n) => write!(f, "Frame({k}, {id}, {n})"),
            Self::Data(id, b) => write!(f, "Data({id}, {} bytes)", b.len()),
            Self::Close => f.write_str("Close"),
        }
    }
}

impl Shared {
    fn streams(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, out: Out) {
        // Fails only once the writer is gone, and then every stream is reset anyway.
        let _ = self.out.send(out);
    }

    /// The connection ended: every stream reads and writes an error from now on.
    fn shut(&self) {
        let mut s = self.streams();
        s.closed = true;
        for st in s.map.values() {
            let mut i = st.lock();
            i.reset = true;
            i.wake();
        }
    }
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OpenError {
    /// The connection closed (or is closing).
    #[error("the link closed")]
    Closed,
    /// [`MAX_STREAMS`] streams are open.
    #[error("the link already carries {MAX_STREAMS} connections")]
    Full,
}

/// A handle to a connection: opens streams, closes the connection.
#[derive(Debug, Clone)]
pub(crate) struct Mux {
    shared: Arc<Shared>,
}

impl Mux {
    /// Opens a stream (no round trip: the peer learns of it with the first frame).
    pub(crate) fn open(&self) -> Result<Stream, OpenError> {
        let mut s = self.shared.streams();
        if s.closed {
            return Err(OpenError::Closed);
        }
        if s.map.len() >= MAX_STREAMS {
            return Err(OpenError::Full);
        }
        let mut id = s.next_id;
        while s.map.contains_key(&id) || id == 0 {
            id = id.wrapping_add(2);
        }
        s.next_id = id.wrapping_add(2);
        let state = StreamState::new();
        s.map.insert(id, state.clone());
        // Queued under the lock so that an OPEN is always sent before the stream's frames.
        self.shared.send(Out::Frame(OPEN, id, 0));
        drop(s);
        Ok(Stream::new(id, state, self.shared.clone()))
    }

    /// Time since anything arrived from the peer.
    pub(crate) fn since_received(&self) -> Duration {
        let a = &self.shared.activity;
        a.since(&a.received)
    }

    /// Time since anything was written to the peer.
    pub(crate) fn since_sent(&self) -> Duration {
        let a = &self.shared.activity;
        a.since(&a.sent)
    }

    /// Streams open now.
    pub(crate) fn live(&self) -> usize {
        self.shared.streams().map.len()
    }

    /// Whether the connection ended or is closing (no stream can be opened on it).
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.streams().closed
    }

    /// Asks the writer to send what is queued, then `close_notify`, and shut the connection
    /// down; the driver future ends when that is done.
    pub(crate) fn close(&self) {
        let mut s = self.shared.streams();
        s.closed = true;
        self.shared.send(Out::Close);
    }
}

/// The TLS connection of a link after its handshake, taken apart for the reader and writer.
pub(crate) struct Parts {
    /// The socket.
    pub tcp: TcpStream,
    /// Ciphertext already read from the socket but not given to TLS yet.
    pub buffered: Vec<u8>,
    /// The TLS state.
    pub tls: rustls::Connection,
    /// Plaintext the peer sent that was already read (the start of its preface).
    pub plain: Vec<u8>,
    /// What this side sends first: [`PREFACE`], or a data connection's join request.
    pub opening: Vec<u8>,
}

/// Sets up a connection. Returns its handle and the future that drives it: it must be polled
/// (it runs the reader and the writer) and ends when the connection does; `inbound` gets every
/// stream the peer opens.
pub(crate) fn start(
    parts: Parts,
    role: Role,
    inbound: impl FnMut(Stream) + Send,
) -> (Mux, impl Future<Output = io::Result<()>> + Send) {
    let (tx, rx) = mpsc::unbounded_channel();
    let next_id = match role {
        Role::Dialer => 1,
        Role::Acceptor => 2,
    };
    let shared = Arc::new(Shared {
        streams: Mutex::new(Streams { next_id, ..Streams::default() }),
        out: tx,
        activity: Activity::new(),
    });
    let mux = Mux { shared: shared.clone() };
    let Parts { tcp, buffered, mut tls, plain, opening } = parts;
    // The writer bounds what it hands to TLS itself (one batch at a time).
    tls.set_buffer_limit(None);
    let tls = Arc::new(Mutex::new(tls));
    let (r, w) = tcp.into_split();
    let wants_write = Arc::new(Notify::new());
    let driver = {
        let shared = shared.clone();
        async move {
            let shut = ShutOnDrop(shared.clone());
            let reader = read_loop(r, buffered, plain, tls.clone(), shared.clone(), role, inbound, wants_write.clone());
            let writer = write_loop(w, opening, tls, rx, wants_write, shared.clone());
            tokio::pin!(reader, writer);
            let result = tokio::select! {
                r = &mut reader => r,
                w = &mut writer => match w {
                    // This side closed: read on until the peer closes too. Dropping a socket
                    // with unread bytes sends a reset, which could destroy what the peer has
                    // not read yet (the last frames before our close_notify).
                    Ok(()) => reader.await.map(|_| ()).or(Ok(())),
                    Err(e) => Err(e),
                },
            };
            drop(shut);
            result
        }
    };
    (mux, driver)
}

fn lock_tls(tls: &Mutex<rustls::Connection>) -> MutexGuard<'_, rustls::Connection> {
    tls.lock().unwrap_or_else(|e| e.into_inner())
}

fn protocol_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("link protocol error: {}", msg.into()))
}

/// Reads ciphertext, decrypts it and dispatches the frames, until the connection ends.
#[allow(clippy::too_many_arguments)]
async fn read_loop(
    mut tcp: OwnedReadHalf,
    buffered: Vec<u8>,
    already: Vec<u8>,
    tls: Arc<Mutex<rustls::Connection>>,
    shared: Arc<Shared>,
    role: Role,
    mut inbound: impl FnMut(Stream),
    wants_write: Arc<Notify>,
) -> io::Result<()> {
    // Ciphertext: first what the handshake left over, then each read.
    let mut filled = buffered.len();
    let mut net = buffered;
    net.resize(filled.max(READ_CHUNK), 0);
    let mut plain = BytesMut::with_capacity(2 * MAX_FRAME);
    plain.extend_from_slice(&already);
    let mut preface_seen = false;
    loop {
        let eof = {
            let mut conn = lock_tls(&tls);
            let mut rd: &[u8] = &net[..filled];
            let mut eof = false;
            loop {
                if !rd.is_empty() {
                    conn.read_tls(&mut rd)?;
                    conn.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                // Drain the plaintext (rustls holds at most 16 KiB of it).
                let mut reader = conn.reader();
                loop {
                    match reader.fill_buf() {
                        Ok([]) => {
                            eof = true;
                            break;
                        }
                        Ok(chunk) => {
                            let n = chunk.len();
                            plain.extend_from_slice(chunk);
                            reader.consume(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                if rd.is_empty() || eof {
                    break;
                }
            }
            if conn.wants_write() {
                wants_write.notify_one();
            }
            eof
        };
        on_plaintext(&mut plain, &mut preface_seen, &shared, role, &mut inbound)?;
        if eof {
            // close_notify: the peer ended the connection cleanly.
            return Ok(());
        }
        filled = tcp.read(&mut net).await?;
        if filled == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        shared.activity.received.store(shared.activity.now(), Ordering::Relaxed);
    }
}

/// Checks the peer's preface, then handles every complete frame in `plain`: everything a peer
/// sends goes through here once decrypted.
fn on_plaintext(
    plain: &mut BytesMut,
    preface_seen: &mut bool,
    shared: &Arc<Shared>,
    role: Role,
    inbound: &mut impl FnMut(Stream),
) -> io::Result<()> {
    if !*preface_seen && plain.len() >= PREFACE.len() {
        if plain[..PREFACE.len()] != PREFACE[..] {
            return Err(protocol_error(
                "the remote site speaks another link protocol (is it running another version of kubectl-skupper?)",
            ));
        }
        plain.advance(PREFACE.len());
        *preface_seen = true;
    }
    if *preface_seen {
        dispatch(plain, shared, role, inbound)?;
    }
    Ok(())
}

/// Feeds `chunks` of decrypted bytes, as a peer in `role`'s opposite would send them, to the
/// frame decoder of a connection that has no socket, then drops everything (fuzz tests).
/// Returns the decoder's verdict and the streams it opened.
#[cfg(test)]
pub(crate) fn decode_for_tests(chunks: &[&[u8]], role: Role) -> (io::Result<()>, usize) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        streams: Mutex::new(Streams { next_id: 1, ..Streams::default() }),
        out: tx,
        activity: Activity::new(),
    });
    let mut opened = Vec::new();
    let mut plain = BytesMut::new();
    let mut preface_seen = false;
    let mut result = Ok(());
    for chunk in chunks {
        plain.extend_from_slice(chunk);
        result = on_plaintext(&mut plain, &mut preface_seen, &shared, role, &mut |s| opened.push(s));
        if result.is_err() {
            break;
        }
        // What a decoder leaves behind is never a whole frame.
        if preface_seen && plain.len() >= HEADER {
            assert_eq!(plain[0], DATA, "only a DATA frame waits for the rest of its payload");
        }
    }
    // The streams read what they got, as the data plane would.
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    for s in &opened {
        while let Poll::Ready(Ok(Some(_))) = s.poll_recv(&mut cx) {}
    }
    let n = opened.len();
    shared.shut();
    drop(opened);
    while rx.try_recv().is_ok() {}
    (result, n)
}

/// Handles every complete frame in `plain`.
fn dispatch(
    plain: &mut BytesMut,
    shared: &Arc<Shared>,
    role: Role,
    inbound: &mut impl FnMut(Stream),
) -> io::Result<()> {
    while plain.len() >= HEADER {
        let kind = plain[0];
        let id = u32::from_be_bytes([plain[4], plain[5], plain[6], plain[7]]);
        let len = u32::from_be_bytes([plain[8], plain[9], plain[10], plain[11]]);
        if kind == DATA {
            if len as usize > MAX_FRAME {
                return Err(protocol_error(format!("a frame of {len} bytes (at most {MAX_FRAME})")));
            }
            if plain.len() < HEADER + len as usize {
                // Make room for the rest of the frame without growing past it.
                plain.reserve(HEADER + len as usize - plain.len());
                return Ok(());
            }
        }
        plain.advance(HEADER);
        match kind {
            DATA => {
                let payload = plain.split_to(len as usize).freeze();
                let state = shared.streams().map.get(&id).cloned();
                // Data for a stream this side already dropped is late, not an error.
                if let Some(state) = state {
                    let mut i = state.lock();
                    if i.recv_fin || i.queued + payload.len() > WINDOW as usize {
                        drop(i);
                        return Err(protocol_error(format!("stream {id} received more than its window")));
                    }
                    i.queued += payload.len();
                    i.recv.push_back(payload);
                    if let Some(w) = i.read_waker.take() {
                        w.wake();
                    }
                }
            }
            OPEN => {
                let theirs = match role {
                    Role::Dialer => id.is_multiple_of(2),
                    Role::Acceptor => !id.is_multiple_of(2),
                };
                if !theirs || id == 0 {
                    return Err(protocol_error(format!("the remote site opened stream {id} with this side's parity")));
                }
                let mut s = shared.streams();
                if s.map.contains_key(&id) {
                    return Err(protocol_error(format!("stream {id} opened twice")));
                }
                if s.closed || s.map.len() >= MAX_STREAMS {
                    drop(s);
                    shared.send(Out::Frame(RESET, id, 0));
                    continue;
                }
                let state = StreamState::new();
                s.map.insert(id, state.clone());
                drop(s);
                inbound(Stream::new(id, state, shared.clone()));
            }
            CREDIT => {
                if let Some(state) = shared.streams().map.get(&id).cloned() {
                    let mut i = state.lock();
                    i.credit = i.credit.saturating_add(len);
                    if let Some(w) = i.write_waker.take() {
                        w.wake();
                    }
                }
            }
            FIN => {
                if let Some(state) = shared.streams().map.get(&id).cloned() {
                    let mut i = state.lock();
                    i.recv_fin = true;
                    if let Some(w) = i.read_waker.take() {
                        w.wake();
                    }
                }
            }
            RESET => {
                if let Some(state) = shared.streams().map.remove(&id) {
                    let mut i = state.lock();
                    i.reset = true;
                    i.wake();
                }
            }
            other => return Err(protocol_error(format!("unknown frame kind {other}"))),
        }
    }
    Ok(())
}

/// Encrypts and writes queued frames in batches until the connection ends or is closed.
async fn write_loop(
    mut tcp: OwnedWriteHalf,
    opening: Vec<u8>,
    tls: Arc<Mutex<rustls::Connection>>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    wants_write: Arc<Notify>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let mut batch = Batch::default();
    batch.raw(&opening);
    let mut close = false;
    loop {
        if batch.is_empty() {
            tokio::select! {
                biased;
                item = rx.recv() => match item {
                    Some(out) => close |= batch.push(out),
                    // Every handle is gone: nobody can use the connection any more.
                    None => close = true,
                },
                _ = wants_write.notified() => {}
            }
            // Let the tasks that are ready queue their frames too, so that a busy link sends
            // many frames per write (and wakes the peer once); on an idle link this returns at
            // once.
            tokio::task::yield_now().await;
        }
        while !close && batch.bytes < BATCH {
            match rx.try_recv() {
                Ok(out) => close |= batch.push(out),
                Err(_) => break,
            }
        }
        {
            let mut conn = lock_tls(&tls);
            batch.encrypt(&mut conn)?;
            if close {
                conn.send_close_notify();
            }
        }
        batch.clear();
        // The records go from TLS's buffers to the socket in one vectored write each round;
        // when the socket is full, wait for room (the lock is not held while waiting).
        loop {
            let written = {
                let mut conn = lock_tls(&tls);
                if !conn.wants_write() {
                    break;
                }
                conn.write_tls(&mut SocketWriter(&tcp))
            };
            match written {
                Ok(_) => shared.activity.sent.store(shared.activity.now(), Ordering::Relaxed),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => tcp.writable().await?,
                Err(e) => return Err(e),
            }
        }
        if close {
            tcp.shutdown().await?;
            return Ok(());
        }
    }
}

/// Writes to the socket without waiting (`WouldBlock` when it is full).
struct SocketWriter<'a>(&'a OwnedWriteHalf);

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Frames gathered for one write: headers side by side, payloads by reference, handed to TLS
/// as one vectored write (TLS copies each byte once, into its records).
#[derive(Default)]
struct Batch {
    /// Frame headers and other small pieces, back to back.
    small: Vec<u8>,
    /// The batch in order: a range of `small`, or a payload.
    parts: Vec<Part>,
    /// Plaintext bytes in the batch.
    bytes: usize,
}

enum Part {
    Small(usize, usize),
    Payload(Bytes),
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn raw(&mut self, b: &[u8]) {
        let start = self.small.len();
        self.small.extend_from_slice(b);
        // Adjacent small pieces share one slice.
        match self.parts.last_mut() {
            Some(Part::Small(_, end)) if *end == start => *end = self.small.len(),
            _ => self.parts.push(Part::Small(start, self.small.len())),
        }
        self.bytes += b.len();
    }

    /// Adds one item; true for [`Out::Close`].
    fn push(&mut self, out: Out) -> bool {
        match out {
            Out::Frame(kind, id, n) => self.raw(&header(kind, id, n)),
            Out::Data(id, data) => {
                self.raw(&header(DATA, id, data.len() as u32));
                self.bytes += data.len();
                self.parts.push(Part::Payload(data));
            }
            Out::Close => return true,
        }
        false
    }

    fn encrypt(&self, conn: &mut rustls::Connection) -> io::Result<()> {
        let slices: Vec<io::IoSlice<'_>> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Small(a, b) => io::IoSlice::new(&self.small[*a..*b]),
                Part::Payload(d) => io::IoSlice::new(d),
            })
            .collect();
        // Without a buffer limit (set in `start`) TLS takes the whole batch at once.
        let n = conn.writer().write_vectored(&slices)?;
        if n != self.bytes {
            return Err(io::Error::other(format!("TLS took {n} of {} bytes", self.bytes)));
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.small.clear();
        self.parts.clear();
        self.bytes = 0;
    }
}

fn header(kind: u8, id: u32, len: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = kind;
    h[4..8].copy_from_slice(&id.to_be_bytes());
    h[8..12].copy_from_slice(&len.to_be_bytes());
    h
}

/// One stream: read and written as chunks ([`Stream::recv`], [`Stream::send`]) by the data
/// plane, or as a tokio I/O object by the control and header exchanges.
#[derive(Debug)]
pub(crate) struct Stream {
    id: u32,
    state: Arc<StreamState>,
    shared: Arc<Shared>,
    /// Rest of a chunk partly read through `AsyncRead`.
    partial: Bytes,
}

impl Stream {
    fn new(id: u32, state: Arc<StreamState>, shared: Arc<Shared>) -> Self {
        Self { id, state, shared, partial: Bytes::new() }
    }

    /// Next chunk of data; `None` once the peer ended its direction.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        let mut i = self.state.lock();
        if let Some(chunk) = i.recv.pop_front() {
            i.queued -= chunk.len();
            i.consumed += chunk.len() as u32;
            if i.consumed >= GRANT_AT && !i.recv_fin {
                let n = std::mem::take(&mut i.consumed);
                self.shared.send(Out::Frame(CREDIT, self.id, n));
            }
            return Poll::Ready(Ok(Some(chunk)));
        }
        // A direction the peer ended cleanly stays ended, whatever happened since.
        if i.recv_fin {
            return Poll::Ready(Ok(None));
        }
        if i.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        i.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Next chunk of data; `None` once the peer ended its direction.
    pub(crate) async fn recv(&self) -> io::Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Queues up to `max` bytes' worth of credit: how many bytes may be sent now.
    pub(crate) fn poll_credit(&self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let mut i = self.state.lock();
        if i.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if i.sent_fin {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the stream was shut down for writing")));
        }
        if i.credit == 0 {
            i.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = (i.credit as usize).min(max).min(MAX_FRAME);
        i.credit -= n as u32;
        Poll::Ready(Ok(n))
    }

    /// Sends `data`, waiting for credit as needed.
    pub(crate) async fn send(&self, mut data: Bytes) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.poll_credit(cx, data.len())).await?;
            self.send_credited(data.split_to(n));
        }
        Ok(())
    }

    /// Queues `data`, whose credit [`Stream::poll_credit`] granted.
    pub(crate) fn send_credited(&self, data: Bytes) {
        self.shared.send(Out::Data(self.id, data));
    }

    /// What was received but not read yet through `AsyncRead` (a chunk's rest), taken out.
    pub(crate) fn take_partial(&mut self) -> Bytes {
        std::mem::take(&mut self.partial)
    }

    /// Ends this side's direction (the peer reads the end of the stream).
    pub(crate) fn finish(&self) {
        let mut i = self.state.lock();
        if !i.sent_fin && !i.reset {
            i.sent_fin = true;
            self.shared.send(Out::Frame(FIN, self.id, 0));
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut s = self.shared.streams();
        if s.map.get(&self.id).is_some_and(|st| Arc::ptr_eq(st, &self.state)) {
            s.map.remove(&self.id);
        }
        drop(s);
        let i = self.state.lock();
        // A stream dropped before both directions ended is aborted: the peer stops at once
        // instead of sending into the void.
        let ended = i.reset || (i.sent_fin && i.recv_fin);
        if !ended {
            self.shared.send(Out::Frame(RESET, self.id, 0));
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.partial.is_empty() {
            match self.poll_recv(cx) {
                Poll::Ready(Ok(Some(chunk))) => self.partial = chunk,
                Poll::Ready(Ok(None)) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.partial.len().min(buf.remaining());
        buf.put_slice(&self.partial[..n]);
        self.partial.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match self.poll_credit(cx, buf.len()) {
            Poll::Ready(Ok(n)) => {
                self.shared.send(Out::Data(self.id, Bytes::copy_from_slice(&buf[..n])));
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The writer task sends whatever is queued without being asked.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.finish();
        Poll::Ready(Ok(()))
    }
}

/// Takes a finished TLS handshake apart into what [`start`] needs.
pub(crate) fn parts(io: tokio_rustls::TlsStream<tokio::io::BufReader<TcpStream>>) -> Parts {
    let (buf_tcp, tls) = match io {
        tokio_rustls::TlsStream::Client(s) => {
            let (io, c) = s.into_inner();
            (io, rustls::Connection::Client(c))
        }
        tokio_rustls::TlsStream::Server(s) => {
            let (io, c) = s.into_inner();
            (io, rustls::Connection::Server(c))
        }
    };
    let buffered = buf_tcp.buffer().to_vec();
    Parts { tcp: buf_tcp.into_inner(), buffered, tls, plain: Vec::new(), opening: PREFACE.to_vec() }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use tokio::io::BufReader;
    use tokio::net::TcpListener;
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;
    use crate::certs::{DEFAULT_VALIDITY, issue_client, issue_server, new_ca};
    use crate::tls;

    /// Upper bound for anything a test waits for.
    const PATIENCE: Duration = Duration::from_secs(30);

    pub(crate) async fn within<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(PATIENCE, f).await.expect("timed out")
    }

    /// Both ends of a real mutual-TLS connection on 127.0.0.1, after the handshake.
    async fn tls_pair() -> (Parts, Parts) {
        let ca = new_ca("mux test CA", DEFAULT_VALIDITY).unwrap();
        let server = issue_server(&ca, "router", &["127.0.0.1".to_string()], DEFAULT_VALIDITY).unwrap();
        let client = issue_client(&ca, "client", DEFAULT_VALIDITY).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let acceptor = TlsAcceptor::from(tls::server_config(&server.tls()).unwrap());
        let accept = async {
            let (s, _) = l.accept().await.unwrap();
            acceptor.accept(BufReader::new(s)).await.unwrap()
        };
        let connector = TlsConnector::from(tls::client_config(&client.tls()).unwrap());
        let dial = async {
            let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            connector.connect(tls::server_name("127.0.0.1").unwrap(), BufReader::new(s)).await.unwrap()
        };
        let (a, d) = within(async { tokio::join!(accept, dial) }).await;
        (parts(tokio_rustls::TlsStream::Client(d)), parts(tokio_rustls::TlsStream::Server(a)))
    }

    /// Two connected multiplexers with their drivers running; the acceptor's inbound streams
    /// arrive on the returned channel.
    pub(crate) struct Pair {
        pub(crate) dialer: Mux,
        acceptor: Mux,
        pub(crate) inbound: mpsc::UnboundedReceiver<Stream>,
        dialer_driver: tokio::task::JoinHandle<io::Result<()>>,
        acceptor_driver: tokio::task::JoinHandle<io::Result<()>>,
    }

    pub(crate) async fn pair() -> Pair {
        let (d, a) = tls_pair().await;
        let (tx, inbound) = mpsc::unbounded_channel();
        let (dialer, dd) = start(d, Role::Dialer, |_| panic!("the dialer gets no inbound streams here"));
        let (acceptor, ad) = start(a, Role::Acceptor, move |s| {
            let _ = tx.send(s);
        });
        Pair { dialer, acceptor, inbound, dialer_driver: tokio::spawn(dd), acceptor_driver: tokio::spawn(ad) }
    }

    async fn read_all(s: &Stream) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(c) = within(s.recv()).await.unwrap() {
            v.extend_from_slice(&c);
        }
        v
    }

    #[tokio::test]
    async fn streams_carry_data_both_ways_with_half_close() {
        let mut p = pair().await;
        let s = p.dialer.open().unwrap();
        s.send(Bytes::from_static(b"hello")).await.unwrap();
        s.finish();
        let r = within(p.inbound.recv()).await.unwrap();
        assert_eq!(read_all(&r).await, b"hello");
        // The other direction is still open after the half-close.
        r.send(Bytes::from_static(b"world")).await.unwrap();
        r.finish();
        assert_eq!(read_all(&s).await, b"world");
        drop((s, r));
        assert_eq!(p.dialer.live(), 0);
        assert_eq!(p.acceptor.live(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_thousand_concurrent_streams_in_both_directions() {
        let mut p = pair().await;
        let n = 10_000usize;
        let mut opened = Vec::new();
        for i in 0..n {
            let s = p.dialer.open().unwrap();
            s.send(Bytes::from(format!("stream {i}"))).await.unwrap();
            opened.push(s);
        }
        assert_eq!(p.dialer.live(), n);
        let mut accepted = Vec::new();
        for _ in 0..n {
            accepted.push(within(p.inbound.recv()).await.unwrap());
        }
        assert_eq!(p.acceptor.live(), n);
        // Every stream is still open: answer each one with what it said, reversed.
        let answer = |s: Stream| async move {
            let mut buf = Vec::new();
            let mut io = s;
            let mut chunk = [0u8; 64];
            let k = io.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..k]);
            buf.reverse();
            io.send(Bytes::from(buf)).await.unwrap();
            io.finish();
            io
        };
        let answered: Vec<Stream> = within(futures::future::join_all(accepted.into_iter().map(answer))).await;
        for (i, s) in opened.iter().enumerate() {
            let mut want = format!("stream {i}").into_bytes();
            want.reverse();
            assert_eq!(within(s.recv()).await.unwrap().unwrap(), want);
        }
        drop((opened, answered));
        within(async {
            while p.acceptor.live() > 0 || p.dialer.live() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sender_stops_at_the_window_until_the_reader_consumes() {
        let mut p = pair().await;
        let s = p.dialer.open().unwrap();
        s.send(Bytes::from(vec![1u8; WINDOW as usize])).await.unwrap();
        // No credit left: the next send cannot complete while nothing is read.
        let more = Bytes::from(vec![2u8; 10]);
        {
            let send = s.send(more.clone());
            tokio::pin!(send);
            let waker = std::task::Waker::noop();
            assert!(send.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        }
        assert_eq!(s.state.lock().credit, 0);
        let r = within(p.inbound.recv()).await.unwrap();
        let mut got = 0usize;
        while got < GRANT_AT as usize {
            got += within(r.recv()).await.unwrap().unwrap().len();
        }
        // Consuming a quarter of the window gave credit back.
        within(s.send(more)).await.unwrap();
        s.finish();
        let rest = read_all(&r).await;
        assert_eq!(got + rest.len(), WINDOW as usize + 10);
        assert_eq!(&rest[rest.len() - 10..], &[2u8; 10]);
    }

    #[tokio::test]
    async fn bulk_data_arrives_byte_exact_through_windows_and_batches() {
        let mut p = pair().await;
        let s = p.dialer.open().unwrap();
        let data: Vec<u8> = (0..8 * WINDOW as usize + 12_345).map(|i| (i * 7 + i / 251) as u8).collect();
        let sent = data.clone();
        let sender = tokio::spawn(async move {
            for part in sent.chunks(100_000) {
                s.send(Bytes::copy_from_slice(part)).await.unwrap();
            }
            s.finish();
            s
        });
        let r = within(p.inbound.recv()).await.unwrap();
        assert_eq!(read_all(&r).await, data);
        let _s = within(sender).await.unwrap();
    }

    #[tokio::test]
    async fn dropping_a_stream_resets_it_at_the_peer() {
        let mut p = pair().await;
        let s = p.dialer.open().unwrap();
        s.send(Bytes::from_static(b"x")).await.unwrap();
        let r = within(p.inbound.recv()).await.unwrap();
        assert_eq!(within(r.recv()).await.unwrap().unwrap(), &b"x"[..]);
        drop(s);
        let e = within(r.recv()).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(r.send(Bytes::from_static(b"y")).await.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(p.acceptor.live(), 0, "a reset stream leaves the peer's table at once");
    }

    #[tokio::test]
    async fn more_than_the_window_is_a_protocol_error() {
        let p = pair().await;
        let s = p.dialer.open().unwrap();
        // Bypass the credit check, as a broken or hostile peer would.
        for _ in 0..=WINDOW as usize / MAX_FRAME {
            p.dialer.shared.send(Out::Data(s.id, Bytes::from(vec![0u8; MAX_FRAME])));
        }
        let e = within(p.acceptor_driver).await.unwrap().unwrap_err();
        assert!(e.to_string().contains("more than its window"), "{e}");
        // The dialer sees the connection go and its stream fails.
        let _ = within(p.dialer_driver).await.unwrap();
        assert_eq!(within(s.recv()).await.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(p.dialer.open().unwrap_err().to_string(), "the link closed");
    }

    #[tokio::test]
    async fn close_ends_both_drivers_cleanly_after_queued_data() {
        let mut p = pair().await;
        let s = p.dialer.open().unwrap();
        s.send(Bytes::from_static(b"last words")).await.unwrap();
        s.finish();
        p.dialer.close();
        within(p.dialer_driver).await.unwrap().unwrap();
        let r = within(p.inbound.recv()).await.unwrap();
        assert_eq!(read_all(&r).await, b"last words");
        within(p.acceptor_driver).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_peer_speaking_another_protocol_is_told_apart() {
        let (d, a) = tls_pair().await;
        let (_acceptor, ad) = start(a, Role::Acceptor, |_| {});
        let ad = tokio::spawn(ad);
        // The dialer side speaks something else over the same TLS connection.
        let Parts { mut tcp, mut tls, .. } = d;
        tls.writer().write_all(b"\0\0\0\x0cyamux?hello!").unwrap();
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out).unwrap();
        }
        tcp.write_all(&out).await.unwrap();
        let e = within(ad).await.unwrap().unwrap_err();
        assert!(e.to_string().contains("another link protocol"), "{e}");
    }

    #[tokio::test]
    async fn the_peer_opening_a_stream_with_our_parity_is_refused() {
        let p = pair().await;
        // The dialer pretends to be the acceptor: an even id.
        p.dialer.shared.send(Out::Frame(OPEN, 2, 0));
        let e = within(p.acceptor_driver).await.unwrap().unwrap_err();
        assert!(e.to_string().contains("parity"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzzing::config())]

        /// Whatever a peer sends after TLS, in whatever pieces: the decoder errs or goes on, and
        /// never panics or leaves a complete frame undecoded.
        #[test]
        fn fuzz_frame_decoder(
            data in crate::fuzzing::inputs("mux-frames", 4096),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..6),
            dialer in proptest::prelude::any::<bool>(),
        ) {
            let parts = crate::fuzzing::chunks(&data, &cuts);
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let _ = decode_for_tests(&parts, if dialer { Role::Dialer } else { Role::Acceptor });
        }
    }

    #[test]
    fn the_frame_seeds_replay() {
        for seed in crate::fuzzing::corpus("mux-frames") {
            let (result, opened) = decode_for_tests(&[&seed], Role::Acceptor);
            result.unwrap();
            assert!(opened >= 1);
        }
    }
}
