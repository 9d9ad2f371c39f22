//! Golden `--help` of every command: the tree is walked through the binary itself (each help's
//! `Commands:` list), every page is compared with `tests/golden/help/<name>.txt`, and the set of
//! golden files must equal the set of commands, so a new command without a golden file fails.
//!
//! Regenerate after a deliberate change: `UPDATE_GOLDEN=1 cargo test -p skupper-e2e --test help`
//! (stale files of removed commands are deleted too). The goldens are those of the default build
//! (with the `webhook` feature).
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use skupper_e2e::{Out, binary, remove_golden, run_command, update_goldens, write_golden};

/// Help is wrapped at this width (clap reads `COLUMNS` when stdout is not a terminal, and the
/// binary caps the width at 100 anyway).
const COLUMNS: &str = "100";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden").join("help")
}

/// Runs the binary with `args` in a neutral environment (no colour forced, fixed width, no
/// terminal), bounded in time.
fn run(args: &[&str]) -> Out {
    run_command(skupper_e2e::command(binary()).args(args).env("COLUMNS", COLUMNS), None)
}

/// The subcommands a help page lists under `Commands:`.
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // Entries are indented by two spaces; wrapped descriptions by more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Golden file name of a command path (cobra's doc naming): `kubectl-skupper_site_create`.
fn golden_name(path: &[String]) -> String {
    std::iter::once("kubectl-skupper").chain(path.iter().map(String::as_str)).collect::<Vec<_>>().join("_")
}

/// Every command path with its `--help` output, walked from the top (once per test process),
/// sorted by path.
fn command_tree() -> Vec<(Vec<String>, Out)> {
    static TREE: OnceLock<Vec<(Vec<String>, Out)>> = OnceLock::new();
    TREE.get_or_init(walk_tree).clone()
}

fn walk_tree() -> Vec<(Vec<String>, Out)> {
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut done = Vec::new();
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = run(&args);
        assert_eq!(out.code, 0, "kubectl-skupper {args:?}:\n{out}");
        for sub in listed_subcommands(&out.stdout) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        done.push((path, out));
        assert!(done.len() < 500, "the command tree does not end");
    }
    done.sort_by(|a, b| a.0.cmp(&b.0));
    done
}

fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  golden: {w:?}\n  actual: {g:?}", i + 1);
        }
    }
    format!("lengths differ: golden {} lines, actual {} lines", want.lines().count(), got.lines().count())
}

#[test]
fn help_of_every_command_matches_its_golden_file() {
    let dir = golden_dir();
    let tree = command_tree();
    // The tree really is walked: the top level and a few leaves of different depths.
    let names: BTreeSet<String> = tree.iter().map(|(p, _)| golden_name(p)).collect();
    for want in
        ["kubectl-skupper", "kubectl-skupper_site_create", "kubectl-skupper_token_redeem", "kubectl-skupper_version"]
    {
        assert!(names.contains(want), "{want} not found in {names:?}");
    }
    let mut mismatches = Vec::new();
    for (path, out) in &tree {
        let name = golden_name(path);
        let usage = format!("Usage: kubectl skupper{}", path.iter().map(|p| format!(" {p}")).collect::<String>());
        assert!(
            out.stdout.lines().any(|l| l == usage || l.starts_with(&format!("{usage} "))),
            "{name}: no line starting with {usage:?}:\n{}",
            out.stdout
        );
        assert!(!out.stdout.contains('\u{1b}'), "{name}: escape sequences (colour) in piped help:\n{}", out.stdout);
        assert_eq!(out.stderr, "", "{name}: help wrote to stderr");
        let file = dir.join(format!("{name}.txt"));
        if update_goldens() {
            write_golden(&file, &out.stdout);
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(want) if want == out.stdout => {}
            Ok(want) => mismatches.push(format!("{name}: {}", first_difference(&want, &out.stdout))),
            Err(e) => mismatches.push(format!("{name}: no golden file {} ({e})", file.display())),
        }
    }
    assert!(
        mismatches.is_empty(),
        "help differs from the golden files (if intended, regenerate with UPDATE_GOLDEN=1 cargo test -p skupper-e2e --test help):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn golden_files_are_exactly_the_commands() {
    let dir = golden_dir();
    let commands: BTreeSet<String> = command_tree().iter().map(|(p, _)| golden_name(p)).collect();
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|f| f.strip_suffix(".txt")).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if update_goldens() {
        for stale in files.difference(&commands) {
            remove_golden(&dir.join(format!("{stale}.txt")));
        }
        return;
    }
    let missing: Vec<_> = commands.difference(&files).collect();
    let stale: Vec<_> = files.difference(&commands).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "commands without a golden file: {missing:?}; golden files without a command: {stale:?} \
         (regenerate with UPDATE_GOLDEN=1 cargo test -p skupper-e2e --test help)"
    );
}

#[test]
fn short_help_of_every_command_has_the_same_usage_and_examples() {
    for (path, long) in command_tree() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let short = run(&args);
        assert_eq!(short.code, 0, "{args:?}:\n{short}");
        let usage = |s: &str| s.lines().find(|l| l.starts_with("Usage: ")).map(str::to_owned);
        assert_eq!(usage(&short.stdout), usage(&long.stdout), "{args:?}");
        assert!(usage(&short.stdout).is_some_and(|u| u.starts_with("Usage: kubectl skupper")), "{args:?}");
        // Every command teaches by example, in both forms of help.
        for text in [&short.stdout, &long.stdout] {
            let examples = text.split("\nExamples:\n").nth(1).unwrap_or_default();
            assert!(
                examples.lines().any(|l| l.trim_start().starts_with("kubectl skupper ")
                    || l.trim_start().starts_with("kubectl-skupper ")),
                "{args:?}: no example:\n{text}"
            );
        }
    }
}

#[test]
fn flags_with_defaults_say_so() {
    // Defaults from upstream's flag definitions (skupper.md §2.1, §3.1) are shown in help.
    let cases: &[(&[&str], &[&str])] = &[
        (&["token", "issue"], &["[default: 15m]", "[default: 1]", "[default: 60s]"]),
        (&["token", "redeem"], &["[default: 60s]"]),
        (&["link", "generate"], &["[default: yaml]", "[default: 1]"]),
        (&["site", "create"], &["(default: false)", "(default 127.0.0.1)"]),
        (&["listener", "create"], &["(default: the name)", "(default 127.0.0.1)"]),
        (&["system", "start"], &["[default: 60s]"]),
    ];
    for (path, wants) in cases {
        let mut args = path.to_vec();
        args.push("--help");
        let out = run(&args);
        for want in *wants {
            assert!(out.stdout.contains(want), "{path:?}: {want:?} missing:\n{}", out.stdout);
        }
    }
}

#[test]
fn upstream_commands_are_in_the_tree() {
    // The upstream surface (reference §3, §7): each must have a help page and a golden file.
    let paths: BTreeSet<String> = command_tree().into_iter().map(|(p, _)| p.join(" ")).collect();
    for want in [
        "site generate",
        "listener update",
        "listener generate",
        "connector update",
        "connector generate",
        "system reload",
        "system install",
        "system uninstall",
        "system generate-bundle",
        "debug dump",
    ] {
        assert!(paths.contains(want), "command {want:?} is missing from the help tree");
    }
}
