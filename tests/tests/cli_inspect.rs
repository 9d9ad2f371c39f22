//! `token inspect`: real token and link files made by the binary, decoded offline.
#![allow(missing_docs)]

use skupper_e2e::Env;

#[test]
fn inspect_shows_a_token_without_its_secret() {
    let env = Env::new("inspect");
    env.site_with_link_access("west");
    env.start("west");
    env.ns("west", &["token", "issue", "tok.yaml", "--expiration-window", "30m", "--cost", "3"]).ok();
    let token = env.yaml(&env.work.join("tok.yaml"));
    let code = token["spec"]["code"].as_str().unwrap().to_string();

    let out = env.run(&["token", "inspect", "tok.yaml"]).ok();
    assert!(out.stdout.contains("AccessToken"), "{out}");
    assert!(out.stdout.contains(token["spec"]["url"].as_str().unwrap()), "{out}");
    assert!(out.stdout.contains("Link cost\t: 3"), "{out}");
    assert!(out.stdout.contains("(VALID, in 29m") || out.stdout.contains("(VALID, in 30m"), "{out}");
    assert!(out.stdout.contains("CN=SkupperGrantServerCA"), "{out}");
    assert!(out.stdout.contains("Decoding is not verifying"), "{out}");
    assert!(!out.stdout.contains(&code), "the code must never be printed:\n{out}");

    let out = env.run(&["token", "inspect", "tok.yaml", "-o", "json"]).ok();
    // One document, ending with one newline (a shell prompt does not land after the brace).
    assert!(out.stdout.ends_with("}\n") && !out.stdout.ends_with("\n\n"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["kind"]["type"], "accessToken");
    assert_eq!(json["state"], "valid");
    assert_eq!(json["linkCost"], 3);
    let fp = json["ca"]["sha256Fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");

    // A link file from stdin: a credential, with the site CA.
    let link = env.ns("west", &["link", "generate"]).ok().stdout;
    let out = env.run_with_input(&["token", "inspect", "-"], Some(&link)).ok();
    assert!(out.stdout.contains("Link and Secret") && out.stdout.contains("CN=west site CA"), "{out}");
    assert!(out.stdout.contains("private key"), "{out}");
    assert!(!out.stdout.contains("BEGIN"), "no PEM, let alone the key:\n{out}");

    // Not a token: the report says why, and the exit code says it failed.
    let out = env.run_with_input(&["token", "inspect", "-"], Some("kind: ConfigMap\napiVersion: v1\n")).code(1);
    assert!(out.stdout.contains("not a token"), "{out}");
    env.run(&["token", "inspect", "tok.yaml", "-o", "xml"]).code(2);
    env.run(&["token", "inspect", "missing.yaml"]).code(1);
}
