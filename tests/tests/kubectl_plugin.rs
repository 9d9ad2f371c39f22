//! `kubectl skupper` through the real kubectl: plugin discovery, dispatch, exit codes, and
//! completion (kubectl 1.26+ runs `kubectl_complete-skupper`); plus the shell completion
//! scripts `completion bash|zsh|fish` prints. No cluster is needed: kubectl only dispatches.
//!
//! Each test gets a directory holding `kubectl-skupper` (a link to the built binary: the target
//! directory itself also holds `kubectl-skupper.d`, which `kubectl plugin list` would report as
//! a broken plugin) and, for completion, `kubectl_complete-skupper`. PATH is that directory and
//! kubectl's own, nothing else, so plugins installed on this machine do not interfere.
#![allow(clippy::unwrap_used, missing_docs)]

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use skupper_e2e::{Env, Out, binary, run_command};

/// The oldest kubectl that completes plugin commands (`kubectl_complete-<plugin>`).
const KUBECTL_MIN: (u32, u32) = (1, 26);

/// The kubectl on PATH, checked once to be 1.26 or later; a clear failure when there is none or
/// it is older (these tests are about the real kubectl: not a skip).
fn kubectl() -> PathBuf {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL
        .get_or_init(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let found = std::env::split_paths(&path)
                .map(|d| d.join("kubectl"))
                .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0));
            let install = "Install kubectl 1.26 or later on PATH (Debian 12's kubernetes-client package is 1.20, \
                           too old); scripts/test.sh checks this first";
            let Some(kubectl) = found else {
                panic!("kubectl is not on PATH: these tests run the real kubectl to check plugin dispatch. {install}")
            };
            let out = run_command(skupper_e2e::command(&kubectl).args(["version", "--client", "-o", "json"]), None);
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
            let num =
                |k: &str| v["clientVersion"][k].as_str().and_then(|s| s.trim_end_matches('+').parse::<u32>().ok());
            match (num("major"), num("minor")) {
                (Some(major), Some(minor)) if (major, minor) >= KUBECTL_MIN => kubectl,
                (Some(major), Some(minor)) => {
                    panic!("{} is kubectl {major}.{minor}, older than 1.26. {install}", kubectl.display())
                }
                _ => panic!("cannot tell the version of {}:\n{out}\n{install}", kubectl.display()),
            }
        })
        .clone()
}

/// Runs `cmd` to completion within [`skupper_e2e::COMMAND_TIMEOUT`], collecting its output.
fn run_bounded(cmd: &mut Command) -> Out {
    run_command(cmd, None)
}

/// A PATH directory with the plugin in it, and a data directory for its sites.
struct Plugin {
    env: Env,
    bin_dir: PathBuf,
}

impl Plugin {
    fn new(tag: &str) -> Self {
        let env = Env::new(tag);
        let bin_dir = env.dir.join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(binary(), bin_dir.join("kubectl-skupper")).unwrap();
        Self { env, bin_dir }
    }

    fn path(&self) -> OsString {
        let kubectl_dir = kubectl().parent().unwrap().to_path_buf();
        std::env::join_paths([self.bin_dir.clone(), kubectl_dir]).unwrap()
    }

    /// `kubectl <args>` with only the plugin directory and kubectl's on PATH, no kubeconfig
    /// (the harness's hermetic environment).
    fn kubectl(&self, args: &[&str]) -> Out {
        run_bounded(self.env.command(kubectl()).args(args).env("PATH", self.path()).env("COLUMNS", "100"))
    }

    /// The plugin run directly (as `kubectl-skupper`), same environment.
    fn direct(&self, args: &[&str]) -> Out {
        run_bounded(
            self.env
                .command(self.bin_dir.join("kubectl-skupper"))
                .args(args)
                .env("PATH", self.path())
                .env("COLUMNS", "100"),
        )
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn kubectl_plugin_list_finds_kubectl_skupper() {
    let p = Plugin::new("kplugin-list");
    let out = p.kubectl(&["plugin", "list"]).ok();
    let want = p.bin_dir.join("kubectl-skupper");
    assert!(out.stdout.lines().any(|l| l.trim() == want.to_str().unwrap()), "{want:?} not listed:\n{out}");
    assert!(!out.stderr.contains("warning"), "kubectl warns about the plugin:\n{out}");
}

#[test]
fn kubectl_skupper_help_is_the_plugins_and_says_kubectl_skupper() {
    let p = Plugin::new("kplugin-help");
    let via = p.kubectl(&["skupper", "--help"]).ok();
    assert!(via.stdout.contains("\nUsage: kubectl skupper [OPTIONS] <COMMAND>\n"), "{via}");
    assert!(via.stdout.contains("\nCommands:\n  site "), "{via}");
    // kubectl forwards the arguments verbatim and the output untouched.
    assert_eq!(via.stdout, p.direct(&["--help"]).ok().stdout);
    let short = p.kubectl(&["skupper", "-h"]).ok();
    assert!(short.stdout.contains("Usage: kubectl skupper [OPTIONS] <COMMAND>"), "{short}");
    for (path, usage) in [
        (&["link", "status"][..], "Usage: kubectl skupper link status [OPTIONS] [NAME]"),
        (&["token", "issue"][..], "Usage: kubectl skupper token issue [OPTIONS] [FILE]"),
        (&["completion"][..], "Usage: kubectl skupper completion [OPTIONS] <SHELL>"),
    ] {
        let mut args = vec!["skupper"];
        args.extend_from_slice(path);
        args.push("--help");
        let out = p.kubectl(&args).ok();
        assert!(out.stdout.lines().any(|l| l == usage), "{usage:?} missing:\n{out}");
    }
}

#[test]
fn kubectl_skupper_version_reports_plugin_core_protocol_and_platform() {
    let p = Plugin::new("kplugin-version");
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let version = cargo.lines().find_map(|l| l.strip_prefix("version = \"")).unwrap().trim_end_matches('"');
    // The router's constant, read from its source so the test follows it.
    let proto = std::fs::read_to_string(repo().join("kubectl-plugin/router/src/proto.rs")).unwrap();
    let protocol: u64 = proto
        .lines()
        .find_map(|l| l.split_once("const PROTOCOL_VERSION: u32 = ").map(|(_, v)| v))
        .unwrap()
        .trim_end_matches(';')
        .parse()
        .unwrap();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };

    let text = p.kubectl(&["skupper", "version"]).ok().stdout;
    let expected = format!(
        "client version                 {version}\ncore version                   {}\n\
         link protocol version          {protocol}\nplatform                       local\n\
         os/arch                        {}/{arch}\n",
        skupper_core::VERSION,
        std::env::consts::OS
    );
    assert_eq!(text, expected);

    let json: serde_json::Value =
        serde_json::from_str(&p.kubectl(&["skupper", "version", "-o", "json"]).ok().stdout).unwrap();
    assert_eq!(json["clientVersion"], version);
    assert_eq!(json["coreVersion"], skupper_core::VERSION);
    assert_eq!(json["linkProtocolVersion"], protocol);
    assert_eq!(json["platform"], "local");
    assert_eq!(json["os"], std::env::consts::OS);
    assert_eq!(json["arch"], arch);
    let yaml: serde_json::Value =
        serde_yaml::from_str(&p.kubectl(&["skupper", "version", "--output", "yaml"]).ok().stdout).unwrap();
    assert_eq!(yaml, json);

    let out = p.kubectl(&["skupper", "version", "-o", "xml"]).code(2);
    assert_eq!(
        out.stdout,
        "output type is not valid: value xml not allowed. It should be one of this options: [json yaml]\n"
    );
    // --version (top level only) prints the plugin's version.
    let out = p.kubectl(&["skupper", "--version"]).ok();
    assert_eq!(out.stdout, format!("kubectl-skupper {version}\n"));
}

#[test]
fn exit_codes_and_streams_pass_through_kubectl() {
    let p = Plugin::new("kplugin-exit");
    // A command-line syntax error (clap): exit 2, on stderr, with the plugin's usage line.
    let out = p.kubectl(&["skupper", "site", "create", "--bogus"]).code(2);
    assert_eq!(out.stdout, "", "{out}");
    assert!(out.stderr.contains("unexpected argument '--bogus'"), "{out}");
    assert!(out.stderr.contains("Usage: kubectl skupper site create [OPTIONS] [NAME]"), "{out}");
    let out = p.kubectl(&["skupper", "bogus"]).code(2);
    assert!(out.stderr.contains("unrecognized subcommand 'bogus'"), "{out}");
    let out = p.kubectl(&["skupper", "completion"]).code(2);
    assert!(out.stderr.contains("<SHELL>"), "{out}");
    // A command's own input checks: exit 2, on stdout (as upstream).
    let out = p.kubectl(&["skupper", "site", "status", "-o", "xml"]).code(2);
    assert_eq!(
        out.stdout,
        "output type is not valid: value xml not allowed. It should be one of this options: [json yaml]\n"
    );
    let out = p.kubectl(&["skupper", "link", "update"]).code(2);
    assert!(out.stdout.contains("there is no skupper site in this namespace"), "{out}");
    // The command could not do its work: exit 1.
    let out = p.kubectl(&["skupper", "--platform", "kubernetes", "site", "status"]).code(1);
    assert!(out.stdout.contains("no Kubernetes configuration found"), "{out}");
    // Success; status and notes are kept apart (the hint goes to stderr).
    p.kubectl(&["skupper", "-n", "west", "site", "create", "west"]).ok();
    let out = p.kubectl(&["skupper", "-n", "west", "site", "status", "-o", "json"]).ok();
    let site: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(site["kind"], "Site");
    assert!(out.stderr.contains("kubectl skupper -n west system start"), "{out}");
    for o in [&out.stdout, &out.stderr] {
        assert!(!o.contains('\u{1b}'), "escape sequences in piped output:\n{out}");
    }
}

/// `kubectl __complete skupper <words>`: what kubectl's shell completion asks for.
fn kubectl_complete(p: &Plugin, words: &[&str]) -> (Vec<String>, String) {
    let mut args = vec!["__complete", "skupper"];
    args.extend_from_slice(words);
    let out = p.kubectl(&args).ok();
    let mut lines: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    let directive = lines.pop().unwrap_or_default();
    let values = lines.iter().map(|l| l.split('\t').next().unwrap_or_default().to_owned()).collect();
    (values, directive)
}

#[test]
fn kubectl_completes_kubectl_skupper_with_kubectl_complete_skupper() {
    let p = Plugin::new("kplugin-complete");
    p.env.ns("west", &["site", "create", "west"]).ok();
    p.env.ns("west", &["listener", "create", "backend", "8080"]).ok();
    p.env.ns("west", &["connector", "create", "db", "5432"]).ok();

    // Without kubectl_complete-skupper kubectl has nothing to offer after the plugin name.
    assert_eq!(kubectl_complete(&p, &["li"]).0, Vec::<String>::new());

    // `completion kubectl` prints the script to install.
    let script = p.direct(&["completion", "kubectl"]).ok().stdout;
    let installed = p.bin_dir.join("kubectl_complete-skupper");
    std::fs::write(&installed, &script).unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let check = |label: &str| {
        assert_eq!(kubectl_complete(&p, &["li"]), (vec!["link".into(), "listener".into()], ":4".into()), "{label}");
        let (v, _) = kubectl_complete(&p, &[""]);
        for want in ["site", "link", "token", "listener", "connector", "system", "version", "completion"] {
            assert!(v.contains(&want.to_string()), "{label}: {want} missing from {v:?}");
        }
        assert_eq!(kubectl_complete(&p, &["link", "st"]).0, ["status"], "{label}");
        assert_eq!(kubectl_complete(&p, &["token", "issue", "--red"]).0, ["--redemptions-allowed"], "{label}");
        assert_eq!(kubectl_complete(&p, &["site", "status", "-o", ""]).0, ["json", "yaml"], "{label}");
        // Names of what exists in the namespace given on the line.
        assert_eq!(kubectl_complete(&p, &["-n", "west", "listener", "delete", ""]).0, ["backend"], "{label}");
        // Without -n: the default namespace, which has none.
        assert_eq!(kubectl_complete(&p, &["connector", "status", ""]).0, Vec::<String>::new(), "{label}");
        assert_eq!(kubectl_complete(&p, &["--namespace=west", "connector", "status", ""]).0, ["db"], "{label}");
        assert_eq!(kubectl_complete(&p, &["-n", ""]).0, ["west"], "{label}");
        // File arguments: no candidates, and the shell completes file names (cobra directive 0).
        assert_eq!(kubectl_complete(&p, &["token", "redeem", ""]), (vec![], ":0".into()), "{label}");
    };
    check("script");

    // A link named kubectl_complete-skupper to the binary works the same.
    std::fs::remove_file(&installed).unwrap();
    std::os::unix::fs::symlink(binary(), &installed).unwrap();
    check("symlink");
}

#[test]
fn completion_scripts_are_valid_and_complete_subcommands() {
    let p = Plugin::new("kplugin-shells");
    let bash = p.direct(&["completion", "bash"]).ok().stdout;
    let file = p.env.dir.join("kubectl-skupper.bash");
    std::fs::write(&file, &bash).unwrap();
    let out = run_bounded(Command::new("bash").arg("-n").arg(&file));
    assert_eq!(out.code, 0, "bash -n rejects the script:\n{out}");
    // Really complete, as bash's programmable completion would call the function.
    let probe = format!(
        "source {file:?}\n\
         complete -p kubectl-skupper\n\
         COMP_WORDS=(kubectl-skupper link st); COMP_CWORD=2\n\
         \"$(complete -p kubectl-skupper | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\" kubectl-skupper st link\n\
         printf 'reply:%s\\n' \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(kubectl-skupper li); COMP_CWORD=1\n\
         \"$(complete -p kubectl-skupper | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\" kubectl-skupper li kubectl-skupper\n\
         printf 'reply:%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let out = run_bounded(Command::new("bash").arg("-c").arg(&probe));
    assert_eq!(out.code, 0, "{out}");
    let replies: Vec<&str> = out.stdout.lines().filter_map(|l| l.strip_prefix("reply:")).collect();
    assert_eq!(replies, ["status", "link", "listener"], "{out}");

    let zsh = p.direct(&["completion", "zsh"]).ok().stdout;
    assert!(zsh.starts_with("#compdef kubectl-skupper\n"), "{zsh}");
    let fish = p.direct(&["completion", "fish"]).ok().stdout;
    assert!(fish.contains("complete -c kubectl-skupper "), "{fish}");
    for sub in
        ["site", "link", "token", "listener", "connector", "system", "version", "completion", "redeem", "generate"]
    {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh script does not name {sub}");
        assert!(fish.contains(&format!("-a \"{sub}\"")), "fish script does not name {sub}");
    }
}

/// Whether `shell` runs here; when it does not, the calling test is a counted skip (a failure
/// under `REQUIRE_ALL_TESTS=1`: scripts/install-test-deps.sh installs zsh and fish).
fn shell_or_skip(test: &str, shell: &str) -> bool {
    let status = Command::new(shell).arg("-c").arg("exit 0").status();
    let runs = status.as_ref().is_ok_and(|s| s.success());
    if !runs {
        let why = match status {
            Ok(s) => format!("`{shell} -c 'exit 0'` ended with {s}"),
            Err(e) => e.to_string(),
        };
        skupper_e2e::skip(
            test,
            &format!(
                "{shell} is missing or does not run ({why}): apt-get install {shell} (scripts/install-test-deps.sh)"
            ),
        );
    }
    runs
}

#[test]
fn zsh_accepts_the_zsh_completion_script() {
    if !shell_or_skip("zsh_accepts_the_zsh_completion_script", "zsh") {
        return;
    }
    let p = Plugin::new("kplugin-zsh");
    let zsh = p.direct(&["completion", "zsh"]).ok().stdout;
    let f = p.env.dir.join("_kubectl-skupper");
    std::fs::write(&f, &zsh).unwrap();
    let out = run_bounded(Command::new("zsh").arg("-n").arg(&f));
    assert_eq!(out.code, 0, "zsh -n rejects the script:\n{out}");
    // A script zsh rejects: the check itself works.
    std::fs::write(&f, "_kubectl-skupper() {\n  case $x in\n}\n").unwrap();
    let out = run_bounded(Command::new("zsh").arg("-n").arg(&f));
    assert_ne!(out.code, 0, "zsh -n accepted a broken script:\n{out}");
}

#[test]
fn fish_completes_subcommands_with_the_fish_completion_script() {
    if !shell_or_skip("fish_completes_subcommands_with_the_fish_completion_script", "fish") {
        return;
    }
    let p = Plugin::new("kplugin-fish");
    let fish = p.direct(&["completion", "fish"]).ok().stdout;
    let f = p.env.dir.join("kubectl-skupper.fish");
    std::fs::write(&f, &fish).unwrap();
    let out = run_bounded(
        Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(format!("source {f:?}; complete -C 'kubectl-skupper li'")),
    );
    assert_eq!(out.code, 0, "{out}");
    let values: Vec<&str> = out.stdout.lines().map(|l| l.split('\t').next().unwrap_or_default()).collect();
    assert_eq!(values, ["link", "listener"], "{out}");
}
