//! Links through an HTTP CONNECT proxy (reference §4.3): open TCP to the proxy, ask it for a
//! tunnel to the link endpoint, and hand the tunnel to TLS, so the proxy never sees plaintext.
//!
//! Unlike upstream `proxy.c`, a status line without a reason phrase is accepted (RFC 9112 allows
//! an empty reason) and the `Basic` scheme is spelled as the RFC does.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ProxySettings;
use super::link::connect_tcp;

/// Largest response head accepted from a proxy.
const MAX_HEAD: usize = 16 << 10;

/// `host:port` as a request target (IPv6 literals in brackets).
pub(crate) fn authority(host: &str, port: u16) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.contains(':') { format!("[{bare}]:{port}") } else { format!("{bare}:{port}") }
}

/// The CONNECT request for `host:port`.
pub(crate) fn request(proxy: &ProxySettings, host: &str, port: u16) -> String {
    let target = authority(host, port);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(user) = proxy.username.as_deref() {
        let cred = format!("{user}:{}", proxy.password.as_deref().unwrap_or(""));
        let cred = base64::engine::general_purpose::STANDARD.encode(cred);
        req.push_str(&format!("Proxy-Authorization: Basic {cred}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Opens a tunnel to `host:port` through `proxy` (named after its Secret `secret` in messages).
pub(crate) async fn connect(
    proxy: &ProxySettings,
    secret: &str,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let mut tcp = connect_tcp(&proxy.host, proxy.port, timeout).await.map_err(|e| format!("proxy unreachable: {e}"))?;
    let target = authority(host, port);
    let exchange = async {
        tcp.write_all(request(proxy, host, port).as_bytes())
            .await
            .map_err(|e| format!("proxy closed the connection while sending the CONNECT for {target}: {e}"))?;
        let head = read_head(&mut tcp).await.map_err(|e| match e {
            HeadError::Closed => format!("proxy closed the connection before answering the CONNECT for {target}"),
            HeadError::TooLong => "proxy sent an oversized response to the CONNECT".to_string(),
            HeadError::Io(e) => format!("proxy connection failed during the CONNECT for {target}: {e}"),
        })?;
        check_status(&head, secret, &target)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Ok(tcp),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("timed out waiting for the proxy to answer the CONNECT for {target}")),
    }
}

#[derive(Debug)]
enum HeadError {
    Closed,
    TooLong,
    Io(std::io::Error),
}

/// Reads the response head up to and including the blank line, one byte at a time so that
/// nothing the server sends through the tunnel afterwards is consumed.
async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte).await {
            Ok(0) => return Err(HeadError::Closed),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(HeadError::Io(e)),
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(HeadError::TooLong);
        }
    }
}

/// Accepts any 2xx status, with or without a reason phrase.
fn check_status(head: &[u8], secret: &str, target: &str) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("").trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("proxy sent a malformed answer to the CONNECT: {line:?}"));
    }
    match code {
        c if c.starts_with('2') => Ok(()),
        "407" => Err(format!(
            "proxy authentication required (407); check the username and password in proxy Secret {secret}"
        )),
        "403" => Err(format!("proxy denied the CONNECT (403 Forbidden); the proxy must allow tunnels to {target}")),
        _ => Err(format!("proxy refused the CONNECT to {target}: {line}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(user: Option<&str>, pass: Option<&str>) -> ProxySettings {
        ProxySettings {
            host: "proxy".into(),
            port: 3128,
            username: user.map(Into::into),
            password: pass.map(Into::into),
        }
    }

    #[test]
    fn request_shape() {
        assert_eq!(
            request(&settings(None, None), "west.example.com", 55671),
            "CONNECT west.example.com:55671 HTTP/1.1\r\nHost: west.example.com:55671\r\n\r\n"
        );
        // base64("alice:s3cret")
        assert_eq!(
            request(&settings(Some("alice"), Some("s3cret")), "::1", 1),
            "CONNECT [::1]:1 HTTP/1.1\r\nHost: [::1]:1\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"
        );
    }

    #[test]
    fn statuses() {
        let ok = |s: &str| check_status(s.as_bytes(), "p", "t:1");
        assert_eq!(ok("HTTP/1.1 200 Connection established\r\n\r\n"), Ok(()));
        assert_eq!(ok("HTTP/1.0 200\r\n\r\n"), Ok(()));
        assert_eq!(ok("HTTP/1.1 204 \r\nVia: x\r\n\r\n"), Ok(()));
        assert!(
            ok("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .is_err_and(|e| e.starts_with("proxy authentication required (407)"))
        );
        assert!(
            ok("HTTP/1.1 403 Forbidden\r\n\r\n")
                .is_err_and(|e| e.starts_with("proxy denied the CONNECT (403 Forbidden)"))
        );
        assert!(ok("HTTP/1.1 502 Bad Gateway\r\n\r\n").is_err_and(|e| e.contains("502 Bad Gateway")));
        assert!(ok("SSH-2.0-OpenSSH\r\n\r\n").is_err_and(|e| e.contains("malformed")));
        assert!(ok("HTTP/1.1 2000 x\r\n\r\n").is_err_and(|e| e.contains("malformed")));
        assert!(ok("").is_err());
    }

    #[tokio::test]
    async fn head_reading_stops_at_the_blank_line() {
        let mut r: &[u8] = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nTLS-BYTES";
        let head = read_head(&mut r).await.expect("head");
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
        assert_eq!(r, b"TLS-BYTES");
        let mut r: &[u8] = b"HTTP/1.1 200 OK\r\n";
        assert!(matches!(read_head(&mut r).await, Err(HeadError::Closed)));
        let long = vec![b'a'; MAX_HEAD + 10];
        let mut r = &long[..];
        assert!(matches!(read_head(&mut r).await, Err(HeadError::TooLong)));
    }
}
