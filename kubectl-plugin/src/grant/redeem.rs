//! Redeeming a token (reference §2.3): `POST` the code to the token's https URL, trusting only
//! the token's CA over TLS 1.3, and decode the Secret and Links of a 200 answer. Every failure
//! is reported right away with its cause (expired, used up, unknown grant, refused code,
//! unreachable, wrong CA) instead of upstream's wait-until-timeout.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use skupper_core::resources::{AccessToken, Link, Resource, Secret};
use skupper_router::error::describe;
use skupper_router::tls;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use skupper_core::grant::{RedeemFailure, classify_response};

/// What a successful redemption returns.
#[derive(Debug, Clone)]
pub(crate) struct Redeemed {
    /// The client certificate Secret.
    pub secret: Secret,
    /// The Links to the issuing site.
    pub links: Vec<Link>,
}

/// Why a redemption failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RedeemError {
    /// The token's URL is not https (upstream text).
    #[error("token url scheme must be https")]
    NotHttps,
    /// The token's URL cannot be parsed.
    #[error("token url {url:?} is not valid: {problem}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The token has no CA (upstream text).
    #[error("token does not have a CA")]
    NoCa,
    /// The token's CA is not a PEM certificate.
    #[error("the token's CA cannot be read: {0}")]
    BadCa(String),
    /// Nothing answers at the token's address.
    #[error("the grant server at {url} cannot be reached: {detail}")]
    Unreachable {
        /// Scheme, host and port.
        url: String,
        /// The network error.
        detail: String,
    },
    /// No answer within the timeout.
    #[error("the grant server at {url} did not answer within {secs}s")]
    Timeout {
        /// Scheme, host and port.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// The server's certificate is not trusted by the token's CA.
    #[error("TLS with the grant server at {url} failed: {detail}")]
    Tls {
        /// Scheme, host and port.
        url: String,
        /// The TLS error.
        detail: String,
    },
    /// The grant server refused.
    #[error("{0}")]
    Refused(RedeemFailure),
    /// A 200 answer that is not a Secret followed by Links.
    #[error("the grant server's answer cannot be decoded: {0}")]
    BadResponse(String),
}

impl RedeemError {
    /// Whether trying again later may succeed: the issuing site was unreachable, slow, or
    /// answered with a temporary or server-side failure. Expired, used-up, unknown or refused
    /// tokens, and tokens that cannot be used at all, are final.
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))] // the controller's retry rule
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::Refused(RedeemFailure::Unavailable { .. } | RedeemFailure::ServerError { .. })
        )
    }
}

/// Redeems `token` with `subject` (CN of the issued certificate) within `timeout`.
pub(crate) async fn redeem(token: &AccessToken, subject: &str, timeout: Duration) -> Result<Redeemed, RedeemError> {
    let url = token.spec.url.trim();
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| RedeemError::BadUrl { url: url.into(), problem: e.to_string() })?;
    if uri.scheme_str() != Some("https") {
        return Err(RedeemError::NotHttps);
    }
    if token.spec.ca.trim().is_empty() {
        return Err(RedeemError::NoCa);
    }
    let host = uri.host().ok_or_else(|| RedeemError::BadUrl { url: url.into(), problem: "no host".into() })?;
    let port = uri.port_u16().unwrap_or(443);
    let origin = format!("https://{host}:{port}");
    let check = tls::ServerCheck { roots_pem: token.spec.ca.as_bytes(), roots_name: "it", verify_hostname: true };
    let config = tls::client(tls::Versions::Tls13, check, None).map_err(|e| match e {
        tls::TlsSetupError::Versions { .. } => RedeemError::Tls { url: origin.clone(), detail: describe(&e) },
        _ => RedeemError::BadCa(describe(&e)),
    })?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let server_name = rustls_pki_types::ServerName::try_from(bare_host.clone())
        .map_err(|e| RedeemError::BadUrl { url: url.into(), problem: e.to_string() })?;
    let connector = TlsConnector::from(Arc::new(config));
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_else(|| host.to_string());

    let deadline = tokio::time::Instant::now() + timeout;
    let exchange = async {
        // A grant server shedding load (too many connections from elsewhere) accepts and closes
        // at once: that connection never carried the request, so trying again is safe. A refused
        // connection (nothing listens) or an untrusted certificate is reported at once.
        let mut delay = Duration::from_millis(100);
        let tls = loop {
            let tcp = TcpStream::connect((bare_host.as_str(), port))
                .await
                .map_err(|e| RedeemError::Unreachable { url: origin.clone(), detail: io_detail(&e) })?;
            match connector.connect(server_name.clone(), tcp).await {
                Ok(tls) => break tls,
                Err(e) => match tls_error(&origin, e) {
                    RedeemError::Unreachable { .. } if tokio::time::Instant::now() + delay < deadline => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                    err => return Err(err),
                },
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| RedeemError::Unreachable { url: origin.clone(), detail: e.to_string() })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header("name", token.name())
            .header("subject", subject)
            .body(Full::new(Bytes::from(token.spec.code.clone())))
            .map_err(|e| RedeemError::BadUrl { url: url.into(), problem: e.to_string() })?;
        let resp = sender.send_request(req).await.map_err(|e| RedeemError::Unreachable {
            url: origin.clone(),
            detail: format!("the connection failed: {e}"),
        })?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| RedeemError::BadResponse(e.to_string()))?
            .to_bytes();
        Ok::<_, RedeemError>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    let (status, body) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| RedeemError::Timeout { url: origin.clone(), secs: timeout.as_secs() })??;
    if status != 200 {
        return Err(RedeemError::Refused(classify_response(status, &body)));
    }
    decode(&body)
}

/// Decodes a 200 answer: a Secret, then Links.
pub(crate) fn decode(body: &str) -> Result<Redeemed, RedeemError> {
    let docs =
        crate::platform::resources::parse_documents(body).map_err(|e| RedeemError::BadResponse(format!("{e:#}")))?;
    let mut docs = docs.into_iter();
    let Some(Resource::Secret(secret)) = docs.next() else {
        return Err(RedeemError::BadResponse("the first document is not a Secret".into()));
    };
    let mut links = Vec::new();
    for d in docs {
        match d {
            Resource::Link(l) => links.push(l),
            other => return Err(RedeemError::BadResponse(format!("unexpected {} after the Secret", other.kind()))),
        }
    }
    if links.is_empty() {
        return Err(RedeemError::BadResponse("no Link in the answer".into()));
    }
    Ok(Redeemed { secret, links })
}

fn io_detail(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "connection timed out".into(),
        _ => e.to_string(),
    }
}

fn tls_error(origin: &str, e: std::io::Error) -> RedeemError {
    let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(c)) => RedeemError::Tls {
            url: origin.into(),
            detail: format!("the server's certificate is not trusted by the token's CA ({c:?})"),
        },
        Some(other) => RedeemError::Tls { url: origin.into(), detail: other.to_string() },
        None => RedeemError::Unreachable {
            url: origin.into(),
            detail: format!("the TLS handshake failed: {}", io_detail(&e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::server::{GrantContext, GrantServer};
    use crate::platform::local::Home;
    use crate::platform::local::grants::LocalGrantStore;
    use skupper_core::resources::AccessTokenSpec;
    use skupper_router::certs;

    fn token(url: &str, ca: &str) -> AccessToken {
        AccessToken::new(
            "t",
            AccessTokenSpec {
                url: url.into(),
                code: "c".into(),
                ca: ca.into(),
                link_cost: 0,
                settings: Default::default(),
                extra: Default::default(),
            },
        )
    }

    #[tokio::test]
    async fn refuses_before_connecting() {
        let t = token("http://127.0.0.1:1/x", "x");
        assert!(matches!(redeem(&t, "s", Duration::from_secs(5)).await, Err(RedeemError::NotHttps)));
        let t = token("https://127.0.0.1:1/x", "");
        assert_eq!(
            redeem(&t, "s", Duration::from_secs(5)).await.expect_err("no ca").to_string(),
            "token does not have a CA"
        );
    }

    #[tokio::test]
    async fn wrong_ca_is_a_tls_error_and_closed_port_is_unreachable() {
        let server_ca = certs::new_ca("grant", certs::DEFAULT_VALIDITY).expect("ca");
        let other_ca = certs::new_ca("other", certs::DEFAULT_VALIDITY).expect("ca");
        let cert = certs::issue_server(&server_ca, "g", &["127.0.0.1".into()], certs::DEFAULT_VALIDITY).expect("cert");
        let dir = std::env::temp_dir().join(format!("ks-redeem-{}", crate::platform::uuid_v4().expect("uuid")));
        let home = Home::at(dir.clone(), "x");
        let ctx = Arc::new(GrantContext::new(LocalGrantStore::new(home), crate::platform::now_unix));
        let server = GrantServer::start(ctx, "127.0.0.1", 0, &cert).await.expect("start");
        let url = format!("https://127.0.0.1:{}/nope", server.addr.port());
        let err = redeem(&token(&url, &other_ca.cert_pem), "s", Duration::from_secs(10)).await.expect_err("tls");
        assert!(matches!(err, RedeemError::Tls { .. }), "{err}");
        let err = redeem(&token(&url, &server_ca.cert_pem), "s", Duration::from_secs(10)).await.expect_err("404");
        assert!(matches!(err, RedeemError::Refused(RedeemFailure::UnknownGrant)), "{err}");
        server.shutdown().await;
        let err = redeem(&token(&url, &server_ca.cert_pem), "s", Duration::from_secs(10)).await.expect_err("down");
        assert!(matches!(err, RedeemError::Unreachable { .. }), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
