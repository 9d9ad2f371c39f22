//! Opening a data stream through a link: the header goes out, the destination dials its target
//! and answers. A plain-TCP client's first bytes go out right behind the header instead of
//! waiting for that answer (one link round trip less per new connection); they are kept until
//! the answer comes, so that a refusal can send them again to the next target.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::mux::{MAX_FRAME, OpenError};
use super::peer::{LinkStream, SessionHandle};
use super::proto::{DataHeader, DataReply, MAX_HEADER_FRAME, StreamHeader, read_frame, write_frame};

/// Reads shorter than this are copied into a buffer of their own size before they are kept.
const SMALL_READ: usize = 4096;

/// Time for the answer to a data stream (covers the destination's dial and a few hops).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Client bytes sent ahead of the answer, at most: what a first request usually takes, and the
/// most a connection keeps for a resend.
pub(crate) const EARLY_LIMIT: usize = 64 * 1024;

/// Why a data stream through a link could not be opened. The texts go into route decisions,
/// listener logs and the answer to the hop before.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// The link has no room for another stream, or closed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The destination, or a hop on the way, refused it (in its words): nothing sent on the
    /// stream reached a target.
    #[error("{0}")]
    Refused(String),
    /// The stream ended before the answer.
    #[error("the link closed the stream")]
    Closed,
    /// Writing the header or reading the answer failed.
    #[error("the stream failed: {0}")]
    Failed(#[source] io::Error),
    /// No answer within [`REPLY_TIMEOUT`].
    #[error("no answer within {secs}s")]
    Timeout {
        /// The deadline, in seconds.
        secs: u64,
    },
    /// Reading the client's first bytes failed: the client is gone.
    #[error("the client's connection failed: {0}")]
    Client(#[source] io::Error),
}

impl StreamError {
    /// Whether the client's connection may go to another target after this failure, given
    /// that `sent` of its bytes went out on the stream: always after a refusal (the destination
    /// says it reached no target), otherwise only when nothing was sent (the destination may
    /// have had them already: sending them elsewhere could deliver a request twice).
    pub(crate) fn may_try_next(&self, sent: &Sent) -> bool {
        match self {
            Self::Refused(_) | Self::Open(_) => true,
            Self::Client(_) => false,
            Self::Closed | Self::Failed(_) | Self::Timeout { .. } => sent.is_empty(),
        }
    }
}

/// A client's bytes that went out ahead of an answer, kept until a target takes them.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Sent {
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes them to a target that took the connection.
    pub(crate) async fn replay<W: tokio::io::AsyncWrite + Unpin>(&self, w: &mut W) -> io::Result<()> {
        for c in &self.chunks {
            w.write_all(c).await?;
        }
        Ok(())
    }
}

/// Opens a data stream through `session` and waits for the destination's answer.
pub(crate) async fn open_data_stream(session: &SessionHandle, header: &DataHeader) -> Result<LinkStream, StreamError> {
    let mut stream = session.open()?;
    let exchange = async {
        write_frame(&mut stream, &StreamHeader::Data(header.clone())).await?;
        stream.flush().await?;
        read_frame::<_, DataReply>(&mut stream, MAX_HEADER_FRAME).await
    };
    match tokio::time::timeout(REPLY_TIMEOUT, exchange).await {
        Ok(result) => answer(result)?,
        Err(_) => return Err(StreamError::Timeout { secs: REPLY_TIMEOUT.as_secs() }),
    }
    Ok(stream)
}

/// Opens a data stream through `session` for the plain-TCP client `tcp`: sends what earlier
/// attempts sent (`sent`), then the client's bytes as they come, up to [`EARLY_LIMIT`] in all
/// (each one kept in `sent`), while waiting for the destination's answer. On success the
/// splice takes over the client and the stream; bytes past the limit wait in the socket.
pub(crate) async fn open_early(
    session: &SessionHandle,
    header: &DataHeader,
    tcp: &TcpStream,
    sent: &mut Sent,
) -> Result<LinkStream, StreamError> {
    let mut stream = session.open()?;
    let exchange = async {
        write_frame(&mut stream, &StreamHeader::Data(header.clone())).await.map_err(StreamError::Failed)?;
        for c in &sent.chunks {
            stream.send(c.clone()).await.map_err(StreamError::Failed)?;
        }
        let mut reply = ReplyReader::default();
        let mut client_done = false;
        poll_fn(|cx| {
            if let Poll::Ready(r) = reply.poll(cx, &mut stream) {
                return Poll::Ready(answer(r));
            }
            while !client_done && sent.len < EARLY_LIMIT {
                match tcp.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(StreamError::Client(e))),
                    Poll::Pending => break,
                }
                let mut buf = BytesMut::with_capacity((EARLY_LIMIT - sent.len).min(MAX_FRAME));
                match tcp.try_read_buf(&mut buf) {
                    Ok(0) => {
                        client_done = true;
                        stream.finish();
                    }
                    Ok(n) => {
                        // Within the limit, the stream's whole window is still there.
                        match stream.poll_credit(cx, n) {
                            Poll::Ready(Ok(c)) if c == n => {}
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(StreamError::Failed(e))),
                            _ => {
                                return Poll::Ready(Err(StreamError::Failed(io::Error::other(
                                    "no credit for the first bytes",
                                ))));
                            }
                        }
                        // The copy is kept until the answer: a short request gets a buffer
                        // of its own size, not the read's 64 KiB.
                        let chunk = if n < SMALL_READ { Bytes::copy_from_slice(&buf) } else { buf.freeze() };
                        stream.send_credited(chunk.clone());
                        sent.chunks.push(chunk);
                        sent.len += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Poll::Ready(Err(StreamError::Client(e))),
                }
            }
            Poll::Pending
        })
        .await
    };
    match tokio::time::timeout(REPLY_TIMEOUT, exchange).await {
        Ok(Ok(())) => Ok(stream),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StreamError::Timeout { secs: REPLY_TIMEOUT.as_secs() }),
    }
}

/// The destination's answer as a result.
fn answer(r: io::Result<Option<DataReply>>) -> Result<(), StreamError> {
    match r {
        Ok(Some(DataReply { error: None })) => Ok(()),
        Ok(Some(DataReply { error: Some(e) })) => Err(StreamError::Refused(e)),
        Ok(None) => Err(StreamError::Closed),
        Err(e) => Err(StreamError::Failed(e)),
    }
}

/// Reads the answer frame (as [`read_frame`] does) one poll at a time, leaving what follows it
/// in the stream.
#[derive(Default)]
struct ReplyReader {
    len: [u8; 4],
    got: usize,
    body: Vec<u8>,
}

impl ReplyReader {
    fn poll(&mut self, cx: &mut Context<'_>, stream: &mut LinkStream) -> Poll<io::Result<Option<DataReply>>> {
        loop {
            if self.got >= 4 && self.got == 4 + self.body.len() {
                let reply =
                    serde_json::from_slice(&self.body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
                return Poll::Ready(reply.map(Some));
            }
            // The length first, then the body, each read in place.
            let into = if self.got < 4 { &mut self.len[self.got..] } else { &mut self.body[self.got - 4..] };
            let mut rb = ReadBuf::new(into);
            std::task::ready!(Pin::new(&mut *stream).poll_read(cx, &mut rb))?;
            let filled = rb.filled().len();
            if filled == 0 {
                return Poll::Ready(if self.got == 0 { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) });
            }
            self.got += filled;
            if self.got == 4 {
                let len = u32::from_be_bytes(self.len) as usize;
                if len > MAX_HEADER_FRAME {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("frame of {len} bytes exceeds {MAX_HEADER_FRAME}"),
                    )));
                }
                self.body = vec![0u8; len];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::lanes::Lanes;
    use crate::mux::tests::{pair, within};
    use crate::peer::Outbox;

    /// The router's end of a fresh client connection, and the client's.
    async fn client() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        (within(l.accept()).await.unwrap().0, c)
    }

    /// Reads from the destination's end of the stream until `n` bytes came.
    async fn read_n(s: &mut LinkStream, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        within(s.read_exact(&mut v)).await.unwrap();
        v
    }

    fn header() -> DataHeader {
        DataHeader { routing_key: "svc".into(), destination: "id-b".into(), origin: "id-a".into(), ttl: 3 }
    }

    #[tokio::test]
    async fn a_clients_first_bytes_go_out_before_the_answer_and_are_kept_until_it_comes() {
        let mut p = pair().await;
        let session = Arc::new(SessionHandle {
            id: 1,
            mux: p.dialer.clone(),
            lanes: Arc::new(Lanes::default()),
            outbox: Arc::new(Outbox::default()),
        });
        let open = |tcp: TcpStream, mut sent: Sent| {
            let session = session.clone();
            tokio::spawn(async move {
                let r = open_early(&session, &header(), &tcp, &mut sent).await;
                (r, sent, tcp)
            })
        };

        // Accepted: the destination has the client's bytes before it answers.
        let (tcp, mut c) = client().await;
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let task = open(tcp, Sent::default());
        let mut d = within(p.inbound.recv()).await.unwrap();
        let h = within(read_frame::<_, StreamHeader>(&mut d, MAX_HEADER_FRAME)).await.unwrap();
        assert!(matches!(h, Some(StreamHeader::Data(h)) if h.destination == "id-b"));
        assert_eq!(read_n(&mut d, 18).await, b"GET / HTTP/1.0\r\n\r\n");
        write_frame(&mut d, &DataReply { error: None }).await.unwrap();
        d.write_all(b"HTTP/1.0 200 OK").await.unwrap();
        let (r, sent, _tcp) = within(task).await.unwrap();
        let mut s = r.unwrap();
        assert_eq!(sent.len, 18);
        // What followed the answer is the stream's: the splice reads it next.
        let mut after = vec![0u8; 15];
        within(s.read_exact(&mut after)).await.unwrap();
        assert_eq!(after, b"HTTP/1.0 200 OK");

        // Refused: everything sent is kept for the next target, and no more than the limit
        // went out ahead of the answer.
        let (tcp, mut c) = client().await;
        let big: Vec<u8> = (0..3 * EARLY_LIMIT).map(|i| (i % 251) as u8).collect();
        let writer = tokio::spawn(async move {
            // It fails once the router's end is closed at the end of the test.
            let _ = c.write_all(&big).await;
            c
        });
        let task = open(tcp, Sent::default());
        let mut d = within(p.inbound.recv()).await.unwrap();
        within(read_frame::<_, StreamHeader>(&mut d, MAX_HEADER_FRAME)).await.unwrap().unwrap();
        let ahead = read_n(&mut d, EARLY_LIMIT).await;
        assert!(ahead.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        let more = tokio::time::timeout(Duration::from_millis(300), d.recv()).await;
        assert!(more.is_err(), "more than EARLY_LIMIT went out before the answer: {more:?}");
        assert!(d.take_partial().is_empty(), "more than EARLY_LIMIT went out before the answer");
        write_frame(&mut d, &DataReply { error: Some("no connector here".into()) }).await.unwrap();
        let (r, sent, tcp) = within(task).await.unwrap();
        let e = r.unwrap_err();
        assert!(matches!(&e, StreamError::Refused(t) if t == "no connector here"), "{e:?}");
        assert!(e.may_try_next(&sent));
        let mut replayed = Vec::new();
        sent.replay(&mut replayed).await.unwrap();
        assert_eq!(replayed, ahead);

        // The next attempt sends the kept bytes first, then the rest of the client's.
        let (r, sent, tcp) = {
            let task = open(tcp, sent);
            let mut d = within(p.inbound.recv()).await.unwrap();
            within(read_frame::<_, StreamHeader>(&mut d, MAX_HEADER_FRAME)).await.unwrap().unwrap();
            assert_eq!(read_n(&mut d, EARLY_LIMIT).await, ahead);
            write_frame(&mut d, &DataReply { error: None }).await.unwrap();
            let out = within(task).await.unwrap();
            drop(d);
            out
        };
        assert!(r.is_ok());
        assert_eq!(sent.len, EARLY_LIMIT, "the first attempt's bytes are not read again");
        drop(tcp);
        let _ = within(writer).await;

        // An ambiguous end after bytes went out: not to be sent anywhere else.
        let closed = StreamError::Closed;
        assert!(closed.may_try_next(&Sent::default()));
        assert!(!closed.may_try_next(&sent));
    }
}
