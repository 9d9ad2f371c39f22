//! Shell completion. `completion bash|zsh|fish` prints clap_complete's script for
//! `kubectl-skupper` typed directly; `completion kubectl` prints the `kubectl_complete-skupper`
//! script that kubectl (1.26 or later) runs for `kubectl skupper <TAB>`. That script calls the
//! hidden `kubectl-skupper __complete <words...> <partial word>`, which answers in cobra's
//! protocol (kubectl's plugin completion expects it): one candidate per line as
//! `value<TAB>description`, then `:<directive>`.

use std::ffi::OsString;

use clap::{Arg, Args, Command, ValueEnum, ValueHint};

use super::CmdResult;
use crate::output;
use crate::platform::DEFAULT_NAMESPACE;
use crate::platform::local::{Home, base_dir};

/// The name of the executable kubectl looks for on PATH to complete `kubectl skupper ...`.
pub(super) const KUBECTL_COMPLETE_NAME: &str = "kubectl_complete-skupper";

/// The hidden subcommand the kubectl completion script calls (cobra's name for it).
pub(super) const PROTOCOL_COMMAND: &str = "__complete";

/// `completion`.
#[derive(Debug, Args)]
pub(crate) struct CompletionArgs {
    /// The shell; `kubectl` prints the kubectl_complete-skupper script for `kubectl skupper <TAB>`
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

/// Shells `completion` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Shell {
    /// bash 4 or later.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
    /// kubectl's plugin completion (kubectl 1.26 or later, any shell kubectl completes in).
    Kubectl,
}

/// The `kubectl_complete-skupper` script.
pub(super) const KUBECTL_SCRIPT: &str = "\
#!/bin/sh
# kubectl_complete-skupper: completes `kubectl skupper ...` (kubectl 1.26 or later runs it with
# the words after `kubectl skupper`). Install it as an executable file on PATH, e.g. next to
# the plugin:
#   kubectl-skupper completion kubectl > ~/.krew/bin/kubectl_complete-skupper
#   chmod +x ~/.krew/bin/kubectl_complete-skupper
exec kubectl-skupper __complete \"$@\"
";

pub(super) fn run(a: CompletionArgs) -> CmdResult {
    let shell = match a.shell {
        Shell::Kubectl => return Ok(output::raw(KUBECTL_SCRIPT)?),
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    output::raw(script(shell))?;
    Ok(())
}

/// clap_complete's script for `kubectl-skupper`.
fn script(shell: clap_complete::Shell) -> String {
    // clap_complete 4.6's bash script turns the `-` of a binary name into `__` in one place and
    // into `__subcmd__` in another, so no subcommand would complete: generate it for a name
    // without `-`, then register it for the real one.
    let (name, bash) = ("kubectl_skupper", shell == clap_complete::Shell::Bash);
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut super::command(), if bash { name } else { "kubectl-skupper" }, &mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    if bash { text.replace(&format!(" -o default {name}\n"), " -o default kubectl-skupper\n") } else { text }
}

/// Cobra's `ShellCompDirectiveDefault`: the shell may complete file names.
const FILES: u32 = 0;
/// Cobra's `ShellCompDirectiveNoFileComp`: only the candidates given.
const NO_FILES: u32 = 4;

/// Candidates for the word being completed, and what the shell may do besides.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Completion {
    /// `(value, description)`, in the order to show.
    pub candidates: Vec<(String, String)>,
    /// A cobra `ShellCompDirective`.
    pub directive: u32,
}

impl Completion {
    fn none() -> Self {
        Self { candidates: Vec::new(), directive: NO_FILES }
    }

    /// Cobra's wire format.
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        for (value, desc) in &self.candidates {
            out.push_str(value);
            if !desc.is_empty() {
                out.push('\t');
                out.push_str(desc);
            }
            out.push('\n');
        }
        out.push_str(&format!(":{}\n", self.directive));
        out
    }
}

/// `__complete` (or the program run as `kubectl_complete-skupper`): `words` are the words after
/// `kubectl skupper`, the last one being the word under the cursor (empty for a new word).
pub(super) fn run_protocol(words: &[OsString]) -> CmdResult {
    let words: Vec<String> = words.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    output::raw(complete(&words).render())?;
    Ok(())
}

fn first_line(s: Option<&clap::builder::StyledStr>) -> String {
    let text = s.map(ToString::to_string).unwrap_or_default();
    let line = text.lines().next().unwrap_or_default().trim();
    line.strip_suffix('.').unwrap_or(line).to_string()
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

fn by_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name)))
}

fn by_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// What the words before the cursor say.
struct Walk<'a> {
    cmd: &'a Command,
    /// Subcommand names from the top.
    path: Vec<String>,
    /// Positionals given to `cmd`.
    positionals: usize,
    /// A flag whose value is the word under the cursor.
    pending: Option<&'a Arg>,
    namespace: Option<String>,
}

fn walk<'a>(root: &'a Command, words: &[String]) -> Walk<'a> {
    let mut w = Walk { cmd: root, path: Vec::new(), positionals: 0, pending: None, namespace: None };
    let mut only_positionals = false;
    for word in words {
        if let Some(arg) = w.pending.take() {
            if arg.get_id() == "namespace" {
                w.namespace = Some(word.clone());
            }
            continue;
        }
        if !only_positionals && word == "--" {
            only_positionals = true;
        } else if !only_positionals && let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if let Some(arg) = by_long(w.cmd, name).filter(|a| takes_value(a)) {
                match value {
                    None => w.pending = Some(arg),
                    Some(v) if arg.get_id() == "namespace" => w.namespace = Some(v.to_string()),
                    Some(_) => {}
                }
            }
        } else if !only_positionals && word.len() > 1 && word.starts_with('-') {
            // A cluster of short flags (`-o`, `-nwest`, `-n west`).
            for (i, c) in word.char_indices().skip(1) {
                if let Some(arg) = by_short(w.cmd, c).filter(|a| takes_value(a)) {
                    let rest = &word[i + c.len_utf8()..];
                    if rest.is_empty() {
                        w.pending = Some(arg);
                    } else if arg.get_id() == "namespace" {
                        w.namespace = Some(rest.to_string());
                    }
                    break;
                }
            }
        } else if w.positionals == 0
            && let Some(sub) = w.cmd.find_subcommand(word)
        {
            w.cmd = sub;
            w.path.push(sub.get_name().to_string());
        } else {
            w.positionals += 1;
        }
    }
    w
}

fn filtered(values: impl IntoIterator<Item = (String, String)>, prefix: &str) -> Vec<(String, String)> {
    values.into_iter().filter(|(v, _)| v.starts_with(prefix)).collect()
}

/// Names of resources already in the namespace (`link status <TAB>`), or of namespaces.
fn names(what: &str, namespace: Option<&str>) -> Vec<String> {
    if what == "namespace" {
        let dir = match base_dir() {
            Ok(b) => b.join("namespaces"),
            Err(_) => return Vec::new(),
        };
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        return v;
    }
    let ns = namespace.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_NAMESPACE);
    let Ok(home) = Home::new(ns) else { return Vec::new() };
    let Ok((res, _)) = home.load_lenient() else { return Vec::new() };
    match what {
        "site" => res.site.iter().map(|s| s.name().to_string()).collect(),
        "link" => res.links.keys().cloned().collect(),
        "listener" => res.listeners.keys().cloned().collect(),
        "connector" => res.connectors.keys().cloned().collect(),
        "multikeylistener" => res.multi_key_listeners.keys().cloned().collect(),
        "secret" => res.secrets.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Values for `arg`, `None` when the shell should complete file names.
fn values(arg: &Arg, namespace: Option<&str>) -> Option<Vec<(String, String)>> {
    let file_name = arg.get_value_names().is_some_and(|n| n.iter().any(|v| v.as_str().starts_with("FILE")));
    if file_name || matches!(arg.get_value_hint(), ValueHint::FilePath | ValueHint::AnyPath | ValueHint::DirPath) {
        return None;
    }
    let plain = |v: &[&str]| v.iter().map(|s| ((*s).to_string(), String::new())).collect();
    let from_names = |what: &str| names(what, namespace).into_iter().map(|n| (n, String::new())).collect();
    Some(match arg.get_id().as_str() {
        "output" => plain(&crate::output::OUTPUT_TYPES),
        "platform" => plain(&["local", "kubernetes"]),
        "namespace" => from_names("namespace"),
        "tls_credentials" => from_names("secret"),
        "type_" => plain(&["tcp"]),
        "bundle_type" => plain(&["tarball"]),
        "reload_type" => plain(&["auto"]),
        _ => arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| (p.get_name().to_string(), first_line(p.get_help())))
            .collect(),
    })
}

/// The candidates for the last of `words` (cobra's `__complete` semantics).
pub(super) fn complete(words: &[String]) -> Completion {
    let mut root = super::command();
    root.build();
    let (current, before) = match words.split_last() {
        Some((c, b)) => (c.as_str(), b),
        None => ("", &[][..]),
    };
    let w = walk(&root, before);
    let ns = w.namespace.as_deref();
    if let Some(arg) = w.pending {
        return match values(arg, ns) {
            Some(v) => Completion { candidates: filtered(v, current), directive: NO_FILES },
            None => Completion { candidates: Vec::new(), directive: FILES },
        };
    }
    if let Some(long) = current.strip_prefix("--")
        && let Some((name, partial)) = long.split_once('=')
    {
        let Some(arg) = by_long(w.cmd, name) else { return Completion::none() };
        return match values(arg, ns) {
            Some(v) => Completion {
                candidates: filtered(v, partial).into_iter().map(|(v, d)| (format!("--{name}={v}"), d)).collect(),
                directive: NO_FILES,
            },
            None => Completion { candidates: Vec::new(), directive: FILES },
        };
    }
    if current.starts_with('-') {
        let flags = w
            .cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| (format!("--{l}"), first_line(a.get_help()))));
        return Completion { candidates: filtered(flags, current), directive: NO_FILES };
    }
    if w.cmd.has_subcommands() {
        if w.positionals > 0 {
            return Completion::none();
        }
        let subs = w
            .cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| (s.get_name().to_string(), first_line(s.get_about())));
        return Completion { candidates: filtered(subs, current), directive: NO_FILES };
    }
    let Some(arg) = w.cmd.get_positionals().filter(|a| !a.is_hide_set()).nth(w.positionals) else {
        return Completion::none();
    };
    let path: Vec<&str> = w.path.iter().map(String::as_str).collect();
    let existing = match (path.as_slice(), w.positionals) {
        ([group @ ("link" | "listener" | "connector" | "multikeylistener"), "status" | "update" | "delete"], 0) => {
            Some(*group)
        }
        (["site", "update" | "delete"], 0) => Some("site"),
        _ => None,
    };
    if let Some(what) = existing {
        let v = names(what, ns).into_iter().map(|n| (n, String::new()));
        return Completion { candidates: filtered(v, current), directive: NO_FILES };
    }
    match values(arg, ns) {
        Some(v) => Completion { candidates: filtered(v, current), directive: NO_FILES },
        None => Completion { candidates: Vec::new(), directive: FILES },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s.split(' ').map(str::to_owned).collect();
        if s.is_empty() {
            v = vec![String::new()];
        }
        v
    }

    fn values_of(c: &Completion) -> Vec<&str> {
        c.candidates.iter().map(|(v, _)| v.as_str()).collect()
    }

    #[test]
    fn new_upstream_commands_complete() {
        for (line, want) in [
            ("listener ", "update"),
            ("listener ", "generate"),
            ("connector ", "update"),
            ("connector ", "generate"),
            ("site ", "generate"),
            ("system ", "reload"),
            ("system ", "install"),
            ("system ", "uninstall"),
            ("system ", "generate-bundle"),
            ("", "debug"),
            ("debug ", "dump"),
            ("listener update x --type ", "tcp"),
        ] {
            assert!(values_of(&complete(&words(line))).contains(&want), "{line:?} should offer {want}");
        }
    }

    #[test]
    fn top_level_commands() {
        let c = complete(&words(""));
        let v = values_of(&c);
        for want in ["site", "link", "token", "listener", "connector", "system", "version", "completion"] {
            assert!(v.contains(&want), "{want} missing from {v:?}");
        }
        assert!(!v.iter().any(|x| x.starts_with("__")), "{v:?}");
        assert_eq!(c.directive, NO_FILES);
        assert_eq!(values_of(&complete(&words("li"))), ["link", "listener"]);
    }

    #[test]
    fn subcommands_flags_and_values() {
        assert_eq!(values_of(&complete(&words("link st"))), ["status"]);
        assert_eq!(values_of(&complete(&words("-n west token is"))), ["issue"]);
        let c = complete(&words("token issue --exp"));
        assert_eq!(values_of(&c), ["--expiration-window"]);
        assert_eq!(c.candidates[0].1, "The period of time in which an access token for this grant can be redeemed");
        assert_eq!(values_of(&complete(&words("site status -o "))), ["json", "yaml"]);
        assert_eq!(values_of(&complete(&words("site status --output=j"))), ["--output=json"]);
        assert_eq!(values_of(&complete(&words("completion "))), ["bash", "zsh", "fish", "kubectl"]);
        assert_eq!(values_of(&complete(&words("--platform l"))), ["local"]);
    }

    #[test]
    fn file_arguments_leave_completion_to_the_shell() {
        for w in ["token redeem ", "token issue ", "token inspect ", "system apply -f ", "system apply --filename="] {
            let c = complete(&words(w));
            assert_eq!(c, Completion { candidates: vec![], directive: FILES }, "{w}");
        }
        // A value that is not a file: nothing, and no file names either.
        assert_eq!(complete(&words("link generate --cost ")), Completion::none());
        assert_eq!(complete(&words("site bogus ")), Completion::none());
    }

    #[test]
    fn bash_script_registers_for_the_binary_name() {
        let text = script(clap_complete::Shell::Bash);
        assert_eq!(text.matches("-o default kubectl-skupper\n").count(), 2, "{text}");
        assert!(!text.contains("kubectl__subcmd__"), "{text}");
        assert!(text.contains("kubectl_skupper__subcmd__link__subcmd__status)"), "{text}");
    }

    #[test]
    fn wire_format_is_cobras() {
        let c =
            Completion { candidates: vec![("a".into(), "first".into()), ("b".into(), String::new())], directive: 4 };
        assert_eq!(c.render(), "a\tfirst\nb\n:4\n");
    }

    #[test]
    fn kubectl_script_calls_the_protocol() {
        assert!(KUBECTL_SCRIPT.starts_with("#!/bin/sh\n"));
        assert!(KUBECTL_SCRIPT.contains(&format!("exec kubectl-skupper {PROTOCOL_COMMAND} \"$@\"")));
    }
}
