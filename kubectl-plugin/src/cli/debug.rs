//! `debug dump [FILE]`: a gzip-compressed tarball of what it takes to look into a site: its
//! resources as stored, as observed (with status), what its routers report, its logs and state
//! files (local platform) and `version`. Secrets keep their keys; every value is replaced, and
//! so are token and grant codes, so the dump can be shared.

use clap::{Args, Subcommand};
use serde_json::Value;
use skupper_core::resources::Resource;

use super::validate::Problems;
use super::{CmdResult, Ctx, fail};
use crate::output;
use crate::platform::local;
use crate::platform::resources::Resources;

/// What replaces a secret value.
pub(super) const REDACTED: &str = "REDACTED";

/// `debug ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DebugCommand {
    /// Write a tarball of the site's resources, statuses, logs and version, secrets redacted
    #[command(long_about = DUMP_LONG, after_help = DUMP_AFTER)]
    Dump(DumpArgs),
}

/// `debug dump`.
#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// The file to write (default: skupper-dump-<namespace>-<time>.tar.gz)
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
}

/// Long help of `debug`.
pub(super) const DEBUG_LONG: &str = "Debug tools for a site.";

/// Examples of `debug`.
pub(super) const DEBUG_AFTER: &str = "\
Examples:
  kubectl skupper -n west debug dump";

/// Long help of `debug dump`.
pub(super) const DUMP_LONG: &str = "\
Write a gzip-compressed tarball with what it takes to look into the site of the namespace: \
version.yaml (this program), resources/ (as stored), status/ (as the site reports them), \
routers.json (what each running router reports), README.txt and, on the local platform, logs/ \
(router logs) and runtime/ (state files). Secret values, token codes and grant codes are \
replaced by REDACTED (keys kept), so the dump can be shared. On Kubernetes, collect pod logs \
with kubectl logs.";

/// Examples of `debug dump`.
pub(super) const DUMP_AFTER: &str = "\
Examples:
  kubectl skupper -n west debug dump
  kubectl skupper -n west debug dump west-dump.tar.gz";

pub(super) fn run(ctx: &Ctx, cmd: DebugCommand) -> CmdResult {
    match cmd {
        DebugCommand::Dump(a) => dump(ctx, a),
    }
}

/// Replaces secret material in an encoded resource: every value of a Secret's `data` and
/// `stringData`, an AccessToken's `spec.code`, an AccessGrant's `status.code`.
pub(super) fn redact(v: &mut Value) {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    match kind.as_str() {
        "Secret" => {
            for field in ["data", "stringData"] {
                if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
                    for val in m.values_mut() {
                        *val = Value::String(REDACTED.into());
                    }
                }
            }
        }
        "AccessToken" => {
            if let Some(c) = v.pointer_mut("/spec/code") {
                *c = Value::String(REDACTED.into());
            }
        }
        "AccessGrant" => {
            if let Some(c) = v.pointer_mut("/status/code") {
                *c = Value::String(REDACTED.into());
            }
        }
        _ => {}
    }
}

/// Every resource of `res`, encoded and redacted, as (file name, YAML).
fn documents(res: &Resources) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut add = |kind: &str, name: &str, mut v: Value| -> anyhow::Result<()> {
        redact(&mut v);
        out.push((local::resource_file_name(kind, name), output::to_yaml(&v)?));
        Ok(())
    };
    let mut all: Vec<Resource> = Vec::new();
    all.extend(res.site.clone().map(Resource::Site));
    all.extend(res.links.values().cloned().map(Resource::Link));
    all.extend(res.listeners.values().cloned().map(Resource::Listener));
    all.extend(res.connectors.values().cloned().map(Resource::Connector));
    all.extend(res.grants.values().cloned().map(Resource::AccessGrant));
    all.extend(res.tokens.values().cloned().map(Resource::AccessToken));
    all.extend(res.router_accesses.values().cloned().map(Resource::RouterAccess));
    all.extend(res.secrets.values().cloned().map(Resource::Secret));
    for r in all {
        add(r.kind(), r.name(), r.to_value())?;
    }
    for ((kind, name), v) in &res.stored_only {
        add(kind, name, v.clone())?;
    }
    Ok(out)
}

fn dump(ctx: &Ctx, a: DumpArgs) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("only one argument is allowed for this command");
    }
    if a.file.as_deref() == Some("") {
        problems.push("file name must not be empty");
    }
    problems.finish()?;
    let now = crate::platform::now_unix();
    let file = a.file.clone().unwrap_or_else(|| {
        let stamp: String = crate::platform::now_rfc3339().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        format!("skupper-dump-{}-{stamp}.tar.gz", ctx.namespace)
    });
    let res = ctx.ns.load()?;
    let observed = ctx.ns.observe(&res);
    let mut tar = crate::tarball::Tar::new(now);
    let mut readme = format!(
        "kubectl skupper debug dump of namespace {:?} ({} platform), {}.\n\
         Secret values, token codes and grant codes are replaced by {REDACTED}.\n\n\
         version.yaml  this program's versions\n\
         resources/    the resources as stored\n\
         status/       the resources as the site reports them (spec and status)\n\
         routers.json  what each running router reports (empty: the site does not run)\n",
        ctx.namespace,
        ctx.ns.platform(),
        crate::platform::now_rfc3339()
    );
    let version = super::version::versions(ctx.ns.platform());
    tar.file("version.yaml", output::to_yaml(&version)?.as_bytes(), 0o644)?;
    for (name, yaml) in documents(&res)? {
        tar.file(&format!("resources/{name}"), yaml.as_bytes(), 0o644)?;
    }
    for (name, yaml) in documents(&observed)? {
        tar.file(&format!("status/{name}"), yaml.as_bytes(), 0o644)?;
    }
    let routers = serde_json::to_string_pretty(&ctx.ns.routers()).map_err(anyhow::Error::from)?;
    tar.file("routers.json", routers.as_bytes(), 0o644)?;
    if let Some(home) = ctx.ns.as_local() {
        readme.push_str(
            "logs/         the router logs (router.log; router-2.log for an HA site's second router)\n\
             runtime/      the site processes' state files\n",
        );
        for group in [skupper_core::resources::GROUP_PRIMARY, skupper_core::resources::GROUP_SECONDARY] {
            let Some(h) = home.for_group(group) else { continue };
            for (dir, path) in [("logs", h.log_path()), ("runtime", h.state_path())] {
                // A log is limited to its last 8 MiB.
                if let Ok(bytes) = std::fs::read(&path) {
                    let from = bytes.len().saturating_sub(8 << 20);
                    let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                    tar.file(&format!("{dir}/{name}"), &bytes[from..], 0o644)?;
                }
            }
        }
    } else {
        readme.push_str("Logs: not collected on this platform; use kubectl logs on the controller.\n");
    }
    tar.file("README.txt", readme.as_bytes(), 0o644)?;
    let bytes = tar.gzip()?;
    local::write_user_file(std::path::Path::new(&file), &bytes, 0o600)
        .map_err(|e| fail(format!("cannot write the dump {file}: {e:#}")))?;
    output::line(format!("Skupper dump details written to compressed archive: {file}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_keep_keys_and_lose_values() {
        let mut v = serde_json::json!({
            "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"tls.key": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t", "ca.crt": "x"},
            "stringData": {"password": "hunter2"}
        });
        redact(&mut v);
        assert_eq!(v["data"]["tls.key"], REDACTED);
        assert_eq!(v["data"]["ca.crt"], REDACTED);
        assert_eq!(v["stringData"]["password"], REDACTED);
        assert_eq!(v["metadata"]["name"], "s");
        let mut t = serde_json::json!({"kind": "AccessToken", "spec": {"code": "abc", "url": "u"}});
        redact(&mut t);
        assert_eq!(t["spec"]["code"], REDACTED);
        assert_eq!(t["spec"]["url"], "u");
    }
}
