//! Sockets: host:port in words, dialing a host by name with a deadline, and binding a port
//! (optionally shared with another process). No TLS, no router state.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

/// `host:port` as a request target (IPv6 literals in brackets).
pub(crate) fn authority(host: &str, port: u16) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.contains(':') { format!("[{bare}]:{port}") } else { format!("{bare}:{port}") }
}

/// Resolves `host` and connects to the first address that accepts.
pub(crate) async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addr = authority(host, port);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let attempt = async {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((bare, port)).await {
            Ok(a) => a.collect(),
            Err(_) => return Err(format!("{host} not resolvable")),
        };
        if addrs.is_empty() {
            return Err(format!("{host} not resolvable"));
        }
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => format!("connection refused by {addr}"),
            Some(e) if e.kind() == io::ErrorKind::TimedOut => format!("timed out connecting to {addr}"),
            Some(e) => format!("cannot connect to {addr}: {e}"),
            None => format!("{host} not resolvable"),
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out connecting to {addr}")),
    }
}

/// A socket bound to `addr`, not listening. With `share_port` it has SO_REUSEPORT.
pub(crate) fn bind_addr(addr: SocketAddr, share_port: bool) -> std::io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }?;
    // As `TcpListener::bind` does: connections of a previous life in TIME_WAIT do not block it.
    socket.set_reuseaddr(true)?;
    if share_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    Ok(socket)
}
