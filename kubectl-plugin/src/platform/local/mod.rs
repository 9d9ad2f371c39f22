//! The `local` platform: one site per namespace directory on this host.
//!
//! Layout (modelled on upstream's system sites, reference §7), under
//! `$SKUPPER_HOME` or `$XDG_DATA_HOME/kubectl-skupper` or `~/.local/share/kubectl-skupper`:
//! ```text
//! namespaces/<ns>/
//!   input/resources/<Kind>-<name>.yaml   what the user declared (Site, Link, Secret, ...)
//!   runtime/site-id                      stable site id (created once)
//!   runtime/ports.yaml                   bind host, endpoint hosts, allocated ports
//!   runtime/issuers/<ca>/                site CA and grant-server CA (kept across restarts)
//!   runtime/certs/<name>/                server certificates (reissued at each start)
//!   runtime/status/<Kind>-<name>.yaml    status written by the running site
//!   runtime/state.yaml, router.pid, router.log
//!   runtime/state-2.yaml, router-2.pid, router-2.log, status-2/
//!                                        the second router of an HA site (`skupper-router-2`)
//! ```
//! Every write is atomic (temporary file + rename); multi-file changes go through [`Changes`],
//! which writes nothing when any part fails.

pub mod config;
pub mod status;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use skupper_core::resources::{
    AccessGrant, AccessToken, Connector, DEFAULT_EDGE_PORT, DEFAULT_GRANT_SERVER_PORT, DEFAULT_INTER_ROUTER_PORT,
    Endpoint, GROUP_PRIMARY, GROUP_SECONDARY, Link, Listener, ROLE_EDGE, ROLE_INTER_ROUTER, Resource, RouterAccess,
    Secret, Site,
};

use crate::certs::{self, Issued};

/// Name of the CA that signs link certificates (upstream `skupper-site-ca`).
pub const SITE_CA: &str = "skupper-site-ca";
/// Name of the CA whose certificate goes into every token (`skupper-grant-server-ca`).
pub const GRANT_SERVER_CA: &str = "skupper-grant-server-ca";
/// Server certificate of the link-access listeners.
pub const SITE_SERVER_CERT: &str = "skupper-site-server";
/// Server certificate of the grant server.
pub const GRANT_SERVER_CERT: &str = "skupper-grant-server";
/// Default namespace.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Default interface for link access and the grant server: loopback only.
pub const DEFAULT_BIND_HOST: &str = "127.0.0.1";

/// The base directory of all local sites.
pub fn base_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SKUPPER_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("kubectl-skupper"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/kubectl-skupper")),
        None => bail!("cannot find a place for site data: set XDG_DATA_HOME or HOME (or SKUPPER_HOME)"),
    }
}

/// One namespace's site directory, as seen by one of its routers: the process files (pid, log,
/// state, status) of the second router of an HA site carry a `-2` suffix.
#[derive(Debug, Clone)]
pub struct Home {
    /// Namespace name.
    pub namespace: String,
    /// `<base>/namespaces/<namespace>`.
    pub dir: PathBuf,
    base: PathBuf,
    /// Router group whose process files this is (`skupper-router` or `skupper-router-2`).
    group: &'static str,
}

/// Everything declared in `input/resources`, by kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// The site (at most one per namespace).
    pub site: Option<Site>,
    /// Links by name.
    pub links: BTreeMap<String, Link>,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Access tokens by name.
    pub tokens: BTreeMap<String, AccessToken>,
    /// Access grants by name.
    pub grants: BTreeMap<String, AccessGrant>,
    /// Listeners by name.
    pub listeners: BTreeMap<String, Listener>,
    /// Connectors by name.
    pub connectors: BTreeMap<String, Connector>,
    /// Router accesses by name (accepted, not used by the local router).
    pub router_accesses: BTreeMap<String, RouterAccess>,
}

impl Resources {
    /// Adds or replaces one resource.
    pub fn insert(&mut self, r: Resource) {
        match r {
            Resource::Site(x) => self.site = Some(x),
            Resource::Link(x) => {
                self.links.insert(x.name().into(), x);
            }
            Resource::Secret(x) => {
                self.secrets.insert(x.name().into(), x);
            }
            Resource::AccessToken(x) => {
                self.tokens.insert(x.name().into(), x);
            }
            Resource::AccessGrant(x) => {
                self.grants.insert(x.name().into(), x);
            }
            Resource::Listener(x) => {
                self.listeners.insert(x.name().into(), x);
            }
            Resource::Connector(x) => {
                self.connectors.insert(x.name().into(), x);
            }
            Resource::RouterAccess(x) => {
                self.router_accesses.insert(x.name().into(), x);
            }
        }
    }

    /// Whether a resource of that kind and name is declared.
    pub fn contains(&self, kind: &str, name: &str) -> bool {
        match kind {
            "Site" => self.site.as_ref().is_some_and(|s| s.name() == name),
            "Link" => self.links.contains_key(name),
            "Secret" => self.secrets.contains_key(name),
            "AccessToken" => self.tokens.contains_key(name),
            "AccessGrant" => self.grants.contains_key(name),
            "Listener" => self.listeners.contains_key(name),
            "Connector" => self.connectors.contains_key(name),
            "RouterAccess" => self.router_accesses.contains_key(name),
            _ => false,
        }
    }
}

/// Link access of a site: where it listens and what it advertises (`runtime/ports.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Access {
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
}

/// The link-access ports of one extra router group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPorts {
    /// Port of the `inter-router` role.
    pub inter_router: u16,
    /// Port of the `edge` role.
    pub edge: u16,
}

impl Access {
    /// The site's endpoints: `inter-router` and `edge` for every advertised host, for each
    /// router group (`skupper-router`, and `skupper-router-2` when the site is HA).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut out = Vec::new();
        let second = self.ha.map(|p| (GROUP_SECONDARY, p.inter_router, p.edge));
        for (group, inter_router, edge) in std::iter::once((GROUP_PRIMARY, self.inter_router, self.edge)).chain(second)
        {
            for host in &self.endpoint_hosts {
                for (role, port) in [(ROLE_INTER_ROUTER, inter_router), (ROLE_EDGE, edge)] {
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
    pub fn ports_of(&self, group: &str) -> Option<GroupPorts> {
        match group {
            GROUP_PRIMARY => Some(GroupPorts { inter_router: self.inter_router, edge: self.edge }),
            GROUP_SECONDARY => self.ha,
            _ => None,
        }
    }

    /// Where a router of this site dials another one of the same site: the bind host, or
    /// loopback when it binds every interface.
    pub fn local_dial_host(&self) -> String {
        match self.bind_host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() && ip.is_ipv6() => "::1".into(),
            Ok(ip) if ip.is_unspecified() => "127.0.0.1".into(),
            _ => self.bind_host.trim_start_matches('[').trim_end_matches(']').to_string(),
        }
    }

    /// `https://<first endpoint host>:<grant port>`.
    pub fn grant_url_base(&self) -> String {
        let host = self.endpoint_hosts.first().map(String::as_str).unwrap_or(&self.bind_host);
        format!("https://{}:{}", url_host(host), self.grant_server)
    }

    /// Subject alternative names for server certificates: endpoint hosts, the bind host when it
    /// is a specific address, and loopback.
    pub fn san_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.endpoint_hosts.clone();
        let unspecified = self.bind_host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        if !unspecified {
            hosts.push(self.bind_host.clone());
        }
        hosts.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
        let mut seen = std::collections::BTreeSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        hosts
    }
}

/// A host as it appears in a URL authority (IPv6 literals in brackets).
pub fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() }
}

/// What the running site reports about itself (`runtime/state.yaml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    /// Process id of the site.
    pub pid: u32,
    /// `Starting`, `Running` or `Failed`.
    pub phase: String,
    /// `OK`, or why the router is not running.
    pub router: String,
    /// Grant server URL base, when it runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub grant_server: String,
    /// RFC 3339 start time.
    #[serde(default)]
    pub started_at: String,
    /// Why the site failed, when it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Home {
    /// The site directory of `namespace` (not created until something is written).
    pub fn new(namespace: &str) -> anyhow::Result<Self> {
        Ok(Self::at(base_dir()?, namespace))
    }

    /// The site directory of `namespace` under an explicit base directory.
    pub fn at(base: PathBuf, namespace: &str) -> Self {
        Self { namespace: namespace.into(), dir: base.join("namespaces").join(namespace), base, group: GROUP_PRIMARY }
    }

    /// The same site directory as seen by the router of `group`; `None` for an unknown group.
    pub fn for_group(&self, group: &str) -> Option<Self> {
        let group = match group {
            GROUP_PRIMARY => GROUP_PRIMARY,
            GROUP_SECONDARY => GROUP_SECONDARY,
            _ => return None,
        };
        Some(Self { group, ..self.clone() })
    }

    /// The router group of this view (`skupper-router` unless made with [`Home::for_group`]).
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// Suffix of this group's process files: empty for the first router, `-2` for the second.
    fn suffix(&self) -> &'static str {
        if self.group == GROUP_SECONDARY { "-2" } else { "" }
    }

    /// `input/resources`.
    pub fn resources_dir(&self) -> PathBuf {
        self.dir.join("input").join("resources")
    }
    /// `runtime`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.join("runtime")
    }
    /// `runtime/status` (`status-2` for the second router of an HA site).
    pub fn status_dir(&self) -> PathBuf {
        self.runtime_dir().join(format!("status{}", self.suffix()))
    }
    /// `runtime/router.log` (`router-2.log`).
    pub fn log_path(&self) -> PathBuf {
        self.runtime_dir().join(format!("router{}.log", self.suffix()))
    }
    /// `runtime/router.pid` (`router-2.pid`).
    pub fn pid_path(&self) -> PathBuf {
        self.runtime_dir().join(format!("router{}.pid", self.suffix()))
    }
    /// `runtime/state.yaml` (`state-2.yaml`).
    pub fn state_path(&self) -> PathBuf {
        self.runtime_dir().join(format!("state{}.yaml", self.suffix()))
    }
    fn ports_path(&self) -> PathBuf {
        self.runtime_dir().join("ports.yaml")
    }

    /// The file of a declared resource.
    pub fn resource_path(&self, kind: &str, name: &str) -> PathBuf {
        self.resources_dir().join(format!("{kind}-{name}.yaml"))
    }

    /// The status file of a resource.
    pub fn status_path(&self, kind: &str, name: &str) -> PathBuf {
        self.status_dir().join(format!("{kind}-{name}.yaml"))
    }

    /// Loads every declared resource; any unreadable file is an error naming it.
    pub fn load(&self) -> anyhow::Result<Resources> {
        let (res, problems) = self.load_lenient()?;
        if let Some(p) = problems.into_iter().next() {
            bail!("{p}");
        }
        Ok(res)
    }

    /// Loads every declared resource, skipping (and describing) files that cannot be read.
    pub fn load_lenient(&self) -> anyhow::Result<(Resources, Vec<String>)> {
        let mut res = Resources::default();
        let mut problems = Vec::new();
        let dir = self.resources_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((res, problems)),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
            if file.starts_with('.') || !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json"))
            {
                continue;
            }
            match read_resource_file(&path) {
                Ok(r) => res.insert(r),
                Err(e) => problems.push(format!(
                    "{}: {e:#}; fix or remove this file (or use kubectl skupper system delete)",
                    path.display()
                )),
            }
        }
        Ok((res, problems))
    }

    /// The site id, created on first use and kept for the life of the namespace.
    pub fn site_id(&self) -> anyhow::Result<String> {
        let path = self.runtime_dir().join("site-id");
        if let Ok(id) = fs::read_to_string(&path) {
            let id = id.trim();
            if !id.is_empty() {
                return Ok(id.to_string());
            }
        }
        let id = super::uuid_v4()?;
        write_atomic(&path, format!("{id}\n").as_bytes(), 0o600)?;
        Ok(id)
    }

    /// The site's link access settings, if allocated.
    pub fn access(&self) -> anyhow::Result<Option<Access>> {
        match fs::read_to_string(self.ports_path()) {
            Ok(text) => serde_yaml::from_str(&text).map(Some).with_context(|| {
                format!("{} is damaged; remove it to allocate ports again", self.ports_path().display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.ports_path().display())),
        }
    }

    /// Allocates link access (or updates the hosts of an existing allocation): the first free
    /// ports from 55671 (inter-router), 45671 (edge) and 9090 (grant server) that bind on the bind
    /// host and that no other local site has taken.
    pub fn ensure_access(&self, bind_host: Option<&str>, endpoint_hosts: &[String]) -> anyhow::Result<Access> {
        if let Some(mut existing) = self.access()? {
            let mut changed = false;
            if let Some(b) = bind_host
                && b != existing.bind_host
            {
                existing.bind_host = b.into();
                changed = true;
            }
            if !endpoint_hosts.is_empty() && endpoint_hosts != existing.endpoint_hosts.as_slice() {
                existing.endpoint_hosts = endpoint_hosts.to_vec();
                changed = true;
            }
            if changed {
                self.write_access(&existing)?;
            }
            return Ok(existing);
        }
        let bind = bind_host.unwrap_or(DEFAULT_BIND_HOST).to_string();
        let mut taken = self.ports_of_other_sites();
        let mut pick = |start: u16| -> anyhow::Result<u16> {
            let port = free_port(&bind, start, &taken)?;
            taken.push(port);
            Ok(port)
        };
        let inter_router = pick(DEFAULT_INTER_ROUTER_PORT)?;
        let edge = pick(DEFAULT_EDGE_PORT)?;
        let grant_server = pick(DEFAULT_GRANT_SERVER_PORT)?;
        let endpoint_hosts = if endpoint_hosts.is_empty() {
            let advertised = match bind.parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
                _ => bind.clone(),
            };
            vec![advertised]
        } else {
            endpoint_hosts.to_vec()
        };
        let access = Access { bind_host: bind, endpoint_hosts, inter_router, edge, grant_server, ha: None };
        self.write_access(&access)?;
        Ok(access)
    }

    /// Allocates (`enabled`) or releases the link-access ports of the second router of an HA
    /// site; the site's endpoints, generated Links and grant answers follow. Requires link access
    /// to be allocated already. Returns the updated settings.
    pub fn set_ha_access(&self, enabled: bool) -> anyhow::Result<Access> {
        let Some(mut access) = self.access()? else {
            bail!("link access is not set up for namespace {}; enable it first", self.namespace)
        };
        match (enabled, access.ha) {
            (true, Some(_)) | (false, None) => return Ok(access),
            (true, None) => {
                let mut taken = self.ports_of_other_sites();
                taken.extend([access.inter_router, access.edge, access.grant_server]);
                let inter_router = free_port(&access.bind_host, DEFAULT_INTER_ROUTER_PORT, &taken)?;
                taken.push(inter_router);
                let edge = free_port(&access.bind_host, DEFAULT_EDGE_PORT, &taken)?;
                access.ha = Some(GroupPorts { inter_router, edge });
            }
            (false, Some(_)) => access.ha = None,
        }
        self.write_access(&access)?;
        Ok(access)
    }

    fn write_access(&self, access: &Access) -> anyhow::Result<()> {
        let text = serde_yaml::to_string(access).context("encoding ports.yaml")?;
        write_atomic(&self.ports_path(), text.as_bytes(), 0o600)
    }

    fn ports_of_other_sites(&self) -> Vec<u16> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.base.join("namespaces")) else { return out };
        for e in entries.flatten() {
            if e.path() == self.dir {
                continue;
            }
            let Ok(text) = fs::read_to_string(e.path().join("runtime").join("ports.yaml")) else { continue };
            if let Ok(a) = serde_yaml::from_str::<Access>(&text) {
                out.extend([a.inter_router, a.edge, a.grant_server]);
                out.extend(a.ha.iter().flat_map(|p| [p.inter_router, p.edge]));
            }
        }
        out
    }

    /// The site CA (created once, kept across restarts so issued links stay valid).
    pub fn site_ca(&self, site_name: &str) -> anyhow::Result<Issued> {
        self.ca(SITE_CA, &format!("{site_name} site CA"))
    }

    /// The grant server's CA (created once; its certificate is every token's `ca`).
    pub fn grant_ca(&self) -> anyhow::Result<Issued> {
        self.ca(GRANT_SERVER_CA, "SkupperGrantServerCA")
    }

    fn ca(&self, name: &str, common_name: &str) -> anyhow::Result<Issued> {
        let dir = self.runtime_dir().join("issuers").join(name);
        if let Some(ca) = read_tls_dir(&dir)? {
            return Ok(ca);
        }
        let ca = certs::new_ca(common_name, certs::DEFAULT_VALIDITY)?;
        write_tls_dir(&dir, &ca)?;
        Ok(ca)
    }

    /// Issues (again) a server certificate named `name` for `hosts`, signed by `ca`, and keeps it
    /// under `runtime/certs/<name>`.
    pub fn issue_server_cert(&self, name: &str, ca: &Issued, hosts: &[String]) -> anyhow::Result<Issued> {
        let cert = certs::issue_server(ca, name, hosts, certs::DEFAULT_VALIDITY)
            .with_context(|| format!("issuing the {name} server certificate"))?;
        write_tls_dir(&self.runtime_dir().join("certs").join(name), &cert)?;
        Ok(cert)
    }

    /// The pid of the running site, if one runs.
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_path()).ok()?.trim().parse().ok()?;
        is_site_process(pid).then_some(pid)
    }

    /// The runtime's own report, if present.
    pub fn runtime_state(&self) -> Option<RuntimeState> {
        serde_yaml::from_str(&fs::read_to_string(self.state_path()).ok()?).ok()
    }

    /// Reads a status file written by the running site.
    pub fn read_status<T: serde::de::DeserializeOwned>(&self, kind: &str, name: &str) -> Option<T> {
        let text = fs::read_to_string(self.status_path(kind, name)).ok()?;
        serde_yaml::from_str(&text).ok()
    }
}

/// Reads one resource file (one document, YAML or JSON).
pub fn read_resource_file(path: &Path) -> anyhow::Result<Resource> {
    let text = fs::read_to_string(path).context("cannot read the file")?;
    let mut docs = parse_documents(&text)?;
    anyhow::ensure!(docs.len() == 1, "expected exactly one resource, found {}", docs.len());
    Ok(docs.remove(0))
}

/// Decodes a YAML stream (or JSON, or concatenated JSON objects) into resources.
pub fn parse_documents(text: &str) -> anyhow::Result<Vec<Resource>> {
    let mut out = Vec::new();
    for (i, value) in parse_values(text)?.into_iter().enumerate() {
        let r = Resource::from_value(value).with_context(|| format!("document {}", i + 1))?;
        out.push(r);
    }
    Ok(out)
}

/// Decodes a YAML stream, or a stream of JSON objects, into values (empty documents skipped).
pub fn parse_values(text: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    if text.trim_start().starts_with('{') {
        let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        for (i, v) in stream.enumerate() {
            out.push(v.with_context(|| format!("document {} is not valid JSON", i + 1))?);
        }
        return Ok(out);
    }
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v = serde_json::Value::deserialize(doc).with_context(|| format!("document {} is not valid YAML", i + 1))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The YAML text of a resource as stored in a file.
pub fn resource_yaml(r: &Resource) -> anyhow::Result<String> {
    crate::output::to_yaml(&r.to_value())
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename),
/// creating parent directories (mode 0700).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = stage(path, bytes, mode)?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display())).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

fn stage(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    create_dir_private(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let suffix: [u8; 6] = super::random_bytes()?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let res = f.write_all(bytes).and_then(|_| f.sync_all());
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    Ok(tmp)
}

/// Creates a directory (and parents) readable only by the user.
pub fn create_dir_private(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    Ok(())
}

/// A set of file writes and removals applied together: everything is staged first, then
/// renamed into place; if any step fails, what was already changed is put back.
#[derive(Debug, Default)]
pub struct Changes {
    puts: Vec<(PathBuf, Vec<u8>)>,
    deletes: Vec<PathBuf>,
}

impl Changes {
    /// Stores `r` as `input/resources/<Kind>-<name>.yaml`.
    pub fn put_resource(&mut self, home: &Home, r: &Resource) -> anyhow::Result<()> {
        let text = resource_yaml(r)?;
        self.puts.push((home.resource_path(r.kind(), r.name()), text.into_bytes()));
        Ok(())
    }

    /// Writes a file.
    pub fn put(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.puts.push((path, bytes));
    }

    /// Removes a file (a missing file is not an error).
    pub fn delete(&mut self, path: PathBuf) {
        self.deletes.push(path);
    }

    /// Applies everything or nothing.
    pub fn commit(self) -> anyhow::Result<()> {
        let mut staged = Vec::new();
        for (path, bytes) in &self.puts {
            match stage(path, bytes, 0o600) {
                Ok(tmp) => staged.push((tmp, path.clone())),
                Err(e) => {
                    for (tmp, _) in staged {
                        let _ = fs::remove_file(tmp);
                    }
                    return Err(e);
                }
            }
        }
        // Originals, to put back if a later step fails.
        let mut undo: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
        let mut result = Ok(());
        for (tmp, path) in &staged {
            let before = fs::read(path).ok();
            if let Err(e) = fs::rename(tmp, path) {
                result = Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
                break;
            }
            undo.push((path.clone(), before));
        }
        if result.is_ok() {
            for path in &self.deletes {
                let before = match fs::read(path) {
                    Ok(b) => b,
                    Err(_) => continue,
                };
                if let Err(e) = fs::remove_file(path) {
                    result = Err(anyhow::Error::new(e).context(format!("removing {}", path.display())));
                    break;
                }
                undo.push((path.clone(), Some(before)));
            }
        }
        if result.is_err() {
            for (tmp, _) in &staged {
                let _ = fs::remove_file(tmp);
            }
            for (path, before) in undo.into_iter().rev() {
                let _ = match before {
                    Some(b) => write_atomic(&path, &b, 0o600),
                    None => fs::remove_file(&path).map_err(Into::into),
                };
            }
        }
        result
    }
}

/// Reads `tls.crt`, `tls.key`, `ca.crt` from a directory, if present.
pub fn read_tls_dir(dir: &Path) -> anyhow::Result<Option<Issued>> {
    let read = |f: &str| fs::read_to_string(dir.join(f));
    match (read("tls.crt"), read("tls.key"), read("ca.crt")) {
        (Ok(cert_pem), Ok(key_pem), Ok(ca_pem)) => Ok(Some(Issued { cert_pem, key_pem, ca_pem })),
        (Err(e), _, _) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            Err(e).with_context(|| format!("reading the certificate in {}", dir.display()))
        }
    }
}

fn write_tls_dir(dir: &Path, issued: &Issued) -> anyhow::Result<()> {
    let mut c = Changes::default();
    c.put(dir.join("tls.crt"), issued.cert_pem.clone().into_bytes());
    c.put(dir.join("tls.key"), issued.key_pem.clone().into_bytes());
    c.put(dir.join("ca.crt"), issued.ca_pem.clone().into_bytes());
    c.commit()
}

/// The first port from `start` that is not in `taken` and can be bound on `host` now.
fn free_port(host: &str, start: u16, taken: &[u16]) -> anyhow::Result<u16> {
    for port in start..=start.saturating_add(1000) {
        if taken.contains(&port) {
            continue;
        }
        if TcpListener::bind((host, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port from {start} on {host}; free some ports or choose another --bind-host")
}

/// Whether `pid` is a live `system start --foreground` process (not a zombie, not a reused pid).
pub fn is_site_process(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if Path::new("/proc/self").exists() {
        let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else { return false };
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
        if zombie {
            return false;
        }
        return fs::read(proc_dir.join("cmdline"))
            .map(|c| c.split(|b| *b == 0).any(|arg| arg == b"--foreground"))
            .unwrap_or(false);
    }
    process_alive(pid)
}

/// Whether any process with that pid exists (`kill -0`).
pub fn process_alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ks-local-{tag}-{}", crate::platform::uuid_v4().expect("uuid")));
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn changes_are_all_or_nothing() {
        let d = temp_dir("changes");
        let a = d.join("a.yaml");
        fs::write(&a, "old").expect("write");
        let mut c = Changes::default();
        c.put(a.clone(), b"new".to_vec());
        // A path whose parent is a file cannot be staged: the whole change must fail.
        c.put(a.join("impossible"), b"x".to_vec());
        assert!(c.commit().is_err());
        assert_eq!(fs::read_to_string(&a).expect("read"), "old");
        let leftovers: Vec<_> = fs::read_dir(&d).expect("ls").flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn parse_yaml_and_json_streams() {
        let y = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\n---\napiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: l\n";
        let docs = parse_documents(y).expect("yaml");
        assert_eq!(docs.iter().map(|d| d.kind()).collect::<Vec<_>>(), ["Secret", "Link"]);
        let j = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}
{"apiVersion":"skupper.io/v2alpha1","kind":"Link","metadata":{"name":"l"}}"#;
        assert_eq!(parse_documents(j).expect("json").len(), 2);
        assert!(parse_documents("kind: [").is_err());
        assert!(parse_documents("apiVersion: v1\nkind: Pod\n").is_err());
    }

    #[test]
    fn endpoints_and_sans() {
        let a = Access {
            bind_host: "0.0.0.0".into(),
            endpoint_hosts: vec!["west.example".into()],
            inter_router: 55671,
            edge: 45671,
            grant_server: 9090,
            ha: None,
        };
        let e = a.endpoints();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].name.as_str(), e[0].port.as_str()), ("inter-router", "55671"));
        assert_eq!(a.san_hosts(), ["west.example", "localhost", "127.0.0.1"]);
        assert_eq!(a.grant_url_base(), "https://west.example:9090");
        assert_eq!(url_host("::1"), "[::1]");
        assert_eq!(a.local_dial_host(), "127.0.0.1");
        assert_eq!(a.ports_of(GROUP_SECONDARY), None);
    }

    #[test]
    fn ha_adds_a_second_group_of_endpoints_and_its_own_process_files() {
        let a = Access {
            bind_host: "127.0.0.9".into(),
            endpoint_hosts: vec!["127.0.0.9".into()],
            inter_router: 55671,
            edge: 45671,
            grant_server: 9090,
            ha: Some(GroupPorts { inter_router: 55672, edge: 45672 }),
        };
        let e: Vec<(String, String, String)> = a.endpoints().into_iter().map(|e| (e.group, e.name, e.port)).collect();
        let want = [
            ("skupper-router", "inter-router", "55671"),
            ("skupper-router", "edge", "45671"),
            ("skupper-router-2", "inter-router", "55672"),
            ("skupper-router-2", "edge", "45672"),
        ]
        .map(|(g, n, p)| (g.to_string(), n.to_string(), p.to_string()));
        assert_eq!(e, want);
        assert_eq!(a.local_dial_host(), "127.0.0.9");
        let home = Home::at(PathBuf::from("/b"), "ns");
        let second = home.for_group(GROUP_SECONDARY).expect("known group");
        assert_eq!(second.pid_path(), PathBuf::from("/b/namespaces/ns/runtime/router-2.pid"));
        assert_eq!(second.status_dir(), PathBuf::from("/b/namespaces/ns/runtime/status-2"));
        assert_eq!(home.pid_path(), PathBuf::from("/b/namespaces/ns/runtime/router.pid"));
        assert_eq!(second.resources_dir(), home.resources_dir());
        assert!(home.for_group("nope").is_none());
    }
}
