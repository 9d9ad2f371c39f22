//! Property tests: decoders never panic on any input, encode/decode round trips, routing-cost
//! laws and grant outcomes against a model.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde::Deserialize;
use serde_json::{Value, json};
use skupper_core::admission::{self, Policy};
use skupper_core::duration::GoDuration;
use skupper_core::grant::{self, GrantState, Refusal};
use skupper_core::inspect::{self, REDACTED};
use skupper_core::names;
use skupper_core::resources::Resource;
use skupper_core::routing::{Candidate, Choice, LinkStateGraph, choose, score, shortest_paths};
use skupper_core::time::{format_rfc3339, parse_rfc3339};

const CA: &str = include_str!("fixtures/ca.crt");
const CLIENT: &str = include_str!("fixtures/client.crt");

/// 256 cases per property. A failing case's seed is saved to `core/proptest-regressions/
/// properties.txt` and replayed first by every later run: commit that file with the fix, so the
/// case stays tested (CONTRIBUTING.md). proptest's default location does not work for a file in
/// `tests/` (it looks for a `lib.rs` beside it and falls back to `tests/properties.
/// proptest-regressions`), hence the explicit path.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        )))),
        ..ProptestConfig::default()
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Keys and strings that steer random documents into the interesting code paths.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "annotations",
    "labels",
    "spec",
    "status",
    "endpoints",
    "host",
    "port",
    "group",
    "cost",
    "tlsCredentials",
    "settings",
    "proxy-configuration",
    "url",
    "code",
    "ca",
    "linkCost",
    "data",
    "stringData",
    "type",
    "tls.crt",
    "tls.key",
    "ca.crt",
    "conditions",
    "request",
    "uid",
    "object",
    "operation",
    "roles",
    "redemptionsAllowed",
    "expirationWindow",
    "expirationTime",
    "kubectl-skupper.io/expires-at",
    "skupper.io/type",
    "skupper.io/url",
];

fn interesting() -> Vec<String> {
    let mut v: Vec<String> = [
        "skupper.io/v2alpha1",
        "v1",
        "Link",
        "Secret",
        "Site",
        "AccessToken",
        "AccessGrant",
        "RouterAccess",
        "Listener",
        "Connector",
        "inter-router",
        "edge",
        "55671",
        "0",
        "https://grants.example.com:9090/abc",
        "http://10.0.0.1:1/x",
        "https://[::1",
        "2026-07-23T10:00:00Z",
        "15m0s",
        "token-claim",
        "connection-token",
        "kubernetes.io/tls",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----",
        "LS0t",
        "é€\u{0}\u{7}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(CA.into());
    v.push(b64(CA));
    v.push(b64(CLIENT));
    v.push(CA.replace('M', "N"));
    v
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![3 => ".{0,16}", 2 => prop::sample::select(interesting())]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(KEYS).prop_map(String::from), 1 => "[a-zA-Z./-]{0,10}"]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A document that looks like a resource: real apiVersion/kind pairs with random contents.
fn arb_doc() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(vec![
        ("skupper.io/v2alpha1", "Link"),
        ("skupper.io/v2alpha1", "AccessToken"),
        ("skupper.io/v2alpha1", "AccessGrant"),
        ("skupper.io/v2alpha1", "Site"),
        ("skupper.io/v2alpha1", "RouterAccess"),
        ("skupper.io/v2alpha1", "Listener"),
        ("skupper.io/v2alpha1", "Connector"),
        ("v1", "Secret"),
        ("skupper.io/v1", "Link"),
        ("v1", "ConfigMap"),
    ]);
    (kinds, arb_json(), arb_json(), arb_json(), arb_json()).prop_map(|((api, kind), meta, spec, status, data)| {
        let mut m = serde_json::Map::new();
        m.insert("apiVersion".into(), json!(api));
        m.insert("kind".into(), json!(kind));
        m.insert("metadata".into(), meta);
        m.insert("spec".into(), spec);
        m.insert("status".into(), status);
        m.insert("data".into(), data);
        Value::Object(m)
    })
}

/// Link-shaped documents with mostly well-formed fields, to exercise validation deeply.
fn arb_link() -> impl Strategy<Value = Value> {
    let ep = (
        prop::sample::select(vec!["inter-router", "edge", "peer", ""]),
        prop_oneof![Just("west.example.com".to_string()), Just("10.0.0.1".to_string()), arb_string()],
        prop_oneof![Just("55671".to_string()), Just("45671".to_string()), arb_string()],
        prop::sample::select(vec!["skupper-router", "skupper-router-2", ""]),
    )
        .prop_map(|(n, h, p, g)| json!({"name": n, "host": h, "port": p, "group": g}));
    (
        prop_oneof![Just("link-west".to_string()), arb_string()],
        prop::collection::vec(ep, 0..4),
        any::<i64>(),
        prop_oneof![Just("link-west".to_string()), arb_string()],
        prop::collection::btree_map(
            prop_oneof![Just("proxy-configuration".to_string()), arb_string()],
            arb_string(),
            0..3,
        ),
    )
        .prop_map(|(name, eps, cost, tls, settings)| {
            json!({"apiVersion": "skupper.io/v2alpha1", "kind": "Link", "metadata": {"name": name},
                   "spec": {"endpoints": eps, "cost": cost, "tlsCredentials": tls, "settings": settings}})
        })
}

/// AccessToken- and Secret-shaped documents with plausible and broken field values.
fn arb_token_or_secret() -> impl Strategy<Value = Value> {
    (arb_string(), arb_string(), arb_string(), arb_string(), arb_string(), any::<bool>()).prop_map(
        |(url, code, ca, when, key, token)| {
            if token {
                json!({"apiVersion": "skupper.io/v2alpha1", "kind": "AccessToken",
                       "metadata": {"name": "t", "annotations": {"kubectl-skupper.io/expires-at": when,
                                                                 "kubectl-skupper.io/redemptions-allowed": key}},
                       "spec": {"url": url, "code": code, "ca": ca, "linkCost": 1}})
            } else {
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "link-west", "labels": {"skupper.io/type": when}},
                       "data": {"ca.crt": ca, "tls.crt": code, "tls.key": key, "password": url}})
            }
        },
    )
}

fn arb_review() -> impl Strategy<Value = Value> {
    (
        arb_string(),
        prop::sample::select(vec!["CREATE", "UPDATE", "DELETE", "CONNECT", "x"]),
        prop_oneof![arb_link(), arb_doc(), arb_json()],
        prop_oneof![Just(("skupper.io", "Link")), Just(("", "Secret"))],
    )
        .prop_map(|(uid, op, object, (group, kind))| {
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": uid, "kind": {"group": group, "version": "v2alpha1", "kind": kind},
                               "namespace": "east", "operation": op, "object": object}})
        })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop::collection::vec(prop_oneof![Just("*.example.com".to_string()), arb_string()], 0..3),
        prop::option::of(-5i64..50),
        prop::option::of(-5i64..50),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(allowed_hosts, min_cost, max_cost, require_proxy, forbid_duplicate_peers, edge_site)| Policy {
            allowed_hosts,
            min_cost,
            max_cost,
            require_proxy,
            forbid_duplicate_peers,
            known_links: Vec::new(),
            edge_site,
        })
}

fn check_review_shape(out: &Value) {
    assert!(out["apiVersion"].is_string());
    assert_eq!(out["kind"], json!("AdmissionReview"));
    assert!(out["response"]["uid"].is_string(), "{out}");
    assert!(out["response"]["allowed"].is_boolean(), "{out}");
    if out["response"]["allowed"] == json!(false) {
        assert!(out["response"]["status"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{out}");
    }
}

fn check_inspect(docs: &[Value]) {
    let report = inspect::inspect(docs, 1_795_631_649);
    let text = serde_json::to_value(&report).expect("report serializes");
    let back: inspect::Report = serde_json::from_value(text).expect("report deserializes");
    assert_eq!(back, report);
    let red = inspect::redact(docs);
    assert_eq!(red.len(), docs.len());
    for p in &report.redactions {
        let (idx, rest) = p[1..].split_once('/').map(|(i, r)| (i.parse::<usize>().expect("index"), r)).expect("ptr");
        assert_eq!(red[idx].pointer(&format!("/{rest}")), Some(&json!(REDACTED)), "{p}");
    }
    assert_eq!(inspect::inspect(&red, 0).redactions, report.redactions);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn resource_decoding_never_panics_and_round_trips(v in prop_oneof![arb_json(), arb_doc(), arb_link()]) {
        if let Ok(r) = Resource::from_value(v) {
            let again = Resource::from_value(r.to_value()).expect("our own output decodes");
            prop_assert_eq!(again, r);
        }
    }

    #[test]
    fn yaml_bytes_never_panic_any_decoder(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..160),
        "[a-zA-Z0-9:{}\\[\\],\"' \n.-]{0,160}".prop_map(String::into_bytes),
    ]) {
        let docs: Vec<Value> = serde_yaml::Deserializer::from_slice(&bytes)
            .map_while(|d| Value::deserialize(d).ok())
            .collect();
        for d in &docs {
            let _ = Resource::from_value(d.clone());
            check_review_shape(&admission::review(d, &Policy::default()));
        }
        check_inspect(&docs);
        check_review_shape(&admission::review_bytes(&bytes, &Policy::default()));
    }

    #[test]
    fn inspect_never_panics(docs in prop::collection::vec(
        prop_oneof![arb_doc(), arb_link(), arb_token_or_secret(), arb_json()],
        0..4,
    )) {
        check_inspect(&docs);
    }

    #[test]
    fn review_never_panics(input in prop_oneof![arb_review(), arb_json()], policy in arb_policy()) {
        let out = admission::review(&input, &policy);
        check_review_shape(&out);
        if let Some(uid) = input.pointer("/request/uid").and_then(Value::as_str) {
            prop_assert_eq!(out["response"]["uid"].as_str(), Some(uid));
        }
        for w in out["response"]["warnings"].as_array().into_iter().flatten() {
            prop_assert!(w.as_str().is_some_and(|w| w.chars().count() <= admission::MAX_WARNING_CHARS));
        }
    }

    #[test]
    fn duration_parse_never_panics(s in prop_oneof![
        ".{0,24}",
        "[-+]?([0-9]{0,4}(\\.[0-9]{0,4})?(ns|us|µs|μs|ms|s|m|h|d|)){1,4}",
    ]) {
        if let Ok(d) = GoDuration::parse(&s) {
            prop_assert_eq!(GoDuration::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn duration_format_parse_round_trip(n in any::<i64>()) {
        let d = GoDuration(n);
        prop_assert_eq!(GoDuration::parse(&d.to_string()), Ok(d));
    }

    #[test]
    fn rfc3339_round_trip(secs in -62_167_219_200i64..=253_402_300_799, offset_min in -1439i64..=1439) {
        let text = format_rfc3339(secs);
        prop_assert_eq!(parse_rfc3339(&text), Ok(secs));
        // The same instant written in another zone: local time = UTC + offset.
        let local = format_rfc3339(secs + offset_min * 60);
        let (sign, abs) = if offset_min < 0 { ('-', -offset_min) } else { ('+', offset_min) };
        let zoned = format!("{}{sign}{:02}:{:02}", &local[..local.len() - 1], abs / 60, abs % 60);
        if parse_rfc3339(&local).is_ok() {
            prop_assert_eq!(parse_rfc3339(&zoned), Ok(secs));
        }
    }

    #[test]
    fn rfc3339_parse_never_panics(s in prop_oneof![".{0,40}", "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,3})?(Z|[+-][0-9]{2}:[0-9]{2})"]) {
        if let Ok(t) = parse_rfc3339(&s) {
            prop_assert!(parse_rfc3339(&format_rfc3339(t)) == Ok(t));
        }
    }

    #[test]
    fn name_rules_never_panic_and_nest(s in ".{0,80}") {
        let label = names::validate_label(&s).is_ok();
        let sub = names::validate_subdomain(&s).is_ok();
        let res = names::validate_resource_name(&s).is_ok();
        let _ = names::validate_system_name(&s);
        let _ = names::validate_file_name(&s);
        let _ = names::validate_host(&s);
        let _ = names::classify_host(&s);
        prop_assert!(!label || sub, "a label is a subdomain");
        prop_assert!(!sub || res, "a subdomain matches the CLI resource pattern");
    }

    #[test]
    fn generated_labels_are_accepted_and_upper_case_refused(
        s in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
        at in any::<prop::sample::Index>(),
    ) {
        prop_assert_eq!(names::validate_label(&s), Ok(()));
        prop_assert_eq!(names::validate_subdomain(&s), Ok(()));
        prop_assert_eq!(names::validate_resource_name(&s), Ok(()));
        prop_assert_eq!(names::validate_system_name(&s), Ok(()));
        let i = at.index(s.len() + 1);
        let bad = format!("{}X{}", &s[..i], &s[i..]);
        prop_assert!(names::validate_label(&bad).is_err());
        prop_assert!(names::validate_resource_name(&bad).is_err());
    }

    #[test]
    fn generated_subdomains_and_file_names(
        s in "[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?){0,4}",
        f in "[A-Za-z0-9./~-]{1,40}",
    ) {
        prop_assert_eq!(names::validate_subdomain(&s), Ok(()));
        prop_assert_eq!(names::validate_resource_name(&s), Ok(()));
        prop_assert_eq!(names::validate_label(&s).is_ok(), !s.contains('.'));
        prop_assert_eq!(names::validate_file_name(&f), Ok(()));
        let with_space = format!("{f} ");
        prop_assert!(names::validate_file_name(&with_space).is_err());
    }

    #[test]
    fn ip_literals_are_hosts(v4 in any::<[u8; 4]>(), v6 in any::<[u8; 16]>()) {
        let a = std::net::Ipv4Addr::from(v4).to_string();
        prop_assert!(matches!(names::validate_host(&a).map(|h| h.kind), Ok(names::HostKind::Ipv4(_))));
        let b = std::net::Ipv6Addr::from(v6).to_string();
        prop_assert!(matches!(names::validate_host(&b).map(|h| h.kind), Ok(names::HostKind::Ipv6(_))));
        let bracketed = format!("[{b}]");
        prop_assert_eq!(names::validate_host(&bracketed).map(|h| h.name), Ok(b.as_str()));
    }

    #[test]
    fn constant_time_eq_is_equality(a in prop::collection::vec(any::<u8>(), 0..40), b in prop::collection::vec(any::<u8>(), 0..40), same in any::<bool>()) {
        let b = if same { a.clone() } else { b };
        prop_assert_eq!(grant::constant_time_eq(&a, &b), a == b);
    }

    #[test]
    fn codes_are_alphanumeric(r in any::<[u8; 24]>()) {
        let c = grant::generate_code(&r);
        prop_assert_eq!(c.len(), grant::CODE_LEN);
        prop_assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn grant_check_follows_the_model(
        code in "[a-zA-Z0-9]{0,6}",
        presented in prop_oneof!["[a-zA-Z0-9]{0,6}", Just(String::new())],
        use_same in any::<bool>(),
        allowed in -2i64..5,
        redemptions in 0i64..6,
        exp in -100i64..100,
        now in -100i64..100,
    ) {
        let presented = if use_same { code.clone() } else { presented };
        let s = GrantState { code: code.clone(), redemptions_allowed: allowed, redemptions, expiration_time: exp };
        let expected = if code.is_empty() || presented != code {
            Err(Refusal::WrongCode)
        } else if exp < now {
            Err(Refusal::Expired { at: exp })
        } else if redemptions >= allowed.max(1) {
            Err(Refusal::UsedUp { allowed: allowed.max(1) })
        } else {
            Ok(())
        };
        prop_assert_eq!(s.check(&presented, now), expected);
        let wire = expected.err().map(|r| grant::classify_response(r.http_status(), &r.body()));
        if let Some(w) = wire {
            prop_assert!(!w.to_string().is_empty());
        }
    }

    #[test]
    fn commits_use_up_exactly_the_allowed_redemptions(allowed in 1i64..8) {
        let mut s = GrantState { code: "c0de".into(), redemptions_allowed: allowed, redemptions: 0, expiration_time: 10 };
        let mut ok = 0;
        while s.check("c0de", 0).is_ok() {
            s.commit();
            ok += 1;
            prop_assert!(ok <= allowed);
        }
        prop_assert_eq!(ok, allowed);
        prop_assert_eq!(s.check("c0de", 0), Err(Refusal::UsedUp { allowed }));
    }
}

fn arb_graph() -> impl Strategy<Value = Vec<(usize, usize, u32, u32)>> {
    prop::collection::vec((0usize..7, 0usize..7, 1u32..50, 1u32..50), 0..16)
}

fn build(edges: &[(usize, usize, u32, u32)]) -> LinkStateGraph {
    let mut adj: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    for &(a, b, c1, c2) in edges.iter().filter(|(a, b, ..)| a != b) {
        adj.entry(format!("s{a}")).or_default().push((format!("s{b}"), c1));
        adj.entry(format!("s{b}")).or_default().push((format!("s{a}"), c2));
    }
    let mut g = LinkStateGraph::new();
    for (s, n) in adj {
        g.set_site(&s, n);
    }
    g
}

fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec(
        (0u32..12, 1u64..20, any::<bool>()).prop_map(|(open, cost, local)| Candidate {
            open,
            path_cost: if local { 0 } else { cost },
            local,
        }),
        0..8,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_route_extends_a_cheaper_route(edges in arb_graph()) {
        let g = build(&edges);
        let routes = shortest_paths(&g, "s0");
        for (site, r) in &routes {
            if site == "s0" {
                prop_assert_eq!(r.cost, 0);
                continue;
            }
            prop_assert!(r.cost >= u64::from(r.hops), "each link costs at least 1");
            // Some neighbour is one hop closer and strictly cheaper: adding that hop never lowers the cost.
            let pred = g.neighbours(site).find(|(n, c)| {
                routes.get(*n).is_some_and(|p| p.cost + u64::from(*c) == r.cost && p.cost < r.cost)
            });
            prop_assert!(pred.is_some(), "no predecessor for {site}");
            // Triangle inequality over every two-way link.
            for (n, c) in g.neighbours(site) {
                if let Some(nr) = routes.get(n) {
                    prop_assert!(nr.cost <= r.cost + u64::from(c));
                }
            }
        }
    }

    #[test]
    fn a_pendant_hop_costs_more_and_changes_nothing_else(edges in arb_graph(), at in 0usize..7, cost in 1u32..50) {
        let g = build(&edges);
        let before = shortest_paths(&g, "s0");
        let anchor = format!("s{at}");
        let mut g2 = g.clone();
        let mut anchor_links: Vec<(String, u32)> = g.neighbours(&anchor).map(|(n, c)| (n.to_string(), c)).collect();
        // Keep what the anchor already reports (one-way claims included) and add the new hop.
        anchor_links.retain(|(n, _)| g.link_cost(&anchor, n).is_some());
        anchor_links.push(("new".into(), cost));
        g2.set_site(&anchor, anchor_links);
        g2.set_site("new", vec![(anchor.clone(), cost)]);
        let after = shortest_paths(&g2, "s0");
        match before.get(&anchor) {
            Some(a) => {
                let n = &after["new"];
                prop_assert_eq!(n.cost, a.cost + u64::from(cost));
                prop_assert!(n.cost > a.cost);
                prop_assert_eq!(n.hops, a.hops + 1);
            }
            None => prop_assert!(!after.contains_key("new")),
        }
        for (site, r) in &before {
            prop_assert_eq!(after.get(site).map(|x| x.cost), Some(r.cost), "{}", site);
        }
    }

    #[test]
    fn choice_has_minimal_score_regardless_of_order(cands in arb_candidates(), seed in any::<u64>()) {
        let pick = choose(&cands);
        if cands.is_empty() {
            prop_assert_eq!(pick, None);
            return Ok(());
        }
        let i = pick.expect("a candidate").index();
        let chosen = &cands[i];
        prop_assert_eq!(Some(score(chosen)), cands.iter().map(score).min());
        // An idle local target is taken before anything remote.
        if cands.iter().any(|c| c.local && c.open == 0) {
            prop_assert!(matches!(pick, Some(Choice::IdleLocal(_))) && chosen.local);
        }
        // Any permutation picks a candidate of the same score.
        let mut shuffled = cands.clone();
        let mut x = seed | 1;
        for k in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(k, (x % (k as u64 + 1)) as usize);
        }
        let j = choose(&shuffled).expect("a candidate").index();
        prop_assert_eq!(score(&shuffled[j]), score(chosen));
        // A tie between a local and a remote target goes to the local one, in any order.
        prop_assert_eq!(shuffled[j].local, chosen.local);
    }
}
