//! `version`: this binary's version, the core library's, the link protocol's, the platform
//! commands work on and the OS/architecture of the build. Upstream prints only its own version;
//! the protocol version is what decides whether two sites can link.

use clap::Args;
use serde_json::json;

use super::validate::Problems;
use super::{CmdResult, check_output};
use crate::output;
use crate::platform::Platform;

/// `version`.
#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// print the versions instead of a table. Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
}

/// Go's names (`GOARCH`) for Rust's architectures, as krew's platform selectors use them.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// What `version -o json` prints.
pub(super) fn versions(platform: Platform) -> serde_json::Value {
    json!({
        "clientVersion": env!("CARGO_PKG_VERSION"),
        "coreVersion": skupper_core::VERSION,
        "linkProtocolVersion": skupper_router::PROTOCOL_VERSION,
        "platform": platform.to_string(),
        "os": std::env::consts::OS,
        "arch": go_arch(std::env::consts::ARCH),
    })
}

pub(super) fn run(platform: Platform, a: VersionArgs) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("this command does not need any arguments");
    }
    check_output(a.output.as_deref(), &mut problems);
    problems.finish()?;
    let v = versions(platform);
    if let Some(format) = &a.output {
        output::raw(output::document(format, &v)?)?;
        return Ok(());
    }
    let s = |k: &str| v[k].as_str().map(str::to_owned).unwrap_or_else(|| v[k].to_string());
    // Upstream v1's `client version` line, padded with spaces to column 32.
    let mut table = String::new();
    for (label, value) in [
        ("client version", s("clientVersion")),
        ("core version", s("coreVersion")),
        ("link protocol version", s("linkProtocolVersion")),
        ("platform", s("platform")),
        ("os/arch", format!("{}/{}", s("os"), s("arch"))),
    ] {
        table.push_str(&format!("{label:<31}{value}\n"));
    }
    output::raw(table)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_follow_krew_selectors() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }

    #[test]
    fn versions_name_the_protocol() {
        let v = versions(Platform::Local);
        assert_eq!(v["linkProtocolVersion"], serde_json::json!(skupper_router::PROTOCOL_VERSION));
        assert_eq!(v["platform"], "local");
        assert_eq!(v["coreVersion"], skupper_core::VERSION);
    }
}
