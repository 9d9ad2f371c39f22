//! Splices: copying both ways between an application's TCP connection, a link's stream and
//! another TCP connection, with buffers held only while data moves (an idle proxied connection
//! keeps none).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::mux::{MAX_FRAME, Stream};

/// Reads what the socket has into a fresh buffer, once it is readable; `None` at its end.
/// Nothing is held while waiting: an idle connection owns no buffer.
async fn read_chunk(r: &tokio::net::tcp::ReadHalf<'_>) -> io::Result<Option<Bytes>> {
    loop {
        r.readable().await?;
        let mut buf = BytesMut::with_capacity(MAX_FRAME);
        match r.try_read_buf(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(buf.freeze())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Copies both ways between an application's TCP connection and a stream until both
/// directions ended (an end on one side becomes a half-close on the other) or one fails.
pub(crate) fn splice_tcp(tcp: TcpStream, mut stream: Stream) -> SpliceTcp {
    let down = stream.take_partial();
    SpliceTcp { tcp, stream, up: None, down, up_done: false, down_eof: false, down_done: false }
}

/// The future of [`splice_tcp`], written out by hand: it is the state every idle proxied
/// connection keeps, and as a plain struct it is a few hundred bytes where the `async`
/// version took two kilobytes.
pub(crate) struct SpliceTcp {
    tcp: TcpStream,
    stream: Stream,
    /// Read from the socket, waiting for credit on the stream.
    up: Option<Bytes>,
    /// From the stream, being written to the socket.
    down: Bytes,
    /// The socket ended and the stream was finished.
    up_done: bool,
    /// The stream ended: the socket is to be shut down for writing.
    down_eof: bool,
    /// ... and it was.
    down_done: bool,
}

/// Socket reads or stream chunks handled per poll before other tasks get their turn.
const SPLICE_BUDGET: usize = 16;

impl Future for SpliceTcp {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut budget = SPLICE_BUDGET;
        // Socket to stream.
        while !this.up_done && budget > 0 {
            if let Some(chunk) = &mut this.up {
                match this.stream.poll_credit(cx, chunk.len()) {
                    Poll::Ready(Ok(n)) => {
                        let part = chunk.split_to(n);
                        if chunk.is_empty() {
                            this.up = None;
                        }
                        this.stream.send_credited(part);
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            match this.tcp.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
            budget -= 1;
            // Allocated only once there is something to read: an idle connection holds none.
            // tokio's `poll_read` takes a short read as "drained", which saves the read that
            // would only say EAGAIN.
            let mut buf = BytesMut::with_capacity(MAX_FRAME);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.tcp), cx, &mut buf) {
                Poll::Ready(Ok(0)) => {
                    this.stream.finish();
                    this.up_done = true;
                }
                Poll::Ready(Ok(_)) => this.up = Some(buf.freeze()),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        // Stream to socket.
        while !this.down_done && budget > 0 {
            if !this.down.is_empty() {
                match Pin::new(&mut this.tcp).poll_write(cx, &this.down) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => this.down.advance(n),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
                continue;
            }
            if this.down_eof {
                match Pin::new(&mut this.tcp).poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => this.down_done = true,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
                continue;
            }
            budget -= 1;
            match this.stream.poll_recv(cx) {
                Poll::Ready(Ok(Some(chunk))) => this.down = chunk,
                Poll::Ready(Ok(None)) => this.down_eof = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if this.up_done && this.down_done {
            return Poll::Ready(Ok(()));
        }
        if budget == 0 {
            // Out of turns with work left: come back after the others.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// Copies both ways between two streams (transit) until both directions ended or one fails.
pub(crate) async fn splice_streams(mut a: Stream, mut b: Stream) -> io::Result<()> {
    async fn one_way(early: Bytes, from: &Stream, to: &Stream) -> io::Result<()> {
        if !early.is_empty() {
            to.send(early).await?;
        }
        while let Some(chunk) = from.recv().await? {
            to.send(chunk).await?;
        }
        to.finish();
        Ok(())
    }
    let (ea, eb) = (a.take_partial(), b.take_partial());
    tokio::try_join!(one_way(ea, &a, &b), one_way(eb, &b, &a)).map(|_| ())
}

/// Copies both ways between two TCP connections (a listener and a local connector) with the
/// same idle-friendly buffers.
pub(crate) async fn splice_tcp_tcp(mut a: TcpStream, mut b: TcpStream) -> io::Result<()> {
    async fn one_way(from: &tokio::net::tcp::ReadHalf<'_>, to: &mut tokio::net::tcp::WriteHalf<'_>) -> io::Result<()> {
        while let Some(chunk) = read_chunk(from).await? {
            to.write_all(&chunk).await?;
        }
        to.shutdown().await
    }
    let (ar, mut aw) = a.split();
    let (br, mut bw) = b.split();
    tokio::try_join!(one_way(&ar, &mut bw), one_way(&br, &mut aw)).map(|_| ())
}
