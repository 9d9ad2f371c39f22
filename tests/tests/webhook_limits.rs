//! The webhook under connection abuse: a source holding more connections than its cap gets the
//! excess closed at once, and the API server (another source) is still answered.
#![cfg(feature = "webhook")]
#![allow(clippy::unwrap_used)]

mod webhook_support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt as _;
use webhook_support::{Client, link, review, serve};

/// The webhook's default per-source cap (`SKUPPER_WEBHOOK_MAX_PER_SOURCE`).
const PER_SOURCE: usize = 256;

async fn silent_from(source: [u8; 4], to: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn one_source_cannot_take_every_connection() {
    let server = serve(&[]);
    let mut held = Vec::new();
    for _ in 0..PER_SOURCE {
        held.push(silent_from([127, 0, 0, 2], server.addr).await);
    }
    // One more from the same source: closed at once (before: held until the 10 s handshake
    // deadline, with no cap at all).
    let mut extra = silent_from([127, 0, 0, 2], server.addr).await;
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the connection over the cap was kept: {closed:?}");
    // The API server, from 127.0.0.1, is answered meanwhile.
    let mut c = Client::connect(&server).await;
    let r = c.review(&review("under-load", "CREATE", link("link-west", json!({})))).await;
    assert_eq!(r["allowed"], true, "{r}");
    drop(held);
}
