//! Links: generating them from a site's endpoints (`link generate`, grant responses) and
//! validating them (reference §9 "Recommended validator", a compatible superset of upstream).
//!
//! Validation is pure: Secrets and the other Links of the namespace are passed in by the caller
//! (the CLI, the admission webhook, the Wasm policy, the browser inspector).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{validate_host, validate_label, validate_subdomain};
use crate::resources::{
    Endpoint, Link, LinkSpec, ROLE_EDGE, ROLE_INTER_ROUTER, SECRET_TYPE_BASIC_AUTH, SECRET_TYPE_TLS,
    SETTING_PROXY_CONFIGURATION, Secret,
};

/// Largest cost the router accepts (`server_config.c`: 1..INT32_MAX).
pub const MAX_COST: i64 = i32::MAX as i64;

/// The endpoint name a router uses: `edge` on edge sites, `inter-router` otherwise.
pub fn local_role(edge_site: bool) -> &'static str {
    if edge_site { ROLE_EDGE } else { ROLE_INTER_ROUTER }
}

/// The role of an endpoint name: `inter-router`/`edge` as is, and system-site names
/// `<routeraccess>-inter-router` / `<routeraccess>-edge` mapped to the role.
fn role_of(name: &str) -> Option<&'static str> {
    if name == ROLE_INTER_ROUTER || name.ends_with("-inter-router") {
        Some(ROLE_INTER_ROUTER)
    } else if name == ROLE_EDGE || name.ends_with("-edge") {
        Some(ROLE_EDGE)
    } else {
        None
    }
}

/// Sort key for router groups: `skupper-router` < `skupper-router-2` < `skupper-router-10`.
fn group_key(group: &str) -> (&str, u64, &str) {
    if let Some((base, n)) = group.rsplit_once('-')
        && !base.is_empty()
        && !n.is_empty()
        && n.bytes().all(|c| c.is_ascii_digit())
        && let Ok(n) = n.parse::<u64>()
    {
        return (base, n, group);
    }
    (group, 1, group)
}

/// Endpoints with a known role, grouped by router group in stable order.
fn grouped(endpoints: &[Endpoint]) -> Vec<(String, Vec<Endpoint>)> {
    let mut groups: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
    for e in endpoints {
        if let Some(role) = role_of(&e.name) {
            groups.entry(e.group.clone()).or_default().push(Endpoint { name: role.into(), ..e.clone() });
        }
    }
    let mut out: Vec<(String, Vec<Endpoint>)> = groups.into_iter().collect();
    out.sort_by(|a, b| group_key(&a.0).cmp(&group_key(&b.0)));
    out
}

/// What `link generate` emits for a site: one Link per router group (upstream `dc257797`,
/// #2178), named `link-<site>-<group>` (`link-<site>` for endpoints without a group), with the
/// group's `inter-router` and `edge` endpoints, in stable group order (`skupper-router` first;
/// upstream iterates a map, so its HA order varies).
pub fn generate_links(site_name: &str, endpoints: &[Endpoint], tls_credentials: &str, cost: i64) -> Vec<Link> {
    grouped(endpoints)
        .into_iter()
        .map(|(group, eps)| {
            let name = if group.is_empty() { format!("link-{site_name}") } else { format!("link-{site_name}-{group}") };
            Link::new(
                name,
                LinkSpec {
                    endpoints: eps,
                    tls_credentials: tls_credentials.into(),
                    cost,
                    settings: BTreeMap::new(),
                    extra: BTreeMap::new(),
                },
            )
        })
        .collect()
}

/// The Links of a grant response (reference §2.2): named `<name>` when the site has one router
/// group, `<name>-1`, `<name>-2` in HA; `tlsCredentials: <name>`; no cost.
pub fn links_for_grant(name: &str, endpoints: &[Endpoint]) -> Vec<Link> {
    let groups = grouped(endpoints);
    let single = groups.len() == 1;
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (_, eps))| {
            let link_name = if single { name.to_string() } else { format!("{name}-{}", i + 1) };
            Link::new(link_name, LinkSpec { endpoints: eps, tls_credentials: name.into(), ..Default::default() })
        })
        .collect()
}

/// One problem found in a Link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Field path, e.g. `spec.endpoints[0].port`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The outcome of [`validate_link`]: errors make the Link unusable, warnings do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// Problems that make the Link fail or misbehave.
    pub errors: Vec<Finding>,
    /// Things that work but are probably not what was meant.
    pub warnings: Vec<Finding>,
}

impl Validation {
    /// Whether there is no error.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Finding { field: field.into(), message: message.into() });
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Finding { field: field.into(), message: message.into() });
    }
}

/// What [`validate_link`] may look at besides the Link.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkContext<'a> {
    /// Secrets of the namespace; `None` skips the Secret checks (e.g. admission of a Link whose
    /// Secret may be created later).
    pub secrets: Option<&'a [Secret]>,
    /// Other Links of the namespace, to catch duplicate links to the same peer (#2077). A Link
    /// with the same name as the one validated is taken to be its old version and skipped.
    pub other_links: &'a [Link],
    /// Whether the local site is an edge site (its router uses `edge` endpoints).
    pub edge_site: bool,
}

/// Host as compared for duplicates: lower case, no brackets, no final dot.
fn host_key(host: &str) -> String {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

const TLS_KEYS: [&str; 3] = ["tls.crt", "tls.key", "ca.crt"];

/// Validates a Link (reference §9): name, endpoints, local role, cost, TLS Secret, duplicates,
/// settings and proxy Secret. Never panics; every finding names its field.
pub fn validate_link(link: &Link, ctx: &LinkContext<'_>) -> Validation {
    let mut v = Validation::default();
    let name = link.name();
    if name.is_empty() {
        v.error("metadata.name", "the Link has no name: set metadata.name (e.g. link-west)");
    } else if let Err(e) = validate_label(name) {
        v.error("metadata.name", format!("{name:?}: {e}"));
    }
    if name.starts_with("auto-mesh") {
        v.warn("metadata.name", "names starting with auto-mesh are reserved for the router's own HA connectors");
    }
    check_endpoints(link, ctx, &mut v);
    check_cost(link.spec.cost, &mut v);
    check_tls_credentials(&link.spec.tls_credentials, ctx.secrets, &mut v);
    check_duplicates(link, ctx.other_links, &mut v);
    check_settings(&link.spec, ctx.secrets, &mut v);
    v
}

fn check_endpoints(link: &Link, ctx: &LinkContext<'_>, v: &mut Validation) {
    let eps = &link.spec.endpoints;
    if eps.is_empty() {
        v.error(
            "spec.endpoints",
            "a Link needs at least one endpoint: add {name: inter-router, host, port} of the remote site",
        );
        return;
    }
    for (i, e) in eps.iter().enumerate() {
        let field = |f: &str| format!("spec.endpoints[{i}].{f}");
        if e.name != ROLE_INTER_ROUTER && e.name != ROLE_EDGE {
            v.warn(
                field("name"),
                format!(
                    "unknown endpoint name {:?}: routers use only \"inter-router\" (interior sites) and \"edge\" \
                     (edge sites), so this endpoint is ignored",
                    e.name
                ),
            );
        }
        if e.host.is_empty() {
            v.error(field("host"), "host is empty: give the remote site's DNS name or IP address");
        } else if let Err(err) = validate_host(&e.host) {
            v.error(field("host"), err.to_string());
        }
        if e.port.is_empty() {
            v.error(field("port"), "port is empty: give a number from 1 to 65535 (inter-router 55671, edge 45671)");
        } else if e.port.parse::<u16>().ok().filter(|p| *p != 0).is_none() {
            v.error(
                field("port"),
                format!("port {:?} is not a number from 1 to 65535 (inter-router 55671, edge 45671)", e.port),
            );
        }
    }
    let role = local_role(ctx.edge_site);
    if !eps.iter().any(|e| e.name == role) {
        let site = if ctx.edge_site { "an edge site" } else { "an interior site" };
        v.error(
            "spec.endpoints",
            format!(
                "no {role:?} endpoint: the router of {site} would ignore this Link (upstream leaves it inert \
                 without an error); add an endpoint named {role} with the remote site's host and port"
            ),
        );
    }
}

fn check_cost(cost: i64, v: &mut Validation) {
    if cost == 0 {
        v.warn("spec.cost", "cost is not set: the router uses 1; set it explicitly (1 or more, lower is preferred)");
    } else if cost < 0 {
        v.error("spec.cost", format!("cost {cost} is negative: use 1 (the default) or more; lower is preferred"));
    } else if cost > MAX_COST {
        v.error("spec.cost", format!("cost {cost} is above the router's maximum {MAX_COST}"));
    }
}

fn check_tls_credentials(name: &str, secrets: Option<&[Secret]>, v: &mut Validation) {
    const FIELD: &str = "spec.tlsCredentials";
    if name.is_empty() {
        v.error(FIELD, "tlsCredentials is empty: name the Secret holding tls.crt, tls.key and ca.crt");
        return;
    }
    if let Err(e) = validate_subdomain(name) {
        v.error(FIELD, format!("{name:?}: {e}"));
        return;
    }
    let Some(secrets) = secrets else { return };
    let Some(secret) = secrets.iter().find(|s| s.name() == name) else {
        v.error(
            FIELD,
            format!(
                "TLS credentials secret {name:?} not found: create it (it comes with the Link from \
                 `kubectl skupper link generate` or a redeemed token) or fix spec.tlsCredentials"
            ),
        );
        return;
    };
    if !matches!(secret.type_.as_str(), "" | "Opaque" | SECRET_TYPE_TLS) {
        v.error(
            FIELD,
            format!(
                "Secret {name:?} has type {:?}: link credentials need type {SECRET_TYPE_TLS} (or Opaque) with \
                 tls.crt, tls.key and ca.crt",
                secret.type_
            ),
        );
        return;
    }
    for key in TLS_KEYS {
        match secret.get(key) {
            Ok(Some(value)) if !value.is_empty() => {}
            Ok(_) => v.error(
                FIELD,
                format!("Secret {name:?} has no {key}: link credentials need tls.crt, tls.key and ca.crt"),
            ),
            Err(e) => v.error(FIELD, e.to_string()),
        }
    }
}

/// What makes two Links duplicates ([`LinkContext::other_links`]): an endpoint with the same
/// host (compared without case, brackets or final dot), port and name. `None` for an endpoint
/// without a host. Callers checking many Links index them by it and pass each only the Links
/// that share a key, so that checking N Links costs N, not N².
pub fn duplicate_key(e: &Endpoint) -> Option<(String, &str, &str)> {
    (!e.host.is_empty()).then(|| (host_key(&e.host), e.port.trim(), e.name.as_str()))
}

fn check_duplicates(link: &Link, others: &[Link], v: &mut Validation) {
    for (i, e) in link.spec.endpoints.iter().enumerate() {
        let Some(key) = duplicate_key(e) else { continue };
        let twin = others
            .iter()
            .filter(|o| o.name() != link.name())
            .find(|o| o.spec.endpoints.iter().any(|oe| duplicate_key(oe).as_ref() == Some(&key)));
        if let Some(other) = twin {
            v.error(
                format!("spec.endpoints[{i}]"),
                format!(
                    "duplicate link: Link {:?} already connects to {}:{} as {}; two links to the same peer \
                     make routing unpredictable (skupper#2077): delete one, or change its cost with \
                     `kubectl skupper link update`",
                    other.name(),
                    e.host,
                    e.port,
                    if e.name.is_empty() { "an unnamed endpoint" } else { e.name.as_str() },
                ),
            );
        }
    }
}

fn check_settings(spec: &LinkSpec, secrets: Option<&[Secret]>, v: &mut Validation) {
    for key in spec.settings.keys().filter(|k| k.as_str() != SETTING_PROXY_CONFIGURATION) {
        v.warn(
            format!("spec.settings.{key}"),
            format!("unknown setting {key:?}: Links use only {SETTING_PROXY_CONFIGURATION}, so it is ignored"),
        );
    }
    let Some(proxy) = spec.settings.get(SETTING_PROXY_CONFIGURATION) else { return };
    const FIELD: &str = "spec.settings.proxy-configuration";
    if proxy.is_empty() {
        v.warn(FIELD, "proxy-configuration is empty, so no proxy is used; name a basic-auth Secret or remove it");
        return;
    }
    if let Err(e) = validate_subdomain(proxy) {
        v.error(FIELD, format!("{proxy:?}: {e}"));
        return;
    }
    let Some(secrets) = secrets else { return };
    let Some(secret) = secrets.iter().find(|s| s.name() == proxy) else {
        v.error(
            FIELD,
            format!(
                "Secret not found for proxy configuration: create Secret {proxy:?} of type \
                 {SECRET_TYPE_BASIC_AUTH} with host and port (and username/password if the proxy needs them)"
            ),
        );
        return;
    };
    match secret.proxy() {
        Err(e) => v.error(FIELD, e.to_string()),
        Ok(p) if p.password.is_some() && secret.type_ != SECRET_TYPE_BASIC_AUTH => v.warn(
            FIELD,
            format!(
                "Secret {proxy:?} has a password but type {:?}: the password is only used with type \
                 {SECRET_TYPE_BASIC_AUTH}",
                secret.type_
            ),
        ),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ep(name: &str, host: &str, port: &str, group: &str) -> Endpoint {
        Endpoint { name: name.into(), host: host.into(), port: port.into(), group: group.into() }
    }

    fn site_endpoints(ha: bool) -> Vec<Endpoint> {
        let mut v = vec![];
        if ha {
            // Listed second group first to prove the output order does not follow the input.
            v.push(ep("inter-router", "10.0.0.2", "55671", "skupper-router-2"));
            v.push(ep("edge", "10.0.0.2", "45671", "skupper-router-2"));
        }
        v.push(ep("inter-router", "10.102.82.46", "55671", "skupper-router"));
        v.push(ep("edge", "10.102.82.46", "45671", "skupper-router"));
        v
    }

    fn tls_secret(name: &str) -> Secret {
        Secret::with_data(name, SECRET_TYPE_TLS, [("tls.crt", &b"c"[..]), ("tls.key", b"k"), ("ca.crt", b"a")])
    }

    fn good_link() -> Link {
        generate_links("west", &site_endpoints(false), "link-west", 1).remove(0)
    }

    #[test]
    fn generate_matches_upstream_example() {
        let links = generate_links("west", &site_endpoints(false), "link-west", 1);
        assert_eq!(links.len(), 1);
        let v = serde_json::to_value(&links[0]).expect("json");
        let expected = serde_json::json!({
            "apiVersion": "skupper.io/v2alpha1", "kind": "Link",
            "metadata": {"name": "link-west-skupper-router"},
            "spec": {"cost": 1, "tlsCredentials": "link-west", "endpoints": [
                {"group": "skupper-router", "host": "10.102.82.46", "name": "inter-router", "port": "55671"},
                {"group": "skupper-router", "host": "10.102.82.46", "name": "edge", "port": "45671"}]}
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn ha_generates_one_link_per_group_in_stable_order() {
        let links = generate_links("west", &site_endpoints(true), "link-west", 5);
        let names: Vec<&str> = links.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["link-west-skupper-router", "link-west-skupper-router-2"]);
        assert!(links[1].spec.endpoints.iter().all(|e| e.host == "10.0.0.2" && e.group == "skupper-router-2"));
        assert!(links.iter().all(|l| l.spec.cost == 5 && l.spec.tls_credentials == "link-west"));
        let mut groups = vec![ep("inter-router", "h", "1", "skupper-router-10"), ep("inter-router", "h", "1", "g-2")];
        groups.push(ep("inter-router", "h", "1", "skupper-router-2"));
        let names: Vec<String> = generate_links("s", &groups, "t", 1).iter().map(|l| l.name().to_string()).collect();
        assert_eq!(names, ["link-s-g-2", "link-s-skupper-router-2", "link-s-skupper-router-10"]);
    }

    #[test]
    fn system_endpoint_names_become_roles_and_unknown_ones_are_dropped() {
        let eps = [
            ep("west-inter-router", "127.0.0.1", "55671", ""),
            ep("west-edge", "127.0.0.1", "45671", ""),
            ep("metrics", "127.0.0.1", "9090", ""),
        ];
        let links = generate_links("west", &eps, "link-west", 1);
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].name(), "link-west");
        let names: Vec<&str> = links[0].spec.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["inter-router", "edge"]);
        assert!(generate_links("west", &[], "t", 1).is_empty());
    }

    #[test]
    fn grant_links_are_named_after_the_token() {
        let one = links_for_grant("tok", &site_endpoints(false));
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].name(), one[0].spec.tls_credentials.as_str(), one[0].spec.cost), ("tok", "tok", 0));
        let two = links_for_grant("tok", &site_endpoints(true));
        let names: Vec<&str> = two.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["tok-1", "tok-2"]);
        assert_eq!(two[0].spec.endpoints[0].host, "10.102.82.46");
    }

    #[test]
    fn a_generated_link_with_its_secret_is_valid() {
        let secrets = [tls_secret("link-west")];
        let ctx = LinkContext { secrets: Some(&secrets), ..Default::default() };
        let v = validate_link(&good_link(), &ctx);
        assert!(v.is_ok() && v.warnings.is_empty(), "{v:?}");
    }

    fn fields(v: &[Finding]) -> Vec<&str> {
        v.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn every_rule_reports_its_field() {
        let mut l = good_link();
        l.metadata.name = "Link_West".into();
        l.spec.endpoints = vec![
            ep("inter-router", "", "55671", ""),
            ep("edge", "bad host", "0", ""),
            ep("peer", "west.example.com", "http", ""),
        ];
        l.spec.cost = -1;
        l.spec.tls_credentials = "Bad_Secret".into();
        l.spec.settings.insert("colour".into(), "blue".into());
        let v = validate_link(&l, &LinkContext::default());
        assert_eq!(
            fields(&v.errors),
            [
                "metadata.name",
                "spec.endpoints[0].host",
                "spec.endpoints[1].host",
                "spec.endpoints[1].port",
                "spec.endpoints[2].port",
                "spec.cost",
                "spec.tlsCredentials"
            ]
        );
        assert_eq!(fields(&v.warnings), ["spec.endpoints[2].name", "spec.settings.colour"]);
        assert!(v.errors[0].message.contains("RFC 1123 label"), "{}", v.errors[0]);
        assert!(v.errors[4].message.contains("\"http\""));
    }

    #[test]
    fn local_role_is_required() {
        let mut l = good_link();
        l.spec.endpoints.retain(|e| e.name == "edge");
        let v = validate_link(&l, &LinkContext::default());
        assert_eq!(fields(&v.errors), ["spec.endpoints"]);
        assert!(v.errors[0].message.contains("no \"inter-router\" endpoint"));
        let edge = LinkContext { edge_site: true, ..Default::default() };
        assert!(validate_link(&l, &edge).is_ok());
        l.spec.endpoints.clear();
        let v = validate_link(&l, &LinkContext::default());
        assert_eq!(v.errors.len(), 1, "{v:?}");
        assert!(v.errors[0].message.contains("at least one endpoint"));
    }

    #[test]
    fn cost_rules() {
        let cost = |c: i64| {
            let mut l = good_link();
            l.spec.cost = c;
            let v = validate_link(&l, &LinkContext::default());
            (v.errors.len(), v.warnings.len())
        };
        assert_eq!(cost(0), (0, 1));
        assert_eq!(cost(1), (0, 0));
        assert_eq!(cost(MAX_COST), (0, 0));
        assert_eq!(cost(MAX_COST + 1), (1, 0));
        assert_eq!(cost(-5), (1, 0));
    }

    #[test]
    fn secret_checks() {
        let l = good_link();
        let check = |secrets: &[Secret]| {
            let v = validate_link(&l, &LinkContext { secrets: Some(secrets), ..Default::default() });
            v.errors.into_iter().map(|f| f.message).collect::<Vec<_>>()
        };
        let e = check(&[]);
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("TLS credentials secret \"link-west\" not found"), "{}", e[0]);
        let partial = Secret::with_data("link-west", SECRET_TYPE_TLS, [("tls.crt", &b"c"[..]), ("ca.crt", b"")]);
        let e = check(&[partial]);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("no tls.key") && e[1].contains("no ca.crt"));
        let opaque = Secret { type_: "Opaque".into(), ..tls_secret("link-west") };
        assert!(check(&[opaque]).is_empty());
        let wrong = Secret { type_: SECRET_TYPE_BASIC_AUTH.into(), ..tls_secret("link-west") };
        assert!(check(&[wrong])[0].contains("has type"));
        let mut garbled = tls_secret("link-west");
        garbled.data.insert("tls.key".into(), "!!!".into());
        assert!(check(&[garbled])[0].contains("base64"));
    }

    #[test]
    fn duplicates_are_errors_but_the_old_version_is_not() {
        let l = good_link();
        let mut twin = good_link();
        twin.metadata.name = "other".into();
        twin.spec.endpoints[0].host = "[10.102.82.46]".into();
        let v = validate_link(&l, &LinkContext { other_links: core::slice::from_ref(&l), ..Default::default() });
        assert!(v.is_ok(), "the same name is the old version of this Link: {v:?}");
        let others = [twin];
        let v = validate_link(&l, &LinkContext { other_links: &others, ..Default::default() });
        assert_eq!(fields(&v.errors), ["spec.endpoints[0]", "spec.endpoints[1]"]);
        assert!(v.errors[0].message.contains("Link \"other\" already connects to 10.102.82.46:55671"));
        let mut elsewhere = others[0].clone();
        for e in &mut elsewhere.spec.endpoints {
            e.port = "1".into();
        }
        assert!(validate_link(&l, &LinkContext { other_links: &[elsewhere], ..Default::default() }).is_ok());
    }

    #[test]
    fn proxy_configuration() {
        let mut l = good_link();
        l.spec.settings.insert(SETTING_PROXY_CONFIGURATION.into(), "corp-proxy".into());
        assert!(validate_link(&l, &LinkContext::default()).is_ok());
        let mut secrets = vec![tls_secret("link-west")];
        let v = validate_link(&l, &LinkContext { secrets: Some(&secrets), ..Default::default() });
        assert_eq!(fields(&v.errors), ["spec.settings.proxy-configuration"]);
        assert!(v.errors[0].message.starts_with("Secret not found for proxy configuration"));
        secrets.push(Secret::with_data(
            "corp-proxy",
            "Opaque",
            [("host", &b"proxy.corp.example"[..]), ("port", b"3128"), ("password", b"s3cret")],
        ));
        let v = validate_link(&l, &LinkContext { secrets: Some(&secrets), ..Default::default() });
        assert!(v.is_ok(), "{v:?}");
        assert_eq!(fields(&v.warnings), ["spec.settings.proxy-configuration"]);
        secrets[1] = Secret::with_data("corp-proxy", SECRET_TYPE_BASIC_AUTH, [("host", &b"p"[..])]);
        let v = validate_link(&l, &LinkContext { secrets: Some(&secrets), ..Default::default() });
        assert!(v.errors[0].message.contains("data.port"), "{v:?}");
        l.spec.settings.insert(SETTING_PROXY_CONFIGURATION.into(), String::new());
        assert_eq!(validate_link(&l, &LinkContext::default()).warnings.len(), 1);
    }
}
