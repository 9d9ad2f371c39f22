//! A connector's target: how the connector speaks TLS to it and why reaching it failed.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::net::{ConnectError, authority};
use super::tls::{self, ServiceTlsError};
use crate::model::ConnectorConfig;

/// Time for the TLS handshake with a connector's target.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a probe waits after its TLS handshake for the target to refuse the client
/// certificate (TLS 1.3 servers check it after the handshake: the refusal is an alert on the
/// first read). Nothing (or data) within it counts as accepted.
const PROBE_REFUSAL_WAIT: Duration = Duration::from_millis(500);

/// How a connector with `tlsCredentials` speaks TLS to its target.
#[derive(Debug)]
pub(crate) struct TargetTls {
    config: Arc<rustls::ClientConfig>,
    /// The connector's host: what the target's certificate is checked against (with
    /// `verifyHostname`) and the SNI sent for a DNS name.
    name: ServerName<'static>,
    secret: String,
}

/// A connector's TLS toward its target (`None`: plain TCP), or why it cannot be configured.
pub(crate) fn target_tls(cfg: &ConnectorConfig) -> Result<Option<Arc<TargetTls>>, ServiceTlsError> {
    if let Some(e) = &cfg.config_error {
        return Err(ServiceTlsError::Config(e.clone()));
    }
    let Some(t) = &cfg.tls else { return Ok(None) };
    let config = tls::service_client_config(t).map_err(|e| ServiceTlsError::Unusable(Arc::new(e)))?;
    let name = tls::server_name(&cfg.host).map_err(|e| ServiceTlsError::Host(Arc::new(e)))?;
    Ok(Some(Arc::new(TargetTls { config, name, secret: t.secret.clone() })))
}

impl TargetTls {
    /// The TLS handshake with the target at `host`:`port` over `tcp`.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        host: &str,
        port: u16,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, DialError> {
        let addr = authority(host, port);
        let connect = TlsConnector::from(self.config.clone()).connect(self.name.clone(), tcp);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                Err(DialError::Tls { text: tls::describe_target_error(&e, &addr, host, &self.secret), source: Some(e) })
            }
            Err(_) => Err(DialError::tls(format!(
                "TLS handshake with {addr} failed: no answer within {}s; check that the target speaks TLS on that port",
                HANDSHAKE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// After a probe's handshake: the target's refusal of the client certificate, if it sends
    /// one within [`PROBE_REFUSAL_WAIT`].
    pub(crate) async fn refusal(
        &self,
        s: &mut tokio_rustls::client::TlsStream<TcpStream>,
        host: &str,
        port: u16,
    ) -> Result<(), DialError> {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(PROBE_REFUSAL_WAIT, tokio::io::AsyncReadExt::read(s, &mut byte)).await {
            Ok(Err(e)) if tls::rustls_error(&e).is_some() => {
                let addr = authority(host, port);
                Err(DialError::Tls { text: tls::describe_target_error(&e, &addr, host, &self.secret), source: Some(e) })
            }
            _ => Ok(()),
        }
    }
}

/// Why a connector's target could not be reached. The text is the failure alone (a route
/// decision lists it); [`DialError::status`] is the connector's status message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    /// The connector cannot be configured (its TLS Secret).
    #[error(transparent)]
    Config(ServiceTlsError),
    /// No TCP connection.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The TLS handshake failed, or the target refused the client certificate: `text` says why
    /// and what to change.
    #[error("{text}")]
    Tls {
        /// The failure in words.
        text: String,
        /// The TLS connection's error (none when the target did not answer in time).
        #[source]
        source: Option<std::io::Error>,
    },
}

impl DialError {
    fn tls(text: String) -> Self {
        Self::Tls { text, source: None }
    }

    /// The connector's status message.
    pub(crate) fn status(&self) -> String {
        match self {
            Self::Connect(e) => format!("cannot connect to the target: {e}; check that it is running"),
            Self::Config(_) | Self::Tls { .. } => self.to_string(),
        }
    }
}
