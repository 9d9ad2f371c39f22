//! A check of the crate's own structure: its modules (the files under `src/`) import each other
//! without a cycle, so that each one can be read, tested and changed above the ones it uses.
//!
//! Edges come from non-test code only: `crate::x` and `super::x` paths (and `use` groups of
//! them) where `x` is a module that `lib.rs` declares outside `#[cfg(test)]`. Comments and
//! `#[cfg(test)] mod tests { .. }` blocks are left out.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules `lib.rs` declares, but not those that exist only in tests.
fn modules(lib: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut test_only = false;
    for line in lib.lines().map(str::trim) {
        if line.starts_with("#[cfg(test)]") {
            test_only = true;
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let decl = line.strip_prefix("pub ").unwrap_or(line);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';'))
            && !test_only
        {
            out.insert(name.trim().to_string());
        }
        test_only = false;
    }
    out
}

/// `text` without comments (line and block) and without `#[cfg(test)] mod x { .. }` blocks.
/// String literals are kept as they are (a `//` inside one is rare here and only drops the rest
/// of that line).
fn code_only(text: &str) -> String {
    let mut no_comments = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            let c = rest.chars().next().unwrap();
            no_comments.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    let mut out = String::with_capacity(no_comments.len());
    let mut rest = no_comments.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        if item.starts_with("mod ")
            && let Some(open) = item.find('{')
            && item[..open].find(';').is_none()
        {
            rest = &item[open + block_len(&item[open..])..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The length of the `{ .. }` block `s` starts with (all of `s` when it does not close),
/// braces in string and character literals left out.
fn block_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    s.len()
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Every name `code` takes from the crate root: `crate::x`, `super::x`, and each element of
/// `crate::{x, y::z}` / `super::{..}` groups.
fn root_names(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["crate::", "super::"] {
        for (at, _) in code.match_indices(prefix) {
            // `$crate::` (a macro) and `foo::super::` are not paths from this module.
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0usize;
                let mut element_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => element_start = true,
                        c if c.is_whitespace() => {}
                        _ if element_start => {
                            out.insert(ident(&group[i..]).to_string());
                            element_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                out.insert(ident(rest).to_string());
            }
        }
    }
    out
}

/// A cycle of `graph`, as the modules along it (the first repeated at the end), if any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

/// The crate's module graph: module -> the modules its non-test code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mods = modules(&lib);
    let mut graph = BTreeMap::new();
    for m in &mods {
        let text = std::fs::read_to_string(src.join(format!("{m}.rs"))).unwrap();
        let uses = root_names(&code_only(&text)).into_iter().filter(|n| n != m && mods.contains(n)).collect();
        graph.insert(m.clone(), uses);
    }
    graph
}

#[test]
fn the_modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    let edges: Vec<String> =
        graph.iter().flat_map(|(m, uses)| uses.iter().map(move |u| format!("{m} -> {u}"))).collect();
    assert!(graph.len() > 10, "the modules of lib.rs were not found: {graph:?}");
    // `--nocapture` shows the graph.
    eprintln!("{} module edges:\n  {}", edges.len(), edges.join("\n  "));
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "the router's modules import each other in a circle: {}\n{} edges:\n  {}",
            cycle.join(" -> "),
            edges.len(),
            edges.join("\n  ")
        );
    }
}

/// The crate root imports every module, so a module that took a type or function defined in
/// `lib.rs` would close a circle through it: the plain data the root re-exports lives in
/// `model`, and modules name it there.
#[test]
fn no_module_takes_a_name_defined_in_the_crate_root() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mods = modules(&lib);
    let mut taken = Vec::new();
    for m in &mods {
        let text = std::fs::read_to_string(src.join(format!("{m}.rs"))).unwrap();
        for name in root_names(&code_only(&text)) {
            // A module path, or the root's own extern crates' paths (`crate::` + a module).
            if !mods.contains(&name) && !name.is_empty() {
                taken.push(format!("{m} takes {name}"));
            }
        }
    }
    assert!(taken.is_empty(), "modules take names from lib.rs: {taken:?}");
}

#[test]
fn the_parser_sees_paths_groups_and_skips_tests_and_comments() {
    let code = code_only(
        "use super::log::{Throttle, log};\n\
         use super::{LinkConfig, proxy, session};\n\
         use crate::limits::{self, Gate};\n\
         // use super::service;\n\
         /* crate::table */\n\
         fn f() { $crate::logs::write(); super::mux::start(); }\n\
         #[cfg(test)]\n\
         mod tests { use super::*; fn g() { crate::state::x(b'{', \"}\"); } }\n\
         fn h() {}\n",
    );
    let names = root_names(&code);
    assert!(!code.contains("state"), "the test module is left out: {code}");
    let want: BTreeSet<String> =
        ["log", "LinkConfig", "proxy", "session", "limits", "mux"].into_iter().map(String::from).collect();
    assert_eq!(names, want);
    assert!(code.contains("fn h()"), "code after the test module is kept: {code}");

    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&graph), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
