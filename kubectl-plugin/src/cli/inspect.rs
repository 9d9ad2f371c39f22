//! `token inspect`: what a token or Link file holds, decoded offline by the same core code as
//! the browser page. Nothing is sent anywhere; decoding is not verifying.

use std::fmt::Write as _;

use clap::Args;
use skupper_core::inspect::{CertInfo, ExpiryState, Report, TokenKind, humanize_secs, inspect};

use super::validate::Problems;
use super::{CmdResult, check_output, fail};
use crate::platform::now_unix;
use crate::platform::resources::parse_values;
use crate::{input, output};

/// `token inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Token or link file to inspect (`-` reads standard input)
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: String,
    /// print the report as json or yaml
    #[arg(short, long, value_name = "FORMAT")]
    output: Option<String>,
}

pub(super) fn run(a: InspectArgs) -> CmdResult {
    let mut problems = Problems::default();
    check_output(a.output.as_deref(), &mut problems);
    problems.finish()?;
    let limit = input::TOKEN_FILE_LIMIT;
    let read = if a.file == "-" {
        input::read_text(std::io::stdin().lock(), limit)
    } else {
        input::read_file(std::path::Path::new(&a.file), limit)
    };
    let text = read.map_err(|e| match e {
        input::ReadError::TooLarge { .. } => fail(format!(
            "{} is larger than {}: token and Link files are a few KiB; inspect the file that token issue or link \
             generate wrote",
            a.file,
            input::size(limit)
        )),
        input::ReadError::Io(e) if a.file == "-" => fail(format!("reading standard input: {e}")),
        input::ReadError::Io(e) => fail(format!("token file {:?} cannot be read: {e}", a.file)),
    })?;
    let docs = parse_values(&text).map_err(|e| fail(format!("{} is not YAML or JSON: {e:#}", a.file)))?;
    let report = inspect(&docs, now_unix());
    match a.output.as_deref() {
        Some(format) => {
            let value = serde_json::to_value(&report).map_err(|e| fail(e.to_string()))?;
            output::raw(output::document(format, &value)?)?;
        }
        None => output::raw(render(&report))?,
    }
    // The report is printed either way; scripts learn from the exit code that it is no token.
    match &report.kind {
        TokenKind::NotAToken { reason } => Err(fail(format!("{} is not a token or link file: {reason}", a.file))),
        _ => Ok(()),
    }
}

fn cert(out: &mut String, title: &str, c: &CertInfo) {
    let _ = writeln!(out, "{title}:");
    let _ = writeln!(out, "  Subject\t: {}", c.subject);
    if !c.self_signed {
        let _ = writeln!(out, "  Issuer\t: {}", c.issuer);
    }
    let _ = writeln!(out, "  Valid\t: {} to {}", c.not_before.rfc3339, c.not_after.rfc3339);
    let _ = writeln!(out, "  SHA-256\t: {}", c.sha256_fingerprint);
    let _ = writeln!(out, "  Key\t: {}", c.key_algorithm);
}

/// The human form: the facts first, then the warnings, then the reminder that decoding is not
/// verifying. Secrets are never printed.
pub(crate) fn render(r: &Report) -> String {
    let mut out = String::new();
    let kind = match &r.kind {
        TokenKind::AccessToken => "AccessToken (redeem it with: kubectl skupper token redeem FILE)".to_string(),
        TokenKind::StaticLink => "Link and Secret (apply it with: kubectl skupper system apply -f FILE)".to_string(),
        TokenKind::V1Secret { token_type } => format!("Skupper v1 token ({token_type}); v2 sites cannot redeem it"),
        TokenKind::NotAToken { reason } => format!("not a token: {reason}"),
    };
    let _ = writeln!(out, "Kind\t: {kind}");
    if let Some(n) = &r.name {
        let _ = writeln!(out, "Name\t: {n}");
    }
    if let Some(u) = &r.url {
        let _ = writeln!(out, "Redemption URL\t: {}", u.url);
    }
    for l in &r.links {
        let eps: Vec<String> = l.endpoints.iter().map(|e| format!("{} {}:{}", e.name, e.host, e.port)).collect();
        let _ = writeln!(out, "Link {}\t: cost {}, {}", l.name, l.effective_cost, eps.join(", "));
    }
    if let Some(c) = r.link_cost {
        let _ = writeln!(out, "Link cost\t: {c}");
    }
    if let Some(c) = &r.code {
        let _ = writeln!(out, "Code\t: {} characters (hidden)", c.length);
    }
    if r.private_key_present {
        let _ = writeln!(out, "Private key\t: present (this file is a credential: keep it private)");
    }
    if let Some(t) = &r.issued_at {
        let _ = writeln!(out, "Issued at\t: {}", t.rfc3339);
    }
    let state = match r.state {
        ExpiryState::Valid => "VALID",
        ExpiryState::ExpiresSoon => "EXPIRES SOON",
        ExpiryState::Expired => "EXPIRED",
        ExpiryState::Unknown => "UNKNOWN",
    };
    match (&r.expires_at, r.seconds_left) {
        _ if matches!(r.kind, TokenKind::NotAToken { .. }) => {}
        (Some(t), Some(s)) if s >= 0 => {
            let _ = writeln!(out, "Expires at\t: {} ({state}, in {})", t.rfc3339, humanize_secs(s));
        }
        (Some(t), Some(s)) => {
            let _ = writeln!(out, "Expires at\t: {} ({state}, {} ago)", t.rfc3339, humanize_secs(s));
        }
        _ => {
            let _ =
                writeln!(out, "Expires at\t: unknown (upstream tokens carry no expiry; by default 15m after issue)");
        }
    }
    if let Some(n) = r.redemptions_allowed {
        let _ = writeln!(out, "Redemptions\t: {n} allowed (advisory)");
    }
    if let Some(c) = &r.ca {
        cert(&mut out, "CA", c);
    }
    if let Some(c) = &r.client_cert {
        cert(&mut out, "Client certificate", c);
    }
    let mut table = output::TabWriter::new(0, 8, 1);
    for l in out.lines() {
        table.line(l);
    }
    let mut out = table.render();
    if !r.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for w in &r.warnings {
            let _ = writeln!(out, "  - {} ({})", w.message, w.code);
        }
    }
    out.push_str(
        "\nDecoding is not verifying: only the issuing site knows whether the grant still exists and has redemptions left.\n",
    );
    out
}
