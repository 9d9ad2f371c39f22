//! Links through a real squid (basic auth with an htpasswd file, CONNECT allowed only to the
//! router's link port): traffic, the access log, 407 until the Secret is fixed, the proxy going
//! away and coming back, a 403 from a proxy that allows other ports only, and a missing Secret.
//! The site process is never restarted: its pid is checked after each recovery.
#![allow(missing_docs)]

mod proxy_support;

use proxy_support::{
    LINK, Squid, apply, echo_service, inter_router_port, link_json, payload, proxied_pair, proxy_secret,
    proxy_secret_data, round_trip, status_of, wait_message, wait_ready,
};
use skupper_e2e::{Env, wait_for};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret";

#[test]
fn link_through_squid_with_basic_auth_carries_traffic() {
    let env = Env::new("squid-ok");
    env.site_with_link_access("west");
    let port = inter_router_port(&env, "west");
    let squid = Squid::start(&env, "squid", &[port], &[(USER, PASSWORD)]);
    env.ns("east", &["site", "create", "east"]).ok();

    // The convenience flag puts the setting into every generated Link.
    let generated = env.ns("west", &["link", "generate", "--proxy-configuration", "corp-proxy"]).ok();
    let link: serde_json::Value = serde_yaml::from_str(generated.stdout.split("---\n").next().unwrap()).unwrap();
    assert_eq!(link["spec"]["settings"]["proxy-configuration"], "corp-proxy", "{}", generated.stdout);
    let secret = proxy_secret("corp-proxy", &squid.ip, squid.port, Some((USER, PASSWORD)));
    apply(&env, "east", &format!("{}{secret}", generated.stdout)).ok();
    env.start("west");
    env.start("east");
    wait_ready(&env, "east", LINK);

    // Status names the proxy.
    let detail = env.ns("east", &["link", "status", LINK]).ok();
    assert!(detail.stdout.contains("Status\t: Ready\n"), "{detail}");
    assert!(detail.stdout.ends_with(&format!("Proxy\t: corp-proxy ({})\n", squid.addr())), "{detail}");
    let v = link_json(&env, "east", LINK).unwrap();
    assert_eq!(v["status"]["proxy"]["secret"], "corp-proxy");
    assert_eq!(
        (v["status"]["proxy"]["host"].as_str(), v["status"]["proxy"]["port"].as_u64()),
        (Some(squid.ip.as_str()), Some(u64::from(squid.port)))
    );
    let yaml = env.ns("east", &["link", "status", LINK, "-o", "yaml"]).ok();
    let y: serde_json::Value = serde_yaml::from_str(&yaml.stdout).unwrap();
    assert_eq!(y["status"]["proxy"], v["status"]["proxy"], "{yaml}");

    // 1 MiB each way, byte-exact, through listener -> link (through squid) -> connector.
    let front = echo_service(&env);
    let data = payload(1 << 20, 7);
    let back = round_trip(&env.ip, front, &data).unwrap();
    assert!(
        back == data,
        "echoed {} bytes, {} differ",
        back.len(),
        back.iter().zip(&data).filter(|(a, b)| a != b).count()
    );

    // Squid logs a tunnel when it ends: delete the link, then read the access log.
    env.ns("east", &["link", "delete", LINK]).ok();
    let target = format!("CONNECT {}:{port} {USER} ", env.ip);
    let line = wait_for("squid to log the CONNECT", proxy_support::LINK_WAIT, || {
        let log = squid.access_log();
        log.lines().find(|l| l.contains(&target) && l.contains("TCP_TUNNEL/200")).map(str::to_string).ok_or(log)
    });
    assert!(line.contains(&format!("HIER_DIRECT/{}", env.ip)), "{line}");
}

#[test]
fn wrong_password_reports_407_until_the_secret_is_fixed() {
    let env = Env::new("squid-407");
    env.site_with_link_access("west");
    let squid = Squid::start(&env, "squid", &[inter_router_port(&env, "west")], &[(USER, PASSWORD)]);
    let wrong = proxy_secret("corp-proxy", &squid.ip, squid.port, Some((USER, "wrong")));
    proxied_pair(&env, "corp-proxy", &wrong);
    env.start("west");
    let pid = env.start("east");

    let v = wait_message(
        &env,
        "east",
        LINK,
        "proxy authentication required (407); check the username and password in proxy Secret corp-proxy",
    );
    assert_eq!(status_of(&v).0, "Error");
    assert!(squid.access_log().contains("TCP_DENIED/407"), "{}", squid.access_log());
    let operational = v["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Operational");
    assert_eq!(operational.map(|c| c["status"].clone()), Some("False".into()), "{v}");

    // Fix the Secret (base64 `data` this time): the running site picks it up and the link
    // connects, same process.
    let fixed = proxy_secret_data("corp-proxy", &squid.ip, squid.port, USER, PASSWORD);
    let out = apply(&env, "east", &fixed).ok();
    assert!(out.stdout.contains("Secret corp-proxy"), "{out}");
    wait_ready(&env, "east", LINK);
    assert_eq!(env.pid("east"), Some(pid), "the site was not restarted");
}

#[test]
fn proxy_down_is_unreachable_and_the_link_recovers_when_it_is_back() {
    let env = Env::new("squid-down");
    env.site_with_link_access("west");
    let mut squid = Squid::start(&env, "squid", &[inter_router_port(&env, "west")], &[(USER, PASSWORD)]);
    proxied_pair(&env, "corp-proxy", &proxy_secret("corp-proxy", &squid.ip, squid.port, Some((USER, PASSWORD))));
    env.start("west");
    let pid = env.start("east");
    wait_ready(&env, "east", LINK);
    let front = echo_service(&env);

    squid.stop();
    wait_message(&env, "east", LINK, &format!("proxy unreachable: connection refused by {}", squid.addr()));
    // The listener may accept, but nothing comes back: there is no route while the proxy is down.
    let echoed = skupper_e2e::echo_once(&env.ip, front, "x");
    assert!(echoed.as_deref() != Ok("x"), "no route while the proxy is down: {echoed:?}");

    squid.restart();
    wait_ready(&env, "east", LINK);
    assert_eq!(env.pid("east"), Some(pid), "the site was not restarted");
    let data = payload(64 << 10, 3);
    wait_for("traffic after the proxy came back", proxy_support::LINK_WAIT, || {
        let back = round_trip(&env.ip, front, &data)?;
        if back == data { Ok(()) } else { Err(format!("echoed {} bytes, not the same", back.len())) }
    });
}

#[test]
fn squid_allowing_other_ports_only_gives_403() {
    let env = Env::new("squid-403");
    env.site_with_link_access("west");
    let port = inter_router_port(&env, "west");
    let other = if port == u16::MAX { port - 1 } else { port + 1 };
    let squid = Squid::start(&env, "squid", &[other], &[(USER, PASSWORD)]);
    proxied_pair(&env, "corp-proxy", &proxy_secret("corp-proxy", &squid.ip, squid.port, Some((USER, PASSWORD))));
    env.start("west");
    env.start("east");
    let target = format!("{}:{port}", env.ip);
    wait_message(
        &env,
        "east",
        LINK,
        &format!("proxy denied the CONNECT to {target} (403 Forbidden); the proxy must allow CONNECT to port {port}"),
    );
    assert!(squid.access_log().contains("TCP_DENIED/403 "), "{}", squid.access_log());
}

#[test]
fn missing_proxy_secret_is_reported_as_upstream() {
    let env = Env::new("squid-nosecret");
    env.site_with_link_access("west");
    let squid = Squid::start(&env, "squid", &[inter_router_port(&env, "west")], &[(USER, PASSWORD)]);
    env.ns("east", &["site", "create", "east"]).ok();
    let generated = env.ns("west", &["link", "generate", "--proxy-configuration", "corp-proxy"]).ok();

    // Applying a Link whose proxy Secret exists nowhere is refused, nothing written.
    let out = apply(&env, "east", &generated.stdout).code(1);
    assert!(out.stdout.contains("Secret not found for proxy configuration"), "{out}");
    assert_eq!(env.resource_files("east"), ["Site-east.yaml"]);

    let secret = proxy_secret("corp-proxy", &squid.ip, squid.port, Some((USER, PASSWORD)));
    apply(&env, "east", &format!("{}{secret}", generated.stdout)).ok();
    env.start("west");
    let pid = env.start("east");
    wait_ready(&env, "east", LINK);

    // The Secret goes away while the site runs: the link is not configured, with upstream's text.
    env.run_with_input(&["-n", "east", "system", "delete", "-f", "-"], Some(&secret)).ok();
    let v = wait_message(&env, "east", LINK, "Secret not found for proxy configuration");
    let configured = v["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Configured").cloned();
    assert_eq!(configured.map(|c| (c["status"].clone(), c["reason"].clone())), Some(("False".into(), "Error".into())));
    let detail = env.ns("east", &["link", "status", LINK]).ok();
    assert!(detail.stdout.ends_with("Proxy\t: corp-proxy (Secret not found)\n"), "{detail}");

    apply(&env, "east", &secret).ok();
    wait_ready(&env, "east", LINK);
    assert_eq!(env.pid("east"), Some(pid), "the site was not restarted");
}
