//! Links through an HTTP CONNECT proxy (reference §4.3): open TCP to the proxy, ask it for a
//! tunnel to the link endpoint, and hand the tunnel to TLS, so the proxy never sees plaintext.
//!
//! Unlike upstream `proxy.c`, a status line without a reason phrase is accepted (RFC 9112 allows
//! an empty reason) and the `Basic` scheme is spelled as the RFC does.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::net::{ConnectError, authority, connect_tcp};
use skupper_core::resources::ProxySettings;

/// Largest response head accepted from a proxy.
const MAX_HEAD: usize = 16 << 10;

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

/// Why a tunnel through a proxy could not be opened: the texts are link status messages and say
/// what to change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// No TCP connection to the proxy.
    #[error("proxy unreachable: {0}")]
    Unreachable(#[source] ConnectError),
    /// Writing the CONNECT request failed.
    #[error("proxy closed the connection while the CONNECT to {target} was sent: {source}")]
    Send {
        /// The tunnel's target, `host:port`.
        target: String,
        /// The write's error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy closed before its answer was complete.
    #[error("proxy closed the connection before answering the CONNECT to {target}")]
    Closed {
        /// The tunnel's target.
        target: String,
    },
    /// The answer's head exceeds [`MAX_HEAD`].
    #[error("proxy sent an oversized answer to the CONNECT to {target}")]
    TooLong {
        /// The tunnel's target.
        target: String,
    },
    /// Reading the answer failed.
    #[error("proxy connection failed during the CONNECT to {target}: {source}")]
    Read {
        /// The tunnel's target.
        target: String,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    /// No complete answer within the deadline.
    #[error("proxy did not answer the CONNECT to {target} within {secs}s")]
    Timeout {
        /// The tunnel's target.
        target: String,
        /// The deadline, in seconds.
        secs: u64,
    },
    /// The answer is not an HTTP/1.x status line.
    #[error("proxy sent a malformed answer to the CONNECT to {target}: {line:?}")]
    Malformed {
        /// The tunnel's target.
        target: String,
        /// The first line of the answer.
        line: String,
    },
    /// 407 to a request without credentials.
    #[error("proxy authentication required (407); add username and password to proxy Secret {secret}")]
    NoCredentials {
        /// The proxy Secret.
        secret: String,
    },
    /// 407 to a request with credentials.
    #[error("proxy authentication required (407); check the username and password in proxy Secret {secret}")]
    BadCredentials {
        /// The proxy Secret.
        secret: String,
    },
    /// 403: the proxy does not allow CONNECT to that port.
    #[error("proxy denied the CONNECT to {target} (403 Forbidden); the proxy must allow CONNECT to port {port}")]
    Forbidden {
        /// The tunnel's target.
        target: String,
        /// Its port.
        port: String,
    },
    /// 502, 503, 504: the proxy could not reach the target.
    #[error(
        "proxy could not connect to {target} ({status}); check that the remote site runs and that the proxy can \
         reach it"
    )]
    TargetUnreachable {
        /// The tunnel's target.
        target: String,
        /// Status code and reason phrase.
        status: String,
    },
    /// Any other status.
    #[error("proxy refused the CONNECT to {target} ({status})")]
    Refused {
        /// The tunnel's target.
        target: String,
        /// Status code and reason phrase.
        status: String,
    },
}

/// Opens a tunnel to `host:port` through `proxy` (named after its Secret `secret` in messages).
pub(crate) async fn connect(
    proxy: &ProxySettings,
    secret: &str,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let mut tcp = connect_tcp(&proxy.host, proxy.port, timeout).await.map_err(ProxyError::Unreachable)?;
    let target = authority(host, port);
    let exchange = async {
        tcp.write_all(request(proxy, host, port).as_bytes())
            .await
            .map_err(|source| ProxyError::Send { target: target.clone(), source })?;
        let head = read_head(&mut tcp).await.map_err(|e| match e {
            HeadError::Closed => ProxyError::Closed { target: target.clone() },
            HeadError::TooLong => ProxyError::TooLong { target: target.clone() },
            HeadError::Io(source) => ProxyError::Read { target: target.clone(), source },
        })?;
        check_status(&head, proxy, secret, &target)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Ok(tcp),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ProxyError::Timeout { target, secs: timeout.as_secs() }),
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

/// Accepts any 2xx status, with or without a reason phrase; says what to fix for the others.
fn check_status(head: &[u8], proxy: &ProxySettings, secret: &str, target: &str) -> Result<(), ProxyError> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("").trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let reason = parts.next().unwrap_or("").trim();
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::Malformed { target: target.to_string(), line: line.to_string() });
    }
    let status = if reason.is_empty() { code.to_string() } else { format!("{code} {reason}") };
    let port = target.rsplit_once(':').map_or("", |(_, p)| p).to_string();
    let (target, secret) = (target.to_string(), secret.to_string());
    match code {
        c if c.starts_with('2') => Ok(()),
        "407" if proxy.username.is_none() => Err(ProxyError::NoCredentials { secret }),
        "407" => Err(ProxyError::BadCredentials { secret }),
        "403" => Err(ProxyError::Forbidden { target, port }),
        "502" | "503" | "504" => Err(ProxyError::TargetUnreachable { target, status }),
        _ => Err(ProxyError::Refused { target, status }),
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
        let ok = |s: &str| {
            check_status(s.as_bytes(), &settings(Some("alice"), Some("x")), "corp", "west:55671")
                .map_err(|e| e.to_string())
        };
        assert_eq!(ok("HTTP/1.1 200 Connection established\r\n\r\n"), Ok(()));
        assert_eq!(ok("HTTP/1.0 200\r\n\r\n"), Ok(()));
        assert_eq!(ok("HTTP/1.1 204 \r\nVia: x\r\n\r\n"), Ok(()));
        assert_eq!(
            ok("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            Err("proxy authentication required (407); check the username and password in proxy Secret corp".into())
        );
        let anonymous = check_status(b"HTTP/1.1 407 x\r\n\r\n", &settings(None, None), "corp", "west:55671")
            .map_err(|e| e.to_string());
        assert_eq!(
            anonymous,
            Err("proxy authentication required (407); add username and password to proxy Secret corp".into())
        );
        assert_eq!(
            ok("HTTP/1.1 403 Access violation\r\n\r\n"),
            Err("proxy denied the CONNECT to west:55671 (403 Forbidden); the proxy must allow CONNECT to port 55671"
                .into())
        );
        assert!(
            ok("HTTP/1.1 503 Service Unavailable\r\n\r\n")
                .is_err_and(|e| e.starts_with("proxy could not connect to west:55671 (503 Service Unavailable)"))
        );
        assert_eq!(ok("HTTP/1.1 418\r\n\r\n"), Err("proxy refused the CONNECT to west:55671 (418)".into()));
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

    /// A proxy that tunnels only for `alice:s3cret`, answering 407 otherwise.
    async fn auth_proxy() -> u16 {
        use tokio::io::AsyncWriteExt as _;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = l.local_addr().expect("proxy addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let Ok(head) = read_head(&mut s).await else { return };
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                    // base64("alice:s3cret")
                    if !head.contains("\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n") {
                        let _ = s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
                        return;
                    }
                    let Ok(mut up) = TcpStream::connect(&target).await else { return };
                    let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                    let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                });
            }
        });
        port
    }

    /// Polls `router` until `f` holds for link `name`, for at most 30 s.
    async fn wait_link(router: &crate::Router, name: &str, f: impl Fn(&crate::LinkState) -> bool) {
        let poll = async {
            loop {
                if router.status().links.get(name).is_some_and(&f) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let last = || format!("{:?}", router.status().links.get(name));
        tokio::time::timeout(Duration::from_secs(30), poll).await.unwrap_or_else(|_| panic!("timed out: {}", last()));
    }

    /// A changed proxy Secret restarts the link's dialer at once: with a backoff of an hour, the
    /// link can only become ready in time if the new settings are dialled without waiting.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_proxy_settings_redial_at_once_despite_the_backoff() {
        use crate::Router;
        use crate::certs::{DEFAULT_VALIDITY, issue_client, issue_server, new_ca};
        use crate::model::{Backoff, LinkAccessConfig, LinkConfig, LinkPhase, RouterConfig};

        let ca = new_ca("a site CA", DEFAULT_VALIDITY).expect("ca");
        let server = issue_server(&ca, "skupper-router", &["127.0.0.1".into()], DEFAULT_VALIDITY).expect("server");
        let client = issue_client(&ca, "client-b", DEFAULT_VALIDITY).expect("client");
        let hour = Duration::from_secs(3600);
        let base = |id: &str| RouterConfig {
            site_id: format!("id-{id}"),
            site_name: id.into(),
            namespace: "ns".into(),
            group: "skupper-router".into(),
            link_access: None,
            links: Default::default(),
            listeners: Default::default(),
            connectors: Default::default(),
            multi_key_listeners: Default::default(),
            backoff: Backoff { initial: hour, max: hour },
        };
        let mut ca_cfg = base("a");
        ca_cfg.link_access = Some(LinkAccessConfig {
            bind_host: "127.0.0.1".into(),
            inter_router_port: Some(0),
            edge_port: Some(0),
            tls: server.tls(),
        });
        let a = Router::start(ca_cfg).await.expect("router a");
        let port = a.status().link_access_ports.expect("a accepts links").inter_router;
        let proxy_port = auth_proxy().await;
        let via = |pass: &str| ProxySettings {
            port: proxy_port,
            host: "127.0.0.1".into(),
            ..settings(Some("alice"), Some(pass))
        };
        let mut cb = base("b");
        let link = LinkConfig {
            host: "127.0.0.1".into(),
            port,
            cost: 1,
            tls: client.tls(),
            proxy: Some(("corp".into(), via("wrong"))),
            config_error: None,
        };
        cb.links.insert("to-a".into(), link);
        let b = Router::start(cb.clone()).await.expect("router b");
        wait_link(&b, "to-a", |l| l.message.starts_with("proxy authentication required (407)")).await;

        if let Some(l) = cb.links.get_mut("to-a") {
            l.proxy = Some(("corp".into(), via("s3cret")));
        }
        b.apply(cb).await.expect("apply");
        wait_link(&b, "to-a", |l| l.phase == LinkPhase::Ready && l.proxy.as_deref() == Some("corp")).await;
        a.shutdown().await;
        b.shutdown().await;
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzzing::config())]

        /// Any proxy answer: the head reader stops at the blank line or the size cap, the status
        /// check never panics, and only a well-formed 2xx opens the tunnel.
        #[test]
        fn fuzz_connect_response(data in crate::fuzzing::inputs("proxy-response", 1024)) {
            let mut r = &data[..];
            if let Ok(head) = futures::executor::block_on(read_head(&mut r)) {
                proptest::prop_assert!(head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n"));
                proptest::prop_assert!(head.len() <= MAX_HEAD + 1);
                proptest::prop_assert_eq!(&data[..head.len()], &head[..], "nothing after the head is consumed");
                if check_status(&head, &settings(None, None), "proxy", "h:1").is_ok() {
                    let line = String::from_utf8_lossy(&head);
                    proptest::prop_assert!(line.starts_with("HTTP/1.0 2") || line.starts_with("HTTP/1.1 2"), "{}", line);
                }
            }
        }
    }

    #[test]
    fn the_proxy_response_seeds_replay() {
        for seed in crate::fuzzing::corpus("proxy-response") {
            let mut r = &seed[..];
            let head = futures::executor::block_on(read_head(&mut r)).expect("a complete head");
            let _ = check_status(&head, &settings(None, None), "proxy", "h:1");
        }
    }
}
