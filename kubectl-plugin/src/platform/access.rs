//! A site's link access, the same on every platform: the interface its link-access listeners and
//! grant server bind, the hosts it advertises, its ports, and what follows from them (endpoints,
//! server certificate names, the grant URL). The local platform keeps it in `runtime/ports.yaml`,
//! a controller in its RouterAccess.

use std::net::{IpAddr, TcpListener};

use serde::{Deserialize, Serialize};
use skupper_core::resources::{Endpoint, GROUP_PRIMARY, GROUP_SECONDARY, ROLE_EDGE, ROLE_INTER_ROUTER};

/// Link access of a site: where it listens and what it advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Access {
    /// Interface the link-access listeners and the grant server bind.
    pub bind_host: String,
    /// Hosts advertised in endpoints, links and grant URLs.
    pub endpoint_hosts: Vec<String>,
    /// Port of the `inter-router` role.
    pub inter_router: u16,
    /// Port of the `edge` role.
    pub edge: u16,
    /// Port of the grant server.
    pub grant_server: u16,
    /// Link-access ports of the second router (`skupper-router-2`) of an HA site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<GroupPorts>,
    /// The RouterAccess these settings come from, when the site has one: only its roles are
    /// listened for and advertised, and its `subjectAlternativeNames` join the server
    /// certificate's names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_access: Option<RouterAccessView>,
}

/// What a RouterAccess decides on this platform, beyond ports and bind host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouterAccessView {
    /// The RouterAccess's name.
    pub name: String,
    /// The roles it lists (`inter-router`, `edge`).
    pub roles: Vec<String>,
    /// Extra names for the server certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alternative_names: Vec<String>,
}

/// The link-access ports of one extra router group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupPorts {
    /// Port of the `inter-router` role.
    pub inter_router: u16,
    /// Port of the `edge` role.
    pub edge: u16,
}

impl Access {
    /// Whether link access listens for `role` (every role unless a RouterAccess lists them).
    pub(crate) fn has_role(&self, role: &str) -> bool {
        self.router_access.as_ref().is_none_or(|ra| ra.roles.iter().any(|r| r == role))
    }

    /// The site's endpoints: `inter-router` and `edge` for every advertised host, for each
    /// router group (`skupper-router`, and `skupper-router-2` when the site is HA).
    pub(crate) fn endpoints(&self) -> Vec<Endpoint> {
        let mut out = Vec::new();
        let second = self.ha.map(|p| (GROUP_SECONDARY, p.inter_router, p.edge));
        for (group, inter_router, edge) in std::iter::once((GROUP_PRIMARY, self.inter_router, self.edge)).chain(second)
        {
            for host in &self.endpoint_hosts {
                for (role, port) in [(ROLE_INTER_ROUTER, inter_router), (ROLE_EDGE, edge)] {
                    if !self.has_role(role) {
                        continue;
                    }
                    out.push(Endpoint {
                        name: role.into(),
                        host: host.clone(),
                        port: port.to_string(),
                        group: group.into(),
                    });
                }
            }
        }
        out
    }

    /// The link-access ports of a router group, if the site has that group.
    pub(crate) fn ports_of(&self, group: &str) -> Option<GroupPorts> {
        match group {
            GROUP_PRIMARY => Some(GroupPorts { inter_router: self.inter_router, edge: self.edge }),
            GROUP_SECONDARY => self.ha,
            _ => None,
        }
    }

    /// Where a router of this site dials another one of the same site: the bind host, or
    /// loopback when it binds every interface.
    pub(crate) fn local_dial_host(&self) -> String {
        match self.bind_host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() && ip.is_ipv6() => "::1".into(),
            Ok(ip) if ip.is_unspecified() => "127.0.0.1".into(),
            _ => self.bind_host.trim_start_matches('[').trim_end_matches(']').to_string(),
        }
    }

    /// `https://<first endpoint host>:<grant port>`.
    pub(crate) fn grant_url_base(&self) -> String {
        let host = self.endpoint_hosts.first().map(String::as_str).unwrap_or(&self.bind_host);
        format!("https://{}:{}", url_host(host), self.grant_server)
    }

    /// Subject alternative names for server certificates: endpoint hosts, the bind host when it
    /// is a specific address, and loopback.
    pub(crate) fn san_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.endpoint_hosts.clone();
        let unspecified = self.bind_host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        if !unspecified {
            hosts.push(self.bind_host.clone());
        }
        hosts.extend(self.router_access.iter().flat_map(|ra| ra.subject_alternative_names.iter().cloned()));
        hosts.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
        let mut seen = std::collections::BTreeSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        hosts
    }
}

/// A host as it appears in a URL authority (IPv6 literals in brackets).
pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() }
}

/// The first port from `start` that is not in `taken` and can be bound on `host` now.
pub(crate) fn free_port(host: &str, start: u16, taken: &[u16]) -> anyhow::Result<u16> {
    for port in start..=start.saturating_add(1000) {
        if taken.contains(&port) {
            continue;
        }
        if TcpListener::bind((host, port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port from {start} on {host}; free some ports or choose another --bind-host")
}
