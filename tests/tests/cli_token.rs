//! Token issue and redemption between real site processes on 127.0.0.1: success, and every
//! failure (used up, expired, altered code, wrong CA, issuing site down) exits 1 with its own
//! message and leaves nothing on the redeeming site.

use std::os::unix::fs::PermissionsExt as _;

use skupper_e2e::{Env, golden, redact};

/// Issues a token from `west` into `file` (in the work directory) and returns its name.
fn issue(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["token", "issue"];
    all.extend_from_slice(args);
    let out = env.ns("west", &all).ok();
    let token = env.yaml(&env.work.join(args[0]));
    let name = token["metadata"]["name"].as_str().expect("token name").to_string();
    assert!(out.stdout.contains(&format!("Grant \"{name}\" is ready")), "{out}");
    name
}

/// What the redeeming site holds: its resource file names.
fn only_site(env: &Env, ns: &str) {
    assert_eq!(env.resource_files(ns), [format!("Site-{ns}.yaml")], "{ns} must hold nothing but its Site");
}

#[test]
fn token_issue_and_redeem_between_two_sites() {
    let env = Env::new("token-flow");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    env.ns("south", &["site", "create", "south"]).ok();

    let out = env.ns("west", &["token", "issue", "tok.yaml", "--cost", "7"]).ok();
    golden("token_issue.txt", &redact(&out.stdout, &env));
    assert_eq!(out.stderr, "", "no warning while the site runs");
    let path = env.work.join("tok.yaml");
    let mode = std::fs::metadata(&path).expect("token file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token is a credential");
    let token = env.yaml(&path);
    let name = token["metadata"]["name"].as_str().expect("name").to_string();
    assert!(name.starts_with("west-") && name.len() == 5 + 36, "{name}");
    let url = token["spec"]["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("https://{}:", env.ip)), "{url}");
    assert!(token["spec"]["ca"].as_str().expect("ca").starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(token["spec"]["code"].as_str().map(str::len), Some(24));
    assert_eq!(token["spec"]["linkCost"], 7);
    let ann = &token["metadata"]["annotations"];
    assert_eq!(ann["kubectl-skupper.io/redemptions-allowed"], "1");
    assert_eq!(ann["kubectl-skupper.io/issuer-site"], "west");
    assert_eq!(ann["kubectl-skupper.io/grant-name"], name.as_str());
    assert!(ann["kubectl-skupper.io/expires-at"].as_str().is_some_and(|t| t.ends_with('Z')), "{ann}");
    // The grant exists on the issuing site, with its status.
    let grant = env.yaml(&env.resource("west", "AccessGrant", &name));
    assert_eq!(grant["spec"]["expirationWindow"], "15m0s");
    assert_eq!(grant["status"]["url"].as_str(), Some(url));

    let out = env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    assert_eq!(out.stdout, format!("Token \"{name}\" has been redeemed\n"));
    assert_eq!(
        env.resource_files("east"),
        [format!("Link-{name}.yaml"), format!("Secret-{name}.yaml"), "Site-east.yaml".into()]
    );
    let secret = env.yaml(&env.resource("east", "Secret", &name));
    assert_eq!(secret["type"], "kubernetes.io/tls");
    for k in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(secret["data"][k].as_str().is_some_and(|v| !v.is_empty()), "{k}");
    }
    let link = env.yaml(&env.resource("east", "Link", &name));
    assert_eq!(link["spec"]["cost"], 7, "linkCost applies to the redeemed Link");
    assert_eq!(link["spec"]["tlsCredentials"], name.as_str());
    assert_eq!(link["spec"]["endpoints"][0]["host"], env.ip.as_str());
    let grant = env.yaml(&env.resource("west", "AccessGrant", &name));
    assert_eq!(grant["status"]["redemptions"], 1);

    // Used twice: refused as used up, nothing written on the second site.
    let out = env.ns("south", &["token", "redeem", "tok.yaml"]).code(1);
    assert!(out.stdout.contains("is used up"), "{out}");
    assert!(out.stdout.contains("token issue"), "says what to do: {out}");
    only_site(&env, "south");
    // The same site again: refused locally, before using the grant.
    let out = env.ns("east", &["token", "redeem", "tok.yaml"]).code(1);
    assert!(out.stdout.contains("was already redeemed here"), "{out}");
}

#[test]
fn expired_token_is_refused() {
    let env = Env::new("token-expired");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let name = issue(&env, &["old.yaml", "--expiration-window", "1m"]);
    // Move the grant's stored expiry into the past (the grant server reads it per request).
    let path = env.resource("west", "AccessGrant", &name);
    let mut grant = env.yaml(&path);
    grant["status"]["expirationTime"] = "2000-01-01T00:00:00Z".into();
    std::fs::write(&path, serde_yaml::to_string(&grant).expect("yaml")).expect("edit grant");

    let out = env.ns("east", &["token", "redeem", "old.yaml"]).code(1);
    assert!(out.stdout.contains(&format!("Token \"{name}\" has expired")), "{out}");
    assert!(out.stdout.contains("new token"), "{out}");
    only_site(&env, "east");
    let grant = env.yaml(&path);
    assert!(grant["status"].get("redemptions").is_none(), "a refusal does not count: {grant}");
}

#[test]
fn altered_code_is_refused_and_does_not_use_the_token() {
    let env = Env::new("token-code");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let name = issue(&env, &["tok.yaml"]);
    let mut token = env.yaml(&env.work.join("tok.yaml"));
    token["spec"]["code"] = "AAAAAAAAAAAAAAAAAAAAAAAA".into();
    std::fs::write(env.work.join("bad.yaml"), serde_yaml::to_string(&token).expect("yaml")).expect("write");

    let out = env.ns("east", &["token", "redeem", "bad.yaml"]).code(1);
    assert!(out.stdout.contains(&format!("refused the code of token \"{name}\"")), "{out}");
    only_site(&env, "east");
    // The genuine token still works: the refusal did not use it up.
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
    assert_eq!(env.resource_files("east").len(), 3);
}

#[test]
fn token_with_another_ca_fails_tls() {
    let env = Env::new("token-ca");
    env.site_with_link_access("west");
    env.site_with_link_access("north");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    issue(&env, &["tok.yaml"]);
    env.ns("north", &["token", "issue", "north.yaml"]).ok();
    let mut token = env.yaml(&env.work.join("tok.yaml"));
    token["spec"]["ca"] = env.yaml(&env.work.join("north.yaml"))["spec"]["ca"].clone();
    std::fs::write(env.work.join("mixed.yaml"), serde_yaml::to_string(&token).expect("yaml")).expect("write");

    let out = env.ns("east", &["token", "redeem", "mixed.yaml"]).code(1);
    assert!(out.stdout.contains("TLS with the grant server"), "{out}");
    assert!(out.stdout.contains("not trusted by the token's CA"), "{out}");
    only_site(&env, "east");
}

#[test]
fn issuing_site_down_is_unreachable() {
    let env = Env::new("token-down");
    env.site_with_link_access("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let out = env.ns("west", &["token", "issue", "tok.yaml"]).ok();
    assert!(out.stderr.contains("not running"), "warns that the token cannot be redeemed yet: {out}");
    let out = env.ns("east", &["token", "redeem", "tok.yaml"]).code(1);
    assert!(out.stdout.contains("cannot be reached: connection refused"), "{out}");
    assert!(out.stdout.contains("system start"), "{out}");
    only_site(&env, "east");
    // Once the issuing site runs, the same token works.
    env.start("west");
    env.ns("east", &["token", "redeem", "tok.yaml"]).ok();
}

#[test]
fn token_issue_validation() {
    let env = Env::new("token-validation");
    env.ns("west", &["site", "create", "west"]).ok();
    let out = env
        .ns(
            "west",
            &[
                "token",
                "issue",
                "t.yaml",
                "--expiration-window",
                "30s",
                "--redemptions-allowed",
                "0",
                "--cost",
                "-2",
                "--timeout",
                "5s",
            ],
        )
        .code(2);
    assert_eq!(
        out.stdout,
        "You must enable link access for this site before you can create a token.\n\
         number of redemptions is not valid\n\
         expiration time is not valid: duration must not be less than 1m0s; got 30s\n\
         timeout is not valid: duration must not be less than 10s; got 5s\n\
         link cost is not valid: value is not positive\n"
    );
    let out = env.ns("west", &["token", "issue", "a b.yaml"]).code(2);
    assert!(
        out.stdout.starts_with(
            "token file name is not valid: value does not match this regular expression: ^[A-Za-z0-9./~-]+$"
        ),
        "{out}"
    );
    std::fs::create_dir(env.work.join("dir")).expect("mkdir");
    let out = env.ns("west", &["token", "issue", "dir"]).code(2);
    assert!(out.stdout.starts_with("token file name is a directory"), "{out}");
    let out = env.ns("west", &["token", "issue", "t.yaml", "--expiration-window", "soon"]).code(2);
    assert!(out.stdout.contains("invalid argument \"soon\" for \"--expiration-window\" flag"), "{out}");
    assert!(!env.work.join("t.yaml").exists());
    assert_eq!(env.resource_files("west"), ["Site-west.yaml"]);
}

#[test]
fn system_apply_of_a_token_redeems_it() {
    let env = Env::new("token-apply");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("east", &["site", "create", "east"]).ok();
    let name = issue(&env, &["tok.yaml"]);
    let out = env.ns("east", &["system", "apply", "-f", "tok.yaml"]).ok();
    assert_eq!(out.stdout, format!("AccessToken {name} redeemed\nCustom resources are applied.\n"));
    assert_eq!(env.resource_files("east").len(), 3, "Secret and Link, no AccessToken file");
}
