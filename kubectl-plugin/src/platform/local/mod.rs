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

pub(crate) mod grants;
pub(crate) mod namespace;
pub(crate) mod status;

pub(crate) use self::namespace::LocalNamespace;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use skupper_core::resources::{
    DEFAULT_EDGE_PORT, DEFAULT_GRANT_SERVER_PORT, DEFAULT_INTER_ROUTER_PORT, GROUP_PRIMARY, GROUP_SECONDARY, ROLE_EDGE,
    ROLE_INTER_ROUTER, Resource, RouterAccess,
};

use super::access::free_port;
pub(crate) use super::access::{Access, GroupPorts, RouterAccessView};
use super::resources::{Document, Resources, parse_documents, parse_stored_documents, resource_yaml};
use super::{GRANT_SERVER_CA, SITE_CA};
use skupper_router::certs::{self, Issued};

/// Default interface for link access and the grant server: loopback only.
pub(crate) const DEFAULT_BIND_HOST: &str = "127.0.0.1";

/// The base directory of all local sites.
pub(crate) fn base_dir() -> anyhow::Result<PathBuf> {
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
pub(crate) struct Home {
    /// Namespace name.
    pub namespace: String,
    /// `<base>/namespaces/<namespace>`.
    pub dir: PathBuf,
    base: PathBuf,
    /// Router group whose process files this is (`skupper-router` or `skupper-router-2`).
    group: &'static str,
}

/// What the running site reports about itself (`runtime/state.yaml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuntimeState {
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
    /// What the running router could not bind (link access, listeners): it tries again every
    /// few seconds, and the list empties when they are bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// How many `system reload`s (SIGHUP) the process has carried out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reloads: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RuntimeState {
    /// Everything that keeps the running site from working fully: the router not running, what
    /// it could not bind. Empty when all is well (or still starting).
    pub(crate) fn trouble(&self) -> Vec<String> {
        let router = match self.router.as_str() {
            "" | "OK" => None,
            e => Some(format!("the router is not running: {e}")),
        };
        router.into_iter().chain(self.problems.iter().cloned()).collect()
    }
}

impl Home {
    /// The site directory of `namespace` (not created until something is written).
    pub(crate) fn new(namespace: &str) -> anyhow::Result<Self> {
        Ok(Self::at(base_dir()?, namespace))
    }

    /// The site directory of `namespace` under an explicit base directory.
    pub(crate) fn at(base: PathBuf, namespace: &str) -> Self {
        Self { namespace: namespace.into(), dir: base.join("namespaces").join(namespace), base, group: GROUP_PRIMARY }
    }

    /// The same site directory as seen by the router of `group`; `None` for an unknown group.
    pub(crate) fn for_group(&self, group: &str) -> Option<Self> {
        let group = match group {
            GROUP_PRIMARY => GROUP_PRIMARY,
            GROUP_SECONDARY => GROUP_SECONDARY,
            _ => return None,
        };
        Some(Self { group, ..self.clone() })
    }

    /// The router group of this view (`skupper-router` unless made with [`Home::for_group`]).
    pub(crate) fn group(&self) -> &'static str {
        self.group
    }

    /// Suffix of this group's process files: empty for the first router, `-2` for the second.
    fn suffix(&self) -> &'static str {
        if self.group == GROUP_SECONDARY { "-2" } else { "" }
    }

    /// `input/resources`.
    pub(crate) fn resources_dir(&self) -> PathBuf {
        self.dir.join("input").join("resources")
    }
    /// `runtime`.
    pub(crate) fn runtime_dir(&self) -> PathBuf {
        self.dir.join("runtime")
    }
    /// `runtime/status` (`status-2` for the second router of an HA site).
    pub(crate) fn status_dir(&self) -> PathBuf {
        self.runtime_dir().join(format!("status{}", self.suffix()))
    }
    /// `runtime/router.log` (`router-2.log`).
    pub(crate) fn log_path(&self) -> PathBuf {
        self.runtime_dir().join(format!("router{}.log", self.suffix()))
    }
    /// `runtime/router.pid` (`router-2.pid`).
    pub(crate) fn pid_path(&self) -> PathBuf {
        self.runtime_dir().join(format!("router{}.pid", self.suffix()))
    }
    /// `runtime/state.yaml` (`state-2.yaml`).
    pub(crate) fn state_path(&self) -> PathBuf {
        self.runtime_dir().join(format!("state{}.yaml", self.suffix()))
    }
    fn ports_path(&self) -> PathBuf {
        self.runtime_dir().join("ports.yaml")
    }

    /// The file of a declared resource.
    pub(crate) fn resource_path(&self, kind: &str, name: &str) -> PathBuf {
        self.resources_dir().join(resource_file_name(kind, name))
    }

    /// The status file of a resource.
    pub(crate) fn status_path(&self, kind: &str, name: &str) -> PathBuf {
        self.status_dir().join(resource_file_name(kind, name))
    }

    /// Loads every declared resource; any unreadable file is an error naming it.
    pub(crate) fn load(&self) -> anyhow::Result<Resources> {
        let (res, problems) = self.load_lenient()?;
        if let Some(p) = problems.into_iter().next() {
            bail!("{p}");
        }
        Ok(res)
    }

    /// Loads every declared resource, skipping (and describing) files that cannot be read.
    pub(crate) fn load_lenient(&self) -> anyhow::Result<(Resources, Vec<String>)> {
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
            match read_document_file(&path) {
                Ok(Document::Resource(r)) => res.insert(r),
                Ok(Document::StoredOnly(s)) => {
                    res.stored_only.insert((s.kind, s.name), s.value);
                }
                Err(e) => problems.push(format!(
                    "{}: {e:#}; fix or remove this file (or use kubectl skupper system delete)",
                    path.display()
                )),
            }
        }
        Ok((res, problems))
    }

    /// The site id, created on first use and kept for the life of the namespace.
    pub(crate) fn site_id(&self) -> anyhow::Result<String> {
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
    pub(crate) fn access(&self) -> anyhow::Result<Option<Access>> {
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
    pub(crate) fn ensure_access(&self, bind_host: Option<&str>, endpoint_hosts: &[String]) -> anyhow::Result<Access> {
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
        let access =
            Access { bind_host: bind, endpoint_hosts, inter_router, edge, grant_server, ha: None, router_access: None };
        self.write_access(&access)?;
        Ok(access)
    }

    /// Allocates (`enabled`) or releases the link-access ports of the second router of an HA
    /// site; the site's endpoints, generated Links and grant answers follow. Requires link access
    /// to be allocated already. Returns the updated settings.
    pub(crate) fn set_ha_access(&self, enabled: bool) -> anyhow::Result<Access> {
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

    /// Ports of `ra` that another site on this host has for its link access (checked before
    /// anything is written), each as a sentence that says what to do.
    pub(crate) fn router_access_conflicts(&self, ra: &RouterAccess) -> Vec<String> {
        let taken = self.ports_of_other_sites();
        ra.spec
            .roles
            .iter()
            .filter(|r| taken.contains(&r.effective_port()))
            .map(|r| {
                format!(
                    "RouterAccess {:?}: port {} of role {} is the link access of another site on this host; choose \
                     another port",
                    ra.name(),
                    r.effective_port(),
                    r.name
                )
            })
            .collect()
    }

    /// Makes the site's RouterAccess (or its absence) the link access: its roles are what the
    /// router listens for and what endpoints, generated Links and grant answers advertise, on its
    /// ports and `bindHost`; its `subjectAlternativeNames` join the server certificate's names.
    /// Without one, both roles on the ports allocated before. Returns the settings in effect.
    pub(crate) fn apply_router_access(&self, ra: Option<&RouterAccess>) -> anyhow::Result<Access> {
        let mut access = match self.access()? {
            Some(a) => a,
            None => self.ensure_access(ra.map(|r| r.spec.bind_host.as_str()).filter(|b| !b.is_empty()), &[])?,
        };
        let before = access.clone();
        match ra {
            None => access.router_access = None,
            Some(ra) => {
                let advertised = |bind: &str| match bind.parse::<IpAddr>() {
                    Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
                    _ => bind.to_string(),
                };
                if !ra.spec.bind_host.is_empty() && ra.spec.bind_host != access.bind_host {
                    // Hosts derived from the old bind host follow the new one; chosen ones stay.
                    if access.endpoint_hosts == [advertised(&access.bind_host)] {
                        access.endpoint_hosts = vec![advertised(&ra.spec.bind_host)];
                    }
                    access.bind_host = ra.spec.bind_host.clone();
                }
                if let Some(problem) = self.router_access_conflicts(ra).into_iter().next() {
                    bail!("{problem}");
                }
                for role in &ra.spec.roles {
                    let port = role.effective_port();
                    match role.name.as_str() {
                        ROLE_INTER_ROUTER => access.inter_router = port,
                        ROLE_EDGE => access.edge = port,
                        _ => {}
                    }
                }
                access.router_access = Some(RouterAccessView {
                    name: ra.name().to_string(),
                    roles: ra.spec.roles.iter().map(|r| r.name.clone()).collect(),
                    subject_alternative_names: ra.spec.subject_alternative_names.clone(),
                });
            }
        }
        if access != before {
            self.write_access(&access)?;
        }
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
    pub(crate) fn site_ca(&self, site_name: &str) -> anyhow::Result<Issued> {
        self.ca(SITE_CA, &format!("{site_name} site CA"))
    }

    /// The grant server's CA (created once; its certificate is every token's `ca`).
    pub(crate) fn grant_ca(&self) -> anyhow::Result<Issued> {
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
    pub(crate) fn issue_server_cert(&self, name: &str, ca: &Issued, hosts: &[String]) -> anyhow::Result<Issued> {
        let cert = certs::issue_server(ca, name, hosts, certs::DEFAULT_VALIDITY)
            .with_context(|| format!("issuing the {name} server certificate"))?;
        write_tls_dir(&self.runtime_dir().join("certs").join(name), &cert)?;
        Ok(cert)
    }

    /// The pid of the running site, if one runs.
    pub(crate) fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_path()).ok()?.trim().parse().ok()?;
        is_site_process(pid).then_some(pid)
    }

    /// The runtime's own report, if present.
    pub(crate) fn runtime_state(&self) -> Option<RuntimeState> {
        serde_yaml::from_str(&fs::read_to_string(self.state_path()).ok()?).ok()
    }

    /// Reads a status file written by the running site.
    pub(crate) fn read_status<T: serde::de::DeserializeOwned>(&self, kind: &str, name: &str) -> Option<T> {
        let text = fs::read_to_string(self.status_path(kind, name)).ok()?;
        serde_yaml::from_str(&text).ok()
    }
}

/// Longest file name (`NAME_MAX` of Linux file systems).
const NAME_MAX: usize = 255;

/// The file name of a resource in `input/resources` and `runtime/status`: `<Kind>-<name>.yaml`,
/// or, when that would be longer than a file name can be (names go up to 253 characters),
/// `<Kind>-<start of the name>_<hash of kind and name>.yaml`. No valid name has a `_`, so the
/// two forms never collide; the resource's real name is the one in the file.
pub(crate) fn resource_file_name(kind: &str, name: &str) -> String {
    use sha2::Digest as _;
    let plain = format!("{kind}-{name}.yaml");
    if plain.len() <= NAME_MAX {
        return plain;
    }
    let digest = sha2::Sha256::digest(format!("{kind}/{name}").as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let keep = NAME_MAX.saturating_sub(kind.len() + 2 + hash.len() + ".yaml".len());
    format!("{kind}-{}_{hash}.yaml", truncated(name, keep))
}

/// The longest start of `s` of at most `max` bytes.
fn truncated(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads one resource file (one document, YAML or JSON).
pub(crate) fn read_resource_file(path: &Path) -> anyhow::Result<Resource> {
    let text = crate::input::read_file(path, crate::input::APPLY_LIMIT).context("cannot read the file")?;
    let mut docs = parse_documents(&text)?;
    anyhow::ensure!(docs.len() == 1, "expected exactly one resource, found {}", docs.len());
    Ok(docs.remove(0))
}

/// Reads one resource file that may also hold a resource of a stored-only kind.
pub(crate) fn read_document_file(path: &Path) -> anyhow::Result<Document> {
    let text = crate::input::read_file(path, crate::input::APPLY_LIMIT).context("cannot read the file")?;
    let mut docs = parse_stored_documents(&text)?;
    anyhow::ensure!(docs.len() == 1, "expected exactly one resource, found {}", docs.len());
    Ok(docs.remove(0))
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename),
/// creating parent directories (mode 0700).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = stage(path, bytes, mode)?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display())).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Whether a file at `path` may be replaced: nothing there, or a regular file. Devices, FIFOs,
/// sockets, symbolic links and directories are never replaced nor followed (`token issue
/// /dev/full` as root turned the device into a regular file).
pub(crate) fn check_replaceable(path: &Path) -> Result<(), String> {
    let t = match fs::symlink_metadata(path) {
        Ok(m) => m.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    use std::os::unix::fs::FileTypeExt as _;
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(format!("{} is not a regular file ({what}); name a new file or a regular one", path.display()))
}

/// [`write_atomic`] for a file the user named: refused (nothing written) unless the path holds
/// a regular file or nothing ([`check_replaceable`], checked again just before the rename).
pub(crate) fn write_user_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    check_replaceable(path).map_err(anyhow::Error::msg)?;
    let tmp = stage(path, bytes, mode)?;
    let renamed = check_replaceable(path)
        .map_err(anyhow::Error::msg)
        .and_then(|()| fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display())));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

fn stage(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<PathBuf> {
    stage_with(path, bytes, mode, true)
}

/// Writes `bytes` to a new temporary file next to `path`, flushed to disk when `sync` (else the
/// caller makes it durable, see [`Changes::commit`]).
fn stage_with(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> anyhow::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    create_dir_private(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let suffix: [u8; 6] = super::random_bytes()?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    // `.<name>.<pid>-<random>.tmp`: the pid tells a later cleanup whether its writer is gone, and
    // the name is cut short so that the longest file names still have a temporary file.
    let tmp = dir.join(format!(".{}.{}-{suffix}.tmp", truncated(name, 200), std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let res = f.write_all(bytes).and_then(|_| if sync { f.sync_all() } else { Ok(()) });
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    Ok(tmp)
}

/// Creates a directory and its missing parents, each mode 0700 whatever the umask (under
/// `umask 000` they were 0777); directories that exist are left as they are.
pub(crate) fn create_dir_private(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_private(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        // The umask can only take bits away; a restrictive one must not make it unusable.
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting the mode of {}", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

/// A set of file writes and removals applied together: everything is staged first, then
/// renamed into place; if any step fails, what was already changed is put back.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    puts: Vec<(PathBuf, Vec<u8>)>,
    deletes: Vec<PathBuf>,
}

impl Changes {
    /// Stores `r` as `input/resources/<Kind>-<name>.yaml`.
    pub(crate) fn put_resource(&mut self, home: &Home, r: &Resource) -> anyhow::Result<()> {
        let text = resource_yaml(r)?;
        self.puts.push((home.resource_path(r.kind(), r.name()), text.into_bytes()));
        Ok(())
    }

    /// Writes a file.
    pub(crate) fn put(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.puts.push((path, bytes));
    }

    /// Removes a file (a missing file is not an error).
    pub(crate) fn delete(&mut self, path: PathBuf) {
        self.deletes.push(path);
    }

    /// Applies everything or nothing. Temporary files that killed writers left in the
    /// directories it changes are removed first ([`remove_stale_temp_files`]).
    pub(crate) fn commit(self) -> anyhow::Result<()> {
        let dirs: BTreeSet<&Path> = self
            .puts
            .iter()
            .map(|(p, _)| p.as_path())
            .chain(self.deletes.iter().map(PathBuf::as_path))
            .filter_map(Path::parent)
            .collect();
        for dir in dirs {
            remove_stale_temp_files(dir);
        }
        // Several files are written first and made durable together, with one sync of their file
        // system: a flush per file made an apply of 4,000 documents take 15 s.
        let batch = self.puts.len() > 1;
        let mut staged = Vec::new();
        let discard = |staged: &[(PathBuf, PathBuf)]| {
            for (tmp, _) in staged {
                let _ = fs::remove_file(tmp);
            }
        };
        for (path, bytes) in &self.puts {
            match stage_with(path, bytes, 0o600, !batch) {
                Ok(tmp) => staged.push((tmp, path.clone())),
                Err(e) => {
                    discard(&staged);
                    return Err(e);
                }
            }
        }
        if batch && let Err(e) = sync_file_systems(staged.iter().map(|(tmp, _)| tmp.as_path())) {
            discard(&staged);
            return Err(e);
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

/// Flushes the file systems that hold `files` to disk, one `syncfs` per file system.
fn sync_file_systems<'a>(files: impl Iterator<Item = &'a Path>) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let mut synced = BTreeSet::new();
    for path in files {
        let f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let dev = f.metadata().with_context(|| format!("reading {}", path.display()))?.dev();
        if synced.insert(dev) {
            rustix::fs::syncfs(&f).with_context(|| format!("flushing {} to disk", path.display()))?;
        }
    }
    Ok(())
}

/// Removes the temporary files that writers which no longer run left in `dir` (a `system apply`
/// killed while staging left tens of thousands): `.<name>.<pid>-<random>.tmp` of a process that
/// is gone, and `.<name>.<random>.tmp` of versions that did not record the pid. Returns how many
/// it removed.
pub(crate) fn remove_stale_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let me = std::process::id();
    let mut alive: std::collections::HashMap<u32, bool> = std::collections::HashMap::new();
    let mut removed = 0;
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(writer) = file.to_str().and_then(temp_file_writer) else { continue };
        let stale = match writer {
            None => true,
            Some(pid) if pid == me => false,
            Some(pid) => !*alive.entry(pid).or_insert_with(|| pid_exists(pid)),
        };
        if stale && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// For a temporary file of [`stage`]: `Some(Some(pid))` of its writer, or `Some(None)` for the
/// older form without one. `None` for any other file.
fn temp_file_writer(file: &str) -> Option<Option<u32>> {
    let (_, tag) = file.strip_prefix('.')?.strip_suffix(".tmp")?.rsplit_once('.')?;
    let random = |s: &str| s.len() == 12 && s.bytes().all(|c| c.is_ascii_hexdigit());
    match tag.split_once('-') {
        Some((pid, r)) if random(r) => pid.parse().ok().map(Some),
        None if random(tag) => Some(None),
        _ => None,
    }
}

/// Whether a process with that pid exists.
fn pid_exists(pid: u32) -> bool {
    if Path::new("/proc/self").exists() { Path::new(&format!("/proc/{pid}")).exists() } else { process_alive(pid) }
}

/// Reads `tls.crt`, `tls.key`, `ca.crt` from a directory, if present.
pub(crate) fn read_tls_dir(dir: &Path) -> anyhow::Result<Option<Issued>> {
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

/// Whether `pid` is a live `system start --foreground` process (not a zombie, not a reused pid).
pub(crate) fn is_site_process(pid: u32) -> bool {
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
pub(crate) fn process_alive(pid: u32) -> bool {
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
    use crate::platform::access::url_host;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ks-local-{tag}-{}", crate::platform::uuid_v4().expect("uuid")));
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn new_directories_are_private_whatever_their_depth() {
        let d = temp_dir("private-dirs");
        let deep = d.join("a").join("b").join("c");
        create_dir_private(&deep).expect("create");
        for p in [d.join("a"), d.join("a").join("b"), deep.clone()] {
            let mode = fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
        // An existing directory keeps its mode.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
        create_dir_private(&d).expect("exists");
        assert_eq!(fs::metadata(&d).expect("stat").permissions().mode() & 0o777, 0o755);
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn temporary_files_of_writers_that_are_gone_are_removed() {
        let d = temp_dir("stale");
        let dead = 4_194_304; // above any pid_max: never a live process
        let me = std::process::id();
        for f in [
            ".Listener-a.yaml.0123456789ab.tmp".to_string(),
            format!(".Listener-b.yaml.{dead}-0123456789ab.tmp"),
            format!(".Listener-c.yaml.{me}-0123456789ab.tmp"),
            "Listener-d.yaml".into(),
            ".Listener-e.yaml.tmp".into(),
            ".notes.txt".into(),
        ] {
            fs::write(d.join(f), "x").expect("write");
        }
        assert_eq!(remove_stale_temp_files(&d), 2);
        let mut left: Vec<String> =
            fs::read_dir(&d).expect("ls").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mine = format!(".Listener-c.yaml.{me}-0123456789ab.tmp");
        assert_eq!(left, [mine.as_str(), ".Listener-e.yaml.tmp", ".notes.txt", "Listener-d.yaml"]);
        // A commit cleans the directories it writes to.
        fs::write(d.join(format!(".Listener-f.yaml.{dead}-0123456789ab.tmp")), "x").expect("write");
        let mut c = Changes::default();
        c.put(d.join("Listener-g.yaml"), b"g".to_vec());
        c.put(d.join("Listener-h.yaml"), b"h".to_vec());
        c.commit().expect("commit");
        assert!(!d.join(format!(".Listener-f.yaml.{dead}-0123456789ab.tmp")).exists());
        assert_eq!(fs::read_to_string(d.join("Listener-h.yaml")).expect("read"), "h");
        let _ = fs::remove_dir_all(d);
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
    fn every_valid_name_has_a_file_name() {
        assert_eq!(resource_file_name("Listener", "db"), "Listener-db.yaml");
        let longest = "a".repeat(253);
        for kind in ["Site", "Listener", "AccessGrant", "RouterAccess"] {
            let f = resource_file_name(kind, &longest);
            assert!(f.len() <= NAME_MAX, "{f}");
            assert!(f.starts_with(&format!("{kind}-aaaa")) && f.contains('_') && f.ends_with(".yaml"), "{f}");
            // Stable, and different for another long name with the same start.
            assert_eq!(f, resource_file_name(kind, &longest));
            assert_ne!(f, resource_file_name(kind, &format!("{}b", "a".repeat(252))));
        }
        // Names that fitted before keep their file.
        let fits = "b".repeat(NAME_MAX - "Listener-.yaml".len());
        assert_eq!(resource_file_name("Listener", &fits), format!("Listener-{fits}.yaml"));
        // A resource with a long name is stored, found and its temporary file fits too.
        let d = temp_dir("long-names");
        let home = Home::at(d.clone(), "ns");
        let l = skupper_core::resources::Listener::new(
            longest.clone(),
            skupper_core::resources::ListenerSpec { routing_key: "k".into(), port: 1, ..Default::default() },
        );
        let mut c = Changes::default();
        c.put_resource(&home, &Resource::Listener(l)).expect("put");
        c.commit().expect("commit");
        assert!(home.load().expect("load").listeners.contains_key(&longest));
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn user_files_replace_regular_files_only() {
        let d = temp_dir("user-files");
        let regular = d.join("tok.yaml");
        fs::write(&regular, "old").expect("write");
        write_user_file(&regular, b"new", 0o600).expect("a regular file is replaced");
        assert_eq!(fs::read_to_string(&regular).expect("read"), "new");
        write_user_file(&d.join("fresh.yaml"), b"x", 0o600).expect("a new file is created");
        let link = d.join("link.yaml");
        std::os::unix::fs::symlink(&regular, &link).expect("symlink");
        let err = write_user_file(&link, b"evil", 0o600).expect_err("a symbolic link is refused");
        assert!(err.to_string().contains("is not a regular file (a symbolic link)"), "{err}");
        assert!(fs::symlink_metadata(&link).expect("stat").file_type().is_symlink());
        assert_eq!(fs::read_to_string(&regular).expect("read"), "new");
        let err = check_replaceable(&d).expect_err("a directory is refused");
        assert!(err.contains("(a directory)"), "{err}");
        if Path::new("/dev/null").exists() {
            assert!(check_replaceable(Path::new("/dev/null")).expect_err("device").contains("character device"));
        }
        let leftovers: Vec<_> = fs::read_dir(&d).expect("ls").flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 3, "no temporary file is left: {leftovers:?}");
        let _ = fs::remove_dir_all(d);
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
            router_access: None,
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
            router_access: None,
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
