//! What a proxy sees of a link: a tapping CONNECT proxy written here records every byte it relays.
//! The first bytes after the CONNECT are a TLS ClientHello, everything relayed is TLS records, and
//! application payload sent through the link never appears in the clear. The tap also answers
//! without a reason phrase (which upstream's router rejects) and can close the tunnel at once.
#![allow(clippy::unwrap_used, missing_docs)]

mod proxy_support;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use proxy_support::{
    LINK, echo_service, inter_router_port, proxied_pair, proxy_secret, round_trip, wait_message, wait_ready,
};
use skupper_e2e::Env;

/// Most bytes recorded per direction of a tunnel.
const RECORD_CAP: usize = 16 << 20;

#[derive(Debug, Default)]
struct Tunnel {
    /// The request head, up to the blank line.
    request: String,
    /// Client to server, after the head.
    up: Vec<u8>,
    /// Server to client, after the answer.
    down: Vec<u8>,
}

type Tunnels = Arc<Mutex<Vec<Tunnel>>>;

#[derive(Clone, Copy)]
enum Mode {
    /// Answer `HTTP/1.0 200` (no reason phrase) and relay.
    Relay,
    /// Answer `HTTP/1.1 200 Connection established`, then close both ends.
    CloseAfterOk,
}

/// Starts the tap on `ip`; runs until the test process ends. Returns its port and its tunnels.
fn tap(ip: &str, mode: Mode) -> (u16, Tunnels) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels: Tunnels = Arc::default();
    let t = tunnels.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let t = t.clone();
            std::thread::spawn(move || serve(client, mode, &t));
        }
    });
    (port, tunnels)
}

fn serve(mut client: TcpStream, mode: Mode, tunnels: &Tunnels) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) if head.len() < 8192 => head.push(byte[0]),
            _ => return,
        }
    }
    let request = String::from_utf8_lossy(&head).into_owned();
    let Some(target) = request.strip_prefix("CONNECT ").and_then(|r| r.split(' ').next()).map(str::to_string) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    let index = {
        let mut all = tunnels.lock().unwrap();
        all.push(Tunnel { request, ..Default::default() });
        all.len() - 1
    };
    if let Mode::CloseAfterOk = mode {
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        let _ = client.shutdown(std::net::Shutdown::Both);
        return;
    }
    let Ok(server) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    if client.write_all(b"HTTP/1.0 200\r\n\r\n").is_err() {
        return;
    }
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = tunnels.clone();
    std::thread::spawn(move || relay(c2, s2, &up, index, true));
    relay(server, client, tunnels, index, false);
}

/// Copies `from` to `to`, recording what passes (before forwarding it).
fn relay(mut from: TcpStream, mut to: TcpStream, tunnels: &Tunnels, index: usize, up: bool) {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut all = tunnels.lock().unwrap();
            let rec = if up { &mut all[index].up } else { &mut all[index].down };
            if rec.len() + n <= RECORD_CAP {
                rec.extend_from_slice(&buf[..n]);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Splits a byte stream into TLS records: (content type, body). Fails on anything that is not
/// TLS record framing; a last partial record is allowed (the capture may end mid-record).
fn tls_records(stream: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 5 {
        let (ty, major, len) = (rest[0], rest[1], usize::from(u16::from_be_bytes([rest[3], rest[4]])));
        if !matches!(ty, 20..=23) || major != 3 || len > (1 << 14) + 256 {
            return Err(format!("not a TLS record at offset {}: {:02x?}", stream.len() - rest.len(), &rest[..5]));
        }
        let end = (5 + len).min(rest.len());
        out.push((ty, &rest[5..end]));
        rest = &rest[end..];
    }
    Ok(out)
}

#[test]
fn the_proxy_relays_only_tls_and_never_the_payload() {
    let env = Env::new("proxy-tap");
    env.site_with_link_access("west");
    let port = inter_router_port(&env, "west");
    let (tap_port, tunnels) = tap(&env.ip, Mode::Relay);
    proxied_pair(&env, "tap", &proxy_secret("tap", &env.ip, tap_port, None));
    env.start("west");
    env.start("east");
    // Ready although the tap's status line has no reason phrase.
    wait_ready(&env, "east", LINK);

    let front = echo_service(&env);
    let marker = b"SKUPPER-PLAINTEXT-MARKER-7f3a9c";
    let data: Vec<u8> = marker.iter().copied().cycle().take(marker.len() * 4096).collect();
    let back = round_trip(&env.ip, front, &data).unwrap();
    assert!(back == data, "the marker went through the link and back ({} bytes)", back.len());

    let all = tunnels.lock().unwrap();
    let target = format!("{}:{port}", env.ip);
    let t = all
        .iter()
        .find(|t| t.request.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")))
        .unwrap_or_else(|| panic!("no CONNECT to {target}: {:?}", all.iter().map(|t| &t.request).collect::<Vec<_>>()));
    assert!(t.request.contains(&format!("\r\nHost: {target}\r\n")), "{}", t.request);
    assert!(!t.request.contains("Proxy-Authorization"), "no credentials in the Secret: {}", t.request);
    // First thing after the CONNECT: a TLS handshake record holding a ClientHello; the answer
    // starts with a ServerHello.
    assert_eq!(
        (t.up.first(), t.up.get(5)),
        (Some(&22), Some(&1)),
        "ClientHello first: {:02x?}",
        &t.up[..16.min(t.up.len())]
    );
    assert_eq!((t.down.first(), t.down.get(5)), (Some(&22), Some(&2)), "ServerHello first");
    for (dir, bytes) in [("up", &t.up), ("down", &t.down)] {
        let records = tls_records(bytes).unwrap_or_else(|e| panic!("{dir}: {e}"));
        // The payload crossed in application-data records (type 23), and far more than the marker.
        let app: usize = records.iter().filter(|(ty, _)| *ty == 23).map(|(_, b)| b.len()).sum();
        assert!(app >= data.len(), "{dir}: {app} bytes of application data for {} bytes of payload", data.len());
        assert!(!bytes.windows(marker.len()).any(|w| w == marker), "{dir}: the proxy saw the payload in the clear");
    }
}

#[test]
fn a_proxy_closing_the_tunnel_is_reported() {
    let env = Env::new("proxy-tap-close");
    env.site_with_link_access("west");
    let port = inter_router_port(&env, "west");
    let (tap_port, tunnels) = tap(&env.ip, Mode::CloseAfterOk);
    proxied_pair(&env, "tap", &proxy_secret("tap", &env.ip, tap_port, None));
    env.start("west");
    env.start("east");
    let message = format!("proxy closed the tunnel to {}:{port} before the TLS handshake finished", env.ip);
    wait_message(&env, "east", LINK, &message);
    assert!(!tunnels.lock().unwrap().is_empty());
}
