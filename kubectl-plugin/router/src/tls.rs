//! Every TLS end of the project is set up here, from PEM: the crypto provider (rustls with
//! ring, the one TLS stack), certificates, keys and trust anchors, and the server and client
//! configurations built from them ([`server`], [`client`]). The router's own ends follow:
//! mutual TLS of links (reference §6.3: TLS 1.3 only, the site CA as the only trust anchor on
//! both ends, client certificate required, server host name verified) and listeners and
//! connectors with `tlsCredentials`. Also turns rustls errors into messages a user can act on.
//!
//! Errors are [`TlsSetupError`]s: each says what is wrong with which file, its cause is its
//! [`source`](std::error::Error::source); [`crate::error::describe`] renders the whole chain.

use std::io;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore, ServerConfig};

use skupper_core::resources::TlsMaterial;

use crate::model::ServiceTls;

/// PEM material, or a TLS configuration built from it, that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// Not PEM at all.
    #[error("{what} is not valid PEM")]
    Pem {
        /// Which file or field (`tls.crt`, `ca.crt`, ...).
        what: String,
        /// The decoder's complaint.
        #[source]
        source: pem::Error,
    },
    /// PEM, but no certificate in it.
    #[error("{what} holds no certificate")]
    NoCertificate {
        /// Which file or field.
        what: String,
    },
    /// No private key in it.
    #[error("{what} is not a PEM private key")]
    Key {
        /// Which file or field.
        what: String,
        /// The decoder's complaint.
        #[source]
        source: pem::Error,
    },
    /// A certificate that cannot be a trust anchor.
    #[error("{what} is not a usable CA certificate")]
    Ca {
        /// Which file or field.
        what: String,
        /// Why rustls refused it.
        #[source]
        source: Box<rustls::Error>,
    },
    /// The trust anchors cannot verify peers.
    #[error("cannot verify {peers} certificates with {what}")]
    Verifier {
        /// `client` or `server`.
        peers: &'static str,
        /// Which file or field.
        what: String,
        /// Why.
        #[source]
        source: VerifierBuilderError,
    },
    /// Certificate and key do not make an identity.
    #[error("{cert} and {key} do not form a usable {role} certificate")]
    Identity {
        /// The certificate's file or field.
        cert: String,
        /// The key's file or field.
        key: String,
        /// `server` or `client`.
        role: &'static str,
        /// Why.
        #[source]
        source: Box<rustls::Error>,
    },
    /// The provider lacks the TLS versions asked for.
    #[error("{versions} unavailable")]
    Versions {
        /// The versions asked for.
        versions: Versions,
        /// Why.
        #[source]
        source: Box<rustls::Error>,
    },
    /// A connector's or listener's `tlsCredentials` Secret holds bad material.
    #[error("TLS credentials secret {secret:?}")]
    InSecret {
        /// The Secret's name.
        secret: String,
        /// What is wrong in it.
        #[source]
        source: Box<Self>,
    },
    /// A host that TLS cannot name.
    #[error("{host:?} is neither a DNS name nor an IP address")]
    ServerName {
        /// The host as configured.
        host: String,
    },
}

impl TlsSetupError {
    fn in_secret(self, secret: &str) -> Self {
        Self::InSecret { secret: secret.to_string(), source: Box::new(self) }
    }
}

/// Why a listener's or connector's TLS (`tlsCredentials`) cannot be set up. Its text is the
/// service's status message.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ServiceTlsError {
    /// The platform could not hand over the material (a missing or incomplete Secret), in its
    /// words.
    #[error("{0}")]
    Config(String),
    /// The Secret's material is unusable (the whole chain of causes in words).
    #[error("{}", crate::error::describe(.0.as_ref()))]
    Unusable(Arc<TlsSetupError>),
    /// The connector's host cannot be a TLS server name.
    #[error("cannot speak TLS to the target: {0}")]
    Host(Arc<TlsSetupError>),
}

/// The TLS versions an end speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.3 only: links, the grant server and its clients.
    Tls13,
    /// TLS 1.2 and 1.3: ends that meet software we do not control (application TLS, the API
    /// server calling the webhook).
    Tls12And13,
}

impl std::fmt::Display for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tls13 => "TLS 1.3",
            Self::Tls12And13 => "TLS",
        })
    }
}

const TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

impl Versions {
    fn list(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        match self {
            Self::Tls13 => TLS13_ONLY,
            Self::Tls12And13 => rustls::DEFAULT_VERSIONS,
        }
    }
}

/// The crypto provider of every TLS end: rustls with ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM bundle (at least one); `what` names it in errors.
pub fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsSetupError::Pem { what: what.to_string(), source })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { what: what.to_string() });
    }
    Ok(certs)
}

/// The trust anchors of a PEM bundle of CA certificates.
pub fn root_store(pem: &[u8], what: &str) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        roots.add(cert).map_err(|source| TlsSetupError::Ca { what: what.to_string(), source: Box::new(source) })?;
    }
    Ok(roots)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| TlsSetupError::Key { what: what.to_string(), source })
}

/// A certificate chain and its key, as PEM, with the names errors give them.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The chain, leaf first.
    pub cert_pem: &'a [u8],
    /// Its private key.
    pub key_pem: &'a [u8],
    /// The chain's name in errors (`tls.crt`, `--tls-cert FILE`).
    pub cert_name: &'a str,
    /// The key's name in errors.
    pub key_name: &'a str,
}

impl<'a> Identity<'a> {
    /// A Secret's `tls.crt` and `tls.key`.
    pub fn tls_secret(material: &'a TlsMaterial) -> Self {
        Identity { cert_pem: &material.cert_pem, key_pem: &material.key_pem, cert_name: "tls.crt", key_name: "tls.key" }
    }

    fn read(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
        Ok((certificates(self.cert_pem, self.cert_name)?, private_key(self.key_pem, self.key_name)?))
    }

    fn refused(&self, role: &'static str, source: rustls::Error) -> TlsSetupError {
        TlsSetupError::Identity {
            cert: self.cert_name.to_string(),
            key: self.key_name.to_string(),
            role,
            source: Box::new(source),
        }
    }
}

/// A server end serving `identity`; with `client_roots` (PEM, and its name in errors), clients
/// must present a certificate that chains to them, else none is asked for.
pub fn server(
    versions: Versions,
    identity: Identity<'_>,
    client_roots: Option<(&[u8], &str)>,
) -> Result<ServerConfig, TlsSetupError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions.list())
        .map_err(|source| TlsSetupError::Versions { versions, source: Box::new(source) })?;
    let builder = match client_roots {
        Some((pem, what)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(pem, what)?), provider)
                .build()
                .map_err(|source| TlsSetupError::Verifier { peers: "client", what: what.to_string(), source })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let (chain, key) = identity.read()?;
    builder.with_single_cert(chain, key).map_err(|source| identity.refused("server", source))
}

/// How a client end checks the server's certificate.
#[derive(Debug, Clone, Copy)]
pub struct ServerCheck<'a> {
    /// The trust anchors, PEM.
    pub roots_pem: &'a [u8],
    /// Their name in errors.
    pub roots_name: &'a str,
    /// Whether the certificate must also be valid for the host dialed (the chain is always
    /// verified).
    pub verify_hostname: bool,
}

/// A client end that checks servers with `check` and presents `identity` when given.
pub fn client(
    versions: Versions,
    check: ServerCheck<'_>,
    identity: Option<Identity<'_>>,
) -> Result<ClientConfig, TlsSetupError> {
    let provider = provider();
    let roots = root_store(check.roots_pem, check.roots_name)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions.list())
        .map_err(|source| TlsSetupError::Versions { versions, source: Box::new(source) })?;
    let builder = if check.verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().map_err(
                |source| TlsSetupError::Verifier { peers: "server", what: check.roots_name.to_string(), source },
            )?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyHostVerifier(webpki)))
    };
    match identity {
        Some(id) => {
            let (chain, key) = id.read()?;
            builder.with_client_auth_cert(chain, key).map_err(|source| id.refused("client", source))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The link-access server configuration: our server certificate; clients must present a
/// certificate that chains to `tls.ca_pem`.
pub(crate) fn server_config(tls: &TlsMaterial) -> Result<Arc<ServerConfig>, TlsSetupError> {
    server(Versions::Tls13, Identity::tls_secret(tls), Some((&tls.ca_pem, "ca.crt"))).map(Arc::new)
}

/// The link client configuration: our client certificate; the server must chain to
/// `tls.ca_pem` (the remote site's CA) and be valid for the host we dial.
pub(crate) fn client_config(tls: &TlsMaterial) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let check = ServerCheck { roots_pem: &tls.ca_pem, roots_name: "ca.crt", verify_hostname: true };
    client(Versions::Tls13, check, Some(Identity::tls_secret(tls))).map(Arc::new)
}

/// The server configuration of a listener with `tlsCredentials` (application TLS): its
/// certificate and key from the Secret; TLS 1.2 and 1.3 for any client. No client certificate is
/// asked for, as upstream's router does not authenticate the clients of a `tcpListener`; the
/// bundle's `ca.crt`, if any, is not used.
pub(crate) fn service_server_config(tls: &ServiceTls) -> Result<Arc<ServerConfig>, TlsSetupError> {
    server(Versions::Tls12And13, Identity::tls_secret(&tls.material), None)
        .map(Arc::new)
        .map_err(|e| e.in_secret(&tls.secret))
}

/// The client configuration of a connector with `tlsCredentials`: the target's certificate must
/// chain to the bundle's `ca.crt` (and match the connector's host with `verify_hostname`); with
/// `use_client_cert` the bundle's `tls.crt`/`tls.key` is presented. TLS 1.2 and 1.3.
pub(crate) fn service_client_config(tls: &ServiceTls) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let check =
        ServerCheck { roots_pem: &tls.material.ca_pem, roots_name: "ca.crt", verify_hostname: tls.verify_hostname };
    let identity = tls.use_client_cert.then(|| Identity::tls_secret(&tls.material));
    client(Versions::Tls12And13, check, identity).map(Arc::new).map_err(|e| e.in_secret(&tls.secret))
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
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsSetupError> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_string()).map_err(|_| TlsSetupError::ServerName { host: host.to_string() })
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
    use crate::error::describe;

    #[test]
    fn configs_build_from_issued_material_and_bad_pem_is_explained() {
        let ca = new_ca("ca", DEFAULT_VALIDITY).expect("ca");
        let server = issue_server(&ca, "s", &["127.0.0.1".into()], DEFAULT_VALIDITY).expect("server");
        let client = issue_client(&ca, "c", DEFAULT_VALIDITY).expect("client");
        assert!(server_config(&server.tls()).is_ok());
        assert!(client_config(&client.tls()).is_ok());
        let mut bad = client.tls();
        bad.ca_pem = b"not pem".to_vec();
        assert_eq!(client_config(&bad).err().map(|e| describe(&e)).as_deref(), Some("ca.crt holds no certificate"));
        let mut bad = client.tls();
        bad.key_pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec();
        let e = describe(&client_config(&bad).expect_err("a broken key"));
        assert!(e.starts_with("tls.crt and tls.key do not form a usable client certificate: "), "{e}");
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
        let connector = tokio_rustls::TlsConnector::from(service_client_config(client).map_err(|e| describe(&e))?);
        let result = connector.connect(server_name("127.0.0.1").expect("an IP address"), tcp).await;
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
            service_client_config(&service("x", bad, true, false)).err().map(|e| describe(&e)).as_deref(),
            Some("TLS credentials secret \"x\": ca.crt holds no certificate")
        );
        let mut bad = client.tls();
        bad.key_pem = b"junk".to_vec();
        let e = describe(&service_server_config(&service("y", bad.clone(), false, false)).expect_err("bad key"));
        assert!(e.starts_with("TLS credentials secret \"y\": tls.key is not a PEM private key: "), "{e}");
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
