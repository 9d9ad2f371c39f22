//! Where a site lives, behind one interface. Every command talks to a [`Namespace`]: `local`
//! keeps a site's resources and runtime state in files under the user's data directory and runs
//! it as a process on this host; `kubernetes` keeps them as `skupper.io/v2alpha1` objects in a
//! cluster namespace, run by a controller.
//!
//! What does not depend on the platform lives beside the interface: the resource set and its text
//! form ([`resources`]), the router configuration derived from it ([`config`]) and the status
//! rules ([`status`]), so the local site process and a controller compute the same things.
//!
//! # Layout
//! - [`resources`]: `Resources`, documents to resources and back.
//! - [`access`]: link access (bind host, advertised hosts, ports) and its endpoints.
//! - [`router_host`]: runs a site's router: start, retry, apply changes.
//! - [`config`]: resources to the router's `RouterConfig`.
//! - [`status`]: Ready rules and status from the router's live state.
//! - [`local`]: the local platform (files, site processes).
//! - `kube` (feature `kubernetes`): the Kubernetes platform (API server client, CRDs).

pub(crate) mod access;
pub(crate) mod config;
#[cfg(test)]
mod fuzz_files;
#[cfg(feature = "kubernetes")]
pub(crate) mod kube;
pub(crate) mod local;
pub(crate) mod resources;
pub(crate) mod router_host;
pub(crate) mod status;

use std::fmt;
use std::time::Duration;

use skupper_core::resources::{AccessGrant, AccessToken, Endpoint, Link, Resource, Site};

use self::resources::Resources;
use self::status::{IncomingRecord, RouterReport};
use crate::grant::redeem::RedeemError;
use skupper_router::certs::Issued;

/// Name of the CA that signs link certificates (upstream `skupper-site-ca`).
pub(crate) const SITE_CA: &str = "skupper-site-ca";
/// Name of the CA whose certificate goes into every token (`skupper-grant-server-ca`).
pub(crate) const GRANT_SERVER_CA: &str = "skupper-grant-server-ca";
/// Server certificate of the link-access listeners.
pub(crate) const SITE_SERVER_CERT: &str = "skupper-site-server";
/// Server certificate of the grant server.
pub(crate) const GRANT_SERVER_CERT: &str = "skupper-grant-server";
/// Default namespace.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// The platform a command works on (`--platform`, `SKUPPER_PLATFORM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Platform {
    /// Sites as processes on this host, state under `$XDG_DATA_HOME/kubectl-skupper`.
    #[default]
    Local,
    /// Sites in Kubernetes namespaces, run by `kubectl skupper controller`.
    Kubernetes,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Local => "local",
            Self::Kubernetes => "kubernetes",
        })
    }
}

/// One change to a namespace's resources.
// A handful live for one command; boxing the resource would only add noise at every call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Create the resource, or replace the one of that kind and name.
    Put(Resource),
    /// Remove the resource of that kind and name (a missing one is not an error).
    Delete {
        /// Kind, e.g. `Link`.
        kind: &'static str,
        /// Name.
        name: String,
    },
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// `status: Ready` (every required condition true).
    Ready,
    /// The `Configured` condition true.
    Configured,
}

impl Until {
    /// `ready` / `configured`, as upstream's messages say it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Configured => "configured",
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
// Only the Kubernetes platform waits; without it every wait is skipped.
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
pub(crate) enum Waited {
    /// The resource reached the state, for its latest change.
    Reached,
    /// Nothing to wait for on this platform (the local platform applies changes itself).
    Skipped,
    /// The resource reports a configuration error (its `Configured` condition): no point waiting.
    Failed(String),
    /// The timeout passed; the resource's status message then.
    TimedOut(String),
}

/// Why a token could not be redeemed into a namespace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TokenRedeemError {
    /// A Link or Secret named like the token already exists: it was redeemed here before.
    /// Nothing was sent to the issuing site.
    #[error("{what} exists")]
    AlreadyRedeemed {
        /// `Link "x"` or `Secret "x"`.
        what: String,
    },
    /// The issuing site answered, but a resource it names already exists here; nothing was
    /// written.
    #[error("{what} already exists")]
    NameTaken {
        /// `Link "x"` or `Secret "x"`.
        what: String,
        /// Its name.
        name: String,
    },
    /// The issuing site refused, or could not be reached or trusted.
    #[error(transparent)]
    Refused(#[from] RedeemError),
    /// The platform reported the failure in its own words (on Kubernetes: the AccessToken's
    /// status message, written by the controller that redeemed it).
    #[allow(dead_code)]
    #[error("{0}")]
    Reported(String),
    /// Anything else (the namespace could not be read or written).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// One namespace of one platform: what every command reads, changes and asks for.
///
/// Methods block (the Kubernetes implementation drives its own runtime): commands are
/// synchronous and run one at a time.
pub(crate) trait Namespace {
    /// The platform.
    fn platform(&self) -> Platform;

    /// The namespace name.
    fn name(&self) -> &str;

    /// Every resource the namespace declares, as stored.
    fn load(&self) -> anyhow::Result<Resources>;

    /// `res` with the status the site reports now: on the local platform what the running site
    /// last wrote (or, when it is stopped, what can be known without it); on Kubernetes the
    /// status stored with each object.
    fn observe(&self, res: &Resources) -> Resources;

    /// Applies `changes` together: all or nothing where the platform can (files), in order and
    /// stopping at the first failure where it cannot (API objects).
    fn commit(&self, changes: Vec<Change>) -> anyhow::Result<()>;

    /// Whether something runs the namespace's site now (a site process; a controller).
    fn running(&self) -> bool;

    /// The command that runs the site (`system start`; `controller`), for hints.
    fn start_command(&self) -> &'static str;

    /// Where the site accepts links: its endpoints (empty without link access).
    fn endpoints(&self, site: &Site) -> anyhow::Result<Vec<Endpoint>>;

    /// The site's CA, which signs link client certificates (`link generate`).
    fn site_ca(&self, site: &Site) -> anyhow::Result<Issued>;

    /// Makes `grant` redeemable at the site: gives it its url, code, CA and expiry (processed
    /// by this command or by the controller, waiting up to `timeout`), and stores it.
    fn issue_grant(&self, site: &Site, grant: AccessGrant, timeout: Duration) -> anyhow::Result<AccessGrant>;

    /// Redeems `token` for this namespace's site, storing the Secret and Links the issuing site
    /// answers (cost from the token's `linkCost`); returns the Links.
    fn redeem(&self, res: &Resources, token: &AccessToken, timeout: Duration) -> Result<Vec<Link>, TokenRedeemError>;

    /// Waits up to `timeout` until the resource `kind`/`name` reports `until` for its latest
    /// change, showing progress; on the local platform there is nothing to wait for.
    fn wait(&self, kind: &'static str, name: &str, until: Until, timeout: Duration) -> anyhow::Result<Waited>;

    /// The running routers of the site and what each reports of the network (first router
    /// first); empty when the site does not run.
    fn routers(&self) -> Vec<RouterReport>;

    /// Links other sites made to this one, as the running site knows them.
    fn incoming(&self) -> Vec<IncomingRecord> {
        self.routers().into_iter().next().map(|r| r.status.incoming).unwrap_or_default()
    }

    /// The local platform's site directory, for what only it has (`system` commands, bind
    /// hosts, site processes); `None` elsewhere.
    fn as_local(&self) -> Option<&local::Home> {
        None
    }

    /// The Kubernetes namespace, for what only that platform has (`install`); `None` elsewhere.
    #[cfg(feature = "kubernetes")]
    fn as_kube(&self) -> Option<&kube::KubeNamespace> {
        None
    }
}

/// Sixteen random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("the operating system's random source failed: {e}"))?;
    Ok(b)
}

/// A random (version 4) UUID in its canonical text form.
pub(crate) fn uuid_v4() -> anyhow::Result<String> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now as RFC 3339 (`2026-07-23T10:00:00Z`).
pub(crate) fn now_rfc3339() -> String {
    skupper_core::time::format_rfc3339(now_unix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid_v4().expect("uuid");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, uuid_v4().expect("uuid"));
    }
}
