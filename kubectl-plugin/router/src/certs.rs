//! Certificates for a site: the private CAs, the link-access server certificate and link
//! client certificates, generated with rcgen (ECDSA P-256). PEM in, PEM out.
//!
//! Unlike upstream (reference §6.1: every certificate carries both ServerAuth and ClientAuth),
//! server certificates are ServerAuth only and client certificates ClientAuth only.

use std::time::Duration;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

/// Validity of CAs and leaf certificates (upstream: 5 years).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

/// A certificate with its key and the certificate of its issuer (for a CA: itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM private key (PKCS#8).
    pub key_pem: String,
    /// PEM certificate of the issuer (`ca.crt`).
    pub ca_pem: String,
}

impl Issued {
    /// As the TLS material the router takes.
    pub fn tls(&self) -> skupper_core::resources::TlsMaterial {
        skupper_core::resources::TlsMaterial {
            cert_pem: self.cert_pem.clone().into_bytes(),
            key_pem: self.key_pem.clone().into_bytes(),
            ca_pem: self.ca_pem.clone().into_bytes(),
        }
    }
}

fn base_params(common_name: &str, validity: Duration) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    // Back-date a little so peers with slightly slow clocks accept a fresh certificate.
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(5);
    p.not_after = now + validity;
    // A random serial: two certificates of one CA must never share one (RFC 5280 4.1.2.2), so a
    // failing random source stops the issue instead of falling back to a fixed serial.
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial)
        .map_err(|e| anyhow::anyhow!("the system's random source failed ({e}): no certificate was issued"))?;
    serial[0] &= 0x7f;
    p.serial_number = Some(serial.to_vec().into());
    Ok(p)
}

/// A new self-signed CA with subject `CN=<common_name>`.
pub fn new_ca(common_name: &str, validity: Duration) -> anyhow::Result<Issued> {
    let key = KeyPair::generate().context("generating a CA key")?;
    let mut p = base_params(common_name, validity)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = p.self_signed(&key).context("self-signing the CA")?;
    let pem = cert.pem();
    Ok(Issued { cert_pem: pem.clone(), key_pem: key.serialize_pem(), ca_pem: pem })
}

/// When a PEM certificate expires.
pub fn not_after(cert_pem: &str) -> anyhow::Result<OffsetDateTime> {
    use x509_cert::der::DecodePem as _;
    let cert = x509_cert::Certificate::from_pem(cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("the certificate cannot be read: {e}"))?;
    let secs = cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .context("the certificate's expiry is out of range")
}

fn issue(ca: &Issued, mut p: CertificateParams) -> anyhow::Result<Issued> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).context("reading the CA key")?;
    // A certificate cannot be trusted past its issuer's expiry: never claim longer (the CA was
    // made a moment before with the same validity, so an uncapped leaf outlived it by that much).
    p.not_after = p.not_after.min(not_after(&ca.cert_pem)?);
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).context("reading the CA certificate")?;
    let key = KeyPair::generate().context("generating a key")?;
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&key, &issuer).context("signing the certificate")?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), ca_pem: ca.cert_pem.clone() })
}

fn san(host: &str) -> anyhow::Result<SanType> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    Ok(match h.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => {
            let ok = !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*'));
            anyhow::ensure!(ok, "{h:?} is not a DNS name or an IP address");
            SanType::DnsName(h.to_string().try_into().with_context(|| format!("{h:?} is not a DNS name"))?)
        }
    })
}

/// A server certificate for `hosts` (DNS names or IP addresses), signed by `ca`.
pub fn issue_server(ca: &Issued, common_name: &str, hosts: &[String], validity: Duration) -> anyhow::Result<Issued> {
    let mut p = base_params(common_name, validity)?;
    p.subject_alt_names = hosts.iter().map(|h| san(h)).collect::<anyhow::Result<_>>()?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    issue(ca, p)
}

/// A client certificate with subject `CN=<common_name>`, signed by `ca`.
pub fn issue_client(ca: &Issued, common_name: &str, validity: Duration) -> anyhow::Result<Issued> {
    let mut p = base_params(common_name, validity)?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue(ca, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_and_pem_shapes() {
        let ca = new_ca("west site CA", DEFAULT_VALIDITY).expect("ca");
        assert_eq!(ca.cert_pem, ca.ca_pem);
        let server = issue_server(&ca, "skupper-router", &["127.0.0.1".into(), "localhost".into()], DEFAULT_VALIDITY)
            .expect("server");
        let client = issue_client(&ca, "east", DEFAULT_VALIDITY).expect("client");
        assert!(server.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(client.key_pem.contains("PRIVATE KEY"));
        assert_eq!(client.ca_pem, ca.cert_pem);
        assert_ne!(server.cert_pem, client.cert_pem);
        assert!(issue_server(&ca, "x", &["bad host!".into()], DEFAULT_VALIDITY).is_err());
    }

    #[test]
    fn a_certificate_never_outlives_its_ca() {
        let ca = new_ca("west site CA", DEFAULT_VALIDITY).expect("ca");
        // Issued a moment after the CA with the same validity: capped to the CA's expiry.
        std::thread::sleep(Duration::from_millis(1_100));
        let client = issue_client(&ca, "east", DEFAULT_VALIDITY).expect("client");
        let expiry = |pem: &str| not_after(pem).expect("a certificate");
        assert_eq!(expiry(&client.cert_pem), expiry(&ca.cert_pem));
        let server = issue_server(&ca, "r", &["127.0.0.1".into()], DEFAULT_VALIDITY * 2).expect("server");
        assert_eq!(expiry(&server.cert_pem), expiry(&ca.cert_pem));
        // Shorter validities are kept.
        let short = issue_client(&ca, "east", Duration::from_secs(3600)).expect("short");
        assert!(expiry(&short.cert_pem) < expiry(&ca.cert_pem));
    }
}
