//! What the active Site needs besides its router: its CAs (Secrets `skupper-site-ca` and
//! `skupper-grant-server-ca`, created once and never replaced, so issued links and tokens stay
//! valid), and with link access: ports (remembered in the RouterAccess `skupper-router`, so a
//! restarted controller listens where its tokens and Links point), server certificates for the
//! advertised hosts (re-issued when they change), the RouterAccess and the grant server.
//!
//! Host mode (off-cluster, tests): link access and the grant server bind `--bind-host` on the first
//! free ports from 55671 / 45671 / 9090 and advertise `--endpoint-host` (default the bind host).

use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::PostParams;
use skupper_core::resources::{
    Condition, DEFAULT_EDGE_PORT, DEFAULT_GRANT_SERVER_PORT, DEFAULT_INTER_ROUTER_PORT, Endpoint, ROLE_EDGE,
    ROLE_INTER_ROUTER, Resource, RouterAccessRole, RouterAccessSpec, SECRET_TYPE_TLS, condition,
};

use std::collections::BTreeSet;

use super::grants::KubeGrantStore;
use super::services;
use super::state::{Stores, by_name};
use super::status::{observed, write_status};
use super::tokens::owned_by;
use crate::grant::server::{GrantContext, GrantServer, GrantSite};
use crate::platform::access::{Access, free_port};
use crate::platform::kube::cr::{Cr, KRouterAccess, KSite, RouterAccessKind};
use crate::platform::kube::{errors, issued_from_secret as issued};
use crate::platform::{GRANT_SERVER_CA, GRANT_SERVER_CERT, SITE_CA, SITE_SERVER_CERT, now_rfc3339, now_unix};
use skupper_router::LinkAccessConfig;
use skupper_router::certs::{self, Issued};

/// Name of the RouterAccess the controller keeps for a site with link access (upstream's).
pub(crate) const ROUTER_ACCESS: &str = "skupper-router";
/// Annotation marking what the controller owns and rewrites (upstream's).
pub(crate) const CONTROLLED: &str = "internal.skupper.io/controlled";
/// Annotation of the RouterAccess holding the grant server's port.
pub(crate) const GRANT_PORT: &str = "skupper.io/grant-server-port";
/// Annotation of a server certificate's Secret: the hosts it was issued for.
pub(crate) const HOSTS: &str = "internal.skupper.io/hosts";

/// Where a controller listens and how remote sites reach it.
#[derive(Debug, Clone)]
pub(crate) struct HostMode {
    /// Interface of link access and the grant server.
    pub bind_host: String,
    /// Hosts advertised in endpoints, Links and grant URLs (host mode), or the node addresses of
    /// `nodeport` link access (in-cluster).
    pub endpoint_hosts: Vec<String>,
    /// In a cluster: fixed ports, link access through the Service `skupper-router`.
    pub in_cluster: bool,
}

/// Link access as planned for this round: where the router and the grant server listen, and
/// where remote sites reach them.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    bind_host: String,
    inter_router: u16,
    edge: u16,
    grant_port: u16,
    endpoints: Vec<Endpoint>,
    grant_url_base: Option<String>,
    sans: Vec<String>,
    waiting: Option<String>,
}

/// The grant server as started, and what it was started with.
struct Running {
    server: GrantServer,
    port: u16,
    cert: String,
}

/// The active Site's CAs, link access and grant server.
pub(crate) struct SiteSetup {
    client: kube::Client,
    namespace: String,
    mode: HostMode,
    grant_server: Option<Running>,
    /// Where remote sites reach the site (empty without link access, or while unresolved).
    pub endpoints: Vec<Endpoint>,
    /// Why there are no endpoints yet (e.g. no load balancer address).
    pub waiting: Option<String>,
    grant_url_base: Option<String>,
    /// The router's link-access listeners.
    pub link_access: Option<LinkAccessConfig>,
    /// The grant server's CA (PEM): every token's `ca`.
    pub grant_ca_pem: Option<String>,
    /// What the grant server hands out.
    pub grant_site: Arc<RwLock<GrantSite>>,
}

impl SiteSetup {
    /// Nothing set up yet.
    pub(crate) fn new(client: kube::Client, namespace: &str, mode: HostMode) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            mode,
            grant_server: None,
            endpoints: Vec::new(),
            waiting: None,
            grant_url_base: None,
            link_access: None,
            grant_ca_pem: None,
            grant_site: Arc::new(RwLock::new(GrantSite::default())),
        }
    }

    fn secrets(&self) -> Api<KubeSecret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// A CA Secret: read, or created once.
    async fn ca(&self, stores: &Stores, name: &str, subject: &str, owner: &OwnerReference) -> anyhow::Result<Issued> {
        if let Some(existing) = stores.secret(name).and_then(|s| issued(&s)) {
            return Ok(existing);
        }
        let ca = certs::new_ca(subject, certs::DEFAULT_VALIDITY)?;
        match self.secrets().create(&PostParams::default(), &tls_secret(name, &ca, owner, None)).await {
            Ok(_) => {
                tracing::info!(target: "controller", "created CA {name}");
                Ok(ca)
            }
            Err(e) if errors::is_already_exists(&e) => {
                let s = self.secrets().get(name).await?;
                issued(&s).ok_or_else(|| anyhow::anyhow!("Secret {name:?} is not a CA (tls.crt, tls.key)"))
            }
            Err(e) => Err(anyhow::anyhow!("creating the CA Secret {name}: {e}")),
        }
    }

    /// A server certificate Secret for `hosts`, signed by `ca`: kept while it matches, re-issued
    /// (and replaced) when the hosts or the CA change.
    async fn server_cert(
        &self,
        stores: &Stores,
        name: &str,
        ca: &Issued,
        hosts: &[String],
        owner: &OwnerReference,
    ) -> anyhow::Result<Issued> {
        let joined = hosts.join(",");
        let existing = stores.secret(name);
        if let Some(s) = &existing
            && s.metadata.annotations.as_ref().and_then(|a| a.get(HOSTS)) == Some(&joined)
            && let Some(cert) = issued(s)
            && cert.ca_pem == ca.cert_pem
        {
            return Ok(cert);
        }
        let cert = certs::issue_server(ca, name, hosts, certs::DEFAULT_VALIDITY)?;
        let mut secret = tls_secret(name, &cert, owner, Some(&joined));
        let api = self.secrets();
        let written = match existing {
            None => api.create(&PostParams::default(), &secret).await.map(|_| ()),
            Some(old) => {
                secret.metadata.resource_version = old.metadata.resource_version.clone();
                api.replace(name, &PostParams::default(), &secret).await.map(|_| ())
            }
        };
        written.map_err(|e| anyhow::anyhow!("writing the server certificate {name}: {e}"))?;
        tracing::info!(target: "controller", "issued server certificate {name} for {joined}");
        Ok(cert)
    }

    /// Ports from the RouterAccess the controller made before, else the first free ones.
    fn ports(&self, stores: &Stores) -> anyhow::Result<(u16, u16, u16)> {
        if let Some(ra) = by_name(&stores.accesses, ROUTER_ACCESS)
            && ra.metadata.annotations.as_ref().and_then(|a| a.get(CONTROLLED)).is_some_and(|v| v == "true")
        {
            let port = |role: &str| ra.spec.roles.iter().find(|r| r.name == role).map(RouterAccessRole::effective_port);
            let grant = ra.metadata.annotations.as_ref().and_then(|a| a.get(GRANT_PORT)).and_then(|p| p.parse().ok());
            if let (Some(i), Some(e), Some(g)) = (port(ROLE_INTER_ROUTER), port(ROLE_EDGE), grant) {
                return Ok((i, e, g));
            }
        }
        let bind = &self.mode.bind_host;
        let mut taken = Vec::new();
        let mut pick = |start| -> anyhow::Result<u16> {
            let p = free_port(bind, start, &taken)?;
            taken.push(p);
            Ok(p)
        };
        Ok((pick(DEFAULT_INTER_ROUTER_PORT)?, pick(DEFAULT_EDGE_PORT)?, pick(DEFAULT_GRANT_SERVER_PORT)?))
    }

    /// The RouterAccess `skupper-router` as it should be, and its status.
    async fn router_access(
        &self,
        stores: &Stores,
        plan: &Plan,
        access_type: &str,
        owner: &OwnerReference,
    ) -> anyhow::Result<()> {
        let api: Api<KRouterAccess> = Api::namespaced(self.client.clone(), &self.namespace);
        let spec = RouterAccessSpec {
            access_type: access_type.into(),
            roles: vec![
                RouterAccessRole { name: ROLE_INTER_ROUTER.into(), port: plan.inter_router },
                RouterAccessRole { name: ROLE_EDGE.into(), port: plan.edge },
            ],
            tls_credentials: SITE_SERVER_CERT.into(),
            generate_tls_credentials: true,
            issuer: SITE_CA.into(),
            bind_host: plan.bind_host.clone(),
            subject_alternative_names: plan.sans.clone(),
            ..Default::default()
        };
        let annotations: std::collections::BTreeMap<String, String> =
            [(CONTROLLED.to_string(), "true".to_string()), (GRANT_PORT.to_string(), plan.grant_port.to_string())]
                .into();
        let current = match by_name(&stores.accesses, ROUTER_ACCESS) {
            Some(ra) if ra.spec == spec && ra.metadata.annotations.as_ref() == Some(&annotations) => ra,
            existing => {
                let mut ra: KRouterAccess = Cr::new(ROUTER_ACCESS, &self.namespace, spec);
                ra.metadata.annotations = Some(annotations);
                ra.metadata.owner_references = Some(vec![owner.clone()]);
                let written = match existing {
                    None => api.create(&PostParams::default(), &ra).await,
                    Some(old) => {
                        ra.metadata.resource_version = old.metadata.resource_version.clone();
                        ra.status = old.status.clone();
                        api.replace(ROUTER_ACCESS, &PostParams::default(), &ra).await
                    }
                };
                match written {
                    Ok(w) => Arc::new(w),
                    Err(e) if errors::is_conflict(&e) => return Ok(()),
                    Err(e) => return Err(anyhow::anyhow!("writing RouterAccess {ROUTER_ACCESS}: {e}")),
                }
            }
        };
        let mut status = current.status.clone().unwrap_or_default();
        let now = now_rfc3339();
        let required = [condition::CONFIGURED, condition::RESOLVED];
        status.status.set_condition(Condition::ready(condition::CONFIGURED), &required, Some(&now));
        let resolved = match &plan.waiting {
            Some(w) => Condition::pending(condition::RESOLVED, w.clone()),
            None => Condition::ready(condition::RESOLVED),
        };
        status.status.set_condition(resolved, &required, Some(&now));
        status.endpoints = plan.endpoints.clone();
        observed(&mut status.status, current.metadata.generation);
        write_status::<RouterAccessKind>(&api, &current, status).await?;
        Ok(())
    }

    /// Sets up what `site` needs (the grant server with `store` for its grants).
    pub(crate) async fn reconcile(&mut self, site: &KSite, stores: &Stores) -> anyhow::Result<()> {
        let owner = owned_by(site);
        let issuer = if site.spec.default_issuer.is_empty() { SITE_CA } else { site.spec.default_issuer.as_str() };
        let site_ca = self.ca(stores, issuer, &format!("{} site CA", site.name()), &owner).await?;
        let grant_ca = self.ca(stores, GRANT_SERVER_CA, "SkupperGrantServerCA", &owner).await?;
        self.grant_ca_pem = Some(grant_ca.cert_pem.clone());
        if !site.spec.link_access_enabled() || site.spec.edge {
            self.stop_grant_server().await;
            self.endpoints = Vec::new();
            self.waiting = None;
            self.grant_url_base = None;
            self.link_access = None;
            self.publish(site, &site_ca);
            return Ok(());
        }
        let plan = self.plan(site, stores, &owner).await?;
        let server = self.server_cert(stores, SITE_SERVER_CERT, &site_ca, &plan.sans, &owner).await?;
        let grant_cert = self.server_cert(stores, GRANT_SERVER_CERT, &grant_ca, &plan.sans, &owner).await?;
        let access_type = if self.mode.in_cluster { site.spec.link_access.as_str() } else { "local" };
        self.router_access(stores, &plan, access_type, &owner).await?;
        let restart =
            self.grant_server.as_ref().is_none_or(|g| g.port != plan.grant_port || g.cert != grant_cert.cert_pem);
        if restart {
            self.stop_grant_server().await;
            let store =
                KubeGrantStore::new(&self.client, &self.namespace, stores.grants.clone(), self.grant_site.clone());
            let ctx = Arc::new(GrantContext::new(store, now_unix));
            let server = GrantServer::start(ctx, &plan.bind_host, plan.grant_port, &grant_cert).await?;
            tracing::info!(target: "controller", "grant server listening on https://{}", server.addr);
            self.grant_server = Some(Running { server, port: plan.grant_port, cert: grant_cert.cert_pem.clone() });
        }
        let link_access = LinkAccessConfig {
            bind_host: plan.bind_host.clone(),
            inter_router_port: Some(plan.inter_router),
            edge_port: Some(plan.edge),
            tls: server.tls(),
        };
        if self.link_access.as_ref() != Some(&link_access) || self.endpoints != plan.endpoints {
            let hosts: BTreeSet<&str> = plan.endpoints.iter().map(|e| e.host.as_str()).collect();
            let advertised = if hosts.is_empty() {
                "nothing yet".to_string()
            } else {
                hosts.into_iter().collect::<Vec<_>>().join(", ")
            };
            tracing::info!(
                target: "controller",
                "link access on {}: inter-router {}, edge {}; advertised as {advertised}",
                plan.bind_host,
                plan.inter_router,
                plan.edge
            );
        }
        self.link_access = Some(link_access);
        self.endpoints = plan.endpoints;
        self.waiting = plan.waiting;
        self.grant_url_base = plan.grant_url_base;
        self.publish(site, &site_ca);
        Ok(())
    }

    /// Where the site listens and how it is reached, in host mode or in the cluster.
    async fn plan(&self, site: &KSite, stores: &Stores, owner: &OwnerReference) -> anyhow::Result<Plan> {
        if !self.mode.in_cluster {
            let (inter_router, edge, grant_server) = self.ports(stores)?;
            let endpoint_hosts = if self.mode.endpoint_hosts.is_empty() {
                vec![self.mode.bind_host.clone()]
            } else {
                self.mode.endpoint_hosts.clone()
            };
            let access = Access {
                bind_host: self.mode.bind_host.clone(),
                endpoint_hosts,
                inter_router,
                edge,
                grant_server,
                ha: None,
                router_access: None,
            };
            return Ok(Plan {
                bind_host: access.bind_host.clone(),
                inter_router,
                edge,
                grant_port: grant_server,
                endpoints: access.endpoints(),
                grant_url_base: Some(access.grant_url_base()),
                sans: access.san_hosts(),
                waiting: None,
            });
        }
        let services = stores.services.as_ref().ok_or_else(|| anyhow::anyhow!("Services are not watched"))?;
        let e = services::link_access(
            &self.client,
            &self.namespace,
            services,
            &site.spec.link_access,
            owner,
            &self.mode.endpoint_hosts,
        )
        .await?;
        // The router listens on the fixed ports in the pod; remote sites use the Service's.
        let view = Access {
            bind_host: self.mode.bind_host.clone(),
            endpoint_hosts: e.hosts.clone(),
            inter_router: e.inter_router,
            edge: e.edge,
            grant_server: e.grant,
            ha: None,
            router_access: None,
        };
        let mut sans = view.san_hosts();
        for name in [
            services::LINK_SERVICE.to_string(),
            format!("{}.{}", services::LINK_SERVICE, self.namespace),
            format!("{}.{}.svc", services::LINK_SERVICE, self.namespace),
            format!("{}.{}.svc.cluster.local", services::LINK_SERVICE, self.namespace),
        ] {
            if !sans.contains(&name) {
                sans.push(name);
            }
        }
        Ok(Plan {
            bind_host: self.mode.bind_host.clone(),
            inter_router: DEFAULT_INTER_ROUTER_PORT,
            edge: DEFAULT_EDGE_PORT,
            grant_port: DEFAULT_GRANT_SERVER_PORT,
            endpoints: if e.hosts.is_empty() { Vec::new() } else { view.endpoints() },
            grant_url_base: e.hosts.first().map(|_| view.grant_url_base()),
            sans,
            waiting: e.waiting,
        })
    }

    /// What the grant server hands out from now on.
    fn publish(&self, site: &KSite, ca: &Issued) {
        let Resource::Site(core) = site.to_resource() else { return };
        let endpoints = self.endpoints.clone();
        if let Ok(mut g) = self.grant_site.write() {
            *g = GrantSite { site: Some(core), endpoints, ca: Some(ca.clone()) };
        }
    }

    async fn stop_grant_server(&mut self) {
        if let Some(g) = self.grant_server.take() {
            g.server.shutdown().await;
            tracing::info!(target: "controller", "grant server stopped");
        }
    }

    /// No active site: the grant server stops, nothing is handed out.
    pub(crate) async fn stop(&mut self) {
        self.stop_grant_server().await;
        self.endpoints = Vec::new();
        self.waiting = None;
        self.grant_url_base = None;
        self.link_access = None;
        if let Ok(mut g) = self.grant_site.write() {
            *g = GrantSite::default();
        }
    }

    /// The grant server's URL base (`https://host:port`), when it runs and is reachable.
    pub(crate) fn grant_url_base(&self) -> Option<String> {
        self.grant_server.as_ref().and(self.grant_url_base.clone())
    }

    /// Whether the grant server runs (for the readiness endpoint).
    pub(crate) fn grant_server_running(&self) -> bool {
        self.grant_server.is_some()
    }
}

/// A `kubernetes.io/tls` Secret holding `cert`, owned by the Site.
fn tls_secret(name: &str, cert: &Issued, owner: &OwnerReference, hosts: Option<&str>) -> KubeSecret {
    let data = [("tls.crt", &cert.cert_pem), ("tls.key", &cert.key_pem), ("ca.crt", &cert.ca_pem)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.as_bytes().to_vec())))
        .collect();
    KubeSecret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: Some(vec![owner.clone()]),
            annotations: hosts.map(|h| [(HOSTS.to_string(), h.to_string())].into()),
            labels: Some([("app.kubernetes.io/managed-by".to_string(), "kubectl-skupper".to_string())].into()),
            ..Default::default()
        },
        type_: Some(SECRET_TYPE_TLS.into()),
        data: Some(data),
        ..Default::default()
    }
}
