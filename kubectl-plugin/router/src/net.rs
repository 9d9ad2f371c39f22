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

/// Why a TCP connection to a host could not be made. The texts are the status messages of
/// links and connectors; the I/O error, where there is one, is also the `source`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The host name does not resolve, or to no address.
    #[error("{host} not resolvable")]
    NotResolvable {
        /// The host as configured.
        host: String,
        /// The resolver's error (none when it found no address).
        #[source]
        source: Option<io::Error>,
    },
    /// Every address refused the connection.
    #[error("connection refused by {addr}")]
    Refused {
        /// `host:port`.
        addr: String,
        /// The last address's error.
        #[source]
        source: io::Error,
    },
    /// The connection did not complete in time (the deadline, or the system's timeout).
    #[error("timed out connecting to {addr}")]
    TimedOut {
        /// `host:port`.
        addr: String,
        /// The system's error, when it timed out first.
        #[source]
        source: Option<io::Error>,
    },
    /// Any other failure of the last address tried.
    #[error("cannot connect to {addr}: {source}")]
    Failed {
        /// `host:port`.
        addr: String,
        /// The last address's error.
        #[source]
        source: io::Error,
    },
}

/// Resolves `host` and connects to the first address that accepts.
pub(crate) async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let addr = authority(host, port);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let not_resolvable = |source| ConnectError::NotResolvable { host: host.to_string(), source };
    let attempt = async {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((bare, port)).await {
            Ok(a) => a.collect(),
            Err(e) => return Err(not_resolvable(Some(e))),
        };
        if addrs.is_empty() {
            return Err(not_resolvable(None));
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
        let addr = addr.clone();
        Err(match last {
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => ConnectError::Refused { addr, source: e },
            Some(e) if e.kind() == io::ErrorKind::TimedOut => ConnectError::TimedOut { addr, source: Some(e) },
            Some(e) => ConnectError::Failed { addr, source: e },
            None => not_resolvable(None),
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::TimedOut { addr, source: None }),
    }
}

/// A listener's port could not be bound or opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}; free the port or choose another one for the listener")]
pub(crate) struct ListenError {
    /// `host:port` as configured, or the address bound.
    pub addr: String,
    /// The system's error.
    #[source]
    pub source: io::Error,
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
