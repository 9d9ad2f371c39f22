//! The client side of each workload: it only generates load and checks what comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `total` bytes split across `streams` connections to the sink, which reports what it got.
/// All the connections are opened before the clock starts (a burst of hundreds of connects
/// would measure the accept queue, not the data path). Returns Gbit/s.
pub(crate) async fn throughput(port: u16, streams: usize, total: u64) -> Result<f64> {
    let per = total / streams as u64;
    let mut conns = Vec::with_capacity(streams);
    for _ in 0..streams {
        conns.push(TcpStream::connect(("127.0.0.1", port)).await?);
    }
    let start = Instant::now();
    let tasks: Vec<_> = conns.into_iter().map(|s| tokio::spawn(send_counted(s, per))).collect();
    for t in tasks {
        t.await??;
    }
    Ok((per * streams as u64) as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
}

/// Sends `bytes` to the sink, half-closes, and checks the count it answers with.
async fn send_counted(mut s: TcpStream, bytes: u64) -> Result<()> {
    let buf = vec![0x5au8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..n]).await.context("sending to the sink")?;
        left -= n as u64;
    }
    s.shutdown().await?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count).await.context("reading the sink's count")?;
    let got = u64::from_be_bytes(count);
    if got != bytes {
        bail!("sink received {got} bytes, sent {bytes}");
    }
    Ok(())
}

/// Writes `payload` bytes and reads them back from the echo server, checking them.
async fn round_trip(s: &mut TcpStream, out: &[u8], back: &mut [u8]) -> Result<()> {
    s.write_all(out).await?;
    s.read_exact(back).await?;
    if back != out {
        bail!("the echo came back different");
    }
    Ok(())
}

/// `concurrency` loops of: connect, one request of `payload` bytes echoed, close, for `secs`.
/// Returns connections per second.
pub(crate) async fn conn_rate(port: u16, concurrency: usize, secs: f64, payload: usize) -> Result<f64> {
    repeat(concurrency, secs, move |done, deadline| async move {
        let out = vec![7u8; payload];
        let mut back = vec![0u8; payload];
        while Instant::now() < deadline {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.set_nodelay(true)?;
            round_trip(&mut s, &out, &mut back).await?;
            drop(s);
            done.fetch_add(1, Ordering::Relaxed);
        }
        anyhow::Ok(())
    })
    .await
}

/// `concurrency` connections kept open, each sending requests of `payload` bytes back to back
/// for `secs`. Returns round trips per second (all connections together).
pub(crate) async fn round_trip_rate(port: u16, concurrency: usize, secs: f64, payload: usize) -> Result<f64> {
    repeat(concurrency, secs, move |done, deadline| async move {
        let out = vec![3u8; payload];
        let mut back = vec![0u8; payload];
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        while Instant::now() < deadline {
            round_trip(&mut s, &out, &mut back).await?;
            done.fetch_add(1, Ordering::Relaxed);
        }
        anyhow::Ok(())
    })
    .await
}

/// Runs `concurrency` copies of `task` until `secs` pass; returns what they counted per second.
async fn repeat<F, Fut>(concurrency: usize, secs: f64, task: F) -> Result<f64>
where
    F: Fn(Arc<AtomicU64>, Instant) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..concurrency).map(|_| tokio::spawn(task(done.clone(), deadline))).collect();
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// One connection, one 64-byte request at a time with a short pause (low load): p50, p99 and
/// p99.9 of `n` round trips in µs.
pub(crate) async fn latency(port: u16, n: usize) -> Result<[f64; 3]> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    let out = [1u8; 64];
    let mut back = [0u8; 64];
    for _ in 0..n / 10 {
        round_trip(&mut s, &out, &mut back).await?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        round_trip(&mut s, &out, &mut back).await?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        tokio::time::sleep(Duration::from_micros(50)).await;
    }
    Ok(percentiles(samples))
}

/// p50, p99 and p99.9 of `samples`.
fn percentiles(mut samples: Vec<f64>) -> [f64; 3] {
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    [q(0.50), q(0.99), q(0.999)]
}

/// One new connection at a time (low load): connect, one 64-byte request echoed, close; p50,
/// p99 and p99.9 of `n` connections in µs: what a short-lived connection waits.
pub(crate) async fn connect_latency(port: u16, n: usize) -> Result<[f64; 3]> {
    let out = [9u8; 64];
    let mut back = [0u8; 64];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        round_trip(&mut s, &out, &mut back).await?;
        if i >= n / 10 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        drop(s);
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(percentiles(samples))
}

/// Opens `n` echo connections, each proven to go through with one byte, and keeps them idle.
pub(crate) async fn open_idle(port: u16, n: usize) -> Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(&[9]).await?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await?;
        conns.push(s);
    }
    Ok(conns)
}
