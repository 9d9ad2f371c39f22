//! Mutual TLS of links (reference §6.3): TLS 1.3 only, ring provider, the site CA as the only
//! trust anchor on both ends, client certificate required, server host name verified. Also turns
//! rustls errors into messages a user can act on.

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore, ServerConfig};

use super::{ServiceTls, TlsMaterial};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no certificate"));
    }
    Ok(certs)
}

fn roots(ca_pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_pem, "ca.crt")? {
        roots.add(cert).map_err(|e| format!("ca.crt is not a usable CA certificate: {e}"))?;
    }
    Ok(roots)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("tls.key is not a PEM private key: {e}"))
}

/// The link-access server configuration: our server certificate; clients must present a
/// certificate that chains to `tls.ca_pem`.
pub(crate) fn server_config(tls: &TlsMaterial) -> Result<Arc<ServerConfig>, String> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&tls.ca_pem)?), provider.clone())
        .build()
        .map_err(|e| format!("cannot verify client certificates with ca.crt: {e}"))?;
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3 unavailable: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&tls.cert_pem, "tls.crt")?, key(&tls.key_pem)?)
        .map_err(|e| format!("tls.crt and tls.key do not form a usable server certificate: {e}"))?;
    Ok(Arc::new(cfg))
}

/// The link client configuration: our client certificate; the server must chain to
/// `tls.ca_pem` (the remote site's CA) and be valid for the host we dial.
pub(crate) fn client_config(tls: &TlsMaterial) -> Result<Arc<ClientConfig>, String> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3 unavailable: {e}"))?
        .with_root_certificates(roots(&tls.ca_pem)?)
        .with_client_auth_cert(certs(&tls.cert_pem, "tls.crt")?, key(&tls.key_pem)?)
        .map_err(|e| format!("tls.crt and tls.key do not form a usable client certificate: {e}"))?;
    Ok(Arc::new(cfg))
}

/// The server configuration of a listener with `tlsCredentials` (application TLS): its
/// certificate and key from the Secret; TLS 1.2 and 1.3 for any client. No client certificate is
/// asked for, as upstream's router does not authenticate the clients of a `tcpListener`; the
/// bundle's `ca.crt`, if any, is not used.
pub(crate) fn service_server_config(tls: &ServiceTls) -> Result<Arc<ServerConfig>, String> {
    let secret = &tls.secret;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS unavailable: {e}"))?
        .with_no_client_auth()
        .with_single_cert(
            certs(&tls.material.cert_pem, "tls.crt").map_err(|e| in_secret(secret, e))?,
            key(&tls.material.key_pem).map_err(|e| in_secret(secret, e))?,
        )
        .map_err(|e| in_secret(secret, format!("tls.crt and tls.key do not form a usable server certificate: {e}")))?;
    Ok(Arc::new(cfg))
}

/// The client configuration of a connector with `tlsCredentials`: the target's certificate must
/// chain to the bundle's `ca.crt` (and match the connector's host with `verify_hostname`); with
/// `use_client_cert` the bundle's `tls.crt`/`tls.key` is presented. TLS 1.2 and 1.3.
pub(crate) fn service_client_config(tls: &ServiceTls) -> Result<Arc<ClientConfig>, String> {
    let secret = &tls.secret;
    let provider = provider();
    let roots = Arc::new(roots(&tls.material.ca_pem).map_err(|e| in_secret(secret, e))?);
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| in_secret(secret, format!("cannot verify server certificates with ca.crt: {e}")))?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> =
        if tls.verify_hostname { webpki } else { Arc::new(AnyHostVerifier(webpki)) };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS unavailable: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cfg = if tls.use_client_cert {
        builder
            .with_client_auth_cert(
                certs(&tls.material.cert_pem, "tls.crt").map_err(|e| in_secret(secret, e))?,
                key(&tls.material.key_pem).map_err(|e| in_secret(secret, e))?,
            )
            .map_err(|e| {
                in_secret(secret, format!("tls.crt and tls.key do not form a usable client certificate: {e}"))
            })?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

fn in_secret(secret: &str, problem: String) -> String {
    format!("TLS credentials secret {secret:?}: {problem}")
}

/// Verifies the server's certificate chain like [`rustls::client::WebPkiServerVerifier`] but
/// accepts any host name: a connector with `verifyHostname: false`. The chain (issuer, validity,
/// signatures, server use) is still checked; only a name mismatch, which webpki reports after
/// the chain was verified, is let through.
#[derive(Debug)]
struct AnyHostVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyHostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A failed TLS handshake of a connector with its target at `addr`, in words: what failed and
/// what to change (`secret` is the connector's `tlsCredentials`).
pub(crate) fn describe_target_error(e: &io::Error, addr: &str, host: &str, secret: &str) -> String {
    let Some(r) = rustls_error(e) else {
        return format!("TLS handshake with {addr} failed: {e}; check that the target speaks TLS on that port");
    };
    let hint = match r {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            format!("the ca.crt of Secret {secret:?} must be the CA that issued the target's certificate")
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the target's certificate is not valid for {host}; set the connector's host to a name in it, or verifyHostname: false"
        ),
        rustls::Error::AlertReceived(a) if rejects_client_cert(*a) => format!(
            "the target refused the connection's client certificate ({}); set useClientCert: true with a tls.crt the target trusts",
            alert_name(*a)
        ),
        rustls::Error::InvalidMessage(_) => "check that the target speaks TLS on that port".to_string(),
        _ => "check the target's TLS settings".to_string(),
    };
    format!("TLS handshake with {addr} failed: {r}; {hint}")
}

/// The name the server certificate must be valid for: an IP address or a DNS name.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_string()).map_err(|_| format!("{host:?} is neither a DNS name nor an IP address"))
}

/// The rustls error inside an I/O error, if any.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

fn cert_problem(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => "unknown issuer".into(),
        CertificateError::BadSignature => "bad signature".into(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet; check the clocks".into()
        }
        CertificateError::Revoked => "certificate revoked".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate not meant for this use".into()
        }
        other => format!("{other:?}"),
    }
}

fn alert_name(a: AlertDescription) -> String {
    match a {
        AlertDescription::UnknownCA => "unknown CA".into(),
        AlertDescription::BadCertificate => "bad certificate".into(),
        AlertDescription::CertificateRequired => "certificate required".into(),
        AlertDescription::CertificateExpired => "certificate expired".into(),
        AlertDescription::CertificateRevoked => "certificate revoked".into(),
        AlertDescription::CertificateUnknown => "certificate unknown".into(),
        AlertDescription::UnsupportedCertificate => "unsupported certificate".into(),
        AlertDescription::AccessDenied => "access denied".into(),
        AlertDescription::DecryptError => "decrypt error".into(),
        other => format!("{other:?}"),
    }
}

/// Whether an alert from the server means it refused our client certificate.
fn rejects_client_cert(a: AlertDescription) -> bool {
    matches!(
        a,
        AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
    )
}

/// A TLS failure seen by the dialing side of a link to `host`. Covers both the handshake and
/// the first reads after it: in TLS 1.3 the server checks the client certificate after the
/// client finished, so its refusal arrives as an alert on the first read.
pub(crate) fn describe_client_error(e: &rustls::Error, host: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "TLS handshake failed: the server's certificate is not valid for {host} (host name mismatch); \
             the link's host must be one of the names in the remote site's server certificate"
        ),
        rustls::Error::InvalidCertificate(c @ (CertificateError::UnknownIssuer | CertificateError::BadSignature)) => {
            format!(
                "TLS handshake failed: the server's certificate is not trusted by the link's CA ({}); \
             the link's ca.crt must be the CA of the site it points at",
                cert_problem(c)
            )
        }
        rustls::Error::InvalidCertificate(c) => {
            format!("TLS handshake failed: the server's certificate was refused ({})", cert_problem(c))
        }
        rustls::Error::AlertReceived(a) if rejects_client_cert(*a) => format!(
            "TLS handshake failed: the remote site rejected this link's client certificate ({}); \
             issue a new token or link from the remote site",
            alert_name(*a)
        ),
        rustls::Error::AlertReceived(a) => {
            format!("TLS handshake failed: the remote site sent alert {}", alert_name(*a))
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// A TLS failure seen by the accepting side.
pub(crate) fn describe_server_error(e: &io::Error) -> String {
    match rustls_error(e) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("refused a client certificate ({}) from a site dialing in", cert_problem(c))
        }
        Some(rustls::Error::NoCertificatesPresented) => "a client dialed in without a certificate".into(),
        Some(rustls::Error::AlertReceived(a)) => {
            format!("a site dialing in refused this site's certificate ({})", alert_name(*a))
        }
        Some(other) => format!("TLS handshake with a site dialing in failed: {other}"),
        None => format!("TLS handshake with a site dialing in failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{DEFAULT_VALIDITY, issue_client, issue_server, new_ca};

    #[test]
    fn configs_build_from_issued_material_and_bad_pem_is_explained() {
        let ca = new_ca("ca", DEFAULT_VALIDITY).expect("ca");
        let server = issue_server(&ca, "s", &["127.0.0.1".into()], DEFAULT_VALIDITY).expect("server");
        let client = issue_client(&ca, "c", DEFAULT_VALIDITY).expect("client");
        assert!(server_config(&server.tls()).is_ok());
        assert!(client_config(&client.tls()).is_ok());
        let mut bad = client.tls();
        bad.ca_pem = b"not pem".to_vec();
        assert_eq!(client_config(&bad).err().as_deref(), Some("ca.crt holds no certificate"));
        let mut bad = client.tls();
        bad.key_pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec();
        assert!(client_config(&bad).err().is_some_and(|e| e.contains("client certificate") || e.contains("tls.key")));
    }

    fn service(secret: &str, material: TlsMaterial, verify_hostname: bool, use_client_cert: bool) -> ServiceTls {
        ServiceTls { secret: secret.into(), material, verify_hostname, use_client_cert }
    }

    /// A TLS server on 127.0.0.1 with a certificate for `sans`, served with the listener's
    /// configuration; one handshake of a connector's configuration `client` against it.
    async fn handshake(server: &crate::certs::Issued, client: &ServiceTls) -> Result<(), String> {
        let served = service("s", server.tls(), false, false);
        let acceptor = tokio_rustls::TlsAcceptor::from(service_server_config(&served).expect("server config"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let _ = acceptor.accept(tcp).await;
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let connector = tokio_rustls::TlsConnector::from(service_client_config(client)?);
        let result = connector.connect(server_name("127.0.0.1")?, tcp).await;
        serve.abort();
        result.map(drop).map_err(|e| describe_target_error(&e, &addr.to_string(), "127.0.0.1", &client.secret))
    }

    #[tokio::test]
    async fn connectors_verify_the_chain_always_and_the_host_name_only_when_asked() {
        let ca = new_ca("ca", DEFAULT_VALIDITY).expect("ca");
        let other = new_ca("other", DEFAULT_VALIDITY).expect("other ca");
        let for_ip = issue_server(&ca, "s", &["127.0.0.1".into()], DEFAULT_VALIDITY).expect("server");
        let for_name = issue_server(&ca, "s", &["db.example".into()], DEFAULT_VALIDITY).expect("server");
        let trust = |ca_pem: &str, verify| {
            let m = TlsMaterial { cert_pem: Vec::new(), key_pem: Vec::new(), ca_pem: ca_pem.as_bytes().to_vec() };
            service("bundle", m, verify, false)
        };
        assert_eq!(handshake(&for_ip, &trust(&ca.cert_pem, true)).await, Ok(()));
        // A certificate for another name: refused with verifyHostname, accepted without.
        let e = handshake(&for_name, &trust(&ca.cert_pem, true)).await.expect_err("name mismatch");
        assert!(e.contains("is not valid for 127.0.0.1") && e.contains("verifyHostname: false"), "{e}");
        assert_eq!(handshake(&for_name, &trust(&ca.cert_pem, false)).await, Ok(()));
        // Another CA: refused either way, naming the Secret.
        for verify in [true, false] {
            let e = handshake(&for_ip, &trust(&other.cert_pem, verify)).await.expect_err("unknown issuer");
            assert!(e.starts_with("TLS handshake with 127.0.0.1:"), "{e}");
            assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");
            assert!(e.contains("the ca.crt of Secret \"bundle\""), "{e}");
        }
    }

    #[test]
    fn service_configs_name_the_secret_of_bad_pem() {
        let ca = new_ca("ca", DEFAULT_VALIDITY).expect("ca");
        let client = issue_client(&ca, "c", DEFAULT_VALIDITY).expect("client");
        assert!(service_client_config(&service("x", client.tls(), true, true)).is_ok());
        assert!(service_server_config(&service("x", client.tls(), false, false)).is_ok());
        let mut bad = client.tls();
        bad.ca_pem = b"junk".to_vec();
        assert_eq!(
            service_client_config(&service("x", bad, true, false)).err().as_deref(),
            Some("TLS credentials secret \"x\": ca.crt holds no certificate")
        );
        let mut bad = client.tls();
        bad.key_pem = b"junk".to_vec();
        let e = service_server_config(&service("y", bad.clone(), false, false)).expect_err("bad key");
        assert!(e.starts_with("TLS credentials secret \"y\": tls.key"), "{e}");
        // Without useClientCert the key is not read.
        assert!(service_client_config(&service("y", bad, true, false)).is_ok());
    }

    #[test]
    fn server_names_cover_ips_and_dns() {
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("west.example.com").is_ok());
        assert!(server_name("bad host!").is_err());
    }

    #[test]
    fn messages_name_the_side_at_fault() {
        let m = describe_client_error(&rustls::Error::AlertReceived(AlertDescription::UnknownCA), "h");
        assert!(m.contains("rejected this link's client certificate (unknown CA)"), "{m}");
        let m = describe_client_error(&rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer), "h");
        assert!(m.contains("not trusted by the link's CA (unknown issuer)"), "{m}");
        let m = describe_client_error(&rustls::Error::InvalidCertificate(CertificateError::NotValidForName), "h");
        assert!(m.contains("not valid for h"), "{m}");
    }
}
