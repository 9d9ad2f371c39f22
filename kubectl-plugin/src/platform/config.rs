//! Turns a site's declared resources into the router's [`RouterConfig`], on every platform. Problems with one
//! Link (missing Secret, bad endpoint) become that link's `config_error`, as upstream reports
//! them in the Link's `Configured` condition; they never stop the rest of the site.

use std::collections::BTreeMap;

use skupper_core::resources::{
    Connector, GROUP_PRIMARY, Link, Listener, MultiKeyStrategy, ROLE_EDGE, ROLE_INTER_ROUTER, TlsMaterial,
};

use super::resources::Resources;
use skupper_router::{
    Backoff, ConnectorConfig, KeyStrategy, LinkAccessConfig, LinkConfig, ListenerConfig, MultiKeyListenerConfig,
    RouterConfig, ServiceTls,
};

/// Default host of listeners and connectors on this platform (loopback; upstream binds
/// listeners on 0.0.0.0, which this tool never does unless asked).
pub(crate) const DEFAULT_SERVICE_HOST: &str = "127.0.0.1";

/// The router configuration of a site.
pub(crate) fn router_config(
    res: &Resources,
    site_id: &str,
    namespace: &str,
    link_access: Option<LinkAccessConfig>,
) -> RouterConfig {
    let (site_name, edge) = res.site.as_ref().map(|s| (s.name().to_string(), s.spec.edge)).unwrap_or_default();
    let links = res.links.values().map(|l| (l.name().to_string(), link_config(l, res, edge))).collect();
    let listeners = res
        .listeners
        .values()
        .map(|l| {
            let host = if l.spec.host.is_empty() { DEFAULT_SERVICE_HOST.to_string() } else { l.spec.host.clone() };
            let key = if l.spec.routing_key.is_empty() { l.name().to_string() } else { l.spec.routing_key.clone() };
            let (tls, config_error) = split(listener_tls(l, res));
            (l.name().to_string(), ListenerConfig { routing_key: key, host, port: l.spec.port, tls, config_error })
        })
        .collect();
    let connectors = res
        .connectors
        .values()
        .map(|c| {
            let host = if c.spec.host.is_empty() { DEFAULT_SERVICE_HOST.to_string() } else { c.spec.host.clone() };
            let key = if c.spec.routing_key.is_empty() { c.name().to_string() } else { c.spec.routing_key.clone() };
            let (tls, config_error) = split(connector_tls(c, res));
            (c.name().to_string(), ConnectorConfig { routing_key: key, host, port: c.spec.port, tls, config_error })
        })
        .collect::<BTreeMap<_, _>>();
    let multi_key_listeners = res
        .multi_key_listeners
        .values()
        .filter_map(|m| {
            let strategy = key_strategy(&m.spec.strategy)?;
            let host = if m.spec.host.is_empty() { DEFAULT_SERVICE_HOST.to_string() } else { m.spec.host.clone() };
            let (tls, mut config_error) = split(server_tls(&m.spec.tls_credentials, res));
            // Asked for and not available: refuse to serve rather than serve without it.
            if m.spec.require_client_cert {
                config_error.get_or_insert_with(|| {
                    "requireClientCert is not supported by this router (its listeners ask clients for no \
                     certificate): remove it, or keep the service behind a TLS terminator that checks them"
                        .to_string()
                });
            }
            let listener = ListenerConfig { routing_key: String::new(), host, port: m.spec.port, tls, config_error };
            Some((m.name().to_string(), MultiKeyListenerConfig { listener, strategy }))
        })
        .collect();
    RouterConfig {
        site_id: site_id.into(),
        site_name,
        namespace: namespace.into(),
        group: GROUP_PRIMARY.into(),
        link_access,
        links,
        listeners,
        connectors,
        multi_key_listeners,
        backoff: Backoff::default(),
    }
}

fn split(r: Result<Option<ServiceTls>, String>) -> (Option<ServiceTls>, Option<String>) {
    match r {
        Ok(tls) => (tls, None),
        Err(e) => (None, Some(e)),
    }
}

/// One key of a TLS Secret, which must be there and not empty.
fn tls_key(res: &Resources, secret: &str, key: &str, what: &str) -> Result<Vec<u8>, String> {
    let s = res.secrets.get(secret).ok_or_else(|| format!("TLS credentials secret {secret:?} not found"))?;
    match s.get(key) {
        Ok(Some(v)) if !v.is_empty() => Ok(v),
        Ok(_) => Err(format!("TLS credentials secret {secret:?} has no {key}; it must hold {what}")),
        Err(e) => Err(format!("TLS credentials secret {secret:?}: {e}")),
    }
}

/// A Listener's TLS toward its clients (`spec.tlsCredentials`): the Secret's `tls.crt` and
/// `tls.key` (its `ca.crt`, optional, is not used: clients are not asked for a certificate).
pub(crate) fn listener_tls(l: &Listener, res: &Resources) -> Result<Option<ServiceTls>, String> {
    server_tls(&l.spec.tls_credentials, res)
}

/// The TLS a listener (or a MultiKeyListener) serves with: Secret `secret`'s `tls.crt`/`tls.key`.
fn server_tls(secret: &str, res: &Resources) -> Result<Option<ServiceTls>, String> {
    if secret.is_empty() {
        return Ok(None);
    }
    let material = TlsMaterial {
        cert_pem: tls_key(res, secret, "tls.crt", "the listener's server certificate")?,
        key_pem: tls_key(res, secret, "tls.key", "the private key of its tls.crt")?,
        ca_pem: Vec::new(),
    };
    Ok(Some(ServiceTls { secret: secret.to_string(), material, verify_hostname: false, use_client_cert: false }))
}

/// A Connector's TLS toward its target (`spec.tlsCredentials`): the Secret's `ca.crt` verifies
/// the target; with `useClientCert` its `tls.crt`/`tls.key` are presented. `verifyHostname` is
/// false unless set, as upstream passes the field's Go zero value to its router.
pub(crate) fn connector_tls(c: &Connector, res: &Resources) -> Result<Option<ServiceTls>, String> {
    let secret = &c.spec.tls_credentials;
    if secret.is_empty() {
        return Ok(None);
    }
    let ca_pem = tls_key(res, secret, "ca.crt", "the CA that issued the target's certificate")?;
    let (cert_pem, key_pem) = if c.spec.use_client_cert {
        (
            tls_key(res, secret, "tls.crt", "the client certificate (useClientCert is true)")?,
            tls_key(res, secret, "tls.key", "the private key of its tls.crt")?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Some(ServiceTls {
        secret: secret.clone(),
        material: TlsMaterial { cert_pem, key_pem, ca_pem },
        verify_hostname: c.spec.verify_hostname.unwrap_or(false),
        use_client_cert: c.spec.use_client_cert,
    }))
}

/// The router's strategy of a MultiKeyListener; `None` when the spec is not usable (its status
/// says why: [`MultiKeyStrategy::problem`]).
pub(crate) fn key_strategy(s: &MultiKeyStrategy) -> Option<KeyStrategy> {
    if s.problem().is_some() {
        return None;
    }
    match (&s.priority, &s.weighted) {
        (Some(p), None) => Some(KeyStrategy::Priority(p.routing_keys.clone())),
        (None, Some(w)) => Some(KeyStrategy::Weighted(
            w.routing_keys.iter().map(|(k, v)| (k.clone(), u64::try_from(*v).unwrap_or(0))).collect(),
        )),
        _ => None,
    }
}

/// One Link's router configuration; `config_error` says why it cannot be dialled.
pub(crate) fn link_config(link: &Link, res: &Resources, edge_site: bool) -> LinkConfig {
    let empty = TlsMaterial { cert_pem: Vec::new(), key_pem: Vec::new(), ca_pem: Vec::new() };
    let mut cfg = LinkConfig {
        host: String::new(),
        port: 0,
        cost: link.spec.effective_cost(),
        tls: empty,
        proxy: None,
        config_error: None,
    };
    let role = if edge_site { ROLE_EDGE } else { ROLE_INTER_ROUTER };
    let problem = (|| -> Result<(), String> {
        let ep = link.spec.endpoint_for_role(role).ok_or_else(|| {
            format!(
                "Link has no {role:?} endpoint; regenerate it with kubectl skupper link generate on the remote site"
            )
        })?;
        cfg.host = ep.host.trim_start_matches('[').trim_end_matches(']').to_string();
        cfg.port = ep
            .port
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("endpoint {role:?} port {:?} is not a port number (1-65535)", ep.port))?;
        if cfg.host.is_empty() {
            return Err(format!("endpoint {role:?} has no host"));
        }
        let name = &link.spec.tls_credentials;
        let secret = res.secrets.get(name).ok_or_else(|| format!("TLS credentials secret {name:?} not found"))?;
        cfg.tls = secret.tls().map_err(|e| e.to_string())?;
        if let Some(proxy) = link.spec.proxy_configuration() {
            let secret =
                res.secrets.get(proxy).ok_or_else(|| "Secret not found for proxy configuration".to_string())?;
            cfg.proxy = Some((proxy.to_string(), secret.proxy().map_err(|e| e.to_string())?));
        }
        Ok(())
    })();
    cfg.config_error = problem.err();
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;
    use skupper_core::resources::{Endpoint, LinkSpec, SECRET_TYPE_BASIC_AUTH, SECRET_TYPE_TLS, Secret};

    fn link(tls: &str) -> Link {
        Link::new(
            "l",
            LinkSpec {
                endpoints: vec![Endpoint {
                    name: "inter-router".into(),
                    host: "127.0.0.1".into(),
                    port: "55671".into(),
                    group: "skupper-router".into(),
                }],
                tls_credentials: tls.into(),
                cost: 0,
                settings: Default::default(),
                extra: Default::default(),
            },
        )
    }

    #[test]
    fn a_multikeylistener_that_requires_client_certificates_is_not_served_without_them() {
        use skupper_core::resources::{MultiKeyListener, MultiKeyListenerSpec, MultiKeyStrategy, PriorityStrategy};
        let strategy =
            MultiKeyStrategy { priority: Some(PriorityStrategy { routing_keys: vec!["a".into()] }), weighted: None };
        let mut spec = MultiKeyListenerSpec { port: 8080, strategy, ..Default::default() };
        let mut res = Resources::default();
        res.multi_key_listeners.insert("m".into(), MultiKeyListener::new("m", spec.clone()));
        assert_eq!(router_config(&res, "id", "ns", None).multi_key_listeners["m"].listener.config_error, None);
        spec.require_client_cert = true;
        res.multi_key_listeners.insert("m".into(), MultiKeyListener::new("m", spec));
        let cfg = router_config(&res, "id", "ns", None);
        let e = cfg.multi_key_listeners["m"].listener.config_error.clone().expect("refused");
        assert!(e.starts_with("requireClientCert is not supported by this router"), "{e}");
    }

    #[test]
    fn service_tls_comes_from_the_secret_and_its_problems_name_it() {
        use skupper_core::resources::{ConnectorSpec, ListenerSpec};
        let mut res = Resources::default();
        let l = Listener::new("l", ListenerSpec { port: 8443, tls_credentials: "front".into(), ..Default::default() });
        let c = |client: bool, verify: Option<bool>| {
            let spec = ConnectorSpec {
                port: 443,
                tls_credentials: "back".into(),
                use_client_cert: client,
                verify_hostname: verify,
                ..Default::default()
            };
            Connector::new("c", spec)
        };
        res.listeners.insert("l".into(), l.clone());
        res.connectors.insert("c".into(), c(false, None));
        let cfg = router_config(&res, "id", "ns", None);
        assert_eq!(cfg.listeners["l"].config_error.as_deref(), Some("TLS credentials secret \"front\" not found"));
        assert_eq!(cfg.connectors["c"].config_error.as_deref(), Some("TLS credentials secret \"back\" not found"));
        // A listener needs tls.crt and tls.key (ca.crt is optional); a connector needs ca.crt,
        // and tls.crt/tls.key only with useClientCert.
        res.secrets.insert("front".into(), Secret::with_data("front", SECRET_TYPE_TLS, [("tls.crt", &b"c"[..])]));
        res.secrets.insert("back".into(), Secret::with_data("back", SECRET_TYPE_TLS, [("ca.crt", &b"a"[..])]));
        let e = listener_tls(&l, &res).expect_err("no key");
        assert!(e.starts_with("TLS credentials secret \"front\" has no tls.key"), "{e}");
        let tls = connector_tls(&c(false, None), &res).expect("ca only").expect("tls");
        assert_eq!((tls.secret.as_str(), tls.verify_hostname, tls.use_client_cert), ("back", false, false));
        assert!(connector_tls(&c(false, Some(true)), &res).expect("ok").expect("tls").verify_hostname);
        let e = connector_tls(&c(true, None), &res).expect_err("no client certificate");
        assert!(e.starts_with("TLS credentials secret \"back\" has no tls.crt"), "{e}");
        res.secrets.insert(
            "front".into(),
            Secret::with_data("front", SECRET_TYPE_TLS, [("tls.crt", &b"c"[..]), ("tls.key", b"k")]),
        );
        let tls = listener_tls(&l, &res).expect("complete").expect("tls");
        assert_eq!((tls.material.cert_pem.as_slice(), tls.material.key_pem.as_slice()), (&b"c"[..], &b"k"[..]));
        // No tlsCredentials: plain TCP.
        let plain = Listener::new("p", ListenerSpec { port: 1, ..Default::default() });
        assert_eq!(listener_tls(&plain, &res), Ok(None));
    }

    #[test]
    fn link_errors_use_upstream_texts() {
        let mut res = Resources::default();
        let cfg = link_config(&link("creds"), &res, false);
        assert_eq!(cfg.config_error.as_deref(), Some("TLS credentials secret \"creds\" not found"));
        assert_eq!((cfg.host.as_str(), cfg.port, cfg.cost), ("127.0.0.1", 55671, 1));
        res.secrets.insert(
            "creds".into(),
            Secret::with_data("creds", SECRET_TYPE_TLS, [("tls.crt", &b"c"[..]), ("tls.key", b"k"), ("ca.crt", b"a")]),
        );
        assert_eq!(link_config(&link("creds"), &res, false).config_error, None);
        let mut l = link("creds");
        l.spec.settings.insert("proxy-configuration".into(), "corp".into());
        assert_eq!(
            link_config(&l, &res, false).config_error.as_deref(),
            Some("Secret not found for proxy configuration")
        );
        res.secrets.insert(
            "corp".into(),
            Secret::with_data("corp", SECRET_TYPE_BASIC_AUTH, [("host", &b"127.0.0.1"[..]), ("port", b"3128")]),
        );
        let cfg = link_config(&l, &res, false);
        assert_eq!(cfg.config_error, None);
        assert_eq!(cfg.proxy.map(|(n, p)| (n, p.port)), Some(("corp".to_string(), 3128)));
        assert!(link_config(&l, &res, true).config_error.expect("no edge endpoint").contains("\"edge\""));
    }
}
