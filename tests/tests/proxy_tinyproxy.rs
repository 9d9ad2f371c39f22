//! Links through a real tinyproxy without authentication: traffic, switching the proxy off and on
//! with `link update --proxy-configuration`, and a TLS failure behind the proxy.
#![allow(missing_docs)]

mod proxy_support;

use proxy_support::{
    LINK, Tinyproxy, apply, echo_service, inter_router_port, payload, proxied_pair, proxy_secret, round_trip,
    wait_link, wait_ready,
};
use skupper_e2e::Env;

/// The CONNECT requests tinyproxy logged for `target`.
fn connects(proxy: &Tinyproxy, target: &str) -> usize {
    let request = format!("CONNECT {target} HTTP/1.1");
    proxy.log().lines().filter(|l| l.contains("Request (file descriptor") && l.ends_with(&request)).count()
}

/// The tunnels tinyproxy closed.
fn closed(proxy: &Tinyproxy) -> usize {
    proxy.log().lines().filter(|l| l.contains("Closed connection between local client")).count()
}

#[test]
fn link_through_tinyproxy_without_auth_and_switching_it_off_and_on() {
    let env = Env::new("tinyproxy");
    env.site_with_link_access("west");
    let port = inter_router_port(&env, "west");
    let proxy = Tinyproxy::start(&env, "tinyproxy", &[port]);
    proxied_pair(&env, "open-proxy", &proxy_secret("open-proxy", &proxy.ip, proxy.port, None));
    env.start("west");
    let pid = env.start("east");
    wait_ready(&env, "east", LINK);
    let target = format!("{}:{port}", env.ip);
    // The Ready link went through the proxy: at least one CONNECT (tinyproxy logs it when it
    // handles the request; a first attempt that failed on a loaded machine makes it more than
    // one). From here on the link stays up, so the count only changes with what the test does.
    let tunnels = skupper_e2e::wait_for("tinyproxy to log the link's CONNECT", proxy_support::LINK_WAIT, || {
        match connects(&proxy, &target) {
            0 => Err(proxy.log()),
            n => Ok(n),
        }
    });

    let front = echo_service(&env);
    let data = payload(1 << 20, 11);
    let back = round_trip(&env.ip, front, &data).unwrap();
    assert!(back == data, "echoed {} bytes, not the same", back.len());

    // Connect directly: the setting goes, the link reconnects without the proxy.
    let closed_before = closed(&proxy);
    let out = env.ns("east", &["link", "update", LINK, "--proxy-configuration", ""]).ok();
    assert_eq!(out.stdout, format!("Link \"{LINK}\" is updated\n"));
    let file = env.yaml(&env.resource("east", "Link", LINK));
    assert!(file["spec"]["settings"].get("proxy-configuration").is_none(), "{file}");
    let closed_after = skupper_e2e::wait_for("the link's tunnel to close", proxy_support::LINK_WAIT, || {
        let n = closed(&proxy);
        if n > closed_before { Ok(n) } else { Err(proxy.log()) }
    });
    let v = wait_link(&env, "east", LINK, "Ready without a proxy", |s, _| s == "Ready");
    assert!(v["status"].get("proxy").is_none(), "{v}");
    let detail = env.ns("east", &["link", "status", LINK]).ok();
    assert!(!detail.stdout.contains("Proxy"), "{detail}");
    let small = &data[..64 << 10];
    skupper_e2e::wait_for("traffic over the direct link", proxy_support::LINK_WAIT, || {
        let back = round_trip(&env.ip, front, small)?;
        if back == small { Ok(()) } else { Err(format!("echoed {} bytes, not the same", back.len())) }
    });
    assert_eq!((connects(&proxy, &target), closed(&proxy)), (tunnels, closed_after), "no new tunnel: {}", proxy.log());

    // And through the proxy again.
    let out = env.ns("east", &["link", "update", LINK, "--proxy-configuration", "nope"]).code(2);
    assert!(
        out.stdout.starts_with("the proxy configuration secret \"nope\" is not available in the namespace"),
        "{out}"
    );
    env.ns("east", &["link", "update", LINK, "--proxy-configuration", "open-proxy"]).ok();
    wait_ready(&env, "east", LINK);
    skupper_e2e::wait_for("a new CONNECT", proxy_support::LINK_WAIT, || {
        if connects(&proxy, &target) > tunnels { Ok(()) } else { Err(proxy.log()) }
    });
    skupper_e2e::wait_for("traffic through the proxy again", proxy_support::LINK_WAIT, || {
        let back = round_trip(&env.ip, front, small)?;
        if back == small { Ok(()) } else { Err(format!("echoed {} bytes, not the same", back.len())) }
    });
    assert_eq!(env.pid("east"), Some(pid), "the site was not restarted");
}

#[test]
fn tls_failure_behind_the_proxy_is_named() {
    let env = Env::new("tinyproxy-tls");
    env.site_with_link_access("west");
    // Point the link at west's grant server: TLS, but a certificate from another CA.
    let ports = env.yaml(&env.home("west").join("runtime").join("ports.yaml"));
    let grant = u16::try_from(ports["grantServer"].as_u64().unwrap()).unwrap();
    let proxy = Tinyproxy::start(&env, "tinyproxy", &[grant]);
    env.ns("east", &["site", "create", "east"]).ok();
    let generated = env.ns("west", &["link", "generate", "--proxy-configuration", "open-proxy"]).ok();
    let inter = format!("port: '{}'", inter_router_port(&env, "west"));
    assert!(generated.stdout.contains(&inter), "{}", generated.stdout);
    let wrong = generated.stdout.replace(&inter, &format!("port: '{grant}'"));
    apply(&env, "east", &format!("{wrong}{}", proxy_secret("open-proxy", &proxy.ip, proxy.port, None))).ok();
    env.start("west");
    env.start("east");
    let v = wait_link(&env, "east", LINK, "a TLS failure", |_, m| m.starts_with("TLS handshake failed"));
    let message = v["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("TLS handshake failed behind the proxy: the server's certificate is not trusted"),
        "{message}"
    );
}
