//! A site's log file has one format, whatever wrote the line (the site process, its router, its
//! grant server, its connection gates): `<UTC time with milliseconds> <component>: <message>`,
//! then the fields of the link the event belongs to, if any. Read after a token
//! was redeemed with a wrong code and then the right one, a link came up and a connection
//! crossed it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use skupper_e2e::{Env, echo_once, echo_server, free_port, wait_for};

const LINK_UP: Duration = Duration::from_secs(30);

/// `(component, message)` of a line in the one format, or why it is not in it.
fn parse(line: &str) -> Result<(&str, &str), String> {
    let (time, rest) = line.split_once(' ').ok_or("no space after the time")?;
    let b = time.as_bytes();
    let shape = time.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(format!("time {time:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ"));
    }
    let (component, message) = rest.split_once(": ").ok_or("no `component: ` after the time")?;
    if component.is_empty() || !component.chars().all(|c| c.is_ascii_lowercase() || c == ' ' || c == '-') {
        return Err(format!("component {component:?} is not a lower-case name"));
    }
    if message.trim().is_empty() {
        return Err("empty message".into());
    }
    Ok((component, message))
}

#[test]
fn every_line_of_a_site_log_has_one_format() {
    let env = Env::new("site-log");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("west", &["token", "issue", "tok.yaml"]).ok();
    // A wrong code first: the grant server logs it.
    let token = std::fs::read_to_string(env.work.join("tok.yaml")).unwrap();
    let code = token.lines().find_map(|l| l.trim().strip_prefix("code: ")).expect("the token's code").to_string();
    std::fs::write(env.work.join("wrong.yaml"), token.replace(&code, "wrongwrongwrongwrongwrong")).unwrap();
    let out = env.ns("east", &["token", "redeem", "wrong.yaml"]);
    assert!(!out.succeeded(), "a wrong code is refused: {out}");
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    env.start("east");

    let backend = echo_server(&env.ip);
    let front = free_port(&env.ip);
    let (b, f) = (backend.to_string(), front.to_string());
    env.ns("west", &["connector", "create", "backend", &b, "--routing-key", "echo", "--host", &env.ip]).ok();
    env.ns("east", &["listener", "create", "front", &f, "--routing-key", "echo", "--host", &env.ip]).ok();
    wait_for("echo through the link", LINK_UP, || {
        let got = echo_once(&env.ip, front, "one format")?;
        if got == "one format" { Ok(()) } else { Err(format!("got {got:?}")) }
    });

    let mut components = std::collections::BTreeSet::new();
    for ns in ["west", "east"] {
        let log = env.log(ns);
        assert!(log.lines().count() >= 3, "{ns} logged: {log}");
        for line in log.lines() {
            let (component, _) = parse(line).unwrap_or_else(|e| panic!("{ns}: {e}: {line:?}\nwhole log:\n{log}"));
            components.insert(component.to_string());
        }
    }
    // The site process, its router and its grant server all wrote into the same format.
    for c in ["site", "router", "grant server"] {
        assert!(components.contains(c), "no line of component {c:?}: {components:?}");
    }
    let west = env.log("west");
    assert!(west.lines().any(|l| l.contains("grant server: wrong code for grant")), "{west}");
    // The link's lines carry the link's span: its name and where it dials.
    let link = env
        .resource_files("east")
        .into_iter()
        .find_map(|f| f.strip_prefix("Link-").and_then(|f| f.strip_suffix(".yaml")).map(str::to_string));
    let link = link.expect("the redeemed token made a Link");
    let east = env.log("east");
    let tagged = format!("[link={link} peer={}:", env.ip);
    assert!(east.lines().any(|l| l.contains(" router: ") && l.contains(&tagged)), "no line with {tagged}: {east}");
}

#[test]
fn the_line_format_is_checked() {
    assert!(parse("2026-11-29T20:01:02.345Z router: link to-west is up").is_ok());
    assert!(parse("2026-11-29T20:01:02.345Z grant server: redeemed [link=a]").is_ok());
    assert!(parse("2026-11-29T20:01:02Z router: no milliseconds").is_err());
    assert!(parse("2026-11-29T20:01:02.345Z site stopped").is_err(), "no component");
    assert!(parse("webhook: no time").is_err());
    assert!(parse("2026-11-29T20:01:02.345Z Router: upper case").is_err());
}
