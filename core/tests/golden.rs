//! Upstream examples (reference skupper.md §1, §3, §4) decoded with serde_yaml, loaded as
//! resources, encoded again and re-decoded: nothing the typed model knows may be lost, and Go's
//! empties (`status: {}`, `creationTimestamp: null`) must be accepted.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use skupper_core::resources::{Resource, Secret};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every document of a YAML stream, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// Drops what carries no information: nulls, `false`, `0`, `""`, `[]`, `{}` (Go's omitempty
/// view), recursively.
fn normalize(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().map(|x| normalize(x).unwrap_or(Value::Null)).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> =
                m.iter().filter_map(|(k, x)| Some((k.clone(), normalize(x)?))).collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        other => Some(other.clone()),
    }
}

fn round_trip(name: &str) -> Vec<Resource> {
    let path = golden_dir().join(name);
    let docs = documents(&path);
    assert!(!docs.is_empty(), "{name} has no document");
    docs.into_iter()
        .map(|v| {
            let r = Resource::from_value(v.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let encoded = r.to_value();
            let again = Resource::from_value(encoded.clone()).unwrap_or_else(|e| panic!("{name} re-decode: {e}"));
            assert_eq!(again, r, "{name}: re-decoding changed the resource");
            assert_eq!(normalize(&encoded), normalize(&v), "{name}: a field was lost or changed on the way");
            r
        })
        .collect()
}

/// The documents of a file, exactly `N` of them.
fn arr<const N: usize>(docs: Vec<Resource>, what: &str) -> [Resource; N] {
    let n = docs.len();
    docs.try_into().unwrap_or_else(|_| panic!("expected {what}, found {n} documents"))
}

#[test]
fn every_golden_file_round_trips() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for n in names {
        round_trip(&n);
    }
}

#[test]
fn site_status_is_read() {
    let [Resource::Site(site)] = arr(round_trip("site.yaml"), "one doc") else { panic!("not a site") };
    assert_eq!(site.spec.link_access, "default");
    assert!(site.spec.link_access_enabled());
    assert_eq!(site.status.status.status, "Ready");
    assert_eq!(site.status.sites_in_network, 2);
    assert_eq!(site.status.endpoints.len(), 2);
    assert_eq!(site.status.endpoints[1].port, "45671");
    assert_eq!(site.status.status.conditions.len(), 4);
}

#[test]
fn router_access_roles() {
    let [Resource::RouterAccess(ra)] = arr(round_trip("router-access.yaml"), "one") else {
        panic!("not a RouterAccess")
    };
    let ports: Vec<u16> = ra.spec.roles.iter().map(|r| r.effective_port()).collect();
    assert_eq!(ports, [55671, 45671]);
    assert!(ra.spec.generate_tls_credentials);
}

#[test]
fn generated_link_and_secret() {
    for file in ["link-generate.yaml", "link-generate-creation-timestamp.yaml"] {
        let docs = round_trip(file);
        let [Resource::Link(link), Resource::Secret(secret)] = arr(docs, "two docs") else {
            panic!("{file}: expected Link then Secret")
        };
        assert_eq!(link.name(), "link-west-skupper-router");
        assert_eq!(link.spec.effective_cost(), 1);
        assert_eq!(link.spec.endpoint_for_role("inter-router").map(|e| e.port.as_str()), Some("55671"));
        assert_eq!(link.spec.tls_credentials, secret.name());
        assert_eq!(secret.type_, "kubernetes.io/tls");
        let keys: Vec<&str> = secret.data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
    }
    let [Resource::Link(plain)] = arr(round_trip("link.yaml"), "one") else { panic!("not a link") };
    let [Resource::Link(with_status), _] = arr(round_trip("link-generate.yaml"), "two") else { panic!("not a link") };
    assert_eq!(plain, with_status, "`status: {{}}` must decode like no status");
}

#[test]
fn grant_and_token() {
    let [Resource::AccessGrant(g)] = arr(round_trip("access-grant.yaml"), "one") else { panic!("not a grant") };
    assert_eq!(g.spec.expiration_window, "15m0s");
    let state = skupper_core::grant::GrantState::from_grant(&g).expect("readable grant");
    assert_eq!(state.expiration_time, 1_784_800_800);
    assert_eq!(state.check("L1qCl2mZ7D81gbXp3ax4YT0K", 1_784_800_000), Ok(()));
    let [Resource::AccessToken(t)] = arr(round_trip("access-token.yaml"), "one") else { panic!("not a token") };
    assert_eq!(t.spec.link_cost, 1);
    assert!(t.spec.ca.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(t.spec.code, g.status.code);
}

#[test]
fn proxy_secret_and_link() {
    let docs = round_trip("proxy-link.yaml");
    let [Resource::Secret(secret), Resource::Link(link)] = arr(docs, "two") else {
        panic!("expected Secret then Link")
    };
    let proxy = secret.proxy().expect("proxy settings");
    assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.corp.example", 3128));
    assert_eq!((proxy.username.as_deref(), proxy.password.as_deref()), (Some("alice"), Some("s3cret")));
    assert_eq!(link.spec.proxy_configuration(), Some(secret.name()));
    let tls = Secret::with_data(
        "link-west",
        "kubernetes.io/tls",
        [("tls.crt", &b"c"[..]), ("tls.key", b"k"), ("ca.crt", b"a")],
    );
    let secrets = [secret, tls];
    let ctx = skupper_core::link::LinkContext { secrets: Some(&secrets), ..Default::default() };
    let v = skupper_core::link::validate_link(&link, &ctx);
    assert!(v.is_ok() && v.warnings.is_empty(), "{v:?}");
}

#[test]
fn generated_links_equal_the_upstream_example() {
    let [Resource::Link(upstream)] = arr(round_trip("link.yaml"), "one") else { panic!("not a link") };
    let links = skupper_core::link::generate_links("west", &upstream.spec.endpoints, "link-west", 1);
    assert_eq!(links, [upstream]);
}
