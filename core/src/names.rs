//! Name and host rules, hand-written (no regex engine), with upstream's exact error texts:
//! Kubernetes' `IsDNS1123Label`/`IsDNS1123Subdomain` (k8s.io/apimachinery validation), the
//! skupper CLI validators (`internal/utils/validator/simple_validator.go`) and the system-site
//! validator (`internal/nonkube/common/site_state_validator.go`).
//!
//! `Display` of [`NameError`] is the bare upstream text; callers put the field and value around it
//! (`the name of the tls secret is not valid: value does not match ...`).

use alloc::string::{String, ToString};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// Maximum length of an RFC 1123 label (Kubernetes names of most kinds, our Link names).
pub const LABEL_MAX_LEN: usize = 63;
/// Maximum length of a DNS subdomain (Kubernetes `metadata.name` of Secrets, Links on Kubernetes).
pub const SUBDOMAIN_MAX_LEN: usize = 253;

/// The skupper CLI resource-name pattern (`NewResourceStringValidator`).
pub const RESOURCE_NAME_REGEX: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])*)*$";
/// The skupper CLI token-file-name pattern (`NewFilePathStringValidator`).
pub const FILE_NAME_REGEX: &str = r"^[A-Za-z0-9./~-]+$";

/// Kubernetes' text for an invalid RFC 1123 label (note the double space, as upstream).
pub const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
/// Kubernetes' text for an invalid DNS subdomain.
pub const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
/// Upstream system-site text for an invalid name (`site_state_validator.go` `rfc1123Error`).
pub const SYSTEM_NAME_MESSAGE: &str = "a lowercase RFC 1123 name must consist of lower case alphanumeric characters or \
'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation \
is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Why a name or host was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Longer than the kind of name allows (Kubernetes `MaxLenError`).
    #[error("must be no more than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
        /// The length found.
        len: usize,
    },
    /// Not an RFC 1123 label (lower case alphanumerics and `-`, alphanumeric at both ends).
    #[error("{}", LABEL_MESSAGE)]
    NotLabel,
    /// Not a DNS subdomain (labels joined by `.`).
    #[error("{}", SUBDOMAIN_MESSAGE)]
    NotSubdomain,
    /// Not a system-site name (upstream wraps it as `invalid name "<n>": ...`).
    #[error("{}", SYSTEM_NAME_MESSAGE)]
    NotSystemName,
    /// A skupper CLI pattern did not match (`stringValidator.Evaluate`).
    #[error("value does not match this regular expression: {regex}")]
    NoMatch {
        /// The pattern, as upstream prints it.
        regex: &'static str,
    },
    /// Not a usable host name or IP address.
    #[error("{host:?} is not a valid host: {problem}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong and what is expected.
        problem: &'static str,
    },
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without a length limit.
fn is_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            is_lower_alnum(*f) && is_lower_alnum(*l) && b.iter().all(|c| is_lower_alnum(*c) || *c == b'-')
        }
        _ => false,
    }
}

/// Kubernetes `IsDNS1123Label`: at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends.
pub fn validate_label(name: &str) -> Result<(), NameError> {
    if name.len() > LABEL_MAX_LEN {
        return Err(NameError::TooLong { max: LABEL_MAX_LEN, len: name.len() });
    }
    if is_label_shape(name) { Ok(()) } else { Err(NameError::NotLabel) }
}

/// Kubernetes `IsDNS1123Subdomain`: at most 253 characters, labels joined by `.`.
pub fn validate_subdomain(name: &str) -> Result<(), NameError> {
    if name.len() > SUBDOMAIN_MAX_LEN {
        return Err(NameError::TooLong { max: SUBDOMAIN_MAX_LEN, len: name.len() });
    }
    if name.split('.').all(is_label_shape) { Ok(()) } else { Err(NameError::NotSubdomain) }
}

/// Upstream system-site `ValidateName` (label shape, no length limit).
pub fn validate_system_name(name: &str) -> Result<(), NameError> {
    if is_label_shape(name) { Ok(()) } else { Err(NameError::NotSystemName) }
}

/// The skupper CLI resource-name rule ([`RESOURCE_NAME_REGEX`]): a subdomain shape with no length limit.
pub fn validate_resource_name(name: &str) -> Result<(), NameError> {
    if name.split('.').all(is_label_shape) { Ok(()) } else { Err(NameError::NoMatch { regex: RESOURCE_NAME_REGEX }) }
}

/// The skupper CLI token-file-name rule ([`FILE_NAME_REGEX`]).
pub fn validate_file_name(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || b"./~-".contains(&c));
    if ok { Ok(()) } else { Err(NameError::NoMatch { regex: FILE_NAME_REGEX }) }
}

/// What kind of host a valid host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (brackets stripped).
    Ipv6(Ipv6Addr),
    /// A DNS name.
    Dns,
}

/// A validated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host<'a> {
    /// The host without IPv6 brackets.
    pub name: &'a str,
    /// IP literal or DNS name.
    pub kind: HostKind,
}

impl Host<'_> {
    /// The IP address, for IP literals.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            HostKind::Ipv4(a) => Some(IpAddr::V4(a)),
            HostKind::Ipv6(a) => Some(IpAddr::V6(a)),
            HostKind::Dns => None,
        }
    }
}

/// Checks that `host` is an IP literal (IPv6 optionally in `[]`) or a DNS host name: labels of
/// 1-63 letters, digits or `-` (not at either end), at most 253 characters, an optional final
/// `.`, and a last label that is not all digits (that would be a mistyped IPv4 address).
/// Upper case is accepted: DNS is case-insensitive.
pub fn validate_host(host: &str) -> Result<Host<'_>, NameError> {
    let bad = |problem: &'static str| NameError::InvalidHost { host: host.to_string(), problem };
    if host.is_empty() {
        return Err(bad("the host is empty; give a DNS name or an IP address"));
    }
    let inner = match host.strip_prefix('[') {
        Some(rest) => {
            let inner = rest.strip_suffix(']').ok_or_else(|| bad("'[' without a closing ']'"))?;
            let a = Ipv6Addr::from_str(inner).map_err(|_| bad("only an IPv6 address may be written in []"))?;
            return Ok(Host { name: inner, kind: HostKind::Ipv6(a) });
        }
        None => host,
    };
    if let Ok(a) = Ipv4Addr::from_str(inner) {
        return Ok(Host { name: inner, kind: HostKind::Ipv4(a) });
    }
    if inner.contains(':') {
        return Ipv6Addr::from_str(inner)
            .map(|a| Host { name: inner, kind: HostKind::Ipv6(a) })
            .map_err(|_| bad("not a valid IPv6 address (a port does not belong in the host field)"));
    }
    let dns = inner.strip_suffix('.').unwrap_or(inner);
    if dns.len() > SUBDOMAIN_MAX_LEN {
        return Err(bad("a DNS name is at most 253 characters"));
    }
    for label in dns.split('.') {
        let b = label.as_bytes();
        if b.is_empty() {
            return Err(bad("empty label (two dots in a row, or a leading dot)"));
        }
        if b.len() > LABEL_MAX_LEN {
            return Err(bad("a DNS label is at most 63 characters"));
        }
        if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
            return Err(bad("a DNS name has only letters, digits, '-' and '.'"));
        }
        if b.first() == Some(&b'-') || b.last() == Some(&b'-') {
            return Err(bad("a DNS label cannot start or end with '-'"));
        }
    }
    if dns.rsplit('.').next().is_some_and(|l| l.bytes().all(|c| c.is_ascii_digit())) {
        return Err(bad("looks like an IPv4 address but is not one (four numbers 0-255)"));
    }
    Ok(Host { name: inner, kind: HostKind::Dns })
}

/// Where a host can be reached from, judged from its text alone (no DNS lookups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HostClass {
    /// `127.0.0.0/8`, `::1`, `localhost`: only the same machine.
    Loopback,
    /// `0.0.0.0` or `::`: a bind address, not a destination.
    Unspecified,
    /// RFC 1918, shared (100.64/10), link-local or IPv6 unique/link-local addresses: same network only.
    PrivateIp,
    /// Any other IP address.
    PublicIp,
    /// A `.svc` / `.cluster.local` name: resolvable inside a Kubernetes cluster only.
    ClusterInternal,
    /// A single-label name (`skupper-router`): resolvable only through a local search domain.
    ShortName,
    /// A multi-label DNS name.
    PublicDns,
    /// Not a valid host at all.
    Invalid,
}

fn private_v4(a: Ipv4Addr) -> bool {
    let [o1, o2, ..] = a.octets();
    a.is_private() || a.is_link_local() || (o1 == 100 && (64..128).contains(&o2))
}

/// Classifies a host (see [`HostClass`]).
pub fn classify_host(host: &str) -> HostClass {
    let Ok(h) = validate_host(host) else { return HostClass::Invalid };
    match h.kind {
        HostKind::Ipv4(a) if a.is_loopback() => HostClass::Loopback,
        HostKind::Ipv4(a) if a.is_unspecified() => HostClass::Unspecified,
        HostKind::Ipv4(a) if private_v4(a) => HostClass::PrivateIp,
        HostKind::Ipv4(_) => HostClass::PublicIp,
        HostKind::Ipv6(a) => match a.to_ipv4_mapped() {
            Some(v4) => classify_host(&v4.to_string()),
            None if a.is_loopback() => HostClass::Loopback,
            None if a.is_unspecified() => HostClass::Unspecified,
            None if a.is_unique_local() || a.is_unicast_link_local() => HostClass::PrivateIp,
            None => HostClass::PublicIp,
        },
        HostKind::Dns => {
            let name = h.name.strip_suffix('.').unwrap_or(h.name).to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                HostClass::Loopback
            } else if name.ends_with(".svc") || name.ends_with(".cluster.local") || name.contains(".svc.") {
                HostClass::ClusterInternal
            } else if !name.contains('.') {
                HostClass::ShortName
            } else {
                HostClass::PublicDns
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn labels_and_subdomains_follow_kubernetes() {
        for ok in ["a", "0", "link-west-skupper-router", "a--b", "123-abc"] {
            assert_eq!(validate_label(ok), Ok(()), "{ok}");
            assert_eq!(validate_subdomain(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "ä", "a b"] {
            assert_eq!(validate_label(bad), Err(NameError::NotLabel), "{bad}");
        }
        let long = "a".repeat(64);
        assert_eq!(validate_label(&long).expect_err("long").to_string(), "must be no more than 63 characters");
        assert_eq!(validate_subdomain("a.b-c.d"), Ok(()));
        for bad in ["a..b", ".a", "a.", "a.-b", "A.b"] {
            assert_eq!(validate_subdomain(bad), Err(NameError::NotSubdomain), "{bad}");
        }
        assert!(matches!(validate_subdomain(&"a".repeat(254)), Err(NameError::TooLong { max: 253, len: 254 })));
        assert!(validate_subdomain(&alloc::format!("{}.{}", "a".repeat(63), "b".repeat(63))).is_ok());
        assert_eq!(
            NameError::NotLabel.to_string(),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start \
             and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
        assert!(NameError::NotSubdomain.to_string().ends_with(r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
        assert!(validate_system_name("x_y").expect_err("bad").to_string().starts_with("a lowercase RFC 1123 name"));
    }

    #[test]
    fn cli_patterns() {
        assert_eq!(validate_resource_name("link-west"), Ok(()));
        assert_eq!(validate_resource_name("a.b"), Ok(()));
        assert_eq!(validate_resource_name(&"a".repeat(300)), Ok(()));
        let e = validate_resource_name("Link").expect_err("upper case");
        assert_eq!(
            e.to_string(),
            r"value does not match this regular expression: ^[a-z0-9]([-a-z0-9]*[a-z0-9])*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])*)*$"
        );
        for bad in ["", "a.", "-a", "a..b", "a_b"] {
            assert!(validate_resource_name(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_file_name("~/tokens/west.yaml"), Ok(()));
        assert_eq!(validate_file_name("A-Z_9"), Err(NameError::NoMatch { regex: FILE_NAME_REGEX }));
        assert!(validate_file_name("").is_err());
        assert!(validate_file_name("a b").is_err());
        assert_eq!(
            validate_file_name("x y").expect_err("space").to_string(),
            "value does not match this regular expression: ^[A-Za-z0-9./~-]+$"
        );
    }

    #[test]
    fn hosts() {
        let kind = |h: &str| validate_host(h).map(|h| h.kind);
        assert!(matches!(kind("10.102.82.46"), Ok(HostKind::Ipv4(_))));
        assert!(matches!(kind("::1"), Ok(HostKind::Ipv6(_))));
        assert_eq!(validate_host("[fd00::1]").map(|h| h.name), Ok("fd00::1"));
        assert_eq!(kind("west.Example.com."), Ok(HostKind::Dns));
        assert_eq!(kind("skupper-router"), Ok(HostKind::Dns));
        for bad in [
            "",
            "[::1",
            "[west.example.com]",
            "1.2.3.300",
            "10.0.0",
            "host:55671",
            "a..b",
            "-a.b",
            "a_b.c",
            "ex ample.com",
            "fe80::1%eth0",
        ] {
            let e = validate_host(bad).expect_err(bad);
            assert!(matches!(e, NameError::InvalidHost { .. }), "{bad}");
        }
        let long_label = alloc::format!("{}.com", "a".repeat(64));
        assert!(validate_host(&long_label).is_err());
    }

    #[test]
    fn host_classes() {
        assert_eq!(classify_host("127.0.0.1"), HostClass::Loopback);
        assert_eq!(classify_host("[::1]"), HostClass::Loopback);
        assert_eq!(classify_host("localhost"), HostClass::Loopback);
        assert_eq!(classify_host("0.0.0.0"), HostClass::Unspecified);
        assert_eq!(classify_host("10.107.241.191"), HostClass::PrivateIp);
        assert_eq!(classify_host("172.31.0.1"), HostClass::PrivateIp);
        assert_eq!(classify_host("172.32.0.1"), HostClass::PublicIp);
        assert_eq!(classify_host("192.168.1.1"), HostClass::PrivateIp);
        assert_eq!(classify_host("100.64.0.1"), HostClass::PrivateIp);
        assert_eq!(classify_host("169.254.1.1"), HostClass::PrivateIp);
        assert_eq!(classify_host("fd12::1"), HostClass::PrivateIp);
        assert_eq!(classify_host("::ffff:10.0.0.1"), HostClass::PrivateIp);
        assert_eq!(classify_host("8.8.8.8"), HostClass::PublicIp);
        assert_eq!(classify_host("2001:db8::1"), HostClass::PublicIp);
        assert_eq!(classify_host("skupper-grant-server.west.svc"), HostClass::ClusterInternal);
        assert_eq!(classify_host("skupper-router.west.svc.cluster.local"), HostClass::ClusterInternal);
        assert_eq!(classify_host("skupper-router"), HostClass::ShortName);
        assert_eq!(classify_host("west.example.com"), HostClass::PublicDns);
        assert_eq!(classify_host("bad host"), HostClass::Invalid);
    }
}
